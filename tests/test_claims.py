"""The claims ledger: worked example, exact constructions, and the ledger on small sweeps.

Oracles are independent of the code under test: the numbers printed in the thread, math.exp
and math.lgamma, mpmath, sys.float_info, hand-computed ulp distances, and the summary's own
rows pooled by hand. The claims read what the jobs wrote and never run the sweep or draw a
vector: the cells a claim needs beyond the config are planned by required_config and run
here as the workflow runs them (rule claims_shard), and the checks on seeded vectors are
computed as rules claim_checks_cell and claim_checks compute them (softmaxlab.claim_checks,
tested in test_claim_checks.py).
"""

import math
import re
import sys

import ml_dtypes
import mpmath
import numpy as np
import pandas as pd
import pytest
from sweeps import SMALL

from softmaxlab import claim_checks, claims, config, sweep
from softmaxlab.claims import c13, c14, common
from softmaxlab.claims.data import entry_label
from softmaxlab.formatting import interval, number, percent


def _summary(cfg):
    return sweep.sort_summary(sweep.run_cells(cfg, sweep.cells(cfg)), cfg)


def _cells(cfg):
    """The claims cells of cfg, as rules claims_shard and claims_cells compute them."""
    extra = claims.required_config(cfg)
    return None if extra is None else _summary(extra)


@pytest.fixture(scope="module")
def small():
    cfg = config.validate(SMALL)
    summary = _summary(cfg)
    cells = _cells(cfg)
    example = claims.worked_example(cfg["methods"])
    checks = claim_checks.checks_table(cfg)
    built = claims.build_claims(summary, example, cfg, cells, checks=checks)
    ledger, details = claims.ledger_frame(built)
    return cfg, summary, cells, example, checks, built, ledger, details


# --- C1 ---------------------------------------------------------------------------------


def test_worked_example_matches_thread_numbers():
    table = claims.worked_example([{"method": "softmax", "base": 100, "stable": False}])
    assert list(table.columns) == ["method", "label", "p1", "p2", "p3", "p4", "sum"]
    assert list(table["label"][:3]) == ["argmax", "linear", "softmax"]
    rows = table.set_index("label")
    cols = ["p1", "p2", "p3", "p4"]
    # The thread's printed numbers.
    np.testing.assert_array_equal(rows.loc["argmax", cols].to_numpy(float), [0, 1, 0, 0])
    np.testing.assert_array_equal(
        rows.loc["linear", cols].to_numpy(float).round(4), [0.2222, 0.4444, 0.2222, 0.1111]
    )
    np.testing.assert_array_equal(
        rows.loc["softmax", cols].to_numpy(float).round(4), [0.1025, 0.7573, 0.1025, 0.0377]
    )
    # Full precision against math.exp: e^x / sum e^x and 100^x / sum 100^x.
    x = [2.0, 4.0, 2.0, 1.0]
    z = sum(math.exp(v) for v in x)
    np.testing.assert_allclose(
        rows.loc["softmax", cols].to_numpy(float), [math.exp(v) / z for v in x], rtol=1e-15
    )
    z100 = sum(100.0**v for v in x)
    np.testing.assert_allclose(
        rows.loc["softmax(base=100, stable=False)", cols].to_numpy(float),
        [100.0**v / z100 for v in x],
        rtol=1e-14,
    )
    np.testing.assert_allclose(table["sum"], 1.0, rtol=1e-15)


def test_worked_example_adds_thread_methods_once():
    table = claims.worked_example([{"method": "linear"}, {"method": "sparsemax"}])
    assert list(table["label"]) == ["argmax", "linear", "softmax", "sparsemax"]


# --- exact constructions --------------------------------------------------------------------


def test_overflow_thresholds_match_float_info():
    big = sys.float_info.max
    t100 = claims.exp_overflow_threshold("float64", 100.0)
    te = claims.exp_overflow_threshold("float64")
    assert t100 == pytest.approx(math.log(big) / math.log(100), rel=1e-15)
    assert round(t100, 2) == 154.13
    assert round(te, 2) == 709.78
    assert claims.iterated_exp_threshold("float64", 3) == pytest.approx(1.8817, abs=5e-5)
    assert claims.iterated_exp_threshold("float64", 2) == pytest.approx(6.565, abs=5e-4)
    # float16's max is 65504: ln(65504) = 11.0898.
    assert claims.exp_overflow_threshold("float16") == pytest.approx(math.log(65504), rel=1e-15)


def test_overflow_point_includes_rounding_in_coarse_formats():
    # float8_e5m2: max 57344, spacing 8192 there, so values below 61440 round to max:
    # 3^10 = 59049 does not overflow although it exceeds max.
    t = claims.exp_overflow_threshold("float8_e5m2", 3.0, rounding=True)
    assert t == pytest.approx(math.log(61440) / math.log(3), rel=1e-12)
    check = claims.threshold_check("float8_e5m2", t, "softmax", base=3.0, stable=False)
    assert check["consistent"] and check["x_below"] == 10.0


# The smallest real that rounds to inf in float64: 2^1024 - 2^970 (max + half an ulp).
F64_OVERFLOW = mpmath.mpf(2) ** 1024 - mpmath.mpf(2) ** 970


def _iterated_log(value, depth):
    for _ in range(depth):
        value = mpmath.log(value)
    return value


