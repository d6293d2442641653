"""Theory: C11 (softmax is the maximum-entropy distribution given a mean energy) and C12
(Stirling's approximation), neither from the sweep. C11's seeded problems are solved by the
workflow (softmaxlab.claim_checks.maxent_check, read from ``claim_checks.csv``); C12 is an
exact construction computed here.

Sources: Jaynes (1957) for the maximum-entropy (Boltzmann) derivation; Robbins (1955) for
Stirling's series ln n! = n ln n - n + (1/2) ln(2 pi n) + O(1/n).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import mpmath
import numpy as np
import pandas as pd
from scipy import special

from softmaxlab.claim_checks import C11_MAX_K, QUANTITIES
from softmaxlab.formatting import number

from .common import CONDITIONAL, FAILS, HOLDS, Claim, Spec
from .data import ClaimData

# Boltzmann vs numerical maximum-entropy solution: the target accuracy.
C11_TOLERANCE = 1e-6
# A numerical solution with more entropy than Boltzmann's by more than this refutes the claim.
C11_ENTROPY_SLACK = 1e-9
C12_MAX_N = 10**6
C12_TABLE_N = (1, 2, 5, 10, 100, 10**3, 10**4, 10**5, 10**6)
C12_REL_TARGET = 0.01  # "under 1%"


#: C11's detail table: one row per seeded problem (softmaxlab.claim_checks.maxent_check).
C11_COLUMNS = ("problem", "k", *QUANTITIES["C11_maxent"])


def maxent_table(data: ClaimData) -> pd.DataFrame:
    """Numerical maximum entropy vs Boltzmann, one row per seeded problem (C11_COLUMNS), as
    the workflow solved them (C11_maxent of claim_checks.csv)."""
    cells = data.check("C11_maxent", "C11")
    table = cells.assign(
        problem=cells["variant"].astype(np.int64),
        solver_success=cells["solver_success"].astype(bool),
        iterations=cells["iterations"].astype(np.int64),
    )
    return table.loc[:, list(C11_COLUMNS)].reset_index(drop=True)


#: Decimal digits of the exact arithmetic of C12's table rows: the three-term form's error
#: (about 1/(12 n)) is the difference of two numbers near ln n!, so in float64 it keeps
#: only a few digits at large n (1e-15 x 1.3e7 against 8e-8 at n = 10^6).
C12_DIGITS = 50


def _stirling_row(m: int) -> dict:
    """One row of :func:`stirling_table` for n = m, every column computed in mpmath at
    C12_DIGITS digits and rounded once to float64."""
    with mpmath.workdps(C12_DIGITS):
        n = mpmath.mpf(m)
        exact = mpmath.loggamma(n + 1)
        approx = n * mpmath.log(n) - n
        three = approx + mpmath.log(2 * mpmath.pi * n) / 2
        defined = exact > 0
        return {
            "n": m,
            "ln_factorial": float(exact),
            "n_ln_n_minus_n": float(approx),
            "abs_error": float(exact - approx),
            "rel_error": float(abs(approx - exact) / exact) if defined else math.nan,
            "abs_error_over_ln_n": float((exact - approx) / mpmath.log(n)) if m > 1 else math.nan,
            "rel_error_with_half_ln_2pi_n": float(abs(three - exact) / exact)
            if defined
            else math.nan,
        }


def stirling_table(max_n: int = C12_MAX_N) -> tuple[pd.DataFrame, int]:
    """Relative error of ln n! ~ n ln n - n at the n of C12_TABLE_N up to max_n, and the
    smallest n from which it stays below 1% (over every n = 1..max_n).

    ln n! = gammaln(n + 1). Relative error |approx - exact| / |exact|, undefined at n = 1
    (ln 1! = 0; NaN there). The three-term form adds (1/2) ln(2 pi n) (Robbins 1955). The
    table's rows are exact to float64 (:func:`_stirling_row`); the 1% crossing is found in
    float64 over every n, where the two-term error, at least 0.9, is well above rounding.
    """
    n = np.arange(1, max_n + 1, dtype=np.float64)
    exact = special.gammaln(n + 1)
    approx = n * np.log(n) - n
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(exact > 0, np.abs(approx - exact) / np.abs(exact), np.nan)
    above = np.flatnonzero(~(rel < C12_REL_TARGET))  # NaN (n = 1) counts as not below
    first = int(n[above[-1] + 1]) if len(above) < len(n) else -1
    rows = [_stirling_row(m) for m in C12_TABLE_N if m <= max_n]
    return pd.DataFrame(rows), first


@dataclass(frozen=True)
class C11Result:
    """Over the seeded problems: the largest |p_numeric - p_Boltzmann| and the largest amount
    by which the numerical solution's entropy exceeds Boltzmann's."""

    problems: int
    worst: float
    entropy_gain: float
    #: Problems with K = 2, where the two constraints fix p: they test nothing.
    fixed: int = 0
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def measure_c11(data: ClaimData) -> C11Result:
    table = maxent_table(data)
    return C11Result(
        problems=len(table),
        worst=float(table["max_abs_difference"].max()),
        entropy_gain=float((table["entropy_numeric"] - table["entropy_boltzmann"]).max()),
        fixed=int((table["k"] == 2).sum()),
        details={"C11_maxent": table},
    )


def verdict_c11(r: C11Result) -> str:
    if r.worst < C11_TOLERANCE:
        return HOLDS
    return CONDITIONAL if r.entropy_gain <= C11_ENTROPY_SLACK else FAILS


def value_c11(r: C11Result) -> str:
    return (
        f"{r.problems} problems (K 2-{C11_MAX_K}): max |p_SLSQP - exp(-beta E)/Z| = "
        f"{number(r.worst, 3)}; numeric entropy exceeds Boltzmann's by at most "
        f"{number(r.entropy_gain, 3)}"
        + (
            f" ({number(r.fixed)} of them with K = 2, where sum p = 1 and the mean fix p: "
            "they test nothing)"
            if r.fixed
            else ""
        )
    )


def conditions_c11(r: C11Result) -> str:
    if verdict_c11(r) == HOLDS:
        return (
            f"agreement within {C11_TOLERANCE:g} on every problem (energies N(0,1), feasible means)"
        )
    if verdict_c11(r) == CONDITIONAL:
        return (
            f"the solver's optimum differs by {number(r.worst, 3)} but never has more entropy "
            "than Boltzmann's: the solver, not the theory, falls short"
        )
    return f"a distribution with more entropy than Boltzmann's (by {number(r.entropy_gain, 3)})"


def headline_c11(r: C11Result) -> tuple[str, float]:
    return (
        "Softmax is also the distribution of maximum entropy for a given mean energy (the "
        "Boltzmann distribution): a numerical entropy maximiser agreed with it to within "
        f"{number(r.worst, 3)} on every seeded problem (C11).",
        r.worst,
    )


SPEC_C11 = Spec(
    "C11",
    "Softmax (Boltzmann) is the distribution of maximum entropy given a mean energy.",
    "Maximise entropy s.t. sum p = 1 and p.E = target with scipy SLSQP on seeded "
    "problems; compare with exp(-beta E)/Z, beta by brentq on the mean.",
    verdict_c11,
    value_c11,
    conditions_c11,
    headline_c11,
    outcomes=(
        "holds when the numerical maximum-entropy solution (SLSQP) equals exp(-beta E)/Z "
        f"within {C11_TOLERANCE:g} in every problem; with conditions when it does not but "
        f"never has more entropy (by more than {C11_ENTROPY_SLACK:g}); does not hold when it "
        "has more. A theorem (Lagrange multipliers) checked numerically: only the optimiser "
        "could make it fail."
    ),
)


def claim_c11(data: ClaimData) -> Claim:
    return SPEC_C11.measured(measure_c11, data)


@dataclass(frozen=True)
class C12Result:
    """Relative error of n ln n - n at n = 2 and 10 and at the largest n; whether it falls
    steadily; whether error / ln n falls steadily (O(ln n)); the first n from which it stays
    below 1% (-1: never within the table)."""

    rel_2: float
    rel_10: float
    rel_last: float
    last_n: int
    first: int
    decreasing: bool
    bounded: bool
    ratio_first: float
    ratio_last: float
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def measure_c12() -> C12Result:
    table, first = stirling_table()
    rel = table["rel_error"].to_numpy()
    ratio = table["abs_error_over_ln_n"].dropna()
    rows = table.set_index("n")
    return C12Result(
        rel_2=float(rows.loc[2, "rel_error"]),
        rel_10=float(rows.loc[10, "rel_error"]),
        rel_last=float(rel[-1]),
        last_n=int(table["n"].iloc[-1]),
        first=first,
        decreasing=bool(np.all(np.diff(rel[1:]) < 0)),
        bounded=bool(np.all(np.diff(ratio.to_numpy()) < 0)) and bool(ratio.iloc[-1] > 0),
        ratio_first=float(ratio.iloc[0]),
        ratio_last=float(ratio.iloc[-1]),
        details={"C12_stirling": table},
    )


def verdict_c12(r: C12Result) -> str:
    if not (r.decreasing and r.bounded):
        return FAILS
    return HOLDS if r.first > 0 else CONDITIONAL


def value_c12(r: C12Result) -> str:
    return (
        f"relative error {number(r.rel_2, 3)} at n=2, {number(r.rel_10, 3)} at n=10, "
        f"{number(r.rel_last, 3)} at n={number(float(r.last_n))}; below 1% from n = "
        f"{r.first if r.first > 0 else 'never'}; error / ln n falls from "
        f"{number(r.ratio_first, 4)} at n=2 to {number(r.ratio_last, 4)} (O(ln n))"
    )


def conditions_c12(r: C12Result) -> str:
    if not (r.decreasing and r.bounded):
        return "the relative error does not fall steadily, or the error is not O(ln n)"
    if r.first > 0:
        return (
            f"asymptotic: the two-term form is off by more than 1% below n = {r.first}; the "
            "error itself grows like (1/2) ln(2 pi n)"
        )
    return f"asymptotic only: the relative error never falls below 1% up to n = {r.last_n}"


SPEC_C12 = Spec(
    "C12",
    "Stirling: ln n! = n ln n - n + O(ln n), an asymptotic approximation.",
    f"Relative error of n ln n - n against gammaln(n + 1) for n = 1..{C12_MAX_N:.0e}.",
    verdict_c12,
    value_c12,
    conditions_c12,
    outcomes=(
        "does not hold when the relative error of n ln n - n does not fall steadily or the "
        "error is not O(ln n) over the table; holds when the relative error also falls below "
        "1% within it; with conditions otherwise. A theorem (Stirling's formula) checked "
        "numerically against gammaln: only the arithmetic could make it fail."
    ),
)


def claim_c12() -> Claim:
    result = measure_c12()
    return SPEC_C12.row(result, result.details)
