"""softmaxlab.vjp against oracles that share none of its formulas.

Oracles:

* float64 central differences of ``normalize`` (step eps^(1/3) max(1, |x_j|)) for every
  method and several parameter settings, on seeded vectors that stay away from each
  method's kinks (relu's and stablemax's 0, escort's 0, sparse support boundaries,
  shifted_linear's tied minima, linear's zero sum);
* the sparse maps' Jacobians as full matrices, diag(s) - s s^T / sum s with
  s = 1[p > 0] (sparsemax, Martins & Astudillo 2016, eq. 12) and s = p^(2 - alpha)
  (entmax, Peters, Niculae & Martins 2019, Prop. 1; the entmax package's backward), and
  the two-class closed forms of sparsemax and 1.5-entmax differentiated by hand;
* the NLL through softmax: d(-log p_y)/dx = p - onehot(y) (times ln(base)/T);
* mpmath at 50 digits for a nearly one-hot softmax (the cancellation the centred form
  avoids);
* properties: sum_j g_j = 0 for shift-invariant maps, x . g = 0 for scale-invariant maps,
  v = constant gives 0 (the outputs sum to 1), argmax gives exactly 0.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import softmaxlab

EPS = float(np.finfo(np.float64).eps)

# (method, params, logit scale multiplier): the multiplier keeps the fast-growing maps in
# a range where central differences resolve them (iterated exp of depth 3 at x = 3 is
# e^e^e^3 ~ 1e230).
SETTINGS = [
    ("argmax", {}, 1.0),
    ("linear", {}, 1.0),
    ("shifted_linear", {}, 1.0),
    ("relu", {}, 1.0),
    ("softplus", {}, 1.0),
    ("sigmoid", {}, 1.0),
    ("spherical", {}, 1.0),
    ("spherical", {"eps": 0.5}, 1.0),
    ("escort", {}, 1.0),
    ("escort", {"p": 0.5}, 1.0),
    ("escort", {"p": 1.0}, 1.0),
    ("escort", {"p": 3.5}, 1.0),
    ("taylor", {}, 1.0),
    ("taylor", {"order": 0}, 1.0),
    ("taylor", {"order": 4}, 1.0),
    ("stablemax", {}, 1.0),
    ("softmax", {}, 1.0),
    ("softmax", {"temperature": 0.5}, 1.0),
    ("softmax", {"base": 2.0}, 1.0),
    ("softmax", {"base": 100.0, "stable": False}, 1.0),
    ("softmax", {"base": 10.0, "temperature": 3.0, "stable": False}, 1.0),
    ("iterated_exp", {"depth": 1}, 1.0),
    ("iterated_exp", {}, 0.4),
    ("iterated_exp", {"stable": True}, 0.4),
    ("iterated_exp", {"depth": 3}, 0.15),
    ("iterated_exp", {"depth": 3, "stable": True}, 0.15),
    ("ssmax", {}, 1.0),
    ("ssmax", {"s": 0.5}, 1.0),
    ("sparsemax", {}, 1.0),
    ("entmax15", {}, 1.0),
    ("entmax", {}, 1.0),
    ("entmax", {"alpha": 1.25}, 1.0),
    ("entmax", {"alpha": 2.0}, 1.0),
    ("entmax", {"alpha": 3.0}, 1.0),
    ("gumbel_softmax", {}, 1.0),
    ("gumbel_softmax", {"tau": 0.5, "seed": 7}, 1.0),
]
SETTING_IDS = [softmaxlab.label(m, p) for m, p, _ in SETTINGS]
ALPHA = {"sparsemax": 2.0, "entmax15": 1.5}


def central_differences(x: np.ndarray, v: np.ndarray, method: str, params: dict) -> np.ndarray:
    """d/dx_j of v . normalize(x) by central differences, coordinate by coordinate, each
    step applied to the whole batch (so gumbel_softmax keeps its shape and noise)."""
    fd = np.empty_like(x)
    for j in range(x.shape[-1]):
        h = EPS ** (1 / 3) * np.maximum(1.0, np.abs(x[..., j]))
        up, down = x.copy(), x.copy()
        up[..., j] += h
        down[..., j] -= h
        step = up[..., j] - down[..., j]  # the step the floats actually took
        diff = softmaxlab.normalize(up, method, **params) - softmaxlab.normalize(
            down, method, **params
        )
        fd[..., j] = np.sum(v * diff, axis=-1) / step
    return fd


def sparse_threshold(x: np.ndarray, p: np.ndarray, alpha: float) -> np.ndarray:
    """tau of p = [(alpha - 1) x - tau]_+^(1/(alpha - 1)), read off the largest entry."""
    top = np.argmax(p, axis=-1)[..., None]
    xt = np.take_along_axis(x, top, axis=-1)
    pt = np.take_along_axis(p, top, axis=-1)
    return (alpha - 1) * xt - pt ** (alpha - 1)


def kink_distance(x: np.ndarray, method: str, params: dict) -> np.ndarray:
    """Per row, how far x is from the nearest point where the method is not smooth (or where
    its denominator vanishes); inf for smooth maps, 0 where the method's float64 output is
    not finite."""
    far = np.full(x.shape[:-1], np.inf)
    if method in ("relu", "stablemax", "escort"):
        far = np.min(np.abs(x), axis=-1)
        if method == "relu":
            far = np.minimum(far, np.max(x, axis=-1))  # needs a positive entry
    elif method == "linear":
        far = np.abs(np.mean(x, axis=-1)) / 10  # kept rows have |mean x| > 0.2
    elif method == "shifted_linear":
        ordered = np.sort(x, axis=-1)
        far = ordered[..., 1] - ordered[..., 0]
    elif method == "argmax":
        ordered = np.sort(x, axis=-1)
        far = ordered[..., -1] - ordered[..., -2]
    elif method in ("sparsemax", "entmax15", "entmax"):
        alpha = softmaxlab.check_params(method, params).get("alpha", ALPHA.get(method))
        p = softmaxlab.normalize(x, method, **params)
        tau = sparse_threshold(x, p, alpha)
        far = np.min(np.abs((alpha - 1) * x - tau), axis=-1)
    # rows whose float64 evaluation breaks down (iterated exp past its overflow) have no
    # finite derivative to compare; test_breakdowns_return_nan_rather_than_raise covers them
    finite = np.all(np.isfinite(softmaxlab.normalize(x, method, **params)), axis=-1)
    return np.where(finite, far, 0.0)


def draw(seed: int, k: int, scale: float, method: str, rows: int = 8) -> np.ndarray:
    """Seeded logits; linear gets a positive location so most sums are far from 0."""
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((rows, k))
    return x + 1.5 if method == "linear" else x


@pytest.mark.parametrize(("method", "params", "factor"), SETTINGS, ids=SETTING_IDS)
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(2, 7),
    scale=st.sampled_from([0.3, 1.0, 3.0]),
)
def test_vjp_matches_central_differences(method, params, factor, seed, k, scale):
    x = draw(seed, k, scale * factor, method)
    v = np.random.default_rng(seed + 1).standard_normal(x.shape)
    g = softmaxlab.vjp(x, v, method, **params)
    assert g.shape == x.shape and g.dtype == np.float64
    fd = central_differences(x, v, method, params)
    keep = kink_distance(x, method, params) > 0.02
    assume(keep.any())
    g, fd = g[keep], fd[keep]
    assert np.all(np.isfinite(g))
    # central differences at this step resolve about 10 digits of the derivative; the
    # error is measured relative to the row's largest derivative (at least 1)
    size = np.maximum(1.0, np.abs(fd).max(axis=-1, keepdims=True))
    assert np.max(np.abs(g - fd) / size) < 1e-6


# --- the sparse maps: the papers' Jacobians as full matrices -------------------------------


def full_jacobian(x: np.ndarray, method: str, params: dict) -> np.ndarray:
    """J[..., i, j] = dp_i/dx_j from vjp with v = e_i, one basis vector at a time."""
    k = x.shape[-1]
    rows = [softmaxlab.vjp(x, np.eye(k)[i], method, **params) for i in range(k)]
    return np.stack(rows, axis=-2)


def paper_jacobian(p: np.ndarray, alpha: float) -> np.ndarray:
    """diag(s) - s s^T / sum s with s = p^(2 - alpha) on the support (s = 1[p > 0] for
    alpha = 2): Martins & Astudillo 2016 eq. 12; Peters et al. 2019 Prop. 1."""
    with np.errstate(divide="ignore"):
        s = np.where(p > 0, p ** (2 - alpha), 0.0) if alpha != 2 else (p > 0).astype(float)
    outer = s[..., :, None] * s[..., None, :] / np.sum(s, axis=-1)[..., None, None]
    return np.eye(p.shape[-1]) * s[..., None, :] - outer


@pytest.mark.parametrize(
    ("method", "params", "alpha"),
    [
        ("sparsemax", {}, 2.0),
        ("entmax15", {}, 1.5),
        ("entmax", {"alpha": 1.5}, 1.5),
        ("entmax", {"alpha": 1.25}, 1.25),
        ("entmax", {"alpha": 2.0}, 2.0),
        ("entmax", {"alpha": 4.0}, 4.0),
    ],
)
def test_sparse_jacobians_match_the_papers_formulas(method, params, alpha):
    x = 1.5 * np.random.default_rng(11).standard_normal((40, 6))
    p = softmaxlab.normalize(x, method, **params)
    assert np.any(p == 0), "the draw should exercise supports smaller than K"
    j = full_jacobian(x, method, params)
    np.testing.assert_allclose(j, paper_jacobian(p, alpha), rtol=1e-12, atol=1e-14)
    # the Jacobian of a map onto the simplex: symmetric, rows sum to 0, PSD (a gradient of
    # the convex conjugate of the Tsallis regulariser)
    np.testing.assert_allclose(j, np.swapaxes(j, -1, -2), atol=1e-14)
    np.testing.assert_allclose(j.sum(axis=-1), 0, atol=1e-14)
    assert np.linalg.eigvalsh(j).min() > -1e-12
    # entries off the support neither move nor are moved
    off = p == 0
    assert np.all(j[off[..., :, None] & np.ones_like(j, bool)] == 0)


def test_two_class_closed_forms():
    """K = 2 by hand. sparsemax: p_1 = clip((d + 1)/2, 0, 1), d = x_1 - x_2, so
    dp_1/dx_1 = 1/2 for |d| < 1 and 0 outside. 1.5-entmax: with a = x_1/2 - tau and
    a^2 + (a - d/2)^2 = 1, a = (d/2 + sqrt(2 - d^2/4))/2 for |d| < 2, p_1 = a^2, so
    dp_1/dx_1 = a (1 - (d/2) / sqrt(2 - d^2/4)) / 2."""
    d = np.array([-3.0, -1.7, -0.9, -0.3, 0.0, 0.4, 0.95, 1.8, 2.5])
    x = np.stack([d, np.zeros_like(d)], axis=-1)
    e1 = np.array([1.0, 0.0])
    sparse = softmaxlab.vjp(x, e1, "sparsemax")[:, 0]
    np.testing.assert_allclose(sparse, np.where(np.abs(d) < 1, 0.5, 0.0), atol=1e-15)
    h = d / 2
    inside = np.abs(d) < 2
    root = np.sqrt(np.where(inside, 2 - h * h, 1.0))
    a = (h + root) / 2
    expected = np.where(inside, a * (1 - h / root) / 2, 0.0)
    for method, params in [("entmax15", {}), ("entmax", {"alpha": 1.5})]:
        got = softmaxlab.vjp(x, e1, method, **params)
        np.testing.assert_allclose(got[:, 0], expected, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got[:, 1], -expected, rtol=1e-12, atol=1e-15)


# --- the NLL through softmax ------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"temperature": 0.25}, {"base": 2.0}, {"base": 100.0, "temperature": 3.0}],
    ids=lambda p: softmaxlab.label("softmax", p),
)
def test_nll_gradient_through_softmax_is_p_minus_onehot(params):
    """-log p_y has gradient (ln b / T)(p - e_y): the cross-entropy link, an analytic
    oracle. The chain rule through vjp uses dL/dp = -e_y / p_y."""
    rng = np.random.default_rng(5)
    x = 3 * rng.standard_normal((50, 9))
    y = rng.integers(0, 9, size=50)
    onehot = np.eye(9)[y]
    p = softmaxlab.normalize(x, "softmax", **params)
    dl_dp = -onehot / np.take_along_axis(p, y[:, None], axis=-1)
    grad = softmaxlab.vjp(x, dl_dp, "softmax", **params)
    factor = math.log(params.get("base", math.e)) / params.get("temperature", 1.0)
    np.testing.assert_allclose(grad, factor * (p - onehot), rtol=1e-12, atol=1e-15)


def test_nearly_one_hot_softmax_keeps_full_relative_accuracy():
    """p = softmax([0, 40]): dp_2/dx_2 = p_1 p_2 ~ 4.2e-18, which the plain v - v.p would
    cancel to 0 (1 - p_2 = 0 in float64). Against mpmath at 50 digits."""
    mpmath.mp.dps = 50
    x = np.array([0.0, 40.0])
    got = softmaxlab.vjp(x, [0.0, 1.0], "softmax")
    p1 = 1 / (1 + mpmath.exp(40))
    p2 = 1 - p1
    expected = [float(-p1 * p2), float(p1 * p2)]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert got[1] > 0


# --- gumbel_softmax: the method's own noise -----------------------------------------------------


def test_gumbel_softmax_uses_the_noise_of_normalize():
    """vjp(x, v, gumbel_softmax, tau, seed) is the softmax vjp at (x + G)/tau with G the
    documented draw numpy.random.default_rng(seed).gumbel(size=x.shape); another seed
    gives another gradient."""
    x = np.random.default_rng(3).standard_normal((4, 5))
    v = np.random.default_rng(4).standard_normal((4, 5))
    noise = np.random.default_rng(9).gumbel(size=x.shape)
    got = softmaxlab.vjp(x, v, "gumbel_softmax", tau=0.7, seed=9)
    expected = softmaxlab.vjp(x + noise, v, "softmax", temperature=0.7)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    other = softmaxlab.vjp(x, v, "gumbel_softmax", tau=0.7, seed=10)
    assert np.abs(other - got).max() > 1e-3


# --- properties -------------------------------------------------------------------------------


def test_argmax_gives_exact_zeros():
    """0 on finite rows (ties too); NaN on the rows normalize makes NaN (edge conventions)."""
    x = np.array([[1.0, 3.0, 2.0], [2.0, 2.0, 0.0], [np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0]])
    g = softmaxlab.vjp(x, np.ones(3), "argmax")
    assert g.dtype == np.float64 and np.array_equal(g[:2], np.zeros((2, 3)))
    assert np.isnan(g[2:]).all()


SHIFT_INVARIANT = [
    ("softmax", {}),
    ("softmax", {"base": 3.0, "temperature": 2.0}),
    ("ssmax", {"s": 2.0}),
    ("iterated_exp", {"depth": 1}),
    ("gumbel_softmax", {"tau": 0.5}),
    ("sparsemax", {}),
    ("entmax15", {}),
    ("entmax", {"alpha": 1.7}),
    ("shifted_linear", {}),
]


@pytest.mark.parametrize(
    ("method", "params"), SHIFT_INVARIANT, ids=[softmaxlab.label(*s) for s in SHIFT_INVARIANT]
)
@settings(max_examples=40, deadline=None)
@given(
    x=st.lists(st.floats(-20, 20), min_size=2, max_size=9, unique=True),
    data=st.data(),
)
def test_shift_invariant_maps_have_gradients_summing_to_zero(method, params, x, data):
    """p(x + c 1) = p(x), so d/dc = sum_j (v^T J)_j = 0 for every v."""
    v = data.draw(st.lists(st.floats(-5, 5), min_size=len(x), max_size=len(x)))
    g = softmaxlab.vjp(x, v, method, **params)
    assert np.all(np.isfinite(g))
    assert abs(np.sum(g)) <= 1e-12 * max(1.0, np.abs(g).max() * len(x))


@pytest.mark.parametrize(
    ("method", "params"), [("linear", {}), ("escort", {"p": 3.0}), ("spherical", {"eps": 0.0})]
)
def test_scale_invariant_maps_are_orthogonal_to_x(method, params):
    """p(c x) = p(x) (homogeneous of degree 0), so d/dc at c = 1 is x . (v^T J) = 0."""
    rng = np.random.default_rng(21)
    x = 1 + rng.random((30, 6))
    v = rng.standard_normal((30, 6))
    g = softmaxlab.vjp(x, v, method, **params)
    np.testing.assert_allclose(np.sum(x * g, axis=-1), 0, atol=1e-13)
    assert np.abs(g).max() > 1e-3


@pytest.mark.parametrize(("method", "params", "factor"), SETTINGS, ids=SETTING_IDS)
def test_constant_cotangent_gives_zero(method, params, factor):
    """Every method's outputs sum to 1, so 1^T J = 0: a constant v has a zero vjp."""
    x = draw(2, 6, factor, method)
    g = softmaxlab.vjp(x, np.full(6, 2.5), method, **params)
    np.testing.assert_allclose(g, 0, atol=1e-12)


