"""A narrow format's arithmetic carried out in float32: every operation's result rounded to
the format.

:class:`Rounded` is a float32 ndarray whose values are values of one narrow format
(float16, bfloat16, float8_e4m3fn or float8_e5m2). Any numpy ufunc or function that
touches one computes in float32 on plain arrays and rounds every float32 result to the
format (softmaxlab.kernels.formats.round_in_place: to nearest even, into the format's
subnormals, beyond its max to inf, or to NaN in float8_e4m3fn), so a method written for
numpy arrays runs the format's arithmetic unchanged. That is ``compute: native`` for the
narrow formats (softmaxlab.methods._run).

Why it is the format's arithmetic: for +, -, x, / and sqrt, rounding float32's correctly
rounded result to a format of p significant bits gives the format's own correctly rounded
result whenever float32's 24 bits are at least 2p + 2 (Figueroa, "When is double rounding
innocuous?", ACM SIGNUM Newsletter 30(3), 1995): p is 11 for float16, 8 for bfloat16, 4
and 3 for the fp8 formats. tests/test_native.py checks it, subnormal results and overflow
included, on every pair of fp8 values and on random pairs of the 16-bit formats against
numpy's float16 and ml_dtypes' arithmetic. exp, log1p and power are float32's function
then one rounding: within about one rounding of the true value, not always the format's
nearest (numpy's float16 exp is much the same rounded float32 function: it differs on 4
of the 65536 float16 values). max, min, abs, comparisons and selections (np.where,
sorting) are exact in any format.

Rules, in the order numpy applies them:

- ufuncs (``__array_ufunc__``, every method: ``__call__``, ``reduce``, ``accumulate``,
  ``reduceat``, ``outer``, ``at``): run on plain arrays, float32 results rounded in place,
  returned as :class:`Rounded` (``out=`` arrays too). Inputs that are not Rounded but are
  float32 (a plain array, a numpy float32 scalar) or Python numbers are rounded to the
  format first, as numpy rounds a Python scalar to the format in ``x_fp16 + 0.1``, so
  every operand is a value of the format. Results of other dtypes (comparisons' booleans,
  integers) are returned plain; a float64 result (a float64 operand promoted the
  arithmetic) is returned plain too, for the caller's dtype check to catch.
- numpy functions (``__array_function__``): called on plain arrays; a float32 result is
  rounded (a reduction such as np.sum accumulates in float32 and rounds once, as
  ``np.sum(x_fp16, dtype=np.float32)`` then rounded to the format) and returned as
  Rounded. Selecting functions (np.max, np.where, np.sort, np.broadcast_to, ...) skip the
  rounding when every float operand is Rounded: their values are operands' values.
  Functions that write into their first argument (np.copyto, np.putmask, ...) round it
  afterwards.
- ``astype`` leaves the format's arithmetic: it returns a plain array (a method that casts
  to float32, as the sparse maps' numpy bodies do, asks for float32 arithmetic).
  ``np.array(a)``, ``np.asarray(a)`` and ``np.ascontiguousarray(a)`` also give plain
  arrays, of the same values.
- Assignment into a Rounded (``a[i] = v``) rounds v first.

A ufunc on 0-d operands returns a 0-d Rounded array, not a numpy scalar, so the rounding
carries on. Each call costs a few microseconds of Python on top of the arithmetic: meant
for arrays of thousands of entries, as the sweep's chunks are.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from softmaxlab.kernels import formats

_F32 = np.dtype(np.float32)


class Rounded(np.ndarray):
    """float32 values of one narrow format (the class attribute ``format``); every ufunc and
    numpy function result is rounded to it (see the module docstring). Make one with
    :func:`enter` or :func:`constant`; each format has its own subclass (:func:`rounded_type`),
    so views and slices keep the format without per-array state."""

    format: np.dtype | None = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fmt = _common_format(inputs, kwargs.get("out", ()))
        # reduceat's and at's second operand holds indices, not values
        plain_inputs = [
            _plain_view(value) if i == 1 and method in ("reduceat", "at") else _operand(value, fmt)
            for i, value in enumerate(inputs)
        ]
        outs = kwargs.get("out")
        if outs is not None:
            kwargs["out"] = tuple(_plain_view(o) for o in outs)
        result = getattr(ufunc, method)(*plain_inputs, **kwargs)
        if method == "at":  # in place on the first operand, returns None
            _round_target(inputs[0], fmt)
            return None
        if ufunc.nout > 1 and method == "__call__":
            originals = outs if outs is not None else (None,) * ufunc.nout
            return tuple(_finish(r, fmt, o) for r, o in zip(result, originals, strict=True))
        return _finish(result, fmt, outs[0] if outs is not None else None)

    def __array_function__(self, func, types, args, kwargs):
        if not all(issubclass(t, np.ndarray) for t in types):
            return NotImplemented
        fmt = _common_format(args, list(kwargs.values()))
        plain_args = _map_arrays(args, _plain_view)
        plain_kwargs = _map_arrays(kwargs, _plain_view)
        result = func(*plain_args, **plain_kwargs)
        if func in _WRITING:
            _round_target(args[0], fmt)
            return result
        if func in _SELECTING and not _has_plain_float((args, kwargs)):
            return _map_results(result, lambda a: _wrap(a, fmt))
        out = kwargs.get("out")
        return _map_results(result, lambda a: _finish(a, fmt, out, fresh=False))

    def astype(self, dtype, *args, **kwargs):
        """A plain array of ``dtype``: casting leaves the format's arithmetic."""
        return self.view(np.ndarray).astype(dtype, *args, **kwargs)

    def __setitem__(self, key, value):
        if not isinstance(value, Rounded):
            value = _operand(value, self.format)
        np.ndarray.__setitem__(self.view(np.ndarray), key, _plain_view(value))

    def __reduce__(self):
        # Pickle as the plain float32 array it holds (the subclasses are made at runtime).
        return np.ndarray.__reduce__(self.view(np.ndarray))


