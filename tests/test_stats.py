"""Summaries against scipy's own interval implementations and numpy's sorting."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from softmaxlab import metrics, stats


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
    # A finite range (Wilson unless an inf or a value beyond 1e5 is observed), a one-sided
    # one (t clipped at 0 unless a negative value is observed), the rate's [0, 1].
    low, high = [-1e5, 0.0, 0.0], [1e5, np.inf, 1.0]
    running = stats.RunningSummary(is_rate, quantile_rows=len(values), low=low, high=high)
    start = 0
    for cut in cuts * len(values):
        running.add(values[start : start + cut])
        start += cut
        if start >= len(values):
            break
    running.add(values[start:])  # a possibly empty tail
    got, expected = running.result(), stats.summarize(values, is_rate, low=low, high=high)
    for field in stats.SUMMARY_FIELDS:
        np.testing.assert_allclose(got[field], expected[field], rtol=1e-9, atol=1e-6)
    for field in ("n", "q05", "median", "q95"):
        np.testing.assert_array_equal(got[field], expected[field])
    # The observed range, which picks the interval, is exact: numpy's over the whole table.
    with np.errstate(all="ignore"):
        present = ~np.isnan(values)
        np.testing.assert_array_equal(
            running.min,
            np.where(present.any(0), np.nanmin(np.where(present, values, np.inf), 0), np.inf),
        )
        np.testing.assert_array_equal(
            running.max,
            np.where(present.any(0), np.nanmax(np.where(present, values, -np.inf), 0), -np.inf),
        )


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


# --- the interval rule: natural ranges, observed ranges ------------------------------------


def _wilson_by_roots(mean: float, n: int, z: float = stats._Z) -> tuple[float, float]:
    """The Wilson set {mu : (mean - mu)^2 <= z^2 mu (1 - mu) / n} from the roots of its
    quadratic (numpy.roots): an independent route to the score interval."""
    a, b, c = 1 + z**2 / n, -(2 * mean + z**2 / n), mean**2
    roots = np.sort(np.roots([a, b, c]).real)
    return max(roots[0], 0.0), min(roots[1], 1.0)


@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=60),
    st.sampled_from([(0.0, 1.0), (0.0, float(np.sqrt(2))), (-2.0, 3.0)]),
)
@settings(max_examples=200, deadline=None)
def test_bounded_columns_get_wilson_on_the_rescaled_mean(column, bounds):
    """Observations in a finite [a, b]: Wilson's score set of (mean - a) / (b - a) mapped
    back, which holds the mean, lies in [a, b] and has positive width."""
    a, b = bounds
    values = a + (b - a) * np.array(column)[:, None]
    out = stats.summarize(values, np.array([False]), low=[a], high=[b])
    mean = out["mean"][0]
    low, high = _wilson_by_roots((mean - a) / (b - a), len(column))
    assert out["ci_low"][0] == pytest.approx(a + (b - a) * low, abs=1e-9)
    assert out["ci_high"][0] == pytest.approx(a + (b - a) * high, abs=1e-9)
    assert a <= out["ci_low"][0] <= mean <= out["ci_high"][0] <= b
    assert out["ci_high"][0] - out["ci_low"][0] > 0


def test_rates_keep_the_binomial_wilson_interval():
    values = np.array([[1.0], [0.0], [0.0], [1.0], [0.0], [np.nan], [0.0]])
    out = stats.summarize(values, np.array([True]), low=[0.0], high=[1.0])
    low, high = stats.wilson_interval(np.array([2.0]), np.array([6.0]))
    assert (out["ci_low"][0], out["ci_high"][0]) == (low[0], high[0])


def test_skewed_unit_column_interval_covers_where_t_fails():
    """The issue's case: 998 vectors at 0 and 2 at 1/2 (softmax's TV at K = 2, scale 316
    in miniature). The t interval's lower end is negative; Wilson's is inside [0, 1] with a
    margin above the mean of order z^2 / n."""
    values = np.zeros((1000, 1))
    values[:2] = 0.5
    out = stats.summarize(values, np.array([False]), low=[0.0], high=[1.0])
    t_low, _ = stats.t_interval(out["mean"], out["std"], out["n"])
    assert t_low[0] < 0
    low, high = _wilson_by_roots(0.001, 1000)
    assert (out["ci_low"][0], out["ci_high"][0]) == pytest.approx((low, high), abs=1e-12)
    assert 0 < out["ci_low"][0] < 0.001 < out["ci_high"][0] < 0.01


def test_one_sided_range_clips_the_t_interval():
    values = np.array([0.0, 0.0, 0.0, 0.1, 5.0])[:, None]
    out = stats.summarize(values, np.array([False]), low=[0.0], high=[np.inf])
    t_low, t_high = scipy_stats.t.interval(
        0.95, 4, loc=values.mean(), scale=scipy_stats.sem(values[:, 0])
    )
    assert t_low < 0
    assert out["ci_low"][0] == 0.0 and out["ci_high"][0] == pytest.approx(t_high)


@pytest.mark.parametrize(
    ("column", "bounds"),
    [
        ([0.2, 0.9, 1.7, 0.4], (0.0, 1.0)),  # linear's max_prob can exceed 1 (mean 0.8)
        ([0.0, 0.2, -0.3, 0.5], (0.0, np.inf)),  # entropy < 0 for p_i > 1 (mean 0.1)
        # bfloat16 rounds a normalized entropy one step (2^-7) above 1
        ([0.99, 1.0 + 2**-7, 0.97, 1.0, 0.995] * 40, (0.0, 1.0)),
    ],
)
def test_data_outside_the_range_keep_the_interval_in_the_range(column, bounds):
    """Observations outside the natural range, the mean inside: Wilson (by its roots, an
    independent form) on the mean rescaled to the natural range where both ends are
    finite, else scipy's t interval clipped to the range: the interval never leaves the
    metric's range and holds the mean."""
    values = np.array(column)[:, None]
    out = stats.summarize(values, np.array([False]), low=[bounds[0]], high=[bounds[1]])
    mean, n = np.mean(column), len(column)
    a, b = bounds
    if np.isfinite(b):
        low, high = _wilson_by_roots((mean - a) / (b - a), n)
        low, high = a + (b - a) * low, a + (b - a) * high
    else:
        low, high = scipy_stats.t.interval(0.95, n - 1, loc=mean, scale=scipy_stats.sem(column))
        low = max(low, a)
    assert out["ci_low"][0] == pytest.approx(low) and out["ci_high"][0] == pytest.approx(high)
    assert a <= out["ci_low"][0] < mean < out["ci_high"][0] <= b


