"""The base psi of the exponential: C5 (any base gives "the same" softmax), C6 (psi = 1 is
uniform), C7 (psi = 100 is close to argmax but overflows), C9 (large enough to approximate
argmax, small enough to stay representable).

C5 measures the thread's statement as written: outputs of base psi and base e on the same
logits, without retuning (TV between them on the worked example and on the sweep's
vectors). It keeps the identity psi^x = e^(x ln psi) as a consistency check (the ulp
distance between softmax(base=psi) and softmax(temperature=1/ln psi)), not as the verdict.

What is measured on seeded vectors (C5's base-vs-e and identity checks on the sweep's first
vectors, C6's uniform check, C7's overflow predicted by the thresholds on every vector) is
computed by the workflow (softmaxlab.claim_checks) and read from ``claim_checks.csv``;
here only the exact constructions (the worked example, the thresholds) are computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from softmaxlab.claim_checks import QUANTITIES, STABLE, total_variation
from softmaxlab.config import method_specs
from softmaxlab.dtypes import DTYPES
from softmaxlab.formatting import number, percent
from softmaxlab.methods import check_params, normalize
from softmaxlab.methods import label as method_label
from softmaxlab.sampling import EMPIRICAL

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
    float32_formats,
    pool,
    sort_rows,
)
from .data import C7_BASES, ClaimData, entry_label, unstable_entry
from .example import EXAMPLE_X
from .thresholds import base_in, exp_overflow_threshold, max_of, threshold_check

# --- C5 ----------------------------------------------------------------------------------
# The bases and the vectors measured: softmaxlab.claim_checks (C5_BASES, C5_MAX_ELEMENTS).
#: The base the worked example is compared with (the thread's "3 or 4").
C5_EXAMPLE_BASE = 3.0
# Two outputs "the same": their total variation distance is below this (a visible difference
# in the third decimal of a probability).
C5_SAME_TV = 1e-3
# The verdict reads the sweep, not the worked example (a fixed vector, which decides
# nothing): the statement is "does not hold" where most measured (base, scale) cells
# differ, "holds with conditions" where only some do (those scales are named).
C5_MOST = 0.5
# psi^y and e^(y/T), T = 1/ln psi, y = x - max x, differ only by rounding. Per entry, with
# a = y ln psi and unit roundoff u: the exponent's argument is rounded once in the base route
# (the base rounded to the format) and twice in the temperature route (T, then y/T), each
# error amplified by exp's condition number |a|; the power/exp rounds once per route; the sum
# of K terms carries up to ceil(log2 K) roundings (pairwise summation); the quotient one. That
# is a relative difference of at most u (3|a| + 2 ceil(log2 K) + 4), i.e. that many ulps, so
# we allow |ulps| <= 4 (1 + |a| + ceil(log2 K)): within it, the two are "the same" up to
# rounding.
C5_ULPS_PER_ROUNDING = 4.0
# C5_base's counts, read back as the integers they are.
_C5_COUNTS = ("entries", "one_route_non_finite", "tv_vectors")


@dataclass(frozen=True)
class C5Result:
    """The thread's statement: TV between base psi and base e on the same logits (the worked
    example with C5_EXAMPLE_BASE; the sweep's float64 vectors per (base, scale), pooled
    over the vectors). The identity check: whether base psi equals temperature 1/ln psi
    within the rounding bound in float64, and the formats where it does not."""

    example_tv: float
    example_max_base: float
    example_max_e: float
    sweep_cells: int
    sweep_differ: int
    sweep_max_tv: float
    identity_ok: bool
    max_ulps: float
    identity_bad_formats: tuple[str, ...] = ()
    #: the scales at which every base's mean TV to base e is within C5_SAME_TV (float64)
    same_scales: tuple[float, ...] = ()
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def measure_c5(data: ClaimData) -> C5Result:
    config = data.config
    dtypes = dtype_order([*config["dtypes"], MAIN_DTYPE])
    aggregate = {
        "entries": "sum",
        "max_ulps": "max",
        "max_ulps_over_budget": "max",
        "one_route_non_finite": "sum",
        "tv_sum": "sum",
        "tv_vectors": "sum",
        "max_tv_to_base_e": "max",
    }
    # Per (distribution, K, format, base, scale), in the sweep's order of (distribution, K).
    cells = data.check("C5_base", "C5")
    present = set(cells["dtype"].unique())
    absent = [t for t in dtypes if t not in present]
    if absent:
        raise Missing(f"C5: claim_checks.csv has no C5_base rows in {', '.join(absent)}")
    parts = cells.assign(
        base=cells["variant"].astype(np.float64),
        **{column: cells[column].astype(np.int64) for column in _C5_COUNTS},
    )[["dtype", "base", "scale", *aggregate]]
    table = (
        parts.groupby(["dtype", "base", "scale"], sort=False)[list(aggregate)]
        .agg(aggregate)
        .reset_index()
    )
    # The pooling rule: the mean over the pooled vectors.
    table["mean_tv_to_base_e"] = table["tv_sum"] / table["tv_vectors"]
    table = table.drop(columns="tv_sum")
    table["within_bound"] = (table["max_ulps_over_budget"] <= C5_ULPS_PER_ROUNDING) & (
        table["one_route_non_finite"] == 0
    )
    table = sort_rows(table, {"dtype": dtypes, "base": None, "scale": None})
    ok = table.groupby("dtype", sort=False)["within_bound"].all()
    f64 = table[table["dtype"] == MAIN_DTYPE]
    x = np.array(EXAMPLE_X)
    p_b = normalize(x, "softmax", base=C5_EXAMPLE_BASE)
    p_e = normalize(x, "softmax")
    example = pd.DataFrame(
        {
            "base": ["e", number(C5_EXAMPLE_BASE)],
            **{f"p{i + 1}": [p_e[i], p_b[i]] for i in range(len(x))},
        }
    )
    differ = f64["mean_tv_to_base_e"] > C5_SAME_TV
    same = (~differ).groupby(f64["scale"], sort=True).all()
    return C5Result(
        example_tv=float(total_variation(p_b, p_e)),
        example_max_base=float(p_b.max()),
        example_max_e=float(p_e.max()),
        sweep_cells=len(f64),
        sweep_differ=int(differ.sum()),
        sweep_max_tv=float(f64["mean_tv_to_base_e"].max()),
        identity_ok=bool(ok.get(MAIN_DTYPE, False)),
        max_ulps=float(f64["max_ulps"].max()),
        identity_bad_formats=tuple(t for t in dtypes if not ok[t]),
        same_scales=tuple(float(scale) for scale in same.index[same.to_numpy()]),
        details={"C5_base_vs_e": table, "C5_worked_example": example},
    )


def verdict_c5(r: C5Result) -> str:
    if not r.identity_ok or r.sweep_differ > C5_MOST * r.sweep_cells:
        return FAILS
    return CONDITIONAL if r.sweep_differ else HOLDS


def value_c5(r: C5Result) -> str:
    return (
        f"x = [2, 4, 2, 1]: largest probability {number(r.example_max_base, 3)} with base "
        f"{number(C5_EXAMPLE_BASE)} vs {number(r.example_max_e, 3)} with e (TV "
        f"{number(r.example_tv, 3)}); sweep (float64, same logits): mean TV between base psi "
        f"and e above {C5_SAME_TV:g} in {r.sweep_differ}/{r.sweep_cells} (base, scale) cells, "
        f"up to {number(r.sweep_max_tv, 3)}; consistency check base psi = temperature "
        f"1/ln psi: {'within' if r.identity_ok else 'NOT within'} the rounding bound in "
        f"float64 (max {number(r.max_ulps, 3)} ulps)"
        + (f", outside it in {', '.join(r.identity_bad_formats)}" if r.identity_bad_formats else "")
    )


def conditions_c5(r: C5Result) -> str:
    if not r.identity_ok:
        return "base psi is not even temperature 1/ln psi up to rounding in float64"
    absorbed = (
        "equal up to a temperature 1/ln psi that a trained model absorbs into its weights "
        "(psi^x = e^(x ln psi): the logits are scaled by ln psi)"
    )
    same = (
        f"; every base agrees with e within TV {C5_SAME_TV:g} only at scale "
        + ", ".join(number(s) for s in r.same_scales)
        if r.same_scales
        else ""
    )
    if verdict_c5(r) == FAILS:
        return f"not the same outputs for the same logits in most measured cells{same}; {absorbed}"
    if verdict_c5(r) == CONDITIONAL:
        return f"the same in most measured cells, not in all{same}; {absorbed}"
    return f"the outputs agree within TV {C5_SAME_TV:g} in every measured cell"


def headline_c5(r: C5Result) -> tuple[str, float]:
    return (
        "A base is a temperature: for the same logits another base gives other "
        "probabilities (on the thread's example base three gives the largest class "
        f"{number(r.example_max_base, 3)} instead of base e's), but base psi is softmax of "
        "the logits times ln psi, a factor a trained model absorbs into its weights (C5).",
        r.example_max_base,
    )


SPEC_C5 = Spec(
    "C5",
    "Any base psi (3, 4, ...) gives 'the same' softmax; e just has a nicer derivative.",
    "softmax(base=psi) vs softmax (base e) on the same logits, without retuning: TV between "
    "them on x = [2, 4, 2, 1] and on the sweep's first vectors of each cell (float64, psi in "
    "2, 3, 4, 10, 100). The verdict reads the sweep: the outputs differ where the mean TV "
    f"exceeds {C5_SAME_TV:g}, in most (base, scale) cells or in some. Consistency check: "
    "softmax(base=psi) vs softmax(temperature=1/ln psi) in ulps, every configured format.",
    verdict_c5,
    value_c5,
    conditions_c5,
    headline_c5,
    outcomes=(
        "does not hold when the check base psi = temperature 1/ln psi fails, or base psi and "
        f"e differ (mean TV above {C5_SAME_TV:g}) in more than {C5_MOST:.0%} of the (base, "
        "scale) cells; with conditions when they differ in some; holds when in none. Set by "
        "algebra: for psi other than e the outputs differ on every vector whose logits are "
        f"not all equal, so the verdict says where the difference exceeds {C5_SAME_TV:g}: "
        "the grid's bases and scales and that threshold decide it."
    ),
)


def claim_c5(data: ClaimData) -> Claim:
    return SPEC_C5.measured(measure_c5, data)


# --- C6 ----------------------------------------------------------------------------------
# The vectors measured: softmaxlab.claim_checks (C6_VECTORS, C6_MAX_ELEMENTS).
C6_COLUMNS = ("dtype", "k", "stable", *QUANTITIES["C6_uniform"])


@dataclass(frozen=True)
class C6Result:
    """softmax(base=1) on seeded vectors: (format, K, stable) cases where it is not exactly
    uniform with TV = 1 - m/K, whether float64 is exact everywhere, and the sweep's largest
    |TV - (1 - 1/K)| in float64 (NaN when the sweep did not run base 1)."""

    cases: int
    bad: tuple[tuple[str, int, bool, float], ...]
    float64_ok: bool
    sweep_deviation: float = math.nan
    #: (format, K, stable) cases, not in ``bad``, where 1/K rounds to 0: every entry is 0,
    #: equal but no probability distribution.
    massless: tuple[tuple[str, int, bool], ...] = ()
    #: (format, K, stable, K fl(1/K)) cases, not in ``bad``, whose entries are equal and
    #: non-zero but whose TV is off 1 - m/K beyond what one rounding of 1/K explains (1/K
    #: below the format's normal range): equal entries summing to K fl(1/K), not to 1.
    unnormalised: tuple[tuple[str, int, bool, float], ...] = ()
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def measure_c6(data: ClaimData) -> C6Result:
    dtypes = dtype_order([*data.config["dtypes"], MAIN_DTYPE])
    cells = data.check("C6_uniform", "C6")
    table = cells.assign(
        stable=cells["variant"] == STABLE, vectors=cells["vectors"].astype(np.int64)
    )
    table = table.loc[:, list(C6_COLUMNS)]
    details = {"C6_uniform": table}
    sweep_dev = math.nan
    label = method_label("softmax", {"base": 1.0, "stable": False})
    if label in data.by_label:
        part = data.by_label[label]
        part = part[part["metric"] == "tv_to_argmax"]
        part = part.assign(deviation=(part["mean"] - (1 - 1 / part["k"])).abs())
        # a cell without a mean has no vector whose logits and output are both finite (in
        # the default sweep: float8_e4m3fn cells whose every logit the cast made NaN)
        sweep = part.groupby("dtype", sort=False).agg(
            cells=("deviation", "size"),
            max_abs_deviation_from_1_minus_1_over_k=("deviation", "max"),
            cells_without_a_measured_vector=("n", lambda n: int((n == 0).sum())),
        )
        sweep = sort_rows(sweep.reset_index(), {"dtype": dtypes})
        details["C6_sweep"] = sweep
        f64 = sweep[sweep["dtype"] == MAIN_DTYPE]
        if len(f64):
            sweep_dev = float(f64["max_abs_deviation_from_1_minus_1_over_k"].iloc[0])
    equal = table["exactly_uniform"] == 1
    bad = table[(table["ok_share"] < 1) & ~equal]
    zero = equal & (table["one_over_k_in_dtype"] == 0)
    off = table[(table["ok_share"] < 1) & equal & ~zero]
    return C6Result(
        cases=len(table),
        bad=tuple(
            (str(t), int(k), bool(s), float(u))
            for t, k, s, u in bad[["dtype", "k", "stable", "exactly_uniform"]].itertuples(
                index=False
            )
        ),
        float64_ok=bool((table[table["dtype"] == MAIN_DTYPE]["ok_share"] == 1).all()),
        sweep_deviation=sweep_dev,
        massless=tuple(
            (str(t), int(k), bool(s))
            for t, k, s in table[zero][["dtype", "k", "stable"]].itertuples(index=False)
        ),
        unnormalised=tuple(
            (str(t), int(k), bool(s), float(k * q))
            for t, k, s, q in off[["dtype", "k", "stable", "one_over_k_in_dtype"]].itertuples(
                index=False
            )
        ),
        details=details,
    )


def verdict_c6(r: C6Result) -> str:
    if not r.bad and not r.massless and not r.unnormalised:
        return HOLDS
    return CONDITIONAL if r.float64_ok else FAILS


def value_c6(r: C6Result) -> str:
    return (
        f"every entry equal, with TV = 1 - m/K (m = number of maximisers) within one "
        "rounding of 1/K to the format, in "
        f"{r.cases - len(r.bad) - len(r.massless) - len(r.unnormalised)}/{r.cases} (format, "
        "K, stable) cases"
        + (
            f"; sweep softmax(base=1): max |TV - (1 - 1/K)| in float64 "
            f"{number(r.sweep_deviation, 3)}"
            if math.isfinite(r.sweep_deviation)
            else ""
        )
    )


def conditions_c6(r: C6Result) -> str:
    if not r.float64_ok:
        return "not exactly uniform in float64"
    parts = []
    if r.bad:
        where = "; ".join(
            f"{t} K={k} ({'stable' if s else 'naive'}): uniform in {percent(u)}"
            for t, k, s, u in r.bad
        )
        parts.append(f"fails where the sum K is not representable: {where}")
    if r.unnormalised:
        where = ", ".join(
            dict.fromkeys(
                f"{t} K={k} (sum {number(total, 3)})" for t, k, _, total in r.unnormalised
            )
        )
        parts.append(
            f"1/K lies below the normal range, where the format's spacing is coarse, and "
            f"rounds far from it in {where}: equal entries, but no distribution"
        )
    if r.massless:
        where = ", ".join(dict.fromkeys(f"{t} K={k}" for t, k, _ in r.massless))
        parts.append(f"1/K rounds to 0 in {where}: every entry is 0, equal but no distribution")
    if not parts:
        return "1^x = 1 exactly in every format; p = fl(1/K)"
    return "exact in float64; " + "; ".join(parts)


SPEC_C6 = Spec(
    "C6",
    "psi = 1 gives the uniform distribution, far from argmax.",
    "softmax(base=1) on seeded vectors in every format: all entries equal, and TV to the "
    "one-hot = 1 - 1/K (1 - m/K with m tied maximisers) within what one rounding of 1/K "
    "explains (the format's unit roundoff, plus float64's own error).",
    verdict_c6,
    value_c6,
    conditions_c6,
    outcomes=(
        "holds when base 1 gives exactly the uniform output (TV = 1 - m/K) in every (format, "
        "K, stable) case; with conditions when float64 does everywhere but a narrower format "
        "does not; does not hold when float64 does not. Exact: 1^x = 1 for every x, so only "
        "a format's rounding (1/K outside its range) can break it."
    ),
)


def claim_c6(data: ClaimData) -> Claim:
    return SPEC_C6.measured(measure_c6, data)


# --- C7 ----------------------------------------------------------------------------------
# The measured overflow rate agrees with the prediction from the analytic thresholds when
# the counts differ by less than one vector per cell (the same vectors are regenerated).
C7_COUNT_TOLERANCE = 0.5


@dataclass(frozen=True)
class C7Result:
    """float64 thresholds (psi = 100, e) and whether [0, t -/+ 1 ulp] confirms them; the naive
    base-100 float64 overflow rate (largest pooled per scale) and the first scale with any
    (NaN: none); agreement of measured and predicted counts; base 100 at least as close to
    argmax as e at this share of scales; stable softmax's largest float64 overflow rate;
    the base-100 thresholds of the other formats."""

    threshold_100: float
    threshold_e: float
    thresholds_ok: bool
    naive100_max: float
    first_scale: float
    agreement: float
    closer_share: float
    stable_max: float
    narrow: tuple[tuple[str, float], ...] = ()
    #: The narrow formats read in float32 arithmetic (their headline compute mode), whose
    #: naive computation overflows at float32's threshold, not their own; and that threshold.
    float32_formats: tuple[str, ...] = ()
    float32_threshold: float = math.nan
    #: "Approximates argmax well": at the grid scale nearest 1, the pooled mean TV to the
    #: one-hot of (stable) base 100 and of e, float64 (NaN: not measured).
    unit_tv: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    #: "Overflows easily" on real logits: per empirical distribution (a file's logits, such
    #: as a trained classifier's), the naive base-100 float64 overflow rate at scale 1, the
    #: logits as they are.
    real: tuple[tuple[str, float], ...] = ()
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def measure_c7(data: ClaimData, thresholds: pd.DataFrame) -> C7Result:
    config = data.config
    dtypes = dtype_order([*config["dtypes"], MAIN_DTYPE])
    entries = [unstable_entry(b) for b in C7_BASES]
    rows = data.rows([*entries, ("softmax", {})], None, dtypes, ["overflow"], "C7")
    measured = rows[rows["label"] != "softmax"][
        ["distribution", "scale", "k", "dtype", "label", "mean", "n"]
    ]
    present = set(rows["dtype"])
    prediction = _overflow_prediction(data, present)
    cell = measured.merge(prediction, on=["distribution", "scale", "k", "dtype", "label"])
    # A cell whose every vector has non-finite logits once rounded to the format (the cast:
    # float8_e4m3fn at large scales) measures nothing and predicts nothing: no comparison.
    cell = cell[cell["n"] > 0].reset_index(drop=True)
    cell["count_difference"] = (cell["mean"] - cell["predicted"]).abs() * cell["vectors"]
    cell["agrees"] = cell["count_difference"] < C7_COUNT_TOLERANCE
    pooled = pool(rows, ["dtype", "label", "scale"]).rename(
        columns={"mean": "overflow_rate", "n": "vectors"}
    )
    predicted = pool(
        prediction.rename(columns={"predicted": "mean", "vectors": "n"}),
        ["dtype", "label", "scale"],
    ).rename(columns={"mean": "predicted_rate"})[["dtype", "label", "scale", "predicted_rate"]]
    agree = cell.groupby(["dtype", "label", "scale"], sort=True)["agrees"].all().reset_index()
    table = pooled.merge(predicted, how="left").merge(agree, how="left")
    labels = [entry_label(e) for e in entries] + ["softmax"]
    table = sort_rows(table, {"dtype": dtypes, "label": labels, "scale": None})
    # "approximates argmax well": base-100 (stable) vs base e, distance to the one-hot
    b100 = entry_label(("softmax", {"base": 100.0}))
    tv_rows = data.rows(
        [("softmax", {}), ("softmax", {"base": 100.0})], None, [MAIN_DTYPE], ["tv_to_argmax"], "C7"
    )
    tv = pool(tv_rows, ["label", "scale"]).pivot_table(
        index="scale", columns="label", values="mean"
    )
    if not {"softmax", b100} <= set(tv.columns):
        raise Missing(f"C7 needs softmax and {b100} in {MAIN_DTYPE}")
    sharper = tv[tv["softmax"] > 0]
    closer_share = float((sharper[b100] <= sharper["softmax"]).mean()) if len(sharper) else 1.0
    unit = tv.index[np.argmin(np.abs(np.log(tv.index.to_numpy(np.float64))))]
    unit_tv = (float(unit), float(tv.at[unit, b100]), float(tv.at[unit, "softmax"]))
    th = thresholds.set_index(["dtype", "base"])
    t100, te = th.loc[(MAIN_DTYPE, "100")], th.loc[(MAIN_DTYPE, "e")]
    naive100 = table[(table["dtype"] == MAIN_DTYPE) & (table["label"] == labels[-2])]
    over = naive100[naive100["overflow_rate"] > RATE_SHARE_TOLERANCE]
    stable_f64 = table[(table["label"] == "softmax") & (table["dtype"] == MAIN_DTYPE)]
    empirical = [n for n, spec in config["distributions"].items() if spec["family"] == EMPIRICAL]
    at_one = rows[
        rows["distribution"].isin(empirical)
        & (rows["scale"] == 1.0)
        & (rows["dtype"] == MAIN_DTYPE)
        & (rows["label"] == labels[-2])
    ]
    real = tuple(
        (str(name), float(part["mean"].iloc[0]))
        for name, part in pool(at_one, ["distribution"]).groupby("distribution", sort=False)
    )
    return C7Result(
        threshold_100=float(t100["threshold"]),
        threshold_e=float(te["threshold"]),
        thresholds_ok=bool(t100["consistent"] and te["consistent"]),
        naive100_max=float(naive100["overflow_rate"].max()),
        first_scale=float(over["scale"].min()) if len(over) else math.nan,
        agreement=float(cell["agrees"].mean()) if len(cell) else math.nan,
        closer_share=closer_share,
        stable_max=float(stable_f64["overflow_rate"].max()) if len(stable_f64) else math.nan,
        narrow=tuple(
            (t, float(th.loc[(t, "100"), "threshold_with_rounding"]))
            for t in dtypes
            if t != MAIN_DTYPE
        ),
        float32_formats=float32_formats(config, dtypes),
        float32_threshold=float(th.loc[("float32", "100"), "threshold_with_rounding"]),
        unit_tv=unit_tv,
        real=real,
        details={"C7_thresholds": thresholds, "C7_overflow": table, "C7_overflow_cells": cell},
    )


def verdict_c7(r: C7Result) -> str:
    if not r.thresholds_ok or math.isnan(r.first_scale):
        return FAILS
    # Unconditionally true only if even the stable computation overflows.
    return HOLDS if r.stable_max > RATE_SHARE_TOLERANCE else CONDITIONAL


def value_c7(r: C7Result) -> str:
    first = number(r.first_scale) if math.isfinite(r.first_scale) else "none"
    return (
        f"float64 thresholds: psi=100 {number(r.threshold_100, 6)}, e {number(r.threshold_e, 8)} "
        f"(construction [0, t -/+ 1 ulp]: {'confirmed' if r.thresholds_ok else 'NOT confirmed'}); "
        f"naive base-100 overflow rate in float64 up to {percent(r.naive100_max)} (pooled per "
        f"scale; first at scale {first}){_real_text(r)}; measured = predicted by the thresholds in "
        f"{percent(r.agreement)} of cells; base 100 at least as close to argmax as e at "
        f"{percent(r.closer_share)} of scales{_unit_tv_text(r)}"
    )


def _real_text(r: C7Result) -> str:
    """The naive base-100 float64 overflow rate on real logits as they are (scale 1)."""
    if not r.real:
        return ""
    # without n: an empirical distribution's vectors are draws from its file's rows
    return ", on real logits as they are (scale 1): " + ", ".join(
        f"{name} {percent(rate)}" for name, rate in r.real
    )


def _unit_tv_text(r: C7Result) -> str:
    """How close "close to argmax" is at unit logits: both mean distances there."""
    scale, tv_100, tv_e = r.unit_tv
    if not math.isfinite(scale):
        return ""
    return (
        f" (mean TV to the one-hot at scale {number(scale)}: base 100 {number(tv_100, 3)}, "
        f"e {number(tv_e, 3)})"
    )


def conditions_c7(r: C7Result) -> str:
    if not r.thresholds_ok:
        return "the derived threshold does not match where the computation overflows"
    if math.isnan(r.first_scale):
        return "base 100 never overflowed float64 at the configured scales"
    if verdict_c7(r) == HOLDS:
        return "even the stable (max-subtracted) computation overflows in float64"
    narrow = ", ".join(f"{t} {number(v, 4)}" for t, v in r.narrow)
    framework = (
        f"; {', '.join(r.float32_formats)} as frameworks compute them, in float32 arithmetic, "
        f"overflow where float32 does, at {number(r.float32_threshold, 4)}"
        if r.float32_formats
        else ""
    )
    return (
        f"only the naive computation, and only once a logit exceeds {number(r.threshold_100, 5)} "
        f"(scale >= {number(r.first_scale)} here); the stable computation's overflow rate in "
        f"float64 is {percent(r.stable_max)} (other formats: C8); narrower formats overflow "
        f"much earlier in their own arithmetic (base-100 thresholds: "
        f"{narrow or 'not configured'}){framework}"
    )


def headline_c7(r: C7Result) -> tuple[str, float]:
    stable = (
        "the stable form never overflowed in double precision in the sweep"
        if not r.stable_max > RATE_SHARE_TOLERANCE
        else "yet even the stable form overflowed in double precision in the sweep"
    )
    return (
        "For numerics, exp overflows double precision once a logit exceeds "
        f"{number(r.threshold_e, 5)}, so frameworks subtract the largest logit first, which "
        f"leaves the output unchanged; {stable} (C7, C8).",
        r.threshold_e,
    )


SPEC_C7 = Spec(
    "C7",
    "psi = 100 approximates argmax well but overflows float64 easily (max about 1e308).",
    "Overflow threshold per format, ln(max)/ln(psi), and where overflow happens once the "
    "format rounds, ln(max + half an ulp)/ln(psi rounded to the format) (the thresholds "
    "quoted: psi = 100 is 96 in the 8-bit formats), from ml_dtypes.finfo, checked on "
    "[0, t -/+ 1 ulp]; naive overflow rates per format and scale (pooled) vs the rate the "
    "thresholds predict on the same vectors.",
    verdict_c7,
    value_c7,
    conditions_c7,
    headline_c7,
    outcomes=(
        "does not hold when the thresholds are not where float64 overflows, or base 100 never "
        "overflowed naive float64 at the configured scales; holds when even the stable "
        "computation overflowed; with conditions otherwise. Set by algebra once a scale "
        "passes the threshold: the stable computation cannot overflow on finite float64 "
        "input while the naive one then does, so 'with conditions' comes out; measured: how "
        "often, and from which scale."
    ),
)


def claim_c7(data: ClaimData, thresholds: pd.DataFrame) -> Claim:
    return SPEC_C7.measured(measure_c7, data, thresholds)


# --- C9 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class C9Result:
    """(format, scale) cells where a larger beta = ln(psi)/T of the naive computation is
    closer to argmax but overflows more; stable softmax's largest float64 overflow rate,
    its largest beta and the underflow rate there."""

    tradeoff: tuple[tuple[str, float], ...]
    stable_max: float
    max_beta: float
    top_underflow: float
    #: The narrow formats read in float32 arithmetic (their headline compute mode): their
    #: naive computation overflows where float32's does, so their cells echo float32's.
    float32_formats: tuple[str, ...] = ()
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def measure_c9(data: ClaimData) -> C9Result:
    dtypes = dtype_order([*data.config["dtypes"], MAIN_DTYPE])
    entries = [(n, p) for n, p, _ in method_specs(data.config) if n == "softmax"]
    entries += [unstable_entry(b) for b in C7_BASES]
    entries += [("softmax", {}), ("softmax", {"base": 100.0})]
    metrics = ["tv_to_argmax", "overflow", "underflow", "nonfinite_output"]
    rows = data.rows(entries, None, dtypes, metrics, "C9")
    pooled = pool(rows, ["dtype", "label", "metric", "scale"])
    table = (
        pooled.pivot_table(index=["dtype", "label", "scale"], columns="metric", values="mean")
        .reindex(columns=metrics)
        .reset_index()
        .rename(
            columns={
                "tv_to_argmax": "tv_to_argmax_finite",
                "overflow": "overflow_rate",
                "underflow": "underflow_rate",
                "nonfinite_output": "nonfinite_output_rate",
            }
        )
    )
    params = {entry_label((name, p)): check_params(name, dict(p)) for name, p in entries}
    table["beta"] = [
        math.log(params[lab]["base"]) / params[lab]["temperature"] for lab in table["label"]
    ]
    table["stable"] = [params[lab]["stable"] for lab in table["label"]]
    order = list(dict.fromkeys(entry_label(e) for e in entries))
    table = sort_rows(table, {"dtype": dtypes, "scale": None, "label": order})
    table, tradeoff = frontier(table)
    tradeoff = sorted(set(tradeoff), key=lambda c: (dtypes.index(c[0]), c[1]))
    stable_rows = table[table["stable"]]
    stable_f64 = stable_rows[stable_rows["dtype"] == MAIN_DTYPE]["overflow_rate"]
    max_beta = float(stable_rows["beta"].max()) if len(stable_rows) else math.nan
    top = stable_rows[(stable_rows["dtype"] == MAIN_DTYPE) & (stable_rows["beta"] == max_beta)]
    return C9Result(
        tradeoff=tuple(tradeoff),
        stable_max=float(stable_f64.max()) if len(stable_f64) else math.nan,
        max_beta=max_beta,
        top_underflow=float(top["underflow_rate"].max()) if len(top) else math.nan,
        float32_formats=float32_formats(data.config, dtypes),
        details={"C9_frontier": table},
    )


def frontier(table: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, float]]]:
    """The frontier columns of C9's table (one row per format, label and scale, with
    tv_to_argmax_finite, overflow_rate, nonfinite_output_rate, beta, stable) and the
    (format, scale) cells where a larger beta of the naive computation is closer to argmax
    and overflows more.

    The distance of a map is measured on every vector: a row's mean TV is over the vectors
    whose output is finite, and a naive row that loses some to overflow keeps those it
    survives, which can look closer to argmax than the same map computed stably on all
    (float64 at scale 1000: naive softmax 0.0017, stable 0.0227). So ``tv_to_argmax_all``
    is the row's own TV where none of its outputs is non-finite, else that of its stable
    form (the same beta, stable, itself without a non-finite output) where the table has
    one, else NaN: not comparable, so neither on the frontier nor in a trade-off.
    ``pareto``: no other comparable row of the cell is at least as close (tv_to_argmax_all)
    and overflows no more, one of the two strictly."""
    table = table.copy()
    tv_all = table["tv_to_argmax_finite"].where(table["nonfinite_output_rate"] == 0)
    stable = table.assign(tv=tv_all)[table["stable"]].set_index(["dtype", "scale", "beta"])["tv"]
    stable = stable[~stable.index.duplicated()]
    keys = pd.MultiIndex.from_frame(table[["dtype", "scale", "beta"]])
    from_stable = pd.Series(stable.reindex(keys).to_numpy(), index=table.index)
    table["tv_to_argmax_all"] = tv_all.fillna(from_stable.where(~table["stable"]))
    pareto = np.zeros(len(table), dtype=bool)
    tradeoff = []
    for (dtype, scale), part in table.groupby(["dtype", "scale"], sort=False):
        tv = part["tv_to_argmax_all"].to_numpy(np.float64)
        ov = part["overflow_rate"].to_numpy(np.float64)
        comparable = ~np.isnan(tv)
        for j, idx in enumerate(part.index):
            if comparable[j]:
                better = (tv <= tv[j]) & (ov <= ov[j]) & ((tv < tv[j]) | (ov < ov[j]))
                pareto[idx] = not np.any(better & comparable)
        naive = part[~part["stable"] & comparable]
        beta = naive["beta"].to_numpy()
        tv_n = naive["tv_to_argmax_all"].to_numpy()
        ov_n = naive["overflow_rate"].to_numpy()
        # a pair (i, j): the larger beta is closer to argmax and overflows more
        pairs = (
            (beta[:, None] > beta[None, :])
            & (tv_n[:, None] < tv_n[None, :])
            & (ov_n[:, None] > ov_n[None, :])
        )
        if pairs.any():
            tradeoff.append((str(dtype), float(scale)))
    table["pareto"] = pareto
    return table, tradeoff


def verdict_c9(r: C9Result) -> str:
    if not r.tradeoff:
        return FAILS
    return CONDITIONAL if not r.stable_max > RATE_SHARE_TOLERANCE else HOLDS


def value_c9(r: C9Result) -> str:
    cells = ", ".join(f"{t}@{number(s)}" for t, s in r.tradeoff[:8]) + (
        " ..." if len(r.tradeoff) > 8 else ""
    )
    return (
        f"naive computation: a larger beta = ln(psi)/T is closer to argmax but overflows more "
        f"in {len(r.tradeoff)} (format, scale) cells ({cells or 'none'}){_echoes(r)}; stable "
        f"softmax (beta up to {number(r.max_beta, 3)}) overflow rate in float64 "
        f"{percent(r.stable_max)}"
    )


def _echoes(r: C9Result) -> str:
    """How many of the cells are formats read in float32 arithmetic, and whether they lie
    at float32's own scales: those formats overflow where float32 does."""
    echo = [(t, s) for t, s in r.tradeoff if t in r.float32_formats]
    if not echo:
        return ""
    own = {s for t, s in r.tradeoff if t == "float32"}
    where = " (at float32's own scales)" if {s for _, s in echo} <= own else ""
    return (
        f"; {len(echo)} of them in {', '.join(r.float32_formats)}, computed in float32 "
        f"arithmetic as frameworks do, so overflowing where float32 does{where}"
    )


