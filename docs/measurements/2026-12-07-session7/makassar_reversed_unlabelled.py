"""Draw the wrong-way events of Makassar played backwards that match no label, on the frames they were
decided over, to check by eye whether each is a real road user riding against its lane.

usage (repository root, after `make assets`):
    PYTHONPATH=. .venv/bin/python docs/measurements/2026-12-07-session7/makassar_reversed_unlabelled.py OUT.jpg
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import av
from PIL import Image, ImageDraw

from detector import evaluation
from detector.config import load_crossing
from detector.pipeline import Pipeline, PipelineSettings
from detector.video import probe, reverse_video
from service.runs import detectors
from service.runs.request import resolve_device_and_model

CLIP = Path("assets/sample_videos/makassar_alauddin_dusk.mp4")
CROSSING = Path("sample_videos/makassar_alauddin_dusk.crossing.yaml")
TRUTH = Path("sample_videos/makassar_alauddin_dusk.truth.json")


def main(out: Path) -> None:
    crossing = load_crossing(CROSSING)
    truth = evaluation.reverse_truth(json.loads(TRUTH.read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        rev = Path(tmp) / "reversed.mp4"
        reverse_video(CLIP, rev)
        device, name = resolve_device_and_model("auto", None)
        info = probe(rev)
        det = detectors.make_detector(crossing, (info.width, info.height), device, detectors.model_path(name), 640)
        result = Pipeline(crossing, det, PipelineSettings(model=name)).run(rev)
        events = [
            {"type": e.type.value, "t": e.t, "box": list(e.box), "class": e.class_name, "track_id": e.track_id}
            for e in result.events
        ]
        score = evaluation.score("wrong_way", events, truth)
        unmatched = {f["event"]["track_id"] for f in score.as_dict()["false_events"] if f["label"] is None}
        chosen = [e for e in result.events if e.track_id in unmatched]
        # three looks per event: the start, the middle and the end of the window that decided it
        looks = {(e.track_id, round(t, 3)): box for e in chosen for t, box in e.path}
        wanted = {e.track_id: [e.key_times[0], e.key_times[1], e.key_times[2]] for e in chosen}
        pictures: dict[float, Image.Image] = {}
        times = sorted({round(t, 3) for ts in wanted.values() for t in ts})
        with av.open(str(rev)) as c:
            for f in c.decode(video=0):
                t = round(float(f.time), 3)
                near = [x for x in times if abs(x - t) < 0.017 and x not in pictures]
                for x in near:
                    pictures[x] = f.to_image()
    tiles = []
    for e in chosen:
        for k, t in enumerate(wanted[e.track_id]):
            img = pictures[round(t, 3)].copy()
            box = looks.get((e.track_id, round(t, 3)), e.box)
            d = ImageDraw.Draw(img)
            d.rectangle([round(v) for v in box], outline=(255, 0, 0), width=1)
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            crop = img.crop((int(cx - 60), int(cy - 45), int(cx + 60), int(cy + 45))).resize((360, 270))
            ImageDraw.Draw(crop).text(
                (4, 4), f"track {e.track_id} t={t:.2f} ({'start mid end'.split()[k]})", fill="yellow"
            )
            tiles.append(crop)
    sheet = Image.new("RGB", (3 * 360, 270 * max(1, len(chosen))), (0, 0, 0))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % 3) * 360, (i // 3) * 270))
    sheet.save(out, quality=85)
    print(f"{len(chosen)} unmatched events: tracks {sorted(unmatched)} -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
