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

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

from softmaxlab import nll, normalize
from softmaxlab.sampling import sample_z

EPS = float(np.finfo(np.float64).eps)


def _softmax_oracle(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(NLL, gradient) of softmax from scipy: logsumexp(x) - x_y and softmax(x) - e_y."""
    rows = np.arange(len(x))
    loss = special.logsumexp(x, axis=-1) - x[rows, y]
    grad = special.softmax(x, axis=-1)
    grad[rows, y] -= 1.0
    return loss, grad


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
    assert np.isnan(out["nll_grad_norm"][0])
    # the argmax target is still resolved: p - e_y = 0 exactly
    assert out["nll_grad_norm_argmax"][0] == 0.0


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
        [{}, {"temperature": 0.5}, {"base": 2.0}, {"base": 100.0, "temperature": 3.0}]
    ),
)
def test_softmax_never_breaks_convexity(data, k, params):
    """On any finite logits, softmax's (any base and temperature, stable) midpoint test
    never breaks, and the plain softmax's gradient entries never exceed the bound."""
    pair = data.draw(hnp.arrays(np.float64, (2, 3, k), elements=_FINITE))
    y = data.draw(hnp.arrays(np.int64, 3, elements=st.integers(0, k - 1)))
    out = nll.nll_metrics(pair[0], pair[1], y, "softmax", params)
    breaks = out["nll_convexity_break"]
    assert np.all(np.isnan(breaks) | (breaks == 0))
    if not params:
        over = out["nll_grad_over_one"]
        assert np.all(np.isnan(over) | (over == 0))


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


def test_metric_tables_cover_every_metric():
    assert set(nll.NLL_DEFINITIONS) == set(nll.NLL_METRICS) == set(nll.NLL_METRIC_RANGES)
    assert nll.NLL_RATE_METRICS <= set(nll.NLL_METRICS)
