"""The sweep's files: shards and their manifests, the verified merge, the summary table.

A job writes its cells' rows as a shard (:func:`write_shard`: the CSV as :func:`write_csv`
formats it, and a manifest of what it holds with its SHA-256). :func:`merge_shards`
verifies every shard against the plan and its manifest, then writes the summary in
canonical order (:func:`sort_summary`) as CSV and as typed Parquet (:func:`write_parquet`),
holding the shards' bytes but never a frame of the whole table. :func:`read_summary` reads
either file with the SUMMARY_DTYPES (Parquet a row group at a time, only the rows and
columns asked for); :func:`read_table` any CSV the workflow wrote, its names as text.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from softmaxlab.config import method_specs
from softmaxlab.files import atomic_path
from softmaxlab.manifest import machine
from softmaxlab.methods import COMPUTE_MODES
from softmaxlab.metrics import METRICS
from softmaxlab.stats import SUMMARY_FIELDS

from .plan import Cell, all_ks, headline_compute, headline_rows, plan_shards

COLUMNS: tuple[str, ...] = (
    "distribution",
    "scale",
    "k",
    "dtype",
    "compute",
    "method",
    "label",
    "metric",
    *SUMMARY_FIELDS,
)


# Rows of a shard parsed at once when the merge verifies it: bounds the merge's working
# memory whatever a shard holds.
VERIFY_ROWS = 1 << 16


KEY_COLUMNS = ("distribution", "scale", "k", "dtype", "compute", "label", "metric")
#: The key columns that name a cell (the first of KEY_COLUMNS).
CELL_KEYS = ("distribution", "scale", "k", "dtype", "compute")
# Columns every reader takes as text, whatever they hold: a distribution named "1e3" or
# "True", or the metric "nan", stays a name (pandas would guess a number or a missing value).
TEXT_COLUMNS = ("distribution", "dtype", "compute", "method", "label", "metric")
# The summary's number columns that are not counts (n is checked as an integer).
_FLOAT_FIELDS = tuple(field for field in SUMMARY_FIELDS if field != "n")
#: The text columns' type in the frames read_summary returns: pandas' ``str`` holding one
#: Python object per distinct name, shared by its rows (8 bytes a row), rather than the
#: default Arrow strings (the name's bytes again in every row): half the memory of a job
#: that reads the summary, and of every copy of its rows that it makes. The values, their
#: order and comparisons are those of any ``str`` column.
SUMMARY_TEXT = pd.StringDtype("python", na_value=np.nan)
# The summary's column types, in the CSV (as read_summary reads it) and in summary.parquet:
# names as strings (pandas' ``str``: SUMMARY_TEXT), scale float64, k and n int64, the
# statistics float64.
SUMMARY_DTYPES: dict[str, pd.StringDtype | str] = {
    column: "int64" if column in ("k", "n") else "float64" for column in COLUMNS
}
SUMMARY_DTYPES.update(dict.fromkeys(TEXT_COLUMNS, SUMMARY_TEXT))
# The same as an Arrow schema: plain strings, not dictionaries/categoricals, so a reader
# compares and filters them as text (Parquet still stores them dictionary-encoded).
SUMMARY_SCHEMA = pa.schema(
    [
        (column, pa.string() if column in TEXT_COLUMNS else pa.from_numpy_dtype(np.dtype(kind)))
        for column, kind in SUMMARY_DTYPES.items()
    ]
)
# Rows per Parquet row group: each has min/max statistics per column, so a filter on the
# leading sort keys (distribution, scale, k, dtype) skips most groups of a large summary.
PARQUET_ROW_GROUP = 1 << 16
MANIFEST_FORMAT = 1


class ShardError(ValueError):
    """A shard that does not hold what its manifest and the plan say it holds."""

    def __init__(self, shard, problem: str):
        super().__init__(f"{shard}: {problem}")
        self.shard = Path(shard)


def _key_orders(config: Mapping) -> dict[str, list]:
    """Each key column's values in config order: the canonical order of the rows."""
    return {
        "distribution": list(config["distributions"]),
        "scale": [float(s) for s in config["scales"]],
        "k": all_ks(config),
        "dtype": list(config["dtypes"]),
        "compute": list(COMPUTE_MODES),
        "label": [label for _, _, label in method_specs(config)],
        "metric": list(METRICS),
    }


