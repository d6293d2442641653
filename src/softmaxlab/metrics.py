"""Per-vector metrics of a normalisation's output p for logits x.

All metrics are computed in float64 from the exact values of x and p (every format here
converts to float64 without rounding). The target of the "distance to argmax" metrics is
the hardmax h of x: h_i = 1/m on the m maximisers of x, 0 elsewhere (ties share the mass).
Without ties these reduce to the textbook forms noted in each docstring.

Rates (overflow, nan, underflow, invalid, argmax_agrees, grad_vanishes and the NLL's
nll_infinite, nll_undefined, nll_grad_over_one, nll_convexity_break) are 0/1 per vector; the
others are real numbers, NaN where undefined (e.g. entropy of a NaN output).

The metrics of claim C14 (the NLL -ln p_y of a seeded target, its gradient and a midpoint
convexity test: softmaxlab.nll) come last in METRICS. The sweep measures them in float64
on the first grad_vectors vectors of float64 cells only (NLL_SCOPE), like grad_norm.

The functions per metric below are the definitions. :func:`vector_metrics`, which the
sweep calls on every chunk, computes the same values bit for bit in one fused pass (each
shared intermediate once: the row maxima, the hardmax mask, p - h, log p; the error
against a long double reference in float64 where that is exact); tests/test_metrics.py
checks it against a frozen copy of the per-metric formulas. Where numba is importable that
pass is compiled (softmaxlab.kernels.metrics: one loop over the rows, numpy's pairwise
summation order); the numpy implementation (_vector_metrics_numpy) stays the reference,
and tests/test_kernels.py checks the two give the same bits.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from softmaxlab.dtypes import DTYPES, finfo, sum_tolerance
from softmaxlab.nll import (
    NLL_DEFINITIONS,
    NLL_METRIC_RANGES,
    NLL_METRICS,
    NLL_RATE_METRICS,
)

METRICS: tuple[str, ...] = (
    "tv_to_argmax",
    "l2_to_argmax",
    "kl_to_argmax",
    "entropy",
    "normalized_entropy",
    "max_prob",
    "argmax_agrees",
    "support_fraction",
    "grad_norm",
    "grad_vanishes",
    "overflow",
    "nan_output",
    "nonfinite_output",
    "underflow",
    "invalid",
    "max_abs_error",
    "max_rel_error",
    "input_nonfinite",
    # Claim C14's NLL measurements (softmaxlab.nll), last so the columns above keep their
    # order; measured on float64 cells only (NLL_SCOPE).
    *NLL_METRICS,
)
RATE_METRICS: frozenset[str] = (
    frozenset(
        {
            "argmax_agrees",
            "grad_vanishes",
            "overflow",
            "nan_output",
            "nonfinite_output",
            "underflow",
            "invalid",
            "input_nonfinite",
        }
    )
    | NLL_RATE_METRICS
)
#: The dtype whose cells get the NLL metrics (every other cell has n = 0 for them).
NLL_DTYPE = "float64"
#: Each metric's natural range (low, high): the values it takes when p is a probability
#: vector (p_i >= 0, sum p = 1); +-inf where there is no bound. The interval rule of
#: softmaxlab.stats (its module docstring) reads it. A column can leave its range: a method
#: that does not give probability vectors (linear on signed logits: max_prob > 1,
#: tv_to_argmax > 1, entropy < 0), or rounding alone (the uniform vector's normalized
#: entropy is 1 + 2^-52 in float64; a float16 output may sum to 1 + 2^-9; in float8_e4m3fn
#: at K = 1000 every entry of the uniform vector rounds up to 2^-9, so its normalized
#: entropy is 1.76). Intervals stay on the range, and a column whose mean leaves it gets
#: none (softmaxlab.stats). Rates are 0/1, so in [0, 1]; l2_to_argmax <= sqrt 2, the
#: diameter of the simplex; support_fraction is a share, in [0, 1] whatever p is.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **{name: (0.0, 1.0) for name in RATE_METRICS},
    "tv_to_argmax": (0.0, 1.0),
    "l2_to_argmax": (0.0, float(np.sqrt(2.0))),
    "kl_to_argmax": (0.0, np.inf),
    "entropy": (0.0, np.inf),
    "normalized_entropy": (0.0, 1.0),
    "max_prob": (0.0, 1.0),
    "support_fraction": (0.0, 1.0),
    "grad_norm": (0.0, np.inf),
    "max_abs_error": (0.0, np.inf),
    "max_rel_error": (0.0, np.inf),
    **NLL_METRIC_RANGES,
}
#: The accuracy metrics: how far the output is from the hardmax, its entropy and largest
#: entry, its errors against the wider computation. The sweep leaves a vector whose output
#: is not finite out of them (NaN there; nonfinite_output counts it, :func:`leave_out_nonfinite`):
#: a NaN output makes them NaN anyway, an infinite one (linear's sum rounded to 0 in a narrow
#: format) would make them infinite, and one infinite vector an infinite cell mean.
ACCURACY_METRICS: tuple[str, ...] = (
    "tv_to_argmax",
    "l2_to_argmax",
    "kl_to_argmax",
    "entropy",
    "normalized_entropy",
    "max_prob",
    "max_abs_error",
    "max_rel_error",
)
#: The metrics bounded in [0, 1]: the rates and the shares and probabilities.
UNIT_INTERVAL_METRICS: frozenset[str] = frozenset(
    name for name, bounds in METRIC_RANGES.items() if bounds == (0.0, 1.0)
)


def metric_ranges(names) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) float64 arrays of the natural ranges of ``names`` (METRIC_RANGES), in
    order: the bounds RunningSummary takes. ValueError for a metric without a range."""
    unknown = [name for name in names if name not in METRIC_RANGES]
    if unknown:
        raise ValueError(
            f"metric {unknown[0]!r} has no range in METRIC_RANGES; known: "
            f"{', '.join(METRIC_RANGES)}"
        )
    bounds = np.array([METRIC_RANGES[name] for name in names], dtype=np.float64).reshape(-1, 2)
    return bounds[:, 0].copy(), bounds[:, 1].copy()