@pytest.mark.parametrize(
    "method, params, exact",
    [
        ("softmax", {"stable": False}, lambda: mpmath.log(F64_OVERFLOW)),
        (
            "softmax",
            {"base": 100.0, "stable": False},
            lambda: mpmath.log(F64_OVERFLOW) / mpmath.log(100),
        ),
        ("iterated_exp", {"depth": 3}, lambda: _iterated_log(F64_OVERFLOW, 3)),
        ("iterated_exp", {"depth": 2}, lambda: _iterated_log(F64_OVERFLOW, 2)),
    ],
)
def test_threshold_is_where_float64_overflows(method, params, exact):
    with mpmath.workdps(40):
        t_exact = exact()
        boundary = claims.overflow_boundary("float64", method, **params)
        if method == "softmax":
            # One pow/exp, accurate to < 1 ulp of the result, i.e. far below an ulp of x: the
            # last finite input is exactly the float64 just below the real threshold.
            assert mpmath.mpf(boundary) < t_exact < mpmath.mpf(np.nextafter(boundary, np.inf))
        else:
            # exp(exp(...)) rounds its intermediates: the boundary may move by one ulp of x.
            assert abs(mpmath.mpf(boundary) - t_exact) <= np.spacing(boundary)
    depth = params.get("depth", 1)
    if method == "iterated_exp":
        t = claims.iterated_exp_threshold("float64", depth, rounding=True)
    else:
        t = claims.exp_overflow_threshold("float64", params.get("base", math.e), rounding=True)
    check = claims.threshold_check("float64", t, method, **params)
    assert check["consistent"]
    assert check["x_below"] < t < check["x_above"]
    assert check["x_above"] <= np.nextafter(np.nextafter(check["x_below"], np.inf), np.inf)


def test_ulp_distance_known_cases():
    one = np.float64(1.0)
    assert claims.ulp_distance(np.array([one]), np.array([np.nextafter(one, 2.0)]))[0] == 1
    assert claims.ulp_distance(np.array([0.0]), np.array([-0.0]))[0] == 0
    tiny = np.float64(5e-324)
    assert claims.ulp_distance(np.array([-tiny]), np.array([tiny]))[0] == 2
    # float16: 1 and 1 + 4 eps are 4 apart; 2 is 1024 steps above 1 (10 mantissa bits).
    h = np.array([1.0, 1.0], dtype=np.float16)
    g = np.array([1.0 + 4 * 2**-10, 2.0], dtype=np.float16)
    np.testing.assert_array_equal(claims.ulp_distance(h, g), [4, 1024])
    # float8_e4m3fn: 1.0 -> 2.0 is 8 steps (3 mantissa bits); NaN against a number is inf.
    f8 = ml_dtypes.float8_e4m3fn
    a = np.array([1.0, np.nan, np.nan], dtype=f8)
    b = np.array([2.0, 1.0, np.nan], dtype=f8)
    np.testing.assert_array_equal(claims.ulp_distance(a, b), [8, np.inf, 0])


# --- C12 (C11's maximum-entropy check: test_claim_checks.py) ------------------------------


def test_stirling_table_against_mpmath():
    table, first = claims.stirling_table()
    rows = table.set_index("n")
    assert math.isnan(rows.loc[1, "rel_error"])  # ln 1! = 0: undefined
    for n in (2, 10, 1000, 10**6):
        exact = float(mpmath.loggamma(n + 1))
        approx = n * math.log(n) - n
        assert rows.loc[n, "ln_factorial"] == pytest.approx(exact, rel=1e-14)
        assert rows.loc[n, "rel_error"] == pytest.approx(abs(approx - exact) / exact, rel=1e-9)
    # The three-term form's error, about 1/(12 n), from Stirling's series (Robbins 1955):
    # ln n! - (n ln n - n + (1/2) ln(2 pi n)) = 1/(12n) - 1/(360n^3) + 1/(1260n^5) - ...,
    # an oracle that shares no subtraction with the table. In float64 the table kept only
    # a few digits of it at n = 10^6 (6.54e-15 against 6.50e-15).
    for n in (100, 1000, 10**4, 10**5, 10**6):
        series = 1 / (12 * n) - 1 / (360 * n**3) + 1 / (1260 * n**5)
        expected = series / float(mpmath.loggamma(n + 1))
        got = rows.loc[n, "rel_error_with_half_ln_2pi_n"]
        assert got == pytest.approx(expected, rel=1e-12, abs=0)

    # The first n under 1%, checked with math.lgamma on both sides.
    def rel(n):
        return abs(n * math.log(n) - n - math.lgamma(n + 1)) / math.lgamma(n + 1)

    assert rel(first) < 0.01 <= rel(first - 1)
    assert rows.loc[10**6, "rel_error"] < 1e-6


def test_log_crossing_interpolates_in_log_scale():
    scales = np.array([0.1, 1.0, 10.0])
    # -1 at 1 and +1 at 10: halfway in log scale is sqrt(10).
    assert common.log_crossing(scales, np.array([-2.0, -1.0, 1.0])) == pytest.approx(10**0.5)
    assert math.isnan(common.log_crossing(scales, np.array([1.0, 2.0, 3.0])))


