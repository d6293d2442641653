"""Claim C14, the cross-entropy link: measure -> :class:`C14Result` -> :func:`verdict` -> text.

The claim: log softmax(x) = x - logsumexp(x), so the NLL -ln p_y is convex in the logits
with gradient p - e_y (entries in [-1, 1]); the alternatives lose this. It answers the
thread's question "apart from numerics, how is softmax linked to cross-entropy?"
(softmaxlab.nll has the per-vector measurements, their formulas and sources).

:func:`measure_c14` reads only the summary table's rows of the metrics in
softmaxlab.nll.NLL_METRICS (what the sweep wrote: one row per cell, label and metric with
``n`` and ``mean``, and ``q95`` for the largest per-cell quantile quoted).

Pooling: the one rule of every claim, :func:`softmaxlab.claims.common.pool` (the n-weighted
mean of the cells' means, i.e. the mean over the pooled vectors).

Roles of the labels:

* the reference, label ``softmax`` (base e, temperature 1, stable): its three checks are
  nll_grad_over_one = 0 (entries of p - e_y in [-1, 1]), nll_convexity_break = 0 and
  nll_undefined = 0, each over a non-empty pool;
* the log-linear family, whose log p_y is an affine function of x minus its logsumexp, so
  whose NLL is convex too (softmax with another base, temperature or the naive form,
  ssmax, gumbel_softmax with its noise fixed, iterated_exp of depth 1): reported, not
  judged (their gradient bound is |ln(base)/T| or s ln K, and a naive form's NaN is the
  overflow of claims C7/C8, not a property of the loss);
* every other label is an alternative. An alternative loses the property in a
  (distribution, scale) group, pooled over K and formats, when its NLL is undefined there
  (pooled nll_undefined > 0), when its midpoint test breaks (pooled nll_convexity_break >
  0), when its NLL is infinite (nll_infinite > 0), or when an entry of its NLL gradient
  leaves [-1, 1] (pooled nll_grad_over_one > 0: softmax's p - e_y never does; for
  sparsemax the target's entry is -(1 - 1/|S|)/p_y, unbounded as p_y falls). Which
  infinite NLL counts depends on the map (softmaxlab.nll.positive_map): a built-in map
  with exact zeros (argmax, relu, shifted_linear, the sparse maps) loses it wherever its
  p_y = 0; the infinite or undefined NLL of a map whose outputs are positive (iterated
  exp, softplus, sigmoid, taylor, stablemax) never counts, since its NLL is finite on
  every finite vector and a p_y of 0 (or 0/0, every term underflowing) is float64's, as
  softmax's infinite NLL is (the text quotes it apart); a plugin's counts only where
  softmax's is finite on every vector of the group (the reference's = 0: softmax's own is
  float64 underflow at large scales, which log-softmax avoids).

verdict: "does not hold" when softmax fails a check or when no alternative loses the
property anywhere; "holds" when in every measured (distribution, scale) some alternative
loses it; "holds with conditions" when the losses are confined to some groups (the
conditions name the others).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from softmaxlab.formatting import number, percent
from softmaxlab.methods import check_params, parse_label, plugin
from softmaxlab.nll import NLL_METRICS, positive_map
from softmaxlab.training.losses import FENCHEL_YOUNG_METHODS

from .common import CONDITIONAL, FAILS, HOLDS, VERDICTS, pool

__all__ = ["CONDITIONAL", "FAILS", "HOLDS", "VERDICTS", "measure_c14", "pool", "verdict"]
STATEMENT = (
    "log softmax(x) = x - logsumexp(x): the NLL is convex in the logits with gradient p - y "
    "(entries in [-1, 1]); alternatives lose this."
)
REFERENCE = "softmax"
ROLES: tuple[str, ...] = ("reference", "log-linear", "alternative")
# The summary columns measure_c14 reads.
_COLUMNS = ("distribution", "scale", "k", "method", "label", "metric", "n", "mean", "q95")
# What an alternative's loss in a group can be, in the order text() lists them.
FAILURES: tuple[str, ...] = ("undefined", "convexity", "infinite", "gradient")


@dataclass(frozen=True)
class LabelMeasure:
    """One label's pooled C14 measurements (means over every cell it was measured in).

    Rates are shares in [0, 1]; ``vectors``, ``segments`` and ``gradients`` are the pooled
    counts behind nll_undefined, nll_convexity_break and nll_grad_over_one; NaN where the
    pool is empty. ``nll`` is the mean NLL over the ``nll_vectors`` vectors where it is
    finite: the infinite and undefined ones (``infinite``, ``undefined``) are not in it, so
    for a sparse map or linear it is no mean over all ``vectors``. For softmax with any
    base or temperature, ssmax and gumbel_softmax, nll is log-softmax's value where p_y
    underflows (finite: softmaxlab.nll), so their mean leaves out only undefined vectors,
    while their ``infinite`` still counts p_y = 0 (C3 quotes softmax's).
    ``failing_groups``: the (distribution, scale) groups where an alternative loses the
    property, with ``failures`` the kinds of loss seen (FAILURES); empty for the reference
    and the log-linear family. ``positive``: the map's outputs are positive
    (softmaxlab.nll.positive_map), so its ``infinite`` and ``undefined`` are float64
    underflow, not a loss. ``exact_zeros``: a built-in map that is not positive, so its
    ``infinite`` is a zero of the map wherever it occurs.
    """

    label: str
    method: str
    role: str
    vectors: int
    nll: float
    nll_vectors: int
    infinite: float
    undefined: float
    segments: int
    convexity_break: float
    gradients: int
    grad_over_one: float
    grad_norm: float
    grad_norm_argmax: float
    grad_norm_argmin: float
    grad_max: float
    grad_norm_q95_max: float
    failing_groups: tuple[tuple[str, float], ...] = ()
    failures: tuple[str, ...] = ()
    positive: bool = False
    exact_zeros: bool = False


@dataclass(frozen=True)
class ScaleGradient:
    """The reference's pooled mean NLL gradient norm at one scale, per target; and, for the
    drawn target, on how many of the scale's vectors it is measured (``uniform_n`` of
    ``vectors``, the rows of nll_undefined): where a map's gradient is NaN (p_y < 2^-1022 for
    a map outside softmax's family, softmaxlab.nll), ||p - e_y|| >= 1 - p_y is about 1 or
    more, so the mean over the others can be lower than the mean over all. Softmax's own
    gradient is measured on every vector whose forward is finite."""

    scale: float
    uniform: float
    argmax: float
    argmin: float
    infinite: float
    uniform_n: int = 0
    vectors: int = 0

    def measured_on(self) -> str:
        """ " (on 2,756 of 6,656 vectors ...)" where the drawn target's gradient leaves some
        vectors out, else ""."""
        if not self.vectors or self.uniform_n >= self.vectors:
            return ""
        return (
            f" (at scale {number(self.scale)} on {number(self.uniform_n)} of "
            f"{number(self.vectors)} vectors: where p_y underflows below 2^-1022 the gradient "
            "is left out, though there ||p - y|| >= 1 - p_y, about 1; this mean is not one "
            "over all vectors and shows no fading)"
        )


@dataclass(frozen=True)
class C14Result:
    """Everything the verdict and the text read: per label, and softmax's gradient by scale.

    ``groups``: every (distribution, scale) the reference was measured in.
    """

    labels: tuple[LabelMeasure, ...]
    groups: tuple[tuple[str, float], ...]
    reference_by_scale: tuple[ScaleGradient, ...]
    #: The reference's distinct draws: per (distribution, K) its largest n over the scales
    #: (every scale reuses the same vectors), summed; 0 when not measured. The pooled counts
    #: (vectors, segments, gradients) count a vector once per scale.
    independent_vectors: int = 0

    def of(self, label: str) -> LabelMeasure:
        """The measurement of ``label``; KeyError naming the labels present."""
        for entry in self.labels:
            if entry.label == label:
                return entry
        raise KeyError(f"no C14 measurement of {label!r}; labels: {[e.label for e in self.labels]}")

    @property
    def reference(self) -> LabelMeasure:
        return self.of(REFERENCE)

    @property
    def alternatives(self) -> tuple[LabelMeasure, ...]:
        return tuple(e for e in self.labels if e.role == "alternative")


# ------------------------------------------------------------------------------- measure


def role(label: str) -> str:
    """ "reference", "log-linear" or "alternative" (module docstring) for a method label."""
    if label == REFERENCE:
        return "reference"
    name, params = parse_label(label)
    full = check_params(name, params)
    if name in ("softmax", "ssmax", "gumbel_softmax") or (
        name == "iterated_exp" and full["depth"] == 1
    ):
        return "log-linear"
    return "alternative"


def _value(table: pd.DataFrame, metric: str) -> tuple[float, int]:
    """(pooled mean, pooled n) of one metric from a label's pooled table (NaN, 0 if none)."""
    row = table[table["metric"] == metric]
    if row.empty:
        return float("nan"), 0
    return float(row["mean"].iloc[0]), int(row["n"].iloc[0])


