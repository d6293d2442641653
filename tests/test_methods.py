"""Every normalisation method against an oracle that shares none of its code.

Oracles:

* closed-form methods: the formula evaluated term by term in mpmath at 50 digits
  (``mp_reference``), compared with float64 output entry by entry in units of eps,
  scaled by the conditioning of the formula at that entry;
* softmax additionally against ``scipy.special.softmax``;
* sparsemax: the Euclidean projection onto the simplex, found (a) by bisection on the
  threshold tau in mpmath and (b) as a quadratic programme solved by scipy's SLSQP;
* entmax15 / entmax: bisection in mpmath on the Tsallis threshold tau of
  p_i = [(alpha - 1) x_i - tau]_+^(1/(alpha-1)), sum p = 1 (Peters et al. 2019, eq. 9);
* published vectors: softmax, sparsemax and entmax15 of [-2, 0, 0.5] from the README of
  deep-spin/entmax; 2-class closed forms of sparsemax (Martins & Astudillo 2016, sec. 2.2)
  and of 1.5-entmax (solved by hand below).

Then edge inputs, overflow edges in narrow formats, gradients, and the parameter API.
"""

from __future__ import annotations

import math
import re
import time
import warnings

import ml_dtypes
import mpmath
import numpy as np
import pytest
import scipy.optimize
import scipy.special

import softmaxlab
from softmaxlab.dtypes import DTYPES, finfo

DPS = 50
EPS64 = float(np.finfo(np.float64).eps)
ALL_METHODS = [
    "argmax",
    "linear",
    "shifted_linear",
    "relu",
    "softplus",
    "sigmoid",
    "spherical",
    "escort",
    "taylor",
    "stablemax",
    "softmax",
    "iterated_exp",
    "ssmax",
    "sparsemax",
    "entmax15",
    "entmax",
    "gumbel_softmax",
]
DETERMINISTIC = [m for m in ALL_METHODS if m != "gumbel_softmax"]


def seeded_vectors(seed: int, k: int, scale: float = 2.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(k)


# --------------------------------------------------------------------------------------
# mpmath references for the closed-form methods: t_i = f(x_i), p = t / sum t.
# Each entry returns (f, cond) where cond(x) bounds the relative rounding error of a
# plain float64 evaluation of f(x) in units of eps (the condition of the formula plus the
# number of roundings); the final tolerance adds the normalisation's roundings.
# --------------------------------------------------------------------------------------


def _taylor(order):
    def f(v):
        return mpmath.fsum(v**n / mpmath.factorial(n) for n in range(order + 1))

    def cond(v):
        # condition of polynomial evaluation: sum |a_n v^n| / |p(v)|, times the terms
        terms = mpmath.fsum(abs(v) ** n / mpmath.factorial(n) for n in range(order + 1))
        return (order + 2) * terms / abs(f(v))

    return f, cond


def _iterated(depth):
    def f(v):
        for _ in range(depth):
            v = mpmath.exp(v)
        return v

    def cond(v):
        # a relative error u in the innermost exp becomes u * e^v * e^(e^v) ... outwards:
        # amplification = prod of the inner exp values (each exp's output is the next's input)
        amp, inner = mpmath.mpf(1), v
        total = mpmath.mpf(1)
        for _ in range(depth - 1):
            inner = mpmath.exp(inner)
            amp *= max(1, abs(inner))
            total += amp
        return 2 * total + 2 * abs(v)

    return f, cond


def mp_elementwise(method: str, params: dict, k: int):
    """(f, cond) of the method's elementwise map at 50 digits (see the module notes)."""
    one = mpmath.mpf(1)
    if method == "linear":
        return (lambda v: v), (lambda v: one)
    if method == "relu":
        return (lambda v: max(v, 0)), (lambda v: one)
    if method == "softplus":
        return (lambda v: mpmath.log1p(mpmath.exp(v))), (lambda v: 4 * (1 + abs(v)))
    if method == "sigmoid":
        return (lambda v: 1 / (1 + mpmath.exp(-v))), (lambda v: 4 + abs(v))
    if method == "spherical":
        eps = mpmath.mpf(params["eps"])
        return (lambda v: v * v + eps), (lambda v: mpmath.mpf(3))
    if method == "escort":
        power = mpmath.mpf(params["p"])
        return (lambda v: abs(v) ** power), (lambda v: 2 + abs(power * mpmath.log(abs(v) or 1)))
    if method == "taylor":
        return _taylor(int(params["order"]))
    if method == "stablemax":
        return (lambda v: v + 1 if v >= 0 else 1 / (1 - v)), (lambda v: mpmath.mpf(2))
    if method in ("softmax", "ssmax"):
        if method == "softmax":
            base = mpmath.mpf(float(params["base"]))  # the base rounded to float64
            factor = mpmath.log(base) / mpmath.mpf(float(params["temperature"]))
        else:
            factor = mpmath.mpf(params["s"]) * mpmath.log(k)
        return (lambda v: mpmath.exp(factor * v)), (lambda v: 4 + 2 * abs(factor * v))
    if method == "iterated_exp":
        return _iterated(int(params["depth"]))
    raise KeyError(method)


def mp_reference(method: str, x, params: dict) -> tuple[list, list]:
    """(p, cond): the method at 50 digits and a per-entry error budget in eps."""
    x = [float(v) for v in x]
    with mpmath.workdps(DPS):
        xs = [mpmath.mpf(v) for v in x]
        if method == "shifted_linear":
            low = min(xs)
            t = [v - low for v in xs]
            cond = [mpmath.mpf(2)] * len(xs)
        else:
            f, c = mp_elementwise(method, params, len(xs))
            t = [f(v) for v in xs]
            cond = [c(v) for v in xs]
        total = mpmath.fsum(t)
        if total == 0:  # 0/0: no mass (shifted_linear of K = 1, relu without a positive x)
            return [math.nan] * len(xs), [0.0] * len(xs)
        # cancellation in the normaliser: sum |t| / |sum t| (1 for non-negative t)
        cancel = mpmath.fsum(abs(v) for v in t) / abs(total)
        log_k = math.ceil(math.log2(max(len(xs), 2)))
        p = [v / total for v in t]
        # p_i inherits the error of t_i and that of the sum (a p-weighted mean of the cond_j)
        inherited = mpmath.fsum(abs(pj) * cj for pj, cj in zip(p, cond, strict=True))
        budget = [float(ci + inherited + (log_k + 2) * cancel + 2) for ci in cond]
        return [float(v) for v in p], budget


CLOSED_FORM = [
    ("linear", {}),
    ("shifted_linear", {}),
    ("relu", {}),
    ("softplus", {}),
    ("sigmoid", {}),
    ("spherical", {}),
    ("spherical", {"eps": 0.5}),
    ("escort", {}),
    ("escort", {"p": 3}),
    ("taylor", {}),
    ("taylor", {"order": 4}),
    ("stablemax", {}),
    ("softmax", {}),
    ("softmax", {"stable": False}),
    ("softmax", {"temperature": 0.5}),
    ("softmax", {"temperature": 3.0, "stable": False}),
    ("softmax", {"base": 2, "stable": False}),
    ("softmax", {"base": 100}),
    ("softmax", {"base": 100, "stable": False}),
    ("softmax", {"base": 1}),
    ("iterated_exp", {}),
    ("iterated_exp", {"depth": 3}),
    ("ssmax", {}),
    ("ssmax", {"s": 0.5}),
]


def _check_against(p, ref, budget, what):
    """|p_i - ref_i| <= budget_i * u * ref_i (+ the smallest subnormal), every entry, with
    u = eps/2 the unit roundoff (budget_i counts roundings times their amplification)."""
    p = np.asarray(p, dtype=np.float64)
    ref = np.asarray(ref)
    budget = np.asarray(budget)
    if np.isnan(ref).any():
        assert np.isnan(p).all(), f"{what}: 0/0 expected NaN, got {p}"
        return
    err = np.abs(p - ref)
    allowed = budget * (EPS64 / 2) * np.abs(ref) + 5e-324
    worst = int(np.argmax(err / allowed))
    assert np.all(err <= allowed), (
        f"{what}: entry {worst} = {p[worst]!r}, reference {ref[worst]!r}, "
        f"error {err[worst] / (EPS64 / 2 * abs(ref[worst]) or 1):.1f} u, "
        f"budget {budget[worst]:.1f} u"
    )


@pytest.mark.parametrize(("method", "params"), CLOSED_FORM, ids=lambda v: str(v))
def test_closed_form_against_mpmath(method, params):
    full = softmaxlab.check_params(method, params)
    # depth 3 overflows float64 above 1.8817: keep the logits well below
    scale = {2: 1.0, 3: 0.4}.get(full.get("depth"), 2.0)
    if method == "softmax" and float(full["base"]) == 100 and not full["stable"]:
        scale = 1.0
    for seed in range(4):
        for k in (1, 2, 3, 7, 16):
            x = seeded_vectors(1000 * seed + k, k, scale)
            if method in ("linear",) and k == 1:
                x = np.abs(x)
            ref, budget = mp_reference(method, x, full)
            p = softmaxlab.normalize(x, method, **params)
            assert p.dtype == np.float64 and p.shape == x.shape
            _check_against(p, ref, budget, f"{method}{params} seed {seed} K={k} x={x.tolist()}")


def test_closed_form_on_batches_against_mpmath():
    """A (3, 4, 5) batch: each row equals its own reference (the last axis is the class axis)."""
    x = seeded_vectors(5, 60).reshape(3, 4, 5)
    for method, params in CLOSED_FORM:
        full = softmaxlab.check_params(method, params)
        y = x / (8 if method == "iterated_exp" else 2)
        p = softmaxlab.normalize(y, method, **params)
        assert p.shape == x.shape
        for index in np.ndindex(3, 4):
            ref, budget = mp_reference(method, y[index], full)
            _check_against(p[index], ref, budget, f"{method}{params} row {index}")


# --------------------------------------------------------------------------------------
# softmax: scipy and mpmath, the thread's example, base/temperature
# --------------------------------------------------------------------------------------


def test_softmax_matches_scipy():
    rng = np.random.default_rng(3)
    x = 5 * rng.standard_normal((20, 13))
    expected = scipy.special.softmax(x, axis=-1)
    for stable in (True, False):
        p = softmaxlab.normalize(x, "softmax", stable=stable)
        np.testing.assert_allclose(p, expected, rtol=40 * EPS64, atol=0)


def test_thread_example_c1():
    """The Cross Validated thread's vector (claims C1), to 4 decimals as printed there."""
    x = [2.0, 4.0, 2.0, 1.0]
    np.testing.assert_array_equal(softmaxlab.normalize(x, "argmax"), [0, 1, 0, 0])
    np.testing.assert_allclose(
        softmaxlab.normalize(x, "linear"), [0.2222, 0.4444, 0.2222, 0.1111], atol=5e-5
    )
    np.testing.assert_allclose(
        softmaxlab.normalize(x, "softmax"), [0.1025, 0.7573, 0.1025, 0.0377], atol=5e-5
    )


def test_softmax_large_logits_mpmath():
    """Stable softmax keeps full relative accuracy where exp(x) itself overflows."""
    x = np.array([1000.0, 999.0, 990.0, -1000.0, 1000.0 - 2**-40])
    ref, budget = mp_reference("softmax", x - 1000.0, softmaxlab.check_params("softmax", {}))
    p = softmaxlab.normalize(x, "softmax")
    _check_against(p, ref, [b + 2 * 2000 for b in budget], "stable softmax at 1000")


# --------------------------------------------------------------------------------------
# sparsemax / entmax oracles
# --------------------------------------------------------------------------------------


def mp_entmax(x, alpha) -> list[float]:
    """alpha-entmax by bisection on tau at 50 digits; alpha = 2 is sparsemax.

    p_i(tau) = [(alpha-1) x_i - tau]_+^(1/(alpha-1)) decreases in tau; at tau = (alpha-1)
    max x the mass is 0 and at tau = (alpha-1) max x - 1 it is >= 1, so 180 halvings pin
    tau to 2^-180 of that bracket (below 50 digits).
    """
    with mpmath.workdps(DPS):
        a1 = mpmath.mpf(alpha) - 1
        z = [a1 * mpmath.mpf(float(v)) for v in x]
        power = 1 / a1

        def mass(tau):
            return mpmath.fsum(max(zi - tau, 0) ** power for zi in z)

        hi = max(z)
        lo = hi - 1
        for _ in range(180):
            mid = (lo + hi) / 2
            if mass(mid) >= 1:
                lo = mid
            else:
                hi = mid
        tau = (lo + hi) / 2
        p = [max(zi - tau, 0) ** power for zi in z]
        total = mpmath.fsum(p)
        return [float(v / total) for v in p]


def qp_sparsemax(x) -> np.ndarray:
    """argmin ||p - x||^2 over the simplex, by scipy's SLSQP (a generic QP solver)."""
    x = np.asarray(x, dtype=np.float64)
    k = x.size
    result = scipy.optimize.minimize(
        lambda p: 0.5 * np.sum((p - x) ** 2),
        np.full(k, 1.0 / k),
        jac=lambda p: p - x,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda p: np.sum(p) - 1.0, "jac": lambda p: np.ones(k)}],
        options={"ftol": 1e-10, "maxiter": 500},
    )
    # SLSQP may stop with "positive directional derivative" at its own precision limit
    # (about 1e-8 here); its point is still feasible and is compared at 1e-6.
    return result.x


