"""Casts between float32/float64 and the narrow formats, compiled: what ``astype`` returns,
bit for bit, without ml_dtypes' elementwise casts.

ml_dtypes casts bfloat16 and the fp8 formats one element at a time through a C++ function
pointer, and ``np.isfinite`` on them is a ufunc loop of the same kind: profiling a
float8_e4m3fn cell at K = 1000 in ``compute: float32`` mode showed ``astype`` taking a
quarter of the evaluation. Here every cast is one compiled loop over the bits:

- :func:`round_to`: float32/float64 -> float16, bfloat16, float8_e4m3fn or float8_e5m2,
  the same bits as ``a.astype(dtype)``;
- :func:`widen`: a narrow format -> float32/float64 (exact), a gather from a table of the
  format's every value (:func:`decode_table`, made by the format's own cast);
- :func:`finite_rows`: per row (last axis) whether every entry is finite, a test of the
  exponent bits (every format, float32 and float64 included);
- :func:`overflow_rows`: per row whether rounding made a finite entry non-finite;
- :func:`round_in_place`: float32 rounded to a narrow format and kept in float32, in
  place (``widen(round_to(a))`` in one pass): the rounding after every operation of the
  narrow formats' native arithmetic (softmaxlab.rounding).

How ``astype`` rounds, measured on numpy 2.4 and ml_dtypes 0.5/0.6 (tests/test_formats.py
checks every claim below on every value of each format and every midpoint between
neighbours, each +-1 ulp of float32 and of float64):

- Round to nearest, ties to even, from the input's precision, into the format's
  subnormals; -0 stays -0.
- float64 -> bfloat16/fp8 is rounded twice: ml_dtypes casts float64 to float32 first (a
  float64 just above a midpoint of the format can round down: 1 + 2^-8 + 2^-30 gives
  bfloat16 1.0, not 1 + 2^-7). :func:`round_to` does the same, to stay ``astype``'s bits;
  ``direct=True`` rounds once instead (what numpy's own float64 -> float16 does).
- Overflow: a value that rounds beyond the format's max (the tie at the boundary rounds
  to even, i.e. down, the max's significand being odd in float16, bfloat16 and e5m2 and
  even in float8_e4m3fn: 464 -> 448) becomes inf, or NaN in float8_e4m3fn, which has no
  inf (+-inf -> NaN there too), keeping the sign.
- NaN: ml_dtypes gives its quiet NaN with the input's sign (bfloat16 0x7FC0, e4m3fn 0x7F,
  e5m2 0x7E); numpy's float16 keeps the payload's top bits (sign | 0x7C00 | payload >> 13
  from float32, >> 42 from float64; a payload that would vanish becomes 1, still a NaN).

Where numba is missing (AVAILABLE False) or USE_KERNELS is off, the same functions run in
numpy: ``astype`` for the rounding, ``np.take`` on the table for widening, numpy bit
tests for finiteness: the same values, slower.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass

import numpy as np

from softmaxlab.dtypes import DTYPES, finfo
from softmaxlab.kernels.jit import jit

try:
    import numba
except ImportError:  # a platform without numba wheels: the numpy paths below
    numba = None

#: numba is importable: the compiled kernels below can run.
AVAILABLE: bool = numba is not None

#: Run the compiled kernels where numba is importable; False runs the numpy paths (the
#: tests switch it to compare the two).
USE_KERNELS: bool = True

#: The formats narrower than float32, each cast by this module.
NARROW: tuple[np.dtype, ...] = tuple(d for d in DTYPES.values() if d.itemsize < 4)


def _kernels_on() -> bool:
    """Whether the compiled kernels run (numba importable and USE_KERNELS set)."""
    return AVAILABLE and USE_KERNELS


@dataclass(frozen=True)
class _Source:
    """float32 or float64 as bits: the signed integer view (the sign bit is the integer's
    sign), the significand's width and the exponent's bias."""

    view: type
    mant: int
    bias: int

    @property
    def abs_mask(self) -> int:
        return (1 << (8 * np.dtype(self.view).itemsize - 1)) - 1

    @property
    def inf_bits(self) -> int:
        """The bits of +inf: above them, NaN."""
        return self.abs_mask >> self.mant << self.mant


_SOURCES = {
    np.dtype(np.float32): _Source(np.int32, 23, 127),
    np.dtype(np.float64): _Source(np.int64, 52, 1023),
}


@dataclass(frozen=True)
class _Narrow:
    """A narrow format's layout, read from ml_dtypes.finfo and the format's own casts."""

    codes: type  # the unsigned integer of its width
    mant: int  # significand bits (without the implicit one)
    bias: int  # exponent bias: 2^(1 - bias) is the smallest normal
    max_code: int  # the bits of the largest finite value
    overflow_code: int  # the bits +inf rounds to: +inf, or NaN in float8_e4m3fn
    nan_code: int  # the quiet NaN of ml_dtypes' casts (float16: see keep_payload)
    keep_payload: bool  # NaN keeps the payload's top bits (numpy's float16)
    sign_bit: int

    @property
    def nonfinite_mask(self) -> int:
        """A code is not finite iff code & mask == mask: the exponent field all ones (the
        code of +inf), or in float8_e4m3fn its one NaN magnitude 0x7F (the code +inf
        rounds to): overflow_code either way."""
        return self.overflow_code


@functools.cache
def _narrow(dtype: np.dtype) -> _Narrow:
    """The layout of one of NARROW (ValueError for another dtype)."""
    if dtype not in NARROW:
        raise ValueError(f"not a narrow format: {dtype}")
    codes = np.uint8 if dtype.itemsize == 1 else np.uint16
    info = finfo(dtype)
    with np.errstate(all="ignore"):
        special = np.array([info.max, np.inf, np.nan], dtype=np.float32).astype(dtype)
    max_code, overflow_code, nan_code = (int(c) for c in special.view(codes))
    return _Narrow(
        codes=codes,
        mant=int(info.nmant),
        bias=1 - int(info.minexp),
        max_code=max_code,
        overflow_code=overflow_code,
        nan_code=nan_code,
        keep_payload=dtype == np.float16,
        sign_bit=1 << (8 * dtype.itemsize - 1),
    )


def round_to(a, dtype, *, direct: bool = False) -> np.ndarray:
    """``a`` (float32 or float64, any shape) rounded to ``dtype``: the bits of
    ``a.astype(dtype)`` (see the module docstring for what they are), without warnings.

    ``direct``: round float64 to bfloat16 and the fp8 formats once, to nearest even,
    instead of through float32 as ml_dtypes' astype does (no effect on float32 input or
    float16). Another input dtype, or a target of float32 or wider, is numpy's astype.
    """
    a = np.asarray(a)
    dtype = np.dtype(dtype)
    if dtype not in NARROW or a.dtype not in _SOURCES:
        with np.errstate(all="ignore"):
            return a.astype(dtype)
    if a.dtype == np.float64 and dtype != np.float16 and not direct:
        with np.errstate(all="ignore"):
            a = a.astype(np.float32)  # ml_dtypes' first rounding, numpy's SIMD cast
    if not _kernels_on():
        return _round_numpy(a, dtype)
    src = _SOURCES[a.dtype]
    fmt = _narrow(dtype)
    values = np.ascontiguousarray(a).reshape(-1)
    out = np.empty(values.shape, dtype=fmt.codes)
    shift = src.mant - fmt.mant
    if src.bias == fmt.bias:  # bfloat16 from float32: one bit rounding for every value
        _round_codes_same_range(
            values.view(src.view),
            out,
            src.abs_mask,
            src.inf_bits,
            shift,
            fmt.nan_code,
            fmt.sign_bit,
        )
        return out.view(dtype).reshape(a.shape)
    _round_codes(
        values,
        values.view(src.view),
        out,
        src.abs_mask,
        src.inf_bits,
        (1 << src.mant) - 1,
        shift,
        (src.bias - fmt.bias) << fmt.mant,
        (src.bias - fmt.bias + 1) << src.mant,
        2.0 ** (1 - fmt.bias),
        2.0 ** (1 - fmt.bias - fmt.mant + 52),
        2.0 ** (fmt.bias + fmt.mant - 1),
        fmt.max_code,
        fmt.overflow_code,
        fmt.nan_code,
        fmt.keep_payload,
        fmt.sign_bit,
    )
    return out.view(dtype).reshape(a.shape)


def _round_numpy(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """round_to without numba. float64 with ``direct``: the exact rounding, done on the
    value table (ties to the even code), since astype would round twice."""
    if a.dtype == np.float64 and dtype != np.float16:
        return _round_by_table(a, dtype)
    with np.errstate(all="ignore"):
        return a.astype(dtype)


def _round_by_table(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 rounded once to ``dtype`` by search in its sorted finite values: the nearest,
    ties to the even code, beyond the max to overflow_code as round_to's kernel does (slow
    and simple: the fallback of ``direct``). Exact: the midpoint of two neighbours is a
    float64 (at most 12 significant bits), so comparing with it decides."""
    fmt = _narrow(dtype)
    table = decode_table(dtype, np.dtype(np.float64))
    positive = np.arange(fmt.max_code + 1)  # +0 ... max: increasing codes and values
    values = table[positive]
    mag = np.abs(a)
    hi = np.clip(np.searchsorted(values, mag), 1, fmt.max_code)
    lo = hi - 1
    mid = (values[lo] + values[hi]) / 2
    up = (mag > mid) | ((mag == mid) & (hi % 2 == 0))
    code = np.where(up, hi, lo)
    # Beyond the max: past the midpoint to the next (virtual) value, or at it with an odd max.
    step = values[fmt.max_code] - values[fmt.max_code - 1]
    limit = values[fmt.max_code] + step / 2
    over = (mag > limit) | ((mag == limit) & (fmt.max_code % 2 == 1))
    code = np.where(over, fmt.overflow_code, code)
    code = np.where(np.isnan(a), fmt.nan_code, code)
    code = code | np.where(np.signbit(a), fmt.sign_bit, 0)
    return code.astype(fmt.codes).view(dtype)