def _method_runs(names) -> list[tuple[int, int]]:
    """[start, stop) of each run of ``names`` in which no metric repeats: the columns of one
    method, in the layout the sweep summarises (METRICS once per method)."""
    runs, start, seen = [], 0, set()
    for i, name in enumerate(names):
        if name in seen:
            runs.append((start, i))
            start, seen = i, set()
        seen.add(name)
    runs.append((start, len(names)))
    return runs


@functools.lru_cache(maxsize=8)
def _unbounded_layout(names: tuple[str, ...]):
    """What :func:`unbounded_columns` reads of a column layout, made once per layout (a
    sweep job summarises every cell with the same one): the natural ranges, which columns
    are bounded non-rates, and per method run (start, stop, index of invalid, index of
    nonfinite_output), runs without both left out. Read-only arrays."""
    low, high = metric_ranges(names)
    bounded = np.isfinite(low) & np.isfinite(high)
    bounded &= np.array([name not in RATE_METRICS for name in names], dtype=bool)
    runs = []
    for start, stop in _method_runs(names):
        run = names[start:stop]
        if "invalid" in run and "nonfinite_output" in run:
            runs.append(
                (start, stop, start + run.index("invalid"), start + run.index("nonfinite_output"))
            )
    for array in (low, high, bounded):
        array.flags.writeable = False
    return low, high, bounded, tuple(runs)


def unbounded_columns(names, totals, minimum, maximum) -> np.ndarray:
    """Which columns of a cell's summary have no valid interval (bool, one per column): a
    metric with a finite natural range that is not a rate (tv_to_argmax, l2_to_argmax,
    normalized_entropy, max_prob, support_fraction) whose observations left that range,
    in a method whose finite outputs are not all distributions there (its ``invalid``
    count above its ``nonfinite_output`` count: negative entries or a sum off 1). Such
    values come from a map that is not a distribution, not from rounding one, and need
    have no bound: linear normalisation on signed logits divides by a sum that crosses 0,
    so its distance and largest entry have no finite mean, and no interval covers one
    (softmaxlab.stats). ``names``: the columns' metrics, one run per method (the sweep's
    layout); ``totals``: each column's sum (a rate's count of ones); ``minimum``,
    ``maximum``: its observed extremes."""
    low, high, bounded, runs = _unbounded_layout(tuple(names))
    beyond = bounded & ((np.asarray(minimum) < low) | (np.asarray(maximum) > high))
    out = np.zeros(len(low), dtype=bool)
    for start, stop, invalid, nonfinite in runs:
        if totals[invalid] > totals[nonfinite]:
            out[start:stop] = beyond[start:stop]
    return out


# A directional derivative below this is "vanishing": float64 finite differences resolve
# about 1e-10 relative to p, so smaller values are indistinguishable from zero.
GRAD_VANISHING_THRESHOLD = 1e-8


def unchecked_sum_from(dtype) -> int | None:
    """The smallest K at which dtypes.sum_tolerance(dtype, K) reaches 1, so that any sum in
    [0, 2] passes, or None where that K exceeds 10^6. The tolerance is (j + 2) eps with
    j = ceil(log2 K): it reaches 1 at j = ceil(1/eps - 2), first at K = 2^(j-1) + 1."""
    j = max(1, math.ceil(1 / float(finfo(dtype).eps) - 2))
    if j > 20:  # K > 2^19 + 1 > 10^6 (and 2^(j - 1) itself is huge for float64)
        return None
    k = 2 if j == 1 else 2 ** (j - 1) + 1
    return k if k <= 10**6 else None


def unchecked_sums_text() -> str:
    """The invalid metric's caveat, computed from the tolerance of every format."""
    starts = {name: unchecked_sum_from(name) for name in DTYPES}
    listed = [f"{name} from K = {k}" for name, k in starts.items() if k is not None]
    if not listed:
        return ""
    return (
        f"Where the tolerance reaches 1 ({', '.join(listed)}) the sum is not checked in "
        "effect: invalid then counts negative or non-finite entries only, and an output "
        "without mass (every entry rounded to 0) passes."
    )


