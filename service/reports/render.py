"""A `Bulletin` as an A4 PDF (Jinja2 HTML → WeasyPrint) or DOCX (python-docx), in Chinese.

Both formats say the same words (`text.py`) and show the same charts (`charts.py`). Server text
(crossing names, districts, reviewers) is escaped by Jinja2's autoescape; WeasyPrint fetches
nothing but the `data:` images the template embeds.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from . import charts, text
from .data import Bulletin

Format = Literal["pdf", "docx"]
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
TEMPLATES = Path(__file__).with_name("templates")


class RenderUnavailable(RuntimeError):
    """The PDF engine cannot run here (WeasyPrint or its Debian pango libraries missing)."""


@dataclass(slots=True)
class Figures:
    trend: bytes
    weekday_hour: bytes
    heatmaps: list[tuple[bytes, str]]  # (png, caption)


def figures(b: Bulletin) -> Figures:
    heat = [(charts.heatmap_chart(h), f"{h.name}（{h.grid.total:,} 起）") for h in b.heatmaps]
    return Figures(charts.trend_chart(b.trend, b.trend_bucket), charts.weekday_hour_chart(b.weekday_hour), heat)


def edition(b: Bulletin) -> str:
    return "公开版" if b.public else "内部版"


def _generated(b: Bulletin) -> str:
    return datetime.now(UTC).astimezone(ZoneInfo(b.tz)).strftime("%Y-%m-%d %H:%M")


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _fetcher():
    """WeasyPrint's URL fetcher limited to the embedded `data:` images: nothing from disk or network."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


def html(b: Bulletin, figs: Figures | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    figs = figs or figures(b)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return env.get_template("bulletin.html").render(
        title=text.title(b),
        period=text.local_day_range(b.start, b.end, b.tz),
        scope=b.scope_label,
        edition=edition(b),
        headline=text.headline(b),
        kpis=text.kpis(b),
        scope_note=text.scope_note(b),
        hotspot_header=text.HOTSPOT_HEADER,
        hotspots=text.hotspot_rows(b),
        trend_png=_data_uri(figs.trend, "image/png"),
        weekday_png=_data_uri(figs.weekday_hour, "image/png"),
        tz=b.tz,
        heatmaps=[{"png": _data_uri(png, "image/png"), "caption": cap} for png, cap in figs.heatmaps],
        throughput=text.throughput_lines(b),
        reviewers=b.throughput.by_reviewer[:10],
        cases=[{"png": _data_uri(c.composite, "image/jpeg"), "caption": text.case_caption(c, b.tz)} for c in b.cases],
        cases_note=b.cases_note,
        cases_footer=text.cases_footer(b),
        generated=_generated(b),
    )


def pdf(b: Bulletin) -> bytes:
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as e:  # OSError: pango not installed (WeasyPrint loads it on import)
        raise RenderUnavailable(
            f"PDF engine unavailable ({str(e).splitlines()[0][:120]}); install WeasyPrint and "
            "Debian pango (scripts/system_packages.sh), or ask for DOCX"
        ) from None
    return HTML(string=html(b), url_fetcher=_fetcher()).write_pdf()


def docx(b: Bulletin) -> bytes:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt, RGBColor

    figs = figures(b)
    doc = Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.left_margin = sec.right_margin = Mm(16)
    sec.top_margin = sec.bottom_margin = Mm(18)
    width = Mm(178)
    for name in ("Normal", "Heading 1", "Heading 2", "Title"):
        st = doc.styles[name]
        st.font.name = "WenQuanYi Zen Hei"
        st.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "WenQuanYi Zen Hei")
    doc.styles["Normal"].font.size = Pt(10.5)

    h = doc.add_heading(text.title(b), level=0)
    h.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for run in h.runs:
        run.font.color.rgb = RGBColor(0xA4, 0, 0)
    sub = doc.add_paragraph(f"{text.local_day_range(b.start, b.end, b.tz)}　·　{b.scope_label}　·　{edition(b)}")
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def table(header: list[str], rows: list[list[str]]) -> None:
        t = doc.add_table(rows=1, cols=len(header))
        t.style = "Table Grid"
        for cell, label in zip(t.rows[0].cells, header):
            cell.text = label
        for r in rows:
            for cell, value in zip(t.add_row().cells, r):
                cell.text = value

    def note(s: str) -> None:
        p = doc.add_paragraph()
        run = p.add_run(s)
        run.font.size = Pt(8)
        run.font.color.rgb = RGBColor(0x66, 0x66, 0x66)

    n = iter("一二三四五六七")
    doc.add_heading(f"{next(n)}、总体情况", level=1)
    doc.add_paragraph(text.headline(b))
    table(["指标", "本期", "上期", "环比"], [[k.name, k.current, k.previous, k.change] for k in text.kpis(b)])
    note(text.scope_note(b))

    doc.add_heading(f"{next(n)}、热点路口（按每千通行违法率排序）", level=1)
    rows = text.hotspot_rows(b)
    if rows:
        table(text.HOTSPOT_HEADER, rows)
    else:
        doc.add_paragraph("本期无数据。")

    doc.add_heading(f"{next(n)}、变化趋势与时段分布", level=1)
    doc.add_picture(io.BytesIO(figs.trend), width=width)
    doc.add_paragraph("图 1　违法数趋势（实线：本期各类型；虚线：上期合计）").alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_picture(io.BytesIO(figs.weekday_hour), width=width)
    doc.add_paragraph(f"图 2　违法数按星期 × 小时分布（{b.tz}）").alignment = WD_ALIGN_PARAGRAPH.CENTER

    if figs.heatmaps:
        doc.add_heading(f"{next(n)}、重点路口违法位置热力图", level=1)
        for png, cap in figs.heatmaps:
            doc.add_picture(io.BytesIO(png), width=Mm(90))
            doc.add_paragraph(cap).alignment = WD_ALIGN_PARAGRAPH.CENTER
        note("色块为违法交通参与者触地点（检测框底边中点）在画面中的分布，颜色越深违法越多。")

    doc.add_heading(f"{next(n)}、审核工作", level=1)
    for line in text.throughput_lines(b):
        doc.add_paragraph(line)
    if b.throughput.by_reviewer:
        table(["审核人", "审核决定（件）"], [[u, f"{c:,}"] for u, c in b.throughput.by_reviewer[:10]])

    doc.add_heading(f"{next(n)}、典型案例", level=1)
    if b.cases:
        for i, c in enumerate(b.cases, start=1):
            doc.add_picture(io.BytesIO(c.composite), width=width)
            doc.add_paragraph(f"案例 {i}　{text.case_caption(c, b.tz)}").alignment = WD_ALIGN_PARAGRAPH.CENTER
        note(text.cases_footer(b))
    else:
        doc.add_paragraph(b.cases_note)
    note(f"生成时间：{_generated(b)}　·　crosswatch")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def render(b: Bulletin, fmt: Format) -> bytes:
    return pdf(b) if fmt == "pdf" else docx(b)


def filename(b: Bulletin, fmt: Format) -> str:
    """crosswatch-bulletin_2026-11-02_2026-11-08.pdf (ASCII: the scope is in the document)."""
    from ..exports import range_suffix

    return f"crosswatch-bulletin{range_suffix(b.start, b.end, ZoneInfo(b.tz))}.{fmt}"
