"""The sweep: cells, their grouping into jobs, and the evaluation of a group of cells.

A cell is (distribution, scale, K, dtype). Its vectors come from the (distribution, K)
stream (softmaxlab.sampling), so a cell's numbers are the same whichever job runs it:
sharding changes only the grouping, never a value.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from softmaxlab.config import method_specs
from softmaxlab.dtypes import reference_dtype
from softmaxlab.files import atomic_path
from softmaxlab.methods import evaluate, normalize
from softmaxlab.metrics import (
    GRAD_VANISHING_THRESHOLD,
    METRICS,
    RATE_METRICS,
    directional_grad_norm,
    vector_metrics,
)
from softmaxlab.sampling import logits, sample_z, stream, vectors_per_cell
from softmaxlab.stats import SUMMARY_FIELDS, summarize

COLUMNS: tuple[str, ...] = (
    "distribution",
    "scale",
    "k",
    "dtype",
    "method",
    "label",
    "metric",
    *SUMMARY_FIELDS,
)
# Rows evaluated at once bound a job's memory (about 40 arrays of this many float64 live at
# the peak). Fixed in code, not config: chunk boundaries decide the Gumbel noise streams.
CHUNK_ELEMENTS = 1 << 17

log = logging.getLogger("softmaxlab.sweep")


@dataclass(frozen=True)
class Cell:
    distribution: str
    scale: float
    k: int
    dtype: str


def n_vectors(config: Mapping, k: int) -> int:
    vectors = config["vectors"]
    return vectors_per_cell(k, vectors["elements"], vectors["min"], vectors["max"])


def cells(config: Mapping) -> list[Cell]:
    """Every cell, grouped by (distribution, K) so a job samples each stream once."""
    return [
        Cell(distribution, float(scale), int(k), dtype)
        for distribution in config["distributions"]
        for k in config["k"]
        for scale in config["scales"]
        for dtype in config["dtypes"]
    ]


def cell_elements(config: Mapping, cell: Cell) -> int:
    return n_vectors(config, cell.k) * cell.k


def plan_shards(config: Mapping) -> list[list[Cell]]:
    """Cells packed in order into jobs of about ``shard_elements`` logit elements each."""
    shards: list[list[Cell]] = [[]]
    load = 0
    for cell in cells(config):
        size = cell_elements(config, cell)
        if shards[-1] and load + size > config["shard_elements"]:
            shards.append([])
            load = 0
        shards[-1].append(cell)
        load += size
    return shards


def shard_params(config: Mapping, shard: int, shards: list[list[Cell]] | None = None) -> dict:
    """Everything a shard's result depends on, as plain data (Snakemake reruns when it
    changes). ``shards``: the plan, when the caller has it (planning is O(cells))."""
    shard_cells = (plan_shards(config) if shards is None else shards)[shard]
    used = sorted({cell.distribution for cell in shard_cells})
    return {
        "seed": config["seed"],
        "distributions": {name: dict(config["distributions"][name]) for name in used},
        "methods": [dict(entry) for entry in config["methods"]],
        "vectors": dict(config["vectors"]),
        "grad_vectors": config["grad_vectors"],
        "cells": [[c.distribution, c.scale, c.k, c.dtype] for c in shard_cells],
    }


def _method_call(name: str, params: dict, seed: int, cell: Cell, chunk: int) -> dict:
    """Parameters for one chunk: Gumbel noise gets its own stream per cell and chunk."""
    if name != "gumbel_softmax":
        return params
    rng = stream(seed, "gumbel", params["seed"], cell.distribution, cell.k, chunk)
    return {**params, "seed": int(rng.integers(2**63))}


def _stacked_logits(z: np.ndarray, group: list[Cell], rows: slice) -> np.ndarray:
    """Rows ``rows`` of the virtual stack [x(scale_1); x(scale_2); ...] of a group's cells,
    made on demand so that no more than a chunk of logits is ever held."""
    n = len(z)
    parts = []
    for i, cell in enumerate(group):
        lo, hi = max(rows.start, i * n), min(rows.stop, (i + 1) * n)
        if lo < hi:
            parts.append(logits(z[lo - i * n : hi - i * n], cell.scale, cell.dtype))
    return np.concatenate(parts)


def _fill_metrics(block: np.ndarray, rows: slice, x: np.ndarray, name: str, call: dict) -> None:
    """Every metric but the gradient's, for the logits x that are rows ``rows`` of block."""
    p, overflow = evaluate(x, name, **call)
    p_ref = normalize(x.astype(reference_dtype(x.dtype)), name, **call)
    metric_values = vector_metrics(x, p, overflow, p_ref)
    for j, metric in enumerate(METRICS):
        if metric in metric_values:
            block[rows, j] = metric_values[metric]


