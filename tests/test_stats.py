"""Summaries against scipy's own interval implementations and numpy's sorting."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from softmaxlab import stats


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
@settings(max_examples=100, deadline=None)
def test_wilson_matches_scipy_binomtest(case):
    successes, n = case
    low, high = stats.wilson_interval(np.array([successes]), np.array([n]))
    ref = scipy_stats.binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low[0] == pytest.approx(ref.low, abs=1e-12)
    assert high[0] == pytest.approx(ref.high, abs=1e-12)


def test_t_interval_matches_scipy():
    values = np.array([1.0, 2.0, 4.0, 8.0, 3.0])
    out = stats.summarize(values[:, None], np.array([False]))
    low, high = scipy_stats.t.interval(
        0.95, len(values) - 1, loc=values.mean(), scale=scipy_stats.sem(values)
    )
    assert out["ci_low"][0] == pytest.approx(low)
    assert out["ci_high"][0] == pytest.approx(high)
    assert out["std"][0] == pytest.approx(np.std(values, ddof=1))


def test_quantiles_are_observed_values():
    values = np.arange(1.0, 101.0)[:, None]  # 1..100
    out = stats.summarize(values, np.array([False]))
    # Type 1: the smallest x with F(x) >= q: 5, 50, 95.
    assert (out["q05"][0], out["median"][0], out["q95"][0]) == (5.0, 50.0, 95.0)


def test_nan_left_out_inf_kept():
    values = np.array([[1.0, 0.0], [np.nan, 1.0], [np.inf, 1.0], [2.0, np.nan]])
    out = stats.summarize(values, np.array([False, True]))
    assert list(out["n"]) == [3, 3]
    assert out["mean"][0] == np.inf and out["q95"][0] == np.inf and out["median"][0] == 2.0
    assert out["mean"][1] == pytest.approx(2 / 3)


def test_empty_and_single_columns():
    values = np.array([[np.nan, 5.0]])
    out = stats.summarize(values, np.array([False, False]))
    assert out["n"][0] == 0 and np.isnan(out["mean"][0]) and np.isnan(out["ci_low"][0])
    assert out["n"][1] == 1 and out["mean"][1] == 5.0 and np.isnan(out["std"][1])


@given(
    st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.just(np.nan)),
        min_size=1,
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_quantiles_match_numpy_inverted_cdf(column):
    values = np.array(column)[:, None]
    out = stats.summarize(values, np.array([False]))
    present = values[~np.isnan(values)]
    for field, q in (("q05", 0.05), ("median", 0.5), ("q95", 0.95)):
        if present.size == 0:
            assert np.isnan(out[field][0])
        else:
            expected = np.quantile(present, q, method="inverted_cdf")
            assert out[field][0] == expected or (np.isnan(expected) and np.isnan(out[field][0]))


@given(
    st.lists(
        st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(np.nan)), min_size=3, max_size=3),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=100, deadline=None)
def test_mean_and_std_match_numpy_nan_functions(rows):
    values = np.array(rows)
    out = stats.summarize(values, np.array([False, False, False]))
    for column in range(3):
        present = values[:, column][~np.isnan(values[:, column])]
        if present.size == 0:
            assert np.isnan(out["mean"][column])
            continue
        assert out["mean"][column] == pytest.approx(present.mean(), rel=1e-12, abs=1e-9)
        if present.size >= 2:
            expected = present.std(ddof=1)
            assert out["std"][column] == pytest.approx(expected, rel=1e-9, abs=1e-9)
        else:
            assert np.isnan(out["std"][column])


@given(
    st.lists(
        st.lists(
            st.one_of(st.floats(-1e6, 1e6), st.just(np.nan), st.just(np.inf)),
            min_size=2,
            max_size=2,
        ),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(1, 20), min_size=1, max_size=10),
    st.lists(st.sampled_from([0.0, 1.0, np.nan]), min_size=60, max_size=60),
)
@settings(max_examples=200, deadline=None)
def test_running_summary_over_blocks_equals_summary_of_all(rows, cuts, rates):
    """Any split into blocks gives summarize's n, quantiles and intervals of the whole
    table (moments up to rounding: Chan et al.'s merge against one two-pass sum)."""
    values = np.column_stack([np.array(rows), rates[: len(rows)]])
    is_rate = np.array([False, False, True])
    running = stats.RunningSummary(is_rate, quantile_rows=len(values))
    start = 0
    for cut in cuts * len(values):
        running.add(values[start : start + cut])
        start += cut
        if start >= len(values):
            break
    running.add(values[start:])  # a possibly empty tail
    got, expected = running.result(), stats.summarize(values, is_rate)
    for field in stats.SUMMARY_FIELDS:
        np.testing.assert_allclose(got[field], expected[field], rtol=1e-9, atol=1e-6)
    for field in ("n", "q05", "median", "q95"):
        np.testing.assert_array_equal(got[field], expected[field])


@given(st.lists(st.sampled_from([0.0, 1.0, np.nan]), min_size=1, max_size=80))
@settings(max_examples=200, deadline=None)
def test_rate_quantiles_from_counts_match_sorting(column):
    """Rates' quantiles come from their counts; they must be the type-1 order statistics."""
    values = np.array(column)[:, None]
    got = stats.summarize(values, np.array([True]))
    present = values[~np.isnan(values)]
    for field, q in (("q05", 0.05), ("median", 0.5), ("q95", 0.95)):
        if present.size == 0:
            assert np.isnan(got[field][0])
        else:
            assert got[field][0] == np.quantile(present, q, method="inverted_cdf")


def test_quantiles_of_the_first_rows_only():
    values = np.arange(100.0)[::-1, None]  # 99, 98, ..., 0
    running = stats.RunningSummary(np.array([False]), quantile_rows=10)
    running.add(values[:7])
    running.add(values[7:])
    out = running.result()
    assert out["n"][0] == 100 and out["mean"][0] == pytest.approx(49.5)
    assert out["median"][0] == 94.0  # of 99..90
