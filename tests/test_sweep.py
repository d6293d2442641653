"""The sweep engine streams: cells of many vectors are evaluated a block at a time into
running summaries. Checked against the summaries of all the per-vector values at once,
across groupings and passes, and for memory that does not grow with the vectors."""

import importlib
import itertools
import tracemalloc

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import special
from sweeps import SMALL, TINY

import softmaxlab
from softmaxlab import config as sl_config
from softmaxlab import nll, raw, stats, sweep
from softmaxlab.kernels import formats
from softmaxlab.methods import evaluate
from softmaxlab.metrics import METRIC_RANGES, METRICS, NLL_DTYPE, RATE_METRICS
from softmaxlab.sampling import logits, sample_z

# K = 100: blocks of 1310 vectors, so 3000 vectors make three blocks (the last short).
MANY = sl_config.validate(
    {
        "seed": 3,
        "scales": [0.5, 40.0],
        "k": [100],
        "dtypes": ["float64", "float16"],  # float64 cells get the NLL metrics too
        "distributions": {"normal": {"family": "normal"}},
        "methods": [
            {"method": "softmax"},
            {"method": "softmax", "stable": False},
            {"method": "linear"},  # its NLL is undefined on signed logits, and not convex
            {"method": "sparsemax"},
            {"method": "gumbel_softmax"},
        ],
        "vectors": {"elements": 300_000, "min": 1, "max": 3000},
        "grad_vectors": 1400,  # crosses the first block boundary
        "quantile_vectors": 3000,
        "shard_elements": 10**9,
    }
)


def _all_at_once(config, cell):
    """Per-vector values of one cell, every block evaluated and stacked (no summaries)."""
    specs = sl_config.method_specs(config)
    n = sweep.n_vectors(config, cell.k)
    spec = config["distributions"][cell.distribution]
    z = sample_z(config["seed"], cell.distribution, spec, cell.k, n)
    draws = sweep.gradient_draws(config, cell.distribution, cell.k, min(config["grad_vectors"], n))
    rows = sweep.block_rows(cell.k)
    with np.errstate(all="ignore"):
        blocks = [
            sweep.evaluate_group(config, [cell], z[start : start + rows], specs, draws, b)[0]
            for b, start in enumerate(range(0, n, rows))
        ]
    return np.concatenate(blocks)


@pytest.fixture(scope="module")
def many_summary():
    return sweep.run_cells(MANY, sweep.cells(MANY))


def test_cells_span_several_blocks():
    assert sweep.n_vectors(MANY, 100) == 3000 and sweep.block_rows(100) == 1310


def test_streamed_summary_equals_summary_of_all_values(many_summary):
    cell = sweep.Cell("normal", 40.0, 100, "float64")  # gradients: float64 cells only
    values = _all_at_once(MANY, cell)
    assert np.isfinite(values[:, METRICS.index("grad_norm")][:1400]).all()
    assert np.isnan(values[:, METRICS.index("grad_norm")][1400:]).all()
    specs = sl_config.method_specs(MANY)
    whole = stats.RunningSummary.of_metrics(list(METRICS) * len(specs), len(values))
    whole.add(values)
    expected = whole.result()
    got = many_summary[
        (many_summary["scale"] == 40.0) & (many_summary["dtype"] == "float64")
    ].reset_index(drop=True)
    np.testing.assert_array_equal(got["n"], expected["n"])
    for field in ("q05", "median", "q95"):  # quantile_vectors covers every vector: exact
        np.testing.assert_array_equal(got[field], expected[field])
    for field in ("mean", "std", "ci_low", "ci_high"):  # merged sums: equal up to rounding
        np.testing.assert_allclose(got[field], expected[field], rtol=1e-9, atol=1e-300)


