"""C2 (softmax vs linear: which is closer to the argmax) and C13 (the "max" in softmax).

C2 is measured on logits with non-negative support only: on signed logits linear's output
is not a probability vector (its TV to the one-hot exceeds 1), so there it is reported as
linear's invalid share, not compared. The crossover scale comes from softmaxlab.crossover's
root finding with its 95% interval when that table is given; otherwise it is interpolated
in log(scale) between the sweep's grid points, and the text says so.

C13 compares the sweep's mean TV of softmax with softmaxlab.orderstats' value computed from
order statistics for normal logits, where that table is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from softmaxlab.formatting import interval, number, percent

from .common import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    MAIN_DTYPE,
    Claim,
    Missing,
    Spec,
    log_crossing,
    nearest_to_one,
    nonnegative_support,
    pool,
    sort_rows,
)
from .data import ClaimData

ROOT_FINDING = "root finding"
INTERPOLATED = "interpolated between grid points"

# ------------------------------------------------------------------------------------- C2


@dataclass(frozen=True)
class Crossover:
    distribution: str
    k: int
    scale: float  # NaN: no crossover
    low: float
    high: float
    source: str  # ROOT_FINDING or INTERPOLATED


@dataclass(frozen=True)
class C2Result:
    """Share of non-negative-logit cells where softmax is closer to the one-hot than linear,
    the crossovers, and linear's pooled invalid share on signed logits (NaN: none)."""

    closer_share: float
    cells: int
    crossovers: tuple[Crossover, ...]
    signed_invalid: float
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def _crossover_rows(data: ClaimData, table: pd.DataFrame) -> list[Crossover]:
    """The crossover of each (distribution, K): the root-finding table's when it has the row,
    else interpolated in log(scale) between the grid points where the order changes."""
    ref = None
    if data.crossover is not None and len(data.crossover):
        ref = data.crossover.set_index(["distribution", "k"])
    out = []
    for (dist, k), part in table.groupby(["distribution", "k"], sort=False):
        if ref is not None and (dist, k) in ref.index:
            row = ref.loc[(dist, k)]
            out.append(
                Crossover(
                    dist,
                    int(k),
                    float(row["s_star"]),
                    float(row["s_low"]),
                    float(row["s_high"]),
                    ROOT_FINDING,
                )
            )
            continue
        d = (part["tv_linear"] - part["tv_softmax"]).to_numpy(np.float64)
        scales = part["scale"].to_numpy(np.float64)
        cross = log_crossing(scales, np.nan_to_num(d, nan=-np.inf)) if len(d) > 1 else math.nan
        out.append(Crossover(dist, int(k), cross, math.nan, math.nan, INTERPOLATED))
    return out


def measure_c2(data: ClaimData) -> C2Result:
    positive = {d: s for d, s in data.with_support(True).items() if nonnegative_support(s)}
    rows = data.rows(
        [("softmax", {}), ("linear", {})], positive, [MAIN_DTYPE], ["tv_to_argmax"], "C2"
    )
    wide = rows.pivot_table(
        index=["distribution", "k", "scale"], columns="label", values="mean", aggfunc="first"
    )
    if not {"softmax", "linear"} <= set(wide.columns):
        raise Missing("C2 needs both softmax and linear on non-negative logits in float64")
    table = pd.DataFrame({"tv_softmax": wide["softmax"], "tv_linear": wide["linear"]}).reset_index()
    table["softmax_closer"] = table["tv_softmax"] < table["tv_linear"]
    table = sort_rows(table, {"distribution": list(positive), "k": None, "scale": None})
    crossovers = _crossover_rows(data, table)
    signed = [d for d, s in data.with_support(False).items() if not nonnegative_support(s)]
    try:
        invalid = data.rows([("linear", {})], signed, [MAIN_DTYPE], ["invalid"], "C2")
        signed_invalid = float(pool(invalid, ["label"])["mean"].iloc[0])
    except Missing:
        signed_invalid = math.nan
    cross = pd.DataFrame(
        [vars(c) for c in crossovers],
        columns=["distribution", "k", "scale", "low", "high", "source"],
    ).rename(columns={"scale": "crossover_scale", "low": "ci_low", "high": "ci_high"})
    return C2Result(
        closer_share=float(table["softmax_closer"].mean()),
        cells=len(table),
        crossovers=tuple(crossovers),
        signed_invalid=signed_invalid,
        details={"C2_distance": table, "C2_crossover": cross},
    )


