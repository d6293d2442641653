"""Gradient magnitude vs logit scale: ||J v|| and the share of vanishing gradients."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from softmaxlab.figures.data import (
    describe_slice,
    representatives,
    scale_text,
    slice_rows,
    value_at,
)
from softmaxlab.figures.style import Panel, empty_figure, family_grid, new_figure
from softmaxlab.formatting import interval, number, percent
from softmaxlab.metrics import GRAD_VANISHING_THRESHOLD

TITLE = "Gradient magnitude vs logit scale"
GRAD_FLOOR = 1e-30  # display floor of the log axis: smaller norms are drawn at it


@dataclass(frozen=True)
class Data:
    """grad_norm and grad_vanishes rows (normal logits, K near 10, float64)."""

    norm: pd.DataFrame
    vanish: pd.DataFrame
    choice: dict
    labels: list[str]


def prepare(summary: pd.DataFrame) -> Data:
    """The slices this figure shows, from the tidy summary."""
    measured = summary[summary["n"] > 0]  # grad_vectors: 0 leaves rows without vectors
    norm, choice = slice_rows(measured, "grad_norm")
    vanish, _ = slice_rows(measured, "grad_vanishes")
    return Data(norm, vanish, choice, representatives(pd.concat([norm, vanish])))


def draw(data: Data) -> Figure:
    """Two rows of family panels: the gradient norm (log) and the vanishing share."""
    if not data.labels:
        return empty_figure(TITLE, "no gradient data in this sweep")
    fig = new_figure(6.8)
    threshold = number(GRAD_VANISHING_THRESHOLD)
    panels = [
        Panel(data.norm, "||J v|| (log)", log=True, floor=GRAD_FLOOR, band=False),
        Panel(
            data.vanish,
            f"share with ||J v|| < {threshold}",
            ylim=(-0.03, 1.06),
            percent=True,
            band=False,
        ),
    ]
    family_grid(
        fig,
        ["gradient norm", "vanishing gradient"],
        panels,
        data.labels,
        "scale s",
        "no gradient data",
    )
    where = describe_slice(data.choice)
    fig.suptitle(f"Directional derivative of the output vs logit scale ({where})", fontsize=12)
    return fig


def caption(data: Data) -> str:
    """What the figure shows, with norms and vanishing shares at both ends of the scales."""
    norm, vanish, choice, labels = data.norm, data.vanish, data.choice, data.labels
    if norm.empty and vanish.empty:
        return "No gradient data in this sweep."
    scales = sorted(set(norm["x"]) | set(vanish["x"]))
    text = [
        "Top: ||J(x) v||, the norm of the output's derivative along a random unit direction "
        "v (float64 central difference), mean over the measured vectors; zeros cannot be "
        f"drawn on the log axis and means below {number(GRAD_FLOOR)} are drawn at it (open "
        f"triangles). Bottom: the share of vectors where it is below "
        f"{number(GRAD_VANISHING_THRESHOLD)} (vanishing gradient). {describe_slice(choice)}; "
        "softmax is the grey dashed reference."
    ]
    lo, hi = (scales[0], scales[-1]) if scales else (None, None)
    for label in [lbl for lbl in ("softmax", "argmax", "linear", "sparsemax") if lbl in labels]:
        a, b = value_at(norm, label, "x", lo), value_at(norm, label, "x", hi)
        va, vb = value_at(vanish, label, "x", lo), value_at(vanish, label, "x", hi)
        text.append(
            f"{label}: gradient norm {number(a, 2)} at scale {scale_text(lo, scales)} and "
            f"{number(b, 2)} at scale {scale_text(hi, scales)}; vanishing share {percent(va)} and "
            f"{percent(vb)}."
        )
    if "argmax" in labels:
        top = vanish[vanish["label"] == "argmax"]["mean"]
        if len(top):
            text.append(
                "argmax (hardmax) has a vanishing gradient for "
                f"{interval(top.min(), top.max(), rate=True)} of vectors across scales: it is "
                "piecewise constant."
            )
    return "\n\n".join(text)
