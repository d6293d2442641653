"""softmaxlab.nll against oracles that share none of its code.

Oracles:

* softmax's NLL is logsumexp(x) - x_y and its gradient p - e_y (scipy.special's logsumexp
  and softmax; Bishop 2006, eq. 4.109), entries in [-1, 1];
* linear normalisation's NLL ln(sum x) - ln x_y has the gradient 1/S - e_y / x_y (by hand);
* convexity: softmax's NLL is convex (Boyd & Vandenberghe 2004, sec. 3.1.5), so the midpoint
  test never breaks, on any finite data (hypothesis); explicit segments, worked out by hand
  in closed form, break it for linear, sigmoid, taylor and iterated exp; sparsemax's NLL is
  -ln(x_y - tau(x)) with the threshold tau convex (a maximum of (top-k sum - 1)/k), so it is
  convex where finite: no breaks on seeded data;
* the streams: targets and partners are reproducible, independent of the count drawn, and
  uniform over the classes (a chi-square bound).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from builtin_maps import METHODS
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

from softmaxlab import nll, normalize
from softmaxlab.methods import check_params
from softmaxlab.methods.maps import gumbel_noise
from softmaxlab.sampling import sample_z
from softmaxlab.vjp import Pullback

EPS = float(np.finfo(np.float64).eps)


def _softmax_oracle(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(NLL, gradient) of softmax from scipy: logsumexp(x) - x_y and softmax(x) - e_y."""
    rows = np.arange(len(x))
    loss = special.logsumexp(x, axis=-1) - x[rows, y]
    grad = special.softmax(x, axis=-1)
    grad[rows, y] -= 1.0
    return loss, grad


@pytest.mark.parametrize(
    ("method", "params", "factor"),
    [
        ("softmax", {}, 1.0),
        ("softmax", {"base": 2.0, "temperature": 0.5}, math.log(2.0) / 0.5),
        ("softmax", {"stable": False}, 1.0),
        ("ssmax", {"s": 1.5}, 1.5 * math.log(6)),
        ("gumbel_softmax", {"tau": 0.5, "seed": 7}, 2.0),
    ],
)
def test_softmax_family_nll_is_log_softmax_where_p_y_underflows(method, params, factor):
    """Where the float64 p_y is below 2^-1022 (0 included), softmax's family's nll is the
    log-softmax value, finite, against mpmath's logsumexp(u) - u_y at 50 digits (u the
    map's logits: c x, or c (x + G) with the method's own noise); nll_infinite still
    counts p_y = 0. Rows from scale 1 to 3000: some underflow, some do not."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((60, 6)) * np.logspace(0, 3.5, 60)[:, None]
    x -= x.max(axis=1, keepdims=True)  # the naive form does not overflow either
    y = rng.integers(0, 6, 60)
    out = nll.nll_metrics(x, None, y, method, params)
    u = x + gumbel_noise(params["seed"], x.shape) if method == "gumbel_softmax" else x
    with mpmath.workdps(50):
        exact = [
            float(
                mpmath.log(mpmath.fsum(mpmath.exp(factor * mpmath.mpf(v)) for v in row))
                - factor * mpmath.mpf(row[t])
            )
            for row, t in zip(u.tolist(), y.tolist(), strict=True)
        ]
    exact = np.array(exact)
    p_y = normalize(x, method, **params)[np.arange(60), y]
    underflowed = p_y < nll.TINY
    assert underflowed.sum() >= 10 and (~underflowed).sum() >= 10
    assert np.all(np.isfinite(out["nll"]))
    np.testing.assert_allclose(out["nll"], exact, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(out["nll_infinite"], p_y == 0)


def softmax_p(x: np.ndarray) -> np.ndarray:
    return special.softmax(x, axis=-1)


def test_softmax_nll_and_gradient_match_the_analytic_oracle():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 7)) * np.logspace(-2, 2, 200)[:, None]
    y = rng.integers(0, 7, 200)
    loss, grad = _softmax_oracle(x, y)
    out = nll.nll_metrics(x, None, y, "softmax")
    finite = np.isfinite(out["nll"])
    np.testing.assert_allclose(out["nll"][finite], loss[finite], rtol=1e-13, atol=1e-13)
    resolved = ~np.isnan(out["nll_grad_norm"])
    assert resolved.sum() > 150
    np.testing.assert_allclose(
        out["nll_grad_norm"][resolved], np.linalg.norm(grad, axis=1)[resolved], atol=8 * EPS
    )
    np.testing.assert_allclose(
        out["nll_grad_max"][resolved], np.abs(grad).max(axis=1)[resolved], atol=8 * EPS
    )
    g = nll.nll_gradient(x, softmax_p(x), y, "softmax", {})
    np.testing.assert_allclose(g[resolved], grad[resolved], atol=4 * EPS)
    assert np.all(np.abs(g[resolved]) <= 1.0)
    assert np.all(out["nll_grad_over_one"] == 0)


def test_softmax_gradient_fades_for_the_argmax_target_only():
    """Right prediction (y = argmax): ||p - e_y|| -> 0 with the scale; wrong (y = argmin):
    ||p - e_y|| >= 1 - p_y -> 1, and the scipy value agrees."""
    z = np.random.default_rng(2).normal(size=(50, 10))
    y = np.zeros(50, dtype=np.int64)
    for scale, fades in ((0.01, False), (30.0, True)):
        x = scale * z
        out = nll.nll_metrics(x, None, y, "softmax")
        _, grad_max = _softmax_oracle(x, np.argmax(x, axis=1))
        _, grad_min = _softmax_oracle(x, np.argmin(x, axis=1))
        np.testing.assert_allclose(
            out["nll_grad_norm_argmax"], np.linalg.norm(grad_max, axis=1), atol=8 * EPS
        )
        np.testing.assert_allclose(
            out["nll_grad_norm_argmin"], np.linalg.norm(grad_min, axis=1), atol=8 * EPS
        )
        median = np.median(out["nll_grad_norm_argmax"])
        assert median < 1e-6 if fades else median > 0.8  # (near-ties keep a few large)
    assert out["nll_grad_norm_argmin"].min() > 1 - 1e-12


def test_linear_gradient_matches_its_closed_form():
    """-ln(x_y / S) on the positive orthant: d/dx_j = 1/S - [j = y] / x_y."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 2.0, size=(40, 5))
    y = rng.integers(0, 5, 40)
    expected = np.broadcast_to(1 / x.sum(axis=1, keepdims=True), x.shape).copy()
    expected[np.arange(40), y] -= 1 / x[np.arange(40), y]
    g = nll.nll_gradient(x, normalize(x, "linear"), y, "linear", {})
    np.testing.assert_allclose(g, expected, rtol=1e-13, atol=1e-14)
    out = nll.nll_metrics(x, None, y, "linear")
    np.testing.assert_allclose(out["nll"], np.log(x.sum(axis=1) / x[np.arange(40), y]))
    np.testing.assert_array_equal(
        out["nll_grad_over_one"][np.abs(expected).max(axis=1) > 1.001], 1.0
    )