def verdict_c2(r: C2Result) -> str:
    """ "holds" where softmax is closer in every cell and no crossover was found, "does not
    hold" where it is closer in none and no crossover was found, else "holds with
    conditions". A crossover (the root finding's, between grid points or beyond them)
    decides on its own: the share of cells alone would read a grid that stops above the
    crossover as softmax closer everywhere."""
    crossing = any(math.isfinite(c.scale) for c in r.crossovers)
    if r.closer_share == 1.0 and not crossing:
        return HOLDS
    if r.closer_share == 0.0 and not crossing:
        return FAILS
    return CONDITIONAL


def _crossover_text(c: Crossover) -> str:
    if math.isnan(c.scale):
        return f"{c.distribution} K={c.k}: none"
    if c.source == ROOT_FINDING:
        ci = (
            f" (95% interval {interval(c.low, c.high, 3)})"
            if math.isfinite(c.low) and math.isfinite(c.high)
            else ""
        )
        return f"{c.distribution} K={c.k}: {number(c.scale, 4)}{ci}"
    return f"{c.distribution} K={c.k}: about {number(c.scale, 2)}"


def value_c2(r: C2Result) -> str:
    sources = sorted({c.source for c in r.crossovers if not math.isnan(c.scale)})
    how = f" ({'; '.join(sources)})" if sources else ""
    return (
        f"non-negative logits: softmax closer to the one-hot in {percent(r.closer_share)} of "
        f"{r.cells} cells; crossover scale{how}: "
        + (", ".join(map(_crossover_text, r.crossovers)) or "none")
    )


def conditions_c2(r: C2Result) -> str:
    signed = (
        f"; on signed logits linear's output is not a probability vector for "
        f"{percent(r.signed_invalid)} of vectors (pooled), so no comparison is made there"
        if math.isfinite(r.signed_invalid)
        else ""
    )
    if verdict_c2(r) == HOLDS:
        return "softmax is closer at every measured scale and K" + signed
    if verdict_c2(r) == CONDITIONAL:
        return (
            "linear normalisation is scale-invariant while softmax sharpens with scale: "
            "linear is closer below the crossover scale (softmax is near uniform there)" + signed
        )
    return "linear normalisation is at least as close in every measured cell" + signed


def headline_c2(r: C2Result) -> tuple[str, float]:
    """The largest crossover scale where there are crossovers (beyond it softmax is closer
    for every measured distribution and K): the share of cells where softmax is closer
    counts the grid's scales on either side of the crossovers, so it would move with the
    grid alone; else that share."""
    found = [c for c in r.crossovers if math.isfinite(c.scale)]
    if found:
        largest = max(found, key=lambda c: c.scale)
        # an estimate from the sweep's vectors: its interval says how far off it may be
        interval = (
            f"95% interval {number(largest.low, 2)} to {number(largest.high, 2)}; "
            if math.isfinite(largest.low) and math.isfinite(largest.high)
            else ""
        )
        return (
            "Softmax is closer to the argmax than linear normalisation only once the logits "
            f"are large enough: on non-negative logits, once their scale exceeds "
            f"{number(largest.scale, 2)} ({interval}the largest crossover over the measured "
            "distributions and K; below its crossover linear normalisation is closer) (C2).",
            largest.scale,
        )
    return (
        "Softmax is closer to the argmax than linear normalisation only once the logits are "
        "large enough: on non-negative logits it was closer in "
        f"{percent(r.closer_share)} of the measured cells (C2).",
        r.closer_share,
    )


SPEC_C2 = Spec(
    "C2",
    "Softmax is much closer to argmax than linear normalisation, because exp boosts the "
    "largest score.",
    f"Mean TV distance to the argmax one-hot, softmax vs linear, {MAIN_DTYPE}, logits with "
    "non-negative support, every K and scale; the crossover scale by root finding "
    "(softmaxlab.crossover) where available; linear's invalid share on signed logits.",
    verdict_c2,
    value_c2,
    conditions_c2,
    headline_c2,
)


def claim_c2(data: ClaimData) -> Claim:
    return SPEC_C2.measured(measure_c2, data)


# ------------------------------------------------------------------------------------ C13

