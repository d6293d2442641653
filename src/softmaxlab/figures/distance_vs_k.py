"""Distance to argmax vs the number of classes K, at a few fixed logit scales."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from softmaxlab.figures.data import (
    ABOVE_ONE,
    describe_slice,
    distance_text,
    join_list,
    label_rows,
    nearest,
    representatives,
    scale_text,
    slice_rows,
    value_at,
)
from softmaxlab.figures.style import MARKERS, draw_line, empty_figure, new_figure, palette
from softmaxlab.formatting import number
from softmaxlab.methods import parse_label

TITLE = "Distance to argmax vs number of classes K"
#: The methods drawn, in this order (others only when none of these is in the sweep).
K_METHODS = ("softmax", "ssmax", "linear", "sparsemax", "entmax15", "stablemax", "iterated_exp")


class Data(NamedTuple):
    """The rows (x = K), the slice chosen, the labels drawn, the scales picked, all scales."""

    rows: pd.DataFrame
    choice: dict
    labels: list[str]
    picked: list[float]
    scales: list[float]


def prepare(summary: pd.DataFrame) -> Data:
    """tv_to_argmax rows (normal logits, float64) of every K, the labels and scales shown."""
    rows, choice = slice_rows(summary, "tv_to_argmax", pick_k=False)
    rows = rows.assign(x=rows["k"].astype(float))
    reps = representatives(rows)
    labels = [label for label in reps if parse_label(label)[0] in K_METHODS]
    labels.sort(key=lambda label: K_METHODS.index(parse_label(label)[0]))
    if not labels:
        labels = [label for label in reps if parse_label(label)[0] != "argmax"][:5]
    scales = sorted(rows["scale"].unique())
    picked = []
    for target in (1.0, 10.0, 100.0):
        s = nearest(scales, target)
        if s is not None and s not in picked:
            picked.append(s)
    return Data(rows, choice, labels, sorted(picked), scales)


def draw(data: Data) -> Figure:
    """One panel per picked scale: distance against K, with the uniform output's 1 - 1/K."""
    rows, choice, labels, picked, scales = data
    if rows.empty or not labels or not picked:
        return empty_figure(TITLE, "no tv_to_argmax data in this sweep")
    fig = new_figure(4.4)
    axes = fig.subplots(1, len(picked), sharey=True, squeeze=False)[0]
    colours = palette(len(labels))
    ks = np.array(sorted(rows["k"].unique()), dtype=float)
    handles = {}
    for ax, scale in zip(axes, picked, strict=True):
        at = rows[rows["scale"] == scale]
        for index, label in enumerate(labels):
            data = label_rows(at, label, "x")
            if data.empty:
                continue
            line = draw_line(
                ax,
                data["x"],
                data["mean"],
                label=label,
                color=colours[index],
                marker=MARKERS[index % len(MARKERS)],
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
        ax.set_title(f"scale s = {scale_text(scale, scales)}", fontweight="bold")
    axes[0].set_ylabel("TV distance to argmax")
    fig.legend(handles.values(), handles.keys(), loc="outside right center", frameon=False)
    fig.suptitle(f"Distance to argmax vs number of classes ({describe_slice(choice)})", fontsize=12)
    return fig


def caption(data: Data) -> str:
    """What the figure shows, with each method's distance at the smallest and largest K."""
    rows, choice, labels, picked, scales = data
    if rows.empty or not picked:
        return "No tv_to_argmax data in this sweep."
    ks = sorted(rows["k"].unique())
    text = [
        "How the maximum fades with many classes: total-variation distance to the argmax "
        f"one-hot against K for {describe_slice(choice)}, at a few fixed logit scales (mean "
        "and 95% interval). The dotted curve 1 - 1/K is the distance of the uniform output; "
        "a method on it has lost the maximum entirely. " + ABOVE_ONE
    ]
    if len(ks) >= 2:
        for scale in picked:
            at = rows[rows["scale"] == scale]
            parts = []
            for label in labels[:4]:
                a, b = value_at(at, label, "k", ks[0]), value_at(at, label, "k", ks[-1])
                if np.isfinite(a) or np.isfinite(b):
                    parts.append(f"{label} {distance_text(a)} -> {distance_text(b)}")
            if parts:
                text.append(
                    f"At scale {scale_text(scale, scales)}, from K = {ks[0]} to "
                    f"K = {ks[-1]}: {join_list(parts)}."
                )
    else:
        text.append(f"This sweep has a single K ({ks[0]}), so no trend in K can be read.")
    counts = _vectors_by_k(rows)
    if counts:
        text.append(f"Each mean rests on the cell's vectors: {counts}.")
    return "\n\n".join(text)


def _vectors_by_k(rows: pd.DataFrame) -> str:
    """The most vectors a cell holds per K, runs of K with the same count together:
    "1,000 a cell for K = 2 to 1000 and 256 for K = 10000" (the budget gives K = 10^4 fewer)."""
    most = rows.groupby("k")["n"].max().sort_index()
    runs: list[list] = []
    for k, n in most.items():
        if runs and runs[-1][2] == n:
            runs[-1][1] = k
        else:
            runs.append([k, k, n])
    parts = [
        f"{number(n)}{' a cell' if not i else ''} for K = {first}"
        + (f" to {last}" if last != first else "")
        for i, (first, last, n) in enumerate(runs)
    ]
    return join_list(parts)
