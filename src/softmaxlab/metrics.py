"""Per-vector metrics of a normalisation's output p for logits x.

All metrics are computed in float64 from the exact values of x and p (every format here
converts to float64 without rounding). The target of the "distance to argmax" metrics is
the hardmax h of x: h_i = 1/m on the m maximisers of x, 0 elsewhere (ties share the mass).
Without ties these reduce to the textbook forms noted in each docstring.

Rates (overflow, nan, underflow, invalid, argmax_agrees, grad_vanishes) are 0/1 per
vector; the others are real numbers, NaN where undefined (e.g. entropy of a NaN output).
"""

from __future__ import annotations

import numpy as np

from softmaxlab.dtypes import sum_tolerance
from softmaxlab.methods import normalize

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
    "nan",
    "underflow",
    "invalid",
    "max_abs_error",
    "max_rel_error",
)
RATE_METRICS: frozenset[str] = frozenset(
    {"argmax_agrees", "grad_vanishes", "overflow", "nan", "underflow", "invalid"}
)
# A directional derivative below this is "vanishing": float64 finite differences resolve
# about 1e-10 relative to p, so smaller values are indistinguishable from zero.
GRAD_VANISHING_THRESHOLD = 1e-8

#: The definition of every metric, per vector (p: the output in the dtype, read exactly as
#: float64; h: the hardmax of x; a: the maximiser of x when it is unique). The report's
#: glossary and the README print these.
DEFINITIONS: dict[str, str] = {
    "tv_to_argmax": "total variation 1/2 sum_i |p_i - h_i| to the hardmax h; 1 - p_a for "
    "a unique maximiser a and sum p = 1.",
    "l2_to_argmax": "Euclidean distance ||p - h||_2 to the hardmax.",
    "kl_to_argmax": "KL(h || p) = sum_{h_i > 0} h_i ln(h_i / p_i); -ln p_a for a unique "
    "maximiser, i.e. the cross-entropy loss when the label is the argmax; inf if p_a = 0.",
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
    "nan": "1 if some p_i is NaN, else 0.",
    "underflow": "1 if some p_i is 0 in the format where the wider reference computation of "
    "the same method on the same rounded input is positive, else 0.",
    "invalid": "1 unless every p_i is finite and >= 0 and |sum p - 1| <= (ceil(log2 K) + 2) "
    "eps of the format, else 0.",
    "max_abs_error": "max_i |p_i - r_i| against the reference r: the same method on the same "
    "rounded input in float64 (in long double for float64 itself).",
    "max_rel_error": "max over r_i > 0 of |p_i - r_i| / r_i, same reference.",
}


def hardmax(x: np.ndarray) -> np.ndarray:
    """h = 1{x_i = max x} / #{i : x_i = max x}, float64; NaN rows where x has NaN (the
    ``argmax`` method, computed in float64)."""
    return normalize(np.asarray(x, dtype=np.float64), "argmax")


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
    |p_i - p_ref_i| / p_ref_i. The differences are taken in the reference's precision.
    """
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


def directional_grad_norm(fn, x: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """||J(x) v||_2 by a central difference (f(x + h v) - f(x - h v)) / (2h), in float64.

    v is a unit direction per row; h = eps^(1/3) max(1, max|x|), the step that balances
    truncation and rounding error for central differences (Nocedal & Wright 2006, sec. 8.1).
    """
    x = np.asarray(x, dtype=np.float64)
    h = np.cbrt(np.finfo(np.float64).eps) * np.maximum(
        1.0, np.max(np.abs(x), axis=-1, keepdims=True)
    )
    with np.errstate(all="ignore"):
        diff = (fn(x + h * direction) - fn(x - h * direction)) / (2 * h)
        return np.sqrt(np.sum(diff**2, axis=-1))


def vector_metrics(
    x: np.ndarray,
    p: np.ndarray,
    overflow: np.ndarray,
    p_ref: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Every metric except the gradient ones, one value per row, as float64 arrays.

    x: the rounded logits (any format), p: the method's output in that format, overflow:
    the method's per-row overflow flag, p_ref: the same method on the same x in a wider
    format (None: error metrics are NaN).
    """
    k = x.shape[-1]
    xf = x.astype(np.float64)
    pf = p.astype(np.float64)
    h = hardmax(xf)
    ent = entropy(pf)
    with np.errstate(invalid="ignore"):
        support = np.mean(pf > 0, axis=-1)
    has_nan = np.isnan(pf).any(axis=-1)
    support[has_nan] = np.nan
    out = {
        "tv_to_argmax": tv_to_argmax(pf, h),
        "l2_to_argmax": l2_to_argmax(pf, h),
        "kl_to_argmax": kl_to_argmax(pf, h),
        "entropy": ent,
        "normalized_entropy": ent / np.log(k) if k > 1 else np.full_like(ent, np.nan),
        "max_prob": np.max(pf, axis=-1),
        "argmax_agrees": argmax_agrees(pf, xf),
        "support_fraction": support,
        "overflow": np.asarray(overflow, dtype=np.float64),
        "nan": has_nan.astype(np.float64),
        "invalid": invalid(pf, p.dtype, k),
    }
    if p_ref is None:
        nan = np.full(pf.shape[:-1], np.nan)
        out["underflow"], out["max_abs_error"], out["max_rel_error"] = nan, nan.copy(), nan.copy()
    else:
        out["underflow"], out["max_abs_error"], out["max_rel_error"] = errors(p, p_ref)
    return out
