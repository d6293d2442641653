"""C13's reference E[max softmax(s z)], z ~ N(0, I_K) (softmaxlab.orderstats), against
closed forms, lower-dimensional quadrature, both asymptotic regimes and simulation."""

import math

import numpy as np
import pytest
from scipy import integrate, special

from softmaxlab import normalize, orderstats
from softmaxlab.metrics import hardmax, tv_to_argmax
from softmaxlab.sampling import sample_z, stream

SCALES = [1e-3, 0.1, 1.0, 3.16, 10.0, 100.0, 1000.0]


def max_moment(k: int, power: int, weight=lambda m: 1.0) -> float:
    """E[M^power] for M the largest of K standard normals, by quad over its density."""

    def f(m):
        log_density = math.log(k) - m * m / 2 - 0.5 * math.log(2 * math.pi)
        return m**power * weight(m) * math.exp(log_density + (k - 1) * special.log_ndtr(m))

    return integrate.quad(
        f, -15, 15, points=[-2, 0, 2, 3, 4, 5], limit=400, epsabs=1e-15, epsrel=1e-13
    )[0]


def k2_closed_form(s: float) -> float:
    """E[1 / (1 + e^{-s |d|})], d = z1 - z2 ~ N(0, 2): |d| has density 2 N(0, 2)."""
    density = lambda u: math.exp(-u * u / 4) / math.sqrt(math.pi)  # noqa: E731
    return integrate.quad(
        lambda u: density(u) / (1 + math.exp(-s * u)), 0, np.inf, epsabs=1e-15, epsrel=1e-13
    )[0]


def k3_direct(s: float) -> float:
    """3 E[p_1; z_1 is the max] as a 2-D quad over y = (z2 - z1, z3 - z1) ~ N(0, [[2, 1],
    [1, 2]]) on y < 0, where p_1 = 1 / (1 + e^{s y1} + e^{s y2})."""

    def f(y2, y1):
        quadratic = (2 * y1 * y1 - 2 * y1 * y2 + 2 * y2 * y2) / 3
        density = math.exp(-quadratic / 2) / (2 * math.pi * math.sqrt(3))
        return density / (1 + math.exp(s * y1) + math.exp(s * y2))

    return 3 * integrate.dblquad(f, -np.inf, 0, -np.inf, 0, epsabs=1e-13, epsrel=1e-12)[0]


@pytest.mark.parametrize("s", SCALES)
def test_k2_closed_form(s):
    ref = orderstats.reference(2, s)
    exact = k2_closed_form(s)
    assert abs(ref.expected_max_prob - exact) < 1e-13
    assert abs(ref.expected_max_prob - exact) <= ref.abs_error_bound
    assert ref.expected_tv == pytest.approx(1 - exact, abs=1e-13)


@pytest.mark.parametrize("s", [0.01, 1.0, 10.0])
def test_k3_direct_two_dimensional_quad(s):
    ref = orderstats.reference(3, s)
    assert abs(ref.expected_max_prob - k3_direct(s)) < 1e-12


@pytest.mark.parametrize("k", [2, 10, 100, 10_000])
def test_small_scale_expansion(k):
    """E[p_max] = 1/K + s E[M]/K + s^2 (E[M^2] - 1) / (2K) + O(s^3) (expand e^{s z} to
    second order; E[M zbar] = E[zbar^2] = 1/K since M - zbar is independent of zbar).
    The remainder must scale as s^3 (it is below 1e-12 at s = 1e-3 for K = 10^4): that
    needs the reference exact to about 1e-14."""
    m1, m2 = max_moment(k, 1), max_moment(k, 2)
    remainders = []
    for s in (1e-3, 10**-2.5):
        expansion = 1 / k + s * m1 / k + s * s * (m2 - 1) / (2 * k)
        remainders.append(orderstats.reference(k, s).expected_max_prob - expansion)
    assert remainders[1] / remainders[0] == pytest.approx(10**1.5, rel=0.1)


@pytest.mark.parametrize("k", [2, 3, 10, 100, 1000, 10_000])
def test_large_scale_limit(k):
    """E[TV] ~ ln 2 f_D(0) / s, f_D(0) = K (K - 1) int phi^2 Phi^(K-2) dm the density at 0
    of the gap between the two largest (one near-tie dominates: S ~ e^{-s D},
    E[S / (1 + S)] ~ f_D(0) / s int_0^inf e^-u / (1 + e^-u) du)."""

    def integrand(m):
        log_phi = -m * m / 2 - 0.5 * math.log(2 * math.pi)
        return k * (k - 1) * math.exp(2 * log_phi + (k - 2) * special.log_ndtr(m))

    f_d0 = integrate.quad(integrand, -15, 15, points=[-2, 0, 2, 3, 4], limit=400)[0]
    if k == 2:
        assert f_d0 == pytest.approx(1 / math.sqrt(math.pi), rel=1e-12)  # |z1 - z2| at 0
    errors = []
    for s in (316.227766, 1000.0):
        tv = orderstats.reference(k, s).expected_tv
        errors.append(tv / (math.log(2) * f_d0 / s) - 1)
    assert abs(errors[1]) < 1e-3
    assert abs(errors[1]) < abs(errors[0]) or abs(errors[1]) < 1e-6
    assert orderstats.reference(k, 1e6).expected_max_prob == pytest.approx(1, abs=1e-5)