@jit
def _round_codes(
    values,
    bits,
    out,
    abs_mask,
    inf_bits,
    mant_mask,
    shift,
    rebias,
    min_normal_bits,
    min_normal,
    magic,
    unscale,
    max_code,
    overflow_code,
    nan_code,
    keep_payload,
    sign_bit,
):
    """The codes of the float32/float64 ``values`` (``bits``: the same memory as signed
    integers) rounded to a narrow format, into ``out``.

    Normal results: the classic bit rounding. Rebiasing the exponent is a subtraction and
    rounding the significand to nearest even adds 2^(shift - 1) - 1 plus the lowest kept
    bit before dropping ``shift`` bits; a carry out of the significand moves to the next
    binade, or from the max to the code above it (inf, or the NaN of e4m3fn). Subnormal
    results: |v| + magic in float64, magic = 2^52 times the format's quantum 2^(1 - bias -
    mant), rounds |v| to a multiple of that quantum (to nearest even, float64's own
    rounding, the only one: every float32 and float64 below the format's smallest normal
    is exact in float64), and (sum - magic) / quantum is the code; the smallest normal's
    code follows from a carry. Every branch is a select, so LLVM vectorises the loop.
    """
    for i in range(values.size):
        b = np.int64(bits[i])
        a = b & abs_mask
        capped = a if a < inf_bits else inf_bits  # keeps NaN's arithmetic from wrapping
        normal = ((capped + ((1 << (shift - 1)) - 1) + ((capped >> shift) & 1)) >> shift) - rebias
        t = abs(np.float64(values[i]))
        t = t if t < min_normal else 0.0  # the subnormal path's input, never inf or NaN
        subnormal = np.int64(((t + magic) - magic) * unscale)
        code = normal if a >= min_normal_bits else subnormal
        code = overflow_code if code > max_code else code
        if keep_payload:
            payload = (a & mant_mask) >> shift
            nan = overflow_code | payload | np.int64(payload == 0)
        else:
            nan = nan_code
        code = nan if a > inf_bits else code
        out[i] = code | (sign_bit if b < 0 else 0)


