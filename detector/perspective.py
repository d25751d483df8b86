"""Perspective learnt from the road users themselves, and the class it implies for a box.

On a road seen from a fixed camera the size of a road user's box grows about linearly with the row
its wheels touch (nearer = lower in the picture = larger). `Perspective` keeps online least-squares
fits against bottom y: box height per family (four-wheelers, two-wheelers), and a two-wheeler's box
width, learnt from confident, plausibly shaped boxes only. `context_class` uses them, and the shape
of the box, to correct a class the detector gets wrong in a way the size contradicts. A car box is a
two-wheeler when it is
- clearly taller than wide, or
- far smaller than a car at that row, or
- hardly wider than a two-wheeler at that row. At dusk the detector calls many headlit motorbikes
  "car"; they are about as tall as a car there (a rider is as tall as a car), but a car is 2-4 times
  as wide as a rider and bike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import TWO_WHEELERS

FOUR_WHEELERS = frozenset({"car", "bus", "truck"})
LEARN_CONF = 0.5  # only four-wheeler boxes at least this sure teach the fits
LEARN_CONF_2W = 0.3  # two-wheeler boxes: the detector is rarely sure of them at dusk, and rarely wrong
MIN_SAMPLES = 30  # boxes per family before the fit is used
TALL_CAR = 1.3  # a "car" box this much taller than wide is a rider on a two-wheeler
SMALL_CAR = 0.45  # a "car" box under this share of the expected car height at its row is not a car
NARROW_CAR = 1.5  # a "car" box under this many two-wheeler widths at its row is not a car


def family(cls: str) -> str | None:
    if cls in FOUR_WHEELERS:
        return "4w"
    if cls in TWO_WHEELERS:
        return "2w"
    return None


@dataclass
class _Fit:
    n: int = 0
    sy: float = 0.0
    syy: float = 0.0
    sh: float = 0.0
    syh: float = 0.0

    def add(self, y: float, h: float) -> None:
        self.n += 1
        self.sy += y
        self.syy += y * y
        self.sh += h
        self.syh += y * h

    def at(self, y: float) -> float | None:
        if self.n < MIN_SAMPLES:
            return None
        var = self.syy / self.n - (self.sy / self.n) ** 2
        mean_h = self.sh / self.n
        if var < 1.0:  # all at one row: the mean is all we know
            return mean_h
        slope = (self.syh / self.n - self.sy / self.n * mean_h) / var
        return max(1.0, mean_h + slope * (y - self.sy / self.n))


@dataclass
class Perspective:
    fits: dict[str, _Fit] = field(default_factory=lambda: {"4w": _Fit(), "2w": _Fit()})  # box heights
    widths: dict[str, _Fit] = field(default_factory=lambda: {"2w": _Fit()})

    def learn(self, box: tuple[float, float, float, float], cls: str, conf: float) -> None:
        fam = family(cls)
        if fam is None or conf < (LEARN_CONF if fam == "4w" else LEARN_CONF_2W):
            return
        w, h = box[2] - box[0], box[3] - box[1]
        if w <= 0 or h <= 0:
            return
        # shapes that fit the family: a car is not much taller than wide, a rider not much wider than tall
        if (fam == "4w" and h > TALL_CAR * w) or (fam == "2w" and w > 1.2 * h):
            return
        self.fits[fam].add(box[3], h)
        if fam in self.widths:
            self.widths[fam].add(box[3], w)

    def expected(self, fam: str, y: float) -> float | None:
        """Expected box height (pixels) of the family at bottom row y; None until learnt."""
        return self.fits[fam].at(y)

    def expected_width(self, fam: str, y: float) -> float | None:
        """Expected box width (pixels) of the family at bottom row y; None until learnt (two-wheelers only)."""
        fit = self.widths.get(fam)
        return fit.at(y) if fit is not None else None


def context_class(box: tuple[float, float, float, float], cls: str, persp: Perspective | None = None) -> str:
    """The class of a box given its shape and the learnt perspective: 'car' becomes 'motorcycle' when
    the box is clearly taller than wide, much smaller than a car at that row, or hardly wider than a
    two-wheeler at that row; everything else stays."""
    if cls != "car":
        return cls
    w, h = box[2] - box[0], box[3] - box[1]
    if w > 0 and h > TALL_CAR * w:
        return "motorcycle"
    if persp is not None:
        car_h = persp.expected("4w", box[3])
        if car_h is not None and h < SMALL_CAR * car_h:
            return "motorcycle"
        rider_w = persp.expected_width("2w", box[3])
        if rider_w is not None and w < NARROW_CAR * rider_w:
            return "motorcycle"
    return cls
