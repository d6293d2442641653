"""The sweep's run: every method on the vectors of a job's cells, folded into summaries.

:func:`run_cells` draws each cell's vectors a block at a time (softmaxlab.sweep.plan's
block_rows) and evaluates the cells of a (distribution, K, format) together
(:func:`evaluate_group`): their logits are rounded once per scale, as one stack, and each
method's float64 reference is computed once for the compute modes (native, float32) of a
format that has two, whose cells share the rounded logits; each block's per-vector
metrics are folded into running summaries (softmaxlab.stats), so that a job's memory does
not grow with its vectors. The gradient and NLL metrics read the draws that every cell of
a (distribution, K) shares (:class:`GradientDraws`). The rows are the summary's
(softmaxlab.sweep.io.COLUMNS), typed as read_summary types them.
"""

from __future__ import annotations

import functools
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
from softmaxlab.methods import check_params, evaluate, normalize, plugin
from softmaxlab.metrics import (
    GRAD_VANISHING_THRESHOLD,
    METRICS,
    NLL_DTYPE,
    RATE_METRICS,
    central_points,
    directional_grad_norm,
    error_metrics,
    leave_out_nonfinite,
    vector_metrics,
)
from softmaxlab.sampling import logits, sample_z_blocks, stream
from softmaxlab.stats import RunningSummary
from softmaxlab.vjp import Pullback

from .io import COLUMNS, SUMMARY_TEXT
from .plan import CHUNK_ELEMENTS, DRAW_BYTES_PER_LOGIT, Cell, block_rows, n_vectors

# Metric values and quantile samples held at once for the cells evaluated together.
PASS_BYTES = 1 << 27


PROGRESS_SECONDS = 10.0

#: The float64 gradient rows get every metric from the NLL's forward pass at x
#: (:func:`_fill_float64`); False: from the metric pass's own (the tests compare the two).
SHARE_FORWARD: bool = True

log = logging.getLogger("softmaxlab.sweep")


def _method_call(name: str, params: dict, seed: int, cell: Cell, block: int) -> dict:
    """Parameters for one block: Gumbel noise gets its own stream per (distribution, K) and
    block, so every scale, format and compute mode of a block draws the same noise (which
    lets evaluate_group run the method once per block with one call for all its cells)."""
    if name != "gumbel_softmax":
        return params
    rng = stream(seed, "gumbel", params["seed"], cell.distribution, cell.k, block)
    return {**params, "seed": int(rng.integers(2**63))}


def _stacked_logits(z: np.ndarray, group: list[Cell], rows: slice) -> np.ndarray:
    """Rows ``rows`` of the virtual stack [x(scale_1); x(scale_2); ...] of the cells
    ``group`` (one per part: their scales and formats), made on demand so that no more
    than a chunk of logits is ever held."""
    n = len(z)
    parts = []
    for i, cell in enumerate(group):
        lo, hi = max(rows.start, i * n), min(rows.stop, (i + 1) * n)
        if lo < hi:
            parts.append(logits(z[lo - i * n : hi - i * n], cell.scale, cell.dtype))
    return np.concatenate(parts)


def _reference_rows(x: np.ndarray, first_rows: np.ndarray, error_vectors: int) -> np.ndarray | None:
    """The rows whose error metrics are measured: all (None) unless x's reference is wider
    than float64 (float64 cells: long double, which costs about 10x the method, or IEEE
    quad where long double is float64 itself, 3 to 5 times that: Windows, macOS arm64);
    then the rows whose vector index in its cell (``first_rows``) is below
    ``error_vectors``. Without a wider format (quad not installed there) no row: float64
    is never compared with itself."""
    wide = reference_dtype(x.dtype)
    if wide == np.float64:
        return None
    if wide is None:
        return np.zeros(len(x), dtype=bool)
    return first_rows < error_vectors


