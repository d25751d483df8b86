#!/bin/bash
# Session 9's measurements: every labelled clip (default model at 10 Hz and every frame; the trained model), the
# motorway and Makassar played backwards, and copies of the clips at other frame rates, darker, and at other
# resolutions (ffmpeg/x264, and PyAV copies that keep every k-th frame).
# usage (repository root, after `make assets`): bash docs/measurements/2026-12-07-session9/run.sh OUT_DIR [--no-v2]
set -u
out=${1:?OUT_DIR}; mkdir -p "$out"; var=$(mktemp -d)
E="env PYTHONPATH=$PWD YOLO_OFFLINE=1 .venv/bin/python -m service.cli eval"
MW="assets/sample_videos/nl_motorway_overpass.mp4 --crossing sample_videos/nl_motorway_overpass.crossing.yaml --truth assets/sample_videos/nl_motorway_overpass.truth.json --reverse"
MK="assets/sample_videos/makassar_alauddin_dusk.mp4 --crossing sample_videos/makassar_alauddin_dusk.crossing.yaml --truth sample_videos/makassar_alauddin_dusk.truth.json --reverse"
truth() { case $1 in vn_rear_stopline|nl_motorway_overpass) echo assets/sample_videos/$1.truth.json;; *) echo sample_videos/$1.truth.json;; esac; }
clips() { local f=$1; shift; { $E assets/sample_videos "$@"; $E $MW "$@"; $E $MK "$@"; } > "$out/$f" 2>&1; }
clips clips_default.txt
clips clips_every_frame.txt --detect-fps 0
[ "${2:-}" = "--no-v2" ] || clips clips_riders_v2.txt --model riders-yolo11n-int8
{  # ffmpeg copies: another frame rate (fps filter), darker; x264 medium, crf 20
for spec in "vn_rear_stopline fps15 fps=15" "vn_rear_stopline fps10 fps=10" "vn_rear_stopline fps25 fps=25" \
            "hanoi_giangvo_langha fps4 fps=4" "makassar_alauddin_dusk fps15 fps=15" "makassar_alauddin_dusk fps15 fps=15 --reverse" \
            "makassar_alauddin_dusk fps10 fps=10" "makassar_alauddin_dusk fps10 fps=10 --reverse" "makassar_alauddin_dusk fps25 fps=25" \
            "nl_motorway_overpass fps15 fps=15 --reverse" "nl_motorway_overpass fps10 fps=10 --reverse" \
            "hanoi_giangvo_langha dark eq=brightness=-0.15:contrast=0.8" "vn_rear_stopline dark eq=brightness=-0.15:contrast=0.8"; do
  set -- $spec; copy=$var/${1}_$2.mp4
  [ -f "$copy" ] || ffmpeg -loglevel error -y -i assets/sample_videos/$1.mp4 -vf "$3" -c:v libx264 -preset medium -crf 20 "$copy"
  echo "== $1 $2 vf=$3 ${4:-}"
  $E "$copy" --crossing sample_videos/$1.crossing.yaml --truth "$(truth $1)" ${4:-}
done
} > "$out/variants.txt" 2>&1
{  # ffmpeg copies at other resolutions: scale filter, x264 crf 18
for spec in "hanoi_giangvo_langha 320 240" "hanoi_giangvo_langha 480 360" "hanoi_giangvo_langha 960 720" "hanoi_giangvo_langha 1280 960" \
            "vn_rear_stopline 720 320" "vn_rear_stopline 810 360" "vn_rear_stopline 1080 480" \
            "makassar_alauddin_dusk 298 154" "makassar_alauddin_dusk 448 232" "makassar_alauddin_dusk 894 462"; do
  set -- $spec; copy=$var/res_${1}_$2x$3.mp4
  ffmpeg -loglevel error -y -i assets/sample_videos/$1.mp4 -vf scale=$2:$3 -c:v libx264 -crf 18 "$copy"
  echo "== $1 at $2x$3"
  $E "$copy" --crossing sample_videos/$1.crossing.yaml --truth "$(truth $1)"
  [ $1 = makassar_alauddin_dusk ] && $E "$copy" --crossing sample_videos/$1.crossing.yaml --truth "$(truth $1)" --reverse
done
} > "$out/resolutions.txt" 2>&1
{  # PyAV copies keeping every k-th frame (detector.video.scaled_copy, as tests/e2e/test_resolution.py makes them)
for spec in "pyav_mk15 makassar_alauddin_dusk 596 308 medium 2" "pyav_mk10 makassar_alauddin_dusk 596 308 ultrafast 3" \
            "pyav_vn10 vn_rear_stopline 1620 720 ultrafast 3" "pyav_h3 hanoi_giangvo_langha 640 480 ultrafast 2"; do
  set -- $spec
  PYTHONPATH=$PWD .venv/bin/python -c "from detector.video import scaled_copy; scaled_copy('assets/sample_videos/$2.mp4', '$var/$1.mp4', ($3, $4), '$5', every=$6)"
  echo "== $1: $2, every $6th frame, x264 $5"
  $E "$var/$1.mp4" --crossing sample_videos/$2.crossing.yaml --truth "$(truth $2)"
done
} > "$out/pyav.txt" 2>&1
rm -rf "$var"
grep -hE "\(.*false\)" "$out"/*.txt || true