def test_infinite_and_undefined_nll():
    x = np.array(
        [
            [0.0, 5.0],  # sparsemax: target 0 outside the support (p_0 = 0)
            [-1.0, 2.0],  # linear: p_0 = -1; sparsemax: p = (0, 1)
            [1.0, 1.0],  # both defined
            [np.inf, 0.0],  # cast overflow: left out
        ]
    )
    y = np.zeros(4, dtype=np.int64)
    sparse = nll.nll_metrics(x, None, y, "sparsemax")
    np.testing.assert_array_equal(sparse["nll_infinite"], [1, 1, 0, np.nan])
    np.testing.assert_array_equal(sparse["nll_undefined"], [0, 0, 0, np.nan])
    assert np.isnan(sparse["nll"][0]) and np.isnan(sparse["nll_grad_norm"][0])
    np.testing.assert_allclose(sparse["nll"][2], math.log(2))
    linear = nll.nll_metrics(x, None, y, "linear")
    np.testing.assert_array_equal(linear["nll_infinite"], [1, 0, 0, np.nan])
    np.testing.assert_array_equal(linear["nll_undefined"], [0, 1, 0, np.nan])
    np.testing.assert_allclose(linear["nll"][2], math.log(2))
    for name in nll.NLL_METRICS:
        assert np.isnan(linear[name][3]), name


def test_underflowed_softmax_is_infinite_not_undefined():
    """p_y underflows to 0 once x_max - x_y > 745 (log-softmax would give 800 exactly)."""
    out = nll.nll_metrics(np.array([[0.0, 800.0]]), None, np.array([0]), "softmax")
    assert out["nll_infinite"][0] == 1 and out["nll_undefined"][0] == 0
    # the gradient p - e_y = (-1, 1) needs no 1/p_y: it is there, not left out
    assert out["nll_grad_norm"][0] == math.sqrt(2) and out["nll_grad_max"][0] == 1.0
    # the argmax target is resolved too: p - e_y = 0 exactly
    assert out["nll_grad_norm_argmax"][0] == 0.0


def _exact_softmax_nll_gradient(x, y, c):
    """c (softmax(c x) - e_y) in 60-digit arithmetic (mpmath), as float64."""
    with mpmath.workdps(60):
        t = [mpmath.exp(c * mpmath.mpf(v)) for v in x]
        total = mpmath.fsum(t)
        return np.array([float(c * (ti / total - (i == y))) for i, ti in enumerate(t)])