def test_published_vectors_entmax_readme():
    """deep-spin/entmax README: x = [-2, 0, 0.5] under softmax, sparsemax and entmax15."""
    x = [-2.0, 0.0, 0.5]
    np.testing.assert_allclose(
        softmaxlab.normalize(x, "softmax"), [0.0486, 0.3592, 0.5922], atol=5e-5
    )
    np.testing.assert_allclose(softmaxlab.normalize(x, "sparsemax"), [0, 0.25, 0.75], atol=1e-15)
    p15 = softmaxlab.normalize(x, "entmax15")
    np.testing.assert_allclose(p15, [0, 0.3260, 0.6740], atol=5e-5)
    assert p15[0] == 0
    np.testing.assert_allclose(softmaxlab.normalize(x, "entmax", alpha=1.5), p15, atol=1e-12)


def test_entmax15_by_hand():
    """[-2, 0, 0.5]: p = [x/2 - tau]_+^2 with support {0, 0.5}; s = -tau solves
    s^2 + (0.25 + s)^2 = 1, i.e. s = (-0.5 + sqrt(7.75)) / 4."""
    s = (-0.5 + math.sqrt(7.75)) / 4
    expected = [0.0, s * s, (0.25 + s) ** 2]
    np.testing.assert_allclose(
        softmaxlab.normalize([-2.0, 0.0, 0.5], "entmax15"), expected, rtol=8 * EPS64, atol=0
    )


@pytest.mark.parametrize("t", [-3.0, -1.0, -0.6, 0.0, 0.2, 0.99, 1.0, 1.5, 7.0])
def test_sparsemax_two_classes_closed_form(t):
    """Martins & Astudillo (2016, sec. 2.2): sparsemax([t, 0])_1 = clip((t + 1) / 2, 0, 1)."""
    first = min(max((t + 1) / 2, 0.0), 1.0)
    np.testing.assert_allclose(
        softmaxlab.normalize([t, 0.0], "sparsemax"), [first, 1 - first], rtol=0, atol=2 * EPS64
    )


@pytest.mark.parametrize("t", [-3.0, -1.9, -0.5, 0.0, 0.7, 1.99, 2.0, 4.0])
def test_entmax15_two_classes_closed_form(t):
    """1.5-entmax([t, 0]): (t/2 + s)^2 + s^2 = 1 with s = -tau gives
    s = (-t + sqrt(8 - t^2)) / 4 for |t| < 2; one class takes all the mass for |t| >= 2."""
    if abs(t) >= 2:
        expected = [1.0, 0.0] if t > 0 else [0.0, 1.0]
    else:
        s = (-t + math.sqrt(8 - t * t)) / 4
        expected = [(t / 2 + s) ** 2, s * s]
    np.testing.assert_allclose(
        softmaxlab.normalize([t, 0.0], "entmax15"), expected, rtol=0, atol=8 * EPS64
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 2, 3, 9, 40])
def test_sparsemax_against_bisection_and_qp(seed, k):
    x = seeded_vectors(seed, k, scale=[0.1, 0.5, 1.0, 3.0, 10.0, 100.0][seed])
    p = softmaxlab.normalize(x, "sparsemax")
    ref = mp_entmax(x, 2)
    # p_i = x_i - tau: absolute error a few eps of max|x| (tau is a sum over the support)
    atol = 4 * (k + 2) * EPS64 * max(1.0, float(np.max(np.abs(x))))
    np.testing.assert_allclose(p, ref, rtol=0, atol=atol)
    np.testing.assert_array_equal(p == 0, np.array(ref) == 0)
    np.testing.assert_allclose(p, qp_sparsemax(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 2, 5, 30])