def rounded_type(fmt) -> type[Rounded]:
    """The :class:`Rounded` subclass of one narrow format (ValueError for another dtype):
    one class per format, however the format is spelled (np.float16 or its dtype)."""
    return _rounded_type(np.dtype(fmt))


@functools.cache
def _rounded_type(fmt: np.dtype) -> type[Rounded]:
    if fmt not in formats.NARROW:
        raise ValueError(
            f"not a narrow format: {fmt}; valid: {', '.join(map(str, formats.NARROW))}"
        )
    return type(f"Rounded_{fmt.name}", (Rounded,), {"format": fmt})


def enter(values: np.ndarray, fmt) -> Rounded:
    """``values`` (a float32 array whose entries the format holds, e.g. formats.widen of an
    array of the format) viewed as the format's Rounded: no copy, no rounding."""
    values = np.asarray(values)
    if values.dtype != _F32:
        raise ValueError(f"enter: needs float32 values, got {values.dtype}")
    return values.view(rounded_type(fmt))


def round_array(values, fmt) -> Rounded:
    """A new Rounded holding ``values`` (float32, float64 or a Python number) rounded to the
    format as ``astype`` rounds them (float64: numpy's direct rounding for float16,
    through float32 for bfloat16 and the fp8 formats, as ml_dtypes does)."""
    values = np.asarray(values)
    if values.dtype == _F32:
        return enter(formats.round_in_place(np.array(values, dtype=_F32), fmt), fmt)
    if values.dtype.kind in "fiub":
        wide = formats.round_to(values.astype(np.float64), np.dtype(fmt))
        return enter(formats.widen(wide, _F32), fmt)
    raise ValueError(f"round_array: cannot round {values.dtype} to {np.dtype(fmt)}")


def constant(value, fmt) -> Rounded:
    """``value`` rounded to the format as ``np.asarray(value, dtype=fmt)`` rounds it, as a
    0-d Rounded (100 is 96 in float8_e4m3fn)."""
    return round_array(np.asarray(value, dtype=np.float64), fmt).reshape(())


def plain(a) -> np.ndarray:
    """The float32 array a Rounded holds (a view), or ``a`` itself for any other array."""
    return a.view(np.ndarray) if isinstance(a, Rounded) else a