def _failing_groups(
    groups: pd.DataFrame, reference_infinite: pd.Series, positive: bool, exact_zeros: bool
):
    """((distribution, scale) groups where an alternative loses the property, kinds seen),
    from the label's rates pooled per group (columns: metrics, index (distribution, scale));
    ``positive``: a map whose infinite or undefined NLL is underflow only (never a loss);
    ``exact_zeros``: one whose infinite NLL is its own wherever it occurs (module
    docstring; neither: a plugin's counts where softmax's is finite)."""
    failing, kinds = [], set()
    for key, row in groups.iterrows():
        found = set()
        if row.get("nll_undefined", 0) > 0 and not positive:
            found.add("undefined")
        if row.get("nll_convexity_break", 0) > 0:
            found.add("convexity")
        if row.get("nll_grad_over_one", 0) > 0:
            found.add("gradient")
        infinite = row.get("nll_infinite", 0) > 0 and not positive
        if infinite and (exact_zeros or reference_infinite.get(key, np.nan) == 0):
            found.add("infinite")
        if found:
            failing.append((str(key[0]), float(key[1])))
            kinds |= found
    return tuple(failing), tuple(kind for kind in FAILURES if kind in kinds)


def measure_c14(summary_rows: pd.DataFrame) -> C14Result:
    """C14's typed result from the summary table's rows (any rows: those of other metrics
    are ignored). ValueError when a needed column is missing or softmax has no NLL rows."""
    missing = [column for column in _COLUMNS if column not in summary_rows.columns]
    if missing:
        raise ValueError(f"summary rows lack the column(s) {missing}; C14 reads {list(_COLUMNS)}")
    rows = summary_rows.loc[summary_rows["metric"].isin(NLL_METRICS), list(_COLUMNS)]
    rows = rows.assign(scale=rows["scale"].astype(np.float64), n=rows["n"].astype(np.int64))
    if not (rows["label"] == REFERENCE).any():
        raise ValueError(
            f"C14 needs the label {REFERENCE!r} among the rows of the metrics "
            f"{', '.join(NLL_METRICS)}; labels present: {sorted(rows['label'].unique())}"
        )
    by_label = pool(rows, ["label", "metric"])
    by_group = pool(rows, ["label", "distribution", "scale", "metric"]).pivot_table(
        index=["label", "distribution", "scale"], columns="metric", values="mean"
    )
    measured = set(by_group.index.get_level_values("label"))
    if REFERENCE not in measured:
        raise ValueError(f"C14: every row of {REFERENCE!r} has n = 0 or no mean")
    reference_groups = by_group.loc[REFERENCE]
    reference_infinite = reference_groups.get("nll_infinite", pd.Series(dtype=float))
    largest_q95 = rows[rows["metric"] == "nll_grad_norm"].groupby("label")["q95"].max()
    methods = rows.drop_duplicates("label").set_index("label")["method"]
    measures = []
    for label in sorted(methods.index, key=lambda lab: (ROLES.index(role(lab)), lab)):
        table = by_label[by_label["label"] == label]
        kind = role(label)
        name, params = parse_label(label)
        positive = kind == "alternative" and positive_map(name, params)
        exact_zeros = kind == "alternative" and not positive and plugin(name) is None
        failing, kinds = (
            _failing_groups(by_group.loc[label], reference_infinite, positive, exact_zeros)
            if kind == "alternative" and label in measured
            else ((), ())
        )
        measures.append(
            LabelMeasure(
                label=label,
                method=str(methods[label]),
                role=kind,
                vectors=_value(table, "nll_undefined")[1],
                nll=_value(table, "nll")[0],
                nll_vectors=_value(table, "nll")[1],
                infinite=_value(table, "nll_infinite")[0],
                undefined=_value(table, "nll_undefined")[0],
                segments=_value(table, "nll_convexity_break")[1],
                convexity_break=_value(table, "nll_convexity_break")[0],
                gradients=_value(table, "nll_grad_over_one")[1],
                grad_over_one=_value(table, "nll_grad_over_one")[0],
                grad_norm=_value(table, "nll_grad_norm")[0],
                grad_norm_argmax=_value(table, "nll_grad_norm_argmax")[0],
                grad_norm_argmin=_value(table, "nll_grad_norm_argmin")[0],
                grad_max=_value(table, "nll_grad_max")[0],
                grad_norm_q95_max=float(largest_q95.get(label, np.nan)),
                failing_groups=failing,
                failures=kinds,
                positive=positive,
                exact_zeros=exact_zeros,
            )
        )
    undefined = rows[(rows["label"] == REFERENCE) & (rows["metric"] == "nll_undefined")]
    return C14Result(
        labels=tuple(measures),
        groups=tuple((str(d), float(s)) for d, s in reference_groups.index),
        reference_by_scale=_by_scale(rows[rows["label"] == REFERENCE]),
        independent_vectors=int(undefined.groupby(["distribution", "k"])["n"].max().sum()),
    )