def test_falls_below_interpolates_in_log_scale_and_log_value():
    scales = np.array([0.1, 1.0, 10.0, 100.0])
    # a power law 0.5 / s is interpolated exactly: 0.1 at s = 5
    assert common.falls_below(scales, 0.5 / scales, 0.1) == pytest.approx(5.0, rel=1e-12)
    # linearly in the value where the lower end is 0: halfway in log scale
    values = np.array([0.9, 0.2, 0.0, 0.0])
    assert common.falls_below(scales, values, 0.1) == pytest.approx(10**0.5)
    # the last fall; below from the start: the smallest scale; never: NaN
    assert common.falls_below(scales, np.array([0.2, 0.05, 0.2, 0.05]), 0.1) > 10.0
    assert common.falls_below(scales, np.array([0.05, 0.01, 0.0, 0.0]), 0.1) == 0.1
    assert math.isnan(common.falls_below(scales, np.array([0.9, 0.5, 0.3, 0.2]), 0.1))


@pytest.mark.parametrize("k", [2, 3, 10, 100, 1000])
def test_c13_scale_where_tv_falls_below_tracks_the_exact_curve(k):
    """On softmax's exact E[TV] for normal logits (order statistics) at the default
    config's half-decade scales, the interpolated scale where it falls below 0.1 lies
    within 1.5% of the exact root; interpolating the TV itself put it 4% to 18% late."""
    from softmaxlab import orderstats

    scales = np.array(config.validate({})["scales"], dtype=np.float64)
    tv = np.array([orderstats.reference(k, s).expected_tv for s in scales])
    exact = orderstats.tv_crossing(k, c13.C13_TV_TARGET)
    interpolated = common.falls_below(scales, tv, c13.C13_TV_TARGET)
    assert interpolated == pytest.approx(exact, rel=0.015)
    linear = common.log_crossing(scales, -tv, -c13.C13_TV_TARGET)
    assert linear / exact - 1 > 0.04


def test_c13_interval_of_the_scale_where_tv_falls_below():
    scales = np.array([1.0, 10.0, 100.0])
    mean = np.array([0.5, 0.1 / 10**0.5, 0.001])  # falls below 0.1 between 1 and 10
    low, high = c13.reach_interval(scales, 0.9 * mean, 1.1 * mean)
    estimate = common.falls_below(scales, mean, 0.1)
    assert low < estimate < high
    assert common.falls_below(scales, 0.9 * mean, 0.1) == low
    # the lower bound below the target from the start: the scale may lie below the grid;
    # the upper one never below it: beyond every scale
    assert c13.reach_interval(scales, np.array([0.05, 0.01, 0.0]), mean) == (
        0.0,
        common.falls_below(scales, mean, 0.1),
    )
    assert c13.reach_interval(scales, mean, np.array([0.9, 0.5, 0.3]))[1] == math.inf


def test_c13_against_the_order_statistics_reference(small):
    """With the order-statistics table (rule orderstats), C13 compares each normal cell's
    mean with the exact E[TV] in its interval and in standard errors, recomputed here from
    the summary's n, mean and std, and quotes the exact scale where E[TV] = 0.1 with whether
    the sweep's interval holds it."""
    from softmaxlab import orderstats

    cfg, summary, cells, *_ = small
    table = orderstats.reference_table(cfg["distributions"], cfg["k"], cfg["scales"])
    data = claims.ClaimData(summary, cfg, cells, orderstats=table)
    result = c13.measure_c13(data)
    reference = result.details["C13_order_statistics"]
    rows = summary[
        (summary["label"] == "softmax")
        & (summary["metric"] == "tv_to_argmax")
        & (summary["dtype"] == "float64")
        & (summary["distribution"] == "normal")
    ].set_index(["k", "scale"])
    assert len(reference) == len(cfg["k"]) * len(cfg["scales"]) == result.reference_cells
    for row in reference.itertuples():
        cell = rows.loc[(row.k, row.scale)]
        exact = orderstats.reference(row.k, row.scale).expected_tv
        assert row.expected_tv == exact and row.sweep_tv == cell["mean"]
        assert row.standard_errors == pytest.approx(
            (cell["mean"] - exact) / (cell["std"] / math.sqrt(cell["n"])), rel=1e-12
        )
        assert row.sweep_median == cell["median"]
    assert result.reference_vector_sets == len(cfg["k"])
    z = reference["standard_errors"].abs()
    assert result.reference_within_two_se == int((z <= 2).sum())
    assert result.reference_farthest[5] == pytest.approx(
        reference.loc[z.idxmax(), "standard_errors"]
    )
    speed = result.details["C13_speed"].set_index(["distribution", "k"])
    for k in cfg["k"]:
        exact = orderstats.tv_crossing(k, c13.C13_TV_TARGET)
        row = speed.loc[("normal", k)]
        assert row["exact_scale_tv_below_target"] == exact
        held = row["scale_tv_below_target_low"] <= exact <= row["scale_tv_below_target_high"]
        assert row["exact_inside_interval"] == held
        assert ("normal", k, exact, held) in result.exact_reach
    assert speed.loc[("positive", 2), "exact_inside_interval"] is pd.NA
    assert "; the exact scale where E[TV] = 0.1 (order statistics): K=2 " in c13.value_c13(result)