def _reference(x, name: str, call: dict, reference_rows) -> np.ndarray | None:
    """The method in x's reference format (reference_dtype: float64, or long double or
    quad for float64 x) on the rows of x whose error metrics are measured: all
    (``reference_rows`` None) or the rows of that mask; None when there are none or no
    wider format exists (never float64 against itself: widen(x, None) would be float64).
    It does not depend on the compute mode, so a format's modes share it (evaluate_group)."""
    from softmaxlab.kernels.formats import widen  # imports numba on the first call

    wide = reference_dtype(x.dtype)
    if wide is None or (reference_rows is not None and not reference_rows.any()):
        return None
    if reference_rows is None:
        return normalize(widen(x, wide), name, **call)
    # gumbel_softmax's noise depends on the array's shape: reference all its rows.
    part = slice(None) if name == "gumbel_softmax" else reference_rows
    p_ref = normalize(widen(x[part], wide), name, **call)
    return p_ref[reference_rows] if name == "gumbel_softmax" else p_ref


def _fill_metrics(
    block, rows, x, name, call: dict, compute: str, reference_rows, p_ref, evaluated=None
) -> None:
    """Every metric but the gradient and NLL ones, for the logits x (rounded to the cell's
    format, every entry finite) that are rows ``rows`` of block. The error metrics are
    measured on ``reference_rows`` of them (a mask; None: all) against p_ref (the
    :func:`_reference` of those rows) and NaN on the others; the accuracy metrics are NaN
    where the output is not finite (metrics.leave_out_nonfinite). ``evaluated``: the
    method's (p, overflow) on x as :func:`softmaxlab.evaluate` gives them, when the caller
    has them."""
    p, overflow = evaluate(x, name, compute=compute, **call) if evaluated is None else evaluated
    if reference_rows is None:
        metric_values = vector_metrics(x, p, overflow, p_ref)
    else:
        metric_values = vector_metrics(x, p, overflow, None)
        if p_ref is not None:
            errors = error_metrics(p[reference_rows], p_ref)
            for metric, values in errors.items():
                metric_values[metric][reference_rows] = values
    leave_out_nonfinite(metric_values)
    for j, metric in enumerate(METRICS):
        if metric in metric_values:
            block[rows, j] = metric_values[metric]


_NLL_COLUMNS = [METRICS.index(metric) for metric in nll.NLL_METRICS]
_INPUT_NONFINITE = METRICS.index("input_nonfinite")


def _fill_grad(block, rows, chunk: _GradientChunk, name: str, call: dict):
    """grad_norm and grad_vanishes (float64 central differences) for the rows of block
    ``rows``: the chunk's logits x along its directions, from its central points."""
    fn = lambda y: normalize(y, name, **call)  # noqa: E731
    grad = directional_grad_norm(fn, chunk.x, chunk.directions, chunk.central_points)
    block[rows, METRICS.index("grad_norm")] = grad
    block[rows, METRICS.index("grad_vanishes")] = np.where(
        np.isnan(grad), np.nan, grad < GRAD_VANISHING_THRESHOLD
    )


def _fill_nll(block, rows, x, x_far, targets, name: str, call: dict, pullback=None) -> None:
    """The NLL metrics (softmaxlab.nll.nll_metrics) for rows ``rows`` of block: logits x,
    the segments' far ends x_far and the targets of those rows; ``pullback`` as there."""
    values = nll.nll_metrics(x, x_far, targets, name, call, pullback)
    block[np.ix_(rows, _NLL_COLUMNS)] = np.column_stack([values[m] for m in nll.NLL_METRICS])


@dataclass(frozen=True)
class _Stack:
    """A block of a group's scales as one stack of rows [x(scale_1); x(scale_2); ...]: the
    rounded logits, which rows are all finite, each row's vector index in its cell, and
    the rows whose error metrics are measured (None: all)."""

    x: np.ndarray
    finite: np.ndarray
    vector: np.ndarray
    reference: np.ndarray | None


def _stack(z: np.ndarray, parts: list[Cell], first: int, error_vectors: int) -> _Stack:
    """The _Stack of block rows z (vectors first, first + 1, ... of each cell) at the
    scales of ``parts`` (one cell per scale, :class:`_Layout`)."""
    from softmaxlab.kernels.formats import finite_rows  # imports numba on the first call

    x = _stacked_logits(z, parts, slice(0, len(parts) * len(z)))
    vector = first + np.tile(np.arange(len(z)), len(parts))
    finite = finite_rows(x)
    return _Stack(x, finite, vector, _reference_rows(x, vector, error_vectors))