@pytest.mark.parametrize(
    ("method", "alpha"),
    [("entmax15", 1.5), ("entmax", 1.5), ("entmax", 1.25), ("entmax", 1.75), ("entmax", 2.0)],
)
def test_entmax_against_mpmath_bisection(seed, k, method, alpha):
    x = seeded_vectors(seed, k, scale=[0.2, 1.0, 3.0, 10.0, 50.0][seed])
    params = {"alpha": alpha} if method == "entmax" else {}
    p = softmaxlab.normalize(x, method, **params)
    ref = np.array(mp_entmax(x, alpha))
    # the float64 threshold is accurate to a few eps of the scale of (alpha-1) x; the
    # power 1/(alpha-1) amplifies relative error by that factor near the support's edge
    atol = 64 * (k + 2) * EPS64 * max(1.0, float(np.max(np.abs(x)))) / (alpha - 1)
    np.testing.assert_allclose(p, ref, rtol=0, atol=atol)
    # exact zeros outside the support (entries with a clear margin)
    clear = ref == 0
    assert np.all(p[clear] <= atol)


def test_entmax_alpha2_is_sparsemax_and_entmax15_is_alpha15():
    x = seeded_vectors(9, 25)
    np.testing.assert_allclose(
        softmaxlab.normalize(x, "entmax", alpha=2.0),
        softmaxlab.normalize(x, "sparsemax"),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        softmaxlab.normalize(x, "entmax", alpha=1.5),
        softmaxlab.normalize(x, "entmax15"),
        atol=1e-12,
    )


def test_entmax_approaches_softmax_as_alpha_to_one():
    """alpha -> 1: Tsallis entropy -> Shannon, entmax -> softmax (Peters et al. 2019, sec. 2)."""
    x = seeded_vectors(4, 6, scale=1.0)
    gap = np.max(np.abs(softmaxlab.normalize(x, "entmax", alpha=1.001) - scipy.special.softmax(x)))
    assert gap < 2e-3


# --------------------------------------------------------------------------------------
# argmax, gumbel
# --------------------------------------------------------------------------------------


def test_argmax_ties_share_mass():
    np.testing.assert_array_equal(
        softmaxlab.normalize(
            [[1.0, 3.0, 3.0, 0.0], [5.0, 5.0, 5.0, 5.0], [0.0, -1.0, 2.0, 1.0]], "argmax"
        ),
        [[0, 0.5, 0.5, 0], [0.25] * 4, [0, 0, 1, 0]],
    )
    third = softmaxlab.normalize([7.0, 7.0, 7.0], "argmax")
    np.testing.assert_array_equal(third, np.full(3, 1 / 3))


def test_argmax_edge_rows():
    """The edge conventions hold for argmax too: +inf, all -inf and NaN rows give NaN; a
    -inf among finite entries is simply not a maximiser."""
    inf = math.inf
    rows = [[0.0, inf, inf], [-inf, -inf, -inf], [0.0, math.nan, 1.0], [-inf, 2.0, 2.0]]
    p = softmaxlab.normalize(rows, "argmax")
    assert np.isnan(p[:3]).all()
    np.testing.assert_array_equal(p[3], [0, 0.5, 0.5])


def mp_gumbel_softmax(x, tau: float, seed: int) -> np.ndarray:
    """softmax((x + g) / tau) at 50 digits with g = -log(-log U) and U = 1 - V, V the
    float64 uniforms of numpy.random.default_rng(seed).random(x.shape) (numpy's Gumbel
    sampler inverts the CDF of the same uniform stream: U = 1 - next_double)."""
    x = np.asarray(x, dtype=np.float64)
    v = np.random.default_rng(seed).random(x.shape)
    out = np.empty(x.shape)
    with mpmath.workdps(DPS):
        for index in np.ndindex(x.shape[:-1]):
            g = [-mpmath.log(-mpmath.log(1 - mpmath.mpf(float(u)))) for u in v[index]]
            y = [
                (mpmath.mpf(float(a)) + b) / mpmath.mpf(tau)
                for a, b in zip(x[index], g, strict=True)
            ]
            top = max(y)
            t = [mpmath.exp(yi - top) for yi in y]
            total = mpmath.fsum(t)
            out[index] = [float(ti / total) for ti in t]
    return out


@pytest.mark.parametrize(("tau", "seed"), [(1.0, 0), (0.5, 7), (2.0, 12345), (0.1, 3)])
def test_gumbel_softmax_is_softmax_of_perturbed_logits(tau, seed):
    x = seeded_vectors(seed, 24, scale=1.5).reshape(4, 6)
    p = softmaxlab.normalize(x, "gumbel_softmax", tau=tau, seed=seed)
    ref = mp_gumbel_softmax(x, tau, seed)
    # g carries a few ulps (numpy's log) and x + g one rounding: an absolute error of a
    # few eps |x + g| in the exponent, divided by tau, becomes relative error in p
    g = -np.log(-np.log(1 - np.random.default_rng(seed).random(x.shape)))
    y_scale = float(np.max(np.abs(x + g))) / tau
    np.testing.assert_allclose(p, ref, rtol=8 * EPS64 * (4 + y_scale), atol=5e-324)


def test_gumbel_noise_kept_between_calls_is_the_fresh_draw():
    """The noise kept for the next call (methods.maps.gumbel_noise) is what a fresh
    generator draws, for every (seed, shape) in any order of calls, and cannot be written
    through: an output's later change never reaches the next call's noise."""
    from softmaxlab.methods import maps

    x = seeded_vectors(5, 30).reshape(3, 10)
    fresh = {}
    for seed, shape in [(1, (3, 10)), (2, (3, 10)), (1, (2, 10)), (1, (3, 10)), (2, (3, 10))]:
        noise = maps.gumbel_noise(seed, shape)
        np.testing.assert_array_equal(noise, np.random.default_rng(seed).gumbel(size=shape))
        assert not noise.flags.writeable
        fresh.setdefault(
            (seed, shape), softmaxlab.normalize(x[: shape[0]], "gumbel_softmax", seed=seed)
        )
        p = softmaxlab.normalize(x[: shape[0]], "gumbel_softmax", seed=seed)
        np.testing.assert_array_equal(p, fresh[seed, shape])
        p[...] = np.nan  # the caller owns its output


def test_gumbel_softmax_seeds():
    x = seeded_vectors(1, 10)
    a = softmaxlab.normalize(x, "gumbel_softmax", seed=42)
    np.testing.assert_array_equal(a, softmaxlab.normalize(x, "gumbel_softmax", seed=42))
    assert not np.array_equal(a, softmaxlab.normalize(x, "gumbel_softmax", seed=43))
    assert not np.array_equal(a, softmaxlab.normalize(x, "softmax"))
    # documented: the noise is drawn for the whole array, so a batch's first row differs
    # from that row alone
    batch = np.stack([x, x])
    pb = softmaxlab.normalize(batch, "gumbel_softmax", seed=42)
    np.testing.assert_array_equal(pb[0], softmaxlab.normalize(batch, "gumbel_softmax", seed=42)[0])
    assert not np.array_equal(pb[0], pb[1])


def test_gumbel_softmax_low_temperature_samples_argmax_of_perturbed():
    """tau -> 0: the one-hot of argmax(x + g), the Gumbel-max trick (Jang et al. 2017)."""
    x = seeded_vectors(2, 8, scale=1.0)
    g = -np.log(-np.log(1 - np.random.default_rng(99).random(8)))
    p = softmaxlab.normalize(x, "gumbel_softmax", tau=1e-4, seed=99)
    winner = int(np.argmax(x + g))
    assert p[winner] > 1 - 1e-12