@jit
def _round_codes_same_range(bits, out, abs_mask, inf_bits, shift, nan_code, sign_bit):
    """:func:`_round_codes` for a format with the source's exponent field (bfloat16 from
    float32): its subnormals are the source's, cut short, so the bit rounding alone is
    right for every value, and the max's carry and +-inf give the format's inf; the sign is
    the source's top bit. Twice as fast as the general loop."""
    for i in range(bits.size):
        b = np.int64(bits[i])
        a = b & abs_mask
        capped = a if a < inf_bits else inf_bits
        code = (capped + ((1 << (shift - 1)) - 1) + ((capped >> shift) & 1)) >> shift
        code = nan_code if a > inf_bits else code
        out[i] = code | (sign_bit if b < 0 else 0)


@functools.cache
def decode_table(dtype, to=np.float32) -> np.ndarray:
    """The value in ``to`` of every bit pattern of a 1- or 2-byte format (NaN patterns give
    NaN), made by the format's own cast: indexing it with the bits is that cast, bit for
    bit. Read-only."""
    dtype, to = np.dtype(dtype), np.dtype(to)
    codes = np.uint8 if dtype.itemsize == 1 else np.uint16
    with np.errstate(all="ignore"):
        table = np.arange(2 ** (8 * dtype.itemsize), dtype=codes).view(dtype).astype(to)
    table.flags.writeable = False
    return table


