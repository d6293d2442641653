"""The sweep: cells, their grouping into jobs, and the evaluation of a group of cells.

A cell is (distribution, scale, K, dtype, compute mode). Its vectors come from the (distribution, K)
stream (softmaxlab.sampling), so a cell's numbers are the same whichever job runs it:
sharding changes only the grouping, never a value.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from softmaxlab import nll, plugins
from softmaxlab.config import method_specs
from softmaxlab.dtypes import get_dtype, reference_dtype
from softmaxlab.files import atomic_path
from softmaxlab.methods import COMPUTE_MODES, evaluate, normalize, plugin
from softmaxlab.metrics import (
    GRAD_VANISHING_THRESHOLD,
    METRICS,
    NLL_DTYPE,
    RATE_METRICS,
    directional_grad_norm,
    error_metrics,
    vector_metrics,
)
from softmaxlab.sampling import (
    EMPIRICAL,
    empirical_k,
    logits,
    sample_z_blocks,
    stream,
    vectors_per_cell,
)
from softmaxlab.stats import SUMMARY_FIELDS, RunningSummary

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
# Logits evaluated at once bound a job's working memory (about 40 arrays of this many
# float64 live at the peak). Fixed in code, not config: block boundaries decide the Gumbel
# noise streams.
CHUNK_ELEMENTS = 1 << 17
# Rows of a cell evaluated together (see block_rows): bounds the metric values held per cell.
MAX_BLOCK_ROWS = 2048
# Metric values and quantile samples held at once for the cells evaluated together.
PASS_BYTES = 1 << 27
PROGRESS_SECONDS = 10.0

log = logging.getLogger("softmaxlab.sweep")


@dataclass(frozen=True)
class Cell:
    distribution: str
    scale: float
    k: int
    dtype: str
    #: How the format computes (softmaxlab.methods.COMPUTE_MODES): see compute_modes.
    compute: str = "native"


#: The mode a format narrower than float32 computes in when the config's ``compute`` does
#: not list it, and the mode the claims, figures and tables read (headline_rows): float32,
#: as the frameworks' kernels compute (softmaxlab.methods.compute_dtype).
DEFAULT_COMPUTE = "float32"


def compute_modes(config: Mapping, dtype: str) -> list[str]:
    """The compute modes of ``dtype``'s cells: the config's ``compute`` list for a format
    narrower than float32 (DEFAULT_COMPUTE when not listed); "native" for float32 and
    float64, whose arithmetic is their own in either mode."""
    if get_dtype(dtype).itemsize >= 4:
        return ["native"]
    listed = config.get("compute", {}).get(dtype, [DEFAULT_COMPUTE])
    return [mode for mode in COMPUTE_MODES if mode in listed]  # canonical order


def headline_compute(dtype: str, modes: Iterable[str]) -> str:
    """The one mode of ``dtype`` that the claims, figures and tables read among the modes
    a summary has for it: DEFAULT_COMPUTE where measured, else native."""
    modes = set(modes)
    if get_dtype(dtype).itemsize < 4 and DEFAULT_COMPUTE in modes:
        return DEFAULT_COMPUTE
    return "native" if "native" in modes else sorted(modes)[0]


def headline_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of each format's headline compute mode (:func:`headline_compute`):
    one row per (distribution, scale, K, dtype, label, metric), as the claims, figures and
    tables read it. A summary without a compute column is returned as it is."""
    if "compute" not in summary.columns or summary.empty:
        return summary
    pairs = summary[["dtype", "compute"]].drop_duplicates()
    chosen = {
        dtype: headline_compute(dtype, group["compute"])
        for dtype, group in pairs.groupby("dtype", sort=False)
    }
    keep = summary["compute"].to_numpy() == summary["dtype"].map(chosen).to_numpy()
    return summary[keep].reset_index(drop=True)


def n_vectors(config: Mapping, k: int) -> int:
    vectors = config["vectors"]
    return vectors_per_cell(k, vectors["elements"], vectors["min"], vectors["max"])


def ks(config: Mapping, distribution: str) -> list[int]:
    """The K of a distribution's cells: its own ``k`` list when it has one, else the
    config's ``k``; for an empirical distribution the one K of its file (its ``classes``
    when stated: the file is then not read, softmaxlab.sampling.empirical_k)."""
    spec = config["distributions"][distribution]
    if spec.get("family") == EMPIRICAL:
        return [empirical_k(spec)]
    return [int(k) for k in spec.get("k", config["k"])]