#: The definition of every metric, per vector (p: the output in the dtype, read exactly as
#: float64; h: the hardmax of x; a: the maximiser of x when it is unique). The report's
#: glossary and the README print these.
DEFINITIONS: dict[str, str] = {
    "tv_to_argmax": "total variation 1/2 sum_i |p_i - h_i| to the hardmax h; 1 - p_a for "
    "a unique maximiser a and sum p = 1.",
    "l2_to_argmax": "Euclidean distance ||p - h||_2 to the hardmax.",
    "kl_to_argmax": "KL(h || p) = sum_{h_i > 0} h_i ln(h_i / p_i); -ln p_a for a unique "
    "maximiser, i.e. the cross-entropy loss when the label is the argmax; inf if p_a = 0. "
    "Never negative when p is a distribution (Gibbs' inequality); an output that is not one "
    "can make it negative: a narrow format's rounding of the masses (1/m rounded up on m "
    "tied maximisers) or linear normalisation of signed logits.",
    "entropy": "Shannon entropy -sum_i p_i ln p_i in nats, 0 ln 0 = 0; NaN if some p_i < 0.",
    "normalized_entropy": "entropy / ln K: 1 for the uniform distribution, 0 for a one-hot.",
    "max_prob": "max_i p_i.",
    "argmax_agrees": "1 if every maximiser of p is a maximiser of x (a uniform p over a "
    "non-constant x does not agree; a NaN p never does), else 0.",
    "support_fraction": "share of the K entries with p_i > 0 (NaN if p has a NaN).",
    "grad_norm": "||J(x) v||_2 for a random unit direction v: the central difference "
    "(f(x + h v) - f(x - h v)) / 2h in float64, h = eps^(1/3) max(1, max|x|) (Nocedal & "
    "Wright 2006, sec. 8.1); measured on the first grad_vectors vectors of each cell.",
    "grad_vanishes": f"1 if grad_norm < {GRAD_VANISHING_THRESHOLD:g} (indistinguishable from "
    "zero in float64 finite differences), else 0.",
    "overflow": "1 if an intermediate or the output exceeded the format's max (became inf, "
    "or NaN in float8_e4m3fn, which has no inf) although the input was finite, else 0. A zero "
    "denominator (no mass, or every term underflowed) is not overflow: it shows in nan/invalid.",
    "nan_output": "1 if some p_i is NaN, else 0.",
    "nonfinite_output": "1 if some p_i is NaN or infinite, else 0: the share of vectors the "
    "accuracy metrics (distances, entropy, max_prob, errors) leave out (NaN there, an "
    "infinite output too); report it next to them (no survivorship).",
    "underflow": "1 if some p_i is 0 in the format where the wider reference computation of "
    "the same method on the same rounded input is positive, else 0.",
    "invalid": "1 unless every p_i is finite and >= 0 and |sum p - 1| <= (ceil(log2 K) + 2) "
    "eps of the format, else 0. " + unchecked_sums_text(),
    "max_abs_error": "max_i |p_i - r_i| against the reference r: the same method on the same "
    "rounded input in float64 (in long double for float64 itself).",
    "max_rel_error": "max over r_i > 0 of |p_i - r_i| / r_i, same reference.",
    "input_nonfinite": "1 if some logit is not finite after rounding to the format (the "
    "cast, not the method: a logit that rounds beyond the format's largest value gives NaN "
    "in float8_e4m3fn (|x| > 464: its largest value is 448, and 464, the midpoint to the "
    "next step, rounds to it) and inf in the others (float16: |x| >= 65520), else 0. Every "
    "other metric is measured on the vectors whose rounded "
    "logits are all finite only (NaN, so left out, for the others).",
}
#: Where the NLL metrics are measured, appended to each of their definitions.
NLL_SCOPE = (
    "Measured in float64 on the first grad_vectors vectors of the float64 cells only (n = 0 in "
    "the other formats): a format would enter only through the rounding of x, and claim C14 "
    "is about the mathematics of the loss, not its arithmetic."
)
DEFINITIONS.update({name: f"{text} {NLL_SCOPE}" for name, text in NLL_DEFINITIONS.items()})


def hardmax(x: np.ndarray) -> np.ndarray:
    """h = 1{x_i = max x} / #{i : x_i = max x}, float64; NaN rows where x has NaN (the
    ``argmax`` method, computed in float64)."""
    x = np.asarray(x, dtype=np.float64)
    rows = x.reshape(-1, x.shape[-1])
    with np.errstate(invalid="ignore"):
        row_max = np.max(rows, axis=-1, keepdims=True)
    is_max = rows == row_max
    h = np.multiply(is_max, _hardmax_value(_count(is_max), np.isnan(row_max[:, 0]))[:, None])
    return h.reshape(x.shape)


def _hardmax_value(count: np.ndarray, x_nan: np.ndarray) -> np.ndarray:
    """The hardmax's mass per row, 1/m for m maximisers (as methods.maps._argmax rounds it:
    1.0 / count in float64), NaN on rows whose x has NaN (no maximiser, m = 0). Times the
    mask it is h: 1 * (1/m) and 0 * (1/m) are exact, 0 * NaN fills the NaN rows."""
    with np.errstate(divide="ignore"):
        value = 1.0 / count
    value[x_nan] = np.nan
    return value