# Functions whose result holds their operands' values, unchanged (no arithmetic): rounding
# it is the identity when every float operand is a value of the format.
_SELECTING = frozenset(
    {
        np.max,
        np.amax,
        np.min,
        np.amin,
        np.sort,
        np.flip,
        np.where,
        np.take,
        np.take_along_axis,
        np.broadcast_to,
        np.reshape,
        np.ravel,
        np.squeeze,
        np.expand_dims,
        np.transpose,
        np.moveaxis,
        np.swapaxes,
        np.concatenate,
        np.stack,
        np.copy,
        np.partition,
        np.atleast_1d,
        np.atleast_2d,
    }
)

# Functions that write into their first argument (returning None or it).
_WRITING = frozenset({np.copyto, np.putmask, np.place, np.put, np.put_along_axis})


def _common_format(*groups) -> np.dtype:
    """The format of the Rounded operands (TypeError if they disagree)."""
    found = {
        type(value).format
        for group in groups
        for value in _leaves(group)
        if isinstance(value, Rounded)
    }
    if len(found) != 1:
        raise TypeError(f"operands of different narrow formats: {sorted(map(str, found))}")
    return found.pop()


def _leaves(value):
    """The arrays and scalars in nested tuples, lists and dicts."""
    if isinstance(value, tuple | list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    else:
        yield value


def _map_arrays(value, fn):
    """``value`` with fn applied to every leaf of nested tuples, lists and dicts."""
    if isinstance(value, tuple | list):
        return type(value)(_map_arrays(item, fn) for item in value)
    if isinstance(value, dict):
        return {key: _map_arrays(item, fn) for key, item in value.items()}
    return fn(value)


def _map_results(result, fn):
    """fn applied to a function's result, or to each array of a tuple or list of results."""
    if isinstance(result, tuple | list):
        return type(result)(_map_results(item, fn) for item in result)
    return fn(result)


def _plain_view(value):
    return value.view(np.ndarray) if isinstance(value, Rounded) else value


def _is_float32(value) -> bool:
    return isinstance(value, np.ndarray | np.floating) and value.dtype == _F32


def _has_plain_float(value) -> bool:
    """Whether a leaf is a float operand that is not Rounded (a plain float array or numpy
    float scalar of any width, or a Python float)."""
    for leaf in _leaves(value):
        if isinstance(leaf, Rounded):
            continue
        if isinstance(leaf, np.ndarray | np.generic) and leaf.dtype.kind == "f":
            return True
        if isinstance(leaf, float):
            return True
    return False


def _operand(value, fmt):
    """A ufunc operand as a plain array of the format's values: a Rounded's view; a plain
    float32 array or scalar, or a Python int or float, rounded to the format (a copy);
    anything else (booleans, integer arrays, float64: it promotes, and the caller's dtype
    check catches that) unchanged."""
    if isinstance(value, Rounded):
        return value.view(np.ndarray)
    if _is_float32(value):
        return round_array(value, fmt).view(np.ndarray)
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.generic):
        return constant(value, fmt).view(np.ndarray)
    return value


def _wrap(result, fmt):
    """A float32 result as the format's Rounded (a 0-d array for a scalar); others as they
    are."""
    if isinstance(result, np.ndarray) and result.dtype == _F32:
        return result.view(rounded_type(fmt))
    if isinstance(result, np.floating) and result.dtype == _F32:
        return np.array(result).view(rounded_type(fmt))
    return result


def _finish(result, fmt, out=None, fresh: bool = True):
    """A ufunc or function result rounded to the format and wrapped (the caller's ``out``
    array is returned itself, rounded). ``fresh``: the result is a new array (a ufunc's);
    a function may return a view of an operand, which is rounded as a copy."""
    if isinstance(result, np.floating) and result.dtype == _F32:
        result = np.array(result)
    if not (isinstance(result, np.ndarray) and result.dtype == _F32):
        return result
    if out is not None:
        target = out[0] if isinstance(out, tuple) else out
        formats.round_in_place(target.view(np.ndarray), fmt)
        return target if isinstance(target, Rounded) else target.view(rounded_type(fmt))
    if not fresh and (result.base is not None or not result.flags.writeable):
        result = result.copy()
    return formats.round_in_place(result, fmt).view(rounded_type(fmt))


def _round_target(target, fmt) -> None:
    """Round an array that a ufunc.at or a writing function changed in place."""
    if isinstance(target, np.ndarray) and target.dtype == _F32:
        formats.round_in_place(target.view(np.ndarray), fmt)
