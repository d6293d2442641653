"""normalize and evaluate: a method run on an array, the edge conventions applied after it,
in the compute mode asked for (see softmaxlab.methods' docstring)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .context import _as_array, _Ctx, _with_conventions, _without_rows, compute_dtype
from .registry import _lookup, check_params, plugin


def evaluate(x, method: str, *, compute: str = "native", **params) -> tuple[np.ndarray, np.ndarray]:
    """(p, overflow): the method's output in x's dtype and, per row (the leading shape), True
    where an intermediate or the output overflowed (exceeded the format's max, becoming inf,
    or NaN in float8_e4m3fn) although the row's input was finite. Division by a zero sum is
    not overflow (see softmaxlab.methods' docstring). 0-d and empty x, and rows with NaN, +inf or
    all -inf, follow softmaxlab.methods' edge conventions (never flagged). ``compute``: one of
    COMPUTE_MODES (:func:`compute_dtype`); with "float32" the overflow of an intermediate is
    float32's, and an output beyond the format's max when rounded to it counts too.
    ValueError for an unknown method, a bad parameter, an unsupported dtype or mode."""
    return _run(x, method, params, track=True, compute=compute)


def _run(
    x, method: str, params: Mapping, track: bool, compute: str = "native"
) -> tuple[np.ndarray, np.ndarray]:
    """(p, overflow) of the method on x, the edge conventions applied after it (the one
    place they are applied; see softmaxlab.methods' docstring)."""
    fn, _ = _lookup(method)
    full = check_params(method, params)
    x = _as_array(x)
    work_dtype = compute_dtype(x.dtype, compute)
    degenerate = _without_rows(x, np.ones((), dtype=x.dtype))
    if degenerate is not None:
        return degenerate, np.zeros(x.shape[:-1], dtype=bool)
    from softmaxlab.kernels import formats  # compiled casts; imports numba on the first call

    fmt = None
    if work_dtype == x.dtype and x.dtype in formats.NARROW and plugin(method) is None:
        # native narrow: float32 arithmetic rounded to the format after every operation
        from softmaxlab import rounding

        fmt = x.dtype
        work = rounding.enter(formats.widen(x, np.float32), fmt)
    else:  # plugins get x itself in native mode (their arithmetic is theirs)
        work = x if work_dtype == x.dtype else formats.widen(x, work_dtype)  # exact: wider
    ctx = _Ctx(work, track, fmt)
    with np.errstate(all="ignore"):
        p = _with_conventions(work, fn(work, ctx, **full), ctx.finite_rows)
        if p.dtype != work.dtype:  # a constant promoted the computation: a bug, never a result
            raise AssertionError(f"{method} computed in {p.dtype} instead of {work.dtype}")
        if work is not x:
            wide, p = p, formats.round_to(p, x.dtype)  # the output rounded to the format, once
            if track:
                # float8_e4m3fn has no inf: a value beyond its max becomes NaN.
                beyond = formats.overflow_rows(wide, p)
                ctx.overflow |= beyond & ctx.finite_rows
    return p, ctx.overflow


def normalize(x, method: str, *, compute: str = "native", **params) -> np.ndarray:
    """The method applied along the last axis of x (any leading shape), computed in x's
    dtype (or in float32 for the narrow formats with ``compute="float32"``, see
    :func:`compute_dtype`) and returned as x's dtype. Never raises on inf/NaN input; 0-d
    input gives 1.0, empty input an empty array, and rows with NaN, +inf or all -inf give
    NaN (softmaxlab.methods' edge conventions). See :func:`evaluate` for the overflow
    flags and :func:`methods` for the names.

    >>> normalize([2.0, 4.0, 2.0, 1.0], "linear").round(4)
    array([0.2222, 0.4444, 0.2222, 0.1111])
    """
    return _run(x, method, params, track=False, compute=compute)[0]
