"""Normalized entropy vs logit scale, one panel per method family."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from softmaxlab.figures.data import (
    describe_slice,
    join_list,
    label_rows,
    representatives,
    scale_text,
    slice_rows,
    value_at,
)
from softmaxlab.figures.style import Panel, empty_figure, family_grid, new_figure
from softmaxlab.formatting import number

TITLE = "Normalized entropy vs logit scale"


@dataclass(frozen=True)
class Data:
    """normalized_entropy rows (normal logits, K near 10, float64) and what was chosen."""

    rows: pd.DataFrame
    choice: dict
    labels: list[str]


def prepare(summary: pd.DataFrame) -> Data:
    """The slice this figure shows, from the tidy summary."""
    rows, choice = slice_rows(summary, "normalized_entropy")
    return Data(rows, choice, representatives(rows))


def draw(data: Data) -> Figure:
    """One row of family panels: entropy / ln K against the scale."""
    if data.rows.empty or not data.labels:
        return empty_figure(TITLE, "no normalized_entropy data in this sweep")
    fig = new_figure(4.6)
    family_grid(
        fig,
        [""],
        [Panel(data.rows, "entropy / ln K", ylim=(-0.03, 1.06))],
        data.labels,
        "scale s",
        "no normalized_entropy data",
    )
    fig.suptitle(f"Normalized entropy vs logit scale ({describe_slice(data.choice)})", fontsize=12)
    return fig


def _counts(rows: pd.DataFrame, label: str, *scales) -> str:
    """ " (on n of N vectors)" where ``label``'s mean at one of ``scales`` rests on fewer
    vectors than the most any method has there (the cell's, where the entropy is defined
    for some method on every vector), else ""."""
    shown = []
    for scale in scales:
        n = value_at(rows, label, "x", scale, field="n")
        most = rows.loc[rows["x"] == scale, "n"].max()
        if np.isfinite(n) and n < most:
            shown.append(f"{int(n):,} of {int(most):,}")
    if not shown:
        return ""
    if len(shown) == len(scales) and len(set(shown)) == 1:  # the same at both ends
        return f" (on {shown[0]} vectors)"
    return " (on " + " and ".join(shown) + " vectors)"


def caption(data: Data) -> str:
    """What the figure shows, with the entropies at the smallest and largest scale."""
    rows, choice, labels = data.rows, data.choice, data.labels
    if rows.empty:
        return "No normalized_entropy data in this sweep."
    scales = sorted(rows["x"].unique())
    text = [
        "Shannon entropy of the output divided by ln K (1: uniform, 0: one-hot), mean over "
        f"vectors with its 95% interval, for {describe_slice(choice)}, one panel per method family."
    ]
    lo, hi = scales[0], scales[-1]
    parts, thin = [], False
    for label in [lbl for lbl in ("softmax", "linear", "sparsemax", "stablemax") if lbl in labels]:
        a, b = value_at(rows, label, "x", lo), value_at(rows, label, "x", hi)
        if np.isfinite(a) or np.isfinite(b):
            counts = _counts(rows, label, lo, hi)
            thin |= bool(counts)
            # 1 is the uniform output's entropy: 0.997 must not read 1
            a_text, b_text = (number(v, 2, keep_apart=(1,)) for v in (a, b))
            parts.append(f"{label} from {a_text} to {b_text}{counts}")
    if parts and lo != hi:
        text.append(
            f"From scale {scale_text(lo, scales)} to {scale_text(hi, scales)} the normalized "
            f"entropy goes: {join_list(parts)}. Methods whose entropy falls towards 0 concentrate "
            "the mass on the maximum as the logits grow; a flat line means the output does not "
            "depend on the scale (it is scale-invariant)."
            + (
                " A mean on fewer vectors than the cell holds says on how many: the entropy is "
                "undefined where an output has a negative or NaN entry."
                if thin
                else ""
            )
        )
    missing = [
        label for label in labels if not np.isfinite(label_rows(rows, label, "x")["mean"]).any()
    ]
    if missing:
        text.append(
            f"Not drawn (entropy undefined for every vector: the output has negative "
            f"or NaN entries): {join_list(missing)}."
        )
    return "\n\n".join(text)
