"""Numerical stability: C8 (the max-subtracted softmax) and C10 (why not e^e^e^x).

C10 measures iterated exp of depth 2 and 3 in both forms. Depth d is softmax(E_(d-1)(x)), so
its stabilised form (stable=True) subtracts the max of the inner value E_(d-1)(x) before
the last exp: that fixes the last exp's overflow. It cannot fix E_(d-1) itself, which still
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

import numpy as np
import pandas as pd

from softmaxlab.dtypes import get_dtype
from softmaxlab.formatting import number, percent
from softmaxlab.sweep import compute_modes, headline_compute

from . import c14
from .common import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    MAIN_DTYPE,
    RATE_SHARE_TOLERANCE,
    Claim,
    Missing,
    Spec,
    dtype_order,
    pool,
    sort_rows,
)
from .data import C10_ENTRIES, NATIVE_METRICS, ClaimData, entry_label
from .thresholds import iterated_exp_threshold, threshold_check

# ------------------------------------------------------------------------------------- C8

NAIVE, STABLE = "softmax(stable=False)", "softmax"


@dataclass(frozen=True)
class C8Result:
    """Largest pooled (per scale) overflow rate of the stable and the naive softmax and the
    stable one's largest underflow rate, per format; formats where the stable form's output
    was non-finite (with K and the counts of each cause) and where only an intermediate
    overflowed; and the stable form's largest pooled overflow and non-finite output rates
    in the native mode of the formats measured in both modes."""

    dtypes: tuple[str, ...]
    stable_overflow: tuple[float, ...]
    naive_overflow: tuple[float, ...]
    stable_underflow: tuple[float, ...]
    broken: tuple[tuple[str, tuple[int, ...], int, int], ...] = ()
    harmless: tuple[str, ...] = ()
    #: The narrow formats read in float32 arithmetic (their headline compute mode), the
    #: others in their own: a verdict about "every format" is about those arithmetics.
    float32_formats: tuple[str, ...] = ()
    #: The formats also measured natively (every operation rounded to the format), and the
    #: stable form's largest pooled (per scale) overflow and non-finite output rates there.
    native_dtypes: tuple[str, ...] = ()
    native_overflow: tuple[float, ...] = ()
    native_nonfinite: tuple[float, ...] = ()
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    def of(self, values: tuple[float, ...]) -> dict[str, float]:
        return dict(zip(self.dtypes, values, strict=True))

    def of_native(self, values: tuple[float, ...]) -> dict[str, float]:
        return dict(zip(self.native_dtypes, values, strict=True))

    @property
    def native_broken(self) -> list[str]:
        """The formats whose stable output was non-finite in the native mode."""
        bad = self.of_native(self.native_nonfinite)
        return [t for t, v in bad.items() if v > RATE_SHARE_TOLERANCE]

    @property
    def wide_failing(self) -> list[str]:
        s = self.of(self.stable_overflow)
        return [t for t in ("float64", "float32") if s.get(t, 0.0) > RATE_SHARE_TOLERANCE]

    @property
    def failing(self) -> list[str]:
        return [t for t, v in self.of(self.stable_overflow).items() if v > RATE_SHARE_TOLERANCE]


#: The cell keys and counts of C8's anatomy table (C8_anatomy of claim_checks.csv).
ANATOMY_COLUMNS = (
    "distribution",
    "scale",
    "k",
    "dtype",
    "vectors_finite_input",
    "overflow_flagged",
    "non_finite_output",
    "x_minus_max_out_of_range",
    "sum_out_of_range",
)
_CELL = ["distribution", "scale", "k", "dtype"]


def stable_overflow_anatomy(data: ClaimData, flagged: pd.DataFrame) -> pd.DataFrame:
    """Why the stable softmax overflowed, per flagged cell (ANATOMY_COLUMNS).

    For each (distribution, scale, K, format) cell in ``flagged``, the workflow redid the
    stable computation on the sweep's own vectors step by step as the library does it
    (softmaxlab.claim_checks, C8_anatomy): y = x - max x in the format, e^y, the sum
    accumulated in float32 for narrow formats and rounded to the format. Counts, among rows
    with finite input: rows flagged, rows whose output is non-finite, rows where y left the
    format's range, rows where the sum did. Missing when a flagged cell has no counts.
    """
    keys = flagged.loc[:, _CELL].reset_index(drop=True)
    if keys.empty:
        return pd.DataFrame({column: [] for column in ANATOMY_COLUMNS})
    cells = data.check("C8_anatomy", "C8")
    counts = cells.loc[:, list(ANATOMY_COLUMNS)].astype({c: np.int64 for c in ANATOMY_COLUMNS[4:]})
    found = keys.merge(counts, on=_CELL, how="left", validate="many_to_one")
    if found["vectors_finite_input"].isna().any():
        absent = found[found["vectors_finite_input"].isna()].iloc[0]
        raise Missing(
            f"C8: claim_checks.csv has no C8_anatomy counts for {absent['distribution']} "
            f"scale {absent['scale']:g} K {absent['k']} {absent['dtype']}"
        )
    return found


def measure_c8(data: ClaimData) -> C8Result:
    dtypes = dtype_order([*data.config["dtypes"], "float64", "float32"])
    metrics = ["overflow", "nan_output", "underflow", "invalid"]
    rows = data.rows([("softmax", {}), ("softmax", {"stable": False})], None, dtypes, metrics, "C8")
    present = set(rows["dtype"].unique())
    dtypes = [t for t in dtypes if t in present]
    pooled = pool(rows, ["dtype", "label", "metric", "scale"])
    table = pooled.pivot_table(
        index=["dtype", "label", "scale"], columns="metric", values="mean"
    ).reindex(columns=metrics)
    table = table.add_suffix("_rate").reset_index()
    table = sort_rows(table, {"dtype": dtypes, "label": [STABLE, NAIVE], "scale": None})
    by_k = pool(
        rows[rows["metric"].isin(["overflow", "underflow"])], ["dtype", "label", "metric", "k"]
    )
    by_k = by_k.pivot_table(index=["dtype", "label", "k"], columns="metric", values="mean")
    by_k = by_k.add_suffix("_rate").reset_index()
    by_k = sort_rows(by_k, {"dtype": dtypes, "label": [STABLE, NAIVE], "k": None})

    def largest(label, column):
        part = table[table["label"] == label].groupby("dtype", sort=False)[column].max()
        return tuple(float(part.get(t, math.nan)) for t in dtypes)

    flagged = rows[(rows["label"] == STABLE) & (rows["metric"] == "overflow") & (rows["mean"] > 0)]
    anatomy = sort_rows(
        stable_overflow_anatomy(data, flagged),
        {"dtype": dtypes, "distribution": None, "k": None, "scale": None},
    )
    per = anatomy.groupby("dtype", sort=False)[
        ["non_finite_output", "x_minus_max_out_of_range", "sum_out_of_range"]
    ].sum()
    native = _native_table(data, dtypes)
    native_dtypes = tuple(dict.fromkeys(native["dtype"]))

    def largest_native(column):
        part = native.groupby("dtype", sort=False)[column].max()
        return tuple(float(part[t]) for t in native_dtypes)

    stable_over = largest(STABLE, "overflow_rate")
    failing = [t for t, v in zip(dtypes, stable_over, strict=True) if v > RATE_SHARE_TOLERANCE]
    broken = []
    for t in failing:
        if t in per.index and per.loc[t, "non_finite_output"] > 0:
            part = anatomy[(anatomy["dtype"] == t) & (anatomy["non_finite_output"] > 0)]
            broken.append(
                (
                    t,
                    tuple(sorted(int(k) for k in part["k"].unique())),
                    int(per.loc[t, "x_minus_max_out_of_range"]),
                    int(per.loc[t, "sum_out_of_range"]),
                )
            )
    return C8Result(
        dtypes=tuple(dtypes),
        stable_overflow=stable_over,
        naive_overflow=largest(NAIVE, "overflow_rate"),
        stable_underflow=largest(STABLE, "underflow_rate"),
        broken=tuple(broken),
        harmless=tuple(t for t in failing if t not in {b[0] for b in broken}),
        float32_formats=tuple(
            t
            for t in dtypes
            if get_dtype(t).itemsize < 4
            and headline_compute(t, compute_modes(data.config, t)) == "float32"
        ),
        native_dtypes=native_dtypes,
        native_overflow=largest_native("overflow_rate"),
        native_nonfinite=largest_native("nonfinite_output_rate"),
        details={
            "C8_stable_vs_naive": table,
            "C8_by_k": by_k,
            "C8_stable_overflow_cells": anatomy,
            **({"C8_stable_native": native} if native_dtypes else {}),
        },
    )


def _native_table(data: ClaimData, dtypes: list[str]) -> pd.DataFrame:
    """The stable softmax's overflow and non-finite output rates in the native mode, pooled
    per (format, scale), for the formats measured natively beside float32 arithmetic
    (ClaimData.native); no row where there is none."""
    rows = data.native([("softmax", {})], NATIVE_METRICS)
    columns = [f"{metric}_rate" for metric in NATIVE_METRICS]
    if rows.empty:
        return pd.DataFrame({c: [] for c in ["dtype", "compute", "scale", *columns]})
    pooled = pool(rows, ["dtype", "metric", "scale"])
    table = pooled.pivot_table(index=["dtype", "scale"], columns="metric", values="mean")
    table = table.reindex(columns=list(NATIVE_METRICS)).add_suffix("_rate").reset_index()
    table.insert(1, "compute", "native")
    return sort_rows(table, {"dtype": dtypes, "scale": None})


def verdict_c8(r: C8Result) -> str:
    if r.wide_failing:
        return FAILS
    if r.failing or r.native_broken:
        return CONDITIONAL
    naive_seen = any(v > RATE_SHARE_TOLERANCE for v in r.naive_overflow)
    return HOLDS if naive_seen else CONDITIONAL


def value_c8(r: C8Result) -> str:
    s, n, u = r.of(r.stable_overflow), r.of(r.naive_overflow), r.of(r.stable_underflow)
    return (
        "largest overflow rate per scale (pooled) stable / naive: "
        + ", ".join(f"{t} {percent(s[t])} / {percent(n[t])}" for t in r.dtypes)
        + "; stable underflow up to "
        + ", ".join(f"{t} {percent(u[t])}" for t in r.dtypes)
    )


def conditions_c8(r: C8Result) -> str:
    if r.wide_failing:
        return "the stable computation overflowed in " + ", ".join(r.wide_failing)
    naive_seen = any(v > RATE_SHARE_TOLERANCE for v in r.naive_overflow)
    if r.failing:
        parts = []
        if r.broken:
            parts.append(
                "it still gives non-finite output in "
                + "; ".join(
                    f"{t} (K in {list(ks)}: x - max x out of range in {x_out} vectors, the sum "
                    f"of K terms in {sum_out})"
                    for t, ks, x_out, sum_out in r.broken
                )
            )
        if r.harmless:
            parts.append(
                "in "
                + ", ".join(r.harmless)
                + " only an intermediate overflowed (x - max x = -inf; e^-inf = 0, the output "
                "stays finite)"
            )
        if r.native_dtypes:
            parts.append(_native(r))
        return (
            "stable never overflows in float64/float32"
            + ("" if naive_seen else " (the naive one did not overflow here either)")
            + "; "
            + "; ".join(parts)
            + "; small probabilities still underflow to 0 at large scales"
        )
    if naive_seen or r.native_broken:
        return (
            f"stable never overflows in any measured format{_arithmetic(r)}"
            + ("" if naive_seen else " (the naive one did not overflow here either)")
            + "; small probabilities still underflow to 0 at large scales"
        )
    return "neither computation overflowed at the configured scales"


def _arithmetic(r: C8Result) -> str:
    """Which arithmetic the narrow formats were read in, when some were read in float32's
    (the frameworks' kernels): a verdict over formats is over those arithmetics, not over
    every operation rounded to the format (the native mode, where x - max x itself can
    leave float16's range): what that mode showed where it was measured, else how it
    differs."""
    if not r.float32_formats:
        return ""
    names = ", ".join(r.float32_formats)
    if r.native_dtypes:
        return f" ({names} as frameworks compute them, in float32 arithmetic; {_native(r)})"
    return (
        f" ({names} as frameworks compute them, in float32 arithmetic; with every operation "
        "rounded to the format (compute: native), x - max x itself overflows to -inf where "
        "the logits span more than the format's largest value, and e^-inf = 0 keeps the "
        "output finite)"
    )


def _native(r: C8Result) -> str:
    """The stable form in the native mode, measured: which formats flagged an overflow
    (largest pooled rate per scale), and whether the output stayed finite."""
    over, bad = r.of_native(r.native_overflow), r.of_native(r.native_nonfinite)
    flagged = [t for t in r.native_dtypes if over[t] > RATE_SHARE_TOLERANCE]
    mode = (
        "with every operation rounded to the format (compute: native, measured in "
        + " and ".join(r.native_dtypes)
        + "), "
    )
    if not flagged:
        text = mode + "no intermediate overflowed"
    else:
        text = (
            mode
            + "an intermediate overflowed in up to "
            + ", ".join(f"{percent(over[t])} of {t}'s" for t in flagged)
            + " vectors per scale (pooled; x - max x where the logits span more than the "
            "format's largest value, or the sum of the K terms past it)"
        )
    if r.native_broken:
        return (
            text
            + ", and the output is non-finite in up to "
            + ", ".join(f"{percent(bad[t])} of {t}'s" for t in r.native_broken)
            + " vectors"
        )
    if not flagged:
        return text + " (non-finite outputs 0%)"
    return text + ", and the output stays finite (non-finite outputs 0%)"


SPEC_C8 = Spec(
    "C8",
    "Frameworks must use a stable softmax (subtract the max): stable never overflows.",
    "Overflow, NaN, underflow and invalid rates of softmax with and without max-"
    "subtraction per format and scale (pooled over distributions and K), each format in its "
    "headline arithmetic; for a format also measured natively (every operation rounded to "
    "it), the stable form's overflow and non-finite output rates there.",
    verdict_c8,
    value_c8,
    conditions_c8,
)


def claim_c8(data: ClaimData) -> Claim:
    return SPEC_C8.measured(measure_c8, data)


# ------------------------------------------------------------------------------------ C10

C10_DEPTHS = (2, 3, 4)


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

    nll_lost, nll_labels = None, ()
    try:
        result = c14.measure_c14(data.frame)
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
        f"{percent(r.naive_overflow[1])} / {percent(r.stable_overflow[1])}; NLL convexity "
        f"(C14): {nll}; training (C15): {training}"
    )


def conditions_c10(r: C10Result) -> str:
    if not r.thresholds_ok:
        return "the derived thresholds are not where the computation overflows"
    reasons = r.reasons()
    fixes = (
        "stabilising (subtracting the max of E_(d-1)) fixes the last exp's overflow; it "
        f"cannot fix E_(d-1) itself, which overflows float64 past {number(r.inner_threshold[0], 5)}"
        f" (d = 2), {number(r.inner_threshold[1], 4)} (d = 3), "
        f"{number(r.depth4_inner_threshold, 5)} (d = 4)"
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
)


def claim_c10(data: ClaimData) -> Claim:
    return SPEC_C10.measured(measure_c10, data)