@pytest.mark.parametrize(
    ("method", "params", "c"),
    [
        ("softmax", {}, 1.0),
        ("softmax", {"base": 2.0, "temperature": 0.5}, 2 * math.log(2.0)),
        ("ssmax", {"s": 1.0}, math.log(4)),
    ],
)
def test_softmax_gradient_where_p_y_underflows_matches_mpmath(method, params, c):
    """Where p_y is subnormal or 0 the gradient of softmax's family is c (p - e_y), not NaN,
    to float64's rounding of the exact gradient; vectors with a normal p_y are unchanged."""
    rows = np.array(
        [
            [0.0, 750.0, 740.0, 745.5],  # p_0 underflows to 0 (a gap above 745)
            [-1.0, 739.0, 700.0, 720.0],  # p_0 = e^-740 / ..., subnormal
            [1.0, 2.0, 3.0, 4.0],  # a normal p_0: the vjp, as before
        ]
    )
    rows = rows / c  # the same exponents c x for every base, temperature and s
    out = nll.nll_metrics(rows, None, np.zeros(3, dtype=np.int64), method, params)
    for i, row in enumerate(rows):
        exact = _exact_softmax_nll_gradient(row, 0, c)
        assert out["nll_grad_norm"][i] == pytest.approx(np.linalg.norm(exact), rel=8 * nll.EPS)
        assert out["nll_grad_max"][i] == pytest.approx(np.abs(exact).max(), rel=8 * nll.EPS)
    assert list(out["nll_infinite"]) == [1.0, 0.0, 0.0]  # p_1 is subnormal, not 0
    # the argmin target (the first entry) underflows in the first two rows too
    assert np.isfinite(out["nll_grad_norm_argmin"]).all()


def test_only_softmaxs_family_skips_the_cotangent():
    """A map whose pullback is not softmax's Jacobian still needs 1/p_y: NaN below 2^-1022
    (iterated_exp is softmax of exp(x): its derivative has the factor e^(x_i))."""
    x = np.array([[0.0, 6.6]])  # e^6.6 = 735: p_0 = e^(1 - 735), subnormal
    out = nll.nll_metrics(x, None, np.array([0]), "iterated_exp", {"depth": 2})
    assert np.isnan(out["nll_grad_norm"][0])
    back = Pullback(x, "iterated_exp", check_params("iterated_exp", {"depth": 2}))
    assert back.softmax_factor() is None
    tau = Pullback(x, "gumbel_softmax", check_params("gumbel_softmax", {"tau": 0.5}))
    assert tau.softmax_factor() == 2.0


def _segment(a, b):
    return np.array([a], dtype=np.float64), np.array([b], dtype=np.float64)


def _sigma(t: float) -> float:
    return 1 / (1 + math.exp(-t))


# (method, params, x, x', target 0: NLL at x, at x', at the midpoint in closed form)
BREAKS = [
    # -ln(x_0 / (x_0 + x_1)) = ln(1 + x_1) for x_0 = 1: concave in x_1
    ("linear", {}, (1.0, 0.5), (1.0, 3.0), (math.log(1.5), math.log(4.0), math.log(2.75))),
    # ln(sigma(0) + sigma(t)) - ln sigma(0): sigma is concave for t > 0
    (
        "sigmoid",
        {},
        (0.0, 0.0),
        (0.0, 4.0),
        tuple(math.log(0.5 + _sigma(t)) + math.log(2) for t in (0.0, 4.0, 2.0)),
    ),
    # t_2(s) = 1 + s + s^2/2: ln(1 + t_2(s)) with t_2(0) = 1: 2, 14, 6
    ("taylor", {}, (0.0, 0.0), (0.0, 4.0), (math.log(2), math.log(14), math.log(6))),
    # depth 2: softmax(e^x): ln(1 + exp(e^0 - e^t)), concave in t where e^t sigma(...) < 1
    (
        "iterated_exp",
        {},
        (-3.0, 0.0),
        (-1.0, 0.0),
        tuple(math.log1p(math.exp(1 - math.exp(t))) for t in (-3.0, -1.0, -2.0)),
    ),
]


@pytest.mark.parametrize("method, params, x, x_far, expected", BREAKS)
def test_constructed_segments_break_convexity(method, params, x, x_far, expected):
    a, b, c = expected
    assert c - (a + b) / 2 > 0.04  # the break, by hand: far above any rounding bound
    x, x_far = _segment(x, x_far)
    y = np.array([0])
    out = nll.nll_metrics(x, x_far, y, method, params)
    assert out["nll_convexity_break"][0] == 1.0
    np.testing.assert_allclose(out["nll"][0], a, rtol=1e-14)
    np.testing.assert_allclose(nll.nll_metrics(x_far, None, y, method, params)["nll"][0], b)
    mid = 0.5 * x + 0.5 * x_far
    np.testing.assert_allclose(nll.nll_metrics(mid, None, y, method, params)["nll"][0], c)
    # softmax on the same segment: convex, no break
    assert nll.nll_metrics(x, x_far, y, "softmax")["nll_convexity_break"][0] == 0.0