C13_TV_TARGET = 0.1  # the scale at which softmax is within TV 0.1 of the one-hot
C13_TV_LIMIT = 0.05  # "distance -> 0": below this at the largest configured scale


@dataclass(frozen=True)
class C13Result:
    """Softmax's approach to the one-hot with scale, its fading with K, and the comparison
    with the order-statistics reference (normal logits; counts 0 when not given)."""

    scales: int
    falls: bool
    largest_scale: float
    tv_largest_max: float
    unsaturated: tuple[tuple[str, int, float], ...]
    #: K, the median over distributions of the scale where TV falls below C13_TV_TARGET (a
    #: distribution that never gets there counts as beyond every scale: inf where that is
    #: the median), how many never get there, of how many
    reach: tuple[tuple[int, float, int, int], ...]
    ref_scale: float
    max_prob: tuple[tuple[int, float, float], ...]  # K, softmax, ssmax (pooled)
    ks: tuple[int, ...]
    faded: tuple[str, ...]
    held: tuple[str, ...]
    ss_faded: tuple[str, ...]
    ss_held: tuple[str, ...]
    #: The distributions whose scale of TV < C13_TV_TARGET grows with K (over their K where
    #: it is reached, at least two), and those where it does not.
    later: tuple[str, ...] = ()
    not_later: tuple[str, ...] = ()
    #: Of ``faded``, those whose max probability does not fall at every step in K.
    faded_unsteadily: tuple[str, ...] = ()
    #: Every K's pooled max probability is over the same distributions: those measured at
    #: every K (``common``; empty: all of them, which differ from K to K, none being
    #: measured at every K).
    same_distributions: bool = True
    common: tuple[str, ...] = ()
    reference_cells: int = 0
    reference_inside: int = 0
    reference_max_difference: float = math.nan
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def _speed(soft: pd.DataFrame, dists) -> pd.DataFrame:
    speed = []
    for (dist, k), part in soft.groupby(["distribution", "k"], sort=False):
        part = part.sort_values("scale")
        scales = part["scale"].to_numpy(np.float64)
        tv = part["mean"].to_numpy(np.float64)
        speed.append(
            {
                "distribution": dist,
                "k": int(k),
                "tv_smallest_scale": float(tv[0]),
                "tv_largest_scale": float(tv[-1]),
                "scale_tv_below_target": log_crossing(scales, -tv, -C13_TV_TARGET)
                if tv[0] >= C13_TV_TARGET
                else float(scales[0]),
                "non_increasing": bool(np.all(np.diff(tv) <= 1e-12)),
            }
        )
    return sort_rows(pd.DataFrame(speed), {"distribution": list(dists), "k": None})


def _reference(data: ClaimData, soft: pd.DataFrame) -> pd.DataFrame | None:
    """The sweep's mean TV next to the order-statistics value, with the sweep's interval."""
    ref = data.orderstats
    if ref is None or not len(ref):
        return None
    ref = ref.dropna(subset=["expected_tv"])[["distribution", "k", "scale", "expected_tv"]]
    cols = ["distribution", "k", "scale", "n", "mean", "ci_low", "ci_high"]
    merged = soft[cols].merge(
        ref.assign(k=ref["k"].astype(np.int64), scale=ref["scale"].astype(np.float64)),
        on=["distribution", "k", "scale"],
    )
    merged["inside_interval"] = (merged["ci_low"] <= merged["expected_tv"]) & (
        merged["expected_tv"] <= merged["ci_high"]
    )
    return merged.rename(columns={"mean": "sweep_tv"})


def censored_median(scales: pd.Series) -> float:
    """The median of the scales where TV falls below the target, NaN (never reached) counted
    as beyond every scale rather than left out, which would pull the median down: inf
    where that is the median (half or more never get there)."""
    return float(np.median(scales.fillna(np.inf).to_numpy(np.float64)))


