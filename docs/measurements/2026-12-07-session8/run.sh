#!/bin/bash
# Session 8's measurements: every labelled clip (default model, 10 Hz and every frame; the trained model), the
# motorway and Makassar played backwards, and copies of the clips at other resolutions made with ffmpeg/x264.
# usage (repository root, after `make assets`): bash docs/measurements/2026-12-07-session8/run.sh OUT_DIR [--no-v2]
set -u
out=${1:?OUT_DIR}; mkdir -p "$out"; tmp=$(mktemp -d)
E="env PYTHONPATH=$PWD YOLO_OFFLINE=1 .venv/bin/python -m service.cli eval"
MW="assets/sample_videos/nl_motorway_overpass.mp4 --crossing sample_videos/nl_motorway_overpass.crossing.yaml --truth assets/sample_videos/nl_motorway_overpass.truth.json --reverse"
MK="assets/sample_videos/makassar_alauddin_dusk.mp4 --crossing sample_videos/makassar_alauddin_dusk.crossing.yaml --truth sample_videos/makassar_alauddin_dusk.truth.json --reverse"
clips() {  # $1: file, rest: eval options
  local f=$1; shift
  { $E assets/sample_videos "$@"; $E $MW "$@"; $E $MK "$@"; } > "$out/$f" 2>&1
}
clips clips_default.txt
clips clips_every_frame.txt --detect-fps 0
[ "${2:-}" = "--no-v2" ] || clips clips_riders_v2.txt --model riders-yolo11n-int8
truth() { case $1 in vn_rear_stopline|nl_motorway_overpass) echo assets/sample_videos/$1.truth.json;; *) echo sample_videos/$1.truth.json;; esac; }
{
for spec in "hanoi_giangvo_langha 320 240" "hanoi_giangvo_langha 480 360" "hanoi_giangvo_langha 960 720" \
            "vn_rear_stopline 720 320" "vn_rear_stopline 1080 480" \
            "makassar_alauddin_dusk 298 154" "makassar_alauddin_dusk 448 232" "makassar_alauddin_dusk 894 462"; do
  set -- $spec
  copy="$tmp/${1}_$2x$3.mp4"
  ffmpeg -loglevel error -y -i assets/sample_videos/$1.mp4 -vf scale=$2:$3 -c:v libx264 -crf 18 "$copy"
  echo "== $1 at $2x$3: ffmpeg -i assets/sample_videos/$1.mp4 -vf scale=$2:$3 -c:v libx264 -crf 18 COPY"
  $E "$copy" --crossing sample_videos/$1.crossing.yaml --truth "$(truth $1)"
  [ $1 = makassar_alauddin_dusk ] && $E "$copy" --crossing sample_videos/$1.crossing.yaml --truth "$(truth $1)" --reverse
done
} > "$out/resolutions_default.txt" 2>&1
rm -rf "$tmp"
grep -hE "^[a-z_0-9]+.*(capture|/|-)" "$out"/*.txt | grep -v "^clip" || true