def _by_scale(reference_rows: pd.DataFrame) -> tuple[ScaleGradient, ...]:
    """The reference's gradient norms (three targets) and infinite share, pooled per scale,
    with the drawn target's count of measured vectors and the scale's vectors."""
    pooled = pool(reference_rows, ["scale", "metric"])
    table = pooled.pivot_table(index="scale", columns="metric", values="mean")
    table = table.reindex(
        columns=["nll_grad_norm", "nll_grad_norm_argmax", "nll_grad_norm_argmin", "nll_infinite"]
    )
    counts = pooled.pivot_table(index="scale", columns="metric", values="n")
    counts = counts.reindex(index=table.index, columns=["nll_grad_norm", "nll_undefined"])
    counts = counts.fillna(0).astype(np.int64)
    return tuple(
        ScaleGradient(float(scale), *(float(v) for v in values), int(n[0]), int(n[1]))
        for scale, values, n in zip(table.index, table.to_numpy(), counts.to_numpy(), strict=True)
    )


# ------------------------------------------------------------------------------- verdict


def reference_checks(result: C14Result) -> dict[str, bool]:
    """softmax's three checks, each False also when its pool is empty (nothing measured)."""
    ref = result.reference
    return {
        "gradient entries in [-1, 1]": ref.gradients > 0 and ref.grad_over_one == 0,
        "midpoint convexity": ref.segments > 0 and ref.convexity_break == 0,
        "NLL defined": ref.vectors > 0 and ref.undefined == 0,
    }


