"""quality: the signal-colour classifier on the labelled light boxes (see the package doc)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..signal import LampThresholds, classify_lamps, lamp_scores
from .labels import Sample, read_bgr

DEFAULT_FAIL_DIR = Path("/tmp/quality_fail")
LIGHT_CLASSES = {"red_light": "red", "yellow_light": "yellow", "green_light": "green"}
COLOURS = ("red", "yellow", "green")  # the order of classify_lamps' dict, which breaks its ties


@dataclass(frozen=True)
class LightBox:
    stem: str
    index: int  # which light of the image
    colour: str  # labelled lit colour
    box: tuple[float, float, float, float]  # xyxy
    night: bool

    @property
    def shape(self) -> str:
        return head_shape(self.box)


def head_shape(box: Sequence[float]) -> str:
    """'vertical' (a 3-lamp column), 'horizontal' (a row) or 'other' (countdown digits, tiny boxes)."""
    w, h = box[2] - box[0], box[3] - box[1]
    if w * h < 64:
        return "other"
    if h >= 2.5 * w:
        return "vertical"
    if w >= 1.2 * h:
        return "horizontal"
    return "other"


def split_head(box: Sequence[float]) -> dict[str, tuple[float, float, float, float]]:
    """Three lamp boxes (x, y, w, h) along the long axis: red top/left, yellow middle, green bottom/right."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if h >= w:
        return {c: (x1, y1 + i * h / 3, w, h / 3) for i, c in enumerate(COLOURS)}
    return {c: (x1 + i * w / 3, y1, w / 3, h) for i, c in enumerate(COLOURS)}


def lamp_sets(box: Sequence[float]) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    x1, y1, x2, y2 = box
    whole = (x1, y1, max(x2 - x1, 1.0), max(y2 - y1, 1.0))
    return {"split": split_head(box), "whole": {c: whole for c in COLOURS}}