def _count(mask: np.ndarray) -> np.ndarray:
    """True entries per row (an int32 sum: numpy vectorises it, not the default intp)."""
    return np.sum(mask, axis=-1, dtype=np.int32 if mask.shape[-1] < 2**31 else np.int64)


def tv_to_argmax(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Total variation 1/2 sum_i |p_i - h_i|; 1 - p_a for one maximiser a and sum p = 1."""
    return 0.5 * np.sum(np.abs(p - h), axis=-1)


def l2_to_argmax(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Euclidean distance ||p - h||_2 to the hardmax."""
    return np.sqrt(np.sum((p - h) ** 2, axis=-1))


def kl_to_argmax(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """KL(h || p) = sum_{h_i > 0} h_i log(h_i / p_i) = -log p_a for a single maximiser.

    This is the cross-entropy loss of p when the label is the argmax; +inf when p_a = 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(h > 0, h * (np.log(h) - np.log(p)), 0.0)
        kl = np.sum(terms, axis=-1)
    return np.where(np.isnan(p).any(axis=-1) | np.isnan(h).any(axis=-1), np.nan, kl)


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy -sum p_i ln p_i in nats, with 0 ln 0 = 0 (NaN if some p_i < 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p == 0, 0.0, -p * np.log(p))
    return np.sum(terms, axis=-1)


def argmax_agrees(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """1 if every maximiser of p is a maximiser of x (the decision is unambiguously right).

    A uniform output over non-constant x therefore does not agree; a NaN output never does.
    """
    with np.errstate(invalid="ignore"):
        p_max = p == np.max(p, axis=-1, keepdims=True)
        x_max = x == np.max(x, axis=-1, keepdims=True)
    agrees = ~np.any(p_max & ~x_max, axis=-1) & np.any(p_max, axis=-1)
    return (agrees & ~np.isnan(p).any(axis=-1)).astype(np.float64)


def invalid(p: np.ndarray, dtype, k: int) -> np.ndarray:
    """1 unless p is a probability vector within the dtype's tolerance.

    Valid: every p_i finite, p_i >= 0, and |sum p - 1| <= dtypes.sum_tolerance(dtype, K).
    """
    tol = sum_tolerance(dtype, k)
    with np.errstate(invalid="ignore"):
        ok = (
            np.all(np.isfinite(p), axis=-1)
            & np.all(p >= 0, axis=-1)
            & (np.abs(np.sum(p, axis=-1) - 1.0) <= tol)
        )
    return (~ok).astype(np.float64)


def errors(p: np.ndarray, p_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(underflow, max_abs_error, max_rel_error) of p against a wider reference p_ref.

    underflow: 1 if some p_i == 0 where p_ref_i > 0 (the format flushed a positive mass).
    max_abs_error = max_i |p_i - p_ref_i|; max_rel_error = max over p_ref_i > 0 of
    |p_i - p_ref_i| / p_ref_i. The differences are taken in the reference's precision
    (fl_ref(p_i - p_ref_i), and the quotient fl_ref(|.| / p_ref_i)), the maxima rounded
    to float64; NaN max_rel_error where no p_ref_i > 0 or some difference is NaN.
    """
    p = np.asarray(p)
    p_ref = np.asarray(p_ref)
    k = p.shape[-1]
    if p.dtype not in _EXACT_IN_FLOAT64:
        return _errors_in_ref(p, p_ref)
    pf = np.ascontiguousarray(p, dtype=np.float64).reshape(-1, k)
    with np.errstate(all="ignore"):
        found = _errors(pf, pf == 0, np.ascontiguousarray(p_ref).reshape(-1, k))
    return tuple(value.reshape(p.shape[:-1]) for value in found)


# Every format of the sweep converts to float64 exactly; so p can be read as float64 once.
_EXACT_IN_FLOAT64 = frozenset(DTYPES.values())
_LONGDOUBLE = np.dtype(np.longdouble)
# The float64 shortcut for a long double reference is proved for x87 extended (64-bit
# significand) and IEEE quad (113); elsewhere (double, double-double) the definition runs.
_WIDER_LONGDOUBLE = np.finfo(np.longdouble).nmant in (63, 112)
# Ranges in which the float64 shortcut's rounding bounds hold (see _errors_wide).
_SURE_LO, _SURE_HI = 2.0**-900, 2.0**900
_MAX_RATIO_LO = 2.0**-800
_CANDIDATE = 1 - 2.0**-48


#: The metrics measured against the wider reference computation (softmaxlab.dtypes).
ERROR_METRICS: tuple[str, ...] = ("underflow", "max_abs_error", "max_rel_error")


def error_metrics(p: np.ndarray, p_ref: np.ndarray) -> dict[str, np.ndarray]:
    """underflow, max_abs_error and max_rel_error of the output p (any format) against the
    reference p_ref (same shape, a wider format), one float64 value per row: the values
    vector_metrics gives for them."""
    p = np.asarray(p)
    k = p.shape[-1]
    pf = np.ascontiguousarray(p, dtype=np.float64).reshape(-1, k)
    ref = np.ascontiguousarray(p_ref).reshape(-1, k)
    with np.errstate(all="ignore"):
        errs = _errors(pf, pf == 0, ref)
    return {
        name: np.reshape(value, p.shape[:-1])
        for name, value in zip(ERROR_METRICS, errs, strict=True)
    }


def _errors(pf, zero, p_ref, scratch=None):
    """errors() on rows: pf the output read as float64 (n, K), zero = pf == 0, p_ref (n, K);
    scratch: a float64 (n, K) array the caller no longer needs (saves an allocation)."""
    if scratch is None:
        scratch = np.empty_like(pf)
    if p_ref.dtype == np.float64:
        return _errors_float64(pf, zero, p_ref, scratch)
    if p_ref.dtype == _LONGDOUBLE and _WIDER_LONGDOUBLE:
        return _errors_wide(pf, zero, p_ref, scratch)
    return _errors_in_ref(pf, p_ref)


def _errors_in_ref(p, p_ref):
    """The definition, every operation in the reference's dtype (any dtype pair)."""
    ref_positive = p_ref > 0
    underflow = np.any((p == 0) & ref_positive, axis=-1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(p.astype(p_ref.dtype) - p_ref)
        abs_err = np.max(diff, axis=-1).astype(np.float64)
        rel = np.where(ref_positive, diff / np.where(ref_positive, p_ref, 1), -np.inf)
        rel_err = np.max(rel, axis=-1).astype(np.float64)
    no_positive = ~np.any(ref_positive, axis=-1)
    rel_err[no_positive | np.isnan(diff).any(axis=-1)] = np.nan
    return underflow, abs_err, rel_err


def _errors_float64(pf, zero, r, scratch):
    """errors() against a float64 reference: the definition's arithmetic, in place."""
    positive = r > 0
    underflow = np.any(zero & positive, axis=-1).astype(np.float64)
    diff = np.subtract(pf, r, out=scratch)
    np.abs(diff, out=diff)
    abs_err = np.max(diff, axis=-1)
    bad = np.isnan(abs_err)  # some difference is NaN: max propagates NaN
    np.divide(diff, r, out=diff)
    # Entries with r <= 0 do not count (-inf); only rows that have one need the fix.
    partial = np.flatnonzero(~np.all(positive, axis=-1))
    if partial.size:
        diff[partial] = np.where(positive[partial], diff[partial], -np.inf)
    rel_err = np.max(diff, axis=-1)
    rel_err[bad | ~np.any(positive, axis=-1)] = np.nan
    return underflow, abs_err, rel_err


def _errors_wide(pf, zero, r, scratch):
    """errors() against a long double reference r, with one long double operation over the
    whole array (the difference) instead of the definition's eight; the same values.

    hi = fl64(r) gives the sign of r (a tiny r keeps it in a signed zero) and, in
    [2^-900, 2^900], r to within u = 2^-53 relative. So r > 0 is hi > 0, except where
    hi = +0, which r in [+0, 2^-1075] gives: there r != 0 is read in long double (a cast,
    the cheapest long double operation), on those entries only.

    max_abs_error: D_i = fl64(fl_ld(p_i - r_i)) is the definition's difference rounded
    to float64, and rounding is monotone, so max_i |D_i| = fl64(max_i |fl_ld(p_i - r_i)|):
    exact.

    max_rel_error = max_i o_i, o_i = fl64(fl_ld(|fl_ld(p_i - r_i)| / r_i)) over r_i > 0.
    On "sure" entries, hi_i in [2^-900, 2^900], r_i is within u of hi_i, and a nonzero
    difference is at least r_i's long double ulp (above 2^-1014, a normal float64): so
    D_i = 0 only where p_i = r_i (o_i = 0), and otherwise the float64 ratio
    a_i = fl64(|D_i| / hi_i) is within 4.1u of o_i relative (three float64 roundings
    against a float64 and a long double one) while both are normal. With A the row's
    largest a_i, in [2^-800, 2^900], an entry with a_i < A (1 - 2^-48) has
    o_i < A (1 - 4.1u) <= o_j for a_j = A, as (1 - 2^-48)(1 + 4.1u) < 1 - 4.1u: only the
    entries with a_i >= A (1 - 2^-48), about one per row, are recomputed, in long double
    with the definition's operations. Entries that are not sure are recomputed too,
    except p_i = 0 with finite r_i > 0, whose o_i = r_i / r_i = 1; rows with A outside
    {<= 0} and [2^-800, 2^900] (an overflowing ratio) are recomputed whole.
    """
    k = pf.shape[-1]
    hi = r.astype(np.float64)
    positive = hi > 0
    unsure = np.flatnonzero(hi == 0)
    unsure = unsure[~np.signbit(hi.reshape(-1)[unsure])]
    if unsure.size:
        positive.reshape(-1)[unsure] = r.reshape(-1)[unsure].astype(bool)
    underflow = np.any(zero & positive, axis=-1).astype(np.float64)

    # Computed in long double, rounded to float64 as numpy's buffers fill: no long double
    # array is allocated (fresh pages are a large part of the cost at this size).
    diff = np.subtract(pf, r, out=scratch, casting="unsafe")
    np.abs(diff, out=diff)
    abs_err = np.max(diff, axis=-1)
    bad = np.isnan(abs_err)

    sure = (hi >= _SURE_LO) & (hi <= _SURE_HI)
    ratio = np.divide(diff, hi, out=diff)
    mixed = ~np.all(sure, axis=-1) & ~bad
    if mixed.any():
        ratio[mixed] = np.where(sure[mixed], ratio[mixed], -np.inf)
    top = np.max(ratio, axis=-1)
    in_range = (top >= _MAX_RATIO_LO) & (top <= _SURE_HI)
    whole = ~(in_range | (top <= 0) | bad)
    candidate = ratio >= np.where(in_range, top * _CANDIDATE, np.inf)[:, None]
    # Sure entries, when there are any, are >= 0 each: 0 is a lower bound of the row's max.
    rel_err = np.where(top > -np.inf, 0.0, -np.inf)

    rows = np.flatnonzero(mixed | whole)
    if rows.size:
        recompute = positive[rows] & (~sure[rows] | whole[rows, None])
        ones = recompute & zero[rows] & (hi[rows] <= _SURE_HI)
        with_one = rows[np.any(ones, axis=-1)]
        rel_err[with_one] = np.maximum(rel_err[with_one], 1.0)
        candidate[rows] |= recompute & ~ones
    flat = np.flatnonzero(candidate)
    if flat.size:
        r_c = r.reshape(-1)[flat]
        exact = np.abs(pf.reshape(-1)[flat].astype(r.dtype) - r_c) / r_c
        np.maximum.at(rel_err, flat // k, exact.astype(np.float64))
    rel_err[bad | ~np.any(positive, axis=-1)] = np.nan
    return underflow, abs_err, rel_err


def central_points(
    x: np.ndarray, direction: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x + h v, x - h v, 2h) of :func:`directional_grad_norm`'s central difference, in
    float64: what every method's difference at x along v shares (the sweep makes them once
    for its 32 methods). h = eps^(1/3) max(1, max|x|) per row (shape (n, 1))."""
    x = np.asarray(x, dtype=np.float64)
    # max|x| as max(max x, -min x): the same value without an |x| array (a zero's sign
    # may differ, and max(1, .) drops it)
    largest = np.maximum(np.max(x, axis=-1, keepdims=True), -np.min(x, axis=-1, keepdims=True))
    h = np.cbrt(np.finfo(np.float64).eps) * np.maximum(1.0, largest)
    with np.errstate(all="ignore"):
        step = h * direction
        return x + step, x - step, 2 * h


def directional_grad_norm(
    fn, x: np.ndarray, direction: np.ndarray, points: tuple | None = None
) -> np.ndarray:
    """||J(x) v||_2 by a central difference (f(x + h v) - f(x - h v)) / (2h), in float64.

    v is a unit direction per row; h = eps^(1/3) max(1, max|x|), the step that balances
    truncation and rounding error for central differences (Nocedal & Wright 2006, sec. 8.1).
    ``points``: :func:`central_points` of (x, direction) when the caller has them (fn must
    not write to them).
    """
    ahead, behind, two_h = central_points(x, direction) if points is None else points
    with np.errstate(all="ignore"):
        diff = (fn(ahead) - fn(behind)) / two_h
        return np.sqrt(np.sum(diff**2, axis=-1))


def vector_metrics(
    x: np.ndarray,
    p: np.ndarray,
    overflow: np.ndarray,
    p_ref: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Every metric except the gradient ones, the NLL ones and input_nonfinite (the
    sweep's: they need the draws or the unrounded logits), one value per row, as float64
    arrays.

    x: the rounded logits (any format), p: the method's output in that format, overflow:
    the method's per-row overflow flag, p_ref: the same method on the same x in a wider
    format (None: error metrics are NaN).

    The values are those of the per-metric functions above, bit for bit, computed with
    each shared intermediate once: p's row max (max_prob, and the NaN test: max
    propagates NaN), min and sum (invalid), the mask p == 0, the hardmax mask of x, p - h
    (tv, then squared in place for l2), log p (entropy, and KL at the maximisers).
    """
    from softmaxlab.kernels.formats import finite_rows  # bit tests; imports numba once

    x = np.asarray(x)
    p = np.asarray(p)
    k = x.shape[-1]
    tol = sum_tolerance(p.dtype, k)  # ValueError unless p is in one of the six formats
    ref = None if p_ref is None else np.ascontiguousarray(p_ref).reshape(-1, k)
    values = _vector_metrics(x, p, k, tol, ref)
    values["overflow"] = np.asarray(overflow, dtype=np.float64).reshape(-1)
    values["nonfinite_output"] = (~finite_rows(p.reshape(-1, k))).astype(np.float64)
    return {name: np.reshape(value, x.shape[:-1]) for name, value in values.items()}


def leave_out_nonfinite(values: dict[str, np.ndarray]) -> None:
    """Set the ACCURACY_METRICS of ``values`` (vector_metrics' dict, every metric as a
    writeable array of one value per row) to NaN on the rows whose output is not finite
    (nonfinite_output 1), in place: the sweep's rule, so that the summary's accuracy rows
    are those of the finite outputs and nonfinite_output says how many were left out. Only
    rows with an infinite and no NaN entry change: a NaN entry makes every one NaN already."""
    rows = values["nonfinite_output"] == 1
    if rows.any():
        for metric in ACCURACY_METRICS:
            values[metric][rows] = np.nan


def _vector_metrics(x, p, k, tol, p_ref) -> dict[str, np.ndarray]:
    """vector_metrics on rows (every metric but overflow); p_ref None or (n, K) rows.

    The compiled pass (:func:`_vector_metrics_fused`) where numba is importable and
    USE_KERNELS is set, else the numpy reference (:func:`_vector_metrics_numpy`): the same
    values bit for bit (tests/test_kernels.py)."""
    kernels = _metric_kernels() if USE_KERNELS else None
    if kernels is not None and k > 0:
        return _vector_metrics_fused(kernels, x, p, k, tol, p_ref)
    return _vector_metrics_numpy(x, p, k, tol, p_ref)


#: Run the metric pass compiled (softmaxlab.kernels.metrics) where numba is importable;
#: False runs the numpy reference everywhere (the tests switch it to compare the two).
USE_KERNELS: bool = True


@functools.cache
def _metric_kernels():
    """softmaxlab.kernels.metrics, imported on first use (importing numba costs about
    0.3 s), or None where numba cannot be imported (the module catches that itself)."""
    from softmaxlab.kernels import metrics as kernels

    return kernels if kernels.AVAILABLE else None


def _logit_rows(x, k):
    """The logits as (n, K) rows for comparisons only: float32 and float64 compare as they
    are (exactly as in float64); the narrow formats are cast once to float64 (their own max
    and == are slow in numpy)."""
    xw = x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)
    return xw.reshape(-1, k)


def _vector_metrics_fused(kernels, x, p, k, tol, p_ref) -> dict[str, np.ndarray]:
    """_vector_metrics_numpy's values from one compiled loop over the rows (row_metrics of
    ``kernels``, softmaxlab.kernels.metrics), with numpy left what must be numpy's to the
    last bit: ln p (one pass, in float64), ln(1/m) of the hardmax (a table over m), ln K,
    the sign of a zero row maximum of p, and the errors against a long double reference
    (numba has no long double; _errors_wide)."""
    xw = _kernel_rows(x, k)
    pw = _kernel_rows(p, k)
    n = pw.shape[0]
    fused_ref = p_ref is not None and p_ref.dtype == np.float64
    shapes = [xw.shape, pw.shape] + ([p_ref.shape] if fused_ref else [])
    if len(set(shapes)) > 1:  # the kernels do not check bounds
        raise ValueError(f"vector_metrics: x, p and p_ref must have the same shape; got {shapes}")
    with np.errstate(all="ignore"):
        log_p = _log_p(p, pw)
        r = p_ref if fused_ref else np.empty((0, 0))
        out = kernels.output_rows(n)  # rows apart in L1: see kernels.padded_stride
        kernels.row_metrics(xw, pw, log_p, r, kernels.log_hardmax_masses(k), tol, out)
        values = dict(zip(kernels.OUTPUTS, out, strict=True))
        # numpy's max of a row of +-0 may be either zero (SIMD lane order): ask numpy.
        zero_max = np.flatnonzero(values["max_prob"] == 0)
        if zero_max.size:
            values["max_prob"][zero_max] = np.max(pw[zero_max].astype(np.float64), axis=-1)
        ent = values["entropy"]
        values["normalized_entropy"] = ent / np.log(k) if k > 1 else np.full_like(ent, np.nan)
        if p_ref is not None and not fused_ref:
            pf = pw.astype(np.float64, copy=False)
            errs = _errors(pf, pf == 0, p_ref, scratch=log_p)
            values.update(zip(("underflow", "max_abs_error", "max_rel_error"), errs, strict=True))
    return values


def _kernel_rows(a, k):
    """``a`` as C-contiguous (n, K) float32 or float64 rows, the kernels' inputs, each value
    exact: float32 and float64 as they are; float16, bfloat16 and the 8-bit formats
    widened to float32 by softmaxlab.kernels.formats.widen (a shift for bfloat16, a table
    gather for the others: 5 times as fast as numpy's float16 cast and 16 times as fast
    as ml_dtypes' fp8 casts); anything else cast to float64."""
    from softmaxlab.kernels.formats import NARROW, widen

    if a.dtype in NARROW:
        a = widen(a, np.float32)
    elif a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return np.ascontiguousarray(a).reshape(-1, k)


def _log_p(p: np.ndarray, pw: np.ndarray) -> np.ndarray:
    """ln p in float64 for the metric kernel (pw: :func:`_kernel_rows` of p; float32 is cast
    exactly, in numpy's buffers), where p > 0; elsewhere (0, negative, NaN: the kernel
    knows ln p there, -inf or NaN) left as it was allocated: log is not called there, since
    numpy's log of those takes a slow path (12 to 13 ns an entry, against 4 to 8; the
    smallest subnormal, which an earlier version took there, as slow), and the sparse
    maps, argmax, relu and the exponential maps at large scales have many such entries.
    For the narrow formats a gather from :func:`_log_table` (every value's numpy log, the
    same bits) instead of a cast and a log per entry: 3 to 5 times as fast."""
    from softmaxlab.kernels.formats import NARROW, lookup

    if p.dtype in NARROW:
        return lookup(_log_table(p.dtype), p).reshape(pw.shape)
    if pw.size and np.min(pw) > 0:  # False where some p is NaN
        return np.log(pw, dtype=np.float64)
    return np.log(pw, out=np.empty(pw.shape), where=pw > 0, dtype=np.float64)


@functools.cache
def _log_table(dtype: np.dtype) -> np.ndarray:
    """_log_p of every bit pattern of a narrow format, as its float32 value (the kernels'
    widening): np.log(max(v, float32's smallest subnormal)) in float64, which is _log_p's
    value entry by entry where v > 0; at 0, negative values and NaN (fmax) that
    subnormal's log, which the kernel never reads. Read-only."""
    from softmaxlab.kernels.formats import decode_table

    tiny = np.finfo(np.float32).smallest_subnormal
    with np.errstate(all="ignore"):
        table = np.log(np.fmax(decode_table(dtype, np.float32), tiny), dtype=np.float64)
    table.flags.writeable = False
    return table


def _vector_metrics_numpy(x, p, k, tol, p_ref) -> dict[str, np.ndarray]:
    """The reference implementation of _vector_metrics: numpy passes over the block."""
    xw = _logit_rows(x, k)
    pf = np.ascontiguousarray(p, dtype=np.float64).reshape(-1, k)
    n = pf.shape[0]
    with np.errstate(all="ignore"):
        p_max = np.max(pf, axis=-1)
        has_nan = np.isnan(p_max)
        p_min = np.min(pf, axis=-1)
        p_sum = np.sum(pf, axis=-1)
        zero = pf == 0

        x_max = np.max(xw, axis=-1, keepdims=True)
        is_max = xw == x_max
        x_nan = np.isnan(x_max[:, 0])
        count = _count(is_max)
        h_value = _hardmax_value(count, x_nan)
        rows = np.arange(n)
        first = np.argmax(is_max, axis=-1)  # the maximiser, where there is one
        single = np.flatnonzero(count == 1)
        ties = np.flatnonzero(count > 1)

        # |p - h| is |p_i| off the maximisers (h_i = 0: p_i - 0 = p_i exactly), so take
        # |p| and patch the maximisers' entries; rows whose x has NaN have h = NaN.
        work = np.abs(pf)
        at_max = (single, first[single])
        work[at_max] = np.abs(pf[at_max] - h_value[single])
        if ties.size:
            work[ties] = np.abs(pf[ties] - is_max[ties] * h_value[ties, None])
        work[x_nan] = np.nan
        tv = 0.5 * np.sum(work, axis=-1)
        np.square(work, out=work)  # |d|^2 = d^2 exactly
        l2 = np.sqrt(np.sum(work, axis=-1))

        # log p, once. KL(h || p) has a term only at the maximisers: with one maximiser a
        # its row sum is that term exactly (the other terms are +0.0), h (log h - log p_a)
        # with h = 1; rows with ties sum their terms as the definition does.
        np.log(pf, out=work)
        kl = h_value * (np.log(h_value) - work[rows, first])
        if ties.size:
            h_ties = is_max[ties] * h_value[ties, None]
            terms = np.where(is_max[ties], h_ties * (np.log(h_ties) - work[ties]), 0.0)
            kl[ties] = np.sum(terms, axis=-1)
        kl[has_nan | x_nan] = np.nan

        # entropy terms -p ln p = -(p ln p) (rounding is symmetric), 0 where p = 0.
        np.multiply(pf, work, out=work)
        np.negative(work, out=work)
        with_zero = np.flatnonzero(np.any(zero, axis=-1))
        if with_zero.size:
            work[with_zero] = np.where(zero[with_zero], 0.0, work[with_zero])
        ent = np.sum(work, axis=-1)

        # Share of p_i > 0: all of them (K / K = 1) where min p > 0, else counted.
        support = np.ones(n)
        some = np.flatnonzero(~(p_min > 0))
        support[some] = _count(pf[some] > 0) / k
        support[has_nan] = np.nan
        # Every maximiser of p is one of x: no entry at p's max outside x's maximisers.
        # (A NaN row has no entry equal to its max and never agrees.)
        agrees = ~np.any((pf == p_max[:, None]) > is_max, axis=-1) & ~has_nan
        # The definition's all-finite test is implied: a sum within tol of 1 is finite,
        # and with no NaN, min >= 0 is "every p_i >= 0".
        valid = (p_min >= 0) & (np.abs(p_sum - 1.0) <= tol)

        values = {
            "tv_to_argmax": tv,
            "l2_to_argmax": l2,
            "kl_to_argmax": kl,
            "entropy": ent,
            "normalized_entropy": ent / np.log(k) if k > 1 else np.full_like(ent, np.nan),
            "max_prob": p_max,
            "argmax_agrees": agrees.astype(np.float64),
            "support_fraction": support,
            "nan_output": has_nan.astype(np.float64),
            "invalid": (~valid).astype(np.float64),
        }
        if p_ref is None:
            nan = np.full(n, np.nan)
            errs = (nan, nan.copy(), nan.copy())
        else:
            errs = _errors(pf, zero, p_ref, scratch=work)
    values.update(zip(("underflow", "max_abs_error", "max_rel_error"), errs, strict=True))
    return values