def test_linear_on_signed_logits_has_no_interval_for_its_distance(many_summary):
    """Linear's tv_to_argmax, l2_to_argmax and max_prob leave their ranges on normal
    logits (its sum crosses 0): no interval, its mean and median kept; softmax's and
    sparsemax's intervals are all given; linear's rates keep theirs."""
    rows = many_summary.set_index(["dtype", "label", "metric"]).sort_index()
    for dtype in ("float64", "float16"):
        linear = rows.loc[(dtype, "linear")]
        for metric in ("tv_to_argmax", "l2_to_argmax", "max_prob"):
            cells = linear.loc[metric]
            assert cells["ci_low"].isna().all() and cells["ci_high"].isna().all(), metric
            assert cells["mean"].notna().all() and (cells["q95"] > 1).any(), metric
        assert linear.loc["invalid", "ci_low"].notna().all()
        for label in ("softmax", "sparsemax"):
            bounded = rows.loc[(dtype, label)].loc[["tv_to_argmax", "max_prob"]]
            assert bounded["ci_low"].notna().all(), label


def test_every_interval_lies_in_its_range_and_holds_its_mean(many_summary):
    """Issue 10's rule over every row of a sweep (two formats, five methods, linear's
    off-simplex outputs included): an interval that is given lies within its metric's
    natural range (METRIC_RANGES) and holds the row's mean; a row whose mean lies outside
    that range has none (linear's on signed logits), and every other row of at least two
    vectors has one but linear's bounded distances and max_prob (no bound) and those
    whose mean is infinite."""
    ranges = many_summary["metric"].map(METRIC_RANGES)
    low = ranges.map(lambda bounds: bounds[0]).to_numpy()
    high = ranges.map(lambda bounds: bounds[1]).to_numpy()
    mean = many_summary["mean"].to_numpy()
    ci_low, ci_high = many_summary["ci_low"].to_numpy(), many_summary["ci_high"].to_numpy()
    given = ~np.isnan(ci_low)
    np.testing.assert_array_equal(given, ~np.isnan(ci_high))
    assert np.all((low[given] <= ci_low[given]) & (ci_high[given] <= high[given]))
    assert np.all((ci_low[given] <= mean[given]) & (mean[given] <= ci_high[given]))
    outside = (mean < low) | (mean > high)
    assert outside.sum() >= 4 and not given[outside].any()
    assert set(many_summary.loc[outside, "label"]) == {"linear"}
    unbounded = (many_summary["label"] == "linear") & many_summary["metric"].isin(
        ["tv_to_argmax", "l2_to_argmax", "max_prob"]
    )
    expected = (many_summary["n"].to_numpy() >= 2) & ~outside & np.isfinite(mean)
    np.testing.assert_array_equal(given[expected], ~unbounded.to_numpy()[expected])


def test_grouping_and_passes_change_nothing(many_summary, monkeypatch):
    one_by_one = pd.concat(
        [sweep.run_cells(MANY, [cell]) for cell in sweep.cells(MANY)], ignore_index=True
    )
    pd.testing.assert_frame_equal(one_by_one, many_summary, check_exact=True)
    monkeypatch.setattr(sweep.run, "PASS_BYTES", 1)  # one cell per pass
    pd.testing.assert_frame_equal(
        sweep.run_cells(MANY, sweep.cells(MANY)), many_summary, check_exact=True
    )


# Both compute modes of two narrow formats: K = 100 puts 1500 stack rows (3 scales x 500)
# in chunks of 1310, so a chunk spans scales; scale 20000 makes some float16 vectors
# non-finite (|z| > 3.27), bfloat16 none; 150000 logits a shard split the modes of a cell.
MODES = sl_config.validate(
    {
        "seed": 7,
        "scales": [0.5, 30.0, 20000.0],
        "k": [10, 100],
        "dtypes": ["float16", "bfloat16"],
        "compute": {"float16": ["float32", "native"], "bfloat16": ["float32", "native"]},
        "distributions": {"normal": {"family": "normal"}},
        "methods": SMALL["methods"],  # with gumbel_softmax: noise per (distribution, K, block)
        "vectors": {"elements": 50_000, "min": 1, "max": 500},
        "shard_elements": 150_000,
    }
)


def _run_recording(config, cells):
    """run_cells's summary, its raw blocks {(cell, first vector): values} and progress calls."""
    blocks, calls = {}, []
    summary = sweep.run_cells(
        config,
        cells,
        progress=lambda done, total, cell: calls.append((done, total, cell)),
        raw=lambda cell, first, values: blocks.setdefault((cell, first), values.copy()),
    )
    return summary, blocks, calls