def lost_groups(result: C14Result) -> set[tuple[str, float]]:
    """The (distribution, scale) groups where at least one alternative loses the property."""
    return {group for entry in result.alternatives for group in entry.failing_groups}


def verdict(result: C14Result) -> str:
    """HOLDS, CONDITIONAL or FAILS (module docstring), a pure function of the result."""
    if not all(reference_checks(result).values()):
        return FAILS
    lost = lost_groups(result)
    if not lost:
        return FAILS
    return HOLDS if set(result.groups) <= lost else CONDITIONAL


# ---------------------------------------------------------------------------------- text


def _groups_text(groups) -> str:
    """The groups as "normal at scales 0.1, 1 and uniform at scale 3"."""
    by_distribution: dict[str, list[float]] = {}
    for distribution, scale in sorted(groups):
        by_distribution.setdefault(distribution, []).append(scale)
    return " and ".join(
        f"{d} at scale{'s' if len(s) > 1 else ''} {', '.join(number(v) for v in s)}"
        for d, s in by_distribution.items()
    )


def _alternative_text(entry: LabelMeasure) -> str:
    """One alternative's losses with their pooled rates."""
    parts = []
    if "undefined" in entry.failures:
        parts.append(f"NLL undefined for {percent(entry.undefined)} of vectors")
    if "infinite" in entry.failures:
        parts.append(f"NLL infinite for {percent(entry.infinite)}")
    if "convexity" in entry.failures:
        parts.append(
            f"convexity broken on {percent(entry.convexity_break)} of "
            f"{number(entry.segments)} segments"
        )
    if "gradient" in entry.failures:
        parts.append(
            f"gradient entries beyond [-1, 1] on {percent(entry.grad_over_one)} of "
            f"{number(entry.gradients)} vectors"
        )
    return f"{entry.label}: {', '.join(parts)}"