def test_gumbel_softmax_frequencies_follow_softmax():
    """P(argmax(x + g) = i) = softmax(x)_i: over 4000 seeds at tau = 0.01, each class's
    frequency is within 4.5 binomial standard errors of softmax(x)."""
    x = np.array([1.0, 0.0, -0.5, 0.7])
    n = 4000
    wins = np.zeros(4)
    for seed in range(n):
        wins[np.argmax(softmaxlab.normalize(x, "gumbel_softmax", tau=0.01, seed=seed))] += 1
    q = scipy.special.softmax(x)
    assert np.all(np.abs(wins / n - q) <= 4.5 * np.sqrt(q * (1 - q) / n))


# --------------------------------------------------------------------------------------
# edge inputs: every method, every dtype
# --------------------------------------------------------------------------------------

INF, NAN = math.inf, math.nan
EDGE = {
    "ties": [1.0, 3.0, 3.0, 0.0],
    "all_equal": [1.5, 1.5, 1.5, 1.5],
    "all_zero": [0.0, 0.0, 0.0],
    "pos_inf": [0.0, INF, 1.0],
    "neg_inf": [0.0, -INF, 1.0],
    "all_neg_inf": [-INF, -INF, -INF],
    "nan": [0.0, NAN, 1.0],
    "single": [0.7],
    "single_negative": [-0.7],
}


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def _softplus(v):
    return math.log1p(math.exp(v))


def _norm(t):
    t = np.asarray(t, dtype=np.float64)
    return t / t.sum()


def edge_expected(method: str, case: str):
    """The float64 output the docstrings (or, where they are silent, the arithmetic of the
    documented formula, t_i / sum t with IEEE inf/NaN rules) give; None: only 'no raise'."""
    nan3 = [NAN, NAN, NAN]
    inf_hole = [0.0, NAN, 0.0]  # t = [finite, inf, finite]: t/inf = 0 and inf/inf = NaN
    if method == "gumbel_softmax":
        return {"nan": nan3, "all_neg_inf": nan3, "pos_inf": nan3, "single": [1.0]}.get(case)
    if case == "nan":
        return nan3  # a NaN logit poisons the sum (or the max, or the threshold)
    if case == "single":
        return [NAN] if method == "shifted_linear" else [1.0]  # shifted_linear: 0/0
    if case == "single_negative":
        return [NAN] if method in ("shifted_linear", "relu") else [1.0]
    if case == "ties":
        return {
            "argmax": [0, 0.5, 0.5, 0],
            "sparsemax": [0, 0.5, 0.5, 0],  # tau = -1/2 on z = x - max = [-2, 0, 0, -3]
            "entmax15": [0, 0.5, 0.5, 0],  # z/2 = [-1, 0, 0, -1.5], tau = -1/sqrt(2)
            "entmax": [0, 0.5, 0.5, 0],
        }.get(method)  # the closed forms are covered by test_edge_ties_are_equal
    if case == "all_equal":
        return [NAN] * 4 if method == "shifted_linear" else [0.25] * 4
    if case == "all_zero":
        return nan3 if method in ("linear", "shifted_linear", "relu", "escort") else [1 / 3] * 3
    if case in ("all_neg_inf", "pos_inf"):
        return nan3  # the edge conventions, every method (scipy.special.softmax's answer)
    if case == "neg_inf":
        e = math.e
        table = {
            "argmax": [0, 0, 1],
            "softmax": [1 / (1 + e), 0, e / (1 + e)],
            "ssmax": list(_norm([1, 0, 3.0])),  # softmax(ln 3 * x): e^(ln 3) = 3
            "sparsemax": [0, 0, 1],  # sparsemax([0, 1]) = [0, 1]: -inf gets 0
            "sigmoid": list(_norm([0.5, 0, _sigmoid(1.0)])),
            "softplus": list(_norm([_softplus(0), 0, _softplus(1)])),
            "relu": [0, 0, 1],
            "stablemax": list(_norm([1, 0, 2])),  # 1/(1 - -inf) = 0
            "iterated_exp": list(_norm([e, 1, math.exp(e)])),  # exp(exp(-inf)) = e^0 = 1
            "linear": inf_hole,  # 0/-inf = -0, -inf/-inf = NaN
            "shifted_linear": nan3,  # x - min = -inf - -inf = NaN
            "spherical": inf_hole,
            "escort": inf_hole,
            "taylor": inf_hole,  # even order: t(-inf) = +inf
        }
        if method == "entmax15":
            # entmax15([0, 1]): t = 1 < 2, s = (-1 + sqrt(7))/4, p = [s^2, (1/2 + s)^2]
            s = (-1 + math.sqrt(7)) / 4
            return [s * s, 0, (0.5 + s) ** 2]
        if method == "entmax":
            return None  # test_edge_neg_inf_entmax_alpha
        return table[method]
    raise KeyError(case)


