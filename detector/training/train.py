"""Fine-tune YOLO11n on a data set built by `detector.training.dataset` (classes `classes.TRAINED_CLASSES`).

    python -m detector.training.train DATA.yaml --weights assets/models/yolo11n.pt --run /work/train-run/vn448 \
        --until 05:55 [--freeze 10] [--imgsz 640] [--batch 16] [--seed 0]

Re-running the same command resumes from `RUN/weights/last.pt` when it exists (the time budget is
counted again from the restart). The head starts from COCO's: the new classes' score rows are copied
from the COCO classes they descend from (two_wheeler <- motorcycle, car <- car, bus <- bus, truck <- truck,
bicycle <- bicycle, person <- person), so training starts from a detector that already finds them
rather than from a blank head. `--until HH:MM` (machine clock) turns into ultralytics' `time=` hours
budget: it stops after the epoch that crosses it, with a learning-rate schedule fitted to the budget.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from ..classes import TRAINED_CLASSES

# trained class -> the COCO class id whose head row initialises it
COCO_PARENT = {"two_wheeler": 3, "car": 2, "bus": 5, "truck": 7, "bicycle": 1, "person": 0}


def init_from_coco(weights: Path, out: Path) -> Path:
    """A YOLO checkpoint with TRAINED_CLASSES made from the COCO checkpoint `weights`: every weight kept,
    the last 1x1 conv of each class-score branch cut to the rows of the COCO parents (`COCO_PARENT`).
    The branches keep COCO's width (80 channels; a fresh 6-class head would have 64), so the model is
    trained as built here (`KeepModelTrainer`), never rebuilt from its YAML."""
    import torch
    from torch import nn
    from ultralytics import YOLO

    coco = YOLO(str(weights))
    model: Any = coco.model  # ultralytics types .model loosely (str | Module | None)
    model = model.float()
    detect = model.model[-1]
    rows = torch.tensor([COCO_PARENT[n] for n in TRAINED_CLASSES])
    for branch in detect.cv3:
        old = branch[-1]
        if not isinstance(old, nn.Conv2d) or old.out_channels != detect.nc:
            raise RuntimeError(f"{weights}: unexpected detection head ({type(old).__name__})")
        new = nn.Conv2d(old.in_channels, len(TRAINED_CLASSES), 1, bias=True)
        with torch.no_grad():
            new.weight.copy_(old.weight[rows])
            # both score convs have a bias (COCO's, and the one made here with bias=True)
            assert old.bias is not None and new.bias is not None
            new.bias.copy_(old.bias[rows])
        branch[-1] = new
    detect.nc = len(TRAINED_CLASSES)
    detect.no = detect.nc + detect.reg_max * 4
    model.yaml["nc"] = detect.nc
    model.nc = detect.nc
    model.names = dict(enumerate(TRAINED_CLASSES))
    out.parent.mkdir(parents=True, exist_ok=True)
    coco.save(str(out))
    print(f"init: {weights} -> {out}: class-score rows {rows.tolist()} of COCO -> {list(TRAINED_CLASSES)}")
    return out


def keep_model_trainer():
    """DetectionTrainer that trains the model it is given (the init checkpoint, or last.pt on resume)."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    class KeepModelTrainer(DetectionTrainer):
        def get_model(self, cfg=None, weights=None, verbose=True):
            if weights is None or getattr(weights.model[-1], "nc", None) != self.data["nc"]:
                raise RuntimeError("KeepModelTrainer needs a model made by init_from_coco")
            model = weights.float()
            for p in model.parameters():
                p.requires_grad = True
            return model

    return KeepModelTrainer


def hours_until(until: str, now: dt.datetime | None = None) -> float:
    """Hours from now to HH:MM on the machine clock: today, or tomorrow when it passed more than 12 h ago
    (a time passed less than 12 h ago gives the minimum, 0.05 h: one epoch)."""
    now = now or dt.datetime.now()
    hh, mm = (int(v) for v in until.split(":"))
    end = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if end <= now:
        end += dt.timedelta(days=1) if (now - end) > dt.timedelta(hours=12) else dt.timedelta(0)
    return max(0.05, (end - now).total_seconds() / 3600)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.training.train", description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, help="data.yaml written by detector.training.dataset")
    ap.add_argument("--weights", type=Path, default=Path("assets/models/yolo11n.pt"))
    ap.add_argument("--run", type=Path, required=True, help="run folder (checkpoints in RUN/weights)")
    ap.add_argument("--until", help="HH:MM machine clock to stop by (ultralytics time= budget)")
    ap.add_argument("--epochs", type=int, default=30, help="epochs when no --until")
    ap.add_argument("--freeze", type=int, default=10, help="first N layers frozen (10 = the YOLO11 backbone)")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    if not a.data.is_file():
        print(f"error: {a.data}: data.yaml not found", file=sys.stderr)
        return 2
    if not a.weights.is_file():
        print(f"error: {a.weights}: weights not found (run `make assets`)", file=sys.stderr)
        return 2
    from ultralytics import YOLO

    last = a.run / "weights" / "last.pt"
    time_h = hours_until(a.until) if a.until else None
    if last.is_file():
        print(f"resuming from {last}" + (f", {time_h:.2f} h budget" if time_h else ""))
        extra = {"time": time_h} if time_h else {}
        YOLO(str(last)).train(resume=True, workers=a.workers, trainer=keep_model_trainer(), **extra)
        return 0
    init = init_from_coco(a.weights, a.run.parent / f"{a.run.name}_init.pt")
    YOLO(str(init)).train(
        trainer=keep_model_trainer(),
        data=str(a.data.resolve()),
        epochs=a.epochs,
        time=time_h,
        imgsz=a.imgsz,
        batch=a.batch,
        workers=a.workers,
        seed=a.seed,
        deterministic=True,
        freeze=a.freeze,
        device=a.device,
        project=str(a.run.parent.resolve()),
        name=a.run.name,
        exist_ok=True,
        cache="ram",
        close_mosaic=3,
        warmup_epochs=1,
        patience=100,
        plots=False,
        save_period=1,  # RUN/weights/epochN.pt after every epoch: the checkpoint is chosen afterwards
        amp=False,
        verbose=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