def _key_ranks(keys: pd.DataFrame, orders: Mapping[str, list]) -> list[np.ndarray]:
    """Each key column's values as their positions in ``orders`` (NaN where unknown)."""
    return [
        keys[col].map({v: i for i, v in enumerate(vals)}).to_numpy(dtype=float)
        for col, vals in orders.items()
    ]


def _canonical_order(keys: pd.DataFrame, config: Mapping) -> np.ndarray:
    """Row indices that put ``keys`` (the key columns of summary rows) in config order."""
    return np.lexsort(_key_ranks(keys, _key_orders(config))[::-1])


def sort_summary(summary: pd.DataFrame, config: Mapping) -> pd.DataFrame:
    """Rows in config order (distribution, scale, K, dtype, method, metric): one canonical order."""
    return summary.iloc[_canonical_order(summary, config)].reset_index(drop=True)


def manifest_path(shard) -> Path:
    """A shard's manifest: the JSON beside its CSV (shard_3.csv -> shard_3.json)."""
    return Path(shard).with_suffix(".json")


def _shard_contents(shard_cells: Iterable[Cell], config: Mapping) -> dict:
    """What a shard must hold: its cells, the config's labels and every metric."""
    return {
        "format": MANIFEST_FORMAT,
        "cells": [[c.distribution, c.scale, c.k, c.dtype, c.compute] for c in shard_cells],
        "labels": [label for _, _, label in method_specs(config)],
        "metrics": list(METRICS),
    }


def write_shard(frame: pd.DataFrame, path, shard_cells: Iterable[Cell], config: Mapping) -> None:
    """A shard's rows (:func:`write_csv`) and its manifest: what it holds (cells, labels,
    metrics), its row count and the SHA-256 of its bytes, which :func:`merge_shards`
    verifies, and the machine that computed it (softmaxlab.manifest.machine). Each file is
    written atomically; a job killed between the two leaves a manifest that does not
    match, which the merge reports."""
    write_csv(frame, path)
    data = Path(path).read_bytes()
    manifest = {
        **_shard_contents(shard_cells, config),
        "rows": data.count(b"\n") - 1,
        "sha256": hashlib.sha256(data).hexdigest(),
        "machine": machine(),
    }
    with atomic_path(manifest_path(path)) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _csv_text(values: list, dtype) -> list[str]:
    """How write_csv spells each value of a column of ``dtype`` (e.g. 200.0, 1e-05)."""
    column = pd.Series(values, dtype=dtype)
    return column.to_csv(index=False, header=False, lineterminator="\n").splitlines()


def _text_orders(config: Mapping) -> dict[str, list[str]]:
    """:func:`_key_orders` spelled as a shard's fields are."""
    orders = _key_orders(config)
    return {
        **orders,
        "scale": _csv_text(orders["scale"], np.float64),
        "k": _csv_text(orders["k"], np.int64),
    }