def conditions_c9(r: C9Result) -> str:
    if not r.tradeoff:
        return "no cell where a larger beta trades distance for overflow"
    if verdict_c9(r) == HOLDS:
        return "even the stable computation overflows at large beta"
    return (
        "the trade-off is real only for the naive computation; with the max subtracted "
        f"every measured beta stays finite in float64 (overflow 0%), and what remains at "
        f"large beta is underflow of the small probabilities to 0 (up to "
        f"{percent(r.top_underflow)} of vectors at beta {number(r.max_beta, 3)} in float64)"
    )


SPEC_C9 = Spec(
    "C9",
    "The constant must be large enough to approximate argmax and small enough to stay "
    "representable.",
    "For each base/temperature (beta = ln psi / T) and format: mean TV to argmax vs overflow "
    "rate per scale (pooled); TV on every vector (a naive form that loses outputs to "
    "overflow is read from its stable form, else not compared); Pareto frontier per "
    "(format, scale).",
    verdict_c9,
    value_c9,
    conditions_c9,
    outcomes=(
        "does not hold when no (format, scale) cell has a larger beta of the naive "
        "computation closer to argmax and overflowing more; holds when even the stable "
        "computation overflowed in float64; with conditions otherwise. Set by algebra: a "
        "larger beta is closer to argmax on every vector, so any cell where the naive form "
        "overflows more at the larger beta gives 'with conditions'; measured: which cells."
    ),
)


