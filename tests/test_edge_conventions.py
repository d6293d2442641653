"""The edge conventions of :mod:`softmaxlab.methods` (its module docstring), for every method,
every format of the sweep and long double, and for :func:`softmaxlab.vjp`.

Each convention follows a peer library, cited where it is tested:

* 0-d input gives 1.0: ``scipy.special.softmax(np.float64(3.0))`` returns 1.0 (scipy's
  softmax normalises over every axis of a 0-d array: one outcome; compared directly);
* empty input gives an empty result: JAX's tests/nn_test.py ``testSoftmaxEmptyArray``
  asserts ``nn.softmax(jnp.array([], dtype=float))`` equals the empty input, and
  TensorFlow's kernel_tests/nn_ops/softmax_op_test.py ``testEmptyInput`` asserts that
  ``nn_ops.softmax`` of ``ones(shape=[0, 3])`` equals ``np.zeros(shape=[0, 3])``. scipy
  agrees on an empty batch (shape (0, 3), compared directly) but raises on an empty class
  axis, where softmaxlab follows JAX and TensorFlow;
* rows with NaN, with +inf, or all -inf give NaN in every entry: what
  ``scipy.special.softmax`` gives on each of them (compared directly);
* every other row is exactly what the method computes (property test against the method's
  own function called without the conventions).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import softmaxlab
from softmaxlab.dtypes import DTYPES
from softmaxlab.methods import _Ctx, _lookup, check_params
from softmaxlab.vjp import _VJPS, Pullback

INF, NAN = math.inf, math.nan
METHODS = softmaxlab.methods()
# every format of the sweep, and long double (the float64 reference's reference)
FORMATS = {**DTYPES, "longdouble": np.dtype(np.longdouble)}
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# rows the conventions make NaN: (label, row)
NAN_ROWS = [
    ("pos_inf", [0.0, INF, 0.0]),  # the example; scipy: [nan, nan, nan]
    ("two_pos_inf", [INF, 1.0, INF]),
    ("pos_and_neg_inf", [-INF, 1.0, INF]),
    ("only_pos_inf", [INF]),
    ("all_neg_inf", [-INF, -INF, -INF]),  # scipy: softmax([-inf, -inf]) = [nan, nan]
    ("one_neg_inf", [-INF]),
    ("nan_first", [NAN, 0.0, 1.0]),
    ("nan_last", [0.0, 1.0, NAN]),
    ("nan_and_inf", [NAN, INF, -INF]),
]


def _is_nan(a: np.ndarray) -> np.ndarray:
    return np.isnan(np.asarray(a).astype(np.float64))


def _raw(x: np.ndarray, method: str, track: bool = False):
    """(p, overflow) of the method's own function, without the edge conventions: the
    computation the conventions must leave untouched on ordinary rows."""
    ctx = _Ctx(x, track)
    with np.errstate(all="ignore"):
        p = _lookup(method)[0](x, ctx, **check_params(method))
    return p, ctx.overflow


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaN where the other has NaN, equal signs (long double's padding bytes
    are not compared)."""
    a64, b64 = np.asarray(a), np.asarray(b)
    if a64.dtype != b64.dtype or a64.shape != b64.shape:
        return False
    if a64.dtype != np.longdouble:
        return np.array_equal(a64.view(np.uint8), b64.view(np.uint8))
    both_nan = np.isnan(a64) & np.isnan(b64)
    return bool(np.all((a64 == b64) | both_nan) and np.all(np.signbit(a64) == np.signbit(b64)))


# --- 0-d input -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_zero_d_gives_one_as_scipy(method):
    """scipy.special.softmax(np.float64(3.0)) is 1.0: a 0-d input is one outcome. Every
    method, argmax and shifted_linear included (shifted_linear's [3.0] is 0/0 = NaN: a
    one-class row is computed, a scalar is not), in every format, in x's dtype."""
    for value in (3.0, -2.5, 0.0):
        assert scipy.special.softmax(np.float64(value)) == 1.0
        for name, dtype in FORMATS.items():
            x = np.asarray(value).astype(dtype)
            p, overflow = softmaxlab.evaluate(x, method)
            assert p.dtype == dtype and p.shape == () and overflow.shape == ()
            assert float(p) == 1.0 and not overflow, (method, name, value, p)
            q = softmaxlab.normalize(x, method)
            assert q.dtype == dtype and q.shape == () and float(q) == 1.0
    # Python numbers are float64 scalars
    for value in (3.0, 3, True):
        p = softmaxlab.normalize(value, method)
        assert p.dtype == np.float64 and p.shape == () and p == 1.0


