"""Fonts for captions: a CJK font for Chinese and a Latin font with Vietnamese (and other accented)
letters, both from Debian packages (fonts-wqy-zenhei or fonts-noto-cjk; fonts-dejavu-core or
fonts-noto-core), drawn run by run so every script a crossing name may use is rendered.

``find_cjk_font()`` looks at ``$CROSSWATCH_CJK_FONT``, then ``fc-list :lang=zh``, then well-known
paths; ``find_latin_font()`` at ``$CROSSWATCH_LATIN_FONT``, then ``fc-list :lang=vi``, then
well-known paths, else the CJK font.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from PIL import ImageDraw, ImageFont

from .files import FontNotFoundError

_FONT_ENV = "CROSSWATCH_CJK_FONT"
_LATIN_ENV = "CROSSWATCH_LATIN_FONT"
_FONT_HINT = (
    "install a CJK font, e.g. `apt-get install -y fonts-wqy-zenhei` (or fonts-noto-cjk) on "
    f"Debian/Ubuntu, or set {_FONT_ENV}=/path/to/font.ttc"
)
_KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
_FONT_PREFERENCE = ("wqy-zenhei", "notosanscjk", "sourcehansans", "wqy-microhei", "droidsansfallback")
# Latin incl. Vietnamese (Latin Extended Additional): Debian fonts-dejavu-core / fonts-noto-core
_KNOWN_LATIN = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)
_LATIN_PREFERENCE = ("dejavusans.ttf", "notosans-regular", "liberationsans-regular")
_VIETNAMESE_PROBE = "Giảng Võ ắ ữ Đ"


def _fc_list(lang: str) -> list[Path]:
    if not shutil.which("fc-list"):
        return []
    try:
        out = subprocess.run(
            ["fc-list", f":lang={lang}", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    paths = []
    for line in out.splitlines():
        path = line.split(":", 1)[0].strip()
        if path.lower().endswith((".ttf", ".ttc", ".otf", ".otc")) and Path(path).is_file():
            paths.append(Path(path))
    return paths


def find_cjk_font() -> Path:
    """Path of a font that can draw Chinese; raises FontNotFoundError with the fix if none."""
    env = os.environ.get(_FONT_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise FontNotFoundError(f"{_FONT_ENV}={env} is not a font file; {_FONT_HINT}")
        return p
    candidates = _fc_list("zh") + [Path(p) for p in _KNOWN_FONTS if Path(p).is_file()]

    def rank(p: Path) -> tuple[int, str]:
        name = p.name.lower().replace("-", "").replace("_", "")
        for i, pref in enumerate(_FONT_PREFERENCE):
            if pref.replace("-", "") in name:
                return i, str(p)
        return len(_FONT_PREFERENCE), str(p)

    for p in sorted(dict.fromkeys(candidates), key=rank):
        try:
            ImageFont.truetype(str(p), 16)
        except OSError:
            continue
        return p
    raise FontNotFoundError(f"no font with Chinese glyphs found (fc-list :lang=zh is empty); {_FONT_HINT}")


def find_latin_font(fallback: Path | None = None) -> Path:
    """A font for Latin text incl. Vietnamese letters (``$CROSSWATCH_LATIN_FONT``, ``fc-list :lang=vi``,
    well-known Debian paths); `fallback` (the CJK font) when none is found."""
    env = os.environ.get(_LATIN_ENV)
    if env:
        if not Path(env).is_file():
            raise FontNotFoundError(f"{_LATIN_ENV}={env} is not a font file")
        return Path(env)
    candidates = [p for p in _fc_list("vi") if "mono" not in p.name.lower() and "serif" not in p.name.lower()]
    candidates += [Path(p) for p in _KNOWN_LATIN if Path(p).is_file()]

    def rank(p: Path) -> tuple[int, str]:
        name = p.name.lower()
        return next((i for i, pref in enumerate(_LATIN_PREFERENCE) if pref in name), len(_LATIN_PREFERENCE)), str(p)

    for p in sorted(dict.fromkeys(candidates), key=rank):
        try:
            ImageFont.truetype(str(p), 16)
        except OSError:
            continue
        return p
    if fallback is None:
        raise FontNotFoundError("no font with Vietnamese letters found; install fonts-dejavu-core or fonts-noto-core")
    return fallback


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x2E80 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0xFF00 <= o <= 0xFFEF
        or 0x3000 <= o <= 0x303F
        or 0x20000 <= o <= 0x2FFFF
        or ch in "·"
    )


class Fonts:
    """The two caption fonts; text is drawn in runs: CJK characters with the CJK font, the rest with
    the Latin one (which has the Vietnamese letters the CJK fonts lack)."""

    def __init__(self, cjk: Path | str, latin: Path | str | None = None):
        self.cjk, self.latin = str(cjk), str(latin or cjk)

    def runs(self, text: str) -> list[tuple[str, str]]:
        """(font path, text) runs of `text`."""
        out: list[tuple[str, str]] = []
        for ch in text:
            path = self.cjk if _is_cjk(ch) else self.latin
            if out and out[-1][0] == path:
                out[-1] = (path, out[-1][1] + ch)
            else:
                out.append((path, ch))
        return out


@functools.lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def text_width(draw: ImageDraw.ImageDraw, text: str, fonts: Fonts, size: int) -> float:
    return sum(draw.textlength(run, font=_font(path, size)) for path, run in fonts.runs(text))


def draw_text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fonts: Fonts, size: int, fill=(255, 255, 255)
) -> float:
    """Draw `text` at `xy` (top-left) run by run on a shared baseline; returns the x after it."""
    x, y = xy
    ascent = _font(fonts.cjk, size).getmetrics()[0]
    for path, run in fonts.runs(text):
        font = _font(path, size)
        draw.text((x, y + ascent - font.getmetrics()[0]), run, font=font, fill=fill)
        x += draw.textlength(run, font=font)
    return x
