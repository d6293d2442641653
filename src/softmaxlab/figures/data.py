"""Choosing what a figure shows: slices of the tidy summary and the words that name them.

No plotting here: the figures' ``prepare`` and ``caption`` functions build on these helpers.
The common choices, made from what the summary holds so any sub-sweep works:

* format: float64 (else the widest format present), so rounding does not blur the shape;
* K: the value nearest 10 on a log scale (10 in the default sweep);
* distribution: each one faceted, or "normal" (else the first) when one is picked;
* methods: one representative label per method, its default parameters when present
  (parameter variants of softmax get their own figure), grouped into families with a
  handful of lines per panel;
* pooling over cells (heat maps, accuracy): a rate or a mean by the one pooling rule
  (softmaxlab.stats.pool: the cells' means weighted by their numbers of vectors n), as in
  softmaxlab.tables; a median as the median of the cells' medians, each cell
  (distribution x scale x K) counted once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from softmaxlab.formatting import number
from softmaxlab.methods import parse_label
from softmaxlab.sweep import DEFAULT_COMPUTE
from softmaxlab.tables import NOT_A_DISTANCE, format_scale, metric_rows, pick_dtype

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
REFERENCE = "softmax"  # drawn (grey, dashed) in every other family's panel for comparison


def nearest(values, target: float):
    """The value nearest ``target`` on a log scale (ties: the smaller); None if empty."""
    values = sorted({float(v) for v in values if v is not None and float(v) > 0})
    if not values:
        return None
    return min(values, key=lambda v: (abs(math.log(v / target)), v))


def pick(values, prefer: str) -> str | None:
    """``prefer`` if present, else the first value in order of appearance."""
    present = [str(v) for v in pd.unique(pd.Series(values)) if isinstance(v, str)]
    if not present:
        return None
    return prefer if prefer in present else present[0]


def k_ref(rows: pd.DataFrame) -> int | None:
    """The K of ``rows`` nearest 10 on a log scale (None if there is none)."""
    k = nearest(rows["k"].unique(), 10)
    return None if k is None else int(k)


def representatives(rows: pd.DataFrame) -> list[str]:
    """One label per method: its default-parameter label (== method) if present, else its first."""
    pairs = rows[["method", "label"]].drop_duplicates()
    chosen = []
    for method in pd.unique(pairs["method"]):
        labels = [str(v) for v in pairs.loc[pairs["method"] == method, "label"]]
        chosen.append(str(method) if str(method) in labels else labels[0])
    return chosen


def family_groups(labels: Sequence[str]) -> list[tuple[str, list[str]]]:
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


def scale_text(scale: float, scales) -> str:
    """``scale`` written as softmaxlab.tables.format_scale writes it among ``scales``."""
    scales = sorted({float(s) for s in scales} | {float(scale)})
    return dict(zip(scales, format_scale(scales), strict=True))[float(scale)]


#: How the distance figures draw and quote a mean TV distance above 1 (tables.NOT_A_DISTANCE).
ABOVE_ONE = (
    "Means above 1 (outputs with negative entries) are drawn at 1 as open triangles and "
    f'quoted as "above 1": {NOT_A_DISTANCE}.'
)


def distance_text(value: float, digits: int = 2) -> str:
    """A mean distance to argmax for a caption: its number where it is at most 1 (never
    written "1" unless it is 1: 0.997 is "0.997"), else "above 1" (:data:`ABOVE_ONE`)."""
    return "above 1" if value > 1 else number(value, digits, keep_apart=(1,))


def join_list(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def float32_compute_formats(rows: pd.DataFrame) -> list[str]:
    """The formats of ``rows`` computed in float32 arithmetic (compute mode
    softmaxlab.sweep.DEFAULT_COMPUTE), in order of appearance; none without a compute
    column."""
    if "compute" not in rows:
        return []
    return list(pd.unique(rows.loc[rows["compute"] == DEFAULT_COMPUTE, "dtype"]))


def float32_arithmetic_text(formats: Sequence[str]) -> str:
    """The sentence saying that ``formats`` (narrow formats read in their headline compute
    mode, float32) are computed in float32 arithmetic, so that their intermediates overflow
    where float32's do; "" for none."""
    if not formats:
        return ""
    verb, them = ("are", "them") if len(formats) > 1 else ("is", "it")
    return (
        f"{join_list(list(formats))} {verb} computed as frameworks compute {them}, in float32 "
        "arithmetic with input and output in the format, so intermediates overflow where "
        "float32's do (the native mode, every operation rounded to the format, is in claim "
        "C8's table)."
    )


def slice_rows(
    summary: pd.DataFrame, metric: str, distribution: str | None = "normal", pick_k: bool = True
) -> tuple[pd.DataFrame, dict]:
    """Rows of ``metric`` in float64 (else the widest format), at K near 10, for one distribution.

    ``distribution=None`` keeps every distribution. Returns the rows and the choices made.
    """
    rows = metric_rows(summary, metric)
    choice = {"dtype": pick_dtype(rows["dtype"]) if len(rows) else None}
    rows = rows[rows["dtype"] == choice["dtype"]]
    if pick_k:
        choice["k"] = k_ref(rows)
        rows = rows[rows["k"] == choice["k"]]
    if distribution is not None:
        choice["distribution"] = pick(rows["distribution"], distribution)
        rows = rows[rows["distribution"] == choice["distribution"]]
    return rows.assign(x=rows["scale"].astype(float)), choice


def in_slice(summary: pd.DataFrame, choice: dict) -> pd.DataFrame:
    """The summary's rows in a figure's slice (:func:`slice_rows`' choices: its format,
    K and distribution where chosen)."""
    keep = np.ones(len(summary), dtype=bool)
    for column in ("dtype", "k", "distribution"):
        if choice.get(column) is not None:
            keep &= (summary[column] == choice[column]).to_numpy()
    return summary[keep]


def describe_slice(choice: dict) -> str:
    """The slice in words: "normal logits, K = 10, float64"."""
    parts = []
    if choice.get("distribution"):
        parts.append(f"{choice['distribution']} logits")
    if choice.get("k") is not None:
        parts.append(f"K = {choice['k']}")
    if choice.get("dtype"):
        parts.append(choice["dtype"])
    return ", ".join(parts)


def label_rows(rows: pd.DataFrame, label: str, x: str = "scale") -> pd.DataFrame:
    """The rows of one label, sorted by ``x``."""
    return rows[rows["label"] == label].sort_values(x)


def value_at(rows: pd.DataFrame, label: str, column: str, value, field: str = "mean") -> float:
    """``field`` of the first row of ``label`` where ``column == value`` (NaN if none)."""
    hit = rows[(rows["label"] == label) & (rows[column] == value)][field]
    return float(hit.iloc[0]) if len(hit) else float("nan")
