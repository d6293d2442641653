"""Heat maps of a rate (overflow, NaN, underflow): method x scale, one panel per format."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from softmaxlab.figures.data import (
    float32_arithmetic_text,
    float32_compute_formats,
    join_list,
    scale_text,
)
from softmaxlab.figures.style import ZERO_COLOUR, empty_figure, new_figure
from softmaxlab.formatting import number, percent
from softmaxlab.methods import parse_label
from softmaxlab.stats import pool
from softmaxlab.tables import format_scale, metric_rows, ordered_dtypes, ordered_labels

#: metric -> (what the rate is called, what it counts).
HEAT: dict[str, tuple[str, str]] = {
    "overflow": (
        "Overflow rate",
        "an intermediate or the output became inf/NaN although every logit was finite",
    ),
    "nan_output": ("NaN rate", "the output holds a NaN"),
    "underflow": (
        "Underflow rate",
        "an output entry is 0 in the format although the wider reference gives a positive value",
    ),
}
TITLES = {metric: f"{what} by method, scale and format" for metric, (what, _) in HEAT.items()}


@dataclass(frozen=True)
class Data:
    """The pooled rate tables (label x scale) per format, and the labels shown;
    ``framework_formats``: the formats whose rows are computed in float32 arithmetic (as
    frameworks compute them); ``cell_vectors``: per format, the most vectors a cell's rate
    rests on."""

    metric: str
    keep: list[str]
    dtypes: list[str]
    scales: list[float]
    tables: dict[str, pd.DataFrame]
    framework_formats: tuple[str, ...] = ()
    cell_vectors: tuple[tuple[str, int], ...] = ()


def prepare(summary: pd.DataFrame, metric: str) -> Data:
    """label x scale rate pooled over cells (distributions x K) by the claims' one pooling
    rule (softmaxlab.stats.pool: the mean over the pooled vectors), per dtype.

    Labels whose rate is 0 everywhere are left out (softmax and naive softmax stay).
    """
    columns = ["label", "dtype", "scale", "n", "mean"]
    rows = metric_rows(summary, metric, [*columns, *(["compute"] if "compute" in summary else [])])
    labels = ordered_labels(rows)
    dtypes = ordered_dtypes(rows["dtype"])
    framework = set(float32_compute_formats(rows))
    most = rows.groupby("dtype")["n"].max()
    facts = {
        "framework_formats": tuple(d for d in dtypes if d in framework),
        "cell_vectors": tuple((d, int(most[d])) for d in dtypes),
    }
    scales = sorted(float(s) for s in rows["scale"].unique())
    by = ["dtype", "label", "scale"]
    pooled = pool(rows.assign(n=rows["n"].astype("int64")), by).set_index(by)["mean"]
    tables = {}
    for dtype in dtypes:
        table = pooled.loc[dtype].unstack("scale").reindex(index=labels, columns=scales)
        tables[dtype] = table
    if not tables:
        return Data(metric, labels, [], scales, {}, **facts)
    anywhere = pd.concat(tables.values()).max(axis=1).groupby(level=0).max()
    keep = [
        label
        for label in labels
        if anywhere.get(label, 0.0) > 0
        or parse_label(label) in (("softmax", {}), ("softmax", {"stable": False}))
    ]
    if not keep:
        keep = labels
    return Data(metric, keep, dtypes, scales, tables, **facts)


def draw(data: Data) -> Figure:
    """Heat map of the rate, method x scale, one panel per format."""
    metric, keep, dtypes, scales, tables = (
        data.metric,
        data.keep,
        data.dtypes,
        data.scales,
        data.tables,
    )
    if not dtypes:
        return empty_figure(TITLES[metric], f"no {metric} data in this sweep")
    ncols = min(3, len(dtypes))
    nrows = math.ceil(len(dtypes) / ncols)
    height = nrows * (0.17 * len(keep) + 1.3) + 0.8
    fig = new_figure(max(height, 3.0))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    positive = pd.concat([t.loc[keep] for t in tables.values()]).to_numpy(float)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    vmin = 10.0 ** math.floor(math.log10(positive.min())) if positive.size else 1e-3
    norm = LogNorm(vmin=min(vmin, 0.1), vmax=1.0)
    cmap = sns.color_palette("rocket_r", as_cmap=True)
    grey = ListedColormap([ZERO_COLOUR])
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
        mesh = ax.pcolormesh(x, y, np.ma.masked_where(~(values > 0), values), cmap=cmap, norm=norm)
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
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: percent(v)))
        bar.set_label(f"{HEAT[metric][0].lower()} (log colour scale; grey = 0)")
    fig.suptitle(
        f"{HEAT[metric][0]} by method and scale, per format (pooled over distributions and K)",
        fontsize=12,
    )
    return fig


def _prefixed(text: str) -> str:
    return f" {text}" if text else ""


def _underflow_text(data: Data) -> str:
    """What the underflow rate is measured against, and where that makes it a bound."""
    most = dict(data.cell_vectors)
    fewer = [
        f"{dtype}'s on at most {number(n)} vectors a cell"
        for dtype, n in most.items()
        if n < max(most.values())
    ]
    on = f" ({join_list(fewer)}, those its wider reference is computed for)" if fewer else ""
    return (
        "The rate is over the vectors whose output is finite (a NaN or infinite output "
        "counts in the NaN and overflow maps, not here), against the same method computed "
        f"on the same rounded input in a wider format{on}. Where that reference underflows "
        "too, at the largest scales, a zero it shares is not counted, so the rate there is "
        "a lower bound; and a method that overflows there is measured on the few vectors it "
        "did not overflow."
    )


def caption(data: Data) -> str:
    """What the heat map shows, with its highest cell and softmax's highest rates."""
    metric, keep, dtypes, scales, tables = (
        data.metric,
        data.keep,
        data.dtypes,
        data.scales,
        data.tables,
    )
    what, meaning = HEAT[metric]
    if not dtypes:
        return f"No {metric} data in this sweep."
    all_labels = list(next(iter(tables.values())).index)
    text = [
        f"{what}: the share of vectors for which {meaning}. Each cell pools the sweep's "
        "distributions and K by the one pooling rule (the share over all their vectors), "
        "on a logarithmic colour scale; light grey is exactly 0, white is no data. One "
        "panel per format." + _prefixed(float32_arithmetic_text(data.framework_formats))
    ]
    if metric == "underflow":
        text.append(_underflow_text(data))
    omitted = [label for label in all_labels if label not in keep]
    stacked = pd.concat({d: t.stack() for d, t in tables.items()}, names=["dtype"])
    stacked = stacked[np.isfinite(stacked)]
    if len(stacked) and stacked.max() > 0:
        (dtype, label, scale), top = stacked.idxmax(), stacked.max()
        positive = stacked[stacked > 0].index.get_level_values("label").unique()
        text.append(
            f"{len(positive)} of {len(all_labels)} methods have a "
            f"positive rate somewhere; the highest is {label} in {dtype} at scale "
            f"{scale_text(scale, scales)}: {percent(top)}."
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
                parts.append(f"{dtype} {percent(row.max())}")
        if parts:
            kind = "naive (unstable)" if "stable=False" in label else "stable"
            lines.append(f"{kind} {label}: highest rate {join_list(parts)}")
    if lines:
        text.append("Per format, " + "; ".join(lines) + ".")
    if omitted and keep != all_labels:
        text.append(f"Not shown (rate 0 in every cell): {', '.join(omitted)}.")
    return "\n\n".join(text)
