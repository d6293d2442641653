"""Softmax with base psi and temperature T: closeness to argmax against overflow."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from softmaxlab.claims import exp_overflow_threshold
from softmaxlab.dtypes import DTYPES
from softmaxlab.figures.data import (
    describe_slice,
    distance_text,
    float32_arithmetic_text,
    float32_compute_formats,
    join_list,
    label_rows,
    nearest,
    scale_text,
    slice_rows,
    value_at,
)
from softmaxlab.figures.style import MARKERS, draw_line, empty_figure, log_axis, new_figure, no_data
from softmaxlab.formatting import number, percent
from softmaxlab.methods import parse_label
from softmaxlab.tables import metric_rows, ordered_dtypes, ordered_labels

TITLE = "Base-psi and temperature softmax: closeness to argmax against overflow"


class Data(NamedTuple):
    """tv_to_argmax rows (x = scale), overflow rows of the same K and distribution, the slice
    chosen, the narrow format shown next to the wide one, and the softmax labels by beta."""

    tv: pd.DataFrame
    over: pd.DataFrame
    choice: dict
    narrow: str | None
    labels: list[str]


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
    """The softmax labels with a finite beta, in increasing beta (stable before naive)."""
    labels = [label for label in ordered_labels(rows) if _beta(label) is not None]
    return sorted(labels, key=lambda label: (_beta(label), "stable=False" in label))


def _narrow_dtype(dtypes: list[str], wide: str | None) -> str | None:
    """The narrow format whose overflow is shown next to the wide one's."""
    for candidate in ("float16", "bfloat16", "float32", *reversed(dtypes)):
        if candidate in dtypes and candidate != wide:
            return candidate
    return None


def prepare(summary: pd.DataFrame) -> Data:
    """Distance rows, overflow rows, the slice chosen, the narrow format and the labels."""
    tv, choice = slice_rows(summary, "tv_to_argmax")
    over = metric_rows(summary, "overflow")
    over = over[
        (over["k"] == choice.get("k")) & (over["distribution"] == choice.get("distribution"))
    ]
    over = over.assign(x=over["scale"].astype(float))
    dtypes = ordered_dtypes(over["dtype"])
    narrow = _narrow_dtype(dtypes, choice.get("dtype"))
    labels = _family_labels(pd.concat([tv, over]))
    return Data(tv, over, choice, narrow, labels)


def draw(data: Data) -> Figure:
    """Distance to argmax and overflow rate against the scale, one colour per beta."""
    tv, over, choice, narrow, labels = data
    if not labels:
        return empty_figure(
            TITLE,
            "no softmax variants (base / temperature) in this sweep",
        )
    panels = [("distance", choice.get("dtype"))] + [
        ("overflow", d) for d in (choice.get("dtype"), narrow) if d
    ]
    scales = sorted(set(tv["x"]) | set(over["x"]))
    fig = new_figure(4.2 + 0.22 * math.ceil(len(labels) / 2))
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
            series = label_rows(data, label, "x")
            if series.empty:
                continue
            beta = _beta(label)
            text = f"{label}  (\u03b2 = {number(beta, 3)})"
            line = draw_line(
                ax,
                series["x"],
                series["mean"],
                label=text,
                color=shades[beta],
                marker=MARKERS[index % len(MARKERS)],
                dashed="stable=False" in label,
                clip=1.0 if kind == "distance" else None,
            )
            handles.setdefault(text, line)
            drawn = True
        if not drawn:
            no_data(ax, f"no {kind} data for {dtype}")
            continue
        log_axis(ax, "x", scales)
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
    where = describe_slice({k: v for k, v in choice.items() if k != "dtype"})
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


def _narrow_arithmetic(over: pd.DataFrame, narrow: str | None) -> str:
    """Where the narrow panel is computed in float32 arithmetic (its headline mode), the
    sentence that says so: its naive forms overflow where float32's do."""
    if narrow is None:
        return ""
    in_float32 = float32_compute_formats(over[over["dtype"] == narrow]) == [narrow]
    return f" {float32_arithmetic_text([narrow])}" if in_float32 else ""


def caption(data: Data) -> str:
    """What the figure shows: beta ordering, the uniform psi = 1 and the overflow thresholds."""
    tv, over, choice, narrow, labels = data
    if not labels:
        return "No softmax variants (base or temperature) in this sweep."
    where = describe_slice({k: v for k, v in choice.items() if k != "dtype"})
    scales = sorted(set(tv["x"]) | set(over["x"]))
    text = [
        "Generalised softmax psi^(x/T) / sum psi^(x/T) = softmax at inverse temperature "
        "beta = ln(psi)/T, so every base is a temperature; colours run from low to high beta. "
        f"Left: distance to argmax in {choice.get('dtype')}; right: share of vectors whose "
        f"computation overflowed, for {where}. Dashed lines are naive computations (no max "
        "subtraction); solid ones subtract the max first." + _narrow_arithmetic(over, narrow)
    ]
    s_ref = nearest(tv["x"].unique(), 10)
    if s_ref is not None:
        # One label per beta (the stable one when both exist), in increasing beta.
        chosen = [
            label
            for label in labels
            if "stable=False" not in label
            or not any(lbl != label and _beta(lbl) == _beta(label) for lbl in labels)
        ]
        at = [(label, value_at(tv, label, "x", s_ref)) for label in chosen]
        at = [(label, v) for label, v in at if np.isfinite(v)]
        if at:
            values = np.array([v for _, v in at])
            ordered = len(at) > 1 and bool((np.diff(values) <= 0).all())
            trend = (
                " - it never increases with beta: the larger beta, the nearer argmax"
                if ordered
                else (" - not monotone in beta at this scale" if len(at) > 1 else "")
            )
            parts = [
                f"{label} (beta {number(_beta(label), 3)}) {distance_text(v)}" for label, v in at
            ]
            text.append(
                f"Distance to argmax at scale {scale_text(s_ref, scales)}: "
                f"{join_list(parts)}{trend}."
            )
    uniform = [label for label in labels if _beta(label) == 0]
    k = choice.get("k")
    if uniform and k:
        observed = tv[tv["label"] == uniform[0]]["mean"]
        if len(observed):
            text.append(
                f"{uniform[0]} (beta = 0) is the uniform distribution: its distance is "
                f"{number(observed.min(), 4)} to {number(observed.max(), 4)} over all scales, "
                f"against 1 - 1/K = {number(1 - 1 / k, 4)}."
            )
    dtype = choice.get("dtype")
    naive = [label for label in labels if "stable=False" in label]
    parts = []
    for label in naive:
        base = parse_label(label)[1].get("base", math.e)
        temperature = parse_label(label)[1].get("temperature", 1.0)
        threshold = _overflow_threshold(dtype, base) if isinstance(base, float) else None
        rates = label_rows(over[over["dtype"] == dtype], label, "x")
        hit = rates[rates["mean"] > 0]
        if threshold is None or rates.empty:
            continue
        first = (
            f"first overflows at scale {scale_text(hit['x'].iloc[0], scales)} "
            f"({percent(hit['mean'].iloc[0])} of vectors)"
            if len(hit)
            else "never overflows here"
        )
        parts.append(f"{label}: threshold x > {number(threshold * temperature, 4)}, {first}")
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
            f"{percent(worst)}."
        )
    return "\n\n".join(text)
