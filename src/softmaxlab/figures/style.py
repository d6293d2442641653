"""The figures' look and the drawing helpers they share (matplotlib Agg and seaborn).

Figures are created as bare ``matplotlib.figure.Figure`` objects with an Agg canvas, so no
pyplot state is touched; :func:`styled` applies the rc settings and seaborn style around a
draw, :func:`save_figure` writes SVG and PNG with reproducible bytes. Panels without data
say so instead of failing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, PercentFormatter

from softmaxlab.figures.data import REFERENCE, family_groups
from softmaxlab.files import atomic_path

WIDTH = 10.0  # inches: 720 pt in the SVG, about 960 CSS px wide in the report
PNG_DPI = 150
SVG_HASHSALT = "softmaxlab"
RC = {
    "svg.hashsalt": SVG_HASHSALT,
    "svg.fonttype": "path",
    "font.size": 10.5,
    "axes.titlesize": 11,
    "axes.labelsize": 10.5,
    "legend.fontsize": 9.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "figure.dpi": 100,
}
STYLE = "whitegrid"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
ZERO_COLOUR = "#e3e3e3"


def new_figure(height: float, width: float = WIDTH) -> Figure:
    """An empty constrained-layout Figure with an Agg canvas, ``width`` x ``height`` inches."""
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.06)  # inches of margin around axes
    FigureCanvasAgg(fig)
    return fig


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """The figures' rc settings and seaborn style, for the duration of a draw."""
    with matplotlib.rc_context(RC), sns.axes_style(STYLE), matplotlib.rc_context(RC):
        yield


def no_data(ax, text: str) -> None:
    """Replace the axes' content by ``text`` (a panel without data)."""
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=ax.transAxes,
        wrap=True,
        fontsize=9,
        color="0.35",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def empty_figure(title: str, text: str) -> Figure:
    """A small figure that only says why there is nothing to draw."""
    fig = new_figure(2.0)
    ax = fig.add_subplot()
    no_data(ax, text)
    ax.set_title(title)
    return fig


def log_axis(ax, which: str, values) -> None:
    """Log scale on ``which`` ("x"/"y") with ticks at (every few) decades and no minor ticks.

    Fixed ticks keep the number of tick artists small, which keeps drawing fast.
    """
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size:
        lo = math.floor(math.log10(values.min()) + 1e-9)
        hi = math.ceil(math.log10(values.max()) - 1e-9)
        step = next(n for n in (1, 2, 3, 5, 10, 20, 50, 100, 1000) if n >= (hi - lo) / 5)
        first = math.ceil(lo / step) * step  # decades at multiples of the step
        axis.set_major_locator(FixedLocator([10.0**e for e in range(first, hi + 1, step)]))
    axis.set_minor_locator(NullLocator())