def top_quarter_bgr(image: np.ndarray, lamp: Sequence[float]) -> tuple[np.ndarray, float]:
    """(mean B,G,R of the brightest quarter of pixels, their mean brightness) of a lamp box (x, y, w, h):
    the pixels lamp_scores uses, so other colour formulas can be tried on them."""
    h, w = image.shape[:2]
    x, y, bw, bh = lamp
    x1, y1 = max(0, int(round(x))), max(0, int(round(y)))
    x2, y2 = min(w, int(round(x + bw))), min(h, int(round(y + bh)))
    crop = image[y1:y2, x1:x2].reshape(-1, 3).astype(np.float32)
    if len(crop) == 0:
        return np.zeros(3, np.float32), 0.0
    bright = crop.max(axis=1)
    k = max(1, len(crop) // 4)
    top = crop[np.argpartition(bright, -k)[-k:]]
    return top.mean(axis=0), float(top.max(axis=1).mean())


# colour scores from (B, G, R) means: "current" is lamp_scores'; "neutral_green" subtracts all of R from
# green, so a grey pixel scores 0 for every colour (the current green score of grey v is v/2)
FORMULAS = {
    "current": lambda b, g, r: (r - (g + b) / 2, (r + g) / 2 - b, (g + b) / 2 - r / 2),
    "neutral_green": lambda b, g, r: (r - (g + b) / 2, (r + g) / 2 - b, (g + b) / 2 - r),
}


def is_night(img: np.ndarray) -> bool:
    """Dim and coloured by artificial light: median V < 125 and mean saturation > 50 (checked by eye on
    the 40 shared images; a scene label for the breakdown, not a classifier)."""
    import cv2

    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    return bool(np.median(hsv[..., 2]) < 125 and hsv[..., 1].mean() > 50)


def classify_arrays(score: np.ndarray, bright: np.ndarray, min_brightness, red, yellow, green) -> np.ndarray:
    """Vectorised classify_lamps: score/bright (..., 3) in COLOURS order; thresholds broadcast against
    the leading axes. Returns codes 0 red, 1 yellow, 2 green, 3 unknown."""
    limit = np.stack(
        np.broadcast_arrays(np.asarray(red, float), np.asarray(yellow, float), np.asarray(green, float)), axis=-1
    )[..., None, :]
    mb = np.asarray(min_brightness, float)[..., None, None]
    lit = (bright >= mb) & (score >= limit)
    margin = np.where(lit, score - limit, -np.inf)
    best = margin.argmax(axis=-1)  # first maximum wins, like max() over the red/yellow/green dict
    code = np.where(lit.any(axis=-1), best, 3)
    return np.where(lit[..., 0] & lit[..., 1], 0, code)


STATES = ("RED", "YELLOW", "GREEN", "UNKNOWN")


@dataclass
class SignalResult:
    mode: str
    confusion: dict  # {labelled colour: {predicted state: n}}
    accuracy: float
    decided_accuracy: float  # among non-UNKNOWN answers
    wrong_colour: int
    by_group: dict  # {group: [correct, total]}
    failures: list  # [{stem, index, colour, predicted, shape, night, box, crop}]


def _confusion(truth: list[str], pred: list[str]) -> dict:
    m = {c: {s: 0 for s in STATES} for c in COLOURS}
    for t, p in zip(truth, pred):
        m[t][p] += 1
    return m


def measure_signal(
    samples: list[Sample], thresholds: LampThresholds | None = None, fail_dir: Path | None = DEFAULT_FAIL_DIR
) -> dict:
    """Modes: split, whole (see the module doc), and split_oracle: split, but a horizontal head is read in
    whichever left/right order gives the labelled colour (the set holds mirrored images, and a user
    configures the real order: an upper bound for geometry mistakes). `thresholds`: the lamp
    classifier's defaults unless given."""
    thresholds = thresholds or LampThresholds()
    from ..config import Signal

    lights: list[LightBox] = []
    images: dict[str, np.ndarray] = {}
    modes = ("split", "split_oracle", "whole")
    preds: dict[str, list[str]] = {m: [] for m in modes}
    pixels: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {m: [] for m in modes}  # ((3 lamps, BGR), (3,))
    for s in samples:
        boxes = [lab for lab in s.labels if lab.cls in LIGHT_CLASSES]
        if not boxes:
            continue
        img = images[s.stem] = read_bgr(s.image)
        night = is_night(img)
        for i, lab in enumerate(boxes):
            lb = LightBox(s.stem, i, LIGHT_CLASSES[lab.cls], lab.box, night)
            lights.append(lb)
            sets = lamp_sets(lab.box)
            if lb.shape == "horizontal":
                lamps = sets["split"]
                sets["split_reversed"] = {"red": lamps["green"], "yellow": lamps["yellow"], "green": lamps["red"]}
            got = {}
            for mode, lamps in sets.items():
                sc = lamp_scores(img, Signal.model_validate({"id": "q", "lamps": lamps}))
                px = [top_quarter_bgr(img, lamps[c]) for c in COLOURS]
                got[mode] = (
                    classify_lamps(sc, thresholds).value,
                    (np.stack([p[0] for p in px]), np.array([p[1] for p in px])),
                )
            got["split_oracle"] = got["split"]
            if (
                "split_reversed" in got
                and got["split"][0] != lb.colour.upper()
                and got["split_reversed"][0] == lb.colour.upper()
            ):
                got["split_oracle"] = got["split_reversed"]
            for mode in modes:
                preds[mode].append(got[mode][0])
                pixels[mode].append(got[mode][1])
    truth = [lb.colour for lb in lights]
    out: dict = {
        "boxes": len(lights),
        "thresholds": asdict(thresholds),
        "modes": {},
        "shapes": {g: sum(lb.shape == g for lb in lights) for g in ("vertical", "horizontal", "other")},
        "night_boxes": sum(lb.night for lb in lights),
    }
    for mode in modes:
        pred = preds[mode]
        ok = [p == t.upper() for p, t in zip(pred, truth)]
        decided = [p != "UNKNOWN" for p in pred]
        groups: dict[str, list[int]] = {}
        for lb, good in zip(lights, ok):
            for g in (lb.shape, "night" if lb.night else "day", lb.colour):
                groups.setdefault(g, [0, 0])
                groups[g][0] += good
                groups[g][1] += 1
        bgr = np.stack([p for p, _ in pixels[mode]]) if lights else np.zeros((0, 3, 3))
        B = np.stack([b for _, b in pixels[mode]]) if lights else np.zeros((0, 3))
        S = {name: _formula_scores(f, bgr) for name, f in FORMULAS.items()}
        # the replica must agree with the module under test, or the what-if numbers mean nothing
        check = classify_arrays(
            S["current"], B, thresholds.min_brightness, thresholds.red, thresholds.yellow, thresholds.green
        )
        assert [STATES[c] for c in check] == pred, "classify_arrays/top_quarter_bgr disagree with signal.py"
        failures = [
            {
                "stem": lb.stem,
                "index": lb.index,
                "colour": lb.colour,
                "predicted": p,
                "shape": lb.shape,
                "night": lb.night,
                "box": [round(v, 1) for v in lb.box],
                "scores": {
                    c: [round(float(S["current"][k, j]), 1), round(float(B[k, j]), 1)] for j, c in enumerate(COLOURS)
                },
            }
            for k, (lb, p, good) in enumerate(zip(lights, pred, ok))
            if not good
        ]
        res = SignalResult(
            mode,
            _confusion(truth, pred),
            sum(ok) / max(1, len(ok)),
            sum(o for o, d in zip(ok, decided) if d) / max(1, sum(decided)),
            sum(d and not o for o, d in zip(ok, decided)),
            groups,
            failures,
        )
        if fail_dir is not None and mode != "split_oracle":
            _save_failures(Path(fail_dir) / mode, res.failures, images, mode)
        out["modes"][mode] = {
            **asdict(res),
            "score_stats": _score_stats(S["current"], B, truth),
            "fit": {name: fit_thresholds(S[name], B, truth, thresholds) for name in FORMULAS},
        }
    return out


def _formula_scores(f, bgr: np.ndarray) -> np.ndarray:
    """(N, 3 lamps, BGR) -> (N, 3) scores, each lamp with its own colour's formula."""
    if len(bgr) == 0:
        return np.zeros((0, 3))
    per = [f(bgr[:, j, 0], bgr[:, j, 1], bgr[:, j, 2])[j] for j in range(3)]
    return np.stack(per, axis=1)


def _score_stats(S: np.ndarray, B: np.ndarray, truth: list[str]) -> dict:
    """Per labelled colour: min/median/max of each colour's score and brightness."""
    out = {}
    t = np.array(truth)
    for c in COLOURS:
        sel = t == c
        if not sel.any():
            continue
        out[c] = {
            k: {
                "score": [round(float(v), 1) for v in np.percentile(S[sel, j], [0, 50, 100])],
                "bright": [round(float(v), 1) for v in np.percentile(B[sel, j], [0, 50, 100])],
            }
            for j, k in enumerate(COLOURS)
        }
    return out


def fit_thresholds(S: np.ndarray, B: np.ndarray, truth: list[str], current: LampThresholds) -> dict:
    """Grid search of LampThresholds on these boxes: maximise correct - wrong colours (a wrong colour
    accuses or clears a driver; UNKNOWN only holds the last state). Also the range of each value that
    keeps the best objective with the others fixed."""
    if len(S) == 0:
        return {}
    code = np.array([COLOURS.index(c) for c in truth])
    bs = np.arange(40, 221, 10, dtype=float)
    cs = np.arange(0, 161, 5, dtype=float)

    def objective(mb, r, y, g):
        pred = classify_arrays(S, B, mb, r, y, g)
        right = (pred == code).sum(axis=-1)
        wrong = ((pred != code) & (pred != 3)).sum(axis=-1)
        return right - wrong, right, wrong

    best: tuple[int, tuple[float, float, float, float] | None] = (-(10**9), None)
    for mb in bs:
        for r in cs:
            obj, _, _ = objective(mb, r, cs[:, None], cs[None, :])  # (yellow, green)
            k = np.unravel_index(np.argmax(obj), obj.shape)
            # prefer values nearest the current thresholds among equal objectives
            if obj[k] > best[0] or (
                obj[k] == best[0]
                and best[1] is not None
                and _dist((mb, r, cs[k[0]], cs[k[1]]), current) < _dist(best[1], current)
            ):
                ties = np.argwhere(obj == obj[k])
                pick = min(ties, key=lambda t: _dist((mb, r, cs[t[0]], cs[t[1]]), current))
                best = (int(obj[tuple(pick)]), (float(mb), float(r), float(cs[pick[0]]), float(cs[pick[1]])))
    if best[1] is None:
        raise ValueError("no lamp thresholds to sweep")
    chosen = best[1]
    mb, r, y, g = chosen
    obj, right, wrong = objective(mb, r, y, g)
    now = objective(current.min_brightness, current.red, current.yellow, current.green)
    ranges = {}
    for i, (name, grid) in enumerate((("min_brightness", bs), ("red", cs), ("yellow", cs), ("green", cs))):
        vals = [chosen[:i] + (v,) + chosen[i + 1 :] for v in grid]
        good = [v[i] for v in vals if objective(*v)[0] == obj]
        ranges[name] = [float(min(good)), float(max(good))]
    pred = classify_arrays(S, B, mb, r, y, g)
    cur = (current.min_brightness, current.red, current.yellow, current.green)
    sweep: dict[str, list[list[float]]] = {}
    for i, name in enumerate(("red", "yellow", "green"), 1):
        sweep[name] = []
        for v in np.arange(0, 121, 10, dtype=float):
            _, right_v, wrong_v = objective(*(cur[:i] + (v,) + cur[i + 1 :]))
            sweep[name].append([float(v), int(right_v), int(wrong_v)])
    return {
        "sweep_from_current": sweep,
        "best": {"min_brightness": mb, "red": r, "yellow": y, "green": g},
        "correct": int(right),
        "wrong_colour": int(wrong),
        "accuracy": round(int(right) / len(S), 3),
        "current": {"correct": int(now[1]), "wrong_colour": int(now[2])},
        "plateau": ranges,
        "confusion": _confusion(truth, [STATES[p] for p in pred]),
    }


def _dist(v: tuple, th: LampThresholds) -> float:
    return abs(v[0] - th.min_brightness) + abs(v[1] - th.red) + abs(v[2] - th.yellow) + abs(v[3] - th.green)


def short_stem(stem: str) -> str:
    """Roboflow names '1155_jpg.rf.<hash>' -> '1155'."""
    return stem.split(".rf.")[0].removesuffix("_jpg")


def _save_failures(folder: Path, failures: list[dict], images: dict[str, np.ndarray], mode: str) -> None:
    """One PNG per failure (context around the box, 8x nearest, box and lamp split drawn) + a contact sheet."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    tiles = []
    for f in failures:
        img = images[f["stem"]]
        x1, y1, x2, y2 = f["box"]
        m = int(max(x2 - x1, y2 - y1) * 0.5) + 4
        X1, Y1 = max(0, int(x1) - m), max(0, int(y1) - m)
        X2, Y2 = min(img.shape[1], int(x2) + m + 1), min(img.shape[0], int(y2) + m + 1)
        s = max(2, min(8, int(240 / max(1, max(X2 - X1, Y2 - Y1)))))
        crop = cv2.resize(img[Y1:Y2, X1:X2], None, fx=s, fy=s, interpolation=cv2.INTER_NEAREST)

        def p(x, y, X1=X1, Y1=Y1, s=s):
            return int((x - X1) * s), int((y - Y1) * s)

        cv2.rectangle(crop, p(x1, y1), p(x2, y2), (255, 0, 255), 1)
        if mode == "split":
            for _, (lx, ly, lw, lh) in list(split_head((x1, y1, x2, y2)).items())[1:]:
                cv2.line(
                    crop,
                    p(lx, ly),
                    p(lx + (lw if lw >= x2 - x1 - 1e-6 else 0), ly + (lh if lh >= y2 - y1 - 1e-6 else 0)),
                    (255, 0, 255),
                    1,
                )
        name = (
            f"{short_stem(f['stem'])}_{f['index']}_{f['colour']}_as_{f['predicted'].lower()}_{f['shape']}"
            f"{'_night' if f['night'] else ''}.png"
        )
        cv2.imwrite(str(folder / name), crop)
        t = np.zeros((270, 250, 3), np.uint8)
        c = crop[:240, :250]
        t[: c.shape[0], : c.shape[1]] = c
        cv2.putText(
            t, f"{short_stem(f['stem'])} {f['colour'][:3]}->{f['predicted'][:3]}", (2, 258), 0, 0.45, (255, 255, 255), 1
        )
        tiles.append(t)
    if tiles:
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 6)
        cv2.imwrite(
            str(folder.parent / f"{mode}_sheet.png"),
            np.vstack([np.hstack(tiles[i : i + 6]) for i in range(0, len(tiles), 6)]),
        )


def signal_report(res: dict) -> str:
    lines = [
        f"signal colour on {res['boxes']} labelled light boxes "
        f"({', '.join(f'{k} {v}' for k, v in res['shapes'].items())}; night {res['night_boxes']});"
        f" thresholds {res['thresholds']}"
    ]
    for mode, r in res["modes"].items():
        lines += [
            "",
            f"[{mode}] accuracy {r['accuracy']:.2f}, among decided {r['decided_accuracy']:.2f}, "
            f"wrong colour {r['wrong_colour']}",
            _confusion_text(r["confusion"]),
            "  by group (correct/total): " + ", ".join(f"{g} {c}/{n}" for g, (c, n) in r["by_group"].items()),
            "  score [min, median, max] of each colour score (rows: labelled colour):",
        ]
        for c, per in r["score_stats"].items():
            lines.append(f"    {c:<6} " + "  ".join(f"{k}: s{v['score']} b{v['bright']}" for k, v in per.items()))
        for name, fit in r["fit"].items():
            if not fit:
                continue
            if name != "current":
                lines.append(
                    f"  ({name} is a what-if formula: an over-exposed, near-white lit lamp scores low with it"
                    " (the green lamp of vn_rear_stopline: 15-19); not a drop-in change)"
                )
            lines += [
                f"  fit, {name} scores: best {_short(fit['best'])} -> correct {fit['correct']}/{res['boxes']},"
                f" wrong colour {fit['wrong_colour']} (at the current thresholds: correct "
                f"{fit['current']['correct']}, wrong colour {fit['current']['wrong_colour']});"
                f" each value alone may range over {_short(fit['plateau'])}",
                _confusion_text(fit["confusion"], indent="    "),
            ]
            if mode == "split" and name == "current":
                lines.append("    one threshold varied from the current ones (value: correct/wrong colour):")
                for k, vals in fit["sweep_from_current"].items():
                    lines.append(f"      {k:<6} " + " ".join(f"{v:g}:{c}/{w}" for v, c, w in vals))
    return "\n".join(lines)


def _short(d: dict) -> str:
    return (
        "{"
        + ", ".join(f"{k}: {v:g}" if not isinstance(v, list) else f"{k}: {v[0]:g}-{v[1]:g}" for k, v in d.items())
        + "}"
    )


def _confusion_text(m: dict, indent: str = "  ") -> str:
    lines = [indent + "label \\ pred".ljust(12) + "".join(f"{s:>9}" for s in STATES)]
    for c in COLOURS:
        lines.append(indent + f"{c:<12}" + "".join(f"{m[c][s]:>9}" for s in STATES))
    return "\n".join(lines)