class _KeptWidenings(threading.local):
    """The arrays whose widenings are kept (:func:`keeping_widenings`), per thread: id ->
    (the array, its widenings by dtype), and each kept widening's id -> (the widening, its
    narrow array) (:func:`kept_source`); None outside that context. Per thread, so that
    blocks of two threads never see, restore or outlive each other's registry (a
    registry left active past its block would serve the widening of an array someone
    has since written to)."""

    arrays: dict[int, tuple[np.ndarray, dict]] | None = None
    sources: dict[int, tuple[np.ndarray, np.ndarray]] | None = None


_KEPT = _KeptWidenings()


@contextlib.contextmanager
def keeping_widenings():
    """Within the block, :func:`widen` of an array registered with :func:`keep` (that very
    object, in the same thread) computes each widening once and returns the same array on
    every later call. For a caller that widens the same logits once per method: the sweep
    runs 32 methods on each chunk, and each widens it to float32 (the method, the metric
    pass) and to float64 (the reference), about a tenth of a float16 cell. Whoever
    receives a kept widening must not write to it (no built-in method writes to its
    input)."""
    outer = _KEPT.arrays, _KEPT.sources
    _KEPT.arrays, _KEPT.sources = {}, {}
    try:
        yield
    finally:
        _KEPT.arrays, _KEPT.sources = outer


def keep(a: np.ndarray) -> np.ndarray:
    """Register ``a`` (an ndarray no one will write to while registered) so that its
    widenings are kept until this thread's :func:`keeping_widenings` block ends; returns
    ``a``. A no-op outside such a block."""
    if _KEPT.arrays is not None:
        _KEPT.arrays[id(a)] = (a, {})
    return a


def widen(a, to=np.float32) -> np.ndarray:
    """``a`` cast to the wider ``to``: the bits of ``a.astype(to)``. A narrow format to
    float32 or float64 is a gather from :func:`decode_table` (bfloat16's a 16-bit
    shift, which is all its cast is); anything else numpy's astype (float32 to
    float64, float64 to long double, ...). For an array registered with :func:`keep`,
    the widening computed at the first call (see :func:`keeping_widenings`)."""
    a = np.asarray(a)
    to = np.dtype(to)
    kept = None if _KEPT.arrays is None else _KEPT.arrays.get(id(a))
    if kept is None or kept[0] is not a:
        return _widen(a, to)
    widenings = kept[1]
    if to not in widenings:
        widenings[to] = _widen(a, to)
        if a.dtype in NARROW:
            _KEPT.sources[id(widenings[to])] = (widenings[to], a)
    return widenings[to]