def _underflow_text(entry: LabelMeasure) -> str:
    """A positive map's infinite and undefined shares, those above 0 ("" if none)."""
    shares = [("infinite", entry.infinite), ("undefined", entry.undefined)]
    return ", ".join(f"{kind} {percent(share)}" for kind, share in shares if share > 0)


def value(result: C14Result) -> str:
    """The measured figures: softmax's checks and gradient by scale, then the alternatives."""
    ref = result.reference
    lines = [
        f"softmax: midpoint convexity broken on {percent(ref.convexity_break)} of "
        f"{number(ref.segments)} segments; |entries of p - y| > 1 on "
        f"{percent(ref.grad_over_one)} of {number(ref.gradients)} vectors (mean largest "
        f"|entry| {number(ref.grad_max, 3)}, largest per-cell 95% quantile of ||p - y|| "
        f"{number(ref.grad_norm_q95_max, 3)}, at most sqrt 2); NLL undefined for "
        f"{percent(ref.undefined)} of "
        f"{number(ref.vectors)} vectors, infinite (p_y underflows in float64, log-softmax "
        f"would not) for {percent(ref.infinite)}."
    ]
    if result.independent_vectors:
        lines.append(
            "Counts of vectors and segments count a vector once per scale: every scale reuses "
            f"the same {number(result.independent_vectors)} independent vectors."
        )
    if result.reference_by_scale:
        low, high = result.reference_by_scale[0], result.reference_by_scale[-1]
        lines.append(
            "softmax's mean NLL gradient norm, scale "
            f"{number(low.scale)} -> {number(high.scale)}: drawn target "
            f"{number(low.uniform, 3)} -> {number(high.uniform, 3)}{high.measured_on()}, "
            "target = argmin "
            f"{number(low.argmin, 3)} -> {number(high.argmin, 3)} (no fading while the "
            f"prediction is wrong), target = argmax {number(low.argmax, 3)} -> "
            f"{number(high.argmax, 3)} (fades as the prediction becomes sure)."
        )
    losing = [entry for entry in result.alternatives if entry.failures]
    keeping = [entry.label for entry in result.alternatives if not entry.failures]
    if losing:
        lines.append(
            "Alternatives that lose it: " + "; ".join(map(_alternative_text, losing)) + "."
        )
    if keeping:
        lines.append(f"Alternatives that keep it where measured: {', '.join(keeping)}.")
    underflowing = [e for e in result.alternatives if e.positive and _underflow_text(e)]
    if underflowing:
        lines.append(
            "Not counted as a loss: the infinite or undefined NLL of maps whose outputs are "
            "positive, whose NLL is finite on every finite vector (p_y underflows to 0 in "
            "float64, as softmax's does, or every term does and p_y is 0/0): "
            + "; ".join(f"{e.label} {_underflow_text(e)}" for e in underflowing)
            + "."
        )
    family = [entry for entry in result.labels if entry.role == "log-linear"]
    if family:
        lines.append(_family_text(family))
    return " ".join(lines)