def all_ks(config: Mapping) -> list[int]:
    """Every K of the sweep in canonical order: the ``k`` list, then the distributions' own
    K (their ``k`` lists, an empirical one's K) that are not in it, in distribution order."""
    found = [int(k) for k in config["k"]]
    for distribution in config["distributions"]:
        found += [k for k in ks(config, distribution) if k not in found]
    return found


def independent_vectors(config: Mapping) -> dict[tuple[str, int], int]:
    """The distinct vectors z drawn per (distribution, K): n_vectors(config, K) from the
    (distribution, K) stream, shared by every scale and format of that (distribution, K)
    (common random numbers), so their sum over (distribution, K) is the number of
    independent vectors of the sweep."""
    return {
        (distribution, k): n_vectors(config, k)
        for distribution in config["distributions"]
        for k in ks(config, distribution)
    }


def cells(config: Mapping) -> list[Cell]:
    """Every cell, grouped by (distribution, K) so a job samples each stream once."""
    return [
        Cell(distribution, float(scale), k, dtype, compute)
        for distribution in config["distributions"]
        for k in ks(config, distribution)
        for scale in config["scales"]
        for dtype in config["dtypes"]
        for compute in compute_modes(config, dtype)
    ]


def logit_files(config: Mapping, shard_cells: Iterable[Cell]) -> list[str]:
    """The logit files (empirical distributions' paths) a job on ``shard_cells`` reads: the
    workflow gives them to the job as inputs, so a job waits for a file the workflow
    writes and reruns when a file changes."""
    used = dict.fromkeys(cell.distribution for cell in shard_cells)
    specs = [config["distributions"][name] for name in used]
    return [spec["path"] for spec in specs if spec.get("family") == EMPIRICAL]


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


def job_mem_mb(config: Mapping, shard_cells: list[Cell]) -> int:
    """Memory (MiB) to request for a job on ``shard_cells``: 1024, or more for huge K.

    A job streams its cells, so its peak does not depend on how many vectors or cells it
    has; it grows with the largest block (one vector when K > CHUNK_ELEMENTS) and with the
    draws held for the first grad_vectors vectors of a (distribution, K) (GradientDraws:
    directions and NLL partners, 2 x grad_vectors x K float64). Estimate: 384 MiB
    (interpreter, libraries, PASS_BYTES of summaries) + 256 bytes per logit of the largest
    block + those draws, with a quarter's margin. Measured before the NLL metrics: K = 10^6
    with 8 gradient vectors peaks at 396 MiB (benchmarks/README.md), one K = 4 x 10^6
    vector at 963 MiB. With them, a float64 K = 10^6 cell of softmax and sparsemax with 8
    gradient vectors peaks at 410 MiB (332 MiB before; estimate 750 MiB, request 1024);
    nll_metrics on one row of 10^6 logits traces at most 114 MiB (entmax15), under the
    block's 256 bytes per logit.
    """
    largest = max((cell.k for cell in shard_cells), default=1)
    block = max(min(CHUNK_ELEMENTS, MAX_BLOCK_ROWS * largest), largest)
    held = GradientDraws.BYTES_PER_LOGIT * config["grad_vectors"] * largest
    estimate = 384 * 2**20 + 256 * block + held
    return max(1024, int(1.25 * estimate / 2**20))


def shard_params(config: Mapping, shard: int, shards: list[list[Cell]] | None = None) -> dict:
    """Everything a shard's result depends on, as plain data (Snakemake reruns when it
    changes). ``shards``: the plan, when the caller has it (planning is O(cells))."""
    shard_cells = (plan_shards(config) if shards is None else shards)[shard]
    used = sorted({cell.distribution for cell in shard_cells})
    return {
        "seed": config["seed"],
        "distributions": {name: dict(config["distributions"][name]) for name in used},
        "methods": [dict(entry) for entry in config["methods"]],
        "plugin_sources": plugin_sources(config),
        "vectors": dict(config["vectors"]),
        "grad_vectors": config["grad_vectors"],
        "error_vectors": config["error_vectors"],
        "quantile_vectors": config["quantile_vectors"],
        "cells": [[c.distribution, c.scale, c.k, c.dtype, c.compute] for c in shard_cells],
    }


