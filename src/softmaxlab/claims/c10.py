"""C10, why not e^e^e^x: iterated exp of depth d against softmax.

C10 measures iterated exp of depth 2 and 3 in both forms. Depth d is softmax(E_(d-1)(x)), so
its stabilised form (stable=True) subtracts the max of the inner value E_(d-1)(x) before
the last exp: that fixes the last exp's overflow. It still computes E_(d-1) itself, which
overflows float64 past ln applied d - 1 times to the format's max: 709.78 (d = 2), 6.565
(d = 3), 1.8817 (d = 4) (computed with mpmath, softmaxlab.claims.thresholds). The verdict
weighs the reasons against iterated exp the data can show: the stabilised form still
overflows at the configured scales; its NLL loses convexity or a defined value (C14's
rows); it trains worse than softmax (C15's study), each where measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from softmaxlab.formatting import number, percent

from .common import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    MAIN_DTYPE,
    RATE_SHARE_TOLERANCE,
    Claim,
    Spec,
    pool,
    sort_rows,
)
from .data import C10_ENTRIES, ClaimData, entry_label
from .thresholds import iterated_exp_threshold, threshold_check


@dataclass(frozen=True)
class C10Result:
    """Per depth 2 and 3: float64 thresholds of the naive form (ln^d max) and of the inner
    value E_(d-1) that the stabilised form still computes (ln^(d-1) max), whether
    [0, t -/+ 1 ulp] confirms both, and the largest pooled float64 overflow rate per scale
    of each form; the inner threshold of depth 4; whether C14's NLL loses convexity or a
    defined value for some iterated exp label, and whether C15's study found one that falls
    short of softmax (None: not measured)."""

    naive_threshold: tuple[float, ...]
    inner_threshold: tuple[float, ...]
    thresholds_ok: bool
    naive_overflow: tuple[float, ...]
    stable_overflow: tuple[float, ...]
    depth4_inner_threshold: float
    #: Per depth 2 and 3, the scale where the pooled overflow rates of the naive and the
    #: stabilised form differ most, and the two rates there (NaN: not measured): the
    #: largest rates alone meet near the share of vectors with a positive logit.
    widest_gap: tuple[tuple[float, float, float], ...] = ()
    nll_lost: bool | None = None
    nll_labels: tuple[str, ...] = ()
    training_short: bool | None = None
    training_labels: tuple[str, ...] = ()
    #: Every label of training_labels is a naive form short only where its stable form is
    #: not (C15's numerics_only): the shortfall is its overflow.
    training_overflow_only: bool = False
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    @property
    def stabilised_overflows(self) -> bool:
        return any(v > RATE_SHARE_TOLERANCE for v in self.stable_overflow)

    def reasons(self) -> dict[str, bool]:
        """The reasons against iterated exp that were measured, and whether each holds."""
        out = {"the stabilised form still overflows": self.stabilised_overflows}
        if self.nll_lost is not None:
            out["its NLL loses convexity or a defined value"] = self.nll_lost
        if self.training_short is not None:
            name = "it trains worse than softmax"
            if self.training_short and self.training_overflow_only:
                # C15 sets these aside as numerics: say that this reason is the overflow's
                name = (
                    "its naive forms train worse than softmax through their overflow (their "
                    "stable forms are not told apart from softmax where they fall short: C15)"
                )
            elif self.training_short:
                name += f" ({', '.join(self.training_labels)})"
            out[name] = self.training_short
        return out


def _c10_thresholds() -> pd.DataFrame:
    rows = []
    for depth in (2, 3):
        for stable in (False, True):
            inner = depth - 1 if stable else depth
            t_round = iterated_exp_threshold(MAIN_DTYPE, inner, rounding=True)
            check = threshold_check(MAIN_DTYPE, t_round, "iterated_exp", depth=depth, stable=stable)
            rows.append(
                {
                    "depth": depth,
                    "stable": stable,
                    "overflowing_value": f"E_{inner}(x)",
                    "threshold": iterated_exp_threshold(MAIN_DTYPE, inner),
                    "threshold_with_rounding": t_round,
                    **check,
                }
            )
    return pd.DataFrame(rows)


def _c10_training(payload: Mapping | None) -> tuple[bool | None, tuple[str, ...], bool]:
    """Whether C15's study found an iterated exp label that falls short of softmax (a
    shortfall that persists on C15's check's grid; the naive forms' overflow included,
    which C15 sets aside as numerics and C10 is about), those labels, and whether every
    one of them is short for its overflow only (C15's numerics_only)."""
    if payload is None:
        return None, (), False
    # Imported here: softmaxlab.training.verdict imports the verdict strings from claims.
    from softmaxlab.training.verdict import from_json

    result = from_json(payload)
    comparisons = [c for c in result.comparisons if c.label.startswith("iterated_exp")]
    if not comparisons:
        return None, (), False
    # shortfalls that persist with longer training and a wider learning-rate grid
    short = tuple(dict.fromkeys(c.name for c in comparisons if result.persists(c)))
    overflow_only = bool(short) and set(short) <= set(result.numerics_only())
    return bool(short), short, overflow_only


def measure_c10(data: ClaimData) -> C10Result:
    thresholds = _c10_thresholds()
    entries = [("softmax", {}), *C10_ENTRIES]
    rows = data.rows(entries, None, [MAIN_DTYPE], ["tv_to_argmax", "entropy", "overflow"], "C10")
    compare = pool(rows, ["label", "metric", "scale"]).pivot_table(
        index=["label", "scale"], columns="metric", values="mean"
    )
    compare = compare.reindex(columns=["tv_to_argmax", "entropy", "overflow"]).reset_index()
    labels = [entry_label(e) for e in entries]
    compare = sort_rows(compare, {"label": labels, "scale": None})
    over = compare.groupby("label")["overflow"].max()

    def largest(stable):
        return tuple(
            float(over.get(entry_label(("iterated_exp", {"depth": d, "stable": stable})), math.nan))
            for d in (2, 3)
        )

    per_scale = compare.pivot_table(index="scale", columns="label", values="overflow")

    def widest_gap(depth):
        naive, stable = (
            entry_label(("iterated_exp", {"depth": depth, "stable": s})) for s in (False, True)
        )
        if not {naive, stable} <= set(per_scale.columns):
            return (math.nan, math.nan, math.nan)
        gap = (per_scale[naive] - per_scale[stable]).abs().dropna()
        if gap.empty:
            return (math.nan, math.nan, math.nan)
        scale = gap.idxmax()
        return (float(scale), float(per_scale.at[scale, naive]), float(per_scale.at[scale, stable]))

    nll_lost, nll_labels = None, ()
    try:
        result = data.nll()
        iterated = [e for e in result.alternatives if e.method == "iterated_exp"]
        if iterated:
            nll_labels = tuple(e.label for e in iterated if e.failures)
            nll_lost = bool(nll_labels)
    except ValueError:
        pass
    training_short, training_labels, training_overflow_only = _c10_training(data.training)
    th = thresholds.set_index(["depth", "stable"])["threshold"]
    return C10Result(
        naive_threshold=(float(th[(2, False)]), float(th[(3, False)])),
        inner_threshold=(float(th[(2, True)]), float(th[(3, True)])),
        thresholds_ok=bool(thresholds["consistent"].all()),
        naive_overflow=largest(False),
        stable_overflow=largest(True),
        depth4_inner_threshold=iterated_exp_threshold(MAIN_DTYPE, 3),
        widest_gap=tuple(widest_gap(depth) for depth in (2, 3)),
        nll_lost=nll_lost,
        nll_labels=nll_labels,
        training_short=training_short,
        training_labels=training_labels,
        training_overflow_only=training_overflow_only,
        details={"C10_thresholds": thresholds, "C10_vs_softmax": compare},
    )


def verdict_c10(r: C10Result) -> str:
    reasons = r.reasons().values()
    if not r.thresholds_ok or not any(reasons):
        return FAILS
    return HOLDS if all(reasons) else CONDITIONAL


def value_c10(r: C10Result) -> str:
    nll = (
        "not measured"
        if r.nll_lost is None
        else (f"lost for {', '.join(r.nll_labels)}" if r.nll_lost else "kept where measured")
    )
    training = (
        "not measured"
        if r.training_short is None
        else (
            f"falls short of softmax: {', '.join(r.training_labels)}"
            if r.training_short
            else "not told apart from softmax"
        )
    )
    return (
        f"float64 thresholds, naive form (E_d overflows): depth 2 {number(r.naive_threshold[0], 5)}"
        f", depth 3 {number(r.naive_threshold[1], 5)}; stabilised form (E_(d-1) still "
        f"overflows): depth 2 {number(r.inner_threshold[0], 5)}, depth 3 "
        f"{number(r.inner_threshold[1], 5)}, depth 4 {number(r.depth4_inner_threshold, 5)} "
        f"([0, t -/+ 1 ulp] {'confirmed' if r.thresholds_ok else 'NOT confirmed'}); largest "
        f"overflow rate per scale (pooled), naive / stabilised: depth 2 "
        f"{percent(r.naive_overflow[0])} / {percent(r.stable_overflow[0])}, depth 3 "
        f"{percent(r.naive_overflow[1])} / {percent(r.stable_overflow[1])}{_gap_text(r)}; "
        f"NLL convexity (C14): {nll}; training (C15): {training}"
    )


def _gap_text(r: C10Result) -> str:
    """Where the two forms' overflow rates differ most, per depth measured."""
    parts = [
        f"depth {depth} at scale {number(scale)}: {percent(naive)} / {percent(stable)}"
        for depth, (scale, naive, stable) in zip((2, 3), r.widest_gap, strict=False)
        if math.isfinite(scale)
    ]
    return f"; where they differ most, {', '.join(parts)}" if parts else ""


def conditions_c10(r: C10Result) -> str:
    if not r.thresholds_ok:
        return "the derived thresholds are not where the computation overflows"
    reasons = r.reasons()
    fixes = (
        "stabilising (subtracting the max of E_(d-1)) fixes the last exp's overflow; that "
        "form still computes E_(d-1) itself, which overflows float64 past "
        f"{number(r.inner_threshold[0], 5)} (d = 2), {number(r.inner_threshold[1], 4)} "
        f"(d = 3), {number(r.depth4_inner_threshold, 5)} (d = 4) (a form that never computes "
        "it would not overflow there: for d = 2 the weights exp(e^m (e^(x_i - m) - 1)), m = "
        "max x, which go to the one-hot; not measured here)"
    )
    held = [name for name, ok in reasons.items() if ok]
    not_held = [name for name, ok in reasons.items() if not ok]
    if not held:
        return f"no measured reason against it: {'; '.join(not_held)} does not show; {fixes}"
    text = f"{fixes}; measured against it: {', '.join(held)}"
    if not_held:
        text += f"; not shown here: {', '.join(not_held)}"
    return text


def headline_c10(r: C10Result) -> tuple[str, float]:
    return (
        "Iterated exp is no better: even with the max-shift its inner exponential overflows "
        f"double precision once a logit exceeds {number(r.inner_threshold[1], 4)} at depth "
        "three (C10).",
        r.inner_threshold[1],
    )


SPEC_C10 = Spec(
    "C10",
    "Why not e^e^e^x: iterated exp is a worse choice than exp.",
    "Iterated exp of depth 2 and 3, naive and stabilised (max of E_(d-1) subtracted): overflow "
    "thresholds from finfo with mpmath, checked on [0, t -/+ 1 ulp]; overflow, TV and entropy "
    f"vs softmax ({MAIN_DTYPE}, pooled per scale); its NLL convexity (C14) and training (C15) "
    "where measured.",
    verdict_c10,
    value_c10,
    conditions_c10,
    headline_c10,
    outcomes=(
        "does not hold when the thresholds are not where float64 overflows, or none of the "
        "reasons against iterated exp shows (the stabilised form still overflows; its NLL "
        "loses convexity or a defined value; it trains worse than softmax); holds when every "
        "reason measured shows; with conditions otherwise. Set by algebra in part: the "
        "thresholds are exact, and once a scale passes them the stabilised form overflows; "
        "measured: the NLL's convexity (C14) and training (C15)."
    ),
)


def claim_c10(data: ClaimData) -> Claim:
    return SPEC_C10.measured(measure_c10, data)