def measure_c13(data: ClaimData) -> C13Result:
    dists = data.distributions
    rows = data.rows(
        [("softmax", {}), ("ssmax", {})], dists, [MAIN_DTYPE], ["tv_to_argmax", "max_prob"], "C13"
    )
    soft = rows[(rows["label"] == "softmax") & (rows["metric"] == "tv_to_argmax")]
    if soft.empty:
        raise Missing("C13 needs softmax's tv_to_argmax in float64")
    speed = _speed(soft, dists)
    scales = np.array(data.scales, dtype=np.float64)
    ref_scale = nearest_to_one(scales)
    mp = rows[(rows["metric"] == "max_prob") & (rows["scale"] == ref_scale)]
    fade = mp.pivot_table(index=["distribution", "k"], columns="label", values="mean")
    fade = fade.reindex(columns=["softmax", "ssmax"]).reset_index()
    fade.insert(1, "scale", ref_scale)
    fade = sort_rows(
        fade.rename(columns={"softmax": "max_prob_softmax", "ssmax": "max_prob_ssmax"}),
        {"distribution": list(dists), "k": None},
    )
    falls = bool(speed["non_increasing"].all()) and bool(
        (speed["tv_largest_scale"] < speed["tv_smallest_scale"]).all()
    )
    unsaturated = speed[~(speed["tv_largest_scale"] < C13_TV_LIMIT)]
    faded, held, ss_faded, ss_held, unsteady = [], [], [], [], []
    for dist, part in fade.groupby("distribution", sort=False):
        # Each distribution's own K: an empirical one has only its file's K.
        part = part.set_index("k").sort_index()
        if len(part) < 2:
            continue
        lo, hi = part.iloc[0], part.iloc[-1]
        (faded if hi["max_prob_softmax"] < lo["max_prob_softmax"] else held).append(dist)
        if (
            hi["max_prob_softmax"] < lo["max_prob_softmax"]
            and (np.diff(part["max_prob_softmax"].to_numpy(np.float64)) > 0).any()
        ):
            unsteady.append(dist)
        (ss_faded if hi["max_prob_ssmax"] < lo["max_prob_ssmax"] else ss_held).append(dist)
    later, not_later = [], []
    for dist, part in speed.groupby("distribution", sort=False):
        reached = part.sort_values("k")["scale_tv_below_target"].dropna().to_numpy()
        if len(reached) >= 2:
            (later if bool(np.all(np.diff(reached) > 0)) else not_later).append(dist)
    # Pooled (and the scale where TV falls below the target, its median taken) over the
    # distributions measured at every K, so that K alone changes from one K to the next (a
    # distribution measured at some K only would move the pooled value).
    per_k = fade.groupby("k")["distribution"].agg(frozenset)
    common = [d for d in dists if all(d in found for found in per_k)]
    mp_common = mp[mp["distribution"].isin(common)] if common else mp
    pooled = pool(mp_common, ["k", "label"]).pivot_table(index="k", columns="label", values="mean")
    pooled = pooled.reindex(columns=["softmax", "ssmax"])
    reach = []
    speed_common = speed[speed["distribution"].isin(common)] if common else speed
    for k, values in speed_common.groupby("k")["scale_tv_below_target"]:
        missing = int(values.isna().sum())
        reach.append((int(k), censored_median(values), missing, len(values)))
    reference = _reference(data, soft)
    details = {"C13_speed": speed, "C13_max_prob": fade}
    extra = {}
    if reference is not None and len(reference):
        details["C13_order_statistics"] = reference
        extra = {
            "reference_cells": len(reference),
            "reference_inside": int(reference["inside_interval"].sum()),
            "reference_max_difference": float(
                (reference["sweep_tv"] - reference["expected_tv"]).abs().max()
            ),
        }
    return C13Result(
        scales=len(scales),
        falls=falls,
        largest_scale=float(scales.max()),
        tv_largest_max=float(speed["tv_largest_scale"].max()),
        unsaturated=tuple(
            (str(d), int(k), float(tv))
            for d, k, tv in unsaturated[["distribution", "k", "tv_largest_scale"]].itertuples(
                index=False
            )
        ),
        reach=tuple(reach),
        ref_scale=ref_scale,
        max_prob=tuple(
            (int(k), float(row["softmax"]), float(row["ssmax"])) for k, row in pooled.iterrows()
        ),
        ks=tuple(sorted(int(k) for k in fade["k"].unique())),
        faded=tuple(faded),
        held=tuple(held),
        ss_faded=tuple(ss_faded),
        ss_held=tuple(ss_held),
        later=tuple(later),
        not_later=tuple(not_later),
        faded_unsteadily=tuple(unsteady),
        same_distributions=bool(common) or per_k.nunique() <= 1,
        common=tuple(common) if per_k.nunique() > 1 else (),
        **extra,
        details=details,
    )