@dataclass(frozen=True)
class _Layout:
    """Where a group's cells are in its stack. The compute modes of a format round the
    logits alike (the mode is how the method computes, not how x is rounded), so the stack
    has one part of n rows per distinct scale, shared by that scale's cells of every mode.
    ``parts``: a cell of each scale, in the group's order; ``cell_rows``: for each row of
    the cells' values (cell i's vectors are rows [i * n, (i + 1) * n)), its stack row;
    ``modes``: each compute mode -> for each stack row, the row of the values of that
    mode's cell at its scale, -1 where the group has no such cell."""

    parts: list[Cell]
    cell_rows: np.ndarray
    modes: dict[str, np.ndarray]


def _layout(group: list[Cell], n: int) -> _Layout:
    """The _Layout of distinct cells ``group`` of one (distribution, K, format), n rows
    a cell; ValueError for a cell listed twice (its rows would be one mode's twice) or
    cells of two (distribution, K, format) (a part's logits are its first cell's)."""
    if len(set(group)) < len(group):
        raise ValueError("evaluate_group: a cell is listed twice")
    if len({(cell.distribution, cell.k, cell.dtype) for cell in group}) > 1:
        raise ValueError("evaluate_group: cells of more than one (distribution, K, format)")
    first_of_scale: dict[float, Cell] = {}
    for cell in group:
        first_of_scale.setdefault(cell.scale, cell)
    part = {scale: i for i, scale in enumerate(first_of_scale)}
    vector = np.arange(n, dtype=np.intp)
    cell_rows = np.concatenate([part[cell.scale] * n + vector for cell in group])
    modes: dict[str, np.ndarray] = {}
    for i, cell in enumerate(group):
        rows = modes.setdefault(cell.compute, np.full(len(part) * n, -1, dtype=np.intp))
        rows[part[cell.scale] * n : (part[cell.scale] + 1) * n] = i * n + vector
    return _Layout(list(first_of_scale.values()), cell_rows, modes)