@pytest.fixture(scope="module")
def modes_run():
    return _run_recording(MODES, sweep.cells(MODES))


def test_compute_modes_evaluated_together_equal_each_cell_alone(modes_run):
    """The two modes of a format share their rounded logits and reference in one group:
    every per-vector value and summary row is the one of the cell run on its own."""
    summary, blocks, calls = modes_run
    cells = sweep.cells(MODES)
    assert len(cells) == 3 * 2 * 2 * 2  # scales x K x formats x modes
    assert [(done, total) for done, total, _ in calls] == [(i + 1, 24) for i in range(24)]
    alone = [_run_recording(MODES, [cell]) for cell in cells]
    pd.testing.assert_frame_equal(
        summary, pd.concat([frame for frame, _, _ in alone], ignore_index=True), check_exact=True
    )
    alone_blocks = {key: values for _, found, _ in alone for key, values in found.items()}
    assert blocks.keys() == alone_blocks.keys()
    for key, values in blocks.items():
        np.testing.assert_array_equal(values, alone_blocks[key])


def test_compute_modes_are_measured_against_the_float64_softmax(modes_run):
    """Each mode's rows hold its own output's error against one float64 reference: scipy's
    softmax of the rounded logits (an independent float64 softmax: equal to about an ulp)."""
    _, blocks, _ = modes_run
    n = sweep.n_vectors(MODES, 100)
    z = sample_z(MODES["seed"], "normal", MODES["distributions"]["normal"], 100, n)
    errors = {}
    for mode in ("float32", "native"):
        cell = sweep.Cell("normal", 30.0, 100, "float16", mode)
        x = logits(z, 30.0, "float16")
        p = evaluate(x, "softmax", compute=mode)[0].astype(np.float64)
        expected = np.abs(p - special.softmax(x.astype(np.float64), axis=1)).max(axis=1)
        errors[mode] = _method_column(blocks[(cell, 0)], MODES, "softmax", "max_abs_error")
        np.testing.assert_allclose(errors[mode], expected, rtol=1e-9, atol=1e-15)
    assert (errors["native"] != errors["float32"]).mean() > 0.1  # two outputs, not one twice


def test_passes_and_shards_that_split_a_cells_modes_change_nothing(modes_run, monkeypatch):
    """A pass or a shard may end between the two modes of a (scale, format): a chunk then
    holds rows of one mode only at some scale. Checked that both happen here."""
    summary, _, _ = modes_run
    shards = sweep.plan_shards(MODES)
    ends = [(shard[-1], following[0]) for shard, following in zip(shards, shards[1:], strict=False)]
    assert any(a.scale == b.scale and a.dtype == b.dtype and a.k == b.k for a, b in ends)
    sharded = pd.concat([sweep.run_cells(MODES, shard) for shard in shards], ignore_index=True)
    pd.testing.assert_frame_equal(sharded, summary, check_exact=True)

    n = 500  # vectors a cell at both K, under a block (2048 and 1310 rows)
    assert sweep.n_vectors(MODES, 10) == sweep.n_vectors(MODES, 100) == n
    row_bytes = len(sl_config.method_specs(MODES)) * len(METRICS) * 8
    monkeypatch.setattr(sweep.run, "PASS_BYTES", 3 * (n + n) * row_bytes)  # values + quantiles
    passes = []
    original = sweep.run._passes

    def recorded(group, bytes_per_cell):
        found = original(group, bytes_per_cell)
        passes.extend(found)
        return found

    monkeypatch.setattr(sweep.run, "_passes", recorded)
    in_three = sweep.run_cells(MODES, sweep.cells(MODES))
    assert {len(part) for part in passes} == {3}
    assert any(len({c.compute for c in part if c.scale == part[-1].scale}) == 1 for part in passes)
    pd.testing.assert_frame_equal(in_three, summary, check_exact=True)


