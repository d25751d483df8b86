"""The bulletin's charts as PNG bytes (matplotlib, Agg backend, a CJK font for the labels)."""

from __future__ import annotations

import io
import logging
from functools import lru_cache

from .. import stats_repo
from .data import Heatmap
from .text import TYPE_NAMES as _TYPE_NAMES

TYPE_NAMES = {**_TYPE_NAMES, "all": "合计"}
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
CJK_FONTS = ("WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "SimHei")
DPI = 150


@lru_cache(maxsize=1)
def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [n for n in CJK_FONTS if n in have]
    plt.rcParams["font.sans-serif"] = [*cjk, "DejaVu Sans"]
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["axes.unicode_minus"] = False
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # WQY has only weight 500: fine
    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def trend_chart(series: list[stats_repo.TrendSeries], bucket: str) -> bytes:
    """Current period per type (solid) and the previous period's total (dashed), by bucket index."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 2.3))
    labels = []
    for t in series:
        if t.type == "all":
            continue
        ax.plot(
            range(len(t.current)),
            [n for _, n in t.current],
            marker="o",
            markersize=3,
            label=f"{TYPE_NAMES.get(t.type, t.type)}（本期）",
        )
    total = next((t for t in series if t.type == "all"), None)
    if total is not None:
        ax.plot(
            range(len(total.previous)),
            [n for _, n in total.previous],
            linestyle="--",
            color="grey",
            label="合计（上期）",
        )
        labels = [d.strftime("%m-%d") for d, _ in total.current]
    step = max(1, len(labels) // 10)
    ax.set_xticks(range(0, len(labels), step), labels[::step], fontsize=8)
    ax.set_ylabel("违法数（起）")
    ax.set_xlabel("日期（本期，按天）" if bucket == "day" else "周起始日（本期，按周）")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)


def weekday_hour_chart(matrix: list[list[int]]) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 2.3))
    im = ax.imshow(matrix, aspect="auto", cmap="Reds", vmin=0)
    ax.set_yticks(range(7), WEEKDAYS, fontsize=8)
    ax.set_xticks(range(0, 24, 2), [f"{h}时" for h in range(0, 24, 2)], fontsize=8)
    for d in range(7):
        for h in range(24):
            if matrix[d][h]:
                ax.text(
                    h,
                    d,
                    str(matrix[d][h]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if matrix[d][h] > max(map(max, matrix)) / 2 else "black",
                )
    from matplotlib.ticker import MaxNLocator

    bar = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    bar.set_label("违法数", fontsize=8)
    return _png(fig)


def heatmap_chart(h: Heatmap) -> bytes:
    """The crossing's violation grid over a frame of its camera view (or on its own)."""
    import numpy as np

    from detector.pictures import open_picture

    plt = _pyplot()
    grid = np.array(h.grid.grid, dtype=float)
    w, hgt = h.grid.frame_size if all(h.grid.frame_size) else (16, 9)
    fig, ax = plt.subplots(figsize=(3.3, 3.3 * hgt / w))
    if h.background is not None:
        img = open_picture(io.BytesIO(h.background)).convert("L")
        ax.imshow(np.asarray(img), cmap="gray", extent=(0, w, hgt, 0), aspect="auto")
    masked = np.ma.masked_where(grid == 0, grid)
    ax.imshow(
        masked, cmap="autumn_r", alpha=0.65, extent=(0, w, hgt, 0), aspect="auto", vmin=0, interpolation="nearest"
    )
    ax.set_xlim(0, w)
    ax.set_ylim(hgt, 0)
    ax.set_axis_off()
    return _png(fig)
