"""Raw per-vector metrics, written as Parquet while a job streams its cells.

One row per (cell, method, vector), one float64 column per metric (softmaxlab.metrics.
METRICS; NaN where a metric is undefined or not measured, e.g. grad_norm beyond the first
grad_vectors vectors). ``vector`` is the vector's index in its cell, so rows of the same
vector across methods, scales and dtypes line up (they share the draw z). Off by default:
the config key ``raw_metrics`` turns it on. Read every shard at once with
``pandas.read_parquet("results/raw")``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from softmaxlab.files import atomic_path
from softmaxlab.metrics import METRICS

SCHEMA = pa.schema(
    [
        ("distribution", pa.dictionary(pa.int32(), pa.string())),
        ("scale", pa.float64()),
        ("k", pa.int64()),
        ("dtype", pa.dictionary(pa.int32(), pa.string())),
        ("compute", pa.dictionary(pa.int32(), pa.string())),
        ("method", pa.dictionary(pa.int32(), pa.string())),
        ("label", pa.dictionary(pa.int32(), pa.string())),
        ("vector", pa.int64()),
        *[(metric, pa.float64()) for metric in METRICS],
    ]
)


def _repeated(value: str, count: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(count, dtype=np.int32)), pa.array([value], pa.string())
    )


def _labels(values: list[str], repeat: int) -> pa.DictionaryArray:
    """values[0] x repeat, values[1] x repeat, ... as one dictionary column (a dictionary
    of distinct strings, so pandas reads it as a categorical)."""
    distinct = list(dict.fromkeys(values))
    codes = np.array([distinct.index(value) for value in values], dtype=np.int32)
    indices = np.repeat(codes, repeat)
    return pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(distinct, pa.string()))


def block_table(cell, specs, first_vector: int, values: np.ndarray) -> pa.Table:
    """The rows of one block of a cell: ``values`` has shape (vectors, methods x METRICS),
    as softmaxlab.sweep.evaluate_group returns it; rows are method-major."""
    rows, width = len(values), len(METRICS)
    per_method = values.reshape(rows, len(specs), width).transpose(1, 0, 2).reshape(-1, width)
    count = len(per_method)
    columns = [
        _repeated(cell.distribution, count),
        pa.array(np.full(count, cell.scale)),
        pa.array(np.full(count, cell.k, dtype=np.int64)),
        _repeated(cell.dtype, count),
        _repeated(cell.compute, count),
        _labels([name for name, _, _ in specs], rows),
        _labels([label for _, _, label in specs], rows),
        pa.array(np.tile(np.arange(first_vector, first_vector + rows, dtype=np.int64), len(specs))),
        *[pa.array(per_method[:, j]) for j in range(width)],
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


@contextlib.contextmanager
def parquet_writer(path, specs) -> Iterator:
    """A function ``write(cell, first_vector, values)`` appending one block to ``path``.

    The file is written under a temporary name and renamed on success, so an interrupted
    job leaves no Parquet file that looks complete. One row group per block keeps memory
    bounded by the block.
    """
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, SCHEMA) as writer:
        yield lambda cell, first_vector, values: writer.write_table(
            block_table(cell, specs, first_vector, values)
        )