def test_simulation_agrees():
    """Monte Carlo with the sweep's own pieces: K = 100 at scale 3.16, and the issue's
    K = 10^4 at scale 10 (it says "about 0.26")."""
    for k, s, n in ((100, 3.16, 20_000), (10_000, 10.0, 400)):
        z = stream(17, "test_orderstats", k).normal(size=(n, k))
        tv = tv_to_argmax(normalize(s * z, "softmax"), hardmax(z))
        ref = orderstats.reference(k, s).expected_tv
        assert abs(tv.mean() - ref) < 4 * tv.std(ddof=1) / math.sqrt(n)
    assert ref == pytest.approx(0.2771, abs=5e-4)


def test_monotone_and_bounded_in_the_scale():
    for k in (2, 1000):
        values = [orderstats.reference(k, s).expected_max_prob for s in np.geomspace(1e-3, 1e3, 25)]
        assert np.all(np.diff(values) > 0)
        assert 1 / k < values[0] and values[-1] < 1


def test_error_bound_holds_against_a_finer_rule():
    for k, s in ((10_000, 0.316), (100, 0.1), (1000, 31.6), (2, 0.001), (10_000, 3.16)):
        ref = orderstats.reference(k, s)
        finer = orderstats._expected_tv(k, s, (32, 48, 48))
        assert abs(ref.expected_tv - finer) <= ref.abs_error_bound
        assert ref.abs_error_bound < orderstats.MAX_ERROR


def test_table_normal_distributions_with_sigma():
    distributions = {
        "normal": {"family": "normal"},
        "wide": {"family": "normal", "loc": 5.0, "scale": 2.0},
        "positive": {"family": "uniform", "low": 0.0, "high": 1.0},
    }
    table = orderstats.reference_table(distributions, [2, 10], [0.5, 4.0])
    assert table.columns.tolist() == list(orderstats.COLUMNS)
    assert table["distribution"].tolist() == ["normal"] * 4 + ["wide"] * 4
    assert (table["notes"] == "").all()
    # loc drops out of softmax, scale 2 doubles s: wide at 0.5 is normal at 1.0.
    wide = table[table.distribution == "wide"].set_index(["k", "scale"])
    normal = table[table.distribution == "normal"].set_index(["k", "scale"])
    assert wide.loc[(2, 0.5), "expected_max_prob"] == pytest.approx(k2_closed_form(1.0), abs=1e-13)
    assert wide.loc[(10, 0.5), "expected_tv"] == orderstats.reference(10, 1.0).expected_tv
    np.testing.assert_allclose(normal["expected_max_prob"] + normal["expected_tv"], 1.0)
    # A draw check of the same thing: the sweep's logits for the "wide" family.
    z = sample_z(3, "wide", distributions["wide"], 10, 4000)
    tv = tv_to_argmax(normalize(0.5 * z, "softmax"), hardmax(z))
    assert abs(tv.mean() - wide.loc[(10, 0.5), "expected_tv"]) < 4 * tv.std() / math.sqrt(4000)


def test_unreliable_pairs_are_left_out_with_a_note(monkeypatch):
    monkeypatch.setattr(orderstats, "MAX_ERROR", 1e-30)
    table = orderstats.reference_table({"normal": {"family": "normal"}}, [3], [1.0])
    assert table["expected_max_prob"].isna().all()
    assert table["notes"].str.startswith("left out: quadrature error estimate").all()


@pytest.mark.parametrize(("k", "s"), [(1, 1.0), (2.5, 1.0), (2, 0.0), (2, -1.0), (2, math.inf)])
def test_bad_input_raises(k, s):
    with pytest.raises(ValueError, match="k must|scale must"):
        orderstats.reference(k, s)


def test_tv_crossing_against_k2_and_k3_by_other_quadrature():
    """The scale where E[TV] = 0.1: Brent's root of K = 2's one-dimensional closed form and
    K = 3's two-dimensional quad, by scipy's root finder on those (another algorithm)."""
    from scipy import optimize

    k2 = optimize.brentq(lambda s: 1 - k2_closed_form(s) - 0.1, 1.0, 10.0, xtol=1e-12)
    assert orderstats.tv_crossing(2, 0.1) == pytest.approx(k2, rel=1e-9)
    assert k2 == pytest.approx(3.7474, abs=1e-4)
    k3 = optimize.brentq(lambda s: 1 - k3_direct(s) - 0.1, 3.0, 10.0, xtol=1e-9)
    assert orderstats.tv_crossing(3, 0.1) == pytest.approx(k3, rel=1e-7)
    # sigma z at scale s is z at scale s sigma; a target near 1 - 1/K needs a tiny scale
    assert orderstats.tv_crossing(10, 0.1, 2.0) == pytest.approx(
        orderstats.tv_crossing(10, 0.1) / 2, rel=1e-12
    )
    small = orderstats.tv_crossing(10, 0.8999)
    assert small < 1e-3 and orderstats.reference(10, small).expected_tv == pytest.approx(0.8999)
    for target in (0.0, 0.5, math.nan):
        with pytest.raises(ValueError, match=r"target must lie in \(0, 1 - 1/K\)"):
            orderstats.tv_crossing(2, target)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        orderstats.tv_crossing(2, 0.1, 0.0)
