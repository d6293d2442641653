"""iterated_exp's naive and stable forms (issue 9, C10).

Depth d is softmax(E_(d-1)(x)) with E_0 = x, E_k = exp(E_(k-1)); stable=True subtracts the
max of the inner value E_(d-1)(x) before the last exp. Oracles: mpmath at 50 digits for the
map and for the overflow thresholds ln^(k)(max) (computed here from the format's max, never
typed in), exact hand values ([5, 4] at depth 3 is [1, 0] in float64), and the stable
softmax, which depth 1 must reproduce bit for bit.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import softmaxlab
from softmaxlab.dtypes import finfo, get_dtype
from softmaxlab.methods import method_doc

mpmath.mp.dps = 50


def iterated_ln(value, times: int):
    """ln applied ``times`` times, in mpmath."""
    value = mpmath.mpf(value)
    for _ in range(times):
        value = mpmath.log(value)
    return value


def overflow_threshold(dtype: str, times: int) -> float:
    """x above which exp applied ``times`` times exceeds the format's max."""
    return float(iterated_ln(float(finfo(dtype).max), times))


def mp_iterated_exp(x, depth: int) -> list[float]:
    """p_i = exp(E_(d-1)(x_i) - max_j E_(d-1)(x_j)) / sum, at 50 digits (no overflow)."""
    inner = [mpmath.mpf(float(v)) for v in x]
    for _ in range(depth - 1):
        inner = [mpmath.exp(v) for v in inner]
    top = max(inner)
    terms = [mpmath.exp(v - top) for v in inner]
    total = mpmath.fsum(terms)
    return [float(t / total) for t in terms]


def test_thresholds_from_mpmath_match_the_documented_values():
    """The docstring's 709.78, 6.565 and 1.8817 are ln, ln ln and ln ln ln of float64's max."""
    assert overflow_threshold("float64", 1) == pytest.approx(709.78, abs=5e-3)
    assert overflow_threshold("float64", 2) == pytest.approx(6.565, abs=5e-4)
    assert overflow_threshold("float64", 3) == pytest.approx(1.8817, abs=5e-5)
    assert "no shift trick" not in method_doc("iterated_exp")


def test_depth3_on_5_4_is_one_hot_when_stable_and_nan_when_naive():
    """e^e^e^5 = inf in float64, so the naive form gives inf/inf = NaN (flagged overflow);
    the stable form computes exp(E_2 - max E_2) = [1, exp(e^e^4 - e^e^5)] = [1, 0]."""
    x = np.array([5.0, 4.0])
    p, overflow = softmaxlab.evaluate(x, "iterated_exp", depth=3, stable=True)
    assert np.array_equal(p, [1.0, 0.0]) and not overflow
    p, overflow = softmaxlab.evaluate(x, "iterated_exp", depth=3)
    assert np.all(np.isnan(p)) and overflow


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize(("dtype", "margin"), [("float64", 1e-9), ("float32", 1e-4)])
def test_overflow_thresholds_of_both_forms(depth, dtype, margin):
    """Stable: E_(d-1) overflows past ln^(d-1)(max) and that counts as overflow; below it
    the output is a finite distribution. Naive: the last exp overflows one ln earlier,
    past ln^d(max). ``margin`` (relative) stays clear of the rounding of x and of each exp."""
    dt = get_dtype(dtype)
    for stable, times in ((True, depth - 1), (False, depth)):
        t = overflow_threshold(dtype, times)
        below = np.array([t * (1 - margin), 0.0], dtype=dt)
        above = np.array([t * (1 + margin), 0.0], dtype=dt)
        p, overflow = softmaxlab.evaluate(below, "iterated_exp", depth=depth, stable=stable)
        assert not overflow and np.all(np.isfinite(p)), (stable, t)
        assert abs(float(np.sum(p, dtype=np.float64)) - 1) < 4 * float(finfo(dtype).eps)
        p, overflow = softmaxlab.evaluate(above, "iterated_exp", depth=depth, stable=stable)
        assert overflow and not np.all(np.isfinite(p)), (stable, t)


