"""softmaxlab.kernels.sparse (compiled sparsemax, 1.5-entmax and alpha-entmax) against
oracles that share none of its code, and against the numpy bodies it replaces.

Oracles:

* mpmath at 40 digits: z = (alpha - 1)(x - max x) exactly, tau the root of
  sum (z_i - tau)_+^(1/(alpha-1)) = 1 by mpmath's bracketing Illinois solver (on a
  bracket from a float64 bisection, checked at 40 digits; no Newton, no sort),
  p = (z - tau)_+^(1/(alpha-1)) / sum;
* two classes: p_1^(alpha-1) - p_2^(alpha-1) = (alpha - 1)(x_1 - x_2) with p_2 = 1 - p_1
  while both are positive (Peters, Niculae & Martins 2019: on the support
  p_i^(alpha-1) = (alpha - 1) x_i - tau), solved for p_1 by mpmath's bisection; sparsemax's
  clip((t + 1)/2, 0, 1) (Martins & Astudillo 2016, sec. 2.2) and 1.5-entmax's closed form;
* the powers: libm's pow and mpmath for the kernels' own power functions.

The accuracy measure is the error of p_i relative to its conditioning: rounding z_i and
tau moves t_i = z_i - tau by about u (|z_i| + |tau|), which moves p_i = t_i^r by r times
that relative to t_i. So |p_i - p*_i| / (p*_i u (1 + r (|z_i| + |tau|) / t_i)) is about 1
for an implementation that is as accurate as its format allows (u: the unit roundoff).
The kernels stay below 4 on every row here; the numpy bodies reach 38 (their running sums).

Against the numpy bodies (hypothesis: K from 1 to 1000, scales 1e-6 to 1e6, ties), the two
agree to that conditioning's tolerance, 64 units of it (the numpy bodies' own error).
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys

import ml_dtypes
import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from without_numba import kernels_without_numba

import softmaxlab

sparse = pytest.importorskip("softmaxlab.kernels.sparse")
pytestmark = pytest.mark.skipif(not sparse.AVAILABLE, reason="numba is not installed")

#: (method, params, alpha) of the default sweep, and alpha-entmax beyond it: 1.1 (a large
#: non-integer power), 3 (alpha > 2: the bisection).
METHODS = [
    ("sparsemax", {}, 2.0),
    ("entmax15", {}, 1.5),
    ("entmax", {"alpha": 1.25}, 1.25),
    ("entmax", {"alpha": 1.75}, 1.75),
]
MORE_ALPHAS = [("entmax", {"alpha": 1.1}, 1.1), ("entmax", {"alpha": 3.0}, 3.0)]
IDS = [f"{name}{params.get('alpha', '')}" for name, params, _ in METHODS + MORE_ALPHAS]
FORMATS = [np.float64, np.float32]

# derandomize: the same examples on every run (a new failure means the code changed).
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@contextlib.contextmanager
def numpy_bodies():
    """Run the numpy bodies of softmaxlab.methods (the kernels' reference)."""
    saved = sparse.USE_KERNELS
    sparse.USE_KERNELS = False
    try:
        yield
    finally:
        sparse.USE_KERNELS = saved


def normalize_both(x, name, params):
    """(kernel, numpy body) outputs of the method on x."""
    kernel = softmaxlab.normalize(x, name, **params)
    with numpy_bodies():
        reference = softmaxlab.normalize(x, name, **params)
    return kernel, reference


# --- the mpmath oracle ----------------------------------------------------------------


def mp_entmax(x, alpha):
    """(p, z, tau, r) at 40 digits for the row x (its float values taken exactly)."""
    with mpmath.workdps(40):
        a1 = mpmath.mpf(alpha) - 1
        values = [mpmath.mpf(float(v)) for v in x]
        top = max(values)
        z = [a1 * (v - top) for v in values]
        r = 1 / a1
        candidates = [v for v in z if v > -1]

        def mass(tau):
            return mpmath.fsum((v - tau) ** r for v in candidates if v > tau) - 1

        tau = mpmath.findroot(mass, bracket(candidates, r, mass), solver="illinois")
        p = [(v - tau) ** r if v > tau else mpmath.mpf(0) for v in z]
        total = mpmath.fsum(p)
        return [v / total for v in p], z, tau, r


def bracket(candidates, r, mass) -> tuple:
    """A narrow bracket of the root for mpmath's solver (on [-1, 0] it needs hundreds of
    steps where the sum has many kinks): a float64 bisection of the same sum on the
    candidates rounded to float64, widened by 1e-9 and checked at 40 digits (the sign
    change must hold there, else [-1, 0] itself)."""
    values = np.array([float(v) for v in candidates])
    lo, hi = -1.0, 0.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if np.sum(np.maximum(values - mid, 0.0) ** float(r)) >= 1:
            lo = mid
        else:
            hi = mid
    lo_mp, hi_mp = mpmath.mpf(max(lo - 1e-9, -1.0)), mpmath.mpf(min(hi + 1e-9, 0.0))
    if mass(lo_mp) >= 0 >= mass(hi_mp):
        return lo_mp, hi_mp
    return mpmath.mpf(-1), mpmath.mpf(0)


def conditioned_error(p, exact, z, tau, r, dtype) -> float:
    """max_i |p_i - p*_i| / (p*_i u (1 + r (|z_i| + |tau|) / t_i)) over the support of
    p*, and p_i / u off it (p_i should be 0 there)."""
    u = float(np.finfo(dtype).eps) / 2
    worst = 0.0
    for got, want, zi in zip(np.asarray(p, dtype=np.float64), exact, z, strict=True):
        if want == 0:
            worst = max(worst, float(got) / u)
            continue
        cond = 1 + r * (abs(zi) + abs(tau)) / (zi - tau)
        worst = max(worst, float(abs(mpmath.mpf(float(got)) - want) / (want * u * cond)))
    return worst


def oracle_rows(seed: int) -> list[np.ndarray]:
    """Normal rows over scales 10^-2.5 to 10^3 at K = 2, 3, 10, 100; two K = 400 rows at
    small scales (supports of hundreds) and rows with ties and a -inf entry."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(24):
        k = [2, 3, 10, 100][i % 4]
        rows.append(10.0 ** rng.uniform(-2.5, 3) * rng.standard_normal(k))
    rows += [1e-3 * rng.standard_normal(400), 0.05 * rng.standard_normal(400)]
    rows.append(np.round(rng.standard_normal(12) * 2) / 4)  # ties
    rows.append(np.array([0.3, -np.inf, 0.1, 0.3, -2.0]))
    return rows


@pytest.mark.parametrize("dtype", FORMATS, ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "params", "alpha"), METHODS + MORE_ALPHAS, ids=IDS)
def test_against_mpmath_oracle(name, params, alpha, dtype):
    """Every entry within 4 units of its conditioning (the module docstring), and never
    less accurate than the numpy body (up to one unit) on the same rows."""
    worst_kernel = worst_numpy = 0.0
    for x in oracle_rows(seed=7):
        x = x.astype(dtype)
        exact, z, tau, r = mp_entmax(x, alpha)
        kernel, reference = normalize_both(x, name, params)
        worst_kernel = max(worst_kernel, conditioned_error(kernel, exact, z, tau, r, dtype))
        worst_numpy = max(worst_numpy, conditioned_error(reference, exact, z, tau, r, dtype))
    assert worst_kernel <= 4, (worst_kernel, worst_numpy)
    assert worst_kernel <= worst_numpy + 1, (worst_kernel, worst_numpy)


def test_full_support_at_large_k_against_mpmath():
    """K = 2000 at scale 1e-4: every entry in the support (sums over thousands of terms,
    where the numpy bodies' running sums lose digits)."""
    x = 1e-4 * np.random.default_rng(5).standard_normal(2000)
    for name, params, alpha in METHODS:
        exact, z, tau, r = mp_entmax(x, alpha)
        assert all(v > 0 for v in exact)
        p = softmaxlab.normalize(x, name, **params)
        assert conditioned_error(p, exact, z, tau, r, np.float64) <= 4, name


# --- two classes ------------------------------------------------------------------------


def two_class_oracle(t: float, alpha: float) -> float:
    """p_1 of alpha-entmax([t, 0]): 1 (0) for t >= (<=) +-1/(alpha - 1); else the root of
    p^(alpha-1) - (1 - p)^(alpha-1) = (alpha - 1) t, increasing in p, by bisection."""
    a1 = alpha - 1
    if t * a1 >= 1:
        return 1.0
    if t * a1 <= -1:
        return 0.0
    with mpmath.workdps(40):
        a1m = mpmath.mpf(alpha) - 1
        target = a1m * mpmath.mpf(t)
        lo, hi = mpmath.mpf(0), mpmath.mpf(1)
        for _ in range(140):
            mid = (lo + hi) / 2
            if mid**a1m - (1 - mid) ** a1m < target:
                lo = mid
            else:
                hi = mid
        return float((lo + hi) / 2)


@pytest.mark.parametrize("alpha", [1.1, 1.25, 1.5, 1.75, 2.0, 3.0])
@pytest.mark.parametrize("t", [-12.0, -3.9, -1.5, -0.7, -0.01, 0.0, 0.3, 0.999, 1.99, 3.3, 9.0])
def test_two_classes(alpha, t):
    """alpha-entmax([t, 0]) against the two-class equation, and for alpha = 2 and 1.5
    against their closed forms; float64 within 8 eps, float32 within 8 of its eps."""
    expected = two_class_oracle(t, alpha)
    if alpha == 2.0:
        assert expected == pytest.approx(min(max((t + 1) / 2, 0.0), 1.0), abs=1e-15)
    if alpha == 1.5 and abs(t) < 2:
        s = (-t + math.sqrt(8 - t * t)) / 4
        assert expected == pytest.approx((t / 2 + s) ** 2, abs=1e-15)
    for dtype in FORMATS:
        p = softmaxlab.normalize(np.array([t, 0.0], dtype=dtype), "entmax", alpha=alpha)
        eps = float(np.finfo(dtype).eps)
        np.testing.assert_allclose(p, [expected, 1 - expected], rtol=0, atol=8 * eps)


# --- against the numpy bodies ---------------------------------------------------------


@st.composite
def rows(draw):
    """(x, name, params, alpha): a row of K in {1, 2, 3, 4, 7, 33, 1000}, float32 or
    float64, scale 10^-6 to 10^6, entries normal or on a coarse grid (ties)."""
    k = draw(st.sampled_from([1, 2, 3, 4, 7, 33, 1000]))
    dtype = draw(st.sampled_from(FORMATS))
    scale = 10.0 ** draw(st.floats(-6, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(k)
    if draw(st.booleans()):
        z = np.round(z * 2) / 2  # many ties, the maximum often among them
    name, params, alpha = draw(st.sampled_from(METHODS + [("entmax", {"alpha": 2.5}, 2.5)]))
    return (scale * z).astype(dtype), name, params, alpha


@SETTINGS
@given(data=rows())
def test_matches_numpy_bodies(data):
    """Kernel and numpy body agree within the conditioning of each entry: with p the
    larger of the two, |difference| <= 64 u (p + 2 r p^((r-1)/r)) (t_i moves by u times
    |z_i| + |tau| <= 2, and dp/dt = r t^(r-1) = r p^((r-1)/r)). The kernel's output is a
    distribution whose order follows x's: equal entries get equal p, bit for bit."""
    x, name, params, alpha = data
    kernel, reference = normalize_both(x, name, params)
    assert kernel.dtype == x.dtype
    u = float(np.finfo(x.dtype).eps) / 2
    r = 1 / (alpha - 1)
    big = np.maximum(kernel, reference).astype(np.float64)
    with np.errstate(divide="ignore"):  # r < 1: the slope t^(r-1) is infinite at t = 0
        tolerance = 64 * u * (big + 2 * r * big ** ((r - 1) / r))
    diff = np.abs(kernel.astype(np.float64) - reference)
    assert np.all(diff <= tolerance), (name, alpha, np.max(diff / tolerance))
    assert np.all(kernel >= 0)
    assert abs(np.sum(kernel, dtype=np.float64) - 1) <= 4 * u * max(x.size, 4) ** 0.5
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(kernel[order].astype(np.float64)) >= 0)  # monotone in x
    for value in np.unique(x):
        assert len(set(kernel[x == value].tolist())) == 1


# --- edges, formats, the switch ---------------------------------------------------------


@pytest.mark.parametrize(("name", "params", "alpha"), METHODS + MORE_ALPHAS, ids=IDS)
def test_edge_rows(name, params, alpha):
    """NaN, +inf and all -inf rows are NaN (the module's conventions, also from the kernel
    itself); a -inf entry gets 0 and leaves the others as the row without it; equal
    entries get the same p, within an ulp of 1/K (p_i / fl(K p_i) is not exactly 1/K);
    K = 1 is 1; a batch of rows equals its rows one by one."""
    x = np.array(
        [
            [0.0, np.nan, 1.0],
            [0.0, np.inf, 1.0],
            [-np.inf, -np.inf, -np.inf],
            [0.5, -np.inf, 0.25],
            [1.0, 1.0, 1.0],
        ]
    )
    for dtype in FORMATS:
        xd = x.astype(dtype)
        raw = sparse.threshold_map(xd, np.dtype(dtype), alpha)
        assert np.isnan(raw[:3]).all()
        p = softmaxlab.normalize(xd, name, **params)
        assert np.isnan(p[:3]).all()
        assert p[3, 1] == 0
        without = softmaxlab.normalize(xd[3, [0, 2]], name, **params)
        np.testing.assert_array_equal(p[3, [0, 2]], without)
        assert p[4, 0] == p[4, 1] == p[4, 2]
        assert abs(float(p[4, 0]) - 1 / 3) <= float(np.spacing(dtype(1 / 3)))
        assert softmaxlab.normalize(np.array([-7.0], dtype=dtype), name, **params)[0] == 1
        for i in range(len(xd)):
            np.testing.assert_array_equal(p[i], softmaxlab.normalize(xd[i], name, **params))


@pytest.mark.parametrize("compute", ["native", "float32"])
@pytest.mark.parametrize("fmt", ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_narrow_formats_run_in_float32(fmt, compute):
    """The narrow formats compute these maps in float32 in both modes (their sums and
    thresholds accumulate in float32), so the kernel's float32 result rounded to the
    format equals the numpy body's but for an entry that lands on a rounding boundary
    (one step of the format at most)."""
    dtype = {"float16": np.float16}.get(fmt) or getattr(ml_dtypes, fmt)
    x = (np.random.default_rng(2).standard_normal((64, 9)) * 3).astype(dtype)
    for name, params, _ in METHODS:
        kernel = softmaxlab.normalize(x, name, compute=compute, **params).astype(np.float64)
        with numpy_bodies():
            reference = softmaxlab.normalize(x, name, compute=compute, **params)
        reference = reference.astype(np.float64)
        spacing = np.spacing(np.abs(reference).astype(dtype)).astype(np.float64)
        assert np.all(np.abs(kernel - reference) <= spacing), name
        assert np.mean(kernel == reference) > 0.98, name


def test_switch_and_accumulators():
    """USE_KERNELS off, or a long double accumulator: no kernel (the numpy body runs)."""
    x = np.array([[0.0, 1.0, 3.0]])
    assert sparse.threshold_map(x.astype(np.longdouble), np.dtype(np.longdouble), 2.0) is None
    with numpy_bodies():
        assert sparse.threshold_map(x, np.dtype(np.float64), 2.0) is None
    assert sparse.threshold_map(x, np.dtype(np.float64), 2.0) is not None


def test_without_numba_the_numpy_bodies_run(monkeypatch):
    """Where numba cannot be imported the module says so (AVAILABLE False), threshold_map
    declines, and the methods give their numpy bodies' values, bit for bit."""
    x = np.random.default_rng(6).standard_normal((8, 30))
    with numpy_bodies():
        expected = {(n, a): softmaxlab.normalize(x, n, **p) for n, p, a in METHODS}
    without = kernels_without_numba(monkeypatch, "sparse")
    try:
        assert not without.AVAILABLE
        assert without.threshold_map(x, np.dtype(np.float64), 2.0) is None
        for name, params, alpha in METHODS:
            got = softmaxlab.normalize(x, name, **params)
            np.testing.assert_array_equal(got, expected[name, alpha])
    finally:
        sys.modules["softmaxlab.kernels.sparse"] = sparse


def test_compiled_kernels_load_from_the_disk_cache_in_a_new_process():
    """cache=True: a second process loads the compiled code (numba's cache hits, no
    misses) and computes the same values."""
    script = (
        "import numpy as np, softmaxlab\n"
        "from softmaxlab.kernels import sparse\n"
        "x = np.random.default_rng(0).standard_normal((4, 300))\n"
        "out = []\n"
        "for dtype in (np.float64, np.float32):\n"
        "    for alpha in (2.0, 1.5, 1.75):\n"
        "        p = softmaxlab.normalize(x.astype(dtype), 'entmax', alpha=alpha)\n"
        "        out.append(float(p[0].astype(np.float64) @ np.arange(300)))\n"
        "print(out, sum(sparse.threshold_rows.stats.cache_misses.values()))\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert runs[1].stdout.split("]")[0] == runs[0].stdout.split("]")[0]
    assert runs[1].stdout.split("]")[1].strip() == "0"  # loaded, not compiled


# --- the pieces: powers and the starting bound --------------------------------------------


def test_fast_pow_against_pow():
    """_fast_pow within (8 + 2 |a ln t|) u of libm's pow for t in [1e-12, 1] and the
    exponents the kernels use (r - 1 and r for alpha from 1.1 to 3): a relative error
    that grows with |ln t^a| but an absolute one below 8.8 u for t^a <= 1 (y e^-y <= 1/e),
    so Newton's sums keep their accuracy; and after rounding to float32 the same float32
    as pow's on every one of 200,000 samples."""
    numba = pytest.importorskip("numba")

    @numba.njit
    def powers(t, a, out):
        for j in range(t.shape[0]):
            out[j] = sparse._fast_pow(t[j], a)

    rng = np.random.default_rng(3)
    t = np.concatenate([10.0 ** rng.uniform(-12, 0, 150_000), rng.random(50_000), [1.0, 0.5]])
    out = np.empty_like(t)
    r32 = float(np.float32(1 / 0.75))
    for a in [1 / 3, 0.25, 3.0, 9.0, 10.0, r32, r32 - 1, 1 / 0.75, 0.5]:
        powers(t, a, out)
        exact = t**a
        bound = (8 + 2 * np.abs(a * np.log(t))) * 2.0**-53 * exact
        assert np.all(np.abs(out - exact) <= bound), a
        assert np.array_equal(out.astype(np.float32), exact.astype(np.float32)), a


def test_compensated_powers_are_correctly_rounded():
    """_power for r = 2, 3, 4 within half an ulp (plus 1e-6) of the exact power (mpmath),
    as accurate as pow or more."""
    numba = pytest.importorskip("numba")

    @numba.njit
    def powers(t, r, kind, out):
        for j in range(t.shape[0]):
            out[j] = sparse._power(t[j], r, kind)

    rng = np.random.default_rng(4)
    t = np.concatenate([rng.random(1500), 10.0 ** rng.uniform(-60, 0, 1500)])
    out = np.empty_like(t)
    with mpmath.workprec(200):
        for r in (2, 3, 4):
            powers(t, float(r), r, out)
            for value, got in zip(t, out, strict=True):
                exact = mpmath.mpf(float(value)) ** r
                ulp = float(np.spacing(float(exact)))
                assert float(abs(mpmath.mpf(float(got)) - exact)) <= (0.5 + 1e-6) * ulp


@pytest.mark.parametrize("alpha", [1.1, 1.25, 1.5, 1.75, 2.0])
def test_start_is_a_lower_bound(alpha):
    """_start's Jensen bound (all candidates, and the histogram's levels) is at or below
    the root of the mpmath oracle: the monotone Newton iteration relies on it."""
    rng = np.random.default_rng(int(alpha * 100))
    r = 1 / (alpha - 1)
    kind = sparse._kind(r)
    counts = np.empty(sparse.HISTOGRAM_BINS, dtype=np.int64)
    sums = np.empty(sparse.HISTOGRAM_BINS)
    for scale in (1e-3, 0.03, 0.3, 3.0):
        x = scale * rng.standard_normal(300)
        z = (alpha - 1) * (x - x.max())
        cand = z[z > -1].copy()
        cmin = min(cand.min(), 0.0)
        bound = sparse._start(cand, len(cand), cand.sum(), cmin, r, kind, counts, sums)
        _, _, tau, _ = mp_entmax(x, alpha)
        assert bound <= float(tau) + 1e-15 * abs(float(tau)), (scale, bound, tau)