def _chunks(stack: _Stack, step: int, skip=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stack's rows ``step`` at a time: per chunk, its rows whose rounded logits are all
    finite and not in ``skip`` (a mask of stack rows measured elsewhere: _fill_float64's;
    None for none), and their logits; chunks without such a row are left out. Each chunk's
    logits are registered with formats.keep, so that within evaluate_group's
    keeping_widenings the methods widen them once, not once each."""
    from softmaxlab.kernels import formats  # imports numba on the first call

    total = len(stack.x)
    chunks = []
    for start in range(0, total, step):
        rows = np.arange(start, min(start + step, total))
        rows = rows[stack.finite[rows] if skip is None else stack.finite[rows] & ~skip[rows]]
        if rows.size:
            chunks.append((rows, formats.keep(stack.x[rows] if rows.size < total else stack.x)))
    return chunks


def _fill_stacked(block, stack: _Stack, modes: dict, name, call, chunks) -> None:
    """Every metric but the gradient and NLL ones for the stack rows of ``chunks``
    (:func:`_chunks`: the rows NaN elsewhere, left out of every summary) in each compute
    mode (``modes``: _Layout.modes, which say the rows of block), a chunk at a time: the
    reference once (it does not depend on the mode), then each mode's method."""
    for rows, x in chunks:
        reference = None if stack.reference is None else stack.reference[rows]
        p_ref = _reference(x, name, call, reference)
        for compute, block_rows_of in modes.items():
            targets = block_rows_of[rows]
            _fill_mode(block, targets, x, name, call, compute, reference, p_ref)


def _fill_mode(block, targets, x, name, call, compute, reference_rows, p_ref) -> None:
    """_fill_metrics of one compute mode on the rows of x (reference_rows and p_ref as
    there) that the mode's cells hold: ``targets``, each row's row in block, -1 where the
    mode has no cell at the row's scale (a pass may hold one mode of a scale only). A
    subset of rows is run on its own, which changes no value of a row-wise method;
    gumbel_softmax's chunks are one scale each, so a mode holds all of a chunk or none."""
    held = targets >= 0
    if held.all():
        _fill_metrics(block, targets, x, name, call, compute, reference_rows, p_ref)
        return
    if not held.any():
        return
    if reference_rows is None:
        p_ref = p_ref[held]
    else:
        p_ref = None if p_ref is None else p_ref[held[reference_rows]]
        reference_rows = reference_rows[held]
        p_ref = p_ref if reference_rows.any() else None
    _fill_metrics(block, targets[held], x[held], name, call, compute, reference_rows, p_ref)


def _gradient_rows(stack: _Stack, n: int, n_grad: int) -> np.ndarray:
    """The mask of the stack rows (n a scale) that are their scale's first n_grad rows:
    the rows :func:`_fill_float64` measures."""
    return np.arange(len(stack.x)) % n < n_grad


@dataclass(frozen=True)
class _GradientChunk:
    """A chunk of the float64 gradient rows and what every method reads there: the stack
    rows, their rows in block, their logits, the NLL segments' far ends, the gradient
    directions and the NLL targets (made once per block: :func:`_gradient_chunks`)."""

    rows: np.ndarray
    block_rows: np.ndarray
    x: np.ndarray
    far: np.ndarray
    directions: np.ndarray
    targets: np.ndarray

    @functools.cached_property
    def central_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """metrics.central_points of (x, directions): made once for every method."""
        return central_points(self.x, self.directions)

    def copied(self) -> _GradientChunk:
        """The chunk with its own copies of the arrays a method reads (x, far ends; its
        central points are made afresh from its x)."""
        return _GradientChunk(
            *(self.rows, self.block_rows, self.x.copy(), self.far.copy()),
            *(self.directions, self.targets),
        )


def _gradient_chunks(n, stack: _Stack, far, draws, chunk_rows, block_rows_of):
    """The first len(draws) rows of each float64 scale of the stack (n rows a scale; rows
    whose logits are all finite), ``chunk_rows`` of those at a time, as _GradientChunks
    whose block rows ``block_rows_of`` (a _Layout mode) says; chunks without such a row are
    left out. ``far``: the NLL segments' far ends, len(draws) rows a scale."""
    n_grad = len(draws)
    total = len(far)
    chunks = []
    for start in range(0, total, chunk_rows):
        far_rows = np.arange(start, min(start + chunk_rows, total))
        rows = (far_rows // n_grad) * n + far_rows % n_grad  # the scales' first n_grad rows
        keep = stack.finite[rows] & (block_rows_of[rows] >= 0)
        rows, far_rows = rows[keep], far_rows[keep]
        if rows.size:
            draw = far_rows % n_grad
            chunks.append(
                _GradientChunk(
                    *(rows, block_rows_of[rows], stack.x[rows], far[far_rows]),
                    *(draws.directions[draw], draws.targets[draw]),
                )
            )
    return chunks


def _fill_float64(block, stack: _Stack, chunks, name, call, compute, with_metrics) -> None:
    """The gradient and NLL metrics of the float64 gradient rows, a _GradientChunk at a
    time. ``with_metrics``: the other metrics of those rows too (:func:`_fill_metrics`, in
    compute mode ``compute``: the cells' only one, the float64 forward being native),
    from the NLL's forward pass at x (the same p and overflow bits as evaluate's), which
    saves the metric pass its own; only for a method whose rows do not depend on each
    other (nll.row_wise), since these chunks are not _fill_stacked's."""
    for chunk in chunks:
        x, targets = chunk.x, chunk.block_rows
        back = None
        if with_metrics:
            back = Pullback(x, name, check_params(name, call), track=True)
            reference = None if stack.reference is None else stack.reference[chunk.rows]
            p_ref = _reference(x, name, call, reference)
            _fill_metrics(
                block, targets, x, name, call, compute, reference, p_ref, back.evaluated()
            )
        _fill_grad(block, targets, chunk, name, call)
        _fill_nll(block, targets, x, chunk.far, chunk.targets, name, call, back)


def evaluate_group(
    config: Mapping,
    group: list[Cell],
    z: np.ndarray,
    specs,
    draws: GradientDraws,
    block: int = 0,
) -> list[np.ndarray]:
    """Per-vector metrics of every method on block ``block`` of distinct cells that share
    (distribution, K, format) and differ in scale and compute mode.

    The cells share their draws: z holds rows [block * block_rows(K), ...) of them,
    ``draws`` the gradient directions, NLL targets and partners of the cells' first
    grad_vectors rows (:func:`gradient_draws`). The group's logits are rounded once per
    scale, as one stack (_Stack) whose parts the compute modes share (_Layout); a vector
    whose rounded logits are not all finite counts in input_nonfinite and is left out of
    every other metric. The methods run on the stack in chunks of about CHUNK_ELEMENTS,
    which amortises numpy's per-call cost over the scales without changing any value
    (every method but gumbel_softmax is row-wise); per chunk, the method's reference
    (float64 for a narrow format) is computed once and each mode's output measured against
    it, so a format's second mode costs only its own method and metrics; a chunk's logits
    are widened (to float32 for the method and the metric pass, to float64 for the
    reference) once for every method (formats.keeping_widenings). gumbel_softmax's
    noise depends on the shape of the array it runs on, so it runs a scale at a time, as
    on a cell of its own; its noise is drawn per (distribution, K) and block
    (:func:`_method_call`), the same for every cell of the group. The gradient and NLL
    metrics are measured on float64 groups only (NaN elsewhere), the error metrics of
    float64 on the first error_vectors vectors.
    Returns one array per cell, shape (len(z), n_methods * n_metrics).
    """
    n, k = z.shape
    first = block * block_rows(k)
    n_grad = int(np.clip(min(config["grad_vectors"], len(draws)) - first, 0, n))
    block_draws = draws.rows(first, n_grad)
    chunk_rows = max(1, CHUNK_ELEMENTS // k)
    width = len(METRICS)
    layout = _layout(group, n)
    stack = _stack(z, layout.parts, first, config["error_vectors"])
    with_float64 = group[0].dtype == NLL_DTYPE and n_grad > 0
    # the NLL segments' far ends, rounded once for every method (n_grad rows a scale)
    far = (
        _stacked_logits(block_draws.partners, layout.parts, slice(0, len(layout.parts) * n_grad))
        if with_float64
        else None
    )
    values = np.full((len(group) * n, len(specs) * width), np.nan)
    input_nonfinite = ~stack.finite[layout.cell_rows]
    skip = None  # the gradient rows the float64 cells hold: every metric from the NLL's pass
    # The NLL's forward (vjp.Pullback) computes natively: its p is the metric pass's only
    # in native mode, float64's one mode (compute_modes).
    if SHARE_FORWARD and with_float64 and list(layout.modes) == ["native"]:
        (block_rows_of,) = layout.modes.values()
        skip = _gradient_rows(stack, n, n_grad) & (block_rows_of >= 0)
    chunkings: dict[tuple[int, bool], list] = {}  # (rows a chunk, skipping) -> _chunks
    gradient_chunkings: dict[tuple[int, str], list] = {}  # (rows, mode) -> _gradient_chunks
    from softmaxlab.kernels.formats import keeping_widenings  # numba, on the first call

    with keeping_widenings():
        for m, (name, params, _label) in enumerate(specs):
            columns = values[:, m * width : (m + 1) * width]
            columns[:, _INPUT_NONFINITE] = input_nonfinite
            call = _method_call(name, params, config["seed"], group[0], block)
            noisy = name == "gumbel_softmax"  # a scale (its first n_grad rows) at a time
            shared = skip is not None and nll.row_wise(name)
            key = (n if noisy else chunk_rows, shared)
            if key not in chunkings:
                chunkings[key] = _chunks(stack, key[0], skip if shared else None)
            chunks = chunkings[key]
            if plugin(name) is not None:  # its own copies: a plugin may write to its input
                chunks = [(rows, x.copy()) for rows, x in chunks]
            _fill_stacked(columns, stack, layout.modes, name, call, chunks)
            if with_float64:
                for mode, block_rows_of in layout.modes.items():
                    key = (n_grad if noisy else chunk_rows, mode)
                    if key not in gradient_chunkings:
                        gradient_chunkings[key] = _gradient_chunks(
                            n, stack, far, block_draws, key[0], block_rows_of
                        )
                    chunks = gradient_chunkings[key]
                    if plugin(name) is not None:
                        chunks = [chunk.copied() for chunk in chunks]
                    _fill_float64(columns, stack, chunks, name, call, mode, shared)
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
    """The group split, in its order, so that the cells evaluated together hold at most
    PASS_BYTES of metric values and quantile samples (at least one cell per pass). Counted
    in cells, whatever their compute mode: a pass may end between a scale's two modes."""
    size = max(1, PASS_BYTES // max(bytes_per_cell, 1))
    return [group[i : i + size] for i in range(0, len(group), size)]


def _summarize_pass(config, part: list[Cell], specs, draws, raw, log_blocks) -> list[dict]:
    """The summaries (RunningSummary.result) of a pass: cells ``part`` of one group,
    evaluated together a block at a time (:func:`evaluate_group`); ``raw`` as run_cells's,
    ``log_blocks`` a :func:`_block_logger`. A function of its own so that its metric values
    and quantile samples are freed on return, before the next pass allocates its own: two
    passes' values and samples are never held at once."""
    distribution, k = part[0].distribution, part[0].k
    n, step = n_vectors(config, k), block_rows(k)
    columns = [metric for _ in specs for metric in METRICS]
    quantile_rows = min(n, config["quantile_vectors"])
    running = [RunningSummary.of_metrics(columns, quantile_rows) for _ in part]
    spec = config["distributions"][distribution]
    for block, z in enumerate(sample_z_blocks(config["seed"], distribution, spec, k, n, step)):
        cell_values = evaluate_group(config, part, z, specs, draws, block)
        for cell, summary, values in zip(part, running, cell_values, strict=True):
            summary.add(values)
            if raw is not None:
                raw(cell, block * step, values)
        done = block * step + len(z)
        if done < n:
            log_blocks(part, done, n)
    return [summary.result() for summary in running]


def _block_logger() -> Callable[[list[Cell], int, int], None]:
    """log_blocks(part, done, n): logs that ``done`` of the n vectors of the pass ``part``
    are done, at most every PROGRESS_SECONDS (a long pass says it is alive)."""
    logged = time.monotonic()

    def log_blocks(part: list[Cell], done: int, n: int) -> None:
        nonlocal logged
        if time.monotonic() - logged < PROGRESS_SECONDS:
            return
        logged = time.monotonic()
        modes = ", ".join(dict.fromkeys(cell.compute for cell in part))
        scales = len({cell.scale for cell in part})
        first = part[0]
        log.info(
            "%s k=%d %s (%s), %d scale(s): %d/%d vectors",
            *(first.distribution, first.k, first.dtype, modes, scales, done, n),
        )

    return log_blocks


def run_cells(
    config: Mapping,
    shard_cells: Iterable[Cell],
    progress: Callable[[int, int, Cell], None] | None = None,
    raw: Callable[[Cell, int, np.ndarray], None] | None = None,
) -> pd.DataFrame:
    """Summary rows (COLUMNS) for the given cells, in the given cell order.

    Each cell's vectors are drawn and evaluated a block at a time and folded into running
    summaries (softmaxlab.stats.RunningSummary), so memory does not grow with the number
    of vectors. The cells of a (distribution, K, format) are evaluated together, both
    compute modes of a format that has two (:func:`evaluate_group`: they share the rounded
    logits and the reference), in passes of at most PASS_BYTES. A cell listed twice is
    evaluated once (its rows appear twice). ``raw(cell, first_vector, values)``, when
    given, receives every block's per-vector metrics (columns: methods x METRICS) before
    they are dropped; ``progress(done, total, cell)`` hears of each distinct cell done.
    """
    specs = method_specs(config)
    shard_cells = list(shard_cells)
    is_rate = np.array([metric in RATE_METRICS for _ in specs for metric in METRICS])
    groups: dict[tuple, list[Cell]] = {}
    for cell in dict.fromkeys(shard_cells):
        groups.setdefault((cell.distribution, cell.k, cell.dtype), []).append(cell)
    total = sum(len(group) for group in groups.values())
    frames: dict[Cell, pd.DataFrame] = {}
    draws_of: tuple | None = None  # (distribution, K) whose gradient draws are held
    log_blocks = _block_logger()
    with np.errstate(all="ignore"):
        for (distribution, k, _dtype), group in groups.items():
            n = n_vectors(config, k)
            if draws_of != (distribution, k):
                count = min(config["grad_vectors"], n)
                draws = gradient_draws(config, distribution, k, count)
                draws_of = (distribution, k)
            quantile_rows = min(n, config["quantile_vectors"])
            per_cell_bytes = (min(n, block_rows(k)) + quantile_rows) * len(is_rate) * 8
            for part in _passes(group, per_cell_bytes):
                results = _summarize_pass(config, part, specs, draws, raw, log_blocks)
                for cell, result in zip(part, results, strict=True):
                    frames[cell] = _summary_frame(cell, specs, result)
                    if progress is not None:
                        progress(len(frames), total, cell)
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