def test_midpoint_outside_the_domain_breaks():
    """linear: x_0 > 0 with sum > 0 at one end, x_0 < 0 with sum < 0 at the other, and the
    midpoint has x_0 > 0 > sum: p_0 < 0 there, undefined between two finite values."""
    x, x_far = _segment((3.0, -1.0), (-1.0, -3.0))
    out = nll.nll_metrics(x, x_far, np.array([0]), "linear")
    assert np.isfinite(out["nll"][0]) and out["nll_convexity_break"][0] == 1.0


def test_sparsemax_nll_is_convex_where_finite():
    rng = np.random.default_rng(4)
    x, x_far = rng.normal(size=(2, 3000, 4))
    y = rng.integers(0, 4, 3000)
    breaks = nll.nll_metrics(0.5 * x, 0.5 * x_far, y, "sparsemax")["nll_convexity_break"]
    counted = ~np.isnan(breaks)
    assert counted.sum() > 500 and np.all(breaks[counted] == 0)


def test_breaks_are_common_for_the_non_convex_maps():
    rng = np.random.default_rng(5)
    x, x_far = rng.normal(size=(2, 2000, 5))
    y = rng.integers(0, 5, 2000)
    for method in ("sigmoid", "taylor", "stablemax", "spherical"):
        breaks = nll.nll_metrics(x, x_far, y, method)["nll_convexity_break"]
        assert 0.01 < np.nanmean(breaks) < 0.6, method


_FINITE = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, allow_subnormal=True)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    k=st.integers(1, 6),
    params=st.sampled_from(
        [
            {},
            {"temperature": 0.5},
            {"base": 2.0},
            {"base": 100.0, "temperature": 3.0},
            {"stable": False},
            {"base": 10.0, "stable": False},
            {"base": 2.0, "temperature": 0.5, "stable": False},
        ]
    ),
)
def test_softmax_never_breaks_convexity(data, k, params):
    """On any finite logits, softmax's (any base and temperature, stable or naive) midpoint
    test never breaks, and the plain softmax's gradient entries never exceed the bound."""
    pair = data.draw(hnp.arrays(np.float64, (2, 3, k), elements=_FINITE))
    y = data.draw(hnp.arrays(np.int64, 3, elements=st.integers(0, k - 1)))
    out = nll.nll_metrics(pair[0], pair[1], y, "softmax", params)
    breaks = out["nll_convexity_break"]
    assert np.all(np.isnan(breaks) | (breaks == 0))
    if not params:
        over = out["nll_grad_over_one"]
        assert np.all(np.isnan(over) | (over == 0))


def test_a_subnormal_naive_term_is_not_read_as_a_break():
    """softmax(base=10, stable=False) with the target's logit near -318: 10^x_y is
    subnormal while p_y (about 1e-259) is not, so p_y keeps few bits and its rounding once
    broke the midpoint test (the default sweep's normal K = 3 scale 316 cells). Such
    segments are not counted; with the target's term normal they are, and hold."""
    x = np.array([[-317.22125239, -58.37076764, -100.0]])
    x_far = np.array([[-317.73712377, -58.22119482, -99.42179599]])
    y = np.array([0])
    params = {"base": 10.0, "stable": False}
    p_y = normalize(x, "softmax", **params)[0, 0]
    assert nll.TINY <= p_y and 10.0**-317.2 < nll.TINY
    out = nll.nll_metrics(x, x_far, y, "softmax", params)
    assert np.isfinite(out["nll"][0]) and np.isnan(out["nll_convexity_break"][0])
    # Without the rule the rounding reads as a break beyond the tolerance: the test is live.
    a, b, c = (
        -np.log(normalize(v, "softmax", **params)[0, 0]) for v in (x, x_far, 0.5 * x + 0.5 * x_far)
    )
    assert c > 0.5 * a + 0.5 * b + nll.midpoint_tolerance(
        a, b, c, np.exp(-c), 3, np.float64(317.73712377)
    )
    shifted = nll.nll_metrics(x + 250.0, x_far + 250.0, y, "softmax", params)
    assert shifted["nll_convexity_break"][0] == 0.0
    assert nll.naive_term_rate("softmax", params) == pytest.approx(math.log(10.0))
    assert nll.naive_term_rate("softmax", {}) is None
    assert nll.naive_term_rate("iterated_exp", {"depth": 1}) == 1.0
    assert nll.naive_term_rate("iterated_exp", {"depth": 2}) is None