def kept_source(a: np.ndarray) -> np.ndarray | None:
    """The narrow-format array whose kept widening (:func:`widen` within this thread's
    :func:`keeping_widenings` block) is the very object ``a`` or a view of all of it, or
    None. Then every entry of ``a`` is one of the format's values, and a function of ``a``
    entry by entry is a :func:`lookup` in a table of its value at each of them."""
    if _KEPT.sources is None:
        return None
    kept = _KEPT.sources.get(id(a))
    if kept is not None and kept[0] is a:
        return kept[1]
    # a view of all of a kept widening: the native mode's softmaxlab.rounding.Rounded
    base = getattr(a, "base", None)
    kept = None if base is None else _KEPT.sources.get(id(base))
    if kept is not None and kept[0] is base and _whole_view(a, base):
        return kept[1]
    return None


def _whole_view(a: np.ndarray, of: np.ndarray) -> bool:
    """Whether ``a`` sees exactly the entries of ``of``, in its order."""
    return (
        a.dtype == of.dtype
        and a.shape == of.shape
        and a.strides == of.strides
        and a.__array_interface__["data"][0] == of.__array_interface__["data"][0]
    )


def _widen(a: np.ndarray, to: np.dtype) -> np.ndarray:
    """:func:`widen`, computed."""
    if a.dtype not in NARROW or to not in _SOURCES:
        return a.astype(to)
    if a.dtype == DTYPES["bfloat16"] and _kernels_on():
        codes = np.ascontiguousarray(a).view(_narrow(a.dtype).codes)
        out = np.empty(a.shape, dtype=to)
        _widen_bfloat16(codes.reshape(-1), out.reshape(-1))
        return out
    return lookup(decode_table(a.dtype, to), a)