def test_no_interval_where_the_mean_leaves_the_range():
    """Driven to both outcomes: the uniform vector over K = 1000 in float8_e4m3fn has every
    entry rounded up to 2^-9, so its normalized entropy is 1000 * 2^-9 * ln(2^9) / ln 1000
    = 1.76 for every vector: the mean lies outside [0, 1] and no interval on [0, 1] can
    hold it, so there is none, the mean and quantiles kept; so for an entropy whose mean
    is below 0 (linear's). A column whose mean is just inside keeps Wilson's interval on
    [0, 1], and an entropy whose mean is just above 0 the t interval (clipped at 0)."""
    entropy = 1000 * 2.0**-9 * np.log(2.0**9) / np.log(1000)
    assert entropy == pytest.approx(1.7638, abs=1e-4)
    inside = np.r_[np.full(199, 1.0 - 2**-7), 1.0 + 2**-7]  # mean 1 - 0.99 * 2^-7
    below = np.r_[np.full(100, -0.3), np.full(100, 0.2)]  # mean -0.05
    above = np.r_[np.full(100, -0.2), np.full(100, 0.3)]  # mean 0.05
    values = np.column_stack([np.full(200, entropy), inside, below, above])
    out = stats.summarize(
        values, np.zeros(4, dtype=bool), low=[0.0] * 4, high=[1.0, 1.0, np.inf, np.inf]
    )
    np.testing.assert_array_equal(np.isnan(out["ci_low"]), [True, False, True, False])
    np.testing.assert_array_equal(np.isnan(out["ci_high"]), [True, False, True, False])
    assert out["mean"][0] == pytest.approx(entropy) and out["median"][0] == entropy
    assert out["mean"][2] == pytest.approx(-0.05) and out["q05"][2] == -0.3
    low, high = _wilson_by_roots(inside.mean(), 200)
    assert out["ci_low"][1] == pytest.approx(low) and out["ci_high"][1] == pytest.approx(high)
    assert out["ci_low"][1] < inside.mean() < out["ci_high"][1] <= 1.0
    t_low, t_high = scipy_stats.t.interval(0.95, 199, loc=0.05, scale=scipy_stats.sem(above))
    assert out["ci_low"][3] == pytest.approx(max(t_low, 0.0))
    assert out["ci_high"][3] == pytest.approx(t_high)


