"""Normalisation methods: maps from logits x to (pseudo-)probability vectors, last axis.

Every method computes in the dtype of its input, each operation carrying one rounding to
it, as on hardware. For the formats narrower than float32 (float16, bfloat16, fp8) in the
default ``compute="native"`` mode, :func:`_run` hands the method its input widened to
float32 as a :class:`softmaxlab.rounding.Rounded` array: every operation runs in float32
and its result is rounded to the format (to nearest even, into the format's subnormals,
beyond its max to inf, or to NaN in float8_e4m3fn). For +, -, x, / and sqrt that is the
format's own correctly rounded arithmetic, since float32 carries at least 2p + 2 bits: bit
for bit what numpy's float16 loops and ml_dtypes' ufuncs compute (up to the sign of a NaN,
which IEEE 754 leaves open, and float16's max(-0, +0), which numpy's float16 loop gives as
-0), at a quarter of their cost or less. exp, log1p and power are float32's function
rounded once (numpy 2.4's float16 exp differs from that on 4 of the 65536 float16 values,
ml_dtypes' bfloat16 exp on 1, each by one code). Methods registered by users receive the
narrow array itself (softmaxlab.plugins).
Reductions over the last axis (sums, cumulative sums, the thresholds of sparsemax and
entmax) are accumulated in float32 for formats narrower than float32 and rounded to the
dtype afterwards, as numpy's float16 sum and the training frameworks' low-precision kernels
do; in float32, float64 and long double they are computed in the dtype itself.

Nothing here raises on inf/NaN input: the arithmetic gives what it gives, and
:func:`evaluate` reports per row whether an intermediate or the output overflowed (a value
beyond the format's max became inf, or NaN in float8_e4m3fn, although the row's input was
finite), so overflow can be counted. A zero denominator (no mass, or every term underflowed
to 0) is not overflow: its 0/0 = NaN or x/0 = inf shows in the ``nan`` and ``invalid``
metrics instead.

Edge conventions, the same for every method (built-in or registered) and every format,
applied once in :func:`_run` (so by :func:`normalize` and :func:`evaluate`) after the
method, never inside it; :func:`softmaxlab.vjp` follows them too:

* a 0-d input is one outcome: its probability is 1.0 in x's dtype (NaN when x is NaN or
  +-inf, by the rules below), as ``scipy.special.softmax(np.float64(3.0))`` returns 1.0;
* an empty input, no classes (shape ``(..., 0)``) or no rows (``(0, K)``), gives an empty
  result of x's shape and dtype, as ``jax.nn.softmax`` and ``tf.nn.softmax`` return
  (evaluate's overflow flags then have the leading shape, all False);
* a row with a NaN entry, a row with a +inf entry, and a row whose entries are all -inf
  give NaN in every entry, as ``scipy.special.softmax`` gives on ``[0, nan]``,
  ``[0, inf, 0]`` and ``[-inf, -inf]``.

+inf is NaN rather than the limit "uniform over the +inf entries, 0 elsewhere" because
that limit is not one rule across the methods: it depends on how the entries grow
relative to each other (softmax of [t, 2t] tends to [0, 1], not [1/2, 1/2]); the even maps
(spherical, escort, even-order taylor) give -inf entries the same unbounded mass as +inf
ones (spherical of [0, t, -t] tends to [0, 1/2, 1/2]); linear has no limit with a -inf
entry beside it (the sum is inf - inf); and sigmoid's bounded terms tend to a finite mix,
not to a hardmax. NaN is the answer every method can give, and the one scipy gives.
Rows with no NaN or +inf and at least one entry above -inf are exactly what the method
computes, bit for bit; a -inf entry among finite ones is left to the method's arithmetic
(most give it 0; the maps with unbounded terms at -inf give the NaN of t/inf that their
docstrings describe). Rows with a non-finite entry are never flagged as overflow.

The methods (name, parameters with defaults, formula, source) are listed by
:func:`methods` and documented in the docstring of each ``_name`` function of
:mod:`softmaxlab.methods.maps`; :func:`method_doc` returns that docstring.

Four modules, whose names are all here (``from softmaxlab.methods import normalize``):

- :mod:`softmaxlab.methods.context`: :class:`_Ctx` (a call's dtype, accumulator and
  overflow flags), the edge conventions' helpers, the compute modes (:data:`COMPUTE_MODES`,
  :func:`compute_dtype`).
- :mod:`softmaxlab.methods.maps`: the built-in methods, and :func:`_power`.
- :mod:`softmaxlab.methods.registry`: the methods and their parameters (:func:`methods`,
  :func:`register_method`, :func:`check_params`, :func:`sweep_limits`), and the labels
  (:func:`label`, :func:`parse_label`).
- :mod:`softmaxlab.methods.run`: :func:`evaluate` and :func:`normalize`.

The names here are the modules' own objects: a test that replaces one (the registry of
users' methods, ``_REGISTERED``) replaces it in the module that defines it.
"""

from .context import (
    COMPUTE_MODES,
    _as_array,
    _Ctx,
    _nan_rows,
    _with_conventions,
    _without_rows,
    compute_dtype,
)
from .maps import _power
from .registry import (
    _METHODS,
    _lookup,
    _Param,
    check_params,
    describe_value,
    label,
    method_defaults,
    method_doc,
    methods,
    parse_label,
    plugin,
    register_method,
    sweep_limits,
    unregister_method,
)
from .run import _run, evaluate, normalize

__all__ = [
    "COMPUTE_MODES",
    "check_params",
    "compute_dtype",
    "describe_value",
    "evaluate",
    "label",
    "method_defaults",
    "method_doc",
    "methods",
    "normalize",
    "parse_label",
    "plugin",
    "register_method",
    "sweep_limits",
    "unregister_method",
    # private: the names softmaxlab.vjp, softmaxlab.plugins and the tests use
    "_METHODS",
    "_Ctx",
    "_Param",
    "_as_array",
    "_lookup",
    "_nan_rows",
    "_power",
    "_run",
    "_with_conventions",
    "_without_rows",
]