def _family_text(family) -> str:
    """The log-linear family (not judged): its largest convexity break rate (or that none
    broke), and how far its gradient entries pass [-1, 1]: scaled by ln(base)/T (s ln K
    for ssmax), so softmax's bound of 1 belongs to base e at temperature 1."""
    worst = max(family, key=lambda e: np.nan_to_num(e.convexity_break, nan=-1.0))
    if worst.convexity_break == 0:
        convexity = "no convexity break in any of them"
    else:
        convexity = f"largest convexity break rate {percent(worst.convexity_break)} ({worst.label})"
    text = f"Same log-linear family ({len(family)} labels, not judged): {convexity}"
    steep = max(family, key=lambda e: np.nan_to_num(e.grad_over_one, nan=-1.0))
    if steep.grad_over_one > 0:
        text += (
            f"; gradient entries beyond [-1, 1] on up to {percent(steep.grad_over_one)} of "
            f"vectors ({steep.label}): the family's gradient is softmax's scaled by ln(base)/T "
            "(s ln K for ssmax), so the bound of 1 is base e's at temperature 1"
        )
    return text + "."


def conditions(result: C14Result) -> str:
    """Where the verdict holds or why it does not, in one sentence."""
    failed = [name for name, ok in reference_checks(result).items() if not ok]
    if failed:
        return f"softmax fails: {', '.join(failed)}"
    lost = lost_groups(result)
    if not lost:
        return "no alternative loses convexity or a defined NLL in the measured cells"
    kept = sorted(set(result.groups) - lost)
    if not kept:
        return "some alternative loses it in every measured distribution and scale" + (
            _matched(result)
        )
    return (
        f"alternatives lose it only on {_groups_text(lost)}; none does on "
        f"{_groups_text(kept)}{_matched(result)}"
    )


#: The losses a map's own Fenchel-Young loss avoids: it is finite and its gradient p - y.
MATCHED_LOSS_AVOIDS: tuple[str, ...] = ("infinite", "gradient")


def sparse_only(result: C14Result) -> list[str]:
    """The alternatives that lose the property only through an infinite NLL (p_y = 0: a
    sparse output) and, where the NLL is finite, gradient entries beyond [-1, 1], and have
    a Fenchel-Young loss of their own: paired with it they keep what softmax has with the
    NLL, which is softmax's Fenchel-Young loss."""
    return [
        entry.label
        for entry in result.alternatives
        if "infinite" in entry.failures
        and set(entry.failures) <= set(MATCHED_LOSS_AVOIDS)
        and entry.method in FENCHEL_YOUNG_METHODS
    ]


def _matched(result: C14Result) -> str:
    """:func:`sparse_only`'s labels and what their own loss keeps, for the conditions."""
    sparse = sparse_only(result)
    if not sparse:
        return ""
    steep = any("gradient" in result.of(label).failures for label in sparse)
    return (
        f"; {', '.join(sparse)} lose it only through an infinite NLL (p_y = 0 where the "
        "output is sparse)"
        + (" and gradient entries beyond [-1, 1] where it is finite" if steep else "")
        + ": with their own Fenchel-Young loss (Blondel, Martins & Niculae 2020) the loss is "
        "convex with gradient p - y, as the NLL is softmax's own Fenchel-Young loss: "
        "log-probabilities are the loss matched to softmax, not to every map"
    )


def text(result: C14Result) -> str:
    """The claim's paragraph: statement, verdict, measured figures and conditions."""
    return f"C14 ({verdict(result)}): {STATEMENT} {value(result)} Conditions: {conditions(result)}."