# --- shapes, broadcasting, edge inputs, errors ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "params"),
    [(m, p) for m, p, _ in SETTINGS if m != "gumbel_softmax"],
    ids=[i for i, (m, _, _) in zip(SETTING_IDS, SETTINGS, strict=True) if m != "gumbel_softmax"],
)
def test_leading_axes_are_independent_rows(method, params):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 5)) + (1.5 if method == "linear" else 0)
    v = rng.standard_normal((2, 3, 5))
    batch = softmaxlab.vjp(x, v, method, **params)
    assert batch.shape == x.shape
    one_by_one = np.array(
        [[softmaxlab.vjp(x[a, b], v[a, b], method, **params) for b in range(3)] for a in range(2)]
    )
    np.testing.assert_array_equal(batch, one_by_one)


def test_v_broadcasts_against_the_leading_shape():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 3, 5))
    v_row = rng.standard_normal(5)
    v_mid = rng.standard_normal((4, 1, 5))
    for v in (v_row, v_mid):
        got = softmaxlab.vjp(x, v, "entmax15")
        expected = softmaxlab.vjp(x, np.broadcast_to(v, x.shape).copy(), "entmax15")
        np.testing.assert_array_equal(got, expected)
    # integer and float32 inputs are computed in float64
    xi = np.array([[1, 2, 3]], dtype=np.int64)
    assert softmaxlab.vjp(xi, [1, 0, 0], "softmax").dtype == np.float64
    x32 = np.array([1.0, 2.5, -1.0], dtype=np.float32)
    np.testing.assert_array_equal(
        softmaxlab.vjp(x32, [1, 0, 0], "sparsemax"),
        softmaxlab.vjp(x32.astype(np.float64), [1, 0, 0], "sparsemax"),
    )