def test_a_cell_listed_twice_is_evaluated_once(modes_run):
    summary, _, _ = modes_run
    cell = sweep.Cell("normal", 30.0, 10, "bfloat16", "native")
    once = summary[
        (summary["scale"] == 30.0)
        & (summary["k"] == 10)
        & (summary["dtype"] == "bfloat16")
        & (summary["compute"] == "native")
    ]
    twice = sweep.run_cells(MODES, [cell, cell])
    pd.testing.assert_frame_equal(
        twice, pd.concat([once, once], ignore_index=True), check_exact=True
    )
    z = sample_z(MODES["seed"], "normal", MODES["distributions"]["normal"], 10, 5)
    draws = sweep.gradient_draws(MODES, "normal", 10, 0)
    specs = sl_config.method_specs(MODES)
    with pytest.raises(ValueError, match="listed twice"):
        sweep.evaluate_group(MODES, [cell, cell], z, specs, draws)


def _method_column(values, config, label, metric):
    """One metric of one method label from evaluate_group's (vectors, labels x METRICS)."""
    labels = [spec_label for _, _, spec_label in sl_config.method_specs(config)]
    return values[:, labels.index(label) * len(METRICS) + METRICS.index(metric)]


def test_nll_metrics_on_the_first_vectors_of_float64_cells_only(many_summary):
    """Claim C14's metrics: n = grad_vectors in float64 cells where the NLL is defined on
    every vector (softmax at these scales), n = 0 (mean NaN) in every other format."""
    rows = many_summary[many_summary["metric"].isin(nll.NLL_METRICS)]
    assert set(rows["metric"]) == set(nll.NLL_METRICS)
    elsewhere = rows[rows["dtype"] != NLL_DTYPE]
    assert len(elsewhere) == len(rows) / 2
    assert (elsewhere["n"] == 0).all() and elsewhere["mean"].isna().all()
    softmax = rows[(rows["dtype"] == NLL_DTYPE) & (rows["label"] == "softmax")]
    assert len(softmax) == len(MANY["scales"]) * len(nll.NLL_METRICS)
    assert (softmax["n"] == MANY["grad_vectors"]).all()
    # Softmax's gradient p - e_y has entries in [-1, 1]; its NLL is convex; linear on
    # signed logits has an undefined NLL on some vectors.
    rate = softmax.set_index(["scale", "metric"])["mean"]
    for scale in MANY["scales"]:
        assert rate[(scale, "nll_grad_over_one")] == 0
        assert rate[(scale, "nll_convexity_break")] == 0
        assert rate[(scale, "nll_undefined")] == 0
    linear = rows[(rows["dtype"] == NLL_DTYPE) & (rows["label"] == "linear")]
    assert (linear.loc[linear["metric"] == "nll_undefined", "mean"] > 0.2).all()


def test_nll_columns_against_scipy_across_the_block_boundary():
    """The sweep's per-vector NLL of softmax is logsumexp(x) - x_y (scipy.special) with the
    targets of the stream nll_target, and its gradient norm ||softmax(x) - e_y||: on the
    first 1400 vectors, across the first block boundary (1310 rows), NaN beyond. Linear's
    columns are nll_metrics on the same x, targets and partners x' = scale z' (stream
    nll_segment), bit for bit: the partners are sliced like the vectors."""
    cell = sweep.Cell("normal", 40.0, 100, "float64")
    values = _all_at_once(MANY, cell)
    count = MANY["grad_vectors"]
    spec = MANY["distributions"]["normal"]
    z = sample_z(MANY["seed"], "normal", spec, 100, sweep.n_vectors(MANY, 100))[:count]
    x = logits(z, cell.scale, cell.dtype)
    y = nll.draw_targets(MANY["seed"], "normal", 100, count)
    rows = np.arange(count)
    column = lambda label, metric: _method_column(values, MANY, label, metric)  # noqa: E731
    expected = special.logsumexp(x, axis=1) - x[rows, y]
    np.testing.assert_allclose(column("softmax", "nll")[:count], expected, rtol=1e-12, atol=1e-12)
    gradient = special.softmax(x, axis=1)
    gradient[rows, y] -= 1.0
    np.testing.assert_allclose(
        column("softmax", "nll_grad_norm")[:count],
        np.linalg.norm(gradient, axis=1),
        rtol=1e-10,
        atol=1e-15,  # right predictions: ||p - e_y|| of 1e-17 is rounding of 1 - p_y
    )
    for metric in nll.NLL_METRICS:
        assert np.isnan(column("softmax", metric)[count:]).all(), metric
    x_far = logits(nll.partner_z(MANY["seed"], "normal", spec, 100, count), cell.scale, "float64")
    direct = nll.nll_metrics(x, x_far, y, "linear", {})
    for metric in nll.NLL_METRICS:
        np.testing.assert_array_equal(column("linear", metric)[:count], direct[metric])
    assert 0 < np.nanmean(direct["nll_convexity_break"]) < 1


