"""The one error of a run that a person gets as one line (the command exits non-zero with it), and
`one_line`, which makes any text safe to print as one line."""

from __future__ import annotations

import unicodedata

MAX_LINE = 2000  # a line for a person is cut to this many characters


class UserError(Exception):
    """One line for a person: a bad video, a missing model, a bad option value."""


def one_line(text: object, limit: int = MAX_LINE) -> str:
    """`text` as one printable line: control and format characters (newlines, terminal escapes,
    bidi overrides, NUL) written as escapes, cut to `limit` characters."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii") if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    line = "".join(out)
    return line if len(line) <= limit else line[: limit - 1] + "…"