def test_stable_form_extends_the_range_between_the_two_thresholds():
    """Between ln^d(max) and ln^(d-1)(max) only the stable form is finite, and it matches
    the mpmath reference there. Rows are a base value in that range plus offsets that move
    E_(d-1) by O(1), so p is not one-hot and the comparison has something to check."""
    eps = float(np.finfo(np.float64).eps)
    rng = np.random.default_rng(17)
    for depth, top in ((2, 20.0), (3, 2.4)):
        lo = overflow_threshold("float64", depth)
        base = rng.uniform(lo * 1.001, top, size=(30, 1))
        slope = np.exp(base) if depth == 2 else np.exp(base) * np.exp(np.exp(base))
        x = base + rng.uniform(-3, 0, size=(30, 4)) / slope
        naive, flagged = softmaxlab.evaluate(x, "iterated_exp", depth=depth)
        assert np.all(flagged) and not np.any(np.all(np.isfinite(naive), axis=-1))
        stable, flagged = softmaxlab.evaluate(x, "iterated_exp", depth=depth, stable=True)
        assert not np.any(flagged)
        ref = np.array([mp_iterated_exp(row, depth) for row in x])
        assert np.all(ref.min(axis=-1) > 1e-3)  # not one-hot
        # each exp has relative error eps, amplified outwards: the exponent of the last exp
        # (E_(d-1) - max) is off by eps E_1 (d = 2) or eps E_2 (E_1 + 1) (d = 3), twice
        e1 = np.exp(base)
        shift = eps * e1 if depth == 2 else eps * np.exp(e1) * (e1 + 1)
        np.testing.assert_array_less(np.abs(stable - ref), ref * (4 * shift + 8 * eps))


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_forms_agree_where_the_naive_form_is_finite(depth):
    """The shift does not change p: equal to rounding, and both match mpmath."""
    x = np.random.default_rng(depth).standard_normal((50, 6)) * (1.0 if depth < 3 else 0.5)
    naive = softmaxlab.normalize(x, "iterated_exp", depth=depth)
    stable = softmaxlab.normalize(x, "iterated_exp", depth=depth, stable=True)
    assert np.all(np.isfinite(naive))
    ref = np.array([mp_iterated_exp(row, depth) for row in x])
    for p in (naive, stable):
        np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_depth_one_stable_is_the_stable_softmax_bit_for_bit(dtype):
    x = (3 * np.random.default_rng(4).standard_normal((20, 7))).astype(get_dtype(dtype))
    np.testing.assert_array_equal(
        softmaxlab.normalize(x, "iterated_exp", depth=1, stable=True),
        softmaxlab.normalize(x, "softmax"),
    )
    np.testing.assert_array_equal(
        softmaxlab.normalize(x, "iterated_exp", depth=1),
        softmaxlab.normalize(x, "softmax", stable=False),
    )


def test_half_precision_stable_form_where_naive_overflows():
    """float16 max 65504: depth 2 on [3, 2] needs e^e^3 = 5.3e8 (naive overflow) but only
    e^3 = 20.1 for the stable form, which gives [1/(1 + e^(e^2 - e^3)), ...]."""
    x = np.array([3.0, 2.0], dtype=np.float16)
    p, overflow = softmaxlab.evaluate(x, "iterated_exp", stable=True)
    assert not overflow and p.dtype == np.float16
    # the exponent e^2 - e^3 = -12.7 carries a float16 rounding of up to e^3 eps/2 each side,
    # and p_2 = 3.1e-6 is subnormal in float16
    eps = float(finfo("float16").eps)
    np.testing.assert_allclose(
        p.astype(float), mp_iterated_exp([3.0, 2.0], 2), rtol=np.exp(3) * eps, atol=eps * 6.1e-5
    )
    p, overflow = softmaxlab.evaluate(x, "iterated_exp")
    assert overflow and np.isnan(p[0])


def test_not_shift_invariant_even_when_stable():
    """Stabilising shifts E_(d-1)(x), not x: iterated exp of x + c differs from that of x."""
    x = np.array([0.5, 0.0, -0.3])
    p = softmaxlab.normalize(x, "iterated_exp", stable=True)
    q = softmaxlab.normalize(x + 1.0, "iterated_exp", stable=True)
    np.testing.assert_allclose(p, mp_iterated_exp(x, 2), rtol=1e-13)
    np.testing.assert_allclose(q, mp_iterated_exp(x + 1.0, 2), rtol=1e-13)
    assert np.abs(p - q).max() > 0.1


def test_labels_default_to_the_naive_form():
    """stable defaults to False, so existing labels (and results) are unchanged."""
    assert softmaxlab.method_defaults("iterated_exp") == {"depth": 2, "stable": False}
    assert softmaxlab.label("iterated_exp", {"depth": 3}) == "iterated_exp(depth=3)"
    text = softmaxlab.label("iterated_exp", {"depth": 3, "stable": True})
    assert text == "iterated_exp(depth=3, stable=True)"
    assert softmaxlab.parse_label(text) == ("iterated_exp", {"depth": 3, "stable": True})
    with pytest.raises(ValueError, match="parameter stable must be true or false"):
        softmaxlab.normalize([1.0, 2.0], "iterated_exp", stable=1)
