"""The sweep's run: every method on the vectors of a job's cells, folded into summaries.

:func:`run_cells` draws each cell's vectors a block at a time (softmaxlab.sweep.plan's
block_rows) and evaluates the cells that differ only in scale together
(:func:`evaluate_group`, on one stack of their rounded logits); each block's per-vector
metrics are folded into running summaries (softmaxlab.stats), so that a job's memory does
not grow with its vectors. The gradient and NLL metrics read the draws that every cell of
a (distribution, K) shares (:class:`GradientDraws`). The rows are the summary's
(softmaxlab.sweep.io.COLUMNS), typed as read_summary types them.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from softmaxlab import nll
from softmaxlab.config import method_specs
from softmaxlab.dtypes import reference_dtype
from softmaxlab.methods import evaluate, normalize
from softmaxlab.metrics import (
    GRAD_VANISHING_THRESHOLD,
    METRICS,
    NLL_DTYPE,
    RATE_METRICS,
    directional_grad_norm,
    error_metrics,
    vector_metrics,
)
from softmaxlab.sampling import logits, sample_z_blocks, stream
from softmaxlab.stats import RunningSummary

from .io import COLUMNS, SUMMARY_TEXT
from .plan import CHUNK_ELEMENTS, DRAW_BYTES_PER_LOGIT, Cell, block_rows, n_vectors

# Metric values and quantile samples held at once for the cells evaluated together.
PASS_BYTES = 1 << 27


PROGRESS_SECONDS = 10.0

log = logging.getLogger("softmaxlab.sweep")


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
    BYTES_PER_LOGIT = DRAW_BYTES_PER_LOGIT

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
    """One cell's summary rows (a row per method and metric), typed as read_summary types
    a summary (SUMMARY_DTYPES: its text shares one object per name)."""
    rows = len(specs) * len(METRICS)
    return pd.DataFrame(
        {
            "distribution": _text([cell.distribution] * rows),
            "scale": cell.scale,
            "k": cell.k,
            "dtype": _text([cell.dtype] * rows),
            "compute": _text([cell.compute] * rows),
            "method": _text([name for name, _, _ in specs for _ in METRICS]),
            "label": _text([label for _, _, label in specs for _ in METRICS]),
            "metric": _text(list(METRICS) * len(specs)),
            **summary,
        }
    )


def _text(names: list[str]) -> pd.arrays.StringArray:
    """A SUMMARY_TEXT column holding the given str objects (a name repeated is one object)."""
    return pd.array(names, dtype=SUMMARY_TEXT)


def stderr_progress(done: int, total: int, cell: Cell) -> None:
    print(
        f"[{done}/{total}] {cell.distribution} scale={cell.scale:g} k={cell.k} {cell.dtype}"
        f" ({cell.compute})",
        file=sys.stderr,
        flush=True,
    )