def draw_line(
    ax,
    x,
    y,
    *,
    label,
    color,
    marker,
    low=None,
    high=None,
    clip=None,
    floor=None,
    dashed=False,
    width=1.6,
    zorder=3,
):
    """One line with markers and an optional CI band.

    Means above ``clip`` are drawn at ``clip`` (open up-triangles), positive means below
    ``floor`` at ``floor`` (open down-triangles); no band is drawn where a mean is clipped.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    shown = y.copy()
    over = np.isfinite(y) & (y > clip) if clip is not None else np.zeros(y.shape, bool)
    under = np.isfinite(y) & (y < floor) if floor is not None else np.zeros(y.shape, bool)
    shown[over] = clip
    shown[under] = floor
    line = ax.plot(
        x,
        shown,
        color=color,
        marker=marker,
        markersize=4,
        linewidth=width,
        linestyle="--" if dashed else "-",
        label=label,
        zorder=zorder,
    )[0]
    if low is not None and high is not None:
        lo = np.asarray(low, dtype=float)
        hi = np.asarray(high, dtype=float)
        if clip is not None:
            lo, hi = np.minimum(lo, clip), np.minimum(hi, clip)
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y) & ~over & ~under
        if ok.any():
            ax.fill_between(
                x,
                np.where(ok, lo, np.nan),
                np.where(ok, hi, np.nan),
                color=color,
                alpha=0.15,
                linewidth=0,
                zorder=1,
            )
    for mask, level, marker_ in ((over, clip, "^"), (under, floor, "v")):
        if mask.any():
            ax.plot(
                x[mask],
                np.full(mask.sum(), level),
                linestyle="none",
                marker=marker_,
                markersize=7,
                markerfacecolor="white",
                markeredgecolor=color,
                zorder=4,
            )
    return line


def palette(n: int):
    """``n`` colours of the colour-blind palette."""
    return sns.color_palette("colorblind", max(n, 1))


@dataclass
class Panel:
    """Rows of one metric for a family grid: columns label, x, mean, ci_low, ci_high.

    ``log``: log y axis; means <= 0 are left out and means below ``floor`` drawn at it.
    """

    rows: pd.DataFrame
    ylabel: str
    ylim: tuple[float, float] | None = None
    log: bool = False
    clip: float | None = None
    floor: float | None = None
    percent: bool = False
    band: bool = True


def family_grid(
    fig: Figure,
    row_titles: list[str],
    panels: list[Panel],
    labels: list[str],
    xlabel: str,
    empty_text: str,
) -> None:
    """Rows = panels (one metric or distribution each), columns = method families.

    Each family gets one colour per label (colour-blind palette, distinct markers) and its
    own legend above its column; softmax is repeated grey and dashed in other families.
    """
    families = family_groups(labels)
    if not families or not panels:
        no_data(fig.add_subplot(), empty_text)
        return
    reference = REFERENCE if REFERENCE in labels else None
    xs = np.concatenate([panel.rows["x"].to_numpy(float) for panel in panels])
    axes = fig.subplots(len(panels), len(families), sharex=True, sharey="row", squeeze=False)
    for i, panel in enumerate(panels):
        if panel.log:
            values = panel.rows["mean"].to_numpy(float)
            values = values[np.isfinite(values) & (values > 0)]
            if panel.floor is not None:
                values = np.maximum(values, panel.floor)
            log_axis(axes[i, 0], "y", values)
        elif panel.ylim is not None:
            axes[i, 0].set_ylim(*panel.ylim)
        if panel.percent:
            axes[i, 0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes[i, 0].set_ylabel(f"{row_titles[i]}\n{panel.ylabel}" if row_titles[i] else panel.ylabel)
    log_axis(axes[0, 0], "x", xs)
    for j, (family, members) in enumerate(families):
        colours = palette(len(members))
        extra = [reference] if reference and reference not in members else []
        handles = {}
        for i, panel in enumerate(panels):
            ax = axes[i, j]
            drawn = False
            for index, label in enumerate([*members, *extra]):
                data = panel.rows[panel.rows["label"] == label].sort_values("x")
                values = data["mean"].to_numpy(float)
                if panel.log:
                    values = np.where(values > 0, values, np.nan)
                if data.empty or not np.isfinite(values).any():
                    continue
                is_ref = label in extra
                band = panel.band and not panel.log and not is_ref
                line = draw_line(
                    ax,
                    data["x"],
                    values,
                    label=f"{label} (reference)" if is_ref else label,
                    color="0.45" if is_ref else colours[index],
                    marker=None if is_ref else MARKERS[index % len(MARKERS)],
                    low=data["ci_low"] if band else None,
                    high=data["ci_high"] if band else None,
                    clip=panel.clip,
                    floor=panel.floor if panel.log else None,
                    dashed=is_ref,
                    width=1.2 if is_ref else 1.6,
                    zorder=2 if is_ref else 3,
                )
                handles.setdefault(line.get_label(), line)
                drawn = True
            if not drawn:
                ax.text(
                    0.5,
                    0.5,
                    f"no data for {family}\nin this sweep",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=9,
                    color="0.35",
                )
            ax.set_xlabel(xlabel if i == len(panels) - 1 else "")
        axes[0, j].set_title(family, fontweight="bold")
        order = [
            f"{label} (reference)" if label in extra else label for label in [*members, *extra]
        ]
        legend_above(axes[0, j], {key: handles[key] for key in order if key in handles})


def legend_above(ax, handles: dict, **options) -> None:
    """A one-column, frameless legend of ``handles`` (label -> artist) above a grid column's
    top panel, the style of every family grid; nothing when there are no handles."""
    if handles:
        ax.legend(
            handles.values(),
            handles.keys(),
            loc="lower center",
            bbox_to_anchor=(0.5, 1.1),
            ncol=1,
            frameon=False,
            handlelength=2.2,
            **options,
        )


def save_figure(fig: Figure, svg_path, png_path) -> None:
    """Write ``fig`` as SVG and PNG, each atomically, with reproducible bytes; then release it.

    SVG element ids come from ``svg.hashsalt`` and the date is omitted, so the same figure
    always gives the same bytes; the PNG carries no timestamp either.
    """
    with matplotlib.rc_context(RC):
        # Lay out once, then freeze: both formats share one layout and saving is faster.
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
        with atomic_path(svg_path) as tmp:
            fig.savefig(tmp, format="svg", metadata={"Date": None})
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Software": None})
    fig.clear()