@given(
    st.lists(st.floats(-0.5, 1.5), min_size=2, max_size=60),
    st.integers(1, 4),
)
@settings(max_examples=200, deadline=None)
def test_an_interval_stays_within_the_range_and_holds_the_mean(column, blocks):
    """Whatever leaves [0, 1], an interval is given exactly when the mean lies in [0, 1],
    lies within [0, 1] and holds the mean; streaming the rows in blocks gives the same."""
    values = np.array(column)[:, None]
    out = stats.summarize(values, np.array([False]), low=[0.0], high=[1.0])
    running = stats.RunningSummary(np.array([False]), 8, low=[0.0], high=[1.0])
    for part in np.array_split(values, blocks):
        running.add(part)
    streamed = running.result()
    mean = out["mean"][0]
    assert mean == pytest.approx(np.mean(column), abs=1e-12)
    if 0.0 <= mean <= 1.0:
        assert 0.0 <= out["ci_low"][0] <= mean <= out["ci_high"][0] <= 1.0
        assert streamed["ci_low"][0] == pytest.approx(out["ci_low"][0], abs=1e-12)
        assert streamed["ci_high"][0] == pytest.approx(out["ci_high"][0], abs=1e-12)
    else:
        assert np.isnan([out["ci_low"][0], out["ci_high"][0]]).all()
        assert np.isnan([streamed["ci_low"][0], streamed["ci_high"][0]]).all()


