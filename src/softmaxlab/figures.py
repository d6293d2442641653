"""The report's figures, drawn with matplotlib (Agg) and seaborn from the tidy summary.

Each entry of :data:`FIGURES` is a :class:`FigureSpec` (title, draw, caption). Use
``make_figure(name, summary)`` to draw, ``save_figure(fig, svg, png)`` to write both formats
atomically and byte-reproducibly, and ``caption(name, summary)`` / ``title(name)`` for the
text. Every number in a caption is read from the summary.

What each figure shows, and the slice of the sweep it uses, is stated in its caption. The
common choices, made from what the summary holds so any sub-sweep works:

* format: float64 (else the widest format present), so rounding does not blur the shape;
* K: the value nearest 10 on a log scale (10 in the default sweep);
* distribution: each one faceted, or "normal" (else the first) when one is picked;
* methods: one representative label per method, its default parameters when present
  (parameter variants of softmax get their own figure), grouped into families with a
  handful of lines per panel;
* pooling over cells (heat maps, accuracy): mean of cell rates, median of cell medians,
  each cell (distribution x scale x K) weighted equally, as in softmaxlab.tables.

Panels without data say so instead of failing. Figures are created as bare
``matplotlib.figure.Figure`` objects with an Agg canvas, so no pyplot state is touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, PercentFormatter

from softmaxlab.claims import exp_overflow_threshold
from softmaxlab.dtypes import DTYPES, finfo
from softmaxlab.files import atomic_path
from softmaxlab.methods import parse_label
from softmaxlab.tables import format_scale, metric_rows, ordered_dtypes, ordered_labels, pick_dtype

__all__ = ["FIGURES", "FigureSpec", "caption", "make_figure", "save_figure", "title"]

WIDTH = 10.0  # inches: 720 pt in the SVG, about 960 CSS px wide in the report
PNG_DPI = 150
SVG_HASHSALT = "softmaxlab"
_RC = {
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
_STYLE = "whitegrid"
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_ZERO_COLOUR = "#e3e3e3"

#: Method families: one panel each, so no panel has more than a handful of lines.
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("exponential", ("softmax", "ssmax", "iterated_exp", "gumbel_softmax")),
    (
        "linear & elementwise",
        ("argmax", "linear", "shifted_linear", "relu", "softplus", "sigmoid"),
    ),
    ("polynomial & spherical", ("spherical", "escort", "taylor", "stablemax")),
    ("sparse", ("sparsemax", "entmax15", "entmax")),
)
_REFERENCE = "softmax"  # drawn (grey, dashed) in every other family's panel for comparison


# ------------------------------------------------------------------ choosing a slice


def _nearest(values, target: float):
    """The value nearest ``target`` on a log scale (ties: the smaller); None if empty."""
    values = sorted({float(v) for v in values if v is not None and float(v) > 0})
    if not values:
        return None
    return min(values, key=lambda v: (abs(math.log(v / target)), v))


def _pick(values, prefer: str) -> str | None:
    """``prefer`` if present, else the first value in order of appearance."""
    present = [str(v) for v in pd.unique(pd.Series(values)) if isinstance(v, str)]
    if not present:
        return None
    return prefer if prefer in present else present[0]


def _k_ref(rows: pd.DataFrame) -> int | None:
    k = _nearest(rows["k"].unique(), 10)
    return None if k is None else int(k)


def _representatives(rows: pd.DataFrame) -> list[str]:
    """One label per method: its default-parameter label (== method) if present, else its first."""
    pairs = rows[["method", "label"]].drop_duplicates()
    chosen = []
    for method in pd.unique(pairs["method"]):
        labels = [str(v) for v in pairs.loc[pairs["method"] == method, "label"]]
        chosen.append(str(method) if str(method) in labels else labels[0])
    return chosen


def _families(labels: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(family, labels) for the families with at least one of ``labels``; others last."""
    method_of = {label: parse_label(label)[0] for label in labels}
    out, used = [], set()
    for family, methods in FAMILIES:
        members = [label for label in labels if method_of[label] in methods]
        members.sort(key=lambda label: methods.index(method_of[label]))
        if members:
            out.append((family, members))
            used.update(members)
    rest = [label for label in labels if label not in used]
    if rest:
        out.append(("other", rest))
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "n/a" if value is None or np.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.{digits}g}"


def _pct(value) -> str:
    if value is None or np.isnan(value):
        return "n/a"
    return "0%" if value == 0 else f"{100 * value:.3g}%"


def _scale_text(scale: float, scales) -> str:
    scales = sorted({float(s) for s in scales} | {float(scale)})
    return dict(zip(scales, format_scale(scales), strict=True))[float(scale)]


def _list(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ------------------------------------------------------------------ drawing helpers


def _new_figure(height: float, width: float = WIDTH) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.06)  # inches of margin around axes
    FigureCanvasAgg(fig)
    return fig


def _styled(draw: Callable[[pd.DataFrame], Figure]) -> Callable[[pd.DataFrame], Figure]:
    def wrapped(summary: pd.DataFrame) -> Figure:
        with matplotlib.rc_context(_RC), sns.axes_style(_STYLE), matplotlib.rc_context(_RC):
            return draw(summary)

    wrapped.__doc__ = draw.__doc__
    return wrapped


def _no_data(ax, text: str) -> None:
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


def _empty_figure(title: str, text: str) -> Figure:
    fig = _new_figure(2.0)
    ax = fig.add_subplot()
    _no_data(ax, text)
    ax.set_title(title)
    return fig


def _log_axis(ax, which: str, values) -> None:
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


