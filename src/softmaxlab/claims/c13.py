"""Claim C13, the "max" in softmax: measure -> :class:`C13Result` -> verdict -> text.

The claim: with exp, the largest argument is mapped towards 1 and the rest towards 0.
:func:`measure_c13` reads softmax's (and ssmax's) float64 rows of the summary:

* whether softmax's mean TV to the argmax falls with scale, and where it is still at least
  C13_TV_LIMIT at the largest scale;
* per (distribution, K), the scale where it falls below C13_TV_TARGET
  (common.falls_below: interpolated in (log scale, log TV), which a power law follows
  exactly; linear interpolation in TV put it 4% to 18% late on the default grid), with a
  95% interval: the scales where the 95% interval's upper and lower bounds fall below the
  target (the upper one inf where it never does). It holds the true scale wherever the
  two bounds hold the mean at the grid points around it, up to the interpolation's own
  error (at most 1.3% on normal logits' exact curve at the default grid: tests);
* per distribution, whether that scale grows with K: "later" when its largest K's
  interval lies above its smallest K's and no step in K has its interval below the
  previous K's; "not later" when one does; otherwise not told apart (different K draw
  different vectors, so two intervals that overlap do not order their scales);
* the max probability of softmax and of ssmax at the scale nearest 1 as K grows;
* for normal logits, where softmaxlab.orderstats' table is given: the sweep's mean TV
  against the order-statistics value in each cell, in its 95% interval and in standard
  errors of the mean (the cells of a K share one set of vectors, reused at every scale,
  so the text counts those sets too), and the exact scale where E[TV] = C13_TV_TARGET
  (orderstats.tv_crossing) against the sweep's interval for it.

Pooling: the one rule of every claim (common.pool); the scale where TV falls below the
target is a median over distributions, one that never gets there counted as beyond every
scale (:func:`censored_median`), its interval the medians of the intervals' ends (which
hold the median wherever every distribution's interval holds its scale).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from softmaxlab import orderstats
from softmaxlab.formatting import interval, number

from .common import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    MAIN_DTYPE,
    Claim,
    Missing,
    Spec,
    falls_below,
    nearest_to_one,
    pool,
    sort_rows,
)
from .data import ClaimData

C13_TV_TARGET = 0.1  # the scale at which softmax is within TV 0.1 of the one-hot
C13_TV_LIMIT = 0.05  # "distance -> 0": below this at the largest configured scale

#: A mean more than this many times the median: a skewed cell (the C13 reference's text).
SKEWED = 10

LATER = "later"
NOT_LATER = "not later"
NOT_TOLD_APART = "not told apart"


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
    #: the median), how many never get there, of how many, and the median's 95% interval
    #: (low, high: the medians of the distributions' interval ends)
    reach: tuple[tuple[int, float, int, int, float, float], ...]
    ref_scale: float
    max_prob: tuple[tuple[int, float, float], ...]  # K, softmax, ssmax (pooled)
    ks: tuple[int, ...]
    #: By the 95% intervals of softmax's max probability at ref_scale, its smallest K
    #: against its largest: lower there, not told apart, higher (each distribution with two
    #: K or more); ssmax's lower there or not.
    faded: tuple[str, ...]
    held: tuple[str, ...]
    ss_faded: tuple[str, ...]
    ss_held: tuple[str, ...]
    #: The distributions whose scale of TV < C13_TV_TARGET grows with K (over their K where
    #: it is reached, at least two: :func:`trend`), those where it does not, and those
    #: whose intervals do not tell.
    later: tuple[str, ...] = ()
    not_later: tuple[str, ...] = ()
    later_not_told_apart: tuple[str, ...] = ()
    #: Of ``faded``, those whose max probability rises at some step in K (by the intervals).
    faded_unsteadily: tuple[str, ...] = ()
    rose: tuple[str, ...] = ()
    #: Every K's pooled max probability is over the same distributions: those measured at
    #: every K (``common``; empty: all of them, which differ from K to K, none being
    #: measured at every K).
    same_distributions: bool = True
    common: tuple[str, ...] = ()
    reference_cells: int = 0
    reference_inside: int = 0
    reference_max_difference: float = math.nan
    #: the independent sets of vectors under those cells (one per (distribution, K), reused
    #: at every scale), the cells whose mean lies within 2 standard errors of the exact
    #: value, and the farthest in standard errors: (distribution, K, scale, sweep, exact,
    #: standard errors, the sweep's median)
    reference_vector_sets: int = 0
    reference_within_two_se: int = 0
    reference_farthest: tuple[str, int, float, float, float, float, float] | None = None
    #: normal logits: (distribution, K, the exact scale where E[TV] = C13_TV_TARGET, whether
    #: the sweep's 95% interval for it holds it)
    exact_reach: tuple[tuple[str, int, float, bool], ...] = ()
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def reach_interval(scales: np.ndarray, ci_low: np.ndarray, ci_high: np.ndarray):
    """The 95% interval of the scale where the mean falls below C13_TV_TARGET, from the
    scales where the interval's bounds do (falls_below): the lower bound falls first (0
    where it starts below: the scale may lie below the grid), the upper one last (inf where
    it never falls below)."""
    low = 0.0 if ci_low[0] < C13_TV_TARGET else falls_below(scales, ci_low, C13_TV_TARGET)
    high = falls_below(scales, ci_high, C13_TV_TARGET)
    return (low, math.inf if math.isnan(high) else high)


def _speed(soft: pd.DataFrame, dists) -> pd.DataFrame:
    speed = []
    for (dist, k), part in soft.groupby(["distribution", "k"], sort=False):
        part = part.sort_values("scale")
        scales = part["scale"].to_numpy(np.float64)
        tv = part["mean"].to_numpy(np.float64)
        low, high = reach_interval(
            scales, part["ci_low"].to_numpy(np.float64), part["ci_high"].to_numpy(np.float64)
        )
        speed.append(
            {
                "distribution": dist,
                "k": int(k),
                "tv_smallest_scale": float(tv[0]),
                "tv_largest_scale": float(tv[-1]),
                "scale_tv_below_target": falls_below(scales, tv, C13_TV_TARGET),
                "scale_tv_below_target_low": low,
                "scale_tv_below_target_high": high,
                "non_increasing": bool(np.all(np.diff(tv) <= 1e-12)),
            }
        )
    return sort_rows(pd.DataFrame(speed), {"distribution": list(dists), "k": None})


def _with_exact(speed: pd.DataFrame, data: ClaimData) -> pd.DataFrame:
    """``speed`` with the exact scale where E[TV] = C13_TV_TARGET (orderstats.tv_crossing)
    and whether the sweep's interval holds it, for the normal distributions (NaN and NA
    for the others), where the order-statistics table is given (unchanged otherwise)."""
    if data.orderstats is None or not len(data.orderstats):
        return speed
    sigmas = orderstats.normal_distributions(data.distributions)
    exact = [
        orderstats.tv_crossing(int(k), C13_TV_TARGET, sigmas[dist]) if dist in sigmas else np.nan
        for dist, k in zip(speed["distribution"], speed["k"], strict=True)
    ]
    inside = (speed["scale_tv_below_target_low"] <= exact) & (
        np.asarray(exact) <= speed["scale_tv_below_target_high"]
    )
    return speed.assign(
        exact_scale_tv_below_target=exact,
        exact_inside_interval=inside.astype("boolean").where(~np.isnan(exact), pd.NA),
    )


def trend(lows: np.ndarray, highs: np.ndarray) -> str:
    """LATER, NOT_LATER or NOT_TOLD_APART for a distribution's intervals of the scale where
    TV falls below the target, in increasing K (module docstring)."""
    if np.any(highs[1:] < lows[:-1]):
        return NOT_LATER
    return LATER if lows[-1] > highs[0] else NOT_TOLD_APART


def _reference(data: ClaimData, soft: pd.DataFrame) -> pd.DataFrame | None:
    """The sweep's mean TV next to the order-statistics value, with the sweep's interval,
    and their difference in standard errors of the mean (sample std / sqrt n): a sharper
    test than the interval, which bounds the variance by the range alone, where the mean is
    near normal; not where TV's per-vector values are so skewed that n vectors rarely hold
    the few that carry the mean (large scales, small K), and the sample's spread
    understates the uncertainty (the reason the interval does not use it)."""
    ref = data.orderstats
    if ref is None or not len(ref):
        return None
    ref = ref.dropna(subset=["expected_tv"])[["distribution", "k", "scale", "expected_tv"]]
    cols = ["distribution", "k", "scale", "n", "mean", "std", "median", "ci_low", "ci_high"]
    merged = soft[[c for c in cols if c in soft]].merge(
        ref.assign(k=ref["k"].astype(np.int64), scale=ref["scale"].astype(np.float64)),
        on=["distribution", "k", "scale"],
    )
    merged["inside_interval"] = (merged["ci_low"] <= merged["expected_tv"]) & (
        merged["expected_tv"] <= merged["ci_high"]
    )
    if "std" in merged:  # a summary read without it: the interval's comparison only
        with np.errstate(divide="ignore", invalid="ignore"):  # a constant column: inf, NaN
            standard_error = merged.pop("std") / np.sqrt(merged["n"])
            merged["standard_errors"] = (merged["mean"] - merged["expected_tv"]) / standard_error
    if "median" in merged:
        merged["sweep_median"] = merged.pop("median")
    return merged.rename(columns={"mean": "sweep_tv"})


def _standard_errors(reference: pd.DataFrame) -> dict:
    """The C13Result fields of the comparison in standard errors (:func:`_reference`;
    none without the summary's std and median)."""
    if not {"standard_errors", "sweep_median"} <= set(reference):
        return {}
    # a mean equal to the exact value is 0 standard errors away, whatever its spread
    exact = reference["sweep_tv"] == reference["expected_tv"]
    z = reference["standard_errors"].abs().mask(exact, 0.0)
    farthest = reference.loc[z.fillna(-np.inf).idxmax()]
    return {
        "reference_vector_sets": len(reference.groupby(["distribution", "k"])),
        "reference_within_two_se": int((z <= 2).sum()),
        "reference_farthest": (
            str(farthest["distribution"]),
            int(farthest["k"]),
            float(farthest["scale"]),
            float(farthest["sweep_tv"]),
            float(farthest["expected_tv"]),
            float(farthest["standard_errors"]),
            float(farthest["sweep_median"]),
        ),
    }


def censored_median(scales: pd.Series) -> float:
    """The median of the scales where TV falls below the target, NaN (never reached) counted
    as beyond every scale rather than left out, which would pull the median down: inf
    where that is the median (half or more never get there)."""
    return float(np.median(scales.fillna(np.inf).to_numpy(np.float64)))


def _intervals(part: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``column``'s 95% interval ends (lows, highs) over ``part``'s rows, in K order."""
    return part[f"{column}_low"].to_numpy(np.float64), part[f"{column}_high"].to_numpy(np.float64)


def _fading(fade: pd.DataFrame):
    """Per distribution with two K or more, by the 95% intervals of the max probability
    (different K draw different vectors: overlapping intervals do not order two means):
    softmax's is lower at its largest K than at its smallest (faded: the largest K's
    interval wholly below the smallest K's), higher (rose) or neither (held: not told
    apart); of the faded, those where it rises at some step in K (unsteady: a step's
    interval wholly above the previous one's); ssmax's lower at the largest K (ss_faded)
    or not."""
    faded, held, rose, ss_faded, ss_held, unsteady = [], [], [], [], [], []
    for dist, part in fade.groupby("distribution", sort=False):
        # Each distribution's own K: an empirical one has only its file's K.
        part = part.sort_values("k")
        if len(part) < 2:
            continue
        lows, highs = _intervals(part, "max_prob_softmax")
        if highs[-1] < lows[0]:
            faded.append(dist)
            if np.any(highs[:-1] < lows[1:]):
                unsteady.append(dist)
        else:
            (rose if highs[0] < lows[-1] else held).append(dist)
        ss_lows, ss_highs = _intervals(part, "max_prob_ssmax")
        (ss_faded if ss_highs[-1] < ss_lows[0] else ss_held).append(dist)
    return faded, held, rose, ss_faded, ss_held, unsteady


def _max_prob_table(mp: pd.DataFrame, ref_scale: float, dists) -> pd.DataFrame:
    """Softmax's and ssmax's mean max probability per (distribution, K) at ``ref_scale``,
    each with its 95% interval (``_low``, ``_high``)."""
    columns = {"mean": "", "ci_low": "_low", "ci_high": "_high"}
    wide = mp.pivot_table(index=["distribution", "k"], columns="label", values=list(columns))
    fade = pd.DataFrame(index=wide.index)
    for label in ("softmax", "ssmax"):
        for value, suffix in columns.items():
            fade[f"max_prob_{label}{suffix}"] = (
                wide[(value, label)] if (value, label) in wide else np.nan
            )
    fade = fade.reset_index()
    fade.insert(1, "scale", ref_scale)
    return sort_rows(fade, {"distribution": list(dists), "k": None})


def _trends(speed: pd.DataFrame) -> dict[str, list[str]]:
    """Each distribution with two K or more where TV falls below the target, by its
    :func:`trend`."""
    found: dict[str, list[str]] = {LATER: [], NOT_LATER: [], NOT_TOLD_APART: []}
    for dist, part in speed.groupby("distribution", sort=False):
        part = part.sort_values("k").dropna(subset=["scale_tv_below_target"])
        if len(part) >= 2:
            found[trend(*_intervals(part, "scale_tv_below_target"))].append(dist)
    return found


def measure_c13(data: ClaimData) -> C13Result:
    dists = data.distributions
    rows = data.rows(
        [("softmax", {}), ("ssmax", {})], dists, [MAIN_DTYPE], ["tv_to_argmax", "max_prob"], "C13"
    )
    soft = rows[(rows["label"] == "softmax") & (rows["metric"] == "tv_to_argmax")]
    if soft.empty:
        raise Missing("C13 needs softmax's tv_to_argmax in float64")
    speed = _with_exact(_speed(soft, dists), data)
    scales = np.array(data.scales, dtype=np.float64)
    ref_scale = nearest_to_one(scales)
    mp = rows[(rows["metric"] == "max_prob") & (rows["scale"] == ref_scale)]
    fade = _max_prob_table(mp, ref_scale, dists)
    falls = bool(speed["non_increasing"].all()) and bool(
        (speed["tv_largest_scale"] < speed["tv_smallest_scale"]).all()
    )
    unsaturated = speed[~(speed["tv_largest_scale"] < C13_TV_LIMIT)]
    faded, held, rose, ss_faded, ss_held, unsteady = _fading(fade)
    trends = _trends(speed)
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
    for k, part in speed_common.groupby("k"):
        values = part["scale_tv_below_target"]
        missing = int(values.isna().sum())
        ends = (censored_median(part[f"scale_tv_below_target_{end}"]) for end in ("low", "high"))
        reach.append((int(k), censored_median(values), missing, len(values), *ends))
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
            **_standard_errors(reference),
        }
    if "exact_scale_tv_below_target" in speed:
        exact = speed.dropna(subset=["exact_scale_tv_below_target"])
        extra["exact_reach"] = tuple(
            (str(d), int(k), float(scale), bool(inside))
            for d, k, scale, inside in exact[
                ["distribution", "k", "exact_scale_tv_below_target", "exact_inside_interval"]
            ].itertuples(index=False)
        )
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
        rose=tuple(rose),
        ss_faded=tuple(ss_faded),
        ss_held=tuple(ss_held),
        later=tuple(trends[LATER]),
        not_later=tuple(trends[NOT_LATER]),
        later_not_told_apart=tuple(trends[NOT_TOLD_APART]),
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


def _reached(k, median, missing, total, low, high) -> str:
    if not math.isfinite(median):
        text = "not reached by half"
    else:
        text = f"{number(median, 3)} ({interval(low, high)})"
    return f"K={k} {text}" + (f" ({missing}/{total} not reached)" if missing else "")


def _standard_error_text(r: C13Result) -> str:
    """How many cells lie within 2 standard errors of the exact value, and the farthest."""
    if r.reference_farthest is None:
        return ""
    dist, k, scale, sweep, exact, z, median = r.reference_farthest
    text = (
        f", within 2 standard errors of the sweep's mean (sample std / sqrt n) in "
        f"{r.reference_within_two_se}/{r.reference_cells}; the farthest, {dist} K={k} at scale "
        f"{number(scale, 3)}: {number(sweep, 3)} against {number(exact, 3)}, "
        f"{number(abs(z), 3)} standard errors"
    )
    if median < sweep / SKEWED:
        text += (
            f" (median {number(median, 3)}: TV is so skewed there that the mean rests on the "
            "few vectors whose largest logits nearly tie, and the sample's spread understates "
            "the uncertainty; why the interval bounds the variance by the range instead)"
        )
    return text


def _exact_text(r: C13Result) -> str:
    """The exact scales where E[TV] = C13_TV_TARGET and how many the sweep's interval holds."""
    several = len({d for d, _, _, _ in r.exact_reach}) > 1
    scales = ", ".join(
        f"{d + ' ' if several else ''}K={k} {number(scale, 3)}" for d, k, scale, _ in r.exact_reach
    )
    inside = sum(inside for _, _, _, inside in r.exact_reach)
    return (
        f"; the exact scale where E[TV] = {C13_TV_TARGET:g} (order statistics): {scales} (in "
        f"the sweep's 95% interval for {inside}/{len(r.exact_reach)})"
    )


def value_c13(r: C13Result) -> str:
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
        f"TV < {C13_TV_TARGET:g} with its 95% interval ({median}; interpolated in log scale "
        "and log TV; one that never gets there counted as beyond every scale): "
        + ", ".join(_reached(*item) for item in r.reach)
        + f"; max prob at scale {number(r.ref_scale)}, softmax vs ssmax ({pooled}): "
        + ", ".join(f"K={k} {number(s, 3)}/{number(ss, 3)}" for k, s, ss in r.max_prob)
    )
    if r.reference_cells:
        text += (
            f"; normal logits: the order-statistics value lies in the sweep's 95% interval in "
            f"{r.reference_inside}/{r.reference_cells} cells ({r.reference_vector_sets} "
            "independent sets of vectors, one per K, each reused at every scale; max |sweep - "
            f"exact| {number(r.reference_max_difference, 3)})" + _standard_error_text(r)
        )
    if r.exact_reach:
        text += _exact_text(r)
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
                f" (rising at some step in K for {', '.join(r.faded_unsteadily)})"
                if r.faded_unsteadily
                else ""
            )
            + _not_faded(r)
            + "; scaling the logits by ln K (ssmax) "
            + (f"keeps it for {', '.join(r.ss_held)}" if r.ss_held else "does not keep it")
            + (f" but not for {', '.join(r.ss_faded)}" if r.ss_held and r.ss_faded else "")
        )
    if notes:
        return f"the max is approached only as the scale grows{_later(r)}; " + "; ".join(notes)
    return "distance to argmax falls to ~0 with scale for every K" + (
        "" if len(r.ks) >= 2 else " (one K configured: fading with K not measured)"
    )