def test_metric_ranges_cover_every_metric():
    assert set(metrics.METRIC_RANGES) == set(metrics.METRICS)
    assert {"tv_to_argmax", "normalized_entropy", "max_prob", "support_fraction"} | set(
        metrics.RATE_METRICS
    ) <= metrics.UNIT_INTERVAL_METRICS
    assert all(low <= high for low, high in metrics.METRIC_RANGES.values())
    low, high = metrics.metric_ranges(["max_prob", "kl_to_argmax", "l2_to_argmax"])
    np.testing.assert_array_equal(low, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(high, [1.0, np.inf, np.sqrt(2.0)])
    with pytest.raises(ValueError, match="'bogus' has no range in METRIC_RANGES; known: "):
        metrics.metric_ranges(["max_prob", "bogus"])


def test_natural_ranges_hold_on_probability_vectors():
    """Every metric stays in its range on probability vectors, including the extremes
    (one-hot at the argmax and away from it, uniform), up to float64 rounding: the uniform
    vector's normalized entropy is 1 + 2^-52 (such a column keeps Wilson's interval on
    [0, 1] while its mean is inside, stats' module docstring)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 5))
    p = rng.dirichlet(np.full(5, 0.3), size=500)
    p[0] = np.eye(5)[np.argmax(x[0])]
    p[1] = np.eye(5)[np.argmin(x[1])]
    p[2] = 0.2
    values = metrics.vector_metrics(x, p, np.zeros(500), p)
    for name, found in values.items():
        low, high = metrics.METRIC_RANGES[name]
        present = found[~np.isnan(found)]
        slack = 1e-12 * max(1.0, high if np.isfinite(high) else 1.0)
        assert np.all((present >= low - slack) & (present <= high + slack)), name


def test_of_metrics_reads_rates_and_ranges():
    names = ["max_prob", "overflow", "kl_to_argmax"]
    summary = stats.RunningSummary.of_metrics(names, quantile_rows=4)
    np.testing.assert_array_equal(summary.is_rate, [False, True, False])
    np.testing.assert_array_equal(summary.low, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(summary.high, [1.0, 1.0, np.inf])


_OFF_SIMPLEX_NAMES = [
    "tv_to_argmax",
    "normalized_entropy",
    "kl_to_argmax",
    "invalid",
    "nonfinite_output",
]


def _two_methods(tv_a, invalid_a, nonfinite_a, tv_b, invalid_b, nonfinite_b):
    """Rows of two methods' five columns (_OFF_SIMPLEX_NAMES each): method a's tv values,
    its invalid and nonfinite_output flags, then method b's; entropy 0.5, kl 2 for all."""
    n = len(tv_a)
    ones = np.ones(n)
    a = [tv_a, 0.5 * ones, 2.0 * ones, invalid_a, nonfinite_a]
    b = [tv_b, 0.5 * ones, 2.0 * ones, invalid_b, nonfinite_b]
    return np.column_stack(a + b)


def test_no_interval_where_values_leave_the_range_of_an_output_off_the_simplex():
    """Driven to both outcomes: method a's tv leaves [0, 1] (up to 40) and two of its
    finite outputs are not distributions (3 invalid, 1 non-finite): no interval for its
    tv, the mean and quantiles kept; method b's tv leaves [0, 1] by rounding (1 + 2^-8)
    but its only invalid output is the non-finite one: its interval is Wilson's on [0, 1],
    as before; and a's in-range columns keep theirs."""
    rng = np.random.default_rng(0)
    n = 200
    flags = np.zeros(n)
    invalid_a, nonfinite_a = flags.copy(), flags.copy()
    invalid_a[:3] = 1
    nonfinite_a[0] = 1
    tv_a = rng.random(n)
    tv_a[1] = 40.0
    tv_b = rng.random(n)
    tv_b[2] = 1 + 2.0**-8
    invalid_b = nonfinite_b = flags.copy()
    invalid_b[0] = nonfinite_b[0] = 1
    values = _two_methods(tv_a, invalid_a, nonfinite_a, tv_b, invalid_b, nonfinite_b)
    summary = stats.RunningSummary.of_metrics(_OFF_SIMPLEX_NAMES * 2, quantile_rows=n)
    summary.add(values[:77])
    summary.add(values[77:])
    out = summary.result()
    none = np.isnan(out["ci_low"]) & np.isnan(out["ci_high"])
    np.testing.assert_array_equal(none, [True] + [False] * 9)
    assert out["mean"][0] == pytest.approx(tv_a.mean(), rel=1e-12)
    assert out["median"][0] == np.sort(tv_a)[99]
    low, high = stats.bounded_interval(tv_b.mean(), tv_b.std(ddof=1), n, 0.0, 1.0)
    assert out["ci_low"][5] == pytest.approx(low, rel=1e-9)
    assert out["ci_high"][5] == pytest.approx(high, rel=1e-9)
    # the same values without the off-simplex outputs: a's interval is given
    values[:, 3] = values[:, 4]
    plain = stats.RunningSummary.of_metrics(_OFF_SIMPLEX_NAMES * 2, quantile_rows=n)
    plain.add(values)
    assert not np.isnan(plain.result()["ci_low"]).any()
    # and a summary of unnamed columns gives every interval
    unnamed = stats.summarize(values, np.array([False, False, False, True, True] * 2))
    assert not np.isnan(unnamed["ci_low"]).any()


def test_unbounded_columns_reads_each_method_run():
    """Runs start where a metric repeats; a run without invalid or nonfinite_output never
    counts; rates and unbounded metrics never do, whatever their extremes."""
    names = ["tv_to_argmax", "invalid", "nonfinite_output", "max_prob", "overflow"] + [
        "tv_to_argmax",
        "max_prob",
    ]
    totals = np.array([5.0, 2.0, 1.0, 3.0, 1.0, 9.0, 9.0])
    low = np.zeros(7)
    high = np.array([3.0, 1.0, 1.0, 0.5, 1.0, 4.0, 4.0])
    got = metrics.unbounded_columns(names, totals, low, high)
    np.testing.assert_array_equal(got, [True, False, False, False, False, False, False])
    below = metrics.unbounded_columns(names, totals, low - 1, high)  # below the range too
    np.testing.assert_array_equal(below, [True, False, False, True, False, False, False])


def test_bad_bounds_raise_one_line():
    with pytest.raises(ValueError, match=r"low must be 2 numbers \(one per column"):
        stats.RunningSummary(np.array([False, True]), 4, low=[0.0])
    with pytest.raises(ValueError, match="every column needs low <= high"):
        stats.RunningSummary(np.array([False]), 4, low=[1.0], high=[0.0])


def _adversarial_block(rows: int, seed: int) -> np.ndarray:
    """A block of metric values with what the moments must get right: NaN (missing) in
    scattered entries and in whole columns, +-inf, columns of -0.0 (numpy's sum gives
    +0.0), 0/1 rates, and magnitudes spread over 30 orders (rounding order matters)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((rows, 40)) * 10.0 ** rng.uniform(-15, 15, 40)
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:, 0] = np.nan
    values[:, 1] = -0.0
    values[:, 2] = rng.integers(0, 2, rows)
    if rows > 3:
        values[1, 3], values[2, 4], values[3, 5] = np.inf, -np.inf, np.inf
        values[2, 5] = -np.inf
        values[0, 6] = np.nan
        values[1:, 6] = -0.0
    return values


@pytest.mark.parametrize("rows", [0, 1, 2, 7, 131, 1000, 2048, 20000])
def test_compiled_column_moments_are_numpys_bit_for_bit(rows):
    """The compiled pass gives the numpy reference's n, sum and M2 bit for bit (NaN is
    NaN), and the same min and max values, on blocks of every size the sweep folds in
    (block_rows: up to 2048) and beyond."""
    pytest.importorskip("numba")
    values = _adversarial_block(rows, seed=rows)
    compiled = stats._summary_kernels().column_moments(values)
    reference = stats._column_moments_numpy(values)
    names = ("n", "total", "m2", "low", "high")
    for got, expected, name in zip(compiled, reference, names, strict=True):
        assert got.dtype == expected.dtype, name
        if name in ("low", "high"):  # values only: the sign of a zero extreme is not read
            np.testing.assert_array_equal(got, expected, err_msg=name)
        else:
            np.testing.assert_array_equal(
                got.view(np.int64), np.asarray(expected).view(np.int64), err_msg=name
            )


def test_running_summary_is_the_same_with_and_without_kernels(monkeypatch):
    """Blocks folded with the compiled pass give every field of the numpy path bit for bit."""
    pytest.importorskip("numba")
    blocks = [_adversarial_block(rows, seed=rows) for rows in (131, 131, 5, 0, 900)]
    is_rate = np.zeros(40, dtype=bool)
    is_rate[2] = True
    results = []
    for use_kernels in (True, False):
        monkeypatch.setattr(stats, "USE_KERNELS", use_kernels)
        running = stats.RunningSummary(is_rate, quantile_rows=300)
        for block in blocks:
            running.add(block)
        results.append(running.result())
    for field in stats.SUMMARY_FIELDS:
        np.testing.assert_array_equal(
            results[0][field].view(np.int64), results[1][field].view(np.int64), err_msg=field
        )


def test_the_mean_stays_within_the_observations():
    """0.1 three times sums to 0.30000000000000004 in float64, a mean one ulp above 0.1; a
    constant column above its range (a rounded normalized entropy of 1.0088 at every
    vector) summed 1,000 times lands below its value. The mean is held between the
    observed extremes; that mean lies above [0, 1], so it has no interval there, while
    the same column without a range gets the t interval, which holds the mean."""
    out = stats.summarize(np.full((3, 1), 0.1), np.array([False]))
    assert out["mean"][0] == 0.1
    value = 1.008786408
    column = np.full((1000, 1), value)
    out = stats.summarize(column, np.array([False]), low=[0.0], high=[1.0])
    assert out["mean"][0] == value
    assert np.isnan(out["ci_low"][0]) and np.isnan(out["ci_high"][0])
    out = stats.summarize(column, np.array([False]))
    assert out["mean"][0] == value
    assert out["ci_low"][0] <= out["mean"][0] <= out["ci_high"][0]


@given(
    st.floats(-1e3, 1e3),
    st.integers(1, 300),
    st.lists(st.floats(-1e3, 1e3), max_size=5),
    st.integers(1, 4),
)
@settings(max_examples=300, deadline=None)
def test_the_mean_lies_between_the_extremes_streamed_or_not(value, copies, others, blocks):
    """Many copies of one value (a constant column when ``others`` is empty, whose mean is
    then that value exactly) and a few others, streamed in blocks."""
    column = [value] * copies + others
    values = np.array(column)[:, None]
    running = stats.RunningSummary(np.array([False]), 8)
    for part in np.array_split(values, blocks):
        running.add(part)
    mean = running.result()["mean"][0]
    assert min(column) <= mean <= max(column)
    if not others:
        assert mean == value
