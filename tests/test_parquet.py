"""summary.parquet: the summary's rows, typed (issue 11, item 3). The merge writes it from the
verified CSV; reading either file gives equal frames; the README's queries work."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sweeps import TINY

from softmaxlab import config as sl_config
from softmaxlab import sweep

SHARDED = {**TINY, "methods": TINY["methods"][:3], "shard_elements": 150}


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """SHARDED's shards, merged into summary.csv and summary.parquet."""
    config = sl_config.validate(SHARDED)
    plan = sweep.plan_shards(config)
    assert len(plan) >= 3
    root = tmp_path_factory.mktemp("merged")
    paths = [root / f"shard_{i}.csv" for i in range(len(plan))]
    for path, cells in zip(paths, plan, strict=True):
        sweep.write_shard(sweep.run_cells(config, cells), path, cells, config)
    rows = sweep.merge_shards(paths, config, root / "summary.csv", parquet=root / "summary.parquet")
    return config, root, rows


def test_parquet_holds_the_csv_rows_in_order(merged):
    config, root, rows = merged
    from_parquet = pd.read_parquet(root / "summary.parquet")
    # Plain pandas on the CSV (only empty fields missing, as to_csv writes NaN) agrees.
    from_csv = pd.read_csv(root / "summary.csv", keep_default_na=False, na_values=[""])
    # K x distributions x scales x (float64, float16 in float32 and native) x methods
    cells = len(config["k"]) * 2 * 3 * 3
    assert len(from_parquet) == rows == cells * 3 * len(sweep.METRICS)
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    pd.testing.assert_frame_equal(
        sweep.read_summary(root / "summary.parquet"), sweep.read_summary(root / "summary.csv")
    )
    # The canonical order, as the CSV has it.
    pd.testing.assert_frame_equal(from_parquet, sweep.sort_summary(from_parquet, config))
    assert from_parquet[list(sweep.TEXT_COLUMNS)].notna().all().all()  # names stay names
    assert np.isnan(from_parquet["std"]).any()  # and missing values stay NaN


def test_schema_is_typed(merged):
    _, root, _ = merged
    schema = pq.read_schema(root / "summary.parquet")
    assert schema.names == list(sweep.COLUMNS)
    kinds = {field.name: str(field.type) for field in schema}
    assert {kinds[c] for c in sweep.TEXT_COLUMNS} == {"string"}
    assert kinds["scale"] == "double" and kinds["k"] == "int64" and kinds["n"] == "int64"
    assert {kinds[c] for c in ("mean", "std", "ci_low", "ci_high", "q05", "median", "q95")} == {
        "double"
    }
    assert schema.metadata is None  # no pandas metadata: the Arrow types say it all
    frame = pd.read_parquet(root / "summary.parquet")
    assert dict(frame.dtypes.astype(str)) == sweep.SUMMARY_DTYPES


