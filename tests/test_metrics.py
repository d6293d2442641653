"""Every metric on hand-made vectors whose answers are known in closed form."""

import math

import metrics_reference as reference
import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import softmaxlab
from softmaxlab import metrics, nll
from softmaxlab.dtypes import DTYPES, finfo, reference_dtype, sum_tolerance


def test_hardmax_ties_share_mass():
    np.testing.assert_array_equal(metrics.hardmax([[1.0, 3.0, 3.0, 0.0]]), [[0, 0.5, 0.5, 0]])


def test_distances_single_maximiser():
    x = np.array([[2.0, 4.0, 2.0, 1.0]])
    p = np.array([[0.1, 0.6, 0.2, 0.1]])
    h = metrics.hardmax(x)
    assert metrics.tv_to_argmax(p, h)[0] == pytest.approx(1 - 0.6)
    assert metrics.l2_to_argmax(p, h)[0] == pytest.approx(math.sqrt(0.01 + 0.16 + 0.04 + 0.01))
    assert metrics.kl_to_argmax(p, h)[0] == pytest.approx(-math.log(0.6))


def test_distances_with_tie():
    h = metrics.hardmax([[1.0, 1.0]])
    p = np.array([[0.75, 0.25]])
    assert metrics.tv_to_argmax(p, h)[0] == pytest.approx(0.25)
    # KL(h || p) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25)
    assert metrics.kl_to_argmax(p, h)[0] == pytest.approx(0.5 * math.log(2 / 3) + 0.5 * math.log(2))


def test_kl_infinite_when_argmax_mass_is_zero():
    h = metrics.hardmax([[0.0, 1.0]])
    assert metrics.kl_to_argmax(np.array([[1.0, 0.0]]), h)[0] == math.inf


def test_kl_to_argmax_is_negative_only_where_the_output_is_not_a_distribution():
    """Three tied maximisers: argmax's 1/3 rounds up to 0.34375 in float8_e4m3fn (the
    format's nearest value; its outputs sum to 1.03125), so KL(h || p) = ln((1/3) / 0.34375)
    < 0, as the glossary says; in float64 p is the hardmax's own fl(1/3) and the KL is 0."""
    x = np.array([[0.5, 0.5, 0.5, -1.0]])
    for dtype, expected in [
        ("float8_e4m3fn", math.log((1 / 3) / 0.34375)),  # -0.0308
        ("float64", 0.0),
    ]:
        xs = x.astype(DTYPES[dtype])
        p, overflow = softmaxlab.evaluate(xs, "argmax")
        kl = metrics.vector_metrics(xs, p, overflow, None)["kl_to_argmax"][0]
        assert kl == pytest.approx(expected, rel=1e-12, abs=0.0)
        assert (kl < 0) == (dtype != "float64")
    assert float(np.asarray(1 / 3, dtype=DTYPES["float8_e4m3fn"])) == 0.34375