def test_c13_trend_in_k_driven_to_each_outcome():
    """Later: the largest K's interval above the smallest K's, no step's interval below the
    previous one's; not later: a step whose interval lies below; else not told apart (the
    default sweep's gumbel K = 10 and 100: 7.5 and 7.7, overlapping)."""
    lows, highs = np.array([3.0, 6.0, 9.0]), np.array([4.0, 8.0, 11.0])
    assert c13.trend(lows, highs) == c13.LATER
    assert c13.trend(np.array([3.0, 6.0, 3.5]), np.array([4.0, 8.0, 4.5])) == c13.NOT_LATER
    assert c13.trend(np.array([3.0, 3.5]), np.array([4.0, 4.5])) == c13.NOT_TOLD_APART
    # a later K whose interval is open above still counts when its low end is clear
    assert c13.trend(np.array([3.0, 5.0]), np.array([4.0, math.inf])) == c13.LATER


# --- the ledger -------------------------------------------------------------------------

ALL_CLAIMS = [f"C{i}" for i in range(1, 16)]
OUTCOMES = {*claims.VERDICTS, claims.NOT_MEASURED}


def test_ledger_shape_and_verdicts(small):
    *_, ledger, details = small
    assert list(ledger.columns) == list(claims.LEDGER_COLUMNS)
    assert list(ledger["claim"]) == ALL_CLAIMS
    assert set(ledger["verdict"]) <= OUTCOMES
    assert (
        ledger[["statement", "measure", "value", "conditions", "outcomes"]].map(len).min().min() > 0
    )
    # No training JSON given: C15 says so instead of guessing; every other claim is measured.
    verdict = ledger.set_index("claim")["verdict"]
    assert verdict["C15"] == claims.NOT_MEASURED
    assert (verdict.drop("C15") != claims.NOT_MEASURED).all()
    for name in details:
        assert name.split("_")[0] in set(ledger["claim"]), name
    for needed in ("C1_worked_example", "C2_crossover", "C7_thresholds", "C11_maxent"):
        assert needed in details


def test_ledger_verdicts_on_small_sweep(small):
    *_, built, ledger, details = small
    verdict = ledger.set_index("claim")["verdict"]
    result = {claim.claim: claim.result for claim in built}
    assert verdict["C1"] == "holds"
    # Linear is closer on small positive logits, softmax at large scale: a crossover exists,
    # interpolated between grid points (no root-finding table given).
    assert verdict["C2"] == "holds with conditions"
    cross = details["C2_crossover"]
    assert cross["crossover_scale"].between(0.1, 200).all()
    assert set(cross["source"]) == {"interpolated between grid points"}
    # C5: base 3 on [2, 4, 2, 1] gives 3^4 / (3^2 + 3^4 + 3^2 + 3) = 81/102, base e 0.7573.
    assert verdict["C5"] == "does not hold"
    assert result["C5"].example_max_base == pytest.approx(81 / 102, rel=1e-15)
    z = sum(math.exp(v) for v in (2, 4, 2, 1))
    assert result["C5"].example_max_e == pytest.approx(math.exp(4) / z, rel=1e-15)
    assert result["C5"].identity_ok
    assert verdict["C11"] == "holds" and verdict["C12"] == "holds"
    # The analytic thresholds predict every measured overflow count exactly.
    assert details["C7_overflow_cells"]["agrees"].all()
    th = details["C7_thresholds"].set_index(["dtype", "base"])
    assert th.loc[("float64", "100"), "threshold"] == pytest.approx(154.127, abs=1e-3)
    # C10: the stabilised form's inner value E_(d-1) overflows past ln^(d-1) max (mpmath).
    with mpmath.workdps(30):
        top = mpmath.mpf(sys.float_info.max)
        inner = (float(mpmath.log(top)), float(mpmath.log(mpmath.log(top))))
    assert result["C10"].inner_threshold == pytest.approx(inner, rel=1e-15)
    assert result["C10"].naive_threshold[0] == pytest.approx(inner[1], rel=1e-15)
    assert details["C10_thresholds"]["consistent"].all()
    # Hardmax's Jacobian along a random direction is exactly zero on every measured vector;
    # softmax's NLL gradient with target = argmin does not vanish at any scale.
    jac = details["C3_jacobian_secondary"]
    assert (jac[jac["label"] == "argmax"]["jacobian_norm_mean"] == 0).all()
    assert (details["C3_nll_gradient"]["nll_grad_norm_target_argmin"] > 0.5).all()
    # C4's table: n counts a vector once per scale; the distinct vectors are one scale's
    cfg = small[0]
    linear = details["C4_linear_invalid"]
    n_scales = len(cfg["scales"])
    assert (linear["independent_vectors"] * n_scales == linear["n"]).all()
    assert linear["independent_vectors"].tolist() == [sweep.n_vectors(cfg, k) for k in linear["k"]]


def test_claims_job_runs_no_sweep(small, monkeypatch):
    cfg, summary, cells, example, checks, built, *_ = small

    def forbidden(*args, **kwargs):
        raise AssertionError("the claims job must not run the sweep or draw a vector")

    for module in (sweep, sweep.run):  # the package's names and the calls inside the run
        monkeypatch.setattr(module, "run_cells", forbidden)
        monkeypatch.setattr(module, "evaluate_group", forbidden)
    # Every seeded draw (softmaxlab.sampling.stream, numpy's generators) and every check
    # on seeded vectors is the workflow's: the claims only read their table.
    monkeypatch.setattr(np.random, "Generator", forbidden)
    monkeypatch.setattr(np.random, "default_rng", forbidden)
    for name in ("cell_checks", "fixed_checks", "maxent_check", "softmax_ce_gradient_check"):
        monkeypatch.setattr(claim_checks, name, forbidden)
    again = claims.build_claims(summary, example, cfg, cells, checks=checks)
    assert [(c.value, c.verdict, c.conditions) for c in again] == [
        (c.value, c.verdict, c.conditions) for c in built
    ]