def test_ties_and_one_class():
    out = nll.nll_metrics(np.zeros((2, 1)), np.ones((2, 1)), np.array([0, 0]), "softmax")
    np.testing.assert_array_equal(out["nll"], [0.0, 0.0])
    np.testing.assert_array_equal(out["nll_grad_norm"], [0.0, 0.0])
    np.testing.assert_array_equal(out["nll_convexity_break"], [0.0, 0.0])
    tied = nll.nll_metrics(np.zeros((1, 4)), None, np.array([2]), "softmax")
    np.testing.assert_allclose(tied["nll"], [math.log(4)])
    np.testing.assert_allclose(tied["nll_grad_norm"], [math.sqrt(3 / 16 + 9 / 16)])


def test_formats_are_read_exactly():
    """float16 logits give the same values as the same numbers in float64."""
    x = np.random.default_rng(6).normal(size=(20, 6)).astype(np.float16)
    y = np.arange(20) % 6
    a = nll.nll_metrics(x, x[::-1], y, "softmax")
    b = nll.nll_metrics(x.astype(np.float64), x[::-1].astype(np.float64), y, "softmax")
    for name in nll.NLL_METRICS:
        np.testing.assert_array_equal(a[name], b[name])


def test_gumbel_softmax_uses_the_same_noise_everywhere():
    """With fixed noise G, gumbel-softmax's NLL is softmax's NLL at x + G: convex, p - e_y."""
    rng = np.random.default_rng(7)
    x, x_far = rng.normal(size=(2, 300, 4))
    y = rng.integers(0, 4, 300)
    out = nll.nll_metrics(x, x_far, y, "gumbel_softmax", {"seed": 3})
    assert np.all(out["nll_convexity_break"] == 0)
    assert np.all(out["nll_grad_over_one"] == 0)


def test_targets_and_partners_are_seeded_streams():
    t = nll.draw_targets(9, "normal", 10, 5000)
    assert t.dtype == np.int64 and t.min() == 0 and t.max() == 9
    np.testing.assert_array_equal(t[:100], nll.draw_targets(9, "normal", 10, 100))
    assert not np.array_equal(t[:100], nll.draw_targets(9, "uniform", 10, 100))
    counts = np.bincount(t, minlength=10)
    chi2 = float(np.sum((counts - 500.0) ** 2 / 500.0))
    assert chi2 < 27.88  # the 0.999 quantile of chi-square with 9 degrees of freedom
    spec = {"family": "normal"}
    z = nll.partner_z(9, "normal", spec, 4, 50)
    np.testing.assert_array_equal(z, nll.partner_z(9, "normal", spec, 4, 50))
    assert z.shape == (50, 4)
    assert not np.array_equal(z, sample_z(9, "normal", spec, 4, 50))  # not the cell's x
    positive = nll.partner_z(9, "p", {"family": "uniform", "low": 0.0, "high": 1.0}, 3, 100)
    assert positive.min() >= 0 and positive.max() < 1


def test_bad_input_is_one_clear_error():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"target classes must be in \[0, 4\)"):
        nll.nll_metrics(x, None, np.array([0, 1, 4]), "softmax")
    with pytest.raises(ValueError, match="integer array of shape"):
        nll.nll_metrics(x, None, np.array([0.0, 1.0, 2.0]), "softmax")
    with pytest.raises(ValueError, match="2-D array"):
        nll.nll_metrics(np.zeros(4), None, np.array([0]), "softmax")
    with pytest.raises(ValueError, match="x_partner's shape"):
        nll.nll_metrics(x, np.zeros((3, 5)), np.array([0, 1, 2]), "softmax")
    with pytest.raises(ValueError, match="valid"):
        nll.nll_metrics(x, None, np.array([0, 1, 2]), "softmaxx")
    with pytest.raises(ValueError, match="k must be >= 1"):
        nll.draw_targets(1, "normal", 0, 3)


def test_a_shared_pullback_gives_the_same_bits_and_a_foreign_one_is_refused():
    """nll_metrics on the caller's Pullback (the sweep shares its forward pass with the
    metric pass): the bits of its own; one of another array, method or parameters, or one
    that does not track overflow, is one clear error rather than wrong metrics."""
    x, x_far = _hard_rows(9, 9), _hard_rows(9, 1009)[::-1].copy()
    y = np.random.default_rng(9).integers(0, 9, len(x))
    params = check_params("softmax", {"stable": False})  # overflows on the 1e300 rows
    back = Pullback(x, "softmax", params, track=True)
    p, overflow = back.evaluated()
    assert overflow.any()
    got = nll.nll_metrics(x, x_far, y, "softmax", params, back)
    _assert_same_bits(got, nll.nll_metrics(x, x_far, y, "softmax", params), "shared")
    for foreign in (
        Pullback(x.copy(), "softmax", params, track=True),
        Pullback(x, "softmax", params),
        Pullback(x, "softmax", check_params("softmax", {}), track=True),
        Pullback(x, "linear", {}, track=True),
    ):
        with pytest.raises(ValueError, match="pullback must be"):
            nll.nll_metrics(x, x_far, y, "softmax", params, foreign)


