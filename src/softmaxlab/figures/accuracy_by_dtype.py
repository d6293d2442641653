"""Accuracy of each method in each format: relative error against a wider format.

The error is measured on the vectors whose output is finite (metrics.leave_out_nonfinite):
a method that loses some outputs to overflow is measured on those it survives, which can
look more accurate than one that survives all (naive against stable softmax in float16).
So the figure draws a (method, format) with non-finite outputs as a hollow marker, and
the caption gives their share beside the error it names."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from softmaxlab.dtypes import DTYPES, finfo
from softmaxlab.figures.data import join_list
from softmaxlab.figures.style import MARKERS, empty_figure, new_figure, palette
from softmaxlab.formatting import number, percent
from softmaxlab.tables import metric_rows, nonfinite_shares, ordered_dtypes, ordered_labels

TITLE = "Accuracy (relative error) of each method by format"


class Data(NamedTuple):
    """The label x dtype table of median relative errors, its labels and formats, and the
    label x dtype share of non-finite outputs (left out of the errors; 0 where none)."""

    table: pd.DataFrame
    labels: list[str]
    dtypes: list[str]
    nonfinite: pd.DataFrame


def prepare(summary: pd.DataFrame) -> Data:
    """label x dtype median over cells of the cell median of max_rel_error, and the pooled
    share of non-finite outputs (nonfinite_output) of the same cells."""
    rows = metric_rows(summary, "max_rel_error", ["label", "dtype", "median"])
    labels = ordered_labels(rows)
    dtypes = ordered_dtypes(rows["dtype"])
    table = rows.groupby(["label", "dtype"], sort=False)["median"].median().unstack("dtype")
    nonfinite = nonfinite_shares(summary, labels, dtypes).fillna(0.0)
    return Data(table.reindex(index=labels, columns=dtypes), labels, dtypes, nonfinite)


def draw(data: Data) -> Figure:
    """One row per method, one marker per format, with each format's unit roundoff."""
    table, labels, dtypes, nonfinite = data
    if table.empty or not np.isfinite(table.to_numpy(float)).any():
        return empty_figure(TITLE, "no max_rel_error data in this sweep")
    values = table.to_numpy(float)
    positive = values[np.isfinite(values) & (values > 0)]
    floor = 10.0 ** (math.floor(math.log10(positive.min())) - 1) if positive.size else 1e-20
    cap = 10.0 ** (math.ceil(math.log10(positive.max())) + 1) if positive.size else 1.0
    fig = new_figure(0.26 * len(labels) + 1.9, 9.0)
    ax = fig.add_subplot()
    colour_of = dict(zip(dtypes, palette(len(dtypes)), strict=True))
    y = np.arange(len(labels))
    for index, dtype in enumerate(dtypes):
        v = table[dtype].to_numpy(float)
        shown = np.where(v == 0, floor, np.where(np.isinf(v), cap, v))
        offset = (index - (len(dtypes) - 1) / 2) * 0.11
        lossy = nonfinite[dtype].to_numpy(float) > 0  # measured on its finite outputs only
        for hollow in (False, True):
            at = lossy == hollow
            ax.scatter(
                shown[at],
                (y + offset)[at],
                facecolors="none" if hollow else colour_of[dtype],
                edgecolors=colour_of[dtype],
                marker=MARKERS[index % len(MARKERS)],
                s=22,
                label=None if hollow else dtype,
                zorder=3,
            )
        if dtype in DTYPES:
            u = float(finfo(dtype).eps) / 2
            ax.axvline(u, color=colour_of[dtype], linestyle=":", linewidth=1.1, zorder=2)
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
        title=(
            "format\n(dotted line:\nunit roundoff eps/2;\nhollow: some outputs\n"
            "non-finite, left out)"
        ),
        loc="outside right upper",
        frameon=False,
    )
    fig.suptitle("Accuracy of each method in each format (all cells pooled)", fontsize=12)
    return fig


def _flushed_text(table: pd.DataFrame) -> str:
    """Where some median is exactly 1, what that is: an entry flushed to 0 (|0 - r| / r = 1),
    the format's range, not its rounding."""
    values = table.to_numpy(float)
    if not (values == 1).any():
        return ""
    return (
        " A relative error of exactly 1 is an output entry flushed to 0 where the reference "
        "is positive (see the underflow map): the format's range, not its rounding."
    )


def caption(data: Data) -> str:
    """What the figure shows, with softmax's and linear's errors in units of roundoff."""
    table, labels, dtypes, nonfinite = data
    if table.empty:
        return "No max_rel_error data in this sweep."
    text = [
        "Relative error max_i |p_i - p_ref_i| / p_ref_i of each method's output in each "
        "format against the same method computed in a wider format on the same rounded "
        "logits (float64 against long double, or IEEE quad where long double is float64 "
        "itself, as the report's 'sweep computed on' row says; narrower formats against "
        "float64): the "
        "median over the sweep's cells of each cell's median. Dotted lines mark each "
        "format's unit roundoff u = eps/2; a method near its format's line is as accurate as "
        "the format allows. Exact results (0) are drawn at the left edge, infinite ones at "
        "the right edge. A hollow marker: some of the method's outputs in that format are not "
        "finite; they are left out, so its error is that of the vectors it survives (not "
        "comparable with a method that survives all); the share is given below."
        + _flushed_text(table)
    ]
    for label in [lbl for lbl in ("softmax", "softmax(stable=False)", "linear") if lbl in labels]:
        parts = []
        for dtype in dtypes:
            v = table.loc[label, dtype]
            if not np.isfinite(v) and not np.isinf(v):
                continue
            u = float(finfo(dtype).eps) / 2 if dtype in DTYPES else float("nan")
            notes = [f"{number(v / u, 2)} u"] if np.isfinite(v) and np.isfinite(u) else []
            lost = nonfinite.loc[label, dtype]
            if lost > 0:
                notes.append(f"{percent(lost)} of outputs non-finite, left out")
            parts.append(f"{dtype} {number(v, 2)}" + (f" ({'; '.join(notes)})" if notes else ""))
        if parts:
            text.append(f"{label}: {join_list(parts)}.")
    return "\n\n".join(text)
