"""Gradient magnitude vs logit scale: ||J v|| and the share of vanishing gradients."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from softmaxlab.figures.data import (
    describe_slice,
    in_slice,
    representatives,
    scale_text,
    slice_rows,
    value_at,
)
from softmaxlab.figures.style import Panel, empty_figure, family_grid, new_figure
from softmaxlab.formatting import interval, number, percent
from softmaxlab.metrics import GRAD_VANISHING_THRESHOLD
from softmaxlab.tables import off_simplex_share

TITLE = "Gradient magnitude vs logit scale"
GRAD_FLOOR = 1e-30  # display floor of the log axis: smaller norms are drawn at it


@dataclass(frozen=True)
class Data:
    """grad_norm and grad_vanishes rows (normal logits, K near 10, float64)."""

    norm: pd.DataFrame
    vanish: pd.DataFrame
    choice: dict
    labels: list[str]
    #: per label, the largest share of the slice's vectors whose output is finite but not
    #: a distribution (invalid less nonfinite_output: negative entries), over the scales;
    #: labels with none are left out
    off_simplex: dict[str, float] = field(default_factory=dict)

    def drawn_norm(self) -> pd.DataFrame:
        """The norm rows the figure draws: the mean, and the median (in the mean's column,
        without an interval) for the labels in ``off_simplex``, whose norm has no finite
        mean (see :func:`_norms`)."""
        median = self.norm["label"].isin(list(self.off_simplex))
        if not median.any():
            return self.norm
        drawn = self.norm.copy()
        drawn.loc[median, "mean"] = drawn.loc[median, "median"]
        drawn.loc[median, ["ci_low", "ci_high"]] = np.nan
        return drawn


def prepare(summary: pd.DataFrame) -> Data:
    """The slices this figure shows, from the tidy summary."""
    measured = summary[summary["n"] > 0]  # grad_vectors: 0 leaves rows without vectors
    norm, choice = slice_rows(measured, "grad_norm")
    vanish, _ = slice_rows(measured, "grad_vanishes")
    finite_off = off_simplex_share(in_slice(measured, choice))
    off = finite_off[finite_off > 0].groupby(level="label").max()
    labels = representatives(pd.concat([norm, vanish]))
    return Data(norm, vanish, choice, labels, {str(k): float(v) for k, v in off.items()})


def draw(data: Data) -> Figure:
    """Two rows of family panels: the gradient norm (log) and the vanishing share."""
    if not data.labels:
        return empty_figure(TITLE, "no gradient data in this sweep")
    fig = new_figure(6.8)
    threshold = number(GRAD_VANISHING_THRESHOLD)
    panels = [
        Panel(data.drawn_norm(), "||J v|| (log)", log=True, floor=GRAD_FLOOR, band=False),
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


def _measured(norm: pd.DataFrame) -> list[str]:
    """["at most 256 vectors a cell"]: how many vectors a cell's gradient rests on
    (grad_vectors of the float64 cells, fewer than the cell holds), or [] without counts."""
    if "n" not in norm or norm.empty:
        return []
    return [f"at most {number(int(norm['n'].max()))} vectors a cell"]


def caption(data: Data) -> str:
    """What the figure shows, with norms and vanishing shares at both ends of the scales."""
    norm, vanish, choice, labels = data.norm, data.vanish, data.choice, data.labels
    if norm.empty and vanish.empty:
        return "No gradient data in this sweep."
    scales = sorted(set(norm["x"]) | set(vanish["x"]))
    off = [label for label in labels if label in data.off_simplex]
    notes = [*_measured(norm), *([f"the median for {', '.join(off)}: below"] if off else [])]
    medians = f" ({'; '.join(notes)})" if notes else ""
    text = [
        "Top: ||J(x) v||, the norm of the output's derivative along a random unit direction "
        f"v (float64 central difference), mean over the measured vectors{medians}; zeros "
        f"cannot be drawn on the log axis and values below {number(GRAD_FLOOR)} are drawn at "
        "it (open triangles). Bottom: the share of vectors where it is below "
        f"{number(GRAD_VANISHING_THRESHOLD)} (vanishing gradient). {describe_slice(choice)}; "
        "softmax is the grey dashed reference."
    ]
    lo, hi = (scales[0], scales[-1]) if scales else (None, None)
    quoted = [lbl for lbl in ("softmax", "argmax", "linear", "sparsemax") if lbl in labels]
    for label in quoted + [lbl for lbl in off if lbl not in quoted]:
        va, vb = value_at(vanish, label, "x", lo), value_at(vanish, label, "x", hi)
        text.append(
            f"{label}: {_norms(norm, label, lo, hi, scales, data.off_simplex.get(label))}; "
            f"vanishing share {percent(va)} and {percent(vb)}."
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


def _norms(norm: pd.DataFrame, label: str, lo, hi, scales, off: float | None) -> str:
    """The label's gradient norm at both ends of the scales: its mean, or, where some of
    its finite outputs are not distributions (``off``: the largest share), its median. A map
    whose outputs can have negative entries divides by a sum that can cross 0 (linear:
    sum x), where its derivative has no bound: such a norm has no finite mean, and a sample
    mean is ruled by the few vectors nearest the crossing (the figure draws the median too:
    :meth:`Data.drawn_norm`)."""
    ends = f"at scale {scale_text(lo, scales)} and {{}} at scale {scale_text(hi, scales)}"
    if not off:
        a, b = value_at(norm, label, "x", lo), value_at(norm, label, "x", hi)
        return f"gradient norm {number(a, 2)} " + ends.format(number(b, 2))
    a, b = (value_at(norm, label, "x", s, field="median") for s in (lo, hi))
    return (
        f"median gradient norm {number(a, 2)} " + ends.format(number(b, 2)) + " (the median, "
        f"drawn as such: its outputs are not distributions on {percent(off)} of "
        "vectors, and where their sum nears 0 the derivative has no bound, so the norm has "
        "no finite mean)"
    )