def test_metric_tables_cover_every_metric():
    assert set(nll.NLL_DEFINITIONS) == set(nll.NLL_METRICS) == set(nll.NLL_METRIC_RANGES)
    assert nll.NLL_RATE_METRICS <= set(nll.NLL_METRICS)


# --- the shared forward and the compiled norms give the plain computation's bits -----------


def _softmax_family_factor(method, params, k):
    """c where the method is softmax(c x + noise): softmax (ln(base)/T), ssmax (s ln K),
    gumbel_softmax (1/tau); None for every other method."""
    if method == "softmax":
        return math.log(params["base"]) / params["temperature"]
    if method == "ssmax":
        return params["s"] * math.log(k)
    if method == "gumbel_softmax":
        return 1 / params["tau"]
    return None


def _plain_metrics(x, x_far, y, method, params):
    """nll_metrics computed the plain way, with the public functions only: one evaluate
    for p, one vjp per target (losses.nll_grad, each with its own forward pass), numpy
    norms of the (n, K) gradients, and the segment's two forwards on every row. The
    reference for the shared forward, the stacked targets, the compiled norms and the
    segment's row subsets, which must change no value."""
    from softmaxlab import evaluate
    from softmaxlab.training import losses

    n, k = x.shape
    p, overflow = evaluate(x, method, **params)
    valid = np.all(np.isfinite(x), axis=-1) & ~overflow
    p_y = np.where(valid, losses.target_prob(p, y), np.nan)
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = losses.nll(p, y)
    factor = _softmax_family_factor(method, check_params(method, params), k)
    at_y = losses.target_prob(p, y)
    if factor is not None:  # log-softmax where p_y underflowed: ln p_m + u_y - u_m
        u = x + gumbel_noise(params["seed"], x.shape) if method == "gumbel_softmax" else x
        m = np.argmax(p, axis=-1)
        rows = np.arange(n)
        with np.errstate(divide="ignore", invalid="ignore"):  # base 1: 0 * inf on inf rows
            u = factor * u
            log_softmax = np.log(p[rows, m]) + (u[rows, y] - u[rows, m])
        loss = np.where((at_y >= 0) & (at_y < nll.TINY), -log_softmax, loss)
    out["nll"] = np.where(np.isfinite(loss), loss, np.nan)
    out["nll_infinite"] = (p_y == 0).astype(np.float64)
    out["nll_undefined"] = (~(p_y >= 0)).astype(np.float64)
    over = np.full(n, np.nan)
    for suffix, target in (("", y), ("_argmax", x.argmax(-1)), ("_argmin", x.argmin(-1))):
        with np.errstate(over="ignore"):
            g = losses.nll_grad(x, p, target, method, params)
        at = losses.target_prob(p, target)
        g = np.where((at >= nll.TINY)[:, None], g, np.nan)
        if factor is not None:  # softmax's family: c (p - e_y) needs no 1/p_y
            below = (at >= 0) & (at < nll.TINY)
            g[below] = factor * (p - np.eye(k)[target])[below]
        norm, largest = np.sqrt(np.sum(g * g, axis=-1)), np.max(np.abs(g), axis=-1)
        out[f"nll_grad_norm{suffix}"] = norm
        if not suffix:
            out["nll_grad_max"] = largest
        over = np.fmax(over, np.where(np.isnan(largest), np.nan, largest > nll.gradient_bound(k)))
    out["nll_grad_over_one"] = over
    p_far, overflow_far = evaluate(x_far, method, **params)
    p_mid, overflow_mid = evaluate(0.5 * x + 0.5 * x_far, method, **params)
    p_far, p_mid = losses.target_prob(p_far, y), losses.target_prob(p_mid, y)
    counted = (
        np.all(np.isfinite(x), axis=-1)
        & np.all(np.isfinite(x_far), axis=-1)
        & ~overflow_far
        & ~overflow_mid
        & (p_y >= nll.TINY)
        & (p_far >= nll.TINY)
    )
    rate = nll.naive_term_rate(method, params)
    if rate is not None:  # the naive forms' target term, normal at x, x' and the midpoint
        rows = np.arange(n)
        ends = (x[rows, y], x_far[rows, y])
        with np.errstate(invalid="ignore", over="ignore"):
            for x_y in (*ends, 0.5 * ends[0] + 0.5 * ends[1]):
                counted &= np.exp(np.float64(rate) * x_y) >= nll.TINY
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b, c = -np.log(p_y), -np.log(p_far), -np.log(p_mid)
        reach = np.maximum(np.abs(x).max(axis=-1), np.abs(x_far).max(axis=-1))
        tol = nll.midpoint_tolerance(a, b, c, p_mid, k, reach)
        within = c <= 0.5 * a + 0.5 * b + tol
    out["nll_convexity_break"] = np.where(counted, (~within).astype(np.float64), np.nan)
    return {name: np.where(valid, out[name], np.nan) for name in nll.NLL_METRICS}