def test_the_nll_rows_are_measured_once_for_every_claim_that_reads_them(small, monkeypatch):
    """C3, C10 and C14 read C14's measurement of the NLL rows: one measure_c14 a ledger,
    and the same claims as when each measured them."""
    cfg, summary, cells, example, checks, built, *_ = small
    calls = []
    measure = c14.measure_c14

    def counted(frame):
        calls.append(frame)
        return measure(frame)

    monkeypatch.setattr(c14, "measure_c14", counted)
    again = claims.build_claims(summary, example, cfg, cells, checks=checks)
    assert len(calls) == 1
    assert [(c.value, c.verdict, c.conditions) for c in again] == [
        (c.value, c.verdict, c.conditions) for c in built
    ]


def test_required_config_plans_what_the_config_lacks():
    default = config.validate(config.load_config_file("config/config.yaml"))
    assert claims.required_config(default) is None  # the default sweep runs every cell
    cfg = config.validate({**SMALL, "distributions": {"normal": {"family": "normal"}}})
    extra = claims.required_config(cfg)
    labels = {entry["method"] + str(sorted(entry.items())) for entry in extra["methods"]}
    assert any("iterated_exp" in label and "stable" in label for label in labels)
    # A non-negative distribution for C2 and C4, which the config lacks.
    assert extra["distributions"]["positive"] == {"family": "uniform", "low": 0.0, "high": 1.0}
    assert extra["dtypes"] == ["float64", "float32", "float16"]
    assert (extra["seed"], extra["scales"], extra["k"]) == (cfg["seed"], cfg["scales"], cfg["k"])


def test_without_the_claims_cells_a_claim_says_not_measured(small):
    cfg, summary, *_ = small
    ledger, _ = claims.build_ledger(summary, None, cfg)
    rows = ledger.set_index("claim")
    row = rows.loc["C10"]
    assert row["verdict"] == claims.NOT_MEASURED
    assert "not in the summary or the claims cells" in row["conditions"]
    # Without the checks table, the claims that read it say so instead of drawing vectors.
    for claim in ("C4", "C5", "C6", "C11"):
        assert rows.loc[claim, "verdict"] == claims.NOT_MEASURED, claim
        assert "claim_checks.csv" in rows.loc[claim, "conditions"], claim


def _pooled_by_hand(rows):
    n = rows["n"].to_numpy(float)
    return float(np.sum(n * rows["mean"].to_numpy(float)) / n.sum())


def test_one_pooling_rule_one_number(small):
    from softmaxlab.figures import heatmap

    cfg, summary, cells, *_, built, ledger, details = small
    result = {claim.claim: claim.result for claim in built}
    # Linear's invalid share on signed logits: the same number in C2 and C4, pooled by hand.
    rows = summary[
        (summary["label"] == "linear")
        & (summary["metric"] == "invalid")
        & (summary["dtype"] == "float64")
        & (summary["distribution"] == "normal")
    ]
    assert result["C2"].signed_invalid == pytest.approx(_pooled_by_hand(rows), rel=1e-12)
    assert result["C4"].signed_invalid == result["C2"].signed_invalid
    # ... and per K, at the grid's ends (the pooled share is the K grid's)
    ends = [(k, _pooled_by_hand(part)) for k, part in rows.groupby("k")]
    assert [k for k, _ in result["C4"].signed_by_k] == [ends[0][0], ends[-1][0]]
    for (_, mine), (_, theirs) in zip([ends[0], ends[-1]], result["C4"].signed_by_k, strict=True):
        assert theirs == pytest.approx(mine, rel=1e-12)
    shown = percent(result["C2"].signed_invalid)
    assert shown in ledger.set_index("claim").loc["C2", "conditions"]
    assert shown in ledger.set_index("claim").loc["C4", "value"]
    # Naive softmax's largest float16 overflow rate: C8 and the overflow heat map agree.
    naive = dict(zip(result["C8"].dtypes, result["C8"].naive_overflow, strict=True))
    heat = heatmap.prepare(sweep.headline_rows(summary), "overflow").tables["float16"]
    assert heat.loc["softmax(stable=False)"].max() == pytest.approx(naive["float16"], rel=1e-12)
    headline = sweep.headline_rows(summary)
    part = headline[
        (headline["label"] == "softmax(stable=False)")
        & (headline["metric"] == "overflow")
        & (headline["dtype"] == "float16")
    ]
    by_scale = [_pooled_by_hand(p) for _, p in part.groupby("scale")]
    assert naive["float16"] == pytest.approx(max(by_scale), rel=1e-12)
    rows = pd.concat([summary, cells]) if cells is not None else summary
    # C7's distances at the scale nearest 1 (3 of 0.1, 3, 200), pooled by hand
    tv = rows[(rows["metric"] == "tv_to_argmax") & (rows["dtype"] == "float64")]
    scale, tv_100, tv_e = result["C7"].unit_tv
    assert scale == 3.0
    by_label = {
        label: _pooled_by_hand(tv[(tv["label"] == label) & (tv["scale"] == scale)])
        for label in ("softmax(base=100)", "softmax")
    }
    assert (tv_100, tv_e) == pytest.approx((by_label["softmax(base=100)"], by_label["softmax"]))
    # C2's paired bound, from the summary's own means, spreads and counts
    tv = rows[
        (rows["metric"] == "tv_to_argmax")
        & (rows["dtype"] == "float64")
        & (rows["distribution"] == "positive")
        & rows["label"].isin(["softmax", "linear"])
    ].drop_duplicates(["scale", "k", "label"])
    bounds = []
    for _, cell in tv.groupby(["k", "scale"]):
        a, b = (cell[cell["label"] == label].iloc[0] for label in ("softmax", "linear"))
        n = min(a["n"], b["n"])
        bounds.append(abs(b["mean"] - a["mean"]) / ((a["std"] + b["std"]) / math.sqrt(n)))
    assert result["C2"].weakest_z == pytest.approx(min(bounds), rel=1e-12)
    assert details["C2_distance"]["paired_z_bound"].min() == result["C2"].weakest_z
    # C10's widest gap between the naive and the stabilised iterated exp, pooled by hand
    for depth, (scale, naive_rate, stable_rate) in zip(
        (2, 3), result["C10"].widest_gap, strict=True
    ):
        rates = {}
        for stable in (False, True):
            label = entry_label(("iterated_exp", {"depth": depth, "stable": stable}))
            part = rows[
                (rows["label"] == label)
                & (rows["metric"] == "overflow")
                & (rows["dtype"] == "float64")
            ]
            rates[stable] = {s: _pooled_by_hand(p) for s, p in part.groupby("scale")}
        gaps = {s: abs(rates[False][s] - rates[True][s]) for s in rates[False]}
        widest = max(gaps, key=gaps.get)
        assert gaps[scale] == pytest.approx(gaps[widest], abs=1e-15)
        assert (naive_rate, stable_rate) == pytest.approx((rates[False][scale], rates[True][scale]))