def _fill_grad(block, rows, x: np.ndarray, directions: np.ndarray, name: str, call: dict):
    """grad_norm and grad_vanishes (float64 central differences) for rows ``rows`` of block."""
    grad = directional_grad_norm(
        lambda y: normalize(y, name, **call), x.astype(np.float64), directions
    )
    block[rows, METRICS.index("grad_norm")] = grad
    block[rows, METRICS.index("grad_vanishes")] = np.where(
        np.isnan(grad), np.nan, grad < GRAD_VANISHING_THRESHOLD
    )


def _fill_grad_chunked(block, z, group, n_grad, directions, name, call_of_chunk, rows_per_chunk):
    """_fill_grad over the first n_grad vectors of every cell of ``group``, a chunk of rows
    at a time (the float64 copies and differences are the largest arrays of a job).
    ``call_of_chunk(c)``: the method's parameters for chunk c."""
    n = len(z)
    total = len(group) * n_grad
    for chunk, start in enumerate(range(0, total, rows_per_chunk)):
        stack = np.arange(start, min(start + rows_per_chunk, total))
        rows = (stack // n_grad) * n + stack % n_grad  # the cells' first n_grad rows
        x = _stacked_logits(z[:n_grad], group, slice(stack[0], stack[-1] + 1))
        _fill_grad(block, rows, x, directions[stack % n_grad], name, call_of_chunk(chunk))


def evaluate_group(
    config: Mapping, group: list[Cell], z: np.ndarray, specs, directions: np.ndarray
) -> list[np.ndarray]:
    """Per-vector metrics of every method on cells that differ only in scale.

    The cells share (distribution, K, dtype) and so their draws z; their logits are
    evaluated as one stack, in chunks of about CHUNK_ELEMENTS, which amortises numpy's
    per-call cost over the scales without changing any value (every method but
    gumbel_softmax is row-wise). gumbel_softmax draws its noise per cell and chunk, so it
    runs cell by cell. Returns one array per cell, shape (n_vectors, n_methods * n_metrics).
    """
    n, k = z.shape
    n_grad = min(config["grad_vectors"], n)
    rows_per_chunk = max(1, CHUNK_ELEMENTS // k)
    width = len(METRICS)
    values = np.full((len(group) * n, len(specs) * width), np.nan)
    for m, (name, params, _label) in enumerate(specs):
        block = values[:, m * width : (m + 1) * width]
        if name == "gumbel_softmax":
            for i, cell in enumerate(group):
                for chunk, start in enumerate(range(0, n, rows_per_chunk)):
                    stop = min(start + rows_per_chunk, n)
                    call = _method_call(name, params, config["seed"], cell, chunk)
                    x = logits(z[start:stop], cell.scale, cell.dtype)
                    _fill_metrics(block, slice(i * n + start, i * n + stop), x, name, call)
                # Chunk c of the gradient rows starts where chunk c of the metrics does:
                # same noise, so the derivative is taken at the point the metrics saw.
                _fill_grad_chunked(
                    block[i * n : (i + 1) * n],
                    z,
                    [cell],
                    n_grad,
                    directions,
                    name,
                    lambda chunk, cell=cell, name=name, params=params: _method_call(
                        name, params, config["seed"], cell, chunk
                    ),
                    rows_per_chunk,
                )
            continue
        for start in range(0, len(values), rows_per_chunk):
            rows = slice(start, min(start + rows_per_chunk, len(values)))
            _fill_metrics(block, rows, _stacked_logits(z, group, rows), name, params)
        _fill_grad_chunked(
            block,
            z,
            group,
            n_grad,
            directions,
            name,
            lambda chunk, params=params: params,
            rows_per_chunk,
        )
    return [values[i * n : (i + 1) * n] for i in range(len(group))]


def _directions(seed: int, distribution: str, k: int, count: int) -> np.ndarray:
    """Unit directions for the directional derivative, one per vector (shared by a stream)."""
    v = stream(seed, "grad", distribution, k).standard_normal((count, k))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def run_cells(
    config: Mapping,
    shard_cells: Iterable[Cell],
    progress: Callable[[int, int, Cell], None] | None = None,
) -> pd.DataFrame:
    """Summary rows (COLUMNS) for the given cells, in the given cell order."""
    specs = method_specs(config)
    shard_cells = list(shard_cells)
    is_rate = np.array([metric in RATE_METRICS for _ in specs for metric in METRICS])
    groups: dict[tuple, list[Cell]] = {}
    for cell in shard_cells:
        groups.setdefault((cell.distribution, cell.k, cell.dtype), []).append(cell)
    frames: dict[Cell, pd.DataFrame] = {}
    cached: tuple | None = None
    with np.errstate(all="ignore"):
        for (distribution, k, _dtype), group in groups.items():
            if cached is None or cached[0] != (distribution, k):
                n = n_vectors(config, k)
                spec = config["distributions"][distribution]
                z = sample_z(config["seed"], distribution, spec, k, n)
                count = min(config["grad_vectors"], n)
                cached = ((distribution, k), z, _directions(config["seed"], distribution, k, count))
            _, z, directions = cached
            for cell, values in zip(
                group, evaluate_group(config, group, z, specs, directions), strict=True
            ):
                frames[cell] = pd.DataFrame(
                    {
                        "distribution": cell.distribution,
                        "scale": cell.scale,
                        "k": cell.k,
                        "dtype": cell.dtype,
                        "method": [name for name, _, _ in specs for _ in METRICS],
                        "label": [label for _, _, label in specs for _ in METRICS],
                        "metric": list(METRICS) * len(specs),
                        **summarize(values, is_rate),
                    }
                )
                if progress is not None:
                    progress(len(frames), len(shard_cells), cell)
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat([frames[cell] for cell in shard_cells], ignore_index=True)[list(COLUMNS)]


def sort_summary(summary: pd.DataFrame, config: Mapping) -> pd.DataFrame:
    """Rows in config order (distribution, scale, K, dtype, method, metric): one canonical order."""
    order = {
        "distribution": list(config["distributions"]),
        "scale": [float(s) for s in config["scales"]],
        "k": [int(k) for k in config["k"]],
        "dtype": list(config["dtypes"]),
        "label": [label for _, _, label in method_specs(config)],
        "metric": list(METRICS),
    }
    keys = pd.DataFrame(
        {col: summary[col].map({v: i for i, v in enumerate(vals)}) for col, vals in order.items()}
    )
    index = np.lexsort([keys[col].to_numpy() for col in reversed(list(order))])
    return summary.iloc[index].reset_index(drop=True)


def read_summary(path) -> pd.DataFrame:
    """A summary table (or shard) as written by :func:`write_csv`.

    Only empty fields are missing values: pandas' default would also read the metric name
    "nan" as a missing value. Infinite values ("inf", "-inf") read back as floats.
    """
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def write_csv(frame: pd.DataFrame, path) -> None:
    """CSV written atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        # Shortest round-trip repr of each float: exact and byte-stable.
        frame.to_csv(tmp, index=False, lineterminator="\n")


def stderr_progress(done: int, total: int, cell: Cell) -> None:
    print(
        f"[{done}/{total}] {cell.distribution} scale={cell.scale:g} k={cell.k} {cell.dtype}",
        file=sys.stderr,
        flush=True,
    )