def _hard_rows(k: int, seed: int) -> np.ndarray:
    """Logits that reach every branch: Gaussian rows from 0.01 to 1000 (naive forms
    overflow, p_y underflows to subnormals and 0, sparse supports shrink), ties, a zero
    sum and signed entries (linear's p_y = inf and < 0), no positive entry (relu's 0/0),
    -inf beside finite entries, NaN and +inf rows, subnormal and huge entries."""
    rng = np.random.default_rng(seed)
    scales = np.repeat([0.01, 1.0, 3.0, 30.0, 300.0, 1000.0], 6)
    rows = [scales[:, None] * rng.standard_normal((len(scales), k))]
    special = np.zeros((8, k))
    special[1] = np.linspace(-1.0, 1.0, k)  # sums to 0 (exactly, by symmetry)
    special[2] = -1.0 - rng.random(k)
    special[3, 0] = -np.inf
    special[4, 0] = np.nan
    special[5, 0] = np.inf
    special[6] = 5e-324 * np.arange(k)
    special[7] = 1e300 * rng.standard_normal(k)
    if k > 1:
        special[3, 1:] = rng.standard_normal(k - 1)
    return np.concatenate(rows + [special])


def _assert_same_bits(got: dict, expected: dict, context: str) -> None:
    for name in nll.NLL_METRICS:
        a, b = got[name], expected[name]
        assert np.array_equal(a, b, equal_nan=True), (context, name)
        assert np.array_equal(np.signbit(a), np.signbit(b)), (context, name)


@pytest.mark.parametrize(("method", "params"), METHODS, ids=[str(m) for m in METHODS])
@pytest.mark.parametrize("use_kernels", [True, False], ids=["compiled", "numpy"])
def test_metrics_equal_the_plain_computation_bit_for_bit(method, params, use_kernels, monkeypatch):
    """Rows of 1 to 300 classes (the compiled pairwise sums split above 128) on every
    branch of :func:`_hard_rows`, the partners drawn the same way."""
    monkeypatch.setattr(nll, "USE_KERNELS", use_kernels)
    for k in (1, 2, 3, 9, 130, 300):
        x, x_far = _hard_rows(k, k), _hard_rows(k, k + 1000)[::-1].copy()
        y = np.random.default_rng(k).integers(0, k, len(x))
        y[:4] = np.argmax(np.nan_to_num(x[:4]), axis=-1)  # the drawn target is the top too
        got = nll.nll_metrics(x, x_far, y, method, params)
        _assert_same_bits(got, _plain_metrics(x, x_far, y, method, params), f"K={k}")


def test_a_plugin_goes_the_plain_way(monkeypatch):
    """A registered method with its own vjp: the numpy path (no compiled form) and the
    segment on whole arrays (a plugin is not assumed row-wise), the same bits."""
    import softmaxlab

    def scaled_softmax(x, c=2.0):
        z = np.exp(c * (x - x.max(axis=-1, keepdims=True)))
        return z / z.sum(axis=-1, keepdims=True)

    def scaled_vjp(x, v, c=2.0):
        p = scaled_softmax(x, c)
        return c * p * (v - np.sum(v * p, axis=-1, keepdims=True))

    softmaxlab.register_method("scaled_softmax_nll", scaled_softmax, vjp=scaled_vjp)
    try:
        x, x_far = _hard_rows(7, 1), _hard_rows(7, 2)
        y = np.random.default_rng(3).integers(0, 7, len(x))
        got = nll.nll_metrics(x, x_far, y, "scaled_softmax_nll", {})
        plain = _plain_metrics(x, x_far, y, "scaled_softmax_nll", {"c": 2.0})
        _assert_same_bits(got, plain, "plugin")
        assert np.nanmax(got["nll_grad_norm"]) > 0  # resolved rows exist
    finally:
        softmaxlab.unregister_method("scaled_softmax_nll")


def test_the_segment_skips_rows_that_cannot_count():
    """sparsemax's targets outside the support at x: no forward at x' or the midpoint
    for them, and the same test result as the plain computation."""
    from unittest import mock

    rng = np.random.default_rng(11)
    x, x_far = 10 * rng.standard_normal((2, 50, 20))
    y = rng.integers(0, 20, 50)
    p_y = normalize(x, "sparsemax")[np.arange(50), y]
    with mock.patch.object(nll, "evaluate", wraps=nll.evaluate) as spy:
        breaks = nll.convexity_break(x, x_far, y, "sparsemax", {}, p_y)
    rows_evaluated = [len(call.args[0]) for call in spy.call_args_list]
    assert rows_evaluated[0] == np.count_nonzero(p_y >= nll.TINY) < 50
    plain = _plain_metrics(x, x_far, y, "sparsemax", {})["nll_convexity_break"]
    np.testing.assert_array_equal(breaks, plain)