NUMBER = re.compile(r"(?<![A-Za-z_])-?\d[\d,]*(?:\.\d+)?(?:e[+-]\d+)?%?")


def test_answer_sentences_each_quote_their_result(small):
    *_, built, ledger, _ = small
    answer = claims.answer_table(built)
    assert list(answer.columns) == list(claims.ANSWER_COLUMNS)
    assert 5 <= len(answer) <= 8
    assert list(answer["order"]) == list(range(1, len(answer) + 1))
    assert list(answer["claim"]) == ["C14", "C5", "C11", "C7", "C10", "C2"]  # no C15 here
    result = {claim.claim: claim.result for claim in built}
    expected = {
        "C14": sum(1 for e in result["C14"].alternatives if e.failures),
        "C5": result["C5"].example_max_base,
        "C11": result["C11"].worst,
        "C7": result["C7"].threshold_e,
        "C10": result["C10"].inner_threshold[1],
        "C2": max(c.scale for c in result["C2"].crossovers if math.isfinite(c.scale)),
    }
    for row in answer.itertuples(index=False):
        assert row.value == expected[row.claim]
        assert f"({row.claim}" in row.sentence
        # Exactly one number besides the claim ids, and it is the value, formatted.
        numbers = NUMBER.findall(re.sub(r"C\d+", "", row.sentence))
        assert len(numbers) == 1, (row.claim, numbers)
        spelled = {percent(row.value)} | {number(row.value, d) for d in range(1, 8)}
        assert numbers[0] in spelled, (row.claim, numbers[0])
    assert expected["C7"] == pytest.approx(math.log(sys.float_info.max), rel=1e-15)


def test_ledger_is_deterministic_through_csv(small, tmp_path):
    # A second build, from the tables read back from CSV as the workflow does, gives
    # identical frames: the ledger and every detail table.
    cfg, summary, cells, example, checks, _, ledger, details = small
    summary.to_csv(tmp_path / "s.csv", index=False)
    cells.to_csv(tmp_path / "c.csv", index=False)
    example.to_csv(tmp_path / "e.csv", index=False)
    sweep.write_csv(checks, tmp_path / "claim_checks.csv")
    again, details_again = claims.build_ledger(
        sweep.read_summary(tmp_path / "s.csv"),
        sweep.read_table(tmp_path / "e.csv"),
        cfg,
        sweep.read_summary(tmp_path / "c.csv"),
        checks=claims.read_checks(tmp_path / "claim_checks.csv"),
    )
    pd.testing.assert_frame_equal(ledger, again)
    assert list(details) == list(details_again)
    for name in details:
        pd.testing.assert_frame_equal(details[name], details_again[name])


