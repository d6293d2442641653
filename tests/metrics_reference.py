"""The oracle for tests/test_metrics.py: softmaxlab.metrics as of commit 1a91a0f.

A frozen copy of the per-vector metric functions before they were rewritten for speed
(one pass per shared intermediate, float64 arithmetic for the long double reference).
The new implementation must give the same values; only ``hardmax`` differs in form: it
called ``normalize(x, "argmax")``, whose ``_argmax`` (at 1a91a0f) is inlined here so the
oracle does not move if methods.py changes. Do not edit these functions: they are the
specification the fast code is tested against.
"""

from __future__ import annotations

import numpy as np

from softmaxlab.dtypes import sum_tolerance


def hardmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        is_max = x == np.max(x, axis=-1, keepdims=True)
        count = np.sum(is_max, axis=-1, keepdims=True)
        p = np.where(is_max, (1.0 / count).astype(np.float64), np.asarray(0, np.float64))
    p[np.any(np.isnan(x), axis=-1)] = np.asarray(np.nan, np.float64)
    return p


def tv_to_argmax(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    return 0.5 * np.sum(np.abs(p - h), axis=-1)


def l2_to_argmax(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum((p - h) ** 2, axis=-1))


def kl_to_argmax(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(h > 0, h * (np.log(h) - np.log(p)), 0.0)
        kl = np.sum(terms, axis=-1)
    return np.where(np.isnan(p).any(axis=-1) | np.isnan(h).any(axis=-1), np.nan, kl)


def entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p == 0, 0.0, -p * np.log(p))
    return np.sum(terms, axis=-1)


def argmax_agrees(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        p_max = p == np.max(p, axis=-1, keepdims=True)
        x_max = x == np.max(x, axis=-1, keepdims=True)
    agrees = ~np.any(p_max & ~x_max, axis=-1) & np.any(p_max, axis=-1)
    return (agrees & ~np.isnan(p).any(axis=-1)).astype(np.float64)


def invalid(p: np.ndarray, dtype, k: int) -> np.ndarray:
    tol = sum_tolerance(dtype, k)
    with np.errstate(invalid="ignore"):
        ok = (
            np.all(np.isfinite(p), axis=-1)
            & np.all(p >= 0, axis=-1)
            & (np.abs(np.sum(p, axis=-1) - 1.0) <= tol)
        )
    return (~ok).astype(np.float64)


def errors(p: np.ndarray, p_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def vector_metrics(
    x: np.ndarray,
    p: np.ndarray,
    overflow: np.ndarray,
    p_ref: np.ndarray | None,
) -> dict[str, np.ndarray]:
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
        "nan_output": has_nan.astype(np.float64),
        "nonfinite_output": (~np.isfinite(pf)).any(axis=-1).astype(np.float64),
        "invalid": invalid(pf, p.dtype, k),
    }
    if p_ref is None:
        nan = np.full(pf.shape[:-1], np.nan)
        out["underflow"], out["max_abs_error"], out["max_rel_error"] = nan, nan.copy(), nan.copy()
    else:
        out["underflow"], out["max_abs_error"], out["max_rel_error"] = errors(p, p_ref)
    return out
