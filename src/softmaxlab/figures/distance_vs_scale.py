"""Distance to argmax vs logit scale: one row per distribution, one panel per method family."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from softmaxlab.figures.data import (
    ABOVE_ONE,
    describe_slice,
    distance_text,
    family_groups,
    join_list,
    label_rows,
    nearest,
    pick,
    representatives,
    scale_text,
    slice_rows,
    value_at,
)
from softmaxlab.figures.style import WIDTH, Panel, empty_figure, family_grid, new_figure

TITLE = "Distance to argmax vs logit scale, by distribution and method family"


@dataclass(frozen=True)
class Data:
    """tv_to_argmax rows of every distribution (K near 10, float64) and what was chosen."""

    rows: pd.DataFrame
    choice: dict
    labels: list[str]
    distributions: list[str]


def prepare(summary: pd.DataFrame) -> Data:
    """The slice this figure shows, from the tidy summary."""
    rows, choice = slice_rows(summary, "tv_to_argmax", distribution=None)
    distributions = [str(d) for d in pd.unique(rows["distribution"])]
    return Data(rows, choice, representatives(rows), distributions)


def draw(data: Data) -> Figure:
    """The family grid: rows = distributions, columns = method families."""
    rows, choice, labels, distributions = data.rows, data.choice, data.labels, data.distributions
    if not distributions or not labels:
        return empty_figure(TITLE, "no tv_to_argmax data in this sweep")
    n_families = len(family_groups(labels))
    fig = new_figure(1.9 * len(distributions) + 2.2, WIDTH if n_families > 2 else 8.0)
    panels = [
        Panel(rows[rows["distribution"] == d], "TV distance", ylim=(-0.03, 1.06), clip=1.0)
        for d in distributions
    ]
    family_grid(fig, distributions, panels, labels, "scale s", "no tv_to_argmax data")
    fig.suptitle(f"Distance to argmax vs logit scale ({describe_slice(choice)})", fontsize=12)
    return fig


def caption(data: Data) -> str:
    """What the figure shows, with the distances it plotted at the scale nearest 10."""
    rows, choice, labels, distributions = data.rows, data.choice, data.labels, data.distributions
    if rows.empty:
        return "No tv_to_argmax data in this sweep."
    scales = sorted(rows["x"].unique())
    text = [
        "Total-variation distance from each method's output to the argmax one-hot "
        "(1 - p at the argmax for a valid output; 0 means the method returns argmax), mean "
        f"over vectors with its 95% interval as a band, for {describe_slice(choice)}, one row per "
        "distribution of z and one panel per method family. Softmax is repeated as a grey "
        "dashed reference in the other families. " + ABOVE_ONE
    ]
    dist = pick(distributions, "normal")
    s_ref = nearest(scales, 10)
    drows = rows[rows["distribution"] == dist]
    shown = [
        label
        for label in ("softmax", "linear", "sparsemax", "stablemax", "taylor")
        if label in labels
    ]
    values = [(label, value_at(drows, label, "x", s_ref)) for label in shown]
    values = [(label, v) for label, v in values if np.isfinite(v)]
    if values:
        parts = [
            f"{label} above 1" if v > 1 else f"{label} at {distance_text(v)}" for label, v in values
        ]
        text.append(f"At scale {scale_text(s_ref, scales)} ({dist} logits) {join_list(parts)}.")
    if "softmax" in labels:
        soft = label_rows(drows, "softmax", "x")
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
                f"Softmax's distance ({dist} logits) goes from {distance_text(first['mean'])} at "
                f"scale {scale_text(first['x'], scales)} to {distance_text(last['mean'])} at scale "
                f"{scale_text(last['x'], scales)}; {trend}."
            )
    if "softmax" in labels and "linear" in labels:
        both = (
            rows[rows["label"].isin(["softmax", "linear"])]
            .pivot_table(
                index=["distribution", "x"], columns="label", values="mean", aggfunc="first"
            )
            .dropna()
        )
        both = both[both["linear"] <= 1]  # ABOVE_ONE: no distance to compare with
        if len(both):
            closer = both["softmax"] < both["linear"]
            kept = list(dict.fromkeys(both.index.get_level_values(0)))
            only = (
                f", on {join_list(kept)} logits only (on the others linear's outputs are not "
                "distributions)"
                if set(kept) < set(rows["distribution"])
                else ""
            )
            text.append(
                f"Softmax is closer to argmax than linear normalisation at {int(closer.sum())} "
                f"of the {len(both)} (distribution, scale) points where linear's mean distance "
                f"is at most 1{only}."
            )
            linear_wins = both[~closer]
            if len(linear_wins):
                places = []
                for d, group in linear_wins.groupby(level=0, sort=False):
                    xs = [scale_text(x, scales) for x in group.index.get_level_values(1)]
                    places.append(f"{d} at scale {join_list(xs)}")
                text.append("Linear is as close or closer for " + "; ".join(places) + ".")
    return "\n\n".join(text)