def test_entropy_known_values():
    p = np.array([[0.25] * 4, [1.0, 0, 0, 0], [0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(metrics.entropy(p), [math.log(4), 0.0, math.log(2)])


def test_argmax_agrees():
    x = np.array([[0.0, 2.0, 1.0], [0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    p = np.array([[0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [np.nan, 0.5, 0.5]])
    np.testing.assert_array_equal(metrics.argmax_agrees(p, x), [1, 0, 1, 0])


def test_invalid_detects_each_failure():
    p = np.array(
        [
            [0.5, 0.5],
            [1.2, -0.2],  # negative entry
            [0.6, 0.6],  # sums to 1.2
            [np.nan, 1.0],
            [np.inf, 0.0],
        ]
    )
    np.testing.assert_array_equal(metrics.invalid(p, np.float64, 2), [0, 1, 1, 1, 1])


def test_invalid_tolerance_scales_with_format():
    # 0.5 + 0.53 is off by 0.03: far outside float64's tolerance, inside float8_e4m3fn's.
    p = np.array([[0.5, 0.53]])
    assert metrics.invalid(p, np.float64, 2)[0] == 1
    assert metrics.invalid(p, ml_dtypes.float8_e4m3fn, 2)[0] == 0


def test_errors_against_reference():
    p = np.array([[0.0, 0.5, 0.5]], dtype=np.float16)
    p_ref = np.array([[1e-9, 0.5 - 1e-9, 0.5]])
    underflow, abs_err, rel_err = metrics.errors(p, p_ref)
    assert underflow[0] == 1
    assert abs_err[0] == pytest.approx(1e-9)
    assert rel_err[0] == pytest.approx(1.0)  # the flushed entry is 100% off


def test_no_underflow_when_reference_is_zero_too():
    p = np.array([[0.0, 1.0]])
    underflow, abs_err, rel_err = metrics.errors(p, np.array([[0.0, 1.0]]))
    assert (underflow[0], abs_err[0], rel_err[0]) == (0, 0, 0)


def test_directional_grad_norm_linear_map_is_exact():
    # f(x) = A x has J v = A v exactly; central differences are exact for linear maps.
    a = np.array([[2.0, 0.0], [1.0, 3.0]])
    v = np.array([[0.6, 0.8]])
    got = metrics.directional_grad_norm(lambda y: y @ a.T, np.array([[1.0, -2.0]]), v)
    assert got[0] == pytest.approx(np.linalg.norm(a @ v[0]), rel=1e-9)


def test_directional_grad_norm_of_softmax_matches_jacobian():
    # softmax Jacobian J = diag(p) - p p^T (Bridle 1990); an analytic oracle.
    x = np.array([0.3, -1.2, 2.0, 0.5])
    p = np.exp(x) / np.exp(x).sum()
    jac = np.diag(p) - np.outer(p, p)
    v = np.array([0.5, -0.5, 0.5, 0.5])

    def softmax(y):
        e = np.exp(y - y.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    got = metrics.directional_grad_norm(softmax, x[None], v[None])
    assert got[0] == pytest.approx(np.linalg.norm(jac @ v), rel=1e-8)


def test_central_points_are_the_steps_of_the_difference():
    """central_points: x +- h v with h = eps^(1/3) max(1, max|x|) per row, and 2h; the
    difference from them is directional_grad_norm's own, bit for bit."""
    x = np.array([[0.3, -4.0, 2.0], [0.1, 0.2, -0.5]])
    v = np.array([[0.6, 0.0, 0.8], [0.0, 1.0, 0.0]])
    ahead, behind, two_h = metrics.central_points(x, v)
    h = np.cbrt(np.finfo(np.float64).eps) * np.array([[4.0], [1.0]])
    assert np.array_equal(two_h, 2 * h)
    assert np.array_equal(ahead, x + h * v) and np.array_equal(behind, x - h * v)
    fn = lambda y: np.exp(y) / np.exp(y).sum(axis=-1, keepdims=True)  # noqa: E731
    given = metrics.directional_grad_norm(fn, x, v, (ahead, behind, two_h))
    assert np.array_equal(
        given.view(np.uint64), metrics.directional_grad_norm(fn, x, v).view(np.uint64)
    )


def test_vector_metrics_on_uniform_output():
    x = np.array([[0.0, 1.0, 2.0, 3.0]])
    p = np.full((1, 4), 0.25)
    out = metrics.vector_metrics(x, p, np.array([False]), p.copy())
    assert out["tv_to_argmax"][0] == pytest.approx(0.75)
    assert out["normalized_entropy"][0] == pytest.approx(1.0)
    assert out["max_prob"][0] == 0.25
    assert out["argmax_agrees"][0] == 0
    assert out["support_fraction"][0] == 1
    assert out["invalid"][0] == 0 and out["nan_output"][0] == 0 and out["overflow"][0] == 0
    gradient_metrics = {"grad_norm", "grad_vanishes", "input_nonfinite", *nll.NLL_METRICS}
    assert set(out) | gradient_metrics == set(metrics.METRICS)


def test_every_metric_has_a_definition():
    assert set(metrics.DEFINITIONS) == set(metrics.METRICS)
    assert all(text.endswith(".") for text in metrics.DEFINITIONS.values())


def test_nll_metrics_are_registered_after_the_others():
    """Claim C14's metrics come last (the columns before them keep their order), with
    nll.py's rates, ranges and definitions, each saying where the sweep measures it."""
    count = len(nll.NLL_METRICS)
    assert metrics.METRICS[-count:] == nll.NLL_METRICS
    assert metrics.METRICS[:4] == ("tv_to_argmax", "l2_to_argmax", "kl_to_argmax", "entropy")
    assert metrics.METRICS[-count - 2 : -count] == ("max_rel_error", "input_nonfinite")
    assert nll.NLL_RATE_METRICS <= metrics.RATE_METRICS
    assert nll.NLL_RATE_METRICS <= metrics.UNIT_INTERVAL_METRICS
    for name in nll.NLL_METRICS:
        assert metrics.METRIC_RANGES[name] == nll.NLL_METRIC_RANGES[name]
        assert metrics.DEFINITIONS[name].startswith(nll.NLL_DEFINITIONS[name])
        assert metrics.DEFINITIONS[name].endswith(metrics.NLL_SCOPE)
        assert "float64 cells only" in metrics.DEFINITIONS[name]


# --- the fast implementation against the frozen oracle (tests/metrics_reference.py) --------
#
# vector_metrics and errors were rewritten for speed (shared intermediates, float64
# arithmetic for the long double reference). The oracle is the code before the rewrite;
# every value must be the same bit for bit: the same NaNs, and otherwise the same float64
# bits, so that +0.0 and -0.0 count as different (the summary CSV would print them apart).


def reference_output(x, method, **params):
    """The method on x in the sweep's reference format (reference_dtype), or None where no
    format is wider than x's (float64 on a machine with neither a wider long double nor
    numpy_quaddtype: the sweep then leaves float64's error metrics unmeasured rather than
    compare float64 with itself, which ``x.astype(None)`` would do)."""
    wide = reference_dtype(x.dtype)
    return None if wide is None else softmaxlab.normalize(x.astype(wide), method, **params)


def assert_same_bits(new, old, what=""):
    new, old = np.asarray(new, dtype=np.float64), np.asarray(old, dtype=np.float64)
    assert new.shape == old.shape, (what, new.shape, old.shape)
    nan_new, nan_old = np.isnan(new), np.isnan(old)
    bad = (nan_new != nan_old) | (~nan_old & (new.view(np.uint64) != old.view(np.uint64)))
    assert not bad.any(), f"{what}: new {new[bad][:5].tolist()} old {old[bad][:5].tolist()}"


def assert_metrics_match(x, p, overflow, p_ref, what=""):
    new = metrics.vector_metrics(x, p, overflow, p_ref)
    with np.errstate(all="ignore"):  # the oracle warns on overflow; the sweep ignores it
        old = reference.vector_metrics(x, p, overflow, p_ref)
    assert set(new) == set(old)
    for name in old:
        assert_same_bits(new[name], old[name], f"{what} {name}")
    if p_ref is not None:
        for name, a, b in zip(
            ("underflow", "max_abs_error", "max_rel_error"),
            metrics.errors(p, p_ref),
            reference.errors(p, p_ref),
            strict=True,
        ):
            assert_same_bits(a, b, f"{what} errors() {name}")


ORACLE_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Every method, with its defaults and with the parameters that change its failure modes
# (unguarded powers overflow, a low temperature sharpens, alpha moves entmax's support).
METHOD_CASES = [(name, {}) for name in softmaxlab.methods()] + [
    ("softmax", {"stable": False}),
    ("softmax", {"base": 100, "stable": False}),
    ("softmax", {"temperature": 0.1}),
    ("taylor", {"order": 4}),
    ("iterated_exp", {"depth": 3}),
    ("entmax", {"alpha": 1.25}),
    ("gumbel_softmax", {"tau": 0.3, "seed": 5}),
]
EDGE_VALUES = ["nan", "inf", "-inf", "max", "-max", "zero", "tie", "const", "tiny"]


@st.composite
def edge_logits(draw):
    """(x, dtype name): logits in one of the six formats with edge rows mixed in.

    K up to 300 sometimes (numpy's pairwise summation groups by 8 above K = 8 and splits
    above 128, so sums there take a different order than at small K); scales up to the
    format's max (overflow); rows with NaN, +-inf, +-max, zeros, ties at the max, constant
    rows and the smallest subnormal."""
    name = draw(st.sampled_from(list(DTYPES)))
    dtype = DTYPES[name]
    k = draw(st.one_of(st.integers(1, 12), st.integers(13, 300)))
    rows = draw(st.integers(1, 6))
    scale = draw(st.sampled_from([1e-3, 0.1, 1.0, 10.0, 100.0, 1e4, 1e30]))
    z = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((rows, k))
    if draw(st.booleans()):  # few distinct values: ties everywhere
        z = np.round(z)
    info = finfo(dtype)
    big = float(info.max)
    x = np.clip(scale * z, -big, big).astype(dtype)
    for _ in range(draw(st.integers(0, 3))):
        row, col = draw(st.integers(0, rows - 1)), draw(st.integers(0, k - 1))
        kind = draw(st.sampled_from(EDGE_VALUES))
        value = {
            "nan": np.nan,
            "inf": np.inf,
            "-inf": -np.inf,
            "max": big,
            "-max": -big,
            "zero": 0.0,
            "tiny": float(info.smallest_subnormal),
        }.get(kind)
        if kind == "tie":
            x[row, col] = np.max(x[row].astype(np.float64))
        elif kind == "const":
            x[row] = x[row, col]
        else:
            with np.errstate(all="ignore"):
                x[row, col] = np.asarray(value).astype(dtype)  # inf is NaN in e4m3fn
    return x, name


@pytest.mark.parametrize(("method", "params"), METHOD_CASES, ids=str)
@ORACLE_SETTINGS
@given(data=edge_logits())
def test_vector_metrics_match_oracle_on_method_outputs(method, params, data):
    """What the sweep does: the method in the format, its reference in the wider format."""
    x, name = data
    p, overflow = softmaxlab.evaluate(x, method, **params)
    p_ref = reference_output(x, method, **params)
    assert_metrics_match(x, p, overflow, p_ref, f"{method}{params} {name}")
    assert_metrics_match(x, p, overflow, None, f"{method}{params} {name} no reference")


SPECIAL_P = [0.0, -0.0, 1.0, 0.5, 2.0, -0.25, 1e-300, 5e-324, np.inf, -np.inf, np.nan]


@ORACLE_SETTINGS
@given(
    name=st.sampled_from(list(DTYPES)),
    k=st.one_of(st.integers(1, 12), st.integers(13, 200)),
    rows=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    specials=st.lists(st.sampled_from(SPECIAL_P), max_size=6),
    rounded=st.booleans(),
)
def test_vector_metrics_match_oracle_on_arbitrary_outputs(name, k, rows, seed, specials, rounded):
    """Outputs no method gives: negative entries, entries above 1, inf, NaN, +-0, tiny and
    subnormal values, ties in p and x; the reference perturbed to within a few ulp."""
    dtype = DTYPES[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, k))
    p = rng.dirichlet(np.full(k, 0.3), size=rows)
    if rounded:
        x, p = np.round(x), np.round(p, 1)
    cells = rng.integers(0, rows * k, size=len(specials))
    p.flat[cells] = specials
    with np.errstate(all="ignore"):
        x, p = x.astype(dtype), p.astype(dtype)
    ref = reference_dtype(dtype)
    p_ref = p.astype(ref) * (1 + rng.integers(-4, 5, size=p.shape) * np.finfo(ref).eps)
    overflow = rng.random(rows) < 0.5
    assert_metrics_match(x, p, overflow, p_ref, name)


def _wide(values, exponent=0):
    """long double values times 2**exponent (which may be outside float64's range)."""
    return np.ldexp(np.asarray(values, dtype=np.longdouble), exponent)


REF_PERTURBATIONS = [0.0, 1e-19, 1e-17, 1e-16, 3e-16, 1e-10, 1e-3, 0.5, 1.0, 10.0]


@ORACLE_SETTINGS
@given(
    k=st.one_of(st.integers(1, 12), st.integers(13, 200)),
    rows=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    rel=st.sampled_from(REF_PERTURBATIONS),
    magnitude=st.sampled_from([0, -300, -1000, -1070, -1100, -5000, 900, 1030, 5000]),
    zeros=st.floats(0, 1),
    specials=st.lists(st.sampled_from(SPECIAL_P), max_size=4),
)
def test_errors_match_oracle_against_long_double(k, rows, seed, rel, magnitude, zeros, specials):
    """errors() of a float64 p against a long double reference, where the fast code takes
    float64 shortcuts: references that round to the same float64, that differ in the last
    long double bits, that lie below float64's smallest subnormal (2^-1074) or above its
    max, exact zeros in p and reference, signed zeros, negative and non-finite values."""
    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.full(k, 0.5), size=rows)
    ref = _wide(base, magnitude)
    ref *= 1 + rel * _wide(rng.standard_normal(base.shape))
    ref[rng.random(base.shape) < zeros] = 0
    with np.errstate(all="ignore"):
        p = ref.astype(np.float64)  # the correctly rounded float64 of the reference ...
        # ... then moved a few ulp, or flushed to 0 where the format would flush
        p = p + rng.integers(-3, 4, size=p.shape) * np.spacing(p)
        p[rng.random(base.shape) < zeros / 2] = 0
    cells = rng.integers(0, rows * k, size=len(specials))
    p.flat[cells] = specials
    ref.flat[rng.permutation(cells)] = specials
    for name, a, b in zip(
        ("underflow", "max_abs_error", "max_rel_error"),
        metrics.errors(p, ref),
        reference.errors(p, ref),
        strict=True,
    ):
        assert_same_bits(a, b, name)
    assert_metrics_match(rng.standard_normal(base.shape), p, np.zeros(rows, bool), ref)


EDGE_ROWS = [
    # (x, p, p_ref) rows, float64 with a long double reference
    ([0.0], [1.0], [1.0]),  # K = 1
    ([1.0, 1.0], [0.5, 0.5], [0.5, 0.5]),  # K = 2, a tie
    ([0.0, 1.0], [0.0, 1.0], [1e-400, 1.0]),  # underflow below float64's range
    ([0.0, 1.0], [0.0, 1.0], [0.0, 1.0]),  # exact zeros agree
    ([0.0, 1.0], [5e-324, 1.0], [1e-400, 1.0]),  # smallest subnormal against 1e-400
    ([-np.inf, -np.inf], [np.nan, np.nan], [np.nan, np.nan]),  # all -inf: 0/0
    ([np.inf, 0.0], [np.nan, np.nan], [1.0, 0.0]),
    ([np.nan, 0.0], [np.nan, np.nan], [np.nan, np.nan]),
    ([3.0, 1.0, 3.0], [0.5, 0.0, 0.5], [0.5, 0.0, 0.5]),  # tie, exact
    ([3.0, 1.0, 3.0], [0.6, -0.2, 0.6], [0.6, -0.2, 0.6]),  # linear: negative mass
    ([1e308, -1e308], [np.inf, 0.0], [1e400, 0.0]),  # above float64's max
    ([0.0, 1.0], [-0.0, 1.0], [-0.0, 1.0]),  # signed zeros
    ([0.0, 1.0], [0.0, 1.0], [-1e-400, 1.0]),  # a negative reference below the range
]


@pytest.mark.parametrize(("x", "p", "p_ref"), EDGE_ROWS, ids=str)
def test_vector_metrics_match_oracle_on_edge_rows(x, p, p_ref):
    x, p = np.array([x]), np.array([p])
    ref = np.array([p_ref], dtype=np.longdouble)
    if np.isinf(ref[0, 0]) and abs(p_ref[0]) > 1e308:
        ref = _wide([[1.0, 0.0]], 1400)
    if p_ref[0] == 1e-400:
        ref[0, 0] = _wide(1.0, -1330)
    if p_ref[0] == -1e-400:
        ref[0, 0] = -_wide(1.0, -1330)
    assert_metrics_match(x, p, np.array([False]), ref)
    # the same rows against a float64 reference, p in float32 and float16
    for dtype in (np.float32, np.float16):
        with np.errstate(all="ignore"):
            assert_metrics_match(
                x.astype(dtype), p.astype(dtype), np.array([True]), ref.astype(np.float64)
            )


def test_float64_estimate_of_the_relative_error_is_within_its_bound():
    """Against a long double reference, errors() recomputes only the entries whose float64
    estimate a = fl64(|D| / fl64(r)) of |p - r| / r is within 2^-48 of the row's largest
    (metrics._errors_wide). That is safe if a is within 4.1u (u = 2^-53) of the
    definition's o = fl64(fl_ld(|p - r| / r)) relative, over the range it is used in
    (fl64(r) in [2^-900, 2^900]): checked here on entries a few ulp apart, as p and its
    reference are, with the reference's full long double bits. (Entries whose estimates
    order differently from the definition are too rare to construct: none in 10^5
    near-tied pairs, hence this check of the bound itself.)"""
    rng = np.random.default_rng(3)
    n = 200_000
    u = 2.0**-53
    hi = np.ldexp(rng.uniform(1, 2, n), rng.integers(-900, 900, n))
    r = hi.astype(np.longdouble) + _wide(rng.uniform(-1, 1, n)) * np.spacing(hi) / 2
    p = hi + rng.integers(-3, 4, n) * np.spacing(hi)
    d = np.abs(p.astype(np.longdouble) - r)
    exact = (d / r).astype(np.float64)
    estimate = d.astype(np.float64) / r.astype(np.float64)
    nonzero = exact > 0
    assert np.all(estimate[~nonzero] == 0)
    assert np.max(np.abs(estimate[nonzero] / exact[nonzero] - 1)) <= 4.1 * u
    assert metrics._CANDIDATE * (1 + 4.1 * u) < 1 - 4.1 * u


def test_errors_match_oracle_when_the_relative_error_overflows():
    """A float64 ratio above 2^900 (p = 2^100 against r = 2^-850): the row is recomputed."""
    p = np.array([[2.0**100, 0.5], [2.0**1000, 2.0**-890]])
    r = np.array([[2.0**-850, 0.5], [2.0**-899, 2.0**-890]], dtype=np.longdouble)
    assert_metrics_match(np.zeros((2, 2)), p, np.zeros(2, bool), r)


def test_vector_metrics_match_oracle_on_large_k_and_leading_shape():
    """A sweep-sized chunk (131 x 1000, several scales) and a 3-d leading shape."""
    z = np.random.default_rng(7).standard_normal((131, 1000))
    for name in DTYPES:
        for scale in (1.0, 100.0, 1e4):
            x = (scale * z).astype(DTYPES[name])
            for method in ("softmax", "sparsemax", "linear"):
                p, overflow = softmaxlab.evaluate(x, method)
                p_ref = reference_output(x, method)
                assert_metrics_match(x, p, overflow, p_ref, f"{method} {name} {scale}")
    x = z[:24].reshape(2, 3, 4, 1000)
    p, overflow = softmaxlab.evaluate(x, "softmax")
    assert_metrics_match(x, p, overflow, softmaxlab.normalize(x.astype(np.longdouble), "softmax"))


def test_hardmax_matches_oracle():
    x = np.array([[1.0, 3.0, 3.0], [np.nan, 1.0, 0.0], [-np.inf, -np.inf, -np.inf]])
    assert_same_bits(metrics.hardmax(x), reference.hardmax(x))
    assert_same_bits(metrics.hardmax([2.0, 1.0]), reference.hardmax([2.0, 1.0]))


def test_the_invalid_definition_names_where_the_sum_is_not_checked():
    """unchecked_sum_from against a search over K of dtypes.sum_tolerance itself."""
    for name in DTYPES:
        found = next((k for k in range(2, 10**4) if sum_tolerance(name, k) >= 1), None)
        assert metrics.unchecked_sum_from(name) == found, name
    text = metrics.DEFINITIONS["invalid"]
    assert "(float8_e4m3fn from K = 33, float8_e5m2 from K = 3)" in text
    # the caveat is real: an all-zero float8_e5m2 output at K = 3 is not invalid
    zeros = np.zeros((1, 3), dtype=ml_dtypes.float8_e5m2)
    assert metrics.invalid(zeros, zeros.dtype, 3)[0] == 0.0