@pytest.mark.parametrize("method", METHODS)
def test_zero_d_non_finite_is_nan_as_scipy(method):
    """A non-finite scalar is a one-entry row with NaN, +inf, or all -inf: NaN, as
    scipy.special.softmax gives on np.float64(nan), np.float64(inf) and np.float64(-inf)."""
    for value in (NAN, INF, -INF):
        with np.errstate(invalid="ignore"):
            assert np.isnan(scipy.special.softmax(np.float64(value)))
        for name, dtype in FORMATS.items():
            x = np.asarray(value).astype(dtype)
            p, overflow = softmaxlab.evaluate(x, method)
            assert p.dtype == dtype and p.shape == () and not overflow
            assert _is_nan(p), (method, name, value, p)


# --- empty input -----------------------------------------------------------------------------

EMPTY_SHAPES = [(0,), (0, 3), (4, 0), (2, 0, 5), (3, 2, 0), (0, 0)]


@pytest.mark.parametrize("method", METHODS)
def test_empty_input_gives_empty_result_as_jax_and_tensorflow(method):
    """An empty class axis or an empty batch gives an empty array of x's shape and dtype
    (JAX's testSoftmaxEmptyArray, TensorFlow's testEmptyInput); evaluate's flags have the
    leading shape."""
    for shape in EMPTY_SHAPES:
        for name, dtype in FORMATS.items():
            x = np.empty(shape, dtype=dtype)
            p, overflow = softmaxlab.evaluate(x, method)
            assert p.dtype == dtype and p.shape == shape, (method, name, shape, p.shape)
            assert overflow.dtype == bool and overflow.shape == shape[:-1]
            assert not overflow.any()
            q = softmaxlab.normalize(x, method)
            assert q.dtype == dtype and q.shape == shape
    # a plain empty list is an empty float64 class axis
    p = softmaxlab.normalize([], method)
    assert p.dtype == np.float64 and p.shape == (0,)


def test_empty_batch_matches_scipy():
    """scipy returns an empty batch as it is; it raises on an empty class axis (numpy's max
    of an empty axis), where softmaxlab follows JAX and TensorFlow instead."""
    x = np.empty((0, 3))
    np.testing.assert_array_equal(
        softmaxlab.normalize(x, "softmax"), scipy.special.softmax(x, axis=-1)
    )
    assert scipy.special.softmax(x, axis=-1).shape == (0, 3)
    with pytest.raises(ValueError, match="zero-size array"):
        scipy.special.softmax(np.empty((3, 0)), axis=-1)
    assert softmaxlab.normalize(np.empty((3, 0)), "softmax").shape == (3, 0)


# --- rows with NaN, +inf, all -inf -------------------------------------------------------------


def test_nan_rows_are_what_scipy_gives():
    """The oracle for the rule: scipy.special.softmax gives NaN in every entry of every one
    of these rows, and so does softmaxlab's softmax, bit for bit."""
    for label, row in NAN_ROWS:
        x = np.array(row)
        with np.errstate(invalid="ignore"):
            want = scipy.special.softmax(x)
        assert np.isnan(want).all(), (label, want)
        np.testing.assert_array_equal(softmaxlab.normalize(x, "softmax"), want, err_msg=label)


@pytest.mark.parametrize("method", METHODS)
def test_nan_rows_every_method_every_format(method):
    """One rule for every method (the issue's [0, inf, 0] gave NaN for softmax, [0, 1, 0]
    for sparsemax and entmax, [0, NaN, 0] for stablemax): NaN in every entry, in x's
    dtype, never flagged as overflow, and the batch's other rows untouched."""
    finite = np.array([1.0, -0.5, 2.0])
    for label, row in NAN_ROWS:
        k = len(row)
        ordinary = np.resize(finite, k)
        for name, dtype in FORMATS.items():
            x = np.array([ordinary, row, ordinary]).astype(dtype)
            p, overflow = softmaxlab.evaluate(x, method)
            assert p.dtype == dtype and p.shape == x.shape
            assert _is_nan(p[1]).all(), (method, label, name, p[1])
            assert not overflow[1]
            assert _same_bits(p[[0, 2]], _raw(x, method)[0][[0, 2]]), (method, label, name)
            q = softmaxlab.normalize(x, method)
            assert _same_bits(p, q), (method, label, name)


@pytest.mark.parametrize("method", METHODS)
def test_nan_anywhere_gives_a_nan_row(method):
    """A NaN in any position poisons the whole row, for every method."""
    base = np.array([0.5, -1.0, 2.0, 0.0])
    for position in range(4):
        x = base.copy()
        x[position] = NAN
        assert np.isnan(softmaxlab.normalize(x, method)).all(), (method, position)