def test_edge_values_round_trip_and_bytes_are_stable(tmp_path):
    """Names pandas would misread, labels needing CSV quotes, and NaN / +-inf statistics
    come back as written; the same rows give the same bytes."""
    frame = pd.DataFrame(
        {
            "distribution": ["NA", "1e3"],
            "scale": [1e-300, 1e300],
            "k": [2, 2**40],
            "dtype": ["float64", "bfloat16"],
            "compute": ["native", "float32"],
            "method": ["softmax", "pkg.mod:fn"],
            "label": ['softmax(base=2, note="a, b")', "None"],
            "metric": ["nan", "null"],
            "n": [0, 2**62],
            **{
                field: [np.nan, np.inf] if field == "mean" else [-np.inf, 0.1]
                for field in ("mean", "std", "ci_low", "ci_high", "q05", "median", "q95")
            },
        }
    )
    sweep.write_parquet(frame, tmp_path / "a.parquet")
    sweep.write_parquet(frame, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    back = sweep.read_summary(tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(back, frame.astype(sweep.SUMMARY_DTYPES))
    # The CSV of the same rows reads back equal through read_summary, and the merge's
    # Parquet of that CSV (pyarrow's parser, not pandas') has write_parquet's bytes; so has
    # that of a CSV with no row (one empty row group).
    sweep.write_csv(frame, tmp_path / "a.csv")
    pd.testing.assert_frame_equal(sweep.read_summary(tmp_path / "a.csv"), back)
    for rows in (frame, frame.iloc[:0]):
        sweep.write_csv(rows, tmp_path / "c.csv")
        sweep.io._csv_to_parquet(tmp_path / "c.csv", tmp_path / "c.parquet")
        sweep.write_parquet(sweep.read_summary(tmp_path / "c.csv"), tmp_path / "d.parquet")
        assert (tmp_path / "c.parquet").read_bytes() == (tmp_path / "d.parquet").read_bytes()


def test_readme_queries(merged):
    """The README's pandas example: filters pushed down to the Parquet reader."""
    _, root, _ = merged
    path = root / "summary.parquet"
    overflow = pd.read_parquet(
        path,
        columns=["distribution", "scale", "k", "dtype", "label", "mean"],
        filters=[("metric", "==", "overflow"), ("dtype", "in", ["float16", "bfloat16"])],
    )
    whole = pd.read_parquet(path)
    expected = whole[(whole.metric == "overflow") & whole.dtype.isin(["float16", "bfloat16"])]
    assert len(overflow) == len(expected) > 0
    np.testing.assert_array_equal(overflow["mean"].to_numpy(), expected["mean"].to_numpy())


def test_filtered_reads_equal_filtering_the_whole_table(merged):
    """read_summary(headline=True, metrics=...) filters in Arrow before pandas: the same
    rows as headline_rows and a metric filter on the whole frame, from Parquet and CSV."""
    _, root, _ = merged
    for name in ("summary.parquet", "summary.csv"):
        whole = sweep.read_summary(root / name)
        pd.testing.assert_frame_equal(
            sweep.read_summary(root / name, headline=True), sweep.headline_rows(whole)
        )
        picked = whole[whole["metric"].isin(["overflow", "nan_output"])].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            sweep.read_summary(root / name, metrics=["overflow", "nan_output"]), picked
        )
    assert set(sweep.read_summary(root / "summary.parquet", headline=True)["compute"]) == {
        "native",
        "float32",
    }


def test_a_summary_of_many_row_groups_reads_and_merges_as_one(merged, tmp_path, monkeypatch):
    """The merge writes summary.parquet from its CSV a row group at a time, and read_summary
    reads it a row group at a time: with groups of 50 rows, the merged file has the bytes of
    write_parquet on the whole table, and every filtered read (rows and columns) equals
    filtering the CSV's frame, itself read whole."""
    config, root, rows = merged
    monkeypatch.setattr(sweep.io, "PARQUET_ROW_GROUP", 50)
    shards = [root / f"shard_{i}.csv" for i in range(len(sweep.plan_shards(config)))]
    parquet = tmp_path / "summary.parquet"
    sweep.merge_shards(shards, config, tmp_path / "summary.csv", parquet=parquet)
    assert pq.ParquetFile(parquet).num_row_groups == -(-rows // 50) > 2
    whole = sweep.read_summary(root / "summary.csv")
    sweep.write_parquet(whole, tmp_path / "whole.parquet")
    assert parquet.read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    columns = ["label", "k", "metric", "median"]  # not in the summary's order
    picked = sweep.headline_rows(whole[whole["metric"].isin(["overflow", "invalid"])])
    for name, kwargs, expected in [
        ("all", {}, whole),
        ("columns", {"columns": columns}, whole[["k", "label", "metric", "median"]]),
        ("filtered", {"headline": True, "metrics": ["overflow", "invalid"]}, picked),
        ("none", {"metrics": []}, whole.iloc[:0]),
    ]:
        for path in (parquet, root / "summary.csv"):
            got = sweep.read_summary(path, **kwargs)
            pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), obj=name)
    # Each name is one object, whatever rows hold it (8 bytes a row, not a string each).
    labels = sweep.read_summary(parquet, columns=["label"])["label"].to_numpy()
    assert len({id(label) for label in labels}) <= whole["label"].nunique() * -(-rows // 50)