def test_nll_wiring_leaves_every_other_metric_bit_for_bit(many_summary, monkeypatch):
    """The summary rows of the metrics before C14 do not depend on the NLL's: the same
    bytes without them (the NLL draws come from their own streams)."""
    monkeypatch.setattr(sweep.run, "_fill_nll", lambda *args: None)
    without = sweep.run_cells(MANY, sweep.cells(MANY))
    before = ~many_summary["metric"].isin(nll.NLL_METRICS)
    pd.testing.assert_frame_equal(without[before], many_summary[before], check_exact=True)
    assert (without.loc[~before, "n"] == 0).all()


@pytest.mark.parametrize(
    "change",
    [{}, {"dtypes": ["float64"], "grad_vectors": 700, "error_vectors": 2000}],
    ids=["defaults", "error vectors beyond the gradient ones"],
)
def test_gradient_rows_measured_on_the_nll_forward_bit_for_bit(many_summary, monkeypatch, change):
    """The float64 gradient rows take every metric from the NLL's forward pass at x
    (sweep.run.SHARE_FORWARD), which skips the metric pass's own forward there: the same
    summary bytes as with it, across the block boundary (grad_vectors 1400) and with the
    error metrics' rows inside or beyond the gradient rows; gumbel_softmax (not row-wise)
    keeps its own forward. The metric pass evaluates float64 on the other rows only."""
    config = {**MANY, **change}
    shared = many_summary if not change else sweep.run_cells(config, sweep.cells(config))
    evaluated = []

    def counting(x, name, **kwargs):
        if x.dtype == np.float64:
            evaluated.append((name, len(x)))
        return evaluate(x, name, **kwargs)

    monkeypatch.setattr(sweep.run, "evaluate", counting)
    monkeypatch.setattr(sweep.run, "SHARE_FORWARD", False)
    alone = sweep.run_cells(config, sweep.cells(config))
    pd.testing.assert_frame_equal(shared, alone, check_exact=True)
    unshared = dict.fromkeys(evaluated, 0)
    rows_alone = {name: sum(n for m, n in evaluated if m == name) for name, _ in unshared}
    evaluated.clear()
    monkeypatch.setattr(sweep.run, "SHARE_FORWARD", True)
    sweep.run_cells(config, sweep.cells(config))
    rows_shared = {name: sum(n for m, n in evaluated if m == name) for name, _ in unshared}
    scales, n = len(MANY["scales"]), sweep.n_vectors(config, 100)
    for name in ("linear", "sparsemax"):  # a label each (softmax has two)
        assert rows_alone[name] == scales * n
        assert rows_shared[name] == scales * (n - config["grad_vectors"])
    assert rows_shared["gumbel_softmax"] == rows_alone["gumbel_softmax"] == scales * n


EVERY_FORMAT = sl_config.validate(
    {
        **MANY,
        "dtypes": ["float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"],
        "compute": {"float16": ["float32", "native"], "bfloat16": ["float32", "native"]},
        "scales": [0.5, 300.0],  # fp8 e4m3fn's input overflows at 300 on some vectors
        "vectors": {"elements": 30_000, "min": 1, "max": 300},
        "grad_vectors": 40,
    }
)