def _read_manifest(shard: Path) -> dict:
    try:
        manifest = json.loads(manifest_path(shard).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ShardError(
            shard, f"no readable manifest {manifest_path(shard).name} ({error})"
        ) from None
    if not isinstance(manifest, dict):
        raise ShardError(shard, f"manifest {manifest_path(shard).name} is not a JSON object")
    return manifest


def _parse_shard(shard: Path, data: bytes) -> Iterator[pd.DataFrame]:
    """The shard's fields, VERIFY_ROWS rows at a time: key columns, method and n as their
    exact text, the other summary fields as float64 (a field that is not a number fails
    here, as does a line with too many fields: ShardError)."""
    try:
        with pd.read_csv(
            io.BytesIO(data),
            dtype={
                **dict.fromkeys([*KEY_COLUMNS, "method", "n"], str),
                **dict.fromkeys(_FLOAT_FIELDS, np.float64),
            },
            keep_default_na=False,
            na_values={field: [""] for field in _FLOAT_FIELDS},
            skip_blank_lines=False,
            chunksize=VERIFY_ROWS,
        ) as chunks:
            yield from chunks
    except ValueError as error:  # pandas' ParserError is a ValueError too
        raise ShardError(shard, f"malformed CSV ({' '.join(str(error).split())})") from None


def _not_a_count(column: pd.Series) -> tuple[int, str] | None:
    """The first entry of a text column ``n`` that is not a count, and its position."""
    bad = [text for text in pd.unique(column) if not str(text).isascii() or not str(text).isdigit()]
    if not bad:
        return None
    return int(np.argmax(column.isin(bad).to_numpy())), bad[0]


def _text_ranks(column: pd.Series, values: list[str]) -> np.ndarray:
    """Each entry of a text column as its position in ``values`` (-1 if absent); looked up
    once per distinct text (a column has few)."""
    codes, uniques = pd.factorize(column)
    position = {value: i for i, value in enumerate(values)}
    return np.array([position.get(text, -1) for text in uniques], dtype=np.int64)[codes]


@dataclass(frozen=True)
class _ShardRows:
    """A verified shard's data lines, held as its bytes (no str per line): line i is
    ``data[starts[i]:starts[i + 1]]``, newline included; ``codes[i]`` its key ranks
    (KEY_COLUMNS) as one number that sorts as they do, the same for every shard."""

    data: bytes
    starts: np.ndarray
    codes: np.ndarray


def _verified_rows(
    shard: Path, shard_cells: list[Cell], config: Mapping, orders: Mapping[str, list[str]]
) -> _ShardRows:
    """The data lines of shard ``shard`` and their sort codes, after checking that it
    holds exactly the rows the plan gives it: its manifest lists the plan's cells, the
    config's labels and every metric; its bytes have the manifest's SHA-256; every field
    is well formed; and every (cell, label, metric) appears once. ``orders``:
    :func:`_text_orders` of the config. Raises ShardError naming the shard."""
    manifest = _read_manifest(shard)
    _manifest_machine(shard, manifest)
    contents = _shard_contents(shard_cells, config)
    for key, value in contents.items():
        if manifest.get(key) != value:
            raise ShardError(
                shard,
                f"its manifest's {key} are not those the config plans for this shard "
                "(a shard of another config, or copied over this one)",
            )
    data = shard.read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise ShardError(
            shard,
            "its bytes differ from the SHA-256 in its manifest "
            "(truncated, edited or replaced after it was written)",
        )
    newline = data.find(b"\n")
    header = data if newline < 0 else data[:newline]
    if header != ",".join(COLUMNS).encode():
        raise ShardError(shard, f"header {header[:200]!r} is not {','.join(COLUMNS)!r}")
    body = len(header) + 1  # where the data lines start (no copy of them)
    if len(data) > body and not data.endswith(b"\n"):
        raise ShardError(shard, "its last line is cut (no final newline)")
    n_lines = data.count(b"\n", body)  # no field holds a newline: names are one line
    expected = len(shard_cells) * len(contents["labels"]) * len(METRICS)
    if n_lines != expected or manifest.get("rows") != expected:
        raise ShardError(shard, f"{n_lines} rows, but its cells x labels x metrics are {expected}")
    label_method = [name for name, _, _ in method_specs(config)]
    method_of_label = np.array([sorted(set(label_method)).index(name) for name in label_method])
    # The fields VERIFY_ROWS rows at a time (a shard's frame at once would cost the merge
    # several times its bytes); each check's first finding, raised in the order of checks.
    parts, rows, bad_count, unknown_keys = [], 0, None, None
    for chunk in _parse_shard(shard, data):
        found = _not_a_count(chunk["n"])
        if found is not None and bad_count is None:
            bad_count = f"row {rows + found[0] + 1}: n = {found[1]!r} is not a count"
        ranks = np.array([_text_ranks(chunk[col], orders[col]) for col in KEY_COLUMNS])
        methods = _text_ranks(chunk["method"], sorted(set(label_method)))
        label_rank = ranks[KEY_COLUMNS.index("label")]
        unknown = (ranks < 0).any(axis=0) | (methods != method_of_label[label_rank])
        if unknown.any() and unknown_keys is None:
            row = int(np.argmax(unknown))
            values = ", ".join(str(chunk[col].iloc[row]) for col in ["method", *KEY_COLUMNS])
            unknown_keys = f"row {rows + row + 1} has keys this config does not have: {values}"
        parts.append(ranks)
        rows += len(chunk)
    if rows != n_lines:
        raise ShardError(shard, f"{n_lines} lines but {rows} CSV rows")
    for problem in (bad_count, unknown_keys):
        if problem is not None:
            raise ShardError(shard, problem)
    ranks = np.concatenate(parts, axis=1) if parts else np.zeros((len(KEY_COLUMNS), 0), int)
    del parts
    sizes = [len(orders[col]) for col in KEY_COLUMNS]
    planned = [
        [orders[col].index(text) for col, text in zip(KEY_COLUMNS, key, strict=False)]
        for key in _csv_text_cells(shard_cells)
    ]
    cell_keys = len(CELL_KEYS)
    planned_cells = np.ravel_multi_index(tuple(np.array(planned).T), sizes[:cell_keys])
    cell_codes = np.ravel_multi_index(tuple(ranks[:cell_keys]), sizes[:cell_keys])
    outside = ~np.isin(cell_codes, planned_cells)
    if outside.any():
        row = int(np.argmax(outside))
        raise ShardError(shard, f"row {row + 1} is of a cell this shard is not planned to hold")
    codes = np.ravel_multi_index(tuple(ranks), sizes)
    unique, first, counts = np.unique(codes, return_index=True, return_counts=True)
    if len(unique) != len(codes):
        row = int(first[np.argmax(counts > 1)])
        values = ", ".join(orders[col][ranks[i, row]] for i, col in enumerate(KEY_COLUMNS))
        raise ShardError(shard, f"row {row + 1} ({values}) appears more than once")
    return _ShardRows(data, _line_starts(data, body), codes)


def _line_starts(data: bytes, start: int) -> np.ndarray:
    """Where each line of ``data`` from ``start`` on begins and, last, where they end (one
    past each newline), found 16 MiB at a time: a mask of the whole shard at once would
    cost a byte per byte."""
    view = np.frombuffer(data, dtype=np.uint8)
    block = 1 << 24
    ends = [
        np.flatnonzero(view[at : at + block] == ord("\n")) + at + 1
        for at in range(start, len(view), block)
    ]
    return np.concatenate([np.array([start], dtype=np.int64), *ends])


def _csv_text_cells(shard_cells: list[Cell]) -> list[tuple[str, str, str, str, str]]:
    """Each cell's key fields as write_csv spells them."""
    scales = _csv_text([cell.scale for cell in shard_cells], np.float64)
    ks = _csv_text([cell.k for cell in shard_cells], np.int64)
    return [
        (cell.distribution, scale, k, cell.dtype, cell.compute)
        for cell, scale, k in zip(shard_cells, scales, ks, strict=True)
    ]


def merge_shards(
    paths: Iterable,
    config: Mapping,
    path,
    discard_damaged: bool = False,
    parquet=None,
    machines=None,
) -> int:
    """The shards' rows, in the canonical order of :func:`sort_summary`, as one CSV (and,
    with ``parquet``, the same rows in the same order as a typed Parquet file, see
    :func:`write_parquet`; with ``machines``, the JSON of :func:`shard_machines`); returns
    the number of rows.

    ``paths``: the shards' CSVs in plan order (shard i holds plan_shards(config)[i]), each
    with the manifest :func:`write_shard` wrote beside it. Every shard is verified first
    (see :func:`_verified_rows`): a shard that is truncated, cut mid-line, edited, holds a
    duplicated or foreign row or a malformed field, or was copied over another, raises
    ShardError naming it, and nothing is written. With ``discard_damaged`` its CSV and
    manifest are deleted first, so that the workflow's next run recomputes that shard.

    Each shard already holds its rows as :func:`write_csv` formats them, so the lines are
    reordered, never re-formatted (formatting 10^6 rows of floats is most of the cost of
    writing the table): the bytes are those of write_csv(sort_summary(concatenated
    shards)), as tests/test_sweep.py checks.
    """
    paths = [Path(shard) for shard in paths]
    plan = plan_shards(config)
    if len(paths) != len(plan):
        raise ValueError(f"{len(paths)} shards to merge, but the config plans {len(plan)}")
    orders = _text_orders(config)
    shards = []
    for shard, shard_cells in zip(paths, plan, strict=True):
        try:
            shards.append(_verified_rows(shard, shard_cells, config, orders))
        except ShardError as error:
            if not discard_damaged:
                raise
            shard.unlink(missing_ok=True)
            manifest_path(shard).unlink(missing_ok=True)
            raise ShardError(
                shard,
                f"{str(error).removeprefix(f'{shard}: ')}; deleted it and its "
                "manifest, so that the next run recomputes it",
            ) from None
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write((",".join(COLUMNS) + "\n").encode())
        rows = _write_in_order(shards, out)
    del shards
    if parquet is not None:
        _csv_to_parquet(path, parquet)
    if machines is not None:
        with atomic_path(machines) as tmp:
            found = {"machines": shard_machines(paths)}
            tmp.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    return rows


def read_machines(path) -> list[dict[str, str]]:
    """The machines of a merge's JSON (merge_shards' ``machines`` file), in its order."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["machines"]


def shard_machines(paths: Iterable) -> list[dict[str, str]]:
    """The distinct machines (softmaxlab.manifest.machine) that computed the shards
    ``paths``, sorted: one entry when every job ran on the same kind of machine, whatever
    the sharding. A shard written before manifests named their machine counts as
    {"platform": "unknown"}."""
    return distinct_machines(
        _manifest_machine(Path(shard), _read_manifest(Path(shard))) for shard in paths
    )


def _manifest_machine(shard: Path, manifest: Mapping) -> dict[str, str]:
    """The machine a shard's manifest names ({"platform": "unknown"} where it names none);
    ShardError unless it is a JSON object of strings (a hand-edited manifest)."""
    machine = manifest.get("machine", {"platform": "unknown"})
    if not isinstance(machine, dict) or not all(
        isinstance(value, str) for value in machine.values()
    ):
        raise ShardError(
            shard, f"its manifest's machine is not a JSON object of strings: {machine!r}"
        )
    return machine


def distinct_machines(machines: Iterable[Mapping]) -> list[dict]:
    """Each machine (a JSON object) once, in the order of its sorted JSON text."""
    found = {json.dumps(dict(machine), sort_keys=True) for machine in machines}
    return [json.loads(text) for text in sorted(found)]


def _write_in_order(shards: list[_ShardRows], out) -> int:
    """Every shard's lines, in the order of their codes, to the binary file ``out``: a run of
    lines that follow each other in one shard (a cell's, at least) is written as one slice
    of its bytes. Returns the number of lines."""
    order = np.argsort(np.concatenate([shard.codes for shard in shards]), kind="stable")
    # Each line's shard and byte span, in the order written.
    which = np.repeat(np.arange(len(shards)), [len(shard.codes) for shard in shards])[order]
    first = np.concatenate([shard.starts[:-1] for shard in shards])[order]
    last = np.concatenate([shard.starts[1:] for shard in shards])[order]
    runs = np.flatnonzero((which[1:] != which[:-1]) | (first[1:] != last[:-1])) + 1
    for begin, end in zip(
        np.concatenate([[0], runs]), np.concatenate([runs, [len(order)]]), strict=True
    ):
        if begin < end:
            out.write(memoryview(shards[which[begin]].data)[first[begin] : last[end - 1]])
    return len(order)


def _csv_to_parquet(path, parquet) -> None:
    """summary.parquet from the merged summary CSV ``path``: the bytes of
    ``write_parquet(read_summary(path), parquet)``. pyarrow's CSV reader parses it a block at
    a time, typed by SUMMARY_SCHEMA as read_summary types it (an empty field is a missing
    number; text is never missing), in about half the time of pandas' parser; the blocks
    (pyarrow's default, 1 MB) are regrouped into row groups of PARQUET_ROW_GROUP rows, so
    memory holds about one (the merge's peak stays that of writing the CSV)."""
    reader = pa_csv.open_csv(
        path,
        convert_options=pa_csv.ConvertOptions(
            column_types=SUMMARY_SCHEMA,
            null_values=[""],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    _write_parquet_tables(_row_groups(reader), parquet)


def _row_groups(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
    """The rows of ``batches`` (SUMMARY_SCHEMA), PARQUET_ROW_GROUP at a time (the last may
    be shorter; one empty table when there is no row: write_parquet's one empty group)."""
    pending = pa.Table.from_batches([], schema=SUMMARY_SCHEMA)
    groups = 0
    for batch in batches:
        pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
        while len(pending) >= PARQUET_ROW_GROUP:
            yield pending.slice(0, PARQUET_ROW_GROUP)
            pending = pending.slice(PARQUET_ROW_GROUP)
            groups += 1
    if len(pending) or not groups:
        yield pending


def read_table(path, dtype: Mapping | None = None, **kwargs) -> pd.DataFrame:
    """A CSV the workflow wrote (write_csv or to_csv), typed as it was written.

    The TEXT_COLUMNS it has are read as text, always, and only empty fields are missing
    values (what to_csv writes for NaN): pandas' defaults would read the metric "nan" as
    missing and a distribution named "1e3" or "True" as a number or a boolean.
    Infinite values ("inf", "-inf") read back as floats. ``dtype``: types of other
    columns (pandas infers the rest); ``kwargs`` go to pandas.read_csv.
    """
    columns = pd.read_csv(path, nrows=0, **kwargs).reset_index().columns
    types = {**{col: "str" for col in columns if col in TEXT_COLUMNS}, **(dtype or {})}
    return pd.read_csv(
        path,
        dtype=types,
        keep_default_na=False,
        na_values={col: [""] for col in columns if types.get(col) != "str"},
        **kwargs,
    )


def read_summary(path, headline: bool = False, metrics=None, columns=None) -> pd.DataFrame:
    """A summary table (or shard) with the SUMMARY_DTYPES: summary.parquet (written by
    :func:`write_parquet`) or a CSV written by :func:`write_csv` (see :func:`read_table`).
    Both give equal frames for the same rows (tests/test_parquet.py); their text columns
    hold each distinct name once (SUMMARY_TEXT).

    ``headline``: only each format's headline compute mode (:func:`headline_rows`);
    ``metrics``: only those metrics; ``columns``: only those columns (in the summary's
    order; the rows are those chosen without it). From Parquet the rows are chosen a row
    group at a time and copied into the frame's columns, so a job holds the rows and
    columns it reads and one row group, never the whole file."""
    if Path(path).suffix != ".parquet":
        frame = read_table(path, dtype=SUMMARY_DTYPES)
        if metrics is not None:
            frame = frame[frame["metric"].isin(list(metrics))].reset_index(drop=True)
        frame = headline_rows(frame) if headline else frame
        if columns is not None:
            frame = frame[[column for column in frame.columns if column in columns]]
        text = [column for column in TEXT_COLUMNS if column in frame.columns]
        return frame.assign(**{column: _shared_text(frame[column]) for column in text})
    schema = pq.read_schema(path)
    # Text columns as dictionaries (a few distinct names each): the filters compare codes.
    text = [column for column in TEXT_COLUMNS if column in schema.names]
    parquet = pq.ParquetFile(path, read_dictionary=text)
    wanted = [column for column in schema.names if columns is None or column in columns]
    modes = _headline_modes(parquet) if headline and "compute" in schema.names else None
    filtered = (["metric"] if metrics is not None else []) + (["dtype", "compute"] if modes else [])
    # First each group's rows, from the filter columns alone; then the frame's columns at
    # their final length, filled a group at a time (nothing concatenated, no group kept).
    # One thread: Arrow's reading threads each keep a heap of their own (about 50 MiB more
    # resident for a summary of 2 x 10^6 rows), for little time saved.
    keeps, sizes = [], []
    for group in range(parquet.num_row_groups):
        keep = None
        if filtered:
            table = parquet.read_row_group(group, columns=filtered, use_threads=False)
            keep = _summary_filter(table, metrics, modes)
        keeps.append(keep)
        rows = parquet.metadata.row_group(group).num_rows
        sizes.append(rows if keep is None else pc.sum(keep).as_py() or 0)
    types = {column: object if column in text else _numpy_type(schema, column) for column in wanted}
    arrays = {column: np.empty(sum(sizes), dtype=kind) for column, kind in types.items()}
    start = 0
    for group, (keep, size) in enumerate(zip(keeps, sizes, strict=True)):
        table = parquet.read_row_group(group, columns=wanted, use_threads=False)
        table = table if keep is None else table.filter(keep)
        for column, values in arrays.items():
            at = start
            for chunk in table.column(column).chunks:
                part = values[at : at + len(chunk)]
                if column in text:
                    _dictionary_text(chunk, part)
                else:
                    part[:] = _numbers(chunk, column)
                at += len(chunk)
        start += size
    return pd.DataFrame(
        {
            column: pd.arrays.StringArray(values, dtype=SUMMARY_TEXT) if column in text else values
            for column, values in arrays.items()
        },
        copy=False,
    )


def _numpy_type(schema: pa.Schema, column: str) -> np.dtype:
    """The numpy type of a number column of the summary's Arrow ``schema``."""
    kind = schema.field(column).type
    if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
        raise ValueError(f"summary column {column!r} is {kind}, neither text nor numbers")
    return np.dtype(kind.to_pandas_dtype())


def _numbers(chunk: pa.Array, column: str) -> np.ndarray:
    """A number column's values (a float column's nulls as NaN, as pandas reads them)."""
    if chunk.null_count and not pa.types.is_floating(chunk.type):
        raise ValueError(f"summary column {column!r} has missing values")
    return chunk.to_numpy(zero_copy_only=False)


def _dictionary_text(chunk: pa.DictionaryArray, out: np.ndarray) -> None:
    """A dictionary-encoded text column's values into the object array ``out``: one Python
    str per distinct name, shared by its rows (missing values as NaN)."""
    names = np.array([*chunk.dictionary.to_pylist(), np.nan], dtype=object)
    codes = pc.fill_null(chunk.indices, -1).to_numpy()  # -1: the NaN at the end
    np.take(names, codes, out=out)


def _shared_text(column: pd.Series) -> pd.arrays.StringArray:
    """A text column as SUMMARY_TEXT: its distinct names once, each row pointing at one."""
    codes, names = pd.factorize(column)
    names = np.array([*names, np.nan], dtype=object)  # code -1 (missing) -> NaN
    return pd.arrays.StringArray(names[codes], dtype=SUMMARY_TEXT)


def _headline_modes(parquet: pq.ParquetFile) -> dict[str, str]:
    """Each format's headline compute mode (:func:`headline_compute`) among the modes the
    summary.parquet ``parquet`` has for it, read from its (dtype, compute) columns only."""
    found: dict[str, set[str]] = {}
    for group in range(parquet.num_row_groups):
        pairs = parquet.read_row_group(group, columns=["dtype", "compute"], use_threads=False)
        for row in pairs.group_by(["dtype", "compute"]).aggregate([]).to_pylist():
            found.setdefault(row["dtype"], set()).add(row["compute"])
    return {dtype: headline_compute(dtype, modes) for dtype, modes in found.items()}


def _summary_filter(table: pa.Table, metrics, modes: Mapping[str, str] | None):
    """The mask of ``table``'s rows of the given metrics (None: all) in the given compute
    mode of each format (``modes``: format -> mode; None: every mode); None keeps all."""
    keep = None
    if metrics is not None:
        keep = pc.is_in(table["metric"], value_set=pa.array(list(metrics), pa.string()))
    if modes:
        chosen = None
        for dtype, mode in modes.items():
            pick = pc.and_(pc.equal(table["dtype"], dtype), pc.equal(table["compute"], mode))
            chosen = pick if chosen is None else pc.or_(chosen, pick)
        keep = chosen if keep is None else pc.and_(keep, chosen)
    return keep


def write_parquet(frame: pd.DataFrame, path) -> None:
    """A summary frame (COLUMNS) as Parquet with SUMMARY_SCHEMA, written atomically: zstd,
    PARQUET_ROW_GROUP rows a group, and no pandas metadata (the Arrow types say it all),
    so its bytes depend only on the rows and the pyarrow version."""
    table = pa.Table.from_pandas(
        frame.astype(SUMMARY_DTYPES)[list(COLUMNS)], schema=SUMMARY_SCHEMA, preserve_index=False
    ).replace_schema_metadata(None)
    _write_parquet_tables([table], path)


def _write_parquet_tables(tables: Iterable[pa.Table], path) -> None:
    """The rows of ``tables`` (SUMMARY_SCHEMA), one after the other, as :func:`write_parquet`
    writes them: each table's rows in row groups of PARQUET_ROW_GROUP (so tables of that
    many rows, but the last, give the groups of their concatenation)."""
    with (
        atomic_path(path) as tmp,
        pq.ParquetWriter(tmp, SUMMARY_SCHEMA, compression="zstd") as writer,
    ):
        for table in tables:
            writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)


def write_csv(frame: pd.DataFrame, path) -> None:
    """CSV written atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        # Shortest round-trip repr of each float: exact and byte-stable.
        frame.to_csv(tmp, index=False, lineterminator="\n")