def _line(
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


def _colours(n: int):
    return sns.color_palette("colorblind", max(n, 1))


@dataclass
class _Panel:
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


def _family_grid(
    fig: Figure,
    row_titles: list[str],
    panels: list[_Panel],
    labels: list[str],
    xlabel: str,
    no_data: str,
) -> None:
    """Rows = panels (one metric or distribution each), columns = method families.

    Each family gets one colour per label (colour-blind palette, distinct markers) and its
    own legend above its column; softmax is repeated grey and dashed in other families.
    """
    families = _families(labels)
    if not families or not panels:
        _no_data(fig.add_subplot(), no_data)
        return
    reference = _REFERENCE if _REFERENCE in labels else None
    xs = np.concatenate([panel.rows["x"].to_numpy(float) for panel in panels])
    axes = fig.subplots(len(panels), len(families), sharex=True, sharey="row", squeeze=False)
    for i, panel in enumerate(panels):
        if panel.log:
            values = panel.rows["mean"].to_numpy(float)
            values = values[np.isfinite(values) & (values > 0)]
            if panel.floor is not None:
                values = np.maximum(values, panel.floor)
            _log_axis(axes[i, 0], "y", values)
        elif panel.ylim is not None:
            axes[i, 0].set_ylim(*panel.ylim)
        if panel.percent:
            axes[i, 0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes[i, 0].set_ylabel(f"{row_titles[i]}\n{panel.ylabel}" if row_titles[i] else panel.ylabel)
    _log_axis(axes[0, 0], "x", xs)
    for j, (family, members) in enumerate(families):
        colours = _colours(len(members))
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
                line = _line(
                    ax,
                    data["x"],
                    values,
                    label=f"{label} (reference)" if is_ref else label,
                    color="0.45" if is_ref else colours[index],
                    marker=None if is_ref else _MARKERS[index % len(_MARKERS)],
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
        ordered = {key: handles[key] for key in order if key in handles}
        if ordered:
            axes[0, j].legend(
                ordered.values(),
                ordered.keys(),
                loc="lower center",
                bbox_to_anchor=(0.5, 1.1),
                ncol=1,
                frameon=False,
                handlelength=2.2,
            )


def _series(rows: pd.DataFrame, label: str, x: str = "scale") -> pd.DataFrame:
    return rows[rows["label"] == label].sort_values(x)


def _at(rows: pd.DataFrame, label: str, column: str, value, field: str = "mean") -> float:
    hit = rows[(rows["label"] == label) & (rows[column] == value)][field]
    return float(hit.iloc[0]) if len(hit) else float("nan")


# ------------------------------------------------------------------ the figure slices


def _slice(
    summary: pd.DataFrame, metric: str, distribution: str | None = "normal", pick_k: bool = True
) -> tuple[pd.DataFrame, dict]:
    """Rows of ``metric`` in float64 (else the widest format), at K near 10, for one distribution.

    ``distribution=None`` keeps every distribution. Returns the rows and the choices made.
    """
    rows = metric_rows(summary, metric)
    choice = {"dtype": pick_dtype(rows["dtype"]) if len(rows) else None}
    rows = rows[rows["dtype"] == choice["dtype"]]
    if pick_k:
        choice["k"] = _k_ref(rows)
        rows = rows[rows["k"] == choice["k"]]
    if distribution is not None:
        choice["distribution"] = _pick(rows["distribution"], distribution)
        rows = rows[rows["distribution"] == choice["distribution"]]
    return rows.assign(x=rows["scale"].astype(float)), choice


def _where(choice: dict) -> str:
    parts = []
    if choice.get("distribution"):
        parts.append(f"{choice['distribution']} logits")
    if choice.get("k") is not None:
        parts.append(f"K = {choice['k']}")
    if choice.get("dtype"):
        parts.append(choice["dtype"])
    return ", ".join(parts)


# ------------------------------------------------------------------ distance to argmax vs scale


def _draw_distance_vs_scale(summary: pd.DataFrame) -> Figure:
    rows, choice = _slice(summary, "tv_to_argmax", distribution=None)
    distributions = [str(d) for d in pd.unique(rows["distribution"])]
    labels = _representatives(rows)
    if not distributions or not labels:
        return _empty_figure(
            FIGURES["distance_vs_scale"].title, "no tv_to_argmax data in this sweep"
        )
    families = _families(labels)
    fig = _new_figure(1.9 * len(distributions) + 2.2, WIDTH if len(families) > 2 else 8.0)
    panels = [
        _Panel(rows[rows["distribution"] == d], "TV distance", ylim=(-0.03, 1.06), clip=1.0)
        for d in distributions
    ]
    _family_grid(fig, distributions, panels, labels, "scale s", "no tv_to_argmax data")
    fig.suptitle(f"Distance to argmax vs logit scale ({_where(choice)})", fontsize=12)
    return fig


def _caption_distance_vs_scale(summary: pd.DataFrame) -> str:
    rows, choice = _slice(summary, "tv_to_argmax", distribution=None)
    if rows.empty:
        return "No tv_to_argmax data in this sweep."
    labels = _representatives(rows)
    scales = sorted(rows["x"].unique())
    distributions = [str(d) for d in pd.unique(rows["distribution"])]
    text = [
        "Total-variation distance from each method's output to the argmax one-hot "
        "(1 - p at the argmax for a valid output; 0 means the method returns argmax), mean "
        f"over vectors with its 95% interval as a band, for {_where(choice)}, one row per "
        "distribution of z and one panel per method family. Softmax is repeated as a grey "
        "dashed reference in the other families. Means above 1 (outputs with negative "
        "entries) are drawn at 1 as open triangles."
    ]
    dist = _pick(distributions, "normal")
    s_ref = _nearest(scales, 10)
    drows = rows[rows["distribution"] == dist]
    shown = [
        label
        for label in ("softmax", "linear", "sparsemax", "stablemax", "taylor")
        if label in labels
    ]
    values = [(label, _at(drows, label, "x", s_ref)) for label in shown]
    values = [(label, v) for label, v in values if np.isfinite(v)]
    if values:
        parts = [f"{label} at {_fmt(v, 2)}" for label, v in values]
        text.append(f"At scale {_scale_text(s_ref, scales)} ({dist} logits) {_list(parts)}.")
    if "softmax" in labels:
        soft = _series(drows, "softmax", "x")
        if len(soft) >= 2:
            first, last = soft.iloc[0], soft.iloc[-1]
            steps = np.diff(soft["mean"].to_numpy(float))
            steps = steps[np.isfinite(steps)]
            trend = (
                "it never increases as the logits grow: the larger the logits, the nearer argmax"
                if steps.size and (steps <= 0).all()
                else "it is not monotone in the scale here"
            )
            text.append(
                f"Softmax's distance ({dist} logits) goes from {_fmt(first['mean'], 2)} at "
                f"scale {_scale_text(first['x'], scales)} to {_fmt(last['mean'], 2)} at scale "
                f"{_scale_text(last['x'], scales)}; {trend}."
            )
    if "softmax" in labels and "linear" in labels:
        both = (
            rows[rows["label"].isin(["softmax", "linear"])]
            .pivot_table(
                index=["distribution", "x"], columns="label", values="mean", aggfunc="first"
            )
            .dropna()
        )
        if len(both):
            closer = both["softmax"] < both["linear"]
            text.append(
                f"Softmax is closer to argmax than linear normalisation at {int(closer.sum())} "
                f"of the {len(both)} (distribution, scale) points with both defined."
            )
            linear_wins = both[~closer]
            if len(linear_wins):
                where = []
                for d, group in linear_wins.groupby(level=0, sort=False):
                    xs = [_scale_text(x, scales) for x in group.index.get_level_values(1)]
                    where.append(f"{d} at scale {_list(xs)}")
                text.append("Linear is as close or closer for " + "; ".join(where) + ".")
    return "\n\n".join(text)


# ------------------------------------------------------------------ entropy vs scale


def _draw_entropy_vs_scale(summary: pd.DataFrame) -> Figure:
    rows, choice = _slice(summary, "normalized_entropy")
    labels = _representatives(rows)
    if rows.empty or not labels:
        return _empty_figure(
            FIGURES["entropy_vs_scale"].title, "no normalized_entropy data in this sweep"
        )
    fig = _new_figure(4.6)
    _family_grid(
        fig,
        [""],
        [_Panel(rows, "entropy / ln K", ylim=(-0.03, 1.06))],
        labels,
        "scale s",
        "no normalized_entropy data",
    )
    fig.suptitle(f"Normalized entropy vs logit scale ({_where(choice)})", fontsize=12)
    return fig


def _caption_entropy_vs_scale(summary: pd.DataFrame) -> str:
    rows, choice = _slice(summary, "normalized_entropy")
    if rows.empty:
        return "No normalized_entropy data in this sweep."
    labels = _representatives(rows)
    scales = sorted(rows["x"].unique())
    text = [
        "Shannon entropy of the output divided by ln K (1: uniform, 0: one-hot), mean over "
        f"vectors with its 95% interval, for {_where(choice)}, one panel per method family."
    ]
    lo, hi = scales[0], scales[-1]
    parts = []
    for label in [lbl for lbl in ("softmax", "linear", "sparsemax", "stablemax") if lbl in labels]:
        a, b = _at(rows, label, "x", lo), _at(rows, label, "x", hi)
        if np.isfinite(a) or np.isfinite(b):
            parts.append(f"{label} from {_fmt(a, 2)} to {_fmt(b, 2)}")
    if parts and lo != hi:
        text.append(
            f"From scale {_scale_text(lo, scales)} to {_scale_text(hi, scales)} the normalized "
            f"entropy goes: {_list(parts)}. Methods whose entropy falls towards 0 concentrate "
            "the mass on the maximum as the logits grow; a flat line means the output does not "
            "depend on the scale (it is scale-invariant)."
        )
    missing = [
        label for label in labels if not np.isfinite(_series(rows, label, "x")["mean"]).any()
    ]
    if missing:
        text.append(
            f"Not drawn (entropy undefined for every vector: the output has negative "
            f"or NaN entries): {_list(missing)}."
        )
    return "\n\n".join(text)


# ------------------------------------------------------------------ rate heat maps


_HEAT = {
    "overflow": (
        "overflow",
        "Overflow rate",
        "an intermediate or the output became inf/NaN although every logit was finite",
    ),
    "nan": ("nan", "NaN rate", "the output holds a NaN"),
    "underflow": (
        "underflow",
        "Underflow rate",
        "an output entry is 0 in the format although the wider reference gives a positive value",
    ),
}


def _heat_data(summary: pd.DataFrame, metric: str):
    """label x scale mean over cells (distributions x K) of the rate, per dtype."""
    rows = metric_rows(summary, metric, ["label", "dtype", "scale", "mean"])
    labels = ordered_labels(rows)
    dtypes = ordered_dtypes(rows["dtype"])
    scales = sorted(float(s) for s in rows["scale"].unique())
    pooled = rows.groupby(["dtype", "label", "scale"], sort=False)["mean"].mean()
    tables = {}
    for dtype in dtypes:
        table = pooled.loc[dtype].unstack("scale").reindex(index=labels, columns=scales)
        tables[dtype] = table
    if not tables:
        return labels, [], scales, {}
    anywhere = pd.concat(tables.values()).max(axis=1).groupby(level=0).max()
    keep = [
        label
        for label in labels
        if anywhere.get(label, 0.0) > 0
        or parse_label(label) in (("softmax", {}), ("softmax", {"stable": False}))
    ]
    if not keep:
        keep = labels
    return keep, dtypes, scales, tables


def _draw_heatmap(metric: str) -> Callable[[pd.DataFrame], Figure]:
    def draw(summary: pd.DataFrame) -> Figure:
        name = f"{metric}_heatmap"
        keep, dtypes, scales, tables = _heat_data(summary, metric)
        if not dtypes:
            return _empty_figure(FIGURES[name].title, f"no {metric} data in this sweep")
        ncols = min(3, len(dtypes))
        nrows = math.ceil(len(dtypes) / ncols)
        height = nrows * (0.17 * len(keep) + 1.3) + 0.8
        fig = _new_figure(max(height, 3.0))
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        positive = pd.concat([t.loc[keep] for t in tables.values()]).to_numpy(float)
        positive = positive[np.isfinite(positive) & (positive > 0)]
        vmin = 10.0 ** math.floor(math.log10(positive.min())) if positive.size else 1e-3
        norm = LogNorm(vmin=min(vmin, 0.1), vmax=1.0)
        cmap = sns.color_palette("rocket_r", as_cmap=True)
        grey = ListedColormap([_ZERO_COLOUR])
        ticks = format_scale(scales)
        mesh = None
        for index, dtype in enumerate(dtypes):
            ax = axes.flat[index]
            values = tables[dtype].loc[keep].to_numpy(float)
            x = np.arange(len(scales) + 1)
            y = np.arange(len(keep) + 1)
            ax.pcolormesh(
                x,
                y,
                np.ma.masked_where(~(values == 0), np.zeros_like(values)),
                cmap=grey,
                vmin=0,
                vmax=1,
            )
            mesh = ax.pcolormesh(
                x, y, np.ma.masked_where(~(values > 0), values), cmap=cmap, norm=norm
            )
            ax.set_xlim(0, len(scales))
            ax.set_ylim(len(keep), 0)
            ax.set_xticks(np.arange(len(scales)) + 0.5, ticks, rotation=90)
            ax.set_yticks(np.arange(len(keep)) + 0.5, keep)
            ax.tick_params(length=0)
            ax.grid(False)
            ax.set_title(dtype, fontweight="bold")
            ax.set_xlabel("scale s")
        for ax in list(axes.flat)[len(dtypes) :]:
            ax.set_visible(False)
        if mesh is not None:
            bar = fig.colorbar(
                mesh, ax=axes, shrink=min(1.0, 4.0 / max(height, 4.0)) + 0.3, aspect=30, pad=0.01
            )
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:g}%"))
            bar.set_label(f"{_HEAT[metric][1].lower()} (log colour scale; grey = 0)")
        fig.suptitle(
            f"{_HEAT[metric][1]} by method and scale, per format (mean over distributions and K)",
            fontsize=12,
        )
        return fig

    draw.__doc__ = f"Heat map of the {metric} rate, method x scale, one panel per format."
    return draw


def _caption_heatmap(metric: str) -> Callable[[pd.DataFrame], str]:
    def build(summary: pd.DataFrame) -> str:
        keep, dtypes, scales, tables = _heat_data(summary, metric)
        _, what, meaning = _HEAT[metric]
        if not dtypes:
            return f"No {metric} data in this sweep."
        all_labels = list(next(iter(tables.values())).index)
        text = [
            f"{what}: the share of vectors for which {meaning}. Each cell is the mean over "
            "the sweep's distributions and K of the per-cell rate (each cell weighted "
            "equally), on a logarithmic colour scale; light grey is exactly 0, white is no "
            "data. One panel per format."
        ]
        omitted = [label for label in all_labels if label not in keep]
        stacked = pd.concat({d: t.stack() for d, t in tables.items()}, names=["dtype"])
        stacked = stacked[np.isfinite(stacked)]
        if len(stacked) and stacked.max() > 0:
            (dtype, label, scale), top = stacked.idxmax(), stacked.max()
            positive = stacked[stacked > 0].index.get_level_values("label").unique()
            text.append(
                f"{len(positive)} of {len(all_labels)} methods have a "
                f"positive rate somewhere; the highest is {label} in {dtype} at scale "
                f"{_scale_text(scale, scales)}: {_pct(top)}."
            )
        else:
            text.append(f"No method has a positive {metric} rate anywhere in this sweep.")
        lines = []
        for label in ("softmax(stable=False)", "softmax"):
            if label not in all_labels:
                continue
            parts = []
            for dtype in dtypes:
                row = tables[dtype].loc[label]
                if row.notna().any():
                    parts.append(f"{dtype} {_pct(row.max())}")
            if parts:
                kind = "naive (unstable)" if "stable=False" in label else "stable"
                lines.append(f"{kind} {label}: highest rate {_list(parts)}")
        if lines:
            text.append("Per format, " + "; ".join(lines) + ".")
        if omitted and keep != all_labels:
            text.append(f"Not shown (rate 0 in every cell): {', '.join(omitted)}.")
        return "\n\n".join(text)

    return build


# ------------------------------------------------------------------ distance vs K


_K_METHODS = ("softmax", "ssmax", "linear", "sparsemax", "entmax15", "stablemax", "iterated_exp")


def _k_data(summary: pd.DataFrame):
    rows, choice = _slice(summary, "tv_to_argmax", pick_k=False)
    rows = rows.assign(x=rows["k"].astype(float))
    reps = _representatives(rows)
    labels = [label for label in reps if parse_label(label)[0] in _K_METHODS]
    labels.sort(key=lambda label: _K_METHODS.index(parse_label(label)[0]))
    if not labels:
        labels = [label for label in reps if parse_label(label)[0] != "argmax"][:5]
    scales = sorted(rows["scale"].unique())
    picked = []
    for target in (1.0, 10.0, 100.0):
        s = _nearest(scales, target)
        if s is not None and s not in picked:
            picked.append(s)
    return rows, choice, labels, sorted(picked), scales


def _draw_distance_vs_k(summary: pd.DataFrame) -> Figure:
    rows, choice, labels, picked, scales = _k_data(summary)
    if rows.empty or not labels or not picked:
        return _empty_figure(FIGURES["distance_vs_k"].title, "no tv_to_argmax data in this sweep")
    fig = _new_figure(4.4)
    axes = fig.subplots(1, len(picked), sharey=True, squeeze=False)[0]
    colours = _colours(len(labels))
    ks = np.array(sorted(rows["k"].unique()), dtype=float)
    handles = {}
    for ax, scale in zip(axes, picked, strict=True):
        at = rows[rows["scale"] == scale]
        for index, label in enumerate(labels):
            data = _series(at, label, "x")
            if data.empty:
                continue
            line = _line(
                ax,
                data["x"],
                data["mean"],
                label=label,
                color=colours[index],
                marker=_MARKERS[index % len(_MARKERS)],
                low=data["ci_low"],
                high=data["ci_high"],
                clip=1.0,
            )
            handles.setdefault(label, line)
        grid = np.geomspace(ks.min(), ks.max(), 200) if len(ks) > 1 else ks
        ref = ax.plot(
            grid,
            1 - 1 / grid,
            color="0.3",
            linestyle=":",
            linewidth=1.3,
            label="uniform output: 1 - 1/K",
        )[0]
        handles.setdefault(ref.get_label(), ref)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(ks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("number of classes K")
        ax.set_ylim(-0.03, 1.06)
        ax.set_title(f"scale s = {_scale_text(scale, scales)}", fontweight="bold")
    axes[0].set_ylabel("TV distance to argmax")
    fig.legend(handles.values(), handles.keys(), loc="outside right center", frameon=False)
    fig.suptitle(f"Distance to argmax vs number of classes ({_where(choice)})", fontsize=12)
    return fig


def _caption_distance_vs_k(summary: pd.DataFrame) -> str:
    rows, choice, labels, picked, scales = _k_data(summary)
    if rows.empty or not picked:
        return "No tv_to_argmax data in this sweep."
    ks = sorted(rows["k"].unique())
    text = [
        "How the maximum fades with many classes: total-variation distance to the argmax "
        f"one-hot against K for {_where(choice)}, at a few fixed logit scales (mean and 95% "
        "interval). The dotted curve 1 - 1/K is the distance of the uniform output; a method "
        "on it has lost the maximum entirely."
    ]
    if len(ks) >= 2:
        for scale in picked:
            at = rows[rows["scale"] == scale]
            parts = []
            for label in labels[:4]:
                a, b = _at(at, label, "k", ks[0]), _at(at, label, "k", ks[-1])
                if np.isfinite(a) or np.isfinite(b):
                    parts.append(f"{label} {_fmt(a, 2)} -> {_fmt(b, 2)}")
            if parts:
                text.append(
                    f"At scale {_scale_text(scale, scales)}, from K = {ks[0]} to "
                    f"K = {ks[-1]}: {_list(parts)}."
                )
    else:
        text.append(f"This sweep has a single K ({ks[0]}), so no trend in K can be read.")
    return "\n\n".join(text)


# ------------------------------------------------------------------ the softmax family


def _beta(label: str) -> float | None:
    """Effective inverse temperature ln(base) / temperature of a softmax label."""
    name, params = parse_label(label)
    if name != "softmax":
        return None
    base = params.get("base", math.e)
    temperature = params.get("temperature", 1.0)
    if not isinstance(base, float) or not isinstance(temperature, float) or base <= 0:
        return None
    return math.log(base) / temperature


def _family_labels(rows: pd.DataFrame) -> list[str]:
    labels = [label for label in ordered_labels(rows) if _beta(label) is not None]
    return sorted(labels, key=lambda label: (_beta(label), "stable=False" in label))


def _narrow_dtype(dtypes: list[str], wide: str | None) -> str | None:
    for candidate in ("float16", "bfloat16", "float32", *reversed(dtypes)):
        if candidate in dtypes and candidate != wide:
            return candidate
    return None


def _psi_data(summary: pd.DataFrame):
    tv, choice = _slice(summary, "tv_to_argmax")
    over = metric_rows(summary, "overflow")
    over = over[
        (over["k"] == choice.get("k")) & (over["distribution"] == choice.get("distribution"))
    ]
    over = over.assign(x=over["scale"].astype(float))
    dtypes = ordered_dtypes(over["dtype"])
    narrow = _narrow_dtype(dtypes, choice.get("dtype"))
    labels = _family_labels(pd.concat([tv, over]))
    return tv, over, choice, narrow, labels


def _draw_softmax_family(summary: pd.DataFrame) -> Figure:
    tv, over, choice, narrow, labels = _psi_data(summary)
    if not labels:
        return _empty_figure(
            FIGURES["softmax_family"].title,
            "no softmax variants (base / temperature) in this sweep",
        )
    panels = [("distance", choice.get("dtype"))] + [
        ("overflow", d) for d in (choice.get("dtype"), narrow) if d
    ]
    scales = sorted(set(tv["x"]) | set(over["x"]))
    fig = _new_figure(4.2 + 0.22 * math.ceil(len(labels) / 2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    # One colour per distinct beta (stable and naive twins share it; the line style differs).
    betas = sorted({_beta(label) for label in labels})
    cmap = sns.color_palette("viridis", as_cmap=True)
    shades = dict(zip(betas, (cmap(v) for v in np.linspace(0.0, 0.85, len(betas))), strict=True))
    handles = {}
    for ax, (kind, dtype) in zip(axes, panels, strict=True):
        data = tv if kind == "distance" else over[over["dtype"] == dtype]
        drawn = False
        for index, label in enumerate(labels):
            series = _series(data, label, "x")
            if series.empty:
                continue
            beta = _beta(label)
            text = f"{label}  (\u03b2 = {beta:.3g})"
            line = _line(
                ax,
                series["x"],
                series["mean"],
                label=text,
                color=shades[beta],
                marker=_MARKERS[index % len(_MARKERS)],
                dashed="stable=False" in label,
                clip=1.0 if kind == "distance" else None,
            )
            handles.setdefault(text, line)
            drawn = True
        if not drawn:
            _no_data(ax, f"no {kind} data for {dtype}")
            continue
        _log_axis(ax, "x", scales)
        ax.set_xlabel("scale s")
        ax.set_ylim(-0.03, 1.06)
        if kind == "distance":
            ax.set_ylabel("TV distance to argmax")
            ax.set_title(f"distance to argmax, {dtype}", fontweight="bold")
        else:
            ax.set_ylabel("overflow rate")
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax.set_title(f"overflow, {dtype}", fontweight="bold")
    if handles:
        fig.legend(
            handles.values(),
            handles.keys(),
            loc="outside lower center",
            ncol=2,
            frameon=False,
            title="inverse temperature \u03b2 = ln \u03c8 / T",
        )
    where = _where({k: v for k, v in choice.items() if k != "dtype"})
    fig.suptitle(
        f"Softmax with base \u03c8 and temperature T ({where}); dashed: naive (no max subtraction)",
        fontsize=12,
    )
    return fig


def _overflow_threshold(dtype: str, base: float) -> float | None:
    """Largest logit whose base-psi power stays finite: ln(max) / ln(psi) (psi > 1), as the
    claims ledger computes it (claims.exp_overflow_threshold)."""
    if dtype not in DTYPES or base <= 1:
        return None
    return exp_overflow_threshold(dtype, base, round_base=False)


def _caption_softmax_family(summary: pd.DataFrame) -> str:
    tv, over, choice, narrow, labels = _psi_data(summary)
    if not labels:
        return "No softmax variants (base or temperature) in this sweep."
    where = _where({k: v for k, v in choice.items() if k != "dtype"})
    scales = sorted(set(tv["x"]) | set(over["x"]))
    text = [
        "Generalised softmax psi^(x/T) / sum psi^(x/T) = softmax at inverse temperature "
        "beta = ln(psi)/T, so every base is a temperature; colours run from low to high beta. "
        f"Left: distance to argmax in {choice.get('dtype')}; right: share of vectors whose "
        f"computation overflowed, for {where}. Dashed lines are naive computations (no max "
        "subtraction); solid ones subtract the max first."
    ]
    s_ref = _nearest(tv["x"].unique(), 10)
    if s_ref is not None:
        # One label per beta (the stable one when both exist), in increasing beta.
        chosen = [
            label
            for label in labels
            if "stable=False" not in label
            or not any(lbl != label and _beta(lbl) == _beta(label) for lbl in labels)
        ]
        at = [(label, _at(tv, label, "x", s_ref)) for label in chosen]
        at = [(label, v) for label, v in at if np.isfinite(v)]
        if at:
            values = np.array([v for _, v in at])
            ordered = len(at) > 1 and bool((np.diff(values) <= 0).all())
            trend = (
                " - it never increases with beta: the larger beta, the nearer argmax"
                if ordered
                else (" - not monotone in beta at this scale" if len(at) > 1 else "")
            )
            parts = [f"{label} (beta {_fmt(_beta(label), 3)}) {_fmt(v, 2)}" for label, v in at]
            text.append(
                f"Distance to argmax at scale {_scale_text(s_ref, scales)}: {_list(parts)}{trend}."
            )
    uniform = [label for label in labels if _beta(label) == 0]
    k = choice.get("k")
    if uniform and k:
        observed = tv[tv["label"] == uniform[0]]["mean"]
        if len(observed):
            text.append(
                f"{uniform[0]} (beta = 0) is the uniform distribution: its distance is "
                f"{_fmt(observed.min(), 4)} to {_fmt(observed.max(), 4)} over all scales, "
                f"against 1 - 1/K = {_fmt(1 - 1 / k, 4)}."
            )
    dtype = choice.get("dtype")
    naive = [label for label in labels if "stable=False" in label]
    parts = []
    for label in naive:
        base = parse_label(label)[1].get("base", math.e)
        temperature = parse_label(label)[1].get("temperature", 1.0)
        threshold = _overflow_threshold(dtype, base) if isinstance(base, float) else None
        rates = _series(over[over["dtype"] == dtype], label, "x")
        hit = rates[rates["mean"] > 0]
        if threshold is None or rates.empty:
            continue
        first = (
            f"first overflows at scale {_scale_text(hit['x'].iloc[0], scales)} "
            f"({_pct(hit['mean'].iloc[0])} of vectors)"
            if len(hit)
            else "never overflows here"
        )
        parts.append(f"{label}: threshold x > {_fmt(threshold * temperature, 4)}, {first}")
    if parts:
        text.append(
            f"Naive computations overflow in {dtype} once a logit exceeds "
            f"T ln(max)/ln(psi): {'; '.join(parts)}."
        )
    stable = [label for label in labels if "stable=False" not in label]
    shown = over[over["dtype"].isin([dtype, narrow]) & over["label"].isin(stable)]
    if len(shown):
        worst = shown["mean"].max()
        text.append(
            f"The stable (max-subtracted) variants' highest overflow rate in these panels: "
            f"{_pct(worst)}."
        )
    return "\n\n".join(text)


# ------------------------------------------------------------------ accuracy by dtype


def _accuracy_data(summary: pd.DataFrame):
    rows = metric_rows(summary, "max_rel_error", ["label", "dtype", "median"])
    labels = ordered_labels(rows)
    dtypes = ordered_dtypes(rows["dtype"])
    table = rows.groupby(["label", "dtype"], sort=False)["median"].median().unstack("dtype")
    return table.reindex(index=labels, columns=dtypes), labels, dtypes


def _draw_accuracy(summary: pd.DataFrame) -> Figure:
    table, labels, dtypes = _accuracy_data(summary)
    if table.empty or not np.isfinite(table.to_numpy(float)).any():
        return _empty_figure(
            FIGURES["accuracy_by_dtype"].title, "no max_rel_error data in this sweep"
        )
    values = table.to_numpy(float)
    positive = values[np.isfinite(values) & (values > 0)]
    floor = 10.0 ** (math.floor(math.log10(positive.min())) - 1) if positive.size else 1e-20
    cap = 10.0 ** (math.ceil(math.log10(positive.max())) + 1) if positive.size else 1.0
    fig = _new_figure(0.26 * len(labels) + 1.9, 9.0)
    ax = fig.add_subplot()
    palette = dict(zip(dtypes, _colours(len(dtypes)), strict=True))
    y = np.arange(len(labels))
    for index, dtype in enumerate(dtypes):
        v = table[dtype].to_numpy(float)
        shown = np.where(v == 0, floor, np.where(np.isinf(v), cap, v))
        offset = (index - (len(dtypes) - 1) / 2) * 0.11
        ax.scatter(
            shown,
            y + offset,
            color=palette[dtype],
            marker=_MARKERS[index % len(_MARKERS)],
            s=22,
            label=dtype,
            zorder=3,
        )
        if dtype in DTYPES:
            u = float(finfo(dtype).eps) / 2
            ax.axvline(u, color=palette[dtype], linestyle=":", linewidth=1.1, zorder=2)
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(floor / 2, cap * 2)
    ax.set_yticks(y, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel(
        "max relative error per vector vs a wider format (median over cells of the cell median)"
    )
    ticks = [t for t in ax.get_xticks() if floor * 1.5 < t < cap / 1.5]
    names = [f"$10^{{{round(math.log10(t))}}}$" for t in ticks]
    if (values == 0).any():  # exact results sit at the floor
        ticks, names = [floor, *ticks], ["0", *names]
    if np.isinf(values).any():  # infinite errors sit at the cap
        ticks, names = [*ticks, cap], [*names, "inf"]
    ax.set_xticks(ticks, names)
    fig.legend(
        title="format\n(dotted line:\nunit roundoff eps/2)",
        loc="outside right upper",
        frameon=False,
    )
    fig.suptitle("Accuracy of each method in each format (all cells pooled)", fontsize=12)
    return fig


def _caption_accuracy(summary: pd.DataFrame) -> str:
    table, labels, dtypes = _accuracy_data(summary)
    if table.empty:
        return "No max_rel_error data in this sweep."
    text = [
        "Relative error max_i |p_i - p_ref_i| / p_ref_i of each method's output in each "
        "format against the same method computed in a wider format on the same rounded "
        "logits (float64 against long double, narrower formats against float64): the "
        "median over the sweep's cells of each cell's median. Dotted lines mark each "
        "format's unit roundoff u = eps/2; a method near its format's line is as accurate as "
        "the format allows. Exact results (0) are drawn at the left edge, infinite ones at "
        "the right edge."
    ]
    for label in [lbl for lbl in ("softmax", "softmax(stable=False)", "linear") if lbl in labels]:
        parts = []
        for dtype in dtypes:
            v = table.loc[label, dtype]
            if not np.isfinite(v) and not np.isinf(v):
                continue
            u = float(finfo(dtype).eps) / 2 if dtype in DTYPES else float("nan")
            ratio = f" ({_fmt(v / u, 2)} u)" if np.isfinite(v) and np.isfinite(u) else ""
            parts.append(f"{dtype} {_fmt(v, 2)}{ratio}")
        if parts:
            text.append(f"{label}: {_list(parts)}.")
    return "\n\n".join(text)


# ------------------------------------------------------------------ gradient vs scale


_GRAD_FLOOR = 1e-30  # display floor of the log axis: smaller norms are drawn at it


def _draw_gradient(summary: pd.DataFrame) -> Figure:
    norm, choice = _slice(summary, "grad_norm")
    vanish, _ = _slice(summary, "grad_vanishes")
    labels = _representatives(pd.concat([norm, vanish]))
    if not labels:
        return _empty_figure(FIGURES["gradient_vs_scale"].title, "no gradient data in this sweep")
    fig = _new_figure(6.8)
    panels = [
        _Panel(norm, "||J v|| (log)", log=True, floor=_GRAD_FLOOR, band=False),
        _Panel(vanish, "share with ||J v|| < 1e-8", ylim=(-0.03, 1.06), percent=True, band=False),
    ]
    _family_grid(
        fig, ["gradient norm", "vanishing gradient"], panels, labels, "scale s", "no gradient data"
    )
    fig.suptitle(
        f"Directional derivative of the output vs logit scale ({_where(choice)})", fontsize=12
    )
    return fig


def _caption_gradient(summary: pd.DataFrame) -> str:
    norm, choice = _slice(summary, "grad_norm")
    vanish, _ = _slice(summary, "grad_vanishes")
    if norm.empty and vanish.empty:
        return "No gradient data in this sweep."
    labels = _representatives(pd.concat([norm, vanish]))
    scales = sorted(set(norm["x"]) | set(vanish["x"]))
    text = [
        "Top: ||J(x) v||, the norm of the output's derivative along a random unit direction "
        "v (float64 central difference), mean over the measured vectors; zeros cannot be "
        f"drawn on the log axis and means below {_GRAD_FLOOR:.0e} are drawn at it (open "
        f"triangles). Bottom: the share of vectors where it is below 1e-8 "
        f"(vanishing gradient). {_where(choice)}; softmax is the grey dashed reference."
    ]
    lo, hi = (scales[0], scales[-1]) if scales else (None, None)
    for label in [lbl for lbl in ("softmax", "argmax", "linear", "sparsemax") if lbl in labels]:
        a, b = _at(norm, label, "x", lo), _at(norm, label, "x", hi)
        va, vb = _at(vanish, label, "x", lo), _at(vanish, label, "x", hi)
        text.append(
            f"{label}: gradient norm {_fmt(a, 2)} at scale {_scale_text(lo, scales)} and "
            f"{_fmt(b, 2)} at scale {_scale_text(hi, scales)}; vanishing share {_pct(va)} and "
            f"{_pct(vb)}."
        )
    if "argmax" in labels:
        top = vanish[vanish["label"] == "argmax"]["mean"]
        if len(top):
            text.append(
                f"argmax (hardmax) has a vanishing gradient for {_pct(top.min())} to "
                f"{_pct(top.max())} of vectors across scales: it is piecewise constant."
            )
    return "\n\n".join(text)


# ------------------------------------------------------------------ registry and I/O


@dataclass(frozen=True)
class FigureSpec:
    """A report figure: its title, how to draw it and how to caption it from the summary."""

    title: str
    draw: Callable[[pd.DataFrame], Figure]
    caption: Callable[[pd.DataFrame], str]


FIGURES: dict[str, FigureSpec] = {
    "distance_vs_scale": FigureSpec(
        "Distance to argmax vs logit scale, by distribution and method family",
        _styled(_draw_distance_vs_scale),
        _caption_distance_vs_scale,
    ),
    "entropy_vs_scale": FigureSpec(
        "Normalized entropy vs logit scale",
        _styled(_draw_entropy_vs_scale),
        _caption_entropy_vs_scale,
    ),
    "overflow_heatmap": FigureSpec(
        "Overflow rate by method, scale and format",
        _styled(_draw_heatmap("overflow")),
        _caption_heatmap("overflow"),
    ),
    "nan_heatmap": FigureSpec(
        "NaN rate by method, scale and format",
        _styled(_draw_heatmap("nan")),
        _caption_heatmap("nan"),
    ),
    "underflow_heatmap": FigureSpec(
        "Underflow rate by method, scale and format",
        _styled(_draw_heatmap("underflow")),
        _caption_heatmap("underflow"),
    ),
    "distance_vs_k": FigureSpec(
        "Distance to argmax vs number of classes K",
        _styled(_draw_distance_vs_k),
        _caption_distance_vs_k,
    ),
    "softmax_family": FigureSpec(
        "Base-psi and temperature softmax: closeness to argmax against overflow",
        _styled(_draw_softmax_family),
        _caption_softmax_family,
    ),
    "accuracy_by_dtype": FigureSpec(
        "Accuracy (relative error) of each method by format",
        _styled(_draw_accuracy),
        _caption_accuracy,
    ),
    "gradient_vs_scale": FigureSpec(
        "Gradient magnitude vs logit scale", _styled(_draw_gradient), _caption_gradient
    ),
}


def _spec(name: str) -> FigureSpec:
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; valid figures: {', '.join(FIGURES)}")
    return FIGURES[name]


def title(name: str) -> str:
    """The figure's title."""
    return _spec(name).title


def caption(name: str, summary: pd.DataFrame) -> str:
    """What the figure shows and what to read from it, with numbers taken from ``summary``.

    Paragraphs are separated by blank lines.
    """
    return _spec(name).caption(summary)


def make_figure(name: str, summary: pd.DataFrame) -> Figure:
    """Draw figure ``name`` from the tidy summary (an Agg-backed matplotlib Figure)."""
    return _spec(name).draw(summary)


def save_figure(fig: Figure, svg_path, png_path) -> None:
    """Write ``fig`` as SVG and PNG, each atomically, with reproducible bytes; then release it.

    SVG element ids come from ``svg.hashsalt`` and the date is omitted, so the same figure
    always gives the same bytes; the PNG carries no timestamp either.
    """
    with matplotlib.rc_context(_RC):
        # Lay out once, then freeze: both formats share one layout and saving is faster.
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
        with atomic_path(svg_path) as tmp:
            fig.savefig(tmp, format="svg", metadata={"Date": None})
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Software": None})
    fig.clear()