def test_widenings_kept_per_chunk_change_no_bit_and_are_never_written(monkeypatch):
    """Each chunk's logits are widened once for every method (formats.keeping_widenings):
    the same summary bytes as widening them for every method, in every format and compute
    mode; and no method, reference or metric pass writes to a kept widening (each still
    holds its source's widening after the sweep)."""
    kept = sweep.run_cells(EVERY_FORMAT, sweep.cells(EVERY_FORMAT))
    widened = []
    computed = formats._widen

    def recording(a, to):
        out = computed(a, to)
        widened.append((a.copy(), to, out))
        return out

    monkeypatch.setattr(formats, "_widen", recording)
    sweep.run_cells(EVERY_FORMAT, sweep.cells(EVERY_FORMAT))
    assert len(widened) > 20
    for source, to, out in widened:  # values and signs (long double's padding bytes vary)
        expected = computed(source, to)
        assert np.array_equal(out, expected, equal_nan=True), (source.dtype, to)
        assert np.array_equal(np.signbit(out), np.signbit(expected)), (source.dtype, to)
    monkeypatch.setattr(formats, "keep", lambda a: a)  # nothing kept: widened per method
    each = sweep.run_cells(EVERY_FORMAT, sweep.cells(EVERY_FORMAT))
    pd.testing.assert_frame_equal(kept, each, check_exact=True)


def test_a_plugin_that_writes_to_its_input_changes_no_other_method(monkeypatch):
    """A user's method gets its own copy of each chunk (the built-ins share one, and its
    widenings, and the float64 gradient rows' logits and far ends): one that overwrites
    its input (beyond the probe vector that register_method checks) leaves the other
    methods' values as they are without it."""
    monkeypatch.setattr(importlib.import_module("softmaxlab.methods.registry"), "_REGISTERED", {})

    def scribbling(x):
        p = np.exp(x - x.max(axis=-1, keepdims=True))
        if x.size > 100:
            x[...] = 0  # a bad plugin, past the probe
        return p / p.sum(axis=-1, keepdims=True)

    softmaxlab.register_method("scribbling", scribbling)
    config = sl_config.validate(
        {**EVERY_FORMAT, "dtypes": ["float64", "float32", "float16"], "compute": {}}
    )
    config["methods"] = [{"method": "scribbling"}, *MANY["methods"]]
    with_plugin = sweep.run_cells(config, sweep.cells(config))
    without = sweep.run_cells({**config, "methods": MANY["methods"]}, sweep.cells(config))
    others = with_plugin[with_plugin["method"] != "scribbling"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, without, check_exact=True)


def test_quantiles_from_the_first_quantile_vectors():
    config = {**MANY, "quantile_vectors": 500, "dtypes": ["float32"], "scales": [40.0]}
    cell = sweep.Cell("normal", 40.0, 100, "float32")
    values = _all_at_once(config, cell)
    got = sweep.run_cells(config, [cell])
    specs = sl_config.method_specs(config)
    is_rate = np.array([metric in RATE_METRICS for _ in specs for metric in METRICS])
    first = stats.summarize(values[:500], is_rate)
    every = stats.summarize(values, is_rate)
    for field in ("q05", "median", "q95"):
        # Rates: exact from the counts of all 3000; the rest: the first 500 vectors' quantiles.
        np.testing.assert_array_equal(got[field], np.where(is_rate, every[field], first[field]))
    np.testing.assert_array_equal(got["n"], every["n"])
    # And the sample quantiles are close to those of all 3000 (i.i.d. vectors).
    col = [label for _, _, label in specs].index("softmax") * len(METRICS)
    col += METRICS.index("max_prob")
    assert abs(first["median"][col] - every["median"][col]) < 0.05


def test_memory_does_not_grow_with_vectors():
    """Peak traced allocation of a cell with 10x the vectors stays about the same; holding
    every value (30000 x 4 methods x 25 metrics float64 = 24 MB, plus z at 24 MB) would
    not."""

    def peak(count: int) -> int:
        config = {
            **MANY,
            "methods": [entry for entry in MANY["methods"] if entry["method"] != "linear"],
            "dtypes": ["float32"],
            "scales": [1.0],
            "vectors": {"elements": 10**9, "min": 1, "max": count},
            "grad_vectors": 2,
            "quantile_vectors": 1000,
        }
        tracemalloc.start()
        sweep.run_cells(config, sweep.cells(config))
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    small, large = peak(3000), peak(30000)
    assert large < 1.3 * small
    assert large < 12 * 2**20


