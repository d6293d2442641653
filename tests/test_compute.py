"""compute="float32": the narrow formats computed as the frameworks' kernels do (inputs and
outputs in the format, arithmetic in float32), against an exact oracle (mpmath) rounded to
the format."""

import math

import ml_dtypes
import mpmath
import numpy as np
import pytest

from softmaxlab.methods import COMPUTE_MODES, compute_dtype, evaluate, normalize

NARROW = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
}


def test_compute_dtype_per_format_and_mode():
    for dtype in NARROW.values():
        assert compute_dtype(dtype, "native") == dtype
        assert compute_dtype(dtype, "float32") == np.float32
    for dtype in (np.float32, np.float64, np.longdouble):
        assert compute_dtype(dtype, "float32") == dtype  # never narrower than the input
    assert COMPUTE_MODES == ("native", "float32")
    with pytest.raises(ValueError, match="valid modes: native, float32"):
        compute_dtype(np.float16, "float64")
    with pytest.raises(ValueError, match="unknown compute mode"):
        normalize(np.ones(3, np.float16), "softmax", compute="fp32")


def _exact_softmax(row: np.ndarray) -> list:
    """softmax of the row's exact values, 50 digits (mpmath)."""
    with mpmath.workdps(50):
        terms = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
        total = mpmath.fsum(terms)
        return [t / total for t in terms]


def _rounded(values: list, dtype) -> np.ndarray:
    """Exact values rounded to the format: float64 first is harmless here (the formats
    have at most 11 significant bits, so a double rounding through 53 bits cannot move a
    value across a format midpoint unless it lies within 2^-42 relative of it)."""
    return np.array([float(v) for v in values]).astype(dtype)


@pytest.mark.parametrize("name", list(NARROW))
def test_float32_compute_rounds_the_exact_softmax(name):
    """In float32 mode the only error that survives is the final rounding to the format:
    each entry is the exact value rounded to the format, except where the exact value lies
    within float32's error of a midpoint (then a neighbour). Native arithmetic rounds every
    step and misses more often."""
    dtype = NARROW[name]
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((200, 12)) * 3).astype(dtype)
    p32 = normalize(x, "softmax", compute="float32")
    native = normalize(x, "softmax")
    assert p32.dtype == dtype and native.dtype == dtype
    hits32 = hits_native = total = 0
    for row, got32, got_native in zip(x, p32, native, strict=True):
        exact = _rounded(_exact_softmax(row), dtype)
        hits32 += int(np.sum(got32.astype(np.float64) == exact.astype(np.float64)))
        hits_native += int(np.sum(got_native.astype(np.float64) == exact.astype(np.float64)))
        total += len(row)
        # Never further than one step of the format from the exact value.
        step = np.spacing(np.abs(exact.astype(np.float32)).astype(dtype).astype(np.float32))
        assert np.all(np.abs(got32.astype(np.float32) - exact.astype(np.float32)) <= step)
    assert hits32 / total >= 0.99
    assert hits32 >= hits_native


def test_float32_compute_does_not_overflow_where_the_format_would():
    """Naive softmax of [12, 0] in float16: e^12 = 162755 > 65504 overflows float16's
    arithmetic (the thread's edge), not float32's; the output [1 - e^-12, e^-12] is finite."""
    x = np.array([[12.0, 0.0]], dtype=np.float16)
    p_native, overflow_native = evaluate(x, "softmax", stable=False)
    p32, overflow32 = evaluate(x, "softmax", stable=False, compute="float32")
    assert overflow_native.tolist() == [True] and np.isnan(p_native[0, 0])  # inf / inf
    assert overflow32.tolist() == [False]
    expected = np.array([1 / (1 + math.exp(-12)), math.exp(-12) / (1 + math.exp(-12))])
    assert np.array_equal(p32[0], expected.astype(np.float16))


@pytest.mark.parametrize("method", ["softmax", "linear", "sparsemax", "entmax15", "stablemax"])
def test_wide_inputs_ignore_the_mode(method):
    rng = np.random.default_rng(3)
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((16, 7)).astype(dtype)
        a, fa = evaluate(x, method)
        b, fb = evaluate(x, method, compute="float32")
        assert a.dtype == b.dtype == dtype
        assert np.array_equal(a, b, equal_nan=True) and np.array_equal(fa, fb)


def test_float32_mode_is_the_float32_computation_rounded_once():
    """An independent statement of the mode: cast up (exact), compute in float32, round."""
    rng = np.random.default_rng(11)
    for dtype in NARROW.values():
        x = (rng.standard_normal((32, 9)) * 4).astype(dtype)
        for method in ("softmax", "sigmoid", "entmax15"):
            expected = normalize(x.astype(np.float32), method).astype(dtype)
            got = normalize(x, method, compute="float32")
            assert np.array_equal(
                got.astype(np.float64), expected.astype(np.float64), equal_nan=True
            )


def test_edge_conventions_hold_in_float32_mode():
    x = np.array([[0.0, np.inf, 0.0], [-np.inf, -np.inf, -np.inf]], dtype=np.float16)
    assert np.isnan(normalize(x, "softmax", compute="float32")).all()
    assert normalize(np.float16(2.0), "softmax", compute="float32") == 1
    empty = normalize(np.empty((0, 4), np.float16), "softmax", compute="float32")
    assert empty.shape == (0, 4) and empty.dtype == np.float16