def _dtype_tolerance(dtype) -> float:
    return 8 * float(finfo(dtype).eps)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_edge_inputs(method):
    """normalize never raises or warns on edge inputs; output dtype and shape are the
    input's; rows whose input is not finite are never flagged; the values are what the
    docstrings (or the documented formula's IEEE arithmetic) give, in every format with
    an infinity (float8_e4m3fn has none: +-inf round to NaN, so those rows are NaN)."""
    for case, values in EDGE.items():
        expected = edge_expected(method, case)
        for name, dtype in DTYPES.items():
            x = np.array(values).astype(dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                p, overflow = softmaxlab.evaluate(x, method)
            assert p.dtype == dtype and p.shape == x.shape and overflow.shape == ()
            finite_input = bool(np.all(np.isfinite(x.astype(np.float64))))
            if not finite_input:
                assert not overflow, (method, case, name)
            if name == "float8_e4m3fn" and case in ("pos_inf", "neg_inf", "all_neg_inf"):
                want = edge_expected(method, "nan")  # the cast made the inf a NaN
            elif name == "float8_e4m3fn" and method == "spherical" and case == "all_zero":
                want = [NAN] * 3  # documented: eps rounds to 0 in e4m3, so 0/0
            else:
                want = expected
            if want is None:
                continue
            got = p.astype(np.float64)
            want = np.array(want, dtype=np.float64)
            np.testing.assert_array_equal(
                np.isnan(got), np.isnan(want), err_msg=f"{method} {case} {name}: {got}"
            )
            np.testing.assert_allclose(
                got[~np.isnan(want)],
                want[~np.isnan(want)],
                rtol=0,
                atol=_dtype_tolerance(dtype) if name != "float64" else 4 * EPS64,
                err_msg=f"{method} {case} {name}",
            )


def test_edge_neg_inf_entmax_alpha():
    """-inf gets 0 and the rest is the method on the finite entries (documented for
    sparsemax, 'edge inputs as sparsemax' for entmax)."""
    for alpha in (1.25, 1.5, 1.75, 2.0):
        p = softmaxlab.normalize([0.0, -INF, 1.0, 0.5], "entmax", alpha=alpha)
        assert p[1] == 0
        np.testing.assert_allclose(
            p[[0, 2, 3]], softmaxlab.normalize([0.0, 1.0, 0.5], "entmax", alpha=alpha), atol=1e-15
        )


@pytest.mark.parametrize("method", DETERMINISTIC)
def test_edge_ties_are_equal(method):
    """Tied logits get bit-identical outputs, in every format."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(9)
    x[[1, 4, 7]] = x[2]
    x[5] = x[0]
    for dtype in DTYPES.values():
        p = softmaxlab.normalize(x.astype(dtype), method)
        if np.isnan(p.astype(np.float64)).all():
            continue
        assert p[1] == p[2] == p[4] == p[7] and p[5] == p[0], (method, dtype, p)


def test_softmax_edges_as_scipy():
    """Documented: stable softmax's edge behaviour is scipy.special.softmax's."""
    rows = [
        [0.0, INF],
        [INF, INF],
        [-INF, -INF],
        [0.0, -INF],
        [NAN, 0.0],
        [-INF, 1.0, INF],
        [1e308, -1e308],
        [-1e308, -1e308],
    ]
    for row in rows:
        with np.errstate(all="ignore"):
            want = scipy.special.softmax(np.array(row))
        np.testing.assert_array_equal(softmaxlab.normalize(row, "softmax"), want, err_msg=str(row))


def test_softmax_unstable_and_base_one_edges():
    """The edge conventions override what the arithmetic alone would give (unstable:
    [0, NaN, 0] from inf/inf; base 1: uniform, 1^y = 1); base 1 is uniform on finite x."""
    for stable in (True, False):
        p = softmaxlab.normalize([0.0, INF, 1.0], "softmax", stable=stable)
        assert np.isnan(p).all()
        for row in ([0.0, INF, 1.0], [-INF, -INF, -INF], [NAN, 1.0, 2.0]):
            p = softmaxlab.normalize(row, "softmax", base=1, stable=stable)
            assert np.isnan(p).all(), (row, stable)
        np.testing.assert_array_equal(
            softmaxlab.normalize([1e308, -5.0, 0.0], "softmax", base=1, stable=stable),
            [1 / 3] * 3,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("base", [2.0, 3.0, 100.0, 0.5, 0.01, 1.0001])
def test_power_skips_only_certain_zeros_and_overflows(dtype, base):
    """The base softmaxes' _power (which does not call power where the result is certainly
    0 or inf) gives np.power's bits on every y across both thresholds, where power's
    result crosses into the subnormals, to 0 and to inf, and on NaN, +-inf and +-0."""
    from softmaxlab.methods import _power

    info = np.finfo(dtype)
    b = np.asarray(base, dtype=dtype)
    ln_b = math.log(float(b))
    edges = [math.log(float(info.tiny)), math.log(float(info.smallest_subnormal))]
    edges += [edges[1] - math.log(2), math.log(float(info.max))]
    every_y = np.concatenate(
        [np.linspace(e / ln_b - 4 / abs(ln_b), e / ln_b + 4 / abs(ln_b), 40001) for e in edges]
        + [[np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0]]
    ).astype(dtype)
    # every y, and the finite ones alone (without +-inf the ends are skipped by arithmetic)
    for y in (every_y, every_y[np.isfinite(every_y)]):
        with np.errstate(all="ignore"):
            expected = np.power(b, y)
            for out in (None, y.copy()):
                got = _power(b, y.copy() if out is None else out, out=out)
                assert got.dtype == dtype
                np.testing.assert_array_equal(
                    got.view(f"u{y.itemsize}"), expected.view(f"u{y.itemsize}")
                )
        assert (expected == 0).any() and np.isinf(expected).any()  # both sides were crossed


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.longdouble])
def test_exp_skips_only_certain_zeros_and_overflows(dtype):
    """The exponential of softmax, sigmoid, softplus and iterated_exp (which in float64 does
    not call exp where the result is certainly 0 or inf) gives np.exp's bits on every y
    across both thresholds, where exp's result crosses into the subnormals, to 0 and to
    inf, on NaN, +-inf and +-0, with and without ``out``; other dtypes are np.exp's."""
    from softmaxlab.methods.maps import _exp

    info = np.finfo(dtype)
    edges = [float(np.log(np.longdouble(v))) for v in (info.tiny, info.smallest_subnormal)]
    edges += [edges[1] - math.log(2), float(np.log(np.longdouble(info.max)))]
    with np.errstate(over="ignore"):  # +-1e308 are +-inf in float32
        y = np.concatenate(
            [np.linspace(e - 4, e + 4, 40001) for e in edges if math.isfinite(e)]
            + [[np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1e308, 1e308]]
        ).astype(dtype)
    every_y = np.stack([y, y[::-1]])  # two rows: the masks work on any shape
    finite = every_y[
        :, np.isfinite(every_y).all(axis=0)
    ]  # without +-inf: the ends skipped by arithmetic
    few = np.concatenate([finite, np.zeros((2, 20 * finite.shape[1]), dtype)], axis=1)
    if dtype == np.float64:  # beyond the ends: enough to skip them; then too few
        share = np.mean((finite < -745.2) | (finite > 709.8))
        assert share > 0.2 > share / 21
    inside = np.linspace(-744.0, 709.0, 5001).astype(dtype)  # no end: exp called once
    with_nan = np.append(
        inside, np.array(np.nan, dtype)
    )  # a NaN fails the reductions' test: the masks
    for y in (every_y, finite, few, inside, with_nan):
        with np.errstate(all="ignore"):
            expected = np.exp(y)
            for out in (None, y.copy()):
                got = _exp(y.copy() if out is None else out, out=out)
                assert got.dtype == dtype and got.shape == y.shape
                assert out is None or got is out
                np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
                finite_out = ~np.isnan(expected)
                np.testing.assert_array_equal(got[finite_out], expected[finite_out])
                assert not np.signbit(got[finite_out]).any()
        if y is every_y:  # both sides were crossed
            assert (expected == 0).any() and np.isinf(expected).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_select_is_where_bit_for_bit(dtype):
    """stablemax's select (methods.maps._select, integer masks) gives np.where's bits on
    every kind of value, NaN payloads and signed zeros included, keeps a Rounded a
    Rounded, and falls back to np.where for what it does not cover."""
    from softmaxlab import rounding
    from softmaxlab.methods.maps import _select

    ints = np.dtype(f"i{np.dtype(dtype).itemsize}")
    rng = np.random.default_rng(3)
    # random bit patterns: every exponent, subnormals, infinities and NaNs of any payload
    a = rng.integers(np.iinfo(ints).min, np.iinfo(ints).max, (50, 40), dtype=ints).view(dtype)
    b = rng.integers(np.iinfo(ints).min, np.iinfo(ints).max, (50, 40), dtype=ints).view(dtype)
    a[0, :4] = b[1, :4] = [-0.0, 0.0, np.inf, -np.inf]
    condition = rng.random((50, 40)) < 0.5
    got = _select(condition, a, b)
    assert type(got) is np.ndarray and got.dtype == dtype
    np.testing.assert_array_equal(got.view(ints), np.where(condition, a, b).view(ints))
    assert not np.shares_memory(got, a) and not np.shares_memory(got, b)
    # a Rounded (native float16 arithmetic) stays one, with its operands' values
    x = rounding.enter(
        rng.standard_normal((4, 6)).astype(np.float16).astype(np.float32), np.float16
    )
    y = x * x
    picked = _select(np.asarray(x) >= 0, x, y)
    assert type(picked) is type(x)
    np.testing.assert_array_equal(np.asarray(picked), np.where(np.asarray(x) >= 0, x, y))
    # broadcasting and mixed dtypes are np.where's
    np.testing.assert_array_equal(_select(condition, a, b[0]), np.where(condition, a, b[0]))
    with np.errstate(invalid="ignore"):  # NaN payloads widen with a warning
        wide = b.astype(np.float64)
    np.testing.assert_array_equal(_select(condition, a, wide), np.where(condition, a, wide))


def test_spherical_eps_rounds_to_zero_in_e4m3():
    """Documented: eps = 1e-5 is 0 in float8_e4m3fn, so all-zero logits give 0/0 there."""
    x = np.zeros(3, dtype=ml_dtypes.float8_e4m3fn)
    assert np.isnan(softmaxlab.normalize(x, "spherical").astype(np.float64)).all()
    np.testing.assert_array_equal(softmaxlab.normalize(np.zeros(3), "spherical"), [1 / 3] * 3)


def test_taylor_is_not_monotone():
    """Documented: t(x) = 1 + x + x^2/2 falls until x = -1, so t(-3) = 2.5 > t(0) = 1: the
    most negative logit gets the most mass."""
    p = softmaxlab.normalize([-3.0, 0.0], "taylor")
    np.testing.assert_allclose(p, [2.5 / 3.5, 1 / 3.5], rtol=4 * EPS64)
    # order 0 is the constant 1: uniform
    np.testing.assert_array_equal(softmaxlab.normalize([5.0, -1.0], "taylor", order=0), [0.5, 0.5])


def test_zero_denominator_is_not_overflow():
    """evaluate's docstring: overflow means a value beyond the format's max. These rows are
    finite and their outputs are non-finite through a zero denominator (no mass, or every
    power underflowed), which the nan/invalid metrics count, so they are not flagged."""
    cases = [
        ("relu", [-1.0, -2.0], {}),  # no positive entry: 0/0
        ("shifted_linear", [3.0, 3.0], {}),  # all equal: 0/0
        ("linear", [1.0, -1.0], {}),  # zero sum: 1/0 = inf, -1/0 = -inf
        ("escort", [0.0, 0.0], {}),  # |0|^p = 0: 0/0
        ("softmax", [-800.0, -800.0], {"stable": False}),  # e^-800 = 0 in float64: 0/0
    ]
    for method, row, params in cases:
        p, overflow = softmaxlab.evaluate(np.array(row), method, **params)
        assert not np.all(np.isfinite(p)), (method, row)
        assert not overflow, f"{method}{params} on {row}: a zero sum flagged as overflow"
    # ... while a power beyond the max is flagged, with the same output shape of failure.
    p, overflow = softmaxlab.evaluate(np.array([800.0, 800.0]), "softmax", stable=False)
    assert np.all(np.isnan(p)) and overflow