def test_raw_parquet_holds_every_vector(tmp_path, many_summary):
    path = tmp_path / "raw" / "shard_0.parquet"
    specs = sl_config.method_specs(MANY)
    with raw.parquet_writer(path, specs) as write:
        summary = sweep.run_cells(MANY, sweep.cells(MANY), raw=write)
    pd.testing.assert_frame_equal(summary, many_summary, check_exact=True)
    assert pq.ParquetFile(path).metadata.num_row_groups == 4 * 3  # cells x blocks
    table = pd.read_parquet(tmp_path / "raw")
    assert len(table) == 4 * len(specs) * 3000
    assert list(table.columns) == list(raw.SCHEMA.names)
    cell = sweep.Cell("normal", 40.0, 100, "float16", "float32")
    values = _all_at_once(MANY, cell)
    rows = table[(table["scale"] == 40.0) & (table["dtype"] == "float16")]
    for m, (_, _, label) in enumerate(specs):
        mine = rows[rows["label"] == label].sort_values("vector")
        assert list(mine["vector"]) == list(range(3000))
        block = values[:, m * len(METRICS) : (m + 1) * len(METRICS)]
        np.testing.assert_array_equal(mine[list(METRICS)].to_numpy(), block)


def test_interrupted_raw_output_leaves_nothing(tmp_path):
    path = tmp_path / "shard_0.parquet"
    specs = sl_config.method_specs(MANY)
    with pytest.raises(KeyboardInterrupt):
        with raw.parquet_writer(path, specs) as write:
            values = np.zeros((2, len(specs) * len(METRICS)))
            write(sweep.Cell("normal", 1.0, 100, "float32"), 0, values)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_job_memory_request_is_constant_until_huge_k():
    default = sl_config.validate({})
    plan = sweep.plan_shards(default)
    assert {sweep.job_mem_mb(default, shard) for shard in plan} == {1024}
    many = {**default, "vectors": {"elements": 10**9, "min": 1, "max": 10**6}}
    assert sweep.job_mem_mb(many, sweep.cells(many)) == 1024  # vectors do not count
    huge = [sweep.Cell("normal", 1.0, k, "float64") for k in (4 * 10**6, 8 * 10**6)]
    small, large = sweep.job_mem_mb(default, huge[:1]), sweep.job_mem_mb(default, huge)
    # One vector of 4 x 10^6 logits measured 963 MiB; the request has room, and doubles
    # (less the fixed part) with K.
    assert 1.5 * 963 < small < 2.5 * 963
    assert 1.7 * small < large < 2 * small


def test_job_cost_counts_elements_vectors_and_float64_gradients():
    """shard_cost, by hand: K x n logit elements, VECTOR_COST per vector, and for a
    float64 cell GRADIENT_COST per logit of its first grad_vectors vectors."""
    config = {
        **sl_config.validate({}),
        "vectors": {"elements": 2_000_000, "min": 200, "max": 1000},
        "grad_vectors": 256,
    }
    vector, gradient = sweep.plan.VECTOR_COST, sweep.plan.GRADIENT_COST
    assert sweep.n_vectors(config, 10_000) == 200  # fewer than grad_vectors
    assert sweep.shard_cost(config, [sweep.Cell("normal", 1.0, 10_000, "float32")]) == (
        200 * 10_000 + vector * 200
    )
    assert sweep.shard_cost(config, [sweep.Cell("normal", 1.0, 10_000, "float64")]) == (
        200 * 10_000 + vector * 200 + gradient * 200 * 10_000
    )
    assert sweep.n_vectors(config, 3) == 1000  # only the first 256 measure gradients
    cells = [sweep.Cell("normal", 1.0, 3, "float64"), sweep.Cell("normal", 10.0, 3, "bfloat16")]
    assert sweep.shard_cost(config, cells) == 2 * (1000 * 3 + vector * 1000) + gradient * 256 * 3