def test_the_limit_rule_is_not_one_rule():
    """Why +inf is NaN and not 'uniform over the +inf entries' (module docstring): as
    entries grow, the limit depends on their rates (softmax of [t, 2t] -> [0, 1]) and, for
    even maps, on the entries going to -inf too (spherical of [0, t, -t] -> [0, 1/2, 1/2])."""
    t = 1e3
    np.testing.assert_allclose(softmaxlab.normalize([t, 2 * t], "softmax"), [0, 1], atol=1e-300)
    np.testing.assert_allclose(
        softmaxlab.normalize([0.0, t, -t], "spherical"), [0, 0.5, 0.5], atol=1e-10
    )
    # sigmoid's terms are bounded: the limit is a finite mix, not a hardmax
    p = softmaxlab.normalize([0.0, t, 1.0], "sigmoid")
    assert 0.2 < p[0] < p[2] < p[1] < 0.5


def test_neg_inf_among_finite_entries_is_the_methods_arithmetic():
    """The conventions touch only NaN, +inf and all -inf rows: a -inf among finite entries
    keeps each method's documented result (softmax gives it 0, as scipy does)."""
    row = np.array([0.0, -INF, 1.0])
    np.testing.assert_array_equal(softmaxlab.normalize(row, "softmax"), scipy.special.softmax(row))
    np.testing.assert_array_equal(softmaxlab.normalize(row, "sparsemax"), [0, 0, 1])
    np.testing.assert_array_equal(softmaxlab.normalize(row, "argmax"), [0, 0, 1])


# --- rows without inf or NaN are untouched (property) -----------------------------------------


@st.composite
def batches(draw):
    """(x, dtype name): a (rows, K) batch of finite logits in one format, some rows replaced
    by an edge row (NaN, +inf, all -inf) and some entries by -inf."""
    name = draw(st.sampled_from(list(FORMATS)))
    rows = draw(st.integers(1, 6))
    k = draw(st.integers(1, 9))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e4]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((rows, k))
    kinds = draw(
        st.lists(
            st.sampled_from(["finite", "nan", "pos_inf", "all_neg_inf", "neg_inf"]),
            min_size=rows,
            max_size=rows,
        )
    )
    for i, kind in enumerate(kinds):
        j = int(rng.integers(k))
        if kind == "nan":
            x[i, j] = NAN
        elif kind == "pos_inf":
            x[i, j] = INF
        elif kind == "all_neg_inf":
            x[i] = -INF
        elif kind == "neg_inf" and k > 1:
            x[i, j] = -INF
    with np.errstate(over="ignore"):
        return x.astype(FORMATS[name]), name


@pytest.mark.parametrize("method", METHODS)
@SETTINGS
@given(data=batches())
def test_ordinary_rows_are_the_method_bit_for_bit(method, data):
    """For every method: rows with no NaN or +inf and not all -inf come out exactly as the
    method's own function computes them on the same batch (the path before the
    conventions existed), overflow flags included; the other rows are NaN and unflagged."""
    x, name = data
    p, overflow = softmaxlab.evaluate(x, method)
    raw_p, raw_overflow = _raw(x, method, track=True)
    with np.errstate(invalid="ignore"):
        edge = np.any(np.isnan(x) | np.isposinf(x), axis=-1) | np.all(np.isneginf(x), axis=-1)
    assert _same_bits(p[~edge], raw_p[~edge]), (method, name)
    np.testing.assert_array_equal(overflow[~edge], raw_overflow[~edge])
    assert _is_nan(p[edge]).all() and not overflow[edge].any()
    assert _same_bits(softmaxlab.normalize(x, method), p)


# --- vjp follows the same conventions --------------------------------------------------------


@pytest.mark.parametrize("method", list(_VJPS))
def test_vjp_edge_conventions(method):
    """vjp: 0-d gives 0.0 (the derivative of the constant 1.0; NaN for a non-finite
    scalar), empty input an empty float64 result of x's shape, NaN rows where normalize
    gives NaN by convention, and the other rows as the formula on the same batch gives."""
    g = softmaxlab.vjp(3.0, 1.0, method)
    assert g.dtype == np.float64 and g.shape == () and g == 0.0
    for value in (NAN, INF, -INF):
        g = softmaxlab.vjp(value, 1.0, method)
        assert g.shape == () and np.isnan(g)
    for shape in EMPTY_SHAPES:
        g = softmaxlab.vjp(np.empty(shape), np.empty(shape), method)
        assert g.dtype == np.float64 and g.shape == shape
    x = np.array([[0.5, -1.0, 2.0], [0.0, INF, 0.0], [-INF] * 3, [1.0, NAN, 0.0], [0.0, 1.0, 3.0]])
    v = np.array([1.0, -2.0, 0.5])
    g = softmaxlab.vjp(x, v, method)
    assert np.isnan(g[1:4]).all(), (method, g)
    with np.errstate(all="ignore"):
        # the formula before the conventions (Pullback._built), on the same batch
        raw = Pullback(x, method, check_params(method))._built()(np.broadcast_to(v, x.shape))
    np.testing.assert_array_equal(g[[0, 4]], raw[[0, 4]])
    assert np.isfinite(g[[0, 4]]).all()
