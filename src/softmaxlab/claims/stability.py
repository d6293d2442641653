"""Numerical stability: C8, the max-subtracted softmax (C10, why not e^e^e^x: c10.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from softmaxlab.formatting import number, percent

from .common import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    RATE_SHARE_TOLERANCE,
    Claim,
    Missing,
    Spec,
    dtype_order,
    float32_formats,
    pool,
    sort_rows,
)
from .data import NATIVE_METRICS, ClaimData

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
    #: Per format, the largest pooled (per scale) share of vectors whose logits are not
    #: finite once rounded to it (input_nonfinite): the rates above are among the others.
    input_nonfinite: tuple[float, ...] = ()
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
    #: The native cell with the largest overflow rate (format, distribution, K, scale,
    #: rate, vectors): a pooled rate per scale averages it with the cells that cannot.
    native_worst: tuple[str, str, int, float, float, int] | None = None
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    def of(self, values: tuple[float, ...]) -> dict[str, float]:
        return dict(zip(self.dtypes, values, strict=True))

    def of_native(self, values: tuple[float, ...]) -> dict[str, float]:
        return dict(zip(self.native_dtypes, values, strict=True))

    @property
    def native_flagged(self) -> list[str]:
        """The formats where an intermediate of the stable form overflowed natively."""
        over = self.of_native(self.native_overflow)
        return [t for t, v in over.items() if v > RATE_SHARE_TOLERANCE]

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
    metrics = ["overflow", "nan_output", "underflow", "invalid", "input_nonfinite"]
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
        rows[rows["metric"].isin(["overflow", "underflow", "input_nonfinite"])],
        ["dtype", "label", "metric", "k"],
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
        input_nonfinite=largest(STABLE, "input_nonfinite_rate"),
        broken=tuple(broken),
        harmless=tuple(t for t in failing if t not in {b[0] for b in broken}),
        float32_formats=float32_formats(data.config, dtypes),
        native_dtypes=native_dtypes,
        native_overflow=largest_native("overflow_rate"),
        native_nonfinite=largest_native("nonfinite_output_rate"),
        native_worst=_native_worst(data),
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


def _native_worst(data: ClaimData) -> tuple[str, str, int, float, float, int] | None:
    """The native cell (C8Result.native_worst) where the stable softmax overflowed most
    often; None where no native cell overflowed. Ties: the first in the summary's order."""
    rows = data.native([("softmax", {})], ["overflow"])
    rows = rows[rows["n"] > 0]
    if rows.empty or not (rows["mean"] > 0).any():
        return None
    worst = rows.loc[rows["mean"].idxmax()]
    return (
        str(worst["dtype"]),
        str(worst["distribution"]),
        int(worst["k"]),
        float(worst["scale"]),
        float(worst["mean"]),
        int(worst["n"]),
    )


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
        + _excluded(r)
    )


def _excluded(r: C8Result) -> str:
    """The share of vectors the rates leave out, per format where there is one: those whose
    logits are not finite once rounded to the format (the cast's, not softmax's)."""
    out = r.of(r.input_nonfinite) if r.input_nonfinite else {}
    shown = [t for t in r.dtypes if out.get(t, 0.0) > 0]
    if not shown:
        return ""
    return (
        "; every rate among the vectors whose logits are finite in the format: not so for up "
        "to "
        + ", ".join(f"{percent(out[t])} of {t}'s" for t in shown)
        + " at a scale (input_nonfinite, the cast's)"
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
        # outside the parenthesis: the native mode is not what "never overflows" was read in
        counted = (
            ": reported, not counted, as the verdict reads each format in the frameworks' "
            "arithmetic"
            if r.native_flagged and not r.native_broken
            else ""
        )
        return (
            f" ({names} as frameworks compute them, in float32 arithmetic); {_native(r)}{counted}"
        )
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
    flagged = r.native_flagged
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
            + " vectors per scale (pooled"
            + _worst_cell(r)
            + "; x - max x where the logits span more than the format's largest value, or "
            "the sum of the K terms past it)"
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


def _worst_cell(r: C8Result) -> str:
    """The native cell where the stable form overflowed most, in words."""
    if r.native_worst is None:
        return ""
    dtype, distribution, k, scale, rate, n = r.native_worst
    return (
        f"; in one cell {percent(rate)}, {number(round(rate * n))} of {number(n)} vectors: "
        f"{dtype} {distribution} K={number(k)} at scale {number(scale)}"
    )


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
    outcomes=(
        "does not hold when the stable softmax overflowed in float64 or float32; with "
        "conditions when it overflowed in another format as frameworks compute it, or gave a "
        "non-finite output with every operation in the format (native; an intermediate that "
        "overflows there while the output stays finite is reported, not counted), or when "
        "the naive one never overflowed; holds otherwise. Set by algebra in float32 or "
        "wider arithmetic: x - max x cannot overflow on logits as small as the sweep's, so "
        "there 'holds' needs only the naive form to overflow somewhere; measured: the "
        "native mode in 16 or 8 bits, where the stable form can fail, where it was run."
    ),
)


def claim_c8(data: ClaimData) -> Claim:
    return SPEC_C8.measured(measure_c8, data)
