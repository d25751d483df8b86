"""Plate text formats: clean an OCR string and accept it only if it is a plausible plate.

Strict on purpose: a reading that fits no format is "not read", never a guess. Formats:

* CN, mainland China: province character + letter + 5 characters (no I/O), the last may be
  挂/学/警/领/试/超/港/澳; new-energy (green) plates have 8 characters: province + letter + D/F + 5
  characters (small cars) or province + letter + 5 digits + D/F (large vehicles).
* VN, Vietnam: 2-digit province code (11-99) + series (1-2 letters, or a letter and a digit on
  motorbikes) + 4-5 digits, shown as ``30A-123.45`` / ``29-B1 123.45``.
* ID, Indonesia: 1-2 letter region + 1-4 digits + 0-3 letters, shown as ``B 1234 XYZ``.

OCR confuses a few glyphs (0/D/O, 1/I, 2/Z, 5/S, 8/B, 6/G); `parse_plate` may swap one of those
only where the format demands the other kind of character at that place (never on the loose
Indonesian format), and says so (`fixed`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"  # letters on Chinese plates: no I, no O
_CN_PATTERNS = (
    ("new_energy", re.compile(rf"^[{CN_PROVINCES}][{_L}](?:[DF][{_L}0-9][0-9]{{4}}|[0-9]{{5}}[DF])$")),
    ("standard", re.compile(rf"^[{CN_PROVINCES}][{_L}][{_L}0-9]{{4}}[{_L}0-9挂学警领试超港澳]$")),
)
_VN_PATTERN = re.compile(r"^(?P<p>[1-9][0-9])(?P<s>[A-Z]{1,2}|[A-Z][0-9])(?P<n>[0-9]{4,5})$")
_ID_PATTERN = re.compile(r"^(?P<r>[A-Z]{1,2})(?P<n>[1-9][0-9]{0,3})(?P<s>[A-Z]{0,3})$")
REGIONS = ("CN", "VN", "ID")

_TO_DIGIT = {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6", "T": "7"}
_TO_LETTER = {"0": "D", "1": "T", "2": "Z", "5": "S", "8": "B", "6": "G"}
_KEEP = re.compile(r"[0-9A-Z\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class PlateText:
    text: str  # canonical: letters, digits and CJK only, upper case (e.g. 苏ED51712, 29B112345)
    region: str  # CN | VN | ID
    kind: str  # standard | new_energy | motorbike | car
    display: str  # as printed on the plate (e.g. 苏E·D51712, 29-B1 123.45)
    fixed: bool = False  # one or more look-alike glyphs were swapped to fit the format


def clean(raw: str) -> str:
    """Upper-case letters, digits and CJK characters of an OCR string (separators, dots, spaces dropped)."""
    text = unicodedata.normalize("NFKC", raw or "").upper()
    return "".join(_KEEP.findall(text))


def _match(text: str) -> PlateText | None:
    if text[:1] in CN_PROVINCES:
        for kind, pattern in _CN_PATTERNS:
            if pattern.match(text):
                return PlateText(text, "CN", kind, f"{text[:2]}·{text[2:]}")
        return None
    m = _VN_PATTERN.match(text)
    if m:
        p, s, n = m["p"], m["s"], m["n"]
        tail = f"{n[:3]}.{n[3:]}" if len(n) == 5 else n
        if s[-1].isdigit():  # motorbike: 29-B1 123.45
            return PlateText(text, "VN", "motorbike", f"{p}-{s} {tail}")
        return PlateText(text, "VN", "car", f"{p}{s}-{tail}")
    m = _ID_PATTERN.match(text)
    if m and len(text) >= 4:
        return PlateText(text, "ID", "standard", " ".join(x for x in (m["r"], m["n"], m["s"]) if x))
    return None


def _fixes(text: str) -> list[str]:
    """Variants with one look-alike glyph swapped (digit<->letter), for texts that fit no format."""
    out = []
    for i, ch in enumerate(text):
        for table in (_TO_DIGIT, _TO_LETTER):
            if ch in table:
                out.append(text[:i] + table[ch] + text[i + 1 :])
    return out


def parse_plate(raw: str, regions: tuple[str, ...] = REGIONS, allow_fix: bool = True) -> PlateText | None:
    """The plate in an OCR string, or None when it fits no format of `regions`.

    A text that fits as read wins; otherwise a single look-alike swap that makes it fit (only when
    exactly one region/format accepts the swapped variants, so the fix is not a guess)."""
    text = clean(raw)
    if not text:
        return None
    hit = _match(text)
    if hit is not None and hit.region in regions:
        return hit
    if not allow_fix:
        return None
    # Indonesian plates are too loose a format (letters, digits, letters) for a swap to be evidence
    found = {
        h.text: h
        for h in (_match(v) for v in _fixes(text))
        if h is not None and h.region in regions and h.region != "ID"
    }
    if len(found) != 1:
        return None
    h = next(iter(found.values()))
    return PlateText(h.text, h.region, h.kind, h.display, fixed=True)


def plausible_plate(raw: str) -> tuple[PlateText | None, str]:
    """For a reviewer's correction: (the plate, '') or (None, why it is refused). No glyph swaps."""
    text = clean(raw)
    if not text:
        return None, "empty: type the plate's letters and digits"
    if len(text) < 4 or len(text) > 10:
        return None, f"{len(text)} characters: a plate has 4 to 10"
    hit = _match(text)
    if hit is None:
        return None, (
            f"{raw!r} fits no known plate format (mainland China incl. 8-character new-energy, Vietnam, Indonesia)"
        )
    return hit, ""