def test_costliest_jobs_get_the_highest_priorities():
    """Longest first: the priorities rank the jobs by cost (1 the cheapest), ties in plan
    order; on the default sweep the digits job, a few seconds, is the last."""
    config = {
        **sl_config.validate({}),
        "vectors": {"elements": 2_000_000, "min": 200, "max": 1000},
        "grad_vectors": 256,
    }
    # K = 100: 1000 vectors, 180,000 elements a cell; float64 adds 4 x 25,600
    cell = sweep.Cell("normal", 1.0, 100, "float32")
    shards = [[cell], [cell] * 2, [sweep.Cell("normal", 1.0, 100, "float64")], [cell]]
    assert sweep.shard_priorities(config, shards) == [2, 4, 3, 1]
    default = sl_config.load_config_file("config/config.yaml")
    plan = sweep.plan_shards(default)
    priorities = sweep.shard_priorities(default, plan)
    assert sorted(priorities) == list(range(1, len(plan) + 1))
    cheapest = plan[priorities.index(1)]
    assert {cell.distribution for cell in cheapest} == {"digits"}
    costs = [sweep.shard_cost(default, shard) for shard in plan]
    for i, j in itertools.permutations(range(len(plan)), 2):
        if costs[i] > costs[j]:
            assert priorities[i] > priorities[j], (i, j)


def test_long_cells_report_progress_between_blocks(monkeypatch, caplog):
    monkeypatch.setattr(sweep.run, "PROGRESS_SECONDS", 0.0)
    config = {**MANY, "dtypes": ["float32"], "methods": [{"method": "softmax"}]}
    with caplog.at_level("INFO", logger="softmaxlab.sweep"):
        sweep.run_cells(config, sweep.cells(config))
    assert [r.getMessage() for r in caplog.records] == [
        "normal k=100 float32 (native), 2 scale(s): 1310/3000 vectors",
        "normal k=100 float32 (native), 2 scale(s): 2620/3000 vectors",
    ]


def test_merged_shards_are_the_sorted_table_byte_for_byte(tmp_path):
    """merge_shards reorders the shards' lines instead of re-formatting their numbers; the
    result must be what write_csv(sort_summary(...)) writes. Checked on the default
    config's scales (spelled 0.00316227766, 1000.0, ...) and on TINY's."""
    default = sl_config.validate({})
    for name, config in {
        "tiny": sl_config.validate({**TINY, "shard_elements": 100}),
        "default_scales": sl_config.validate(
            {**TINY, "scales": default["scales"], "k": [2], "shard_elements": 200}
        ),
    }.items():
        plan = sweep.plan_shards(config)
        assert len(plan) > 3
        frames = [sweep.run_cells(config, cells) for cells in plan]
        paths = [tmp_path / name / f"shard_{i}.csv" for i in range(len(plan))]
        for i in reversed(range(len(plan))):  # written in any order, merged in plan order
            sweep.write_shard(frames[i], paths[i], plan[i], config)
        expected = tmp_path / name / "expected.csv"
        sweep.write_csv(sweep.sort_summary(pd.concat(frames, ignore_index=True), config), expected)
        rows = sweep.merge_shards(paths, config, tmp_path / name / "merged.csv")
        assert rows == sum(len(frame) for frame in frames)
        assert (tmp_path / name / "merged.csv").read_bytes() == expected.read_bytes()
    assert "softmax(base=100, stable=False)" in expected.read_text()  # a quoted label


def test_a_distribution_may_have_its_own_k():
    """A parametric distribution's ``k`` list replaces the top-level one for its cells only;
    its draws for a shared K are those it would have without the list (same stream)."""
    base = {**MANY, "k": [3, 100], "dtypes": ["float64"], "methods": [{"method": "softmax"}]}
    own = sl_config.validate(
        {**base, "distributions": {**MANY["distributions"], "few": {"family": "normal", "k": [3]}}}
    )
    assert sweep.ks(own, "normal") == [3, 100] and sweep.ks(own, "few") == [3]
    assert sorted({(c.distribution, c.k) for c in sweep.cells(own)}) == [
        ("few", 3),
        ("normal", 3),
        ("normal", 100),
    ]
    plain = {**base, "distributions": {"few": {"family": "normal"}}}
    z_own = sample_z(own["seed"], "few", own["distributions"]["few"], 3, 5)
    z_plain = sample_z(plain["seed"], "few", plain["distributions"]["few"], 3, 5)
    np.testing.assert_array_equal(z_own, z_plain)
    with pytest.raises(sl_config.ConfigError, match=r"distributions\.few\.k\[0\]"):
        sl_config.validate({**base, "distributions": {"few": {"family": "normal", "k": [1]}}})
