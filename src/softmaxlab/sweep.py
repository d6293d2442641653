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

from softmaxlab import methods as methods_module
from softmaxlab.config import method_specs
from softmaxlab.dtypes import reference_dtype
from softmaxlab.files import atomic_path
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


def shard_params(config: Mapping, shard: int) -> dict:
    """Everything a shard's result depends on, as plain data (Snakemake reruns when it changes)."""
    shard_cells = plan_shards(config)[shard]
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


def evaluate_cell(
    config: Mapping, cell: Cell, z: np.ndarray, specs, directions: np.ndarray
) -> np.ndarray:
    """Per-vector metrics of every method on one cell: shape (n_vectors, n_methods * n_metrics)."""
    n, k = z.shape
    x = logits(z, cell.scale, cell.dtype)
    x_ref = x.astype(reference_dtype(cell.dtype))
    x64 = x.astype(np.float64)
    n_grad = min(config["grad_vectors"], n)
    rows_per_chunk = max(1, CHUNK_ELEMENTS // k)
    values = np.empty((n, len(specs) * len(METRICS)))
    for m, (name, params, _label) in enumerate(specs):
        block = values[:, m * len(METRICS) : (m + 1) * len(METRICS)]
        for chunk, start in enumerate(range(0, n, rows_per_chunk)):
            rows = slice(start, min(start + rows_per_chunk, n))
            call = _method_call(name, params, config["seed"], cell, chunk)
            p, overflow = methods_module.evaluate(x[rows], name, **call)
            p_ref = methods_module.normalize(x_ref[rows], name, **call)
            metric_values = vector_metrics(x[rows], p, overflow, p_ref)
            for j, metric in enumerate(METRICS):
                if metric in metric_values:
                    block[rows, j] = metric_values[metric]
        call = _method_call(name, params, config["seed"], cell, 0)
        grad = np.full(n, np.nan)
        grad[:n_grad] = directional_grad_norm(
            lambda y, name=name, call=call: methods_module.normalize(y, name, **call),
            x64[:n_grad],
            directions[:n_grad],
        )
        block[:, METRICS.index("grad_norm")] = grad
        with np.errstate(invalid="ignore"):
            block[:, METRICS.index("grad_vanishes")] = np.where(
                np.isnan(grad), np.nan, grad < GRAD_VANISHING_THRESHOLD
            )
    return values


def _directions(seed: int, distribution: str, k: int, count: int) -> np.ndarray:
    """Unit directions for the directional derivative, one per vector, shared by all cells of a stream."""
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
    parts = []
    cached: tuple | None = None
    for index, cell in enumerate(shard_cells):
        if cached is None or cached[0] != (cell.distribution, cell.k):
            n = n_vectors(config, cell.k)
            z = sample_z(
                config["seed"],
                cell.distribution,
                config["distributions"][cell.distribution],
                cell.k,
                n,
            )
            directions = _directions(
                config["seed"], cell.distribution, cell.k, min(config["grad_vectors"], n)
            )
            cached = ((cell.distribution, cell.k), z, directions)
        _, z, directions = cached
        summary = summarize(evaluate_cell(config, cell, z, specs, directions), is_rate)
        frame = pd.DataFrame(
            {
                "distribution": cell.distribution,
                "scale": cell.scale,
                "k": cell.k,
                "dtype": cell.dtype,
                "method": [name for name, _, _ in specs for _ in METRICS],
                "label": [label for _, _, label in specs for _ in METRICS],
                "metric": list(METRICS) * len(specs),
                **summary,
            }
        )
        parts.append(frame)
        if progress is not None:
            progress(index + 1, len(shard_cells), cell)
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(COLUMNS)]


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