def test_ledger_reads_the_claims_cells_for_what_the_summary_lacks():
    # One method, one signed distribution, one narrow format: the other methods, the
    # positive distribution and float64 come from the claims cells; fp8 e4m3 cannot hold
    # the sum K = 1000.
    cfg = config.validate(
        {
            "seed": 2,
            "scales": [1.0, 300.0, 3000.0],  # at 3000 the cast leaves no finite vector
            "k": [3, 1000],
            "dtypes": ["float8_e4m3fn"],
            "distributions": {"normal": {"family": "normal"}},
            "methods": [{"method": "softmax"}],
            "vectors": {"elements": 30, "min": 2, "max": 10},
            "grad_vectors": 2,
        }
    )
    ledger, details = claims.build_ledger(
        _summary(cfg), None, cfg, _cells(cfg), checks=claim_checks.checks_table(cfg)
    )
    assert list(ledger["claim"]) == ALL_CLAIMS
    assert set(ledger["verdict"]) <= OUTCOMES
    verdict = ledger.set_index("claim")["verdict"]
    assert (verdict.drop("C15") != claims.NOT_MEASURED).all()
    # psi = 1 is uniform: fp8 computes in float32 (the headline mode), where the sum of
    # K = 1000 ones is exact; natively the format could not hold it (448 < 1000).
    uniform = details["C6_uniform"].set_index(["dtype", "k", "stable"])
    assert uniform.loc[("float8_e4m3fn", 1000, False), "exactly_uniform"] == 1
    assert uniform.loc[("float64", 1000, False), "exactly_uniform"] == 1
    # Stable softmax never overflows, in any format, computed as the frameworks do; the
    # conditions say that arithmetic.
    assert verdict["C8"] == "holds"
    conditions = ledger.set_index("claim").loc["C8", "conditions"]
    assert (
        "(float8_e4m3fn as frameworks compute them, in float32 arithmetic; with every "
        in conditions
    )
    # C7 compares only cells that measured a vector: fp8 at scale 3000 measured none.
    cells = details["C7_overflow_cells"]
    assert (cells["n"] > 0).all() and cells["agrees"].all()
    assert 3000.0 not in set(cells.loc[cells["dtype"] == "float8_e4m3fn", "scale"])


def test_c8_reads_the_native_mode_beside_the_frameworks_arithmetic():
    # fp8 e4m3 in both modes. At scale 0.01 each of the K = 1000 terms e^(x - max x) rounds
    # to 1 or 0.9375 in the format, so natively their sum passes the format's largest
    # value, 448, and every output is NaN (e4m3 has no inf); in float32 arithmetic the sum
    # is held and nothing overflows. K = 3 cannot overflow at all (a sum of 3 terms <= 1).
    cfg = config.validate(
        {
            "seed": 2,
            "scales": [0.01, 1.0],
            "k": [3, 1000],
            "dtypes": ["float8_e4m3fn"],
            "compute": {"float8_e4m3fn": ["float32", "native"]},
            "distributions": {"normal": {"family": "normal"}},
            "methods": [{"method": "softmax"}],
            "vectors": {"elements": 30, "min": 2, "max": 10},
            "grad_vectors": 2,
        }
    )
    summary = _summary(cfg)
    checks = claim_checks.checks_table(cfg)
    ledger, details = claims.build_ledger(summary, None, cfg, _cells(cfg), checks=checks)
    row = ledger.set_index("claim").loc["C8"]
    assert row["verdict"] == "holds with conditions"
    # n = 30 // 3 = 10 vectors at K = 3 and the minimum 2 at K = 1000: 2 of 12 pooled.
    assert (
        "(compute: native, measured in float8_e4m3fn), an intermediate overflowed in up to "
        in row["conditions"]
    )
    assert (
        f"and the output is non-finite in up to {percent(2 / 12)} of float8_e4m3fn's vectors"
        in row["conditions"]
    )
    # the cell that overflowed most, found by hand in the summary's native rows
    overflow = summary[
        (summary["compute"] == "native")
        & (summary["label"] == "softmax")
        & (summary["metric"] == "overflow")
    ]
    worst = overflow.loc[overflow["mean"].idxmax()]
    assert worst["mean"] > 0
    assert (
        f"in one cell {percent(worst['mean'])}, {round(worst['mean'] * worst['n'])} of "
        f"{worst['n']} vectors: float8_e4m3fn normal K=1,000 at scale "
        f"{number(worst['scale'])};" in row["conditions"]
    )
    # the stable-vs-naive table says the share its rates leave out (none here: |x| < 448)
    assert (details["C8_stable_vs_naive"]["input_nonfinite_rate"] == 0).all()
    native = details["C8_stable_native"].set_index("scale")
    assert list(native["compute"].unique()) == ["native"]
    assert native.loc[0.01, "nonfinite_output_rate"] == pytest.approx(2 / 12)
    # every rate is the summary's own native rows pooled by hand (sum n mean / sum n)
    rows = summary[
        (summary["compute"] == "native")
        & (summary["label"] == "softmax")
        & summary["metric"].isin(["overflow", "nonfinite_output"])
    ]
    for (metric, scale), part in rows.groupby(["metric", "scale"]):
        pooled = (part["n"] * part["mean"]).sum() / part["n"].sum()
        assert native.loc[scale, f"{metric}_rate"] == pytest.approx(pooled, abs=1e-15)
    # the same summary read as the claims job reads it: headline rows without the compute
    # column, and the native rows apart (modes), gives the same ledger
    headline = sweep.headline_rows(summary).drop(columns="compute")
    again, details_again = claims.build_ledger(
        headline, None, cfg, _cells(cfg), checks=checks, modes=summary
    )
    pd.testing.assert_frame_equal(again, ledger)
    pd.testing.assert_frame_equal(details_again["C8_stable_native"], details["C8_stable_native"])
    # without the native rows, C8 reads the frameworks' arithmetic alone, where neither form
    # overflowed at these scales (the naive one neither: e^3 is far from float32's limit)
    alone, alone_details = claims.build_ledger(headline, None, cfg, _cells(cfg), checks=checks)
    assert alone.set_index("claim").loc["C8", "conditions"] == (
        "neither computation overflowed at the configured scales"
    )
    assert "C8_stable_native" not in alone_details