def test_breakdowns_return_nan_rather_than_raise():
    x = np.array([[1.0, np.nan, 0.0], [1.0, 2.0, 3.0]])
    for method in ("softmax", "sparsemax", "entmax15", "entmax", "relu", "taylor"):
        g = softmaxlab.vjp(x, [1.0, -1.0, 0.5], method)
        assert np.all(np.isnan(g[0])), method
        assert np.all(np.isfinite(g[1])), method
    # linear with a zero sum, relu without a positive entry: 1/0 in the formula
    assert not np.all(np.isfinite(softmaxlab.vjp([1.0, -1.0], [1.0, 0.0], "linear")))
    assert np.all(np.isnan(softmaxlab.vjp([-1.0, -2.0], [1.0, 0.0], "relu")))
    # the naive softmax overflows past 709.78 in float64 as normalize does; stable does not
    big = [800.0, 799.0]
    assert np.all(np.isnan(softmaxlab.vjp(big, [1.0, 0.0], "softmax", stable=False)))
    np.testing.assert_allclose(
        softmaxlab.vjp(big, [1.0, 0.0], "softmax"),
        softmaxlab.vjp([1.0, 0.0], [1.0, 0.0], "softmax"),
    )


def test_iterated_exp_forms_agree_where_finite():
    """Naive and stable iterated exp are the same map: equal vjps where the naive form is
    finite; past the last exp's overflow only the stable form has one."""
    rng = np.random.default_rng(12)
    x = 0.6 * rng.standard_normal((20, 4))
    v = rng.standard_normal((20, 4))
    for depth in (2, 3):
        naive = softmaxlab.vjp(x, v, "iterated_exp", depth=depth)
        stable = softmaxlab.vjp(x, v, "iterated_exp", depth=depth, stable=True)
        assert np.all(np.isfinite(naive))
        np.testing.assert_allclose(naive, stable, rtol=1e-9, atol=1e-15)
    x = np.array([2.0, 1.9])  # E_3(2) = e^1618 overflows; E_2(2) = 1618 does not
    naive = softmaxlab.vjp(x, [1.0, 0.0], "iterated_exp", depth=3)
    stable = softmaxlab.vjp(x, [1.0, 0.0], "iterated_exp", depth=3, stable=True)
    assert np.all(np.isnan(naive)) and np.all(np.isfinite(stable))
    np.testing.assert_allclose(
        stable,
        central_differences(x, np.array([1.0, 0.0]), "iterated_exp", {"depth": 3, "stable": True}),
        atol=1e-9,
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1.0, 2.0], [1.0, 0.0], "sotfmax"), {}, "unknown method 'sotfmax'; valid methods"),
        (([1.0, 2.0], [1.0, 0.0], "softmax"), {"temperature": 0}, "temperature must be > 0"),
        (([1.0, 2.0], [1.0, 0.0], "entmax"), {"beta": 1}, "no parameter 'beta'"),
        (([1.0, 2.0], [1.0, 0.0, 0.0], "softmax"), {}, r"v of shape \(3,\) does not broadcast"),
        (([1.0, 2.0], [[1.0, 0.0]] * 2, "softmax"), {}, "does not broadcast to x's shape"),
        (([], [1.0, 0.0], "softmax"), {}, "does not broadcast to x's shape"),
    ],
)
def test_bad_input_raises_one_clear_value_error(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        softmaxlab.vjp(*args, **kwargs)


# --- one forward pass for many cotangents, and the caller's p ----------------------------


def _rows_with_edges(method: str, factor: float, k: int = 6) -> np.ndarray:
    """Seeded rows plus a NaN row and a -inf entry (the edge conventions' cases)."""
    x = draw(13, k, factor, method, rows=6)
    x[1, 2] = np.nan
    x[2, 0] = -np.inf
    return x


@pytest.mark.parametrize(("method", "params", "factor"), SETTINGS, ids=SETTING_IDS)
def test_pullback_gives_each_vjp_and_evaluate_bit_for_bit(method, params, factor):
    """Pullback(x)(V) on a stack of cotangents is vjp(x, V[j]) for each j, its forward is
    evaluate's (values and overflow flags), and vjp with output=normalize(x) is vjp."""
    from softmaxlab.vjp import Pullback

    full = softmaxlab.check_params(method, params)
    x = _rows_with_edges(method, factor)
    stack = np.random.default_rng(14).standard_normal((3, *x.shape))
    back = Pullback(x, method, full, track=True)
    p, overflow = back.evaluated()
    expected_p, expected_overflow = softmaxlab.evaluate(x, method, **params)
    assert np.array_equal(p, expected_p, equal_nan=True)
    np.testing.assert_array_equal(overflow, expected_overflow)
    got = back(stack)
    assert got.shape == stack.shape
    for j in range(3):
        one = softmaxlab.vjp(x, stack[j], method, **params)
        assert np.array_equal(got[j], one, equal_nan=True), j
        with_output = softmaxlab.vjp(x, stack[j], method, output=p, **params)
        assert np.array_equal(with_output, one, equal_nan=True), j


def test_output_skips_the_forward_of_the_maps_that_need_p_alone():
    """For softmax the caller's p is what the formula uses (a different p gives a
    different result); for linear, which needs its terms, the forward runs anyway."""
    x = np.array([[1.0, 2.0, 4.0]])
    v = np.array([[1.0, 0.0, 0.0]])
    p = softmaxlab.normalize(x, "softmax")
    uniform = np.full_like(x, 1 / 3)
    np.testing.assert_allclose(
        softmaxlab.vjp(x, v, "softmax", output=uniform), [[2 / 9, -1 / 9, -1 / 9]], rtol=1e-15
    )
    assert np.array_equal(
        softmaxlab.vjp(x, v, "softmax", output=p), softmaxlab.vjp(x, v, "softmax")
    )
    assert np.array_equal(
        softmaxlab.vjp(x, v, "linear", output=uniform), softmaxlab.vjp(x, v, "linear")
    )
    # escort's own parameter p is not the output
    np.testing.assert_array_equal(
        softmaxlab.vjp(x, v, "escort", p=3.0), softmaxlab.vjp(x, v, "escort", p=3.0, output=None)
    )
    with pytest.raises(ValueError, match=r"output of shape \(3,\) differs from x's shape"):
        softmaxlab.vjp(x, v, "softmax", output=p[0])


def test_pullback_refuses_what_it_cannot_hold():
    from softmaxlab.vjp import Pullback

    for x in (np.zeros((2, 3), dtype=np.float32), np.zeros((0, 3)), np.float64(1.0)):
        with pytest.raises(ValueError, match="Pullback needs float64 rows"):
            Pullback(np.asarray(x), "softmax", softmaxlab.check_params("softmax"))
