"""The sweep engine streams: cells of many vectors are evaluated a block at a time into
running summaries. Checked against the summaries of all the per-vector values at once,
across groupings and passes, and for memory that does not grow with the vectors."""

import tracemalloc

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sweeps import TINY

from softmaxlab import config as sl_config
from softmaxlab import raw, stats, sweep
from softmaxlab.metrics import METRICS, RATE_METRICS, metric_ranges
from softmaxlab.sampling import sample_z

# K = 100: blocks of 1310 vectors, so 3000 vectors make three blocks (the last short).
MANY = sl_config.validate(
    {
        "seed": 3,
        "scales": [0.5, 40.0],
        "k": [100],
        "dtypes": ["float32", "float16"],
        "distributions": {"normal": {"family": "normal"}},
        "methods": [
            {"method": "softmax"},
            {"method": "softmax", "stable": False},
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
    directions = sweep._directions(
        config["seed"], cell.distribution, cell.k, min(config["grad_vectors"], n)
    )
    rows = sweep.block_rows(cell.k)
    with np.errstate(all="ignore"):
        blocks = [
            sweep.evaluate_group(config, [cell], z[start : start + rows], specs, directions, b)[0]
            for b, start in enumerate(range(0, n, rows))
        ]
    return np.concatenate(blocks)


@pytest.fixture(scope="module")
def many_summary():
    return sweep.run_cells(MANY, sweep.cells(MANY))


def test_cells_span_several_blocks():
    assert sweep.n_vectors(MANY, 100) == 3000 and sweep.block_rows(100) == 1310


def test_streamed_summary_equals_summary_of_all_values(many_summary):
    cell = sweep.Cell("normal", 40.0, 100, "float16")
    values = _all_at_once(MANY, cell)
    assert np.isfinite(values[:, METRICS.index("grad_norm")][:1400]).all()
    assert np.isnan(values[:, METRICS.index("grad_norm")][1400:]).all()
    specs = sl_config.method_specs(MANY)
    is_rate = np.array([metric in RATE_METRICS for _ in specs for metric in METRICS])
    expected = stats.summarize(values, is_rate, *metric_ranges(list(METRICS) * len(specs)))
    got = many_summary[
        (many_summary["scale"] == 40.0) & (many_summary["dtype"] == "float16")
    ].reset_index(drop=True)
    np.testing.assert_array_equal(got["n"], expected["n"])
    for field in ("q05", "median", "q95"):  # quantile_vectors covers every vector: exact
        np.testing.assert_array_equal(got[field], expected[field])
    for field in ("mean", "std", "ci_low", "ci_high"):  # merged sums: equal up to rounding
        np.testing.assert_allclose(got[field], expected[field], rtol=1e-9, atol=1e-300)


def test_grouping_and_passes_change_nothing(many_summary, monkeypatch):
    one_by_one = pd.concat(
        [sweep.run_cells(MANY, [cell]) for cell in sweep.cells(MANY)], ignore_index=True
    )
    pd.testing.assert_frame_equal(one_by_one, many_summary, check_exact=True)
    monkeypatch.setattr(sweep, "PASS_BYTES", 1)  # one cell per pass
    pd.testing.assert_frame_equal(
        sweep.run_cells(MANY, sweep.cells(MANY)), many_summary, check_exact=True
    )


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
    every value (30000 x 64 float64 = 15 MB, plus z at 24 MB) would not."""

    def peak(count: int) -> int:
        config = {
            **MANY,
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
    cell = sweep.Cell("normal", 40.0, 100, "float16")
    values = _all_at_once(MANY, cell)
    rows = table[(table["scale"] == 40.0) & (table["dtype"] == "float16")]
    for m, (_, _, label) in enumerate(specs):
        mine = rows[rows["label"] == label].sort_values("vector")
        assert list(mine["vector"]) == list(range(3000))
        block = values[:, m * len(METRICS) : (m + 1) * len(METRICS)]
        np.testing.assert_array_equal(mine[list(METRICS)].to_numpy(), block)


def test_interrupted_raw_output_leaves_nothing(tmp_path):
    path = tmp_path / "shard_0.parquet"
    with pytest.raises(KeyboardInterrupt):
        with raw.parquet_writer(path, sl_config.method_specs(MANY)) as write:
            write(sweep.Cell("normal", 1.0, 100, "float32"), 0, np.zeros((2, 4 * len(METRICS))))
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


def test_long_cells_report_progress_between_blocks(monkeypatch, caplog):
    monkeypatch.setattr(sweep, "PROGRESS_SECONDS", 0.0)
    config = {**MANY, "dtypes": ["float32"], "methods": [{"method": "softmax"}]}
    with caplog.at_level("INFO", logger="softmaxlab.sweep"):
        sweep.run_cells(config, sweep.cells(config))
    assert [r.getMessage() for r in caplog.records] == [
        "normal k=100 float32, 2 scale(s): 1310/3000 vectors",
        "normal k=100 float32, 2 scale(s): 2620/3000 vectors",
    ]


def test_merged_shards_are_the_sorted_table_byte_for_byte(tmp_path):
    """merge_shards reorders the shards' lines instead of re-formatting their numbers; the
    result must be what write_csv(sort_summary(...)) writes, whatever the shard order."""
    config = sl_config.validate({**TINY, "shard_elements": 100})
    plan = sweep.plan_shards(config)
    assert len(plan) > 3
    frames = [sweep.run_cells(config, cells) for cells in plan]
    frames[1] = frames[1].iloc[:0]  # an empty shard (header only) is allowed
    paths = []
    for i, frame in reversed(list(enumerate(frames))):  # shards in any order
        paths.append(tmp_path / f"shard_{i}.csv")
        sweep.write_csv(frame, paths[-1])
    expected = tmp_path / "expected.csv"
    sweep.write_csv(sweep.sort_summary(pd.concat(frames, ignore_index=True), config), expected)
    rows = sweep.merge_shards(paths, config, tmp_path / "merged.csv")
    assert rows == sum(len(frame) for frame in frames)
    assert (tmp_path / "merged.csv").read_bytes() == expected.read_bytes()
    assert "softmax(base=100, stable=False)" in expected.read_text()  # a quoted label