def test_ledger_on_a_degenerate_config():
    # One scale, one K, one non-negative distribution, one narrow format, one method: every
    # claim still gets a computed verdict, and none claims a trend it could not measure.
    cfg = config.validate(
        {
            "seed": 5,
            "scales": [2.0],
            "k": [4],
            "dtypes": ["bfloat16"],
            "distributions": {"pos": {"family": "exponential"}},
            "methods": [{"method": "taylor"}],
            "vectors": {"elements": 40, "min": 2, "max": 10},
            "grad_vectors": 2,
        }
    )
    ledger, details = claims.build_ledger(
        _summary(cfg), None, cfg, _cells(cfg), checks=claim_checks.checks_table(cfg)
    )
    assert list(ledger["claim"]) == ALL_CLAIMS
    assert set(ledger["verdict"]) <= OUTCOMES
    row = ledger.set_index("claim").loc["C13"]
    assert row["verdict"] == "does not hold" and "one scale" in row["conditions"]
    # float64 was not configured: C7 read it from the claims cells (max logit 2 x ~5 < 154).
    overflow = details["C7_overflow"]
    assert "float64" in set(overflow["dtype"])
    assert details["C7_overflow_cells"]["agrees"].all()


def test_ledger_with_a_distribution_of_its_own_k(tmp_path):
    # The default sweep has the digits logits (K = 10 from the file) beside families swept
    # at every configured K; C5, C7 and C13 once assumed every distribution had every K.
    # spread so that at scale 1 some rows pass base 100's float64 threshold, 154.1
    logits = 100 * np.random.default_rng(3).standard_normal((40, 5))
    np.save(tmp_path / "mine.npy", logits)
    cfg = config.validate(
        {
            **SMALL,
            "scales": [0.1, 1.0, 200.0],
            "distributions": {
                **SMALL["distributions"],
                "mine": {"family": "empirical", "path": str(tmp_path / "mine.npy")},
            },
        }
    )
    summary = _summary(cfg)
    assert set(summary.loc[summary["distribution"] == "mine", "k"]) == {5}
    ledger, _ = claims.build_ledger(
        summary, None, cfg, _cells(cfg), checks=claim_checks.checks_table(cfg)
    )
    assert list(ledger["claim"]) == ALL_CLAIMS
    assert set(ledger["verdict"]) <= OUTCOMES
    # no distribution is measured at every K (K = 5 has "mine" alone): C13 says so
    assert (
        "(pooled over each K's distributions, not the same at every K)"
        in (ledger.set_index("claim").loc["C13", "value"])
    )
    # C7 quotes the real logits as they are (scale 1): the summary's own rate
    row = summary[
        (summary["distribution"] == "mine")
        & (summary["scale"] == 1.0)
        & (summary["dtype"] == "float64")
        & (summary["label"] == "softmax(base=100, stable=False)")
        & (summary["metric"] == "overflow")
    ]
    rate = float(row["mean"].iloc[0])
    assert 0 < rate < 1
    assert (
        f"on real logits as they are (scale 1): mine {percent(rate)};"
        in (ledger.set_index("claim").loc["C7", "value"])
    )


def test_c13_pools_the_max_probability_over_the_distributions_at_every_k(tmp_path):
    # "mine" (K = 10 from its file) beside normal and positive at K = 2 and 10: pooled with
    # them, K = 10 would be a different mix of logits from K = 2, not just another K
    np.save(tmp_path / "mine.npy", np.random.default_rng(3).standard_normal((40, 10)))
    cfg = config.validate(
        {
            **SMALL,
            "distributions": {
                **SMALL["distributions"],
                "mine": {"family": "empirical", "path": str(tmp_path / "mine.npy")},
            },
        }
    )
    summary, cells = _summary(cfg), _cells(cfg)
    ledger, details = claims.build_ledger(
        summary, None, cfg, cells, checks=claim_checks.checks_table(cfg)
    )
    value = ledger.set_index("claim").loc["C13", "value"]
    scale = 3.0  # the configured scale nearest to 1
    both = pd.concat([summary, cells], ignore_index=True)
    rows = both[
        both["label"].isin(["softmax", "ssmax"])
        & (both["metric"] == "max_prob")
        & (both["dtype"] == "float64")
        & (both["scale"] == scale)
        & both["distribution"].isin(["normal", "positive"])
    ].drop_duplicates(["distribution", "k", "label"])
    expected = []
    for k, part in rows.groupby("k"):
        pooled = {}
        for label, mine in part.groupby("label"):
            pooled[label] = (mine["n"] * mine["mean"]).sum() / mine["n"].sum()
        expected.append(f"K={k} {number(pooled['softmax'], 3)}/{number(pooled['ssmax'], 3)}")
    assert (
        "softmax vs ssmax (pooled over normal, positive: the distributions measured at every "
        "K): " + ", ".join(expected) in value
    )
    # the scale where TV falls below 0.1: the median over the same two, "mine" left out,
    # with the medians of their intervals' ends
    speed = details["C13_speed"]
    for k, part in speed[speed["distribution"].isin(["normal", "positive"])].groupby("k"):
        median = c13.censored_median(part["scale_tv_below_target"])
        if math.isfinite(median):
            low = c13.censored_median(part["scale_tv_below_target_low"])
            high = c13.censored_median(part["scale_tv_below_target_high"])
            shown = f"{number(median, 3)} ({interval(low, high)})"
        else:
            shown = "not reached by half"
        assert f"K={k} {shown}" in value
    assert "(median over normal, positive: the distributions measured at every K;" in value
