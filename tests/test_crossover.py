"""C2's crossover scale (softmaxlab.crossover) against exact values computed independently."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats
from sweeps import SMALL

from softmaxlab import crossover
from softmaxlab.sweep import n_vectors

UNIFORM01 = {"family": "uniform", "low": 0.0, "high": 1.0}


def exact_k2_uniform() -> float:
    """The crossover for K = 2, z ~ U[0, 1]^2, from the two expectations by quadrature.

    Linear: TV = min(z) / (z1 + z2), twice its integral over the triangle z2 < z1 (dblquad;
    the kink of min on the diagonal is the triangle's edge).
    Softmax: TV = 1 / (1 + e^{s |z1 - z2|}); |z1 - z2| has density 2 (1 - u) on [0, 1].
    """
    tv_linear = (
        2
        * integrate.dblquad(
            lambda z2, z1: z2 / (z1 + z2), 0, 1, 0, lambda z1: z1, epsabs=1e-14, epsrel=1e-13
        )[0]
    )
    assert tv_linear == pytest.approx(1 - math.log(2), abs=1e-11)  # the closed form

    def tv_softmax(s):
        return integrate.quad(lambda u: 2 * (1 - u) / (1 + math.exp(s * u)), 0, 1, epsabs=1e-14)[0]

    return optimize.brentq(lambda s: tv_linear - tv_softmax(s), 0.1, 100, xtol=1e-13)


EXACT_K2 = exact_k2_uniform()


def test_exact_k2_value_is_the_issues():
    assert EXACT_K2 == pytest.approx(2.683, abs=5e-4)


@pytest.mark.parametrize("n", [100, 20_000])
def test_k2_uniform_interval_contains_the_exact_crossover(n):
    z = crossover.sample(SMALL["seed"], "positive", UNIFORM01, 2, n)
    found = crossover.crossover(z)
    assert found.s_low < EXACT_K2 < found.s_high
    assert found.s_low < found.s_star < found.s_high
    # The estimate's error is of the order of the interval's half-width, about
    # 1.96 sd(d) / (sqrt(n) f'(s*)): 0.29 at n = 100, 0.02 at n = 20,000.
    assert abs(found.s_star - EXACT_K2) < 0.6 * (found.s_high - found.s_low)
    assert found.tv_at_crossing == pytest.approx(1 - math.log(2), abs=3 / math.sqrt(n))
    assert found.notes == ()


def test_root_is_a_root_to_the_tolerance():
    z = crossover.sample(3, "positive", UNIFORM01, 10, 100)
    found = crossover.crossover(z)
    _, at = crossover.differences(z)
    below = at(found.s_star * (1 - 1e-8)).mean()
    above = at(found.s_star * (1 + 1e-8)).mean()
    assert below <= 0 <= above
    # The interval's ends are where the t interval's upper / lower ends cross 0.
    low_end = at(found.s_low)
    half = stats.t.ppf(0.975, 99) * low_end.std(ddof=1) / 10
    assert low_end.mean() + half == pytest.approx(0, abs=1e-9)


def test_large_k_limit():
    """For z ~ U[0, 1]^K and K -> inf, linear's largest share is 1 / (K/2) and softmax's
    e^s / (K E[e^{s z}]) = s e^s / (K (e^s - 1)): equal where s e^s / (e^s - 1) = 2."""
    limit = optimize.brentq(lambda s: s * math.exp(s) / math.expm1(s) - 2, 0.5, 5, xtol=1e-14)
    found = crossover.crossover(crossover.sample(1, "positive", UNIFORM01, 1000, 100))
    # The finite-K bias is O(1/K); the interval's half-width about 0.002.
    assert found.s_star == pytest.approx(limit, rel=3e-3)


def test_differences_are_monotone_in_the_scale():
    z = crossover.sample(5, "positive", UNIFORM01, 10, 50)
    tv_linear, at = crossover.differences(z)
    scales = np.geomspace(1e-4, 1e4, 200)
    d = np.array([at(s) for s in scales])
    assert (np.diff(d, axis=0) >= -1e-15).all()
    # Softmax tends to uniform and to the argmax at the two ends.
    np.testing.assert_allclose(d[0], tv_linear - (1 - 1 / 10), atol=1e-3)
    top2 = np.sort(z, axis=1)[:, -2:]
    far = (top2[:, 1] - top2[:, 0]) * scales[-1] > 40  # softmax's TV below e^-40 K
    assert far.sum() > 40
    np.testing.assert_allclose(d[-1][far], tv_linear[far], atol=1e-15)
    assert (d[-1] <= tv_linear).all()


def test_deterministic_and_seeded():
    config = {**SMALL, "distributions": {"positive": UNIFORM01}}
    args = (config["distributions"], config["k"], config["scales"], config["vectors"])
    first = crossover.crossover_table(config["seed"], *args)
    again = crossover.crossover_table(config["seed"], *args)
    other = crossover.crossover_table(config["seed"] + 1, *args)
    assert first.equals(again)
    assert not np.allclose(first["s_star"], other["s_star"])
    # Fresh draws: not the sweep's stream.
    from softmaxlab.sampling import sample_z

    sweep_z = sample_z(config["seed"], "positive", UNIFORM01, 2, n_vectors(config, 2))
    z = crossover.sample(config["seed"], "positive", UNIFORM01, 2, n_vectors(config, 2))
    assert not np.array_equal(sweep_z, z)


def test_interval_shrinks_with_n():
    widths = []
    for n in (100, 1600):
        found = crossover.crossover(crossover.sample(8, "positive", UNIFORM01, 3, n))
        widths.append(found.s_high - found.s_low)
    # The width goes as 1 / sqrt(n): a quarter, up to sampling noise in the sd.
    assert widths[1] == pytest.approx(widths[0] / 4, rel=0.3)


def test_interval_covers_the_exact_crossover():
    """The test-inversion interval's coverage at n = 100, over 60 seeds: 95% nominal."""
    covered = 0
    for seed in range(60):
        found = crossover.crossover(crossover.sample(seed, "positive", UNIFORM01, 2, 100))
        covered += found.s_low < EXACT_K2 < found.s_high
    # Binomial(60, 0.95): P(<= 51) is about 0.002.
    assert covered >= 52


def test_table_keeps_only_nonnegative_distributions():
    distributions = {
        **SMALL["distributions"],
        "signed": {"family": "uniform", "low": -1.0, "high": 1.0},
        "expo": {"family": "exponential"},
        "logn": {"family": "lognormal"},
        "gumbel": {"family": "gumbel"},
    }
    table = crossover.crossover_table(
        SMALL["seed"], distributions, [2, 10], SMALL["scales"], SMALL["vectors"]
    )
    assert table.columns.tolist() == list(crossover.COLUMNS)
    assert table["distribution"].tolist() == ["positive"] * 2 + ["expo"] * 2 + ["logn"] * 2
    assert (
        table["n"].tolist()
        == [max(n_vectors(SMALL, k), crossover.min_vectors(k)) for k in (2, 10)] * 3
    )
    assert table["crossing"].all()
    assert (table["in_scales"] == (table["s_star"].between(0.1, 200.0))).all()
    # At least min_vectors per K (1,000 here), so no row needs the small-n note.
    assert not table["notes"].str.contains("t interval on n = ").any()


def test_no_crossing_is_reported_as_missing():
    """Identical rows: linear and softmax are both uniform, never cross."""
    found = crossover.crossover(np.ones((5, 4)))
    assert not found.crossing and math.isnan(found.s_star) and math.isnan(found.tv_at_crossing)
    assert any("mean difference" in note for note in found.notes)


@pytest.mark.parametrize(
    "z", [np.array([[1.0, -0.5]]), np.array([[0.0, 0.0]]), np.array([1.0, 2.0]), [[np.nan, 1.0]]]
)
def test_bad_input_raises(z):
    with pytest.raises(ValueError, match="z must"):
        crossover.crossover(z)


@pytest.mark.workflow
def test_workflow_writes_both_reference_tables(tmp_path):
    """The rules crossover and orderstats on the small sweep: tables as the library gives."""
    from test_workflow import make_project, snakemake

    from softmaxlab import orderstats
    from softmaxlab.sweep import read_table

    root = make_project(tmp_path, SMALL)
    targets = ["results/tables/c2_crossover.csv", "results/tables/c13_reference.csv"]
    snakemake(root, *targets)
    c2 = read_table(root / targets[0])
    expected = crossover.crossover_table(
        SMALL["seed"], SMALL["distributions"], SMALL["k"], SMALL["scales"], SMALL["vectors"]
    )
    assert c2["distribution"].tolist() == ["positive", "positive"]
    np.testing.assert_array_equal(c2["s_star"], expected["s_star"])
    c13 = read_table(root / targets[1])
    assert len(c13) == len(SMALL["k"]) * len(SMALL["scales"])
    np.testing.assert_array_equal(
        c13["expected_tv"],
        orderstats.reference_table(SMALL["distributions"], SMALL["k"], SMALL["scales"])[
            "expected_tv"
        ],
    )
    assert (root / "logs" / "crossover.log").exists() and (
        root / "logs" / "orderstats.log"
    ).exists()


def test_one_vector_has_no_interval():
    found = crossover.crossover(crossover.sample(2, "positive", UNIFORM01, 4, 1))
    assert found.crossing and math.isnan(found.s_low) and math.isnan(found.s_high)
    assert found.notes == ("n < 2: no interval",)


def test_table_takes_each_distributions_own_k():
    """A distribution with its own ``k`` list gets those K only, as its sweep cells do (the
    default config's positive stops at K = 1000 while the config's k reaches 10^4): the
    others take the config's k."""
    distributions = {
        "positive": {**UNIFORM01, "k": [2, 3]},
        "expo": {"family": "exponential"},
    }
    table = crossover.crossover_table(
        SMALL["seed"], distributions, [2, 10], SMALL["scales"], SMALL["vectors"]
    )
    ks = table.groupby("distribution", sort=False)["k"].apply(list).to_dict()
    assert ks == {"positive": [2, 3], "expo": [2, 10]}