def test_large_k_single_row():
    """K = 10^6 in float64: every method stays a distribution (linear: signed logits, so
    only its sum), softmax agrees with scipy; the whole sweep takes a few seconds."""
    k = 10**6
    x = np.random.default_rng(8).standard_normal(k)
    tol = softmaxlab.dtypes.sum_tolerance(np.float64, k)
    start = time.perf_counter()
    off = {}
    for method in ALL_METHODS:
        p, overflow = softmaxlab.evaluate(x, method)
        assert not overflow and np.all(np.isfinite(p)), method
        if method != "linear":
            assert np.all(p >= 0), method
        if abs(math.fsum(p) - 1) > tol:
            off[method] = f"{abs(math.fsum(p) - 1) / tol:.2f} x tolerance"
    assert time.perf_counter() - start < 20
    np.testing.assert_allclose(
        softmaxlab.normalize(x, "softmax"), scipy.special.softmax(x), rtol=1e-13, atol=0
    )
    # sparsemax of 10^6 normals: the support is the top few entries, found exactly
    p = softmaxlab.normalize(x, "sparsemax")
    top = np.sort(x)[::-1][:50]
    ref = mp_entmax(top, 2)  # the 50 largest contain the support (checked: last is 0)
    assert ref[-1] == 0
    np.testing.assert_allclose(np.sort(p)[::-1][:50], ref, atol=1e-14)
    assert not off, f"|sum p - 1| above dtypes.sum_tolerance: {off}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["sparsemax", "entmax15", "entmax"])