def _numpy_norms(factor, scale, weights, top, shift, targets, c):
    """softmaxlab.kernels.nll.centred_gradient_norms written as numpy arrays, one pass per
    operation (the form softmaxlab.vjp's pullbacks take, for cotangents c e_y)."""
    m, (n, k) = len(targets), scale.shape
    v = np.zeros((m, n, k))
    np.put_along_axis(v, targets[..., None], c[..., None], axis=-1)
    d = v - np.take_along_axis(v, np.broadcast_to(top[:, None], (m, n, 1)), axis=-1)
    with np.errstate(all="ignore"):
        r = (factor * scale) * (d - np.sum(d * weights, axis=-1, keepdims=True))
        g = r if not len(shift) else r - shift * np.sum(r, axis=-1, keepdims=True)
        return np.sqrt(np.sum(g * g, axis=-1)), np.max(np.abs(g), axis=-1)


@pytest.mark.parametrize("k", [1, 2, 8, 127, 129, 1000])
@pytest.mark.parametrize("shifted", [False, True])
def test_compiled_norms_equal_numpy_on_any_operands(k, shifted):
    """The compiled loop on arbitrary operands, non-finite weights and scales included
    (where the shortcut for d . w must not be taken), against the numpy passes."""
    from softmaxlab.kernels import nll as kernels

    if not kernels.AVAILABLE:
        pytest.skip("numba is not importable")
    rng = np.random.default_rng(k)
    n, m = 40, 3
    scale = rng.standard_normal((n, k)) * 10.0 ** rng.integers(-300, 300, (n, 1))
    weights = rng.random((n, k))
    weights /= weights.sum(axis=-1, keepdims=True)
    weights[0, -1] = np.inf  # a non-finite weight away from most targets
    weights[1, 0] = np.nan
    scale[2, -1] = np.inf
    weights[3] = 0.0
    weights[3, 0] = 1.0  # one-hot weights
    top = np.argmax(weights, axis=-1).astype(np.int64)
    targets = rng.integers(0, k, (m, n)).astype(np.int64)
    targets[1] = top  # the target at the largest weight: the full pass
    c = -1.0 / (10.0 ** rng.uniform(-300, 0, (m, n)))
    shift = rng.random((n, k)) if shifted else np.empty((0, k))
    factor = 1.0 if k % 2 else float(np.log(10.0))
    resolved = np.ones((m, n), dtype=bool)
    resolved[2, :5] = False
    got = kernels.centred_gradient_norms(factor, scale, weights, top, shift, targets, c, resolved)
    expected = _numpy_norms(factor, scale, weights, top, shift, targets, c)
    for a, b in zip(got, expected, strict=True):
        b = np.where(resolved, b, np.nan)
        assert np.array_equal(a, b, equal_nan=True)
        assert np.array_equal(np.signbit(a), np.signbit(b))


# METHODS and spherical without eps, whose output is then 0 at x_y = 0.
_POSITIVITY_CASES = [*METHODS, ("spherical", {"eps": 0.0})]


@pytest.mark.parametrize(("method", "params"), _POSITIVITY_CASES, ids=str)
def test_positive_map_says_which_maps_can_give_a_zero_or_negative_p(method, params):
    """Oracle: the maps themselves. A map positive_map calls positive gives p > 0 on random
    vectors of [-2, 1] (where nothing under- or overflows in float64: iterated exp of
    depth 3 stays below e^e^e = 3.8e6) and on constructed ones (a 0 entry, ties, all
    negative, a logit far above the others); every other map gives p <= 0 on one of them."""
    rng = np.random.default_rng(7)
    random = rng.uniform(-2.0, 1.0, size=(2000, 5))
    constructed = np.array(
        [
            [0.0, 0.5, 1.0, -1.0, 0.25],  # a zero entry, the minimum last-but-one
            [1.0, 1.0, -2.0, -2.0, 0.0],  # ties at the top, far below
            [-1.0, -0.5, -0.25, -2.0, -1.5],  # all negative
            [1.0, -2.0, -2.0, -2.0, -2.0],  # one large logit
            [1.0, -8.0, -8.0, -8.0, -8.0],  # far below it: outside every sparse support
        ]
    )
    x = np.vstack([random, constructed])
    p = normalize(x, method, **params)
    positive = bool(np.all(p > 0))
    assert nll.positive_map(method, params) == positive


def test_every_built_in_map_is_classified():
    """A new built-in map must be checked by the test above before C14 reads its infinite
    NLL one way or the other."""
    from softmaxlab.methods import methods, plugin

    built_in = {name for name in methods() if plugin(name) is None}
    assert built_in == {method for method, _ in _POSITIVITY_CASES}
