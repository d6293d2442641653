"""The context a method runs in, and the edge conventions around it.

:class:`_Ctx` carries one call's dtype, its accumulator and its overflow flags; the
helpers below apply the edge conventions (softmaxlab.methods' docstring) and check the
input's dtype; :func:`compute_dtype` says which dtype a compute mode runs a format in.
"""

from __future__ import annotations

import numpy as np

from softmaxlab.dtypes import DTYPES, is_quad, ufunc_dtype

# The sweep's formats and float64's reference, long double (or quad: _as_array).
_SUPPORTED = {*DTYPES.values(), np.dtype(np.longdouble)}


class _Ctx:
    """The dtype of one call, its accumulator, and the call's overflow bookkeeping.

    ``fmt``: the narrow format of a native call (softmaxlab.rounding): x is then a float32
    :class:`softmaxlab.rounding.Rounded` of the format's values, dtype and acc are float32,
    every operation on x rounds to the format, and so do the constants and sums below."""

    def __init__(self, x: np.ndarray, track: bool = True, fmt: np.dtype | None = None):
        self.dtype = x.dtype
        self.fmt = fmt
        # float32 accumulation for the narrow formats (float16, bfloat16, fp8).
        self.acc = np.dtype(np.float32) if x.dtype.itemsize < 4 else x.dtype
        # Without tracking (normalize), check() costs nothing: same arithmetic, no flags.
        self.track = track
        self.finite_rows = self._finite_rows(np.asarray(x)) if track else None
        self.overflow = np.zeros(x.shape[:-1], dtype=bool)

    def c(self, value, dtype=None) -> np.ndarray:
        """A constant rounded to the dtype (a 0-d array: Python scalars would promote
        ml_dtypes arrays to float32), or to the format of a native narrow call (as
        ``np.asarray(value, dtype=fmt)`` rounds it: 100 is 96 in float8_e4m3fn)."""
        if self.fmt is not None and dtype is None:
            from softmaxlab import rounding

            return rounding.constant(value, self.fmt)
        return np.asarray(value, dtype=self.dtype if dtype is None else dtype)

    def sum(self, a: np.ndarray) -> np.ndarray:
        """Sum over the last axis (keepdims), accumulated in ``acc``, rounded to the dtype
        (to the format of a native narrow call, once)."""
        if self.fmt is not None:
            from softmaxlab import rounding

            total = np.sum(np.asarray(a), axis=-1, keepdims=True, dtype=self.acc)
            return rounding.round_array(total, self.fmt)
        total = np.sum(a, axis=-1, keepdims=True, dtype=ufunc_dtype(self.acc))
        return total.astype(self.dtype)

    def check(self, a: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """Mark rows whose finite input produced a non-finite value in ``a``; return ``a``.

        Non-finite rather than infinite because float8_e4m3fn has no infinity: there an
        overflow gives NaN.
        """
        if not self.track:
            return a
        values = np.asarray(a)  # a Rounded's float32 values: the tests need no rounding
        if where is None:
            # one flat test first: every entry finite is the common case, and a third of
            # the cost of the per-row test
            if self.fmt is None and values.dtype.itemsize >= 4 and np.isfinite(values).all():
                return a
            self.overflow |= ~self._finite_rows(values) & self.finite_rows
            return a
        bad = ~np.isfinite(values) & where
        if bad.any():
            self.overflow |= np.any(bad, axis=-1) & self.finite_rows
        return a

    def _finite_rows(self, values: np.ndarray) -> np.ndarray:
        """:func:`_finite_rows` of values; a native narrow call's float32 values take the
        compiled test too (np.all over short rows costs more than the method)."""
        return _finite_rows(values, compiled=self.fmt is not None)

    def normalise(self, t: np.ndarray, owned: bool = False) -> np.ndarray:
        """t / sum(t), checking the sum and, where the sum is finite and non-zero, the quotient.
        ``owned``: t is a temporary of this call, so the quotient may overwrite it."""
        s = self.check(self.sum(t))
        p = np.divide(t, s, out=t) if owned else t / s
        return self.check(p, where=(s != 0) & np.isfinite(s)) if self.track else p

    def sort_descending(self, a: np.ndarray) -> np.ndarray:
        # Sorting is exact in any wider format; numpy sorts the ml_dtypes formats slowly.
        return np.flip(np.sort(a.astype(self.acc), axis=-1), axis=-1)


def _finite_rows(a: np.ndarray, compiled: bool = False) -> np.ndarray:
    """Per row (last axis) whether every entry of ``a`` is finite: the compiled test of the
    exponent bits for the narrow formats (numpy's isfinite loops element by element there)
    and where ``compiled`` is set, numpy's isfinite otherwise."""
    if a.dtype.itemsize >= 4 and not compiled:
        return np.all(np.isfinite(a), axis=-1)
    from softmaxlab.kernels import formats  # imports numba on the first call

    return formats.finite_rows(a)


def _nan_rows(x: np.ndarray, finite_rows: np.ndarray | None = None) -> np.ndarray | None:
    """The rows (a mask of x's leading shape) that the edge conventions make NaN: a NaN
    entry, a +inf entry, or every entry -inf. None when there is none, the common case,
    which costs one isfinite pass (none when ``finite_rows``, the rows whose entries are all
    finite, is already known)."""
    with np.errstate(invalid="ignore"):
        # a flat all() is about 3x cheaper than the per-row one
        if np.isfinite(x).all() if finite_rows is None else finite_rows.all():
            return None
        rows = np.any(np.isnan(x) | np.isposinf(x), axis=-1) | np.all(np.isneginf(x), axis=-1)
    return rows if rows.any() else None


def _with_conventions(
    x: np.ndarray, out: np.ndarray, finite_rows: np.ndarray | None = None
) -> np.ndarray:
    """``out`` (computed from x, same shape) with the rows of :func:`_nan_rows` set to NaN in
    out's dtype. Every other row is out's, bit for bit; out itself is never written (a new
    array is made only when some row changes)."""
    rows = _nan_rows(x, finite_rows)
    if rows is None:
        return out
    return np.where(rows[..., None], np.asarray(np.nan, dtype=out.dtype), out)


def _as_array(x) -> np.ndarray:
    """x as an array of a supported float dtype (integers and booleans become float64), of
    any shape, 0-d and empty included; ValueError naming the valid dtypes otherwise."""
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    if x.dtype not in _SUPPORTED and not is_quad(x.dtype):
        raise ValueError(
            f"unsupported dtype {x.dtype}; valid dtypes: {', '.join(DTYPES)} (and the "
            "references: longdouble, numpy_quaddtype's quad)"
        )
    return x


def _without_rows(x: np.ndarray, one) -> np.ndarray | None:
    """The output of the edge conventions for an input with no row to compute: 0-d x gives
    ``one`` (NaN when x is NaN or +-inf), empty x an empty array, both in one's dtype; None
    for any other x (the method runs). ``one`` is a 0-d array: 1 for normalize, 0 for the
    derivative of that constant."""
    if x.ndim == 0:
        return _with_conventions(x.reshape(1), one.reshape(1)).reshape(())
    if x.size == 0:
        return np.empty(x.shape, dtype=one.dtype)
    return None


#: How a format's arithmetic is carried out (the ``compute`` argument of :func:`evaluate` and
#: :func:`normalize`): "native" rounds every operation to the format; "float32" reads the
#: input in the format, computes in float32 and rounds the output to the format once.
COMPUTE_MODES: tuple[str, ...] = ("native", "float32")


def compute_dtype(dtype, compute: str = "native") -> np.dtype:
    """The dtype a method's arithmetic runs in for inputs of ``dtype``.

    "native": the dtype itself: the format's arithmetic, every operation rounded to the
    format (for the narrow formats carried out in float32 and rounded after each
    operation, softmaxlab.rounding; their sums accumulate in float32 and are rounded once,
    see _Ctx). "float32": float32 for the
    formats narrower than float32 (float16, bfloat16, the fp8 formats), the way the
    frameworks' kernels run softmax in half precision: PyTorch's CUDA kernel
    (aten/src/ATen/native/cuda/SoftMax.cu) computes the max, the exponentials and their sum
    in ``acc_type<scalar_t>``, float for Half and BFloat16, and writes the output in the
    input's type; its CPU kernel (aten/src/ATen/native/cpu/SoftMaxKernel.cpp) converts
    reduced-precision vectors to float, computes and converts back; XLA (JAX) may likewise
    compute in a wider type than the program's (jax-ml/jax#6283). float32 and wider formats
    compute natively in either mode. ValueError for another mode.
    """
    if compute not in COMPUTE_MODES:
        raise ValueError(
            f"unknown compute mode {compute!r}; valid modes: {', '.join(COMPUTE_MODES)}"
        )
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if compute == "float32" and dtype.itemsize < 4 else dtype