def lookup(table: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``table[code]`` for the bit pattern (code) of every entry of ``a``, an array of one of
    NARROW, in a's shape; ``table`` has an entry per bit pattern of a's format (as
    :func:`decode_table`'s). Any function of a narrow format's values as one gather: a
    table of the function of every value gives, entry for entry, its bits on the array."""
    # reshape: ascontiguousarray makes a 0-d array 1-d
    codes = np.ascontiguousarray(a).view(_narrow(a.dtype).codes).reshape(a.shape)
    if len(table) != 2 ** (8 * a.dtype.itemsize):
        raise ValueError(f"a table of {len(table)} entries for the codes of {a.dtype}")
    if not _kernels_on():
        return np.take(table, codes)
    out = np.empty(a.shape, dtype=table.dtype)
    _gather(table, codes.reshape(-1), out.reshape(-1))
    return out


@jit
def _gather(table, codes, out):
    """out[i] = table[codes[i]]: every code indexes the table (it has an entry per bit
    pattern), so no bounds to check."""
    for i in range(codes.size):
        out[i] = table[codes[i]]


@jit
def _widen_bfloat16(codes, out):
    """bfloat16 codes to the float32 or float64 ``out``: a bfloat16 is the top half of a
    float32 (ml_dtypes' cast to float64 goes through that float32 too, NaNs included)."""
    for i in range(codes.size):
        out[i] = np.uint32(np.uint32(codes[i]) << np.uint32(16)).view(np.float32)


def _nonfinite_test(dtype: np.dtype):
    """(codes view, mask) such that an entry is not finite iff (code & mask) == mask, or
    None for a dtype without one (long double, integers, ...)."""
    if dtype in _SOURCES:
        src = _SOURCES[dtype]
        return src.view, src.inf_bits
    if dtype in NARROW:
        fmt = _narrow(dtype)
        return fmt.codes, fmt.nonfinite_mask
    return None


def finite_rows(a) -> np.ndarray:
    """``np.isfinite(a).all(axis=-1)``: per row (the last axis) whether every entry is
    finite, for every format by a test of the exponent bits. a must have an axis."""
    a = np.asarray(a)
    test = _nonfinite_test(a.dtype)
    if a.ndim == 0 or test is None:
        return np.isfinite(a).all(axis=-1)
    view, mask = test
    codes = np.ascontiguousarray(a).view(view)
    if not _kernels_on():
        return ((codes & view(mask)) != view(mask)).all(axis=-1)
    k = a.shape[-1]
    out = np.empty(a.shape[:-1], dtype=np.bool_)
    if out.size:
        _finite_rows(codes.reshape(out.size, k), mask, out.reshape(-1))
    return out


@jit
def _finite_rows(codes, mask, out):
    """out[i]: no entry of row i has every bit of ``mask`` set (counts, no early exit:
    the loop vectorises)."""
    n, k = codes.shape
    for i in range(n):
        bad = 0
        for j in range(k):
            bad += (codes[i, j] & mask) == mask
        out[i] = bad == 0


def overflow_rows(wide, narrow) -> np.ndarray:
    """``np.any(np.isfinite(wide) & ~np.isfinite(narrow), axis=-1)``: per row whether
    rounding ``wide`` (float32 or float64) to the narrow format of ``narrow`` (the rounded
    values, same shape) turned a finite entry into inf or NaN."""
    wide, narrow = np.asarray(wide), np.asarray(narrow)
    if wide.shape != narrow.shape:
        raise ValueError(f"overflow_rows: shapes differ: {wide.shape} and {narrow.shape}")
    wide_test, narrow_test = _nonfinite_test(wide.dtype), _nonfinite_test(narrow.dtype)
    if wide.ndim == 0 or not _kernels_on() or wide_test is None or narrow_test is None:
        with np.errstate(all="ignore"):
            return np.any(np.isfinite(wide) & ~_isfinite(narrow), axis=-1)
    k = wide.shape[-1]
    out = np.empty(wide.shape[:-1], dtype=np.bool_)
    if out.size:
        _overflow_rows(
            np.ascontiguousarray(wide).view(wide_test[0]).reshape(out.size, k),
            wide_test[1],
            np.ascontiguousarray(narrow).view(narrow_test[0]).reshape(out.size, k),
            narrow_test[1],
            out.reshape(-1),
        )
    return out


def _isfinite(a: np.ndarray) -> np.ndarray:
    """Elementwise isfinite, by bit test for the narrow formats (ml_dtypes' ufunc is slow)."""
    if a.dtype in NARROW:
        fmt = _narrow(a.dtype)
        mask = fmt.codes(fmt.nonfinite_mask)
        return (a.view(fmt.codes) & mask) != mask
    return np.isfinite(a)


@jit
def _overflow_rows(wide, wide_mask, narrow, narrow_mask, out):
    """out[i]: some j has wide[i, j] finite and narrow[i, j] not (bits and masks as in
    :func:`_finite_rows`)."""
    n, k = wide.shape
    for i in range(n):
        count = 0
        for j in range(k):
            count += ((wide[i, j] & wide_mask) != wide_mask) & (
                (narrow[i, j] & narrow_mask) == narrow_mask
            )
        out[i] = count > 0


def round_in_place(a: np.ndarray, dtype) -> np.ndarray:
    """Round the float32 array ``a`` to the narrow ``dtype`` in place, keeping float32: each
    entry becomes ``widen(round_to(entry, dtype))``, bit for bit (NaNs included), in one
    compiled pass. Returns ``a``. This is the rounding after every operation of the narrow
    formats' native arithmetic (softmaxlab.rounding). ``a`` must be a writeable float32
    array (C-contiguous for the compiled pass; any other layout rounds a copy and writes it
    back); ValueError otherwise or for a ``dtype`` not in NARROW."""
    dtype = np.dtype(dtype)
    if not isinstance(a, np.ndarray) or a.dtype != np.float32 or dtype not in NARROW:
        raise ValueError(f"round_in_place: needs a float32 array and a narrow format, got {dtype}")
    if a.size == 0:
        return a
    if not _kernels_on() or not a.flags.c_contiguous:
        a[...] = widen(round_to(np.ascontiguousarray(a), dtype), np.float32)
        return a
    _round_float32_codes(a.reshape(-1).view(np.int32), *_float32_rounding(dtype))
    return a


@functools.cache
def _float32_rounding(dtype: np.dtype) -> tuple:
    """The constants of :func:`_round_float32_codes` for one narrow format: float32 bits
    (int32) and values read from the format's layout and its decode table."""
    fmt = _narrow(dtype)
    shift = 23 - fmt.mant
    table_bits = decode_table(dtype, np.float32).view(np.int32)
    return (
        np.int32(shift),
        np.int32(~((1 << shift) - 1)),  # keeps the format's significand bits
        np.int32((128 - fmt.bias) << 23),  # float32 bits of the smallest normal 2^(1 - bias)
        np.float32(2.0 ** (1 - fmt.bias - fmt.mant + 23)),  # float32 ulp = the format's quantum
        table_bits[fmt.max_code],
        table_bits[fmt.overflow_code],  # +inf, or e4m3fn's NaN, as float32
        table_bits[fmt.nan_code],
        fmt.keep_payload,
    )


_I32 = np.int32


@jit
def _round_float32_codes(
    bits, shift, keep_mask, min_normal_bits, magic, max_bits, overflow_bits, nan_bits, keep_payload
):
    """Every float32 of ``bits`` (an int32 view of them) rounded to a narrow format and
    stored back as the float32 of the rounded value.

    The arithmetic of :func:`_round_codes` without leaving float32's encoding: normal
    results round the bits to nearest even (add 2^(shift - 1) - 1 plus the lowest kept bit,
    clear the ``shift`` dropped bits; a carry moves to the next binade), and past the
    format's max become its overflow (+inf, or NaN in float8_e4m3fn). Results below the
    format's smallest normal: |v| + magic in float32, magic being the float32 whose ulp is
    the format's quantum, rounds |v| to a multiple of that quantum (float32's own rounding,
    to nearest even; |v| < magic), and subtracting magic is exact. NaN: the format's NaN
    (float16: the payload's top bits, as numpy's cast keeps them). The sign is the input's.

    Speed (about 0.3 ns an element): every branch is a select and every integer is cast
    back to int32 after each operation (numba widens int32 arithmetic to int64, which
    halves the vector lanes); one array in and out, because a second view of the same
    memory makes LLVM's runtime alias check fail and run the scalar loop.
    """
    half = _I32(_I32(_I32(1) << _I32(shift - 1)) - 1)
    inf = _I32(0x7F800000)
    for i in range(bits.size):
        b = bits[i]
        a = _I32(b & _I32(0x7FFFFFFF))
        capped = a if a < inf else inf  # NaN is chosen below
        lowest_kept = _I32(_I32(capped >> shift) & _I32(1))
        normal = _I32(_I32(_I32(capped + half) + lowest_kept) & keep_mask)
        normal = overflow_bits if normal > max_bits else normal
        t = _I32(a if a < min_normal_bits else _I32(0)).view(np.float32)  # |v| or +0
        subnormal = np.float32((t + magic) - magic).view(np.int32)
        code = normal if a >= min_normal_bits else subnormal
        if keep_payload:
            payload = _I32(_I32(a & _I32(0x007FFFFF)) & keep_mask)
            quiet = _I32(_I32(1) << shift) if payload == _I32(0) else _I32(0)
            nan = _I32(_I32(inf | payload) | quiet)
        else:
            nan = nan_bits
        code = nan if a > inf else code
        bits[i] = _I32(code | _I32(b & _I32(-0x80000000)))
