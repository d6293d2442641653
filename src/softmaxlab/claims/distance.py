"""C2: softmax vs linear, which is closer to the argmax (C13, the "max" in softmax: c13.py).

C2 is measured on logits with non-negative support only: on signed logits linear's output
is not a probability vector (its TV to the one-hot exceeds 1), so there it is reported as
linear's invalid share, not compared. The crossover scale comes from softmaxlab.crossover's
root finding with its 95% interval when that table is given; otherwise it is interpolated
in log(scale) between the sweep's grid points, and the text says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from softmaxlab.formatting import interval, number, percent
from softmaxlab.sampling import family_params

from .common import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    MAIN_DTYPE,
    Claim,
    Missing,
    Spec,
    log_crossing,
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
    #: The smallest over the cells of |mean difference| / (its standard error bounded
    #: without the pairing: (sd_softmax + sd_linear) / sqrt n): the vectors are shared, so
    #: the difference's spread is at most the sum of the two (NaN: not measured).
    weakest_z: float = math.nan
    #: The non-negative distributions measured: (name, law in words), ("positive", "uniform
    #: on [0, 1]"): a crossover is its distribution's, since softmax ignores a shift of the
    #: logits and linear normalisation does not.
    measured: tuple[tuple[str, str], ...] = ()
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def _paired_z_bound(wide: pd.DataFrame) -> pd.Series:
    """Per cell, |tv_linear - tv_softmax| in standard errors of the paired difference, its
    spread bounded by sd_softmax + sd_linear (the same vectors give both means, and
    sd(a - b) <= sd(a) + sd(b) whatever their correlation): a lower bound on how many
    standard errors the order of the two means rests on; NaN where a spread is not defined
    (a cell of one vector: pivot_table drops a column that is NaN throughout)."""
    columns = pd.MultiIndex.from_product([["mean", "std", "n"], ["softmax", "linear"]])
    wide = wide.reindex(columns=columns)
    gap = (wide["mean"]["linear"] - wide["mean"]["softmax"]).abs()
    n = wide["n"][["softmax", "linear"]].min(axis=1).astype(np.float64)
    spread = wide["std"]["softmax"] + wide["std"]["linear"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return gap / (spread / np.sqrt(n))


def _law(spec: Mapping) -> str:
    """A distribution's law in words: "uniform on [0, 1]", "exponential(scale=2)"."""
    family, params = spec["family"], family_params(spec)
    if family == "uniform":
        return f"uniform on [{number(params['low'])}, {number(params['high'])}]"
    shown = ", ".join(f"{key}={number(value)}" for key, value in params.items())
    return f"{family}({shown})" if shown else family


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
        index=["distribution", "k", "scale"],
        columns="label",
        values=["mean", "std", "n"],
        aggfunc="first",
    )
    if not {"softmax", "linear"} <= set(wide["mean"].columns):
        raise Missing("C2 needs both softmax and linear on non-negative logits in float64")
    table = pd.DataFrame(
        {"tv_softmax": wide["mean"]["softmax"], "tv_linear": wide["mean"]["linear"]}
    ).reset_index()
    table["softmax_closer"] = table["tv_softmax"] < table["tv_linear"]
    table["paired_z_bound"] = _paired_z_bound(wide).to_numpy()
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
        weakest_z=float(table["paired_z_bound"].min()) if len(table) else math.nan,
        cells=len(table),
        crossovers=tuple(crossovers),
        signed_invalid=signed_invalid,
        measured=tuple((name, _law(spec)) for name, spec in positive.items()),
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


def _measured(r: C2Result, laws: bool = True) -> str:
    """The non-negative distributions measured, in parentheses ("" when not said): with
    their laws, or (a headline, which quotes one number) their names."""
    if not r.measured:
        return ""
    if not laws:
        return f" ({', '.join(name for name, _ in r.measured)})"
    return f" ({'; '.join(f'{name}: {law}' for name, law in r.measured)})"


def value_c2(r: C2Result) -> str:
    sources = sorted({c.source for c in r.crossovers if not math.isnan(c.scale)})
    how = f" ({'; '.join(sources)})" if sources else ""
    order = (
        f" (the order in each cell by at least {number(r.weakest_z, 2)} standard errors of "
        "the paired difference, its spread bounded by the two means' spreads)"
        if math.isfinite(r.weakest_z)
        else ""
    )
    return (
        f"non-negative logits{_measured(r)}: softmax closer to the one-hot in "
        f"{percent(r.closer_share)} of {r.cells} cells{order}; crossover scale{how}: "
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
            "linear is closer below the crossover scale (softmax is near uniform there); "
            "each crossover is its distribution's: softmax ignores a shift of the logits and "
            "linear normalisation does not, so other non-negative logits (a shifted uniform, "
            "say) cross elsewhere" + signed
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
            f"are large enough: on non-negative logits{_measured(r, laws=False)}, once their "
            "scale exceeds "
            f"{number(largest.scale, 2)} ({interval}the largest crossover over the measured "
            "distributions and K; below its crossover linear normalisation is closer) (C2).",
            largest.scale,
        )
    return (
        "Softmax is closer to the argmax than linear normalisation only once the logits are "
        f"large enough: on non-negative logits{_measured(r, laws=False)} it was closer in "
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
    outcomes=(
        "holds when softmax is closer in every cell and no crossover is found; does not hold "
        "when it is closer in none and no crossover is found; with conditions otherwise. Set "
        "by algebra on non-negative logits: linear normalisation does not change with the "
        "scale while softmax goes from uniform (small scales) to the one-hot (large ones), so "
        "the two cross, and once the root finding finds the crossover only 'with conditions' "
        "can come out; measured: where they cross."
    ),
)


def claim_c2(data: ClaimData) -> Claim:
    return SPEC_C2.measured(measure_c2, data)
