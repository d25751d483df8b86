"""CSV and XLSX writers shared by every export endpoint (events, statistics).

Columns are `(key, zh label, en label)`: the data is the same whatever the language, only the
header row is localised (`lang` "zh" | "en", default "zh": the city's users read Chinese first).

- CSV is UTF-8 with a BOM, because Excel on Windows opens a BOM-less CSV as the local ANSI code
  page and turns Chinese into mojibake. `to_csv` yields chunks so an endpoint can stream all
  matching rows without holding them in memory.
- XLSX is built with openpyxl's write-only workbook (rows are not kept as cell objects), with a
  frozen, bold header row.

Values are formatted for people and spreadsheets alike: datetimes as ISO 8601 (with zone), None
as an empty cell, bools as true/false, lists/dicts as JSON. Codes people read (violation type,
road-user class, review status, signal state) have labels in both languages (`label`), so an
export reads like the page it was made from; `in_zone` shows a time in the page's zone and
`range_suffix` names a file after its date range.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal, overload

from .vocabulary import EVENT_TYPE_LABELS, REVIEW_STATUS_LABELS, SIGNAL_STATE_LABELS

Lang = Literal["zh", "en"]
Column = tuple[str, str, str]  # (key, zh label, en label)

BOM = "\ufeff"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CSV_CHUNK_ROWS = 500
# Excel's hard limit on a sheet name (and it forbids these characters in one).
_SHEET_NAME_MAX = 31
_SHEET_NAME_BAD = set("[]:*?/\\")


# code -> (zh, en): type, review status and signal state from `service.vocabulary` (what the UI
# shows via GET /api/meta); an export says what the page says.
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "type": {str(k): v for k, v in EVENT_TYPE_LABELS.items()},
    "class_name": {
        "car": ("小汽车", "Car"),
        "motorcycle": ("摩托车/电动车", "Motorcycle / e-bike"),
        "bicycle": ("自行车", "Bicycle"),
        "bus": ("公交车", "Bus"),
        "truck": ("货车", "Truck"),
        "person": ("行人", "Pedestrian"),
    },
    "review_status": {str(k): v for k, v in REVIEW_STATUS_LABELS.items()},
    # matched case-blind; "amber" and "dark" are labelled too, as before (not `SignalState` codes)
    "signal_state": {
        **{str(k).lower(): v for k, v in SIGNAL_STATE_LABELS.items()},
        "amber": ("黄灯", "Amber"),
        "dark": ("熄灭", "Dark"),
    },
}


def label(field: str, code: str | None, lang: Lang = "zh") -> str | None:
    """The label of `code` in `lang` (signal states are matched case-blind); an unknown code is
    returned as it is (a new code is shown, never dropped)."""
    if code is None:
        return None
    pair = LABELS[field].get(code.lower() if field == "signal_state" else code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]


@overload
def in_zone(value: datetime, zone: tzinfo) -> datetime: ...
@overload
def in_zone(value: None, zone: tzinfo) -> None: ...
def in_zone(value: datetime | None, zone: tzinfo) -> datetime | None:
    """`value` as the same instant in `zone` (a naive value is read as UTC, as stored)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone)


def range_suffix(start: datetime | None, end: datetime | None, zone: tzinfo) -> str:
    """ "_2026-03-01_2026-03-07" for [start, end) in `zone` (the last day is the one before `end`),
    "_2026-03-01_now" or "_begin_2026-03-07" with one bound, "" with none: for file names."""
    if start is None and end is None:
        return ""
    first = in_zone(start, zone).date().isoformat() if start is not None else "begin"
    last = (in_zone(end, zone) - timedelta(microseconds=1)).date().isoformat() if end is not None else "now"
    return f"_{first}_{last}"


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
            value = value.replace(tzinfo=UTC)
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


def to_xlsx(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], sheet: str = "data", lang: Lang = "zh"
) -> bytes:
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
