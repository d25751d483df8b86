"""CSV and XLSX writers shared by every export endpoint (events, statistics).

Columns are `(key, zh label, en label)`: the data is the same whatever the language, only the
header row is localised (`lang` "zh" | "en", default "zh": the city's users read Chinese first).

- CSV is UTF-8 with a BOM, because Excel on Windows opens a BOM-less CSV as the local ANSI code
  page and turns Chinese into mojibake. `to_csv` yields chunks so an endpoint can stream all
  matching rows without holding them in memory.
- XLSX is built with openpyxl's write-only workbook (rows are not kept as cell objects), with a
  frozen, bold header row.

Values are formatted for people and spreadsheets alike: datetimes as ISO 8601 (with zone), None
as an empty cell, bools as true/false, lists/dicts as JSON.
"""
from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, Literal

Lang = Literal["zh", "en"]
Column = tuple[str, str, str]  # (key, zh label, en label)

BOM = "\ufeff"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CSV_CHUNK_ROWS = 500
# Excel's hard limit on a sheet name (and it forbids these characters in one).
_SHEET_NAME_MAX = 31
_SHEET_NAME_BAD = set("[]:*?/\\")


def headers(columns: Sequence[Column], lang: Lang = "zh") -> list[str]:
    """The header row in `lang`; anything but "en" gives Chinese (the UI's first language)."""
    return [en if lang == "en" else zh for _key, zh, en in columns]


def cell(value: Any) -> Any:
    """A value as a spreadsheet/CSV cell: ISO 8601 times, '' for None, JSON for containers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:  # stored times are aware; be explicit rather than guess a zone
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return value


_FORMULA_LEADS = frozenset("=+-@\t\r\n|%")


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formula injection (a comment or name beginning with =, +, -, @, ...):
    Excel would evaluate it. The lead character is judged after NFKC normalisation and after any
    leading spaces, so a full-width `＝`/`＋`/`－`/`＠` (which spreadsheet apps may treat as
    their ASCII forms) or ` =cmd` is neutralised too. Numbers are left alone (a negative number
    is not a formula)."""
    if isinstance(value, str):
        lead = unicodedata.normalize("NFKC", value.lstrip(" \u3000\u00a0"))[:1]
        if lead in _FORMULA_LEADS:
            return "'" + value
    return value


def _row(row: Mapping[str, Any], keys: Sequence[str]) -> list[Any]:
    return [_csv_safe(cell(row.get(k))) for k in keys]


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], lang: Lang = "zh") -> Iterator[str]:
    """Yield the CSV (BOM + header + rows) in chunks of text, for a `StreamingResponse`.

    The rows iterable is consumed lazily, so a generator over a database cursor streams."""
    keys = [c[0] for c in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write(BOM)
    writer.writerow(headers(columns, lang))
    pending = 0
    for row in rows:
        writer.writerow(_row(row, keys))
        pending += 1
        if pending >= _CSV_CHUNK_ROWS:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            pending = 0
    yield buf.getvalue()


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], lang: Lang = "zh") -> str:
    """The whole CSV as one string (small exports, tests)."""
    return "".join(to_csv(rows, columns, lang))


def _sheet_name(name: str) -> str:
    cleaned = "".join("_" if ch in _SHEET_NAME_BAD else ch for ch in name).strip("'") or "Sheet1"
    return cleaned[:_SHEET_NAME_MAX]


def to_xlsx(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], sheet: str = "data",
            lang: Lang = "zh") -> bytes:
    """The XLSX workbook (one sheet named `sheet`) as bytes; header row bold and frozen."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_name(sheet))
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for label in headers(columns, lang):
        c = WriteOnlyCell(ws, value=label)
        c.font = bold
        head.append(c)
    ws.append(head)
    keys = [c[0] for c in columns]
    for row in rows:
        ws.append(_row(row, keys))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