def plugin_sources(config: Mapping) -> dict[str, str | None]:
    """Each plugin method's name -> the SHA-256 of the file that defines it (None when it
    has none): a change to a plugin's code reruns the jobs that run it."""
    found = (plugin(entry["method"]) for entry in config["methods"])
    return {entry.name: plugins.source_digest(entry) for entry in found if entry is not None}


def block_rows(k: int) -> int:
    """Vectors of a cell evaluated together: about CHUNK_ELEMENTS logits, at most
    MAX_BLOCK_ROWS rows. Fixed by K alone, so blocks (and Gumbel noise) never depend on
    the sharding or on the other cells."""
    return max(1, min(CHUNK_ELEMENTS // k, MAX_BLOCK_ROWS))


def _method_call(name: str, params: dict, seed: int, cell: Cell, block: int) -> dict:
    """Parameters for one block: Gumbel noise gets its own stream per cell and block."""
    if name != "gumbel_softmax":
        return params
    rng = stream(seed, "gumbel", params["seed"], cell.distribution, cell.k, block)
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


def _reference_rows(x: np.ndarray, first_rows: np.ndarray, error_vectors: int) -> np.ndarray | None:
    """The rows whose error metrics are measured: all (None) unless x's reference is long
    double (float64 cells), which costs about 10x the method; then the rows whose vector
    index in its cell (``first_rows``) is below ``error_vectors``. Where long double is no
    wider than float64 (Windows, macOS arm64) no row: float64 is never compared with
    itself."""
    if reference_dtype(x.dtype) != np.longdouble:
        return None
    if np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant:
        return np.zeros(len(x), dtype=bool)
    return first_rows < error_vectors


def _fill_metrics(block, rows, x, name: str, call: dict, compute: str, reference_rows) -> None:
    """Every metric but the gradient and NLL ones, for the logits x (rounded to the cell's
    format, every entry finite) that are rows ``rows`` of block. The error metrics are
    measured on ``reference_rows`` of them (a mask; None: all) and NaN on the others."""
    from softmaxlab.kernels.formats import widen  # imports numba on the first call

    p, overflow = evaluate(x, name, compute=compute, **call)
    wide = reference_dtype(x.dtype)
    if reference_rows is None:
        metric_values = vector_metrics(x, p, overflow, normalize(widen(x, wide), name, **call))
    else:
        metric_values = vector_metrics(x, p, overflow, None)
        if reference_rows.any():
            # gumbel_softmax's noise depends on the array's shape: reference all its rows.
            part = slice(None) if name == "gumbel_softmax" else reference_rows
            p_ref = normalize(widen(x[part], wide), name, **call)
            if name == "gumbel_softmax":
                p_ref = p_ref[reference_rows]
            errors = error_metrics(p[reference_rows], p_ref)
            for metric, values in errors.items():
                metric_values[metric][reference_rows] = values
    for j, metric in enumerate(METRICS):
        if metric in metric_values:
            block[rows, j] = metric_values[metric]


_NLL_COLUMNS = [METRICS.index(metric) for metric in nll.NLL_METRICS]
_INPUT_NONFINITE = METRICS.index("input_nonfinite")


def _fill_grad(block, rows, x: np.ndarray, directions: np.ndarray, name: str, call: dict):
    """grad_norm and grad_vanishes (float64 central differences) for rows ``rows`` of block."""
    grad = directional_grad_norm(
        lambda y: normalize(y, name, **call), x.astype(np.float64), directions
    )
    block[rows, METRICS.index("grad_norm")] = grad
    block[rows, METRICS.index("grad_vanishes")] = np.where(
        np.isnan(grad), np.nan, grad < GRAD_VANISHING_THRESHOLD
    )


def _fill_nll(block, rows, x, x_far, targets, name: str, call: dict) -> None:
    """The NLL metrics (softmaxlab.nll.nll_metrics) for rows ``rows`` of block: logits x,
    the segments' far ends x_far and the targets of those rows."""
    values = nll.nll_metrics(x, x_far, targets, name, call)
    block[np.ix_(rows, _NLL_COLUMNS)] = np.column_stack([values[m] for m in nll.NLL_METRICS])


@dataclass(frozen=True)
class _Stack:
    """A block of a group's cells as one stack of rows [x(scale_1); x(scale_2); ...]: the
    rounded logits, which rows are all finite, each row's vector index in its cell, and
    the rows whose error metrics are measured (None: all)."""

    x: np.ndarray
    finite: np.ndarray
    vector: np.ndarray
    reference: np.ndarray | None


def _stack(z: np.ndarray, group: list[Cell], first: int, error_vectors: int) -> _Stack:
    """The _Stack of block rows z (vectors first, first + 1, ... of each cell)."""
    from softmaxlab.kernels.formats import finite_rows  # imports numba on the first call

    x = _stacked_logits(z, group, slice(0, len(group) * len(z)))
    vector = first + np.tile(np.arange(len(z)), len(group))
    finite = finite_rows(x)
    return _Stack(x, finite, vector, _reference_rows(x, vector, error_vectors))


def _fill_stacked(block, stack: _Stack, span: slice, name, call, compute, chunk_rows) -> None:
    """Every metric but the gradient and NLL ones for rows ``span`` of the stack,
    ``chunk_rows`` at a time: the method on the rows whose rounded logits are all finite,
    NaN (left out of every summary) on the others."""
    for start in range(span.start, span.stop, chunk_rows):
        rows = np.arange(start, min(start + chunk_rows, span.stop))
        rows = rows[stack.finite[rows]]
        if rows.size:
            reference = None if stack.reference is None else stack.reference[rows]
            x = stack.x[rows] if rows.size < len(stack.x) else stack.x
            _fill_metrics(block, rows, x, name, call, compute, reference)


def _fill_float64(block, n, stack: _Stack, far, name, call, draws: GradientDraws, chunk_rows):
    """The gradient and NLL metrics of the first len(draws) rows of each float64 cell of
    the stack (n rows a cell; rows whose logits are all finite), ``chunk_rows`` stack rows
    at a time. ``far``: the NLL segments' far ends, len(draws) rows a cell."""
    n_grad = len(draws)
    total = len(far)
    for start in range(0, total, chunk_rows):
        stack_rows = np.arange(start, min(start + chunk_rows, total))
        rows = (stack_rows // n_grad) * n + stack_rows % n_grad  # the cells' first n_grad rows
        keep = stack.finite[rows]
        rows, stack_rows = rows[keep], stack_rows[keep]
        if not rows.size:
            continue
        x = stack.x[rows]
        draw = stack_rows % n_grad
        _fill_grad(block, rows, x, draws.directions[draw], name, call)
        _fill_nll(block, rows, x, far[stack_rows], draws.targets[draw], name, call)


def evaluate_group(
    config: Mapping,
    group: list[Cell],
    z: np.ndarray,
    specs,
    draws: GradientDraws,
    block: int = 0,
) -> list[np.ndarray]:
    """Per-vector metrics of every method on block ``block`` of cells that differ only in
    scale.

    The cells share (distribution, K, dtype, compute) and so their draws: z holds rows
    [block * block_rows(K), ...) of them, ``draws`` the gradient directions, NLL targets
    and partners of the cells' first grad_vectors rows (:func:`gradient_draws`). The
    group's logits are rounded once, as one stack (_Stack); a vector whose rounded logits
    are not all finite counts in input_nonfinite and is left out of every other metric.
    The methods run on the stack in chunks of about CHUNK_ELEMENTS, which amortises
    numpy's per-call cost over the scales without changing any value (every method but
    gumbel_softmax is row-wise); gumbel_softmax draws its noise per cell and block, so it
    runs cell by cell. The gradient and NLL metrics are measured on float64 groups only
    (NaN elsewhere), the error metrics of float64 on the first error_vectors vectors.
    Returns one array per cell, shape (len(z), n_methods * n_metrics).
    """
    n, k = z.shape
    first = block * block_rows(k)
    n_grad = int(np.clip(min(config["grad_vectors"], len(draws)) - first, 0, n))
    block_draws = draws.rows(first, n_grad)
    chunk_rows = max(1, CHUNK_ELEMENTS // k)
    width = len(METRICS)
    compute = group[0].compute
    stack = _stack(z, group, first, config["error_vectors"])
    with_float64 = group[0].dtype == NLL_DTYPE and n_grad > 0
    # the NLL segments' far ends, rounded once for every method (n_grad rows a cell)
    far = (
        _stacked_logits(block_draws.partners, group, slice(0, len(group) * n_grad))
        if with_float64
        else None
    )
    values = np.full((len(group) * n, len(specs) * width), np.nan)
    for m, (name, params, _label) in enumerate(specs):
        columns = values[:, m * width : (m + 1) * width]
        columns[:, _INPUT_NONFINITE] = ~stack.finite
        if name == "gumbel_softmax":
            for i, cell in enumerate(group):
                call = _method_call(name, params, config["seed"], cell, block)
                span = slice(i * n, (i + 1) * n)
                _fill_stacked(columns, stack, span, name, call, compute, n)
                if with_float64:
                    cell_stack = _Stack(stack.x[span], stack.finite[span], stack.vector[span], None)
                    cell_far = far[i * n_grad : (i + 1) * n_grad]
                    _fill_float64(
                        columns[span], n, cell_stack, cell_far, name, call, block_draws, n
                    )
        else:
            span = slice(0, len(stack.x))
            _fill_stacked(columns, stack, span, name, params, compute, chunk_rows)
            if with_float64:
                _fill_float64(columns, n, stack, far, name, params, block_draws, chunk_rows)
    return [values[i * n : (i + 1) * n] for i in range(len(group))]


def _directions(seed: int, distribution: str, k: int, count: int) -> np.ndarray:
    """Unit directions for the directional derivative, one per vector (shared by a stream)."""
    v = stream(seed, "grad", distribution, k).standard_normal((count, k))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@dataclass(frozen=True)
class GradientDraws:
    """What the first vectors of every cell of a (distribution, K) share, row by row: the
    unit directions of grad_norm (count, K), the NLL targets (count,) int64 and the NLL
    segments' far ends as standardised draws z' (count, K), scaled and rounded like z in
    each cell. Each comes from its own named stream, so no value depends on the sharding."""

    directions: np.ndarray
    targets: np.ndarray
    partners: np.ndarray
    #: Bytes held per (vector, logit): the directions and the partners, float64 each.
    BYTES_PER_LOGIT = 16

    def __len__(self) -> int:
        return len(self.directions)

    def rows(self, first: int, count: int) -> GradientDraws:
        """Rows [first, first + count) of each array."""
        part = slice(first, first + count)
        return GradientDraws(self.directions[part], self.targets[part], self.partners[part])


def gradient_draws(config: Mapping, distribution: str, k: int, count: int) -> GradientDraws:
    """The GradientDraws of the first ``count`` vectors of (distribution, K)."""
    seed, spec = config["seed"], config["distributions"][distribution]
    return GradientDraws(
        directions=_directions(seed, distribution, k, count),
        targets=nll.draw_targets(seed, distribution, k, count),
        partners=nll.partner_z(seed, distribution, spec, k, count),
    )


def _passes(group: list[Cell], bytes_per_cell: int) -> list[list[Cell]]:
    """The group split so that the cells evaluated together hold at most PASS_BYTES of
    metric values and quantile samples (at least one cell per pass)."""
    size = max(1, PASS_BYTES // max(bytes_per_cell, 1))
    return [group[i : i + size] for i in range(0, len(group), size)]


def run_cells(
    config: Mapping,
    shard_cells: Iterable[Cell],
    progress: Callable[[int, int, Cell], None] | None = None,
    raw: Callable[[Cell, int, np.ndarray], None] | None = None,
) -> pd.DataFrame:
    """Summary rows (COLUMNS) for the given cells, in the given cell order.

    Each cell's vectors are drawn and evaluated a block at a time and folded into running
    summaries (softmaxlab.stats.RunningSummary), so memory does not grow with the number
    of vectors. ``raw(cell, first_vector, values)``, when given, receives every block's
    per-vector metrics (columns: methods x METRICS) before they are dropped.
    """
    specs = method_specs(config)
    shard_cells = list(shard_cells)
    is_rate = np.array([metric in RATE_METRICS for _ in specs for metric in METRICS])
    groups: dict[tuple, list[Cell]] = {}
    for cell in shard_cells:
        groups.setdefault((cell.distribution, cell.k, cell.dtype, cell.compute), []).append(cell)
    frames: dict[Cell, pd.DataFrame] = {}
    draws_of: tuple | None = None  # (distribution, K) whose gradient draws are held
    logged = time.monotonic()
    with np.errstate(all="ignore"):
        for (distribution, k, dtype, compute), group in groups.items():
            n = n_vectors(config, k)
            spec = config["distributions"][distribution]
            if draws_of != (distribution, k):
                count = min(config["grad_vectors"], n)
                draws = gradient_draws(config, distribution, k, count)
                draws_of = (distribution, k)
            step = block_rows(k)
            quantile_rows = min(n, config["quantile_vectors"])
            per_cell_bytes = (min(n, step) + quantile_rows) * len(is_rate) * 8
            for part in _passes(group, per_cell_bytes):
                columns = [metric for _ in specs for metric in METRICS]
                running = [RunningSummary.of_metrics(columns, quantile_rows) for _ in part]
                blocks = sample_z_blocks(config["seed"], distribution, spec, k, n, step)
                for block, z in enumerate(blocks):
                    cell_values = evaluate_group(config, part, z, specs, draws, block)
                    for cell, summary, values in zip(part, running, cell_values, strict=True):
                        summary.add(values)
                        if raw is not None:
                            raw(cell, block * step, values)
                    done = block * step + len(z)
                    if done < n and time.monotonic() - logged >= PROGRESS_SECONDS:
                        logged = time.monotonic()
                        log.info(
                            "%s k=%d %s (%s), %d scale(s): %d/%d vectors",
                            *(distribution, k, dtype, compute, len(part), done, n),
                        )
                for cell, summary in zip(part, running, strict=True):
                    frames[cell] = _summary_frame(cell, specs, summary.result())
                    if progress is not None:
                        progress(len(frames), len(shard_cells), cell)
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat([frames[cell] for cell in shard_cells], ignore_index=True)[list(COLUMNS)]


def _summary_frame(cell: Cell, specs, summary: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "distribution": cell.distribution,
            "scale": cell.scale,
            "k": cell.k,
            "dtype": cell.dtype,
            "compute": cell.compute,
            "method": [name for name, _, _ in specs for _ in METRICS],
            "label": [label for _, _, label in specs for _ in METRICS],
            "metric": list(METRICS) * len(specs),
            **summary,
        }
    )


KEY_COLUMNS = ("distribution", "scale", "k", "dtype", "compute", "label", "metric")
#: The key columns that name a cell (the first of KEY_COLUMNS).
CELL_KEYS = ("distribution", "scale", "k", "dtype", "compute")
# Columns every reader takes as text, whatever they hold: a distribution named "1e3" or
# "True", or the metric "nan", stays a name (pandas would guess a number or a missing value).
TEXT_COLUMNS = ("distribution", "dtype", "compute", "method", "label", "metric")
# The summary's number columns that are not counts (n is checked as an integer).
_FLOAT_FIELDS = tuple(field for field in SUMMARY_FIELDS if field != "n")
# The summary's column types, in the CSV (as read_summary reads it) and in summary.parquet:
# names as strings (pandas' ``str``), scale float64, k and n int64, the statistics float64.
SUMMARY_DTYPES: dict[str, str] = {
    column: "str" if column in TEXT_COLUMNS else "int64" if column in ("k", "n") else "float64"
    for column in COLUMNS
}
# The same as an Arrow schema: plain strings, not dictionaries/categoricals, so a reader
# compares and filters them as text (Parquet still stores them dictionary-encoded).
SUMMARY_SCHEMA = pa.schema(
    [
        (column, {"str": pa.string(), "int64": pa.int64(), "float64": pa.float64()}[kind])
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
    verifies. Each file is written atomically; a job killed between the two leaves a
    manifest that does not match, which the merge reports."""
    write_csv(frame, path)
    data = Path(path).read_bytes()
    manifest = {
        **_shard_contents(shard_cells, config),
        "rows": data.count(b"\n") - 1,
        "sha256": hashlib.sha256(data).hexdigest(),
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


def _parse_shard(shard: Path, data: bytes, n_lines: int) -> pd.DataFrame:
    """The shard's fields: key columns, method and n as their exact text, the other
    summary fields as float64 (a field that is not a number fails here)."""
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype={
                **dict.fromkeys([*KEY_COLUMNS, "method", "n"], str),
                **dict.fromkeys(_FLOAT_FIELDS, np.float64),
            },
            keep_default_na=False,
            na_values={field: [""] for field in _FLOAT_FIELDS},
            skip_blank_lines=False,
        )
    except ValueError as error:  # pandas' ParserError is a ValueError too
        raise ShardError(shard, f"malformed CSV ({' '.join(str(error).split())})") from None
    if len(frame) != n_lines:
        raise ShardError(shard, f"{n_lines} lines but {len(frame)} CSV rows")
    counts = pd.unique(frame["n"])
    bad = [text for text in counts if not str(text).isascii() or not str(text).isdigit()]
    if bad:
        row = int(np.argmax(frame["n"].isin(bad).to_numpy()))
        raise ShardError(shard, f"row {row + 1}: n = {bad[0]!r} is not a count")
    return frame


def _text_ranks(column: pd.Series, values: list[str]) -> np.ndarray:
    """Each entry of a text column as its position in ``values`` (-1 if absent); looked up
    once per distinct text (a column has few)."""
    codes, uniques = pd.factorize(column)
    position = {value: i for i, value in enumerate(values)}
    return np.array([position.get(text, -1) for text in uniques], dtype=np.int64)[codes]


def _verified_rows(
    shard: Path, shard_cells: list[Cell], config: Mapping, orders: Mapping[str, list[str]]
) -> tuple[list[str], np.ndarray]:
    """The data lines of shard ``shard`` and their key ranks (KEY_COLUMNS x rows), after
    checking that it holds exactly the rows the plan gives it: its manifest lists the
    plan's cells, the config's labels and every metric; its bytes have the manifest's
    SHA-256; every field is well formed; and every (cell, label, metric) appears once.
    ``orders``: :func:`_text_orders` of the config. Raises ShardError naming the shard."""
    manifest = _read_manifest(shard)
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
    header, _, body = data.partition(b"\n")
    if header != ",".join(COLUMNS).encode():
        raise ShardError(shard, f"header {header[:200]!r} is not {','.join(COLUMNS)!r}")
    if body and not body.endswith(b"\n"):
        raise ShardError(shard, "its last line is cut (no final newline)")
    n_lines = body.count(b"\n")  # no field holds a newline: labels and names are one line
    expected = len(shard_cells) * len(contents["labels"]) * len(METRICS)
    if n_lines != expected or manifest.get("rows") != expected:
        raise ShardError(shard, f"{n_lines} rows, but its cells x labels x metrics are {expected}")
    frame = _parse_shard(shard, data, n_lines)
    ranks = np.array([_text_ranks(frame[col], orders[col]) for col in KEY_COLUMNS])
    label_method = [name for name, _, _ in method_specs(config)]
    methods = _text_ranks(frame["method"], sorted(set(label_method)))
    method_of_label = np.array([sorted(set(label_method)).index(name) for name in label_method])
    label_rank = ranks[KEY_COLUMNS.index("label")]
    unknown = (ranks < 0).any(axis=0) | (methods != method_of_label[label_rank])
    if unknown.any():
        row = int(np.argmax(unknown))
        values = ", ".join(str(frame.at[row, col]) for col in ["method", *KEY_COLUMNS])
        raise ShardError(shard, f"row {row + 1} has keys this config does not have: {values}")
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
        values = ", ".join(str(frame.at[row, col]) for col in KEY_COLUMNS)
        raise ShardError(shard, f"row {row + 1} ({values}) appears more than once")
    del frame
    lines = data[len(header) + 1 :].decode("utf-8").split("\n")[:-1]
    return lines, ranks


def _csv_text_cells(shard_cells: list[Cell]) -> list[tuple[str, str, str, str, str]]:
    """Each cell's key fields as write_csv spells them."""
    scales = _csv_text([cell.scale for cell in shard_cells], np.float64)
    ks = _csv_text([cell.k for cell in shard_cells], np.int64)
    return [
        (cell.distribution, scale, k, cell.dtype, cell.compute)
        for cell, scale, k in zip(shard_cells, scales, ks, strict=True)
    ]


def merge_shards(
    paths: Iterable, config: Mapping, path, discard_damaged: bool = False, parquet=None
) -> int:
    """The shards' rows, in the canonical order of :func:`sort_summary`, as one CSV (and,
    with ``parquet``, the same rows in the same order as a typed Parquet file, see
    :func:`write_parquet`); returns the number of rows.

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
    lines, ranks = [], []
    for shard, shard_cells in zip(paths, plan, strict=True):
        try:
            shard_lines, shard_ranks = _verified_rows(shard, shard_cells, config, orders)
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
        lines.extend(shard_lines)
        ranks.append(shard_ranks)
    order = np.lexsort(np.concatenate(ranks, axis=1)[::-1])
    del ranks
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        # Line by line: joining them first would hold a second copy of the table.
        out.write(",".join(COLUMNS) + "\n")
        out.writelines(lines[i] + "\n" for i in order)
    if parquet is not None:
        del lines
        write_parquet(read_summary(path), parquet)
    return len(order)


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


def read_summary(path, headline: bool = False, metrics=None) -> pd.DataFrame:
    """A summary table (or shard) with the SUMMARY_DTYPES: summary.parquet (written by
    :func:`write_parquet`) or a CSV written by :func:`write_csv` (see :func:`read_table`).
    Both give equal frames for the same rows (tests/test_parquet.py).

    ``headline``: only each format's headline compute mode (:func:`headline_rows`);
    ``metrics``: only those metrics. From Parquet the rows are filtered before they become
    a pandas frame, so a job holds only the rows it reads (about half the memory)."""
    if Path(path).suffix != ".parquet":
        frame = read_table(path, dtype=SUMMARY_DTYPES)
        if metrics is not None:
            frame = frame[frame["metric"].isin(list(metrics))].reset_index(drop=True)
        return headline_rows(frame) if headline else frame
    # Text columns as dictionaries while filtering (a few distinct names each): a fraction
    # of the plain strings' memory; back to plain strings in the frame.
    text = [column for column in TEXT_COLUMNS if column in pq.read_schema(path).names]
    table = pq.read_table(path, read_dictionary=text)
    keep = None
    if metrics is not None:
        keep = pc.is_in(table["metric"], value_set=pa.array(list(metrics), pa.string()))
    if headline and "compute" in table.column_names:
        pairs = pq.read_table(path, columns=["dtype", "compute"]).to_pandas()
        modes: dict[str, list[str]] = {}
        for dtype, mode in pairs.drop_duplicates().itertuples(index=False):
            modes.setdefault(dtype, []).append(mode)
        chosen = None
        for dtype, found in modes.items():
            pick = pc.and_(
                pc.equal(table["dtype"], dtype),
                pc.equal(table["compute"], headline_compute(dtype, found)),
            )
            chosen = pick if chosen is None else pc.or_(chosen, pick)
        if chosen is not None:
            keep = chosen if keep is None else pc.and_(keep, chosen)
    if keep is not None:
        table = table.filter(keep)
    table = table.cast(
        pa.schema([pa.field(f.name, pa.string()) if f.name in text else f for f in table.schema])
    )
    return table.to_pandas(self_destruct=True)


def write_parquet(frame: pd.DataFrame, path) -> None:
    """A summary frame (COLUMNS) as Parquet with SUMMARY_SCHEMA, written atomically: zstd,
    PARQUET_ROW_GROUP rows a group, and no pandas metadata (the Arrow types say it all),
    so its bytes depend only on the rows and the pyarrow version."""
    table = pa.Table.from_pandas(
        frame.astype(SUMMARY_DTYPES)[list(COLUMNS)], schema=SUMMARY_SCHEMA, preserve_index=False
    ).replace_schema_metadata(None)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=PARQUET_ROW_GROUP)


def write_csv(frame: pd.DataFrame, path) -> None:
    """CSV written atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        # Shortest round-trip repr of each float: exact and byte-stable.
        frame.to_csv(tmp, index=False, lineterminator="\n")


def stderr_progress(done: int, total: int, cell: Cell) -> None:
    print(
        f"[{done}/{total}] {cell.distribution} scale={cell.scale:g} k={cell.k} {cell.dtype}"
        f" ({cell.compute})",
        file=sys.stderr,
        flush=True,
    )