def _not_faded(r: C13Result) -> str:
    """The distributions whose max probability is not lower at their largest K."""
    others = []
    if r.held:
        others.append(f"not told apart by the 95% intervals for {', '.join(r.held)}")
    if r.rose:
        others.append(f"higher for {', '.join(r.rose)}")
    return f" ({'; '.join(others)})" if others else ""


def _later(r: C13Result) -> str:
    """Whether TV < C13_TV_TARGET is reached at a larger scale for a larger K, as measured
    per distribution (its own K; pooling across distributions would mix their K ranges)."""
    others = []
    if r.not_later:
        others.append(f"not in {', '.join(r.not_later)}")
    if r.later_not_told_apart:
        others.append(f"not told apart by the 95% intervals in {', '.join(r.later_not_told_apart)}")
    if r.later:
        return f", later for larger K in {', '.join(r.later)}" + (
            f" ({'; '.join(others)})" if others else ""
        )
    if others:
        return " (later for larger K in no distribution with two K: " + "; ".join(others) + ")"
    return ""


SPEC_C13 = Spec(
    "C13",
    "With exp, the largest argument is mapped towards 1 and the rest towards 0.",
    f"Softmax TV to argmax vs scale per distribution and K ({MAIN_DTYPE}): the scale where "
    f"it falls below {C13_TV_TARGET:g}, with a 95% interval from the scales where the "
    "interval's bounds do; max probability of softmax vs ssmax as K grows; for normal "
    "logits, the sweep's mean against E[TV] from order statistics (softmaxlab.orderstats) "
    f"and the exact scale where E[TV] = {C13_TV_TARGET:g}.",
    verdict_c13,
    value_c13,
    conditions_c13,
    outcomes=(
        "does not hold when fewer than two scales were measured or softmax's mean TV to the "
        "argmax does not fall with the scale in every (distribution, K); with conditions "
        f"when it is still at least {C13_TV_LIMIT:g} at the largest scale somewhere or the "
        "largest probability fades as K grows (by the 95% intervals); holds otherwise. Set "
        "by algebra in part: each vector's largest probability grows with the scale and "
        "every scale shares the vectors, so the mean TV falls; measured: how fast, where it "
        "saturates, and the trend in K."
    ),
)


def claim_c13(data: ClaimData) -> Claim:
    return SPEC_C13.measured(measure_c13, data)