def verdict_c13(r: C13Result) -> str:
    if r.scales < 2 or not r.falls:
        return FAILS
    return CONDITIONAL if (r.unsaturated or r.faded) else HOLDS


def value_c13(r: C13Result) -> str:
    def reached(k, median, missing, total):
        text = number(median, 3) if math.isfinite(median) else "not reached by half"
        return f"K={k} {text}" + (f" ({missing}/{total} not reached)" if missing else "")

    if r.common:
        which = "the one distribution" if len(r.common) == 1 else "the distributions"
        where = f"{', '.join(r.common)}: {which} measured at every K"
        pooled = where if len(r.common) == 1 else "pooled over " + where
        median = where if len(r.common) == 1 else "median over " + where
    elif r.same_distributions:
        pooled, median = "pooled", "median over distributions"
    else:
        pooled = "pooled over each K's distributions, not the same at every K"
        median = "median over each K's distributions, not the same at every K"

    text = (
        f"TV at scale {number(r.largest_scale)} <= {number(r.tv_largest_max, 3)}; scale where "
        f"TV < {C13_TV_TARGET:g} ({median}; one that never gets there counted as beyond "
        "every scale): "
        + ", ".join(reached(*item) for item in r.reach)
        + f"; max prob at scale {number(r.ref_scale)}, softmax vs ssmax ({pooled}): "
        + ", ".join(f"K={k} {number(s, 3)}/{number(ss, 3)}" for k, s, ss in r.max_prob)
    )
    if r.reference_cells:
        text += (
            f"; normal logits: the order-statistics value lies in the sweep's 95% interval in "
            f"{r.reference_inside}/{r.reference_cells} cells (max |sweep - exact| "
            f"{number(r.reference_max_difference, 3)})"
        )
    return text


def conditions_c13(r: C13Result) -> str:
    if r.scales < 2:
        return "only one scale configured: the approach to the one-hot is not shown"
    if not r.falls:
        return "TV to argmax does not fall steadily with scale"
    notes = []
    if r.unsaturated:
        notes.append(
            f"TV is still >= {C13_TV_LIMIT:g} at scale {number(r.largest_scale)} for "
            + ", ".join(f"{d} K={k} ({number(tv, 2)})" for d, k, tv in r.unsaturated)
            + " (the gap between the two largest logits is small against the scale)"
        )
    if r.faded:
        notes.append(
            f"at scale {number(r.ref_scale)} the largest probability is lower at the largest K "
            f"than at the smallest for {', '.join(r.faded)}"
            + (
                f" (not falling at every step in K for {', '.join(r.faded_unsteadily)})"
                if r.faded_unsteadily
                else ""
            )
            + (f" (not for {', '.join(r.held)})" if r.held else "")
            + "; scaling the logits by ln K (ssmax) "
            + (f"keeps it for {', '.join(r.ss_held)}" if r.ss_held else "does not keep it")
            + (f" but not for {', '.join(r.ss_faded)}" if r.ss_held and r.ss_faded else "")
        )
    if notes:
        return f"the max is approached only as the scale grows{_later(r)}; " + "; ".join(notes)
    return "distance to argmax falls to ~0 with scale for every K" + (
        "" if len(r.ks) >= 2 else " (one K configured: fading with K not measured)"
    )


def _later(r: C13Result) -> str:
    """Whether TV < C13_TV_TARGET is reached at a larger scale for a larger K, as measured
    per distribution (its own K; pooling across distributions would mix their K ranges)."""
    if not r.later:
        return " (not later for larger K in any distribution with two K)" if r.not_later else ""
    text = f", later for larger K in {', '.join(r.later)}"
    return text + (f" (not in {', '.join(r.not_later)})" if r.not_later else "")


SPEC_C13 = Spec(
    "C13",
    "With exp, the largest argument is mapped towards 1 and the rest towards 0.",
    f"Softmax TV to argmax vs scale per distribution and K ({MAIN_DTYPE}): the scale where "
    f"it falls below {C13_TV_TARGET:g}; max probability of softmax vs ssmax as K grows; for "
    "normal logits, the sweep's mean against E[TV] from order statistics "
    "(softmaxlab.orderstats).",
    verdict_c13,
    value_c13,
    conditions_c13,
)


def claim_c13(data: ClaimData) -> Claim:
    return SPEC_C13.measured(measure_c13, data)