def claim_c9(data: ClaimData) -> Claim:
    return SPEC_C9.measured(measure_c9, data)


# --- the thresholds (exact constructions) and the predicted overflow (claim_checks.csv) --


def threshold_table() -> pd.DataFrame:
    rows = []
    for dtype in DTYPES:
        for base in C7_BASES:
            t_nominal = exp_overflow_threshold(dtype, base, round_base=False)
            t = exp_overflow_threshold(dtype, base, rounding=True)
            check = threshold_check(dtype, t, "softmax", base=base_in(dtype, base), stable=False)
            rows.append(
                {
                    "dtype": dtype,
                    "base": "e" if base == math.e else number(base),
                    "base_in_dtype": base_in(dtype, base),
                    "max": max_of(dtype),
                    "threshold": t_nominal,
                    "threshold_with_rounding": t,
                    **check,
                }
            )
    return pd.DataFrame(rows)


def _overflow_prediction(data: ClaimData, dtypes: set[str]) -> pd.DataFrame:
    """The overflow rate the thresholds predict per cell and naive base (C7_predicted of
    claim_checks.csv, on the sweep's own vectors), in the formats ``dtypes``: columns
    distribution, scale, k, dtype, label, predicted, vectors."""
    cells = data.check("C7_predicted", "C7")
    cells = cells[cells["dtype"].isin(dtypes)].reset_index(drop=True)
    return cells.rename(columns={"variant": "label", "n": "vectors"})[
        ["distribution", "scale", "k", "dtype", "label", "predicted", "vectors"]
    ]