def test_threshold_maps_sum_to_one_at_sweep_sizes(method, dtype):
    """The sweep's 'invalid' metric holds every method to dtypes.sum_tolerance(dtype, K);
    the threshold maps (which do not divide by a sum) must meet it at the sweep's K and
    scales too, or valid outputs are counted as invalid."""
    k = 10_000
    tol = softmaxlab.dtypes.sum_tolerance(dtype, k)
    rng = np.random.default_rng(21)
    worst = 0.0
    for scale in (0.01, 0.1, 1.0, 10.0):
        x = (scale * rng.standard_normal((4, k))).astype(dtype)
        p = softmaxlab.normalize(x, method).astype(np.float64)
        worst = max(worst, max(abs(math.fsum(row) - 1) for row in p))
    assert worst <= tol, (
        f"{method} {np.dtype(dtype).name}: |sum - 1| = {worst / tol:.2f} x tolerance"
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_entmax_batch_equals_rows_bitwise(dtype):
    """A batch and its rows one by one give bit-identical outputs (the property of
    test_properties.py on fixed examples that break it)."""
    x = np.array(
        [
            [0.25, 0.25, 2.0, 1.5, -1.0, -0.25, 1.75, -1.5, 1.75, 0.75, -1.0, -2.25, 0.0, 1.75],
            [0.25, 0.5, 0.5, -0.25, 0.5, -0.75, -0.5, -1.0, -0.25, -0.25, 0.25, -0.25, -1.75, -1.0],
        ],
        dtype=dtype,
    )
    rng = np.random.default_rng(0)
    more = (rng.standard_normal((30, 19)) * rng.choice([0.1, 1, 10], (30, 1))).astype(dtype)
    for batch in (x, more):
        p = softmaxlab.normalize(batch, "entmax")
        for i in range(batch.shape[0]):
            np.testing.assert_array_equal(p[i], softmaxlab.normalize(batch[i], "entmax"))


# --------------------------------------------------------------------------------------
# narrow formats: overflow edges and error bounds
# --------------------------------------------------------------------------------------


def _eval(x, dtype, method="softmax", **params):
    p, overflow = softmaxlab.evaluate(np.array(x, dtype=np.float64).astype(dtype), method, **params)
    return p.astype(np.float64), bool(overflow)


def test_unstable_softmax_overflow_edge_float16():
    """e^12 = 162755 > 65504 = float16 max: the naive softmax of [0, 12] overflows in
    float16 (NaN, flagged) but not in float32; the stable one is fine in both."""
    p, overflow = _eval([0, 12], np.float16, stable=False)
    assert overflow and not np.all(np.isfinite(p))
    for dtype in (np.float16, np.float32):
        p, overflow = _eval([0, 12], dtype, stable=True)
        assert not overflow
        np.testing.assert_allclose(
            p, scipy.special.softmax([0, 12.0]), atol=float(finfo(dtype).eps)
        )
    p, overflow = _eval([0, 12], np.float32, stable=False)
    assert not overflow
    np.testing.assert_allclose(p, scipy.special.softmax([0, 12.0]), rtol=4e-7)


def test_unstable_softmax_overflow_edge_float32():
    """ln(float32 max) = 88.7228: [0, 88.8] overflows, [0, 88.7] does not."""
    assert 88.7 < math.log(float(np.finfo(np.float32).max)) < 88.8
    p, overflow = _eval([0, 88.8], np.float32, stable=False)
    assert overflow and not np.all(np.isfinite(p))
    p, overflow = _eval([0, 88.7], np.float32, stable=False)
    assert not overflow and np.all(np.isfinite(p))
    np.testing.assert_allclose(p, [math.exp(-88.7), 1.0], rtol=1e-5)


def test_iterated_exp_depth3_overflow_edge():
    """exp(exp(exp(x))) overflows float64 above ln ln ln(max) = 1.88176..."""
    edge = math.log(math.log(math.log(float(np.finfo(np.float64).max))))
    assert 1.8817 < edge < 1.8818
    p, overflow = _eval([0, 1.8817], np.float64, "iterated_exp", depth=3)
    assert not overflow and np.all(np.isfinite(p)) and p[1] == 1.0 and p[0] > 0
    p, overflow = _eval([0, 1.8818], np.float64, "iterated_exp", depth=3)
    assert overflow and not np.all(np.isfinite(p))
    # depth 2: ln ln max = 6.5650
    assert not _eval([0, 6.5649], np.float64, "iterated_exp", depth=2)[1]
    assert _eval([0, 6.5651], np.float64, "iterated_exp", depth=2)[1]


def test_base_100_overflow_edge():
    """100^x overflows float64 above ln(max)/ln(100) = 154.128...; the stable form never."""
    edge = math.log(float(np.finfo(np.float64).max)) / math.log(100)
    assert 154.12 < edge < 154.14
    assert not _eval([0, 154.12], np.float64, base=100, stable=False)[1]
    p, overflow = _eval([0, 154.14], np.float64, base=100, stable=False)
    assert overflow and not np.all(np.isfinite(p))
    p, overflow = _eval([0, 154.14, 1000.0], np.float64, base=100, stable=True)
    assert not overflow and p[2] == 1.0


def test_e4m3_has_no_inf_overflow_is_nan():
    """float8_e4m3fn: max 448 and no infinity; e^7 = 1097 overflows to NaN, flagged."""
    dtype = ml_dtypes.float8_e4m3fn
    assert float(finfo(dtype).max) == 448 and not softmaxlab.dtypes.has_inf(dtype)
    p, overflow = _eval([0, 7], dtype, stable=False)
    assert overflow and np.isnan(p).all() and not np.isinf(p).any()
    p, overflow = _eval([0, 6], dtype, stable=False)  # e^6 = 403 < 448
    assert not overflow and np.all(np.isfinite(p))
    p, overflow = _eval([0, 7], dtype, stable=True)
    assert not overflow and np.all(np.isfinite(p))
    # e5m2 has inf: the same overflow shows there above ln(57344) = 10.96
    p, overflow = _eval([0, 11.5], ml_dtypes.float8_e5m2, stable=False)
    assert overflow and not np.all(np.isfinite(p))


NARROW = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float32"]


@pytest.mark.parametrize("name", NARROW)
def test_narrow_softmax_error_bound(name):
    """Stable softmax in a narrow format against float64 on the same rounded logits.

    Each step rounds once to the format (unit roundoff u = eps/2): d_i = x_i - max carries
    |d_i| u, so e^(d_i) carries (|d_i| + 1) u, plus a u each for the sum's rounding and the
    division: |p_i - q_i| <= (|d_i| + 3) u q_i, doubled for second-order terms, plus
    the smallest subnormal for entries at the bottom of the range."""
    dtype = DTYPES[name]
    fi = finfo(dtype)
    eps, sub = float(fi.eps), float(fi.smallest_subnormal)
    rng = np.random.default_rng(17)
    worst = 0.0
    for scale in (0.1, 1.0, 3.0):
        x = (scale * rng.standard_normal((200, 10))).astype(dtype)
        x64 = x.astype(np.float64)
        q = scipy.special.softmax(x64, axis=-1)
        p = softmaxlab.normalize(x, "softmax").astype(np.float64)
        d = np.abs(x64 - x64.max(axis=-1, keepdims=True))
        bound = 2 * (d + 3) * (eps / 2) * q + sub
        worst = max(worst, float(np.max(np.abs(p - q) / bound)))
        assert np.all(np.abs(p - q) <= bound), name
        # the largest entry: a few eps relative
        top = q.argmax(axis=-1)
        rows = np.arange(q.shape[0])
        assert np.all(np.abs(p[rows, top] - q[rows, top]) <= 3 * eps * q[rows, top])
    assert worst > 0.01  # the bound is not vacuous: errors reach a visible part of it


# --------------------------------------------------------------------------------------
# gradients (float64)
# --------------------------------------------------------------------------------------


def _central(fn, x, h):
    grad = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        grad[i] = (fn(x + e) - fn(x - e)) / (2 * h)
    return grad


@pytest.mark.parametrize("seed", range(4))
def test_cross_entropy_gradient_is_p_minus_y(seed):
    """d/dx [-log softmax(x)_y] = p - onehot(y) (claim C4), against central differences."""
    k = 7
    x = seeded_vectors(seed, k, scale=2.0)
    y = seed % k
    p = softmaxlab.normalize(x, "softmax")
    fd = _central(lambda v: -math.log(softmaxlab.normalize(v, "softmax")[y]), x, 1e-5)
    np.testing.assert_allclose(p - np.eye(k)[y], fd, atol=1e-7, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_softmax_jacobian(seed):
    """J = diag(p) - p p^T, column by column against central differences."""
    k = 6
    x = seeded_vectors(seed, k, scale=1.5)
    p = softmaxlab.normalize(x, "softmax")
    jac = np.diag(p) - np.outer(p, p)
    h = 1e-5
    fd = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        fd[:, j] = (
            softmaxlab.normalize(x + e, "softmax") - softmaxlab.normalize(x - e, "softmax")
        ) / (2 * h)
    np.testing.assert_allclose(fd, jac, atol=1e-9, rtol=0)
    np.testing.assert_allclose(jac.sum(axis=0), 0, atol=1e-15)


def test_sparsemax_jacobian():
    """Sparsemax's Jacobian is diag(s) - s s^T / |S| on the support S (Martins & Astudillo
    2016, eq. 12): a projection, away from the support's edges."""
    x = np.array([0.9, 0.5, 0.2, -1.0, 0.45])
    p = softmaxlab.normalize(x, "sparsemax")
    s = (p > 0).astype(float)
    jac = np.diag(s) - np.outer(s, s) / s.sum()
    h = 1e-6
    fd = np.empty((5, 5))
    for j in range(5):
        e = np.zeros(5)
        e[j] = h
        fd[:, j] = (
            softmaxlab.normalize(x + e, "sparsemax") - softmaxlab.normalize(x - e, "sparsemax")
        ) / (2 * h)
    np.testing.assert_allclose(fd, jac, atol=1e-8)


# --------------------------------------------------------------------------------------
# parameters, errors, labels
# --------------------------------------------------------------------------------------


def test_methods_list():
    assert softmaxlab.methods() == ALL_METHODS


def test_unknown_method_lists_choices():
    for call in (
        lambda: softmaxlab.normalize([1.0, 2.0], "softmaxx"),
        lambda: softmaxlab.check_params("hardmax", {}),
        lambda: softmaxlab.method_defaults("nope"),
        lambda: softmaxlab.label("nope", {}),
    ):
        with pytest.raises(ValueError) as info:
            call()
        for name in ALL_METHODS:
            assert name in str(info.value)


@pytest.mark.parametrize(
    ("method", "params", "words"),
    [
        ("softmax", {"temperature": 0}, ["temperature", "> 0"]),
        ("softmax", {"temperature": -1.0}, ["temperature", "> 0"]),
        ("softmax", {"temperature": math.nan}, ["temperature"]),
        ("softmax", {"temperature": math.inf}, ["temperature"]),
        ("softmax", {"base": 0}, ["base", "> 0"]),
        ("softmax", {"base": -2.0}, ["base"]),
        ("softmax", {"stable": "yes"}, ["stable", "true or false"]),
        ("softmax", {"stable": 1}, ["stable"]),
        ("softmax", {"temprature": 2}, ["temprature", "temperature, base, stable"]),
        ("taylor", {"order": 3}, ["order", "even"]),
        ("taylor", {"order": -2}, ["order"]),
        ("taylor", {"order": 2.5}, ["order"]),
        ("iterated_exp", {"depth": 0}, ["depth", ">= 1"]),
        ("entmax", {"alpha": 1.0}, ["alpha", "> 1"]),
        ("entmax", {"alpha": 0.5}, ["alpha"]),
        ("escort", {"p": 0}, ["p", "> 0"]),
        ("spherical", {"eps": -1e-3}, ["eps", ">= 0"]),
        ("ssmax", {"s": 0}, ["s"]),
        ("gumbel_softmax", {"tau": 0}, ["tau"]),
        ("gumbel_softmax", {"seed": -1}, ["seed"]),
        ("gumbel_softmax", {"seed": 1.5}, ["seed"]),
        ("argmax", {"temperature": 1}, ["(none)"]),
        ("sparsemax", {"alpha": 2}, ["alpha"]),
        ("softmax", {"base": True}, ["base"]),
    ],
)
def test_bad_params_raise_with_choices(method, params, words):
    for call in (
        lambda: softmaxlab.check_params(method, params),
        lambda: softmaxlab.normalize([1.0, 2.0], method, **params),
        lambda: softmaxlab.evaluate([1.0, 2.0], method, **params),
    ):
        with pytest.raises(ValueError) as info:
            call()
        for word in words:
            assert word in str(info.value), (str(info.value), word)


def test_check_params_fills_defaults():
    assert softmaxlab.check_params("softmax", {}) == {
        "temperature": 1.0,
        "base": math.e,
        "stable": True,
    }
    assert softmaxlab.check_params("softmax", {"base": 100}) == {
        "temperature": 1.0,
        "base": 100,
        "stable": True,
    }
    assert softmaxlab.check_params("taylor", None) == {"order": 2}
    assert softmaxlab.check_params("iterated_exp", {}) == {"depth": 2, "stable": False}
    assert softmaxlab.check_params("spherical", {}) == {"eps": 1e-5}
    assert softmaxlab.check_params("escort", {}) == {"p": 2}
    assert softmaxlab.check_params("ssmax", {}) == {"s": 1}
    assert softmaxlab.check_params("entmax", {}) == {"alpha": 1.5}
    assert softmaxlab.check_params("gumbel_softmax", {}) == {"tau": 1, "seed": 0}
    assert softmaxlab.check_params("argmax", {}) == {}
    for name in ALL_METHODS:
        assert softmaxlab.check_params(name, {}) == softmaxlab.method_defaults(name)
    # numpy scalars are accepted (config values may come from numpy)
    assert softmaxlab.check_params("taylor", {"order": np.int64(4)})["order"] == 4
    assert softmaxlab.check_params("softmax", {"stable": np.bool_(False)})["stable"] is False


def test_defaults_are_what_the_calls_use():
    """normalize with no parameters equals normalize with the defaults spelled out."""
    x = seeded_vectors(6, 9)
    for name in ALL_METHODS:
        np.testing.assert_array_equal(
            softmaxlab.normalize(x, name),
            softmaxlab.normalize(x, name, **softmaxlab.method_defaults(name)),
        )


@pytest.mark.parametrize(
    ("method", "params", "text"),
    [
        ("softmax", {}, "softmax"),
        ("softmax", {"base": math.e, "temperature": 1, "stable": True}, "softmax"),
        ("softmax", {"base": 100, "stable": False}, "softmax(base=100, stable=False)"),
        ("softmax", {"base": 100.0, "stable": False}, "softmax(base=100, stable=False)"),
        ("softmax", {"stable": False, "base": 100}, "softmax(base=100, stable=False)"),
        ("softmax", {"temperature": 0.5}, "softmax(temperature=0.5)"),
        ("entmax", {"alpha": 1.25}, "entmax(alpha=1.25)"),
        ("entmax", {}, "entmax"),
        ("taylor", {"order": 4}, "taylor(order=4)"),
        ("iterated_exp", {"depth": 3}, "iterated_exp(depth=3)"),
        ("gumbel_softmax", {"tau": 0.5, "seed": 3}, "gumbel_softmax(tau=0.5, seed=3)"),
        ("argmax", {}, "argmax"),
    ],
)
def test_labels(method, params, text):
    assert softmaxlab.label(method, softmaxlab.check_params(method, params)) == text


def test_labels_of_default_config_are_distinct():
    """Every parameter combination gets its own label (the config rejects duplicates by it)."""
    combos = [
        ("softmax", {"base": b, "stable": s}) for b in (1, 2, 3, 4, 10, 100) for s in (True, False)
    ]
    combos += [("softmax", {"temperature": t}) for t in (0.5, 2, 0.25)]
    combos += [("entmax", {"alpha": a}) for a in (1.25, 1.5, 1.75, 2)]
    labels = [softmaxlab.label(m, softmaxlab.check_params(m, p)) for m, p in combos]
    assert len(set(labels)) == len(labels)


def test_input_conversion_and_dtypes():
    """Lists and ints become float64; every supported dtype is kept; others raise."""
    assert softmaxlab.normalize([1, 2, 3], "softmax").dtype == np.float64
    assert softmaxlab.normalize(np.arange(3), "relu").dtype == np.float64
    for dtype in (*DTYPES.values(), np.dtype(np.longdouble)):
        for method in ALL_METHODS:
            assert softmaxlab.normalize(np.ones(4, dtype=dtype), method).dtype == dtype
    with pytest.raises(ValueError, match="valid dtypes"):
        softmaxlab.normalize(np.ones(3, dtype=np.complex128), "softmax")


def test_longdouble_reference_is_more_accurate():
    """The long double path (the float64 cells' reference) agrees with mpmath beyond
    float64 where the platform's long double is wider."""
    x = seeded_vectors(12, 8)
    ref, _ = mp_reference("softmax", x, softmaxlab.check_params("softmax", {}))
    p = softmaxlab.normalize(x.astype(np.longdouble), "softmax")
    assert p.dtype == np.longdouble
    tol = 64 * float(np.finfo(np.longdouble).eps)
    with mpmath.workdps(DPS):
        xs = [mpmath.mpf(float(v)) for v in x]
        t = [mpmath.exp(v - max(xs)) for v in xs]
        exact = [v / mpmath.fsum(t) for v in t]
        for got, want in zip(p, exact, strict=True):
            num, den = got.as_integer_ratio()  # exact value of the long double
            assert abs(mpmath.mpf(num) / den - want) <= tol * want
    np.testing.assert_allclose(p.astype(np.float64), ref, rtol=4 * EPS64)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("softmax(base=abc)", "base='abc' is not a real"),
        ("softmax(stable=yes)", "stable='yes' is not a bool"),
        ("softmax(base=2.0)", "it reads 'softmax(base=2)'"),
        ("softmax(x=1)", "valid parameters: temperature, base, stable"),
        ("softmax(base=-1)", "base must be > 0"),
        ("nomethod", "valid methods:"),
        ("softmax(", "not a method label"),
    ],
)
def test_parse_label_refuses_what_label_cannot_produce(text, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        softmaxlab.parse_label(text)


_LONGDOUBLE_BASES = [2.0, 3.0, 4.0, 10.0, 100.0, 0.5, 1.0001]


def _longdouble_power_inputs(base: np.ndarray) -> np.ndarray:
    """Seeded long double y with 64 significant bits: y ln(base) across the whole range
    (-11500 to 11500: 0, subnormal, normal and inf results), and dense sweeps of y ln(base)
    2 either side of every threshold: ln of half the smallest subnormal, of the smallest
    subnormal, of the smallest normal, of the largest finite value, and +-11354 (where
    _power switches between its two paths)."""
    info = np.finfo(np.longdouble)
    ln_b = float(np.log(base))
    rng = np.random.default_rng(20250610)
    z = [rng.uniform(-11500, 11500, 1000)]
    edges = [float(np.log(v)) for v in (info.smallest_subnormal, info.smallest_normal, info.max)]
    edges += [edges[0] - math.log(2), -11354.0, 11354.0]
    z += [np.linspace(e - 2, e + 2, 201) for e in edges]
    y = (np.concatenate(z) / ln_b).astype(np.longdouble)
    y += y * (rng.uniform(-1, 1, y.size) * 2.0**-30).astype(np.longdouble)  # low bits
    return y


@pytest.mark.parametrize("base", _LONGDOUBLE_BASES)
def test_longdouble_power_against_mpmath(base):
    """_power in long double (exp of a split y ln(base), not powl) is within 4 long double
    units of roundoff (4 x 2^-64) of base^y at 50 digits where base^y is normal (3 if
    expl is within an ulp; measured 2.03 here, 2.20 over 3 x 10^5 draws; powl 1.24), and
    has np.power's zeros, subnormals (bit for bit), infs and NaNs on the same y, on
    +-inf, NaN, +-0 and huge y, and with out aliasing y."""
    from softmaxlab.methods import _power

    info = np.finfo(np.longdouble)
    if info.nmant <= np.finfo(np.float64).nmant:
        pytest.skip("long double is float64 here")
    b = np.asarray(base, dtype=np.longdouble)
    y = _longdouble_power_inputs(b)
    y = np.concatenate([y, np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.longdouble)])
    y = np.concatenate([y, np.array([1e4000, -1e4000, 1e-4940], np.longdouble)])
    with np.errstate(all="ignore"):
        powl = np.power(b, y)
        got = _power(b, y.copy(), out=None)
        np.testing.assert_array_equal(_power(b, y.copy(), out=y.copy()), got)  # out is y
    assert got.dtype == np.longdouble
    subnormal = lambda t: (t != 0) & (np.abs(t) < info.smallest_normal)  # noqa: E731
    for pattern in (np.isnan, np.isinf, lambda t: t == 0, subnormal):
        np.testing.assert_array_equal(pattern(got), pattern(powl))
    np.testing.assert_array_equal(got[subnormal(powl)], powl[subnormal(powl)])
    assert (powl == 0).any() and np.isinf(powl).any() and subnormal(powl).any()

    normal = np.isfinite(powl) & (powl >= info.smallest_normal)
    worst = {"_power": 0.0, "np.power": 0.0}
    with mpmath.workdps(DPS):
        num, den = b[()].as_integer_ratio()
        exact_base = mpmath.mpf(num) / den
        for yi, g, p in zip(y[normal], got[normal], powl[normal], strict=True):
            num, den = yi.as_integer_ratio()
            want = mpmath.power(exact_base, mpmath.mpf(num) / den)
            for name, value in (("_power", g), ("np.power", p)):
                num, den = value.as_integer_ratio()
                error = abs(mpmath.mpf(num) / den / want - 1) * 2**64
                worst[name] = max(worst[name], float(error))
    assert worst["_power"] <= 4, worst


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_power_base_one(dtype):
    """Base 1 gives np.power's ones bit for bit (NaN and +-inf y included, as C's pow),
    with and without ``out``, without calling power."""
    from softmaxlab.methods import _power

    y = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 6e4, -3.5, 1e-5], dtype=dtype)
    y = np.stack([y, y[::-1]])
    one = np.asarray(1.0, dtype=dtype)
    with np.errstate(all="ignore"):
        expected = np.power(one, y)
        for out in (None, y.copy()):
            got = _power(one, y.copy() if out is None else out, out=out)
            assert got.dtype == dtype and got.shape == y.shape
            assert got is out or out is None
            # every expected value is +1.0: equal values and signs are equal bits
            np.testing.assert_array_equal(got, expected)
            assert (expected == 1).all() and not np.signbit(got).any()
        # a base of another dtype: np.power's promotion, as before the shortcut
        other = np.asarray(1.0, dtype=np.float64 if dtype != np.float64 else np.float32)
        mixed = _power(other, y.copy(), out=None)
        assert mixed.dtype == np.power(other, y).dtype and (mixed == 1).all()
