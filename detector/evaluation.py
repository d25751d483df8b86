"""Evaluate a run against hand-checked labels (the shared `*.truth.json` format).

Matching (the same rules as the acceptance figures): an event matches a label when it is the same
kind of road user (two-wheelers vs cars/buses/trucks; unknown classes match all), its time is within
1 s of the label (for lane labels: within the labelled span +- 1 s) and its box centre is near the
labelled box (interpolated along the labelled path for lane labels). Pairs are taken nearest first,
one to one. A label marked `uncertain` counts neither way; an event matching a `legal` road user,
or nothing, is false.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .vocabulary import EventType

TWO_WHEEL = {"motorcycle", "motorbike", "bicycle", "person", "rider", "e-bike", "ebike", "scooter", "tricycle"}
FOUR_WHEEL = {"car", "bus", "truck", "van"}
# the verdict a labels file gives a road user that commits each violation type (every EventType has one)
TRUTH_VERDICTS: dict[EventType, str] = {EventType.RED_LIGHT: "red_light_violation", EventType.WRONG_WAY: "wrong_way"}


@dataclass(frozen=True)
class Label:
    id: str
    kind: str  # pos | neg | ign
    t0: float
    t1: float
    box0: tuple[float, float, float, float]
    box1: tuple[float, float, float, float]
    cls: str | None


@dataclass
class TypeScore:
    type: str
    positives: int
    events: int
    matched: list[tuple[dict, Label]] = field(default_factory=list)
    missed: list[Label] = field(default_factory=list)
    false: list[tuple[dict, Label | None]] = field(default_factory=list)

    @property
    def hit(self) -> int:
        return len(self.matched)

    @property
    def capture(self) -> float:
        return self.hit / self.positives if self.positives else (1.0 if not self.events else 0.0)

    @property
    def validity(self) -> float:
        flagged = self.hit + len(self.false)
        return self.hit / flagged if flagged else (1.0 if self.positives == 0 else 0.0)

    def as_dict(self) -> dict:
        def lab(x: Label) -> dict:
            return {"id": x.id, "t": round(x.t0, 3), "t_end": round(x.t1, 3), "box": list(x.box0), "class": x.cls}

        def ev(e: dict) -> dict:
            return {"t": e["t"], "box": e["box"], "class": e.get("class"), "track_id": e.get("track_id")}

        return {
            "type": self.type,
            "positives": self.positives,
            "events": self.events,
            "hit": self.hit,
            "false": len(self.false),
            "capture": round(self.capture, 3),
            "validity": round(self.validity, 3),
            "matched": [{"event": ev(e), "label": lab(x)} for e, x in self.matched],
            "missed": [lab(x) for x in self.missed],
            "false_events": [{"event": ev(e), "label": lab(x) if x else None} for e, x in self.false],
        }


def _family(cls: str | None) -> str | None:
    c = (cls or "").lower()
    return "two" if c in TWO_WHEEL else "four" if c in FOUR_WHEEL else None


def _centre(b) -> tuple[float, float]:
    return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)


def labels_for(kind: str, truth: dict) -> list[Label]:
    verdict = {TRUTH_VERDICTS[EventType(kind)]: "pos", "legal": "neg"}
    out = []
    if kind == EventType.RED_LIGHT:
        for i, c in enumerate(truth.get("crossings", [])):
            out.append(
                Label(
                    c.get("id", f"c{i}"),
                    verdict.get(c["verdict"], "ign"),
                    c["t"],
                    c["t"],
                    tuple(c["box"]),
                    tuple(c["box"]),
                    c.get("class"),
                )
            )
    else:
        for i, v in enumerate(truth.get("vehicles", [])):
            out.append(
                Label(
                    v.get("id", f"v{i}"),
                    verdict.get(v["verdict"], "ign"),
                    v["t_first"],
                    v["t_last"],
                    tuple(v["box_first"]),
                    tuple(v["box_last"]),
                    v.get("class"),
                )
            )
    return out


def distance(event: dict, label: Label) -> float | None:
    fa, fb = _family(event.get("class")), _family(label.cls)
    if fa is not None and fb is not None and fa != fb:
        return None
    t = event["t"]
    if not label.t0 - 1.0 <= t <= label.t1 + 1.0:
        return None
    a = min(max((t - label.t0) / max(label.t1 - label.t0, 1e-6), 0.0), 1.0)
    (x0, y0), (x1, y1) = _centre(label.box0), _centre(label.box1)
    ex, ey = _centre(event["box"])
    d = math.hypot(ex - (x0 + a * (x1 - x0)), ey - (y0 + a * (y1 - y0)))
    diag = max(math.hypot(b[2] - b[0], b[3] - b[1]) for b in (label.box0, label.box1))
    return d if d <= max(60.0, 1.2 * diag) else None


def score(kind: str, events: list[dict], truth: dict) -> TypeScore:
    events = [e for e in events if e.get("type") == kind]
    labels = labels_for(kind, truth)
    pairs = sorted(
        (d, i, j) for i, e in enumerate(events) for j, lab in enumerate(labels) if (d := distance(e, lab)) is not None
    )
    used_e: dict[int, int] = {}
    used_l: set[int] = set()
    for _, i, j in pairs:
        if i in used_e or j in used_l:
            continue
        used_e[i] = j
        used_l.add(j)
    res = TypeScore(kind, positives=sum(lab.kind == "pos" for lab in labels), events=len(events))
    for i, e in enumerate(events):
        label = labels[used_e[i]] if i in used_e else None
        if label is None:
            res.false.append((e, None))
        elif label.kind == "pos":
            res.matched.append((e, label))
        elif label.kind == "neg":
            res.false.append((e, label))
    res.missed = [lab for j, lab in enumerate(labels) if lab.kind == "pos" and j not in used_l]
    return res


def signal_agreement(transitions: list[tuple[float, str]], phases: list[dict], duration: float) -> dict:
    """How well a signal's state over time agrees with the labelled phases.

    `transitions` are (t, state) where each state begins. Returns the fraction of labelled time where
    the states agree, and for each labelled red that starts inside the video, the onset error (s)."""
    if not phases:
        return {"agreement": None, "red_onsets": []}

    def state_at(t: float) -> str:
        cur = "UNKNOWN"
        for ts, st in transitions:
            if ts > t:
                break
            cur = st
        return cur

    step = 0.02
    total = agree = 0
    for ph in phases:
        t = ph["t_start"]
        end = min(ph["t_end"], duration)
        while t < end:
            total += 1
            agree += state_at(t) == ph["state"]
            t += step
    onsets = []
    for ph in phases:
        if ph["state"] == "RED" and ph["t_start"] > 0.05:
            ours = [ts for ts, st in transitions if st == "RED" and abs(ts - ph["t_start"]) <= 5.0]
            onsets.append(
                {
                    "labelled": ph["t_start"],
                    "found": min(ours, key=lambda x: abs(x - ph["t_start"])) if ours else None,
                    "error_s": round(min(ours, key=lambda x: abs(x - ph["t_start"])) - ph["t_start"], 3)
                    if ours
                    else None,
                }
            )
    return {"agreement": round(agree / total, 4) if total else None, "red_onsets": onsets}


def count_error(counts: dict[str, dict[str, int]], truth: dict) -> dict | None:
    """Road users we counted over the stop line vs the labelled crossings (red-light labels only)."""
    if "crossings" not in truth:
        return None
    labelled = len(truth["crossings"])
    ours = sum(sum(per.values()) for per in counts.values())
    return {
        "labelled": labelled,
        "counted": ours,
        "error": ours - labelled,
        "relative": round((ours - labelled) / labelled, 3) if labelled else None,
    }


def reverse_truth(truth: dict, duration: float | None = None) -> dict:
    """Labels of a lane clip played backwards: every legal vehicle becomes a wrong-way one, every wrong-way
    one a legal one (it now rides with its lane), and their first and last sightings swap (frame f becomes
    N-1-f)."""
    n, fps = truth.get("frames"), truth.get("fps")
    end = (n - 1) / fps if n and fps else duration
    if end is None:
        raise ValueError("reverse_truth needs `frames` and `fps` in the labels, or the clip duration")
    wrong_way = TRUTH_VERDICTS[EventType.WRONG_WAY]
    vehicles = [
        {
            **v,
            "t_first": round(end - v["t_last"], 3),
            "t_last": round(end - v["t_first"], 3),
            "box_first": v["box_last"],
            "box_last": v["box_first"],
            "verdict": {"legal": wrong_way, wrong_way: "legal"}.get(v["verdict"], v["verdict"]),
        }
        for v in truth.get("vehicles", [])
    ]
    return {**truth, "vehicles": vehicles}
