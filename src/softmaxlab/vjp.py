"""Vector-Jacobian products of the normalisation methods: g = v^T dp/dx along the last axis.

For each row x (last axis, K classes) and cotangent v, ``vjp`` returns g with
g_j = sum_i v_i dp_i/dx_j, computed analytically in float64 (x and v are cast to float64).
It is what reverse-mode differentiation of p = normalize(x, method) gives, and what the
NLL gradient and the training study build on: the gradient of a loss L(p) with respect to
the logits is vjp(x, dL/dp, method).

The forward values (p, and the terms g(x) a method divides by their sum) come from the
method's own float64 code in :mod:`softmaxlab.methods`, so the derivative is that of what
``normalize`` computes (same noise for gumbel_softmax, same evaluation order). The edge
conventions of :mod:`softmaxlab.methods` hold here too, applied once in :func:`vjp`: a 0-d
x gives 0.0 (normalize is the constant 1 there), an empty x an empty result of its shape,
and the rows normalize makes NaN (a NaN or +inf entry, or all -inf) are NaN, argmax's
included. Elsewhere, where the arithmetic breaks (a -inf entry among finite ones, a zero
sum, an overflowing naive form) the result is what the formula gives (NaN or inf), never
an exception.

Three families of formulas (each documented with its source in the ``_vjp_*`` function):

* p = g(x) / S, S = sum_j g(x_j), g elementwise (linear, relu, softplus, sigmoid,
  spherical, escort, taylor, stablemax, and the exponential maps softmax, ssmax,
  iterated_exp, gumbel_softmax): J = (diag(g') - p g'^T) / S, so
  v^T J = g' / S * (v - v.p);
* shifted_linear: as above with g = x - min x, whose min contributes a rank-one term;
* sparsemax and entmax: J = diag(s) - s s^T / sum s with s_i = p_i^(2 - alpha) on the
  support (Martins & Astudillo 2016, eq. 12; Peters, Niculae & Martins 2019, Prop. 1).

A user's method (softmaxlab.plugins) has the vjp it brings: ``function.vjp(x, v, **params)``
or ``register_method(..., vjp=...)``, called on float64 x and v and checked to return
float64 of x's shape, with the edge conventions applied as for the built-ins; without one,
:func:`vjp` raises ValueError (:func:`has_vjp` says which methods have one).

Kinks (relu at 0, stablemax's joint at 0, sparse support boundaries, shifted_linear's tied
minima) use the one-sided conventions stated in each function.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from softmaxlab.methods import (
    _as_array,
    _Ctx,
    _lookup,
    _nan_rows,
    _with_conventions,
    _without_rows,
    check_params,
    plugin,
)
from softmaxlab.methods.maps import gumbel_noise
from softmaxlab.plugins import checked_output

_F64 = np.dtype(np.float64)


class _TermsCtx(_Ctx):
    """A float64 method context that keeps the terms the method normalises.

    Every "g then normalise" method ends in ``ctx.normalise(t)`` with t = g(x); this context
    records t, so the derivative reuses the method's own forward evaluation instead of a
    second copy of it. The exponential maps (softmax, ssmax, iterated_exp,
    gumbel_softmax) normalise a temporary of their own (``owned``), which the division
    overwrites as in :func:`softmaxlab.evaluate`: their derivative needs p alone, and
    keeping the terms would cost a fresh output array (page faults: about as much as the
    whole forward at K = 1000). ``terms`` is None for them. ``track``: record the overflow
    flags as :func:`softmaxlab.evaluate` does (same arithmetic).
    """

    def __init__(self, x: np.ndarray, track: bool = False):
        super().__init__(x, track=track)
        self.terms: np.ndarray | None = None

    def normalise(self, t: np.ndarray, owned: bool = False) -> np.ndarray:
        self.terms = None if owned else t  # float64 already; t stays untouched unless owned
        return super().normalise(t, owned=owned)


def _forward(x: np.ndarray, method: str, params: dict, **override) -> tuple[np.ndarray, _TermsCtx]:
    """(p, ctx): the method's float64 output on x and the context holding its terms.
    ``override`` replaces parameters (used to evaluate taylor of a lower order)."""
    fn = _lookup(method)[0]
    ctx = _TermsCtx(x)
    p = fn(x, ctx, **{**params, **override})
    return p, ctx


class _Forward:
    """The method's float64 forward pass on x, run at most once and shared by every
    cotangent: ``p``, the output as the method computed it (before the edge conventions),
    and ``terms``, what it normalised (None for the exponential maps, which need p alone,
    for the maps that do not end in a normalisation and for plugins). ``output``: the
    caller's float64 p of the same x, used by the formulas that need p alone (the
    exponential and sparse maps); the maps that need their terms run the forward anyway.
    ``track``: record the overflow flags of :func:`softmaxlab.evaluate` (``ctx.overflow``;
    the arithmetic is the same)."""

    def __init__(self, x: np.ndarray, method: str, params: dict, output=None, track=False):
        self.x = x
        self._method, self._params, self._track = method, params, track
        self._p = output
        self.ctx: _TermsCtx | None = None

    def run(self) -> None:
        """Evaluate the method once (no-op after the first call)."""
        if self.ctx is None:
            self.ctx = _TermsCtx(self.x, track=self._track)
            self._p = _lookup(self._method)[0](self.x, self.ctx, **self._params)

    @property
    def p(self) -> np.ndarray:
        if self._p is None:
            self.run()
        return self._p

    @property
    def terms(self) -> np.ndarray | None:
        self.run()
        return self.ctx.terms


class _Centring:
    """v -> v - (v . w) per row for fixed weights w summing to 1 (w of x's shape; v of x's
    shape or with extra leading axes, one cotangent per leading index), computed as
    (v - c) - (v - c) . w with c = v at the row's largest weight: accurate to rounding for
    the dominant entry even when w is nearly one-hot (where the plain form cancels to
    noise). The largest weight's index is found once, for every cotangent."""

    def __init__(self, w: np.ndarray):
        self.w = w
        self.top = np.argmax(w, axis=-1)[..., None]  # a NaN row is NaN whichever is picked

    def __call__(self, v: np.ndarray) -> np.ndarray:
        top = np.broadcast_to(self.top, v.shape[:-1] + (1,))
        d = v - np.take_along_axis(v, top, axis=-1)
        return d - np.sum(d * self.w, axis=-1, keepdims=True)


#: A pullback at fixed x: cotangent v (x's shape, or extra leading axes) -> v^T dp/dx.
Apply = Callable[[np.ndarray], np.ndarray]


class _Weighted:
    """v -> r = (factor * scale) * (v - v.w), then r - shift * sum(r) per row when ``shift``
    is given: the form every formula below ends in (the shift is shifted_linear's; argmax
    and the plugins have their own form). ``scale``, ``shift``: float64 of x's shape;
    ``factor``: a float (1.0 * scale is scale exactly, so 1.0 means none). The factor is
    kept apart so that factor * scale is formed where it is used, not stored."""

    def __init__(
        self,
        scale: np.ndarray,
        centring: _Centring,
        shift: np.ndarray | None = None,
        factor: float = 1.0,
        softmax: bool = False,
    ):
        self.scale, self.centring, self.shift, self.factor = scale, centring, shift, factor
        # the scale is the centring's weights p: v -> factor p (v - v.p), softmax's Jacobian
        self.softmax = softmax

    def __call__(self, v: np.ndarray) -> np.ndarray:
        r = (self.factor * self.scale) * self.centring(v)
        if self.shift is None:
            return r
        return r - self.shift * np.sum(r, axis=-1, keepdims=True)


def _ratio(fwd: _Forward, dg: np.ndarray) -> _Weighted:
    """v^T J for p = g / S: g' / S * (v - v.p), with S the sum of the captured terms.
    dg: a fresh float64 array of g' (divided by S in place)."""
    s = np.sum(fwd.terms, axis=-1, keepdims=True)
    return _Weighted(np.divide(dg, s, out=dg), _Centring(fwd.p))


# --- the elementwise "g then normalise" maps ------------------------------------------------


def _vjp_linear(fwd: _Forward, params) -> Apply:
    """linear, g(x) = x, g' = 1: v^T J = (v - v.p) / sum x. Scale-invariant, so
    sum_j x_j (v^T J)_j = 0; a zero sum gives inf/NaN."""
    return _ratio(fwd, np.ones_like(fwd.x))


def _vjp_shifted_linear(fwd: _Forward, params) -> Apply:
    """shifted_linear, g = x - m with m = min x: dg_i/dx_j = delta_ij - dm/dx_j, so with
    w = (v - v.p) / S, (v^T J)_j = w_j - dm/dx_j sum_i w_i. dm/dx is the one-hot of the
    minimiser; tied minima share it equally (1/n_ties each, the convention of
    torch.amin's gradient), one choice among the subgradients at a tie.
    Shift-invariant: the entries of v^T J sum to 0."""
    ratio = _ratio(fwd, np.ones_like(fwd.x))
    is_min = fwd.x == np.min(fwd.x, axis=-1, keepdims=True)
    dmin = is_min / np.sum(is_min, axis=-1, keepdims=True)
    return _Weighted(ratio.scale, ratio.centring, shift=dmin)


def _vjp_relu(fwd: _Forward, params) -> Apply:
    """relu, g = max(x, 0), g' = 1 for x > 0 and 0 for x <= 0 (the derivative from the left
    at the kink x = 0, as relu's gradient in the frameworks)."""
    return _ratio(fwd, (fwd.x > 0).astype(_F64))


def _vjp_softplus(fwd: _Forward, params) -> Apply:
    """softplus, g = ln(1 + e^x), g' = sigma(x) = 1 - e^-g, evaluated as -expm1(-g) on the
    method's own g (no overflow, full relative accuracy for very negative x)."""
    return _ratio(fwd, -np.expm1(-fwd.terms))


def _vjp_sigmoid(fwd: _Forward, params) -> Apply:
    """sigmoid, g = sigma(x), g' = sigma(x) sigma(-x) = e^-|x| / (1 + e^-|x|)^2 (symmetric
    form: no overflow, no cancellation in 1 - sigma for large x)."""
    e = np.abs(fwd.x)
    np.exp(np.negative(e, out=e), out=e)
    square = np.add(e, 1.0)  # 1 + e, then (1 + e)(1 + e), in place
    np.multiply(square, square, out=square)
    return _ratio(fwd, np.divide(e, square, out=e))


def _vjp_spherical(fwd: _Forward, params) -> Apply:
    """spherical (de Brebisson & Vincent 2016), g = x^2 + eps, g' = 2x."""
    return _ratio(fwd, 2 * fwd.x)


def _vjp_escort(fwd: _Forward, params) -> Apply:
    """escort (Beck & Schloegl 1993), g = |x|^q, g' = q |x|^(q - 1) sign(x). At x = 0 this is
    0 for q > 1, sign(0) = 0 for q = 1, and NaN (inf * 0) for q < 1, where g has no
    derivative."""
    q = params["p"]
    return _ratio(fwd, q * np.power(np.abs(fwd.x), q - 1) * np.sign(fwd.x))


def _vjp_taylor(fwd: _Forward, params) -> Apply:
    """taylor (de Brebisson & Vincent 2016), g = t_n(x) = sum_{i<=n} x^i / i!, and
    g' = t_(n-1)(x), the method's own Horner evaluation one order lower (0 for n = 0)."""
    order = params["order"]
    if order == 0:
        dg = np.zeros_like(fwd.x)
    else:
        dg = _forward(fwd.x, "taylor", params, order=order - 1)[1].terms
    return _ratio(fwd, dg)


def _vjp_stablemax(fwd: _Forward, params) -> Apply:
    """stablemax (Prieto et al. 2025), g = x + 1 for x >= 0 and 1/(1 - x) below, so
    g' = 1 for x >= 0 and 1/(1 - x)^2 = g^2 below (both 1 at the joint: g is C^1 there;
    its second derivative jumps)."""
    g = fwd.terms
    return _ratio(fwd, np.where(fwd.x >= 0, 1.0, g * g))


# --- the exponential maps ---------------------------------------------------------------------


def _softmax_like(p: np.ndarray, factor: float) -> Apply:
    """v^T J of p = softmax(c x): J = c (diag(p) - p p^T), so v^T J = c p (v - v.p)
    (Bridle 1990; the softmax Jacobian as in any autodiff framework). Needs p alone."""
    return _Weighted(p, _Centring(p), factor=factor, softmax=True)


def _vjp_softmax(fwd: _Forward, params) -> Apply:
    """softmax with base b and temperature T is softmax(x ln(b) / T), so
    v^T J = (ln b / T) p (v - v.p). ``stable`` does not change the math; p comes from the
    requested form in float64, so the naive form's overflow (x ln b / T > 709.78) gives
    NaN as normalize does."""
    return _softmax_like(fwd.p, math.log(params["base"]) / params["temperature"])


def _vjp_ssmax(fwd: _Forward, params) -> Apply:
    """ssmax (Nakanishi 2025), softmax(s ln(K) x): the chain rule gives the factor s ln K
    (0 for K = 1)."""
    return _softmax_like(fwd.p, params["s"] * math.log(fwd.x.shape[-1]))


def _vjp_gumbel_softmax(fwd: _Forward, params) -> Apply:
    """Gumbel-softmax (Jang et al. 2017), softmax((x + G)/tau) with the noise G fixed by
    the seed and the shape of x, drawn by the method itself (the float64 draw, i.e. the
    same noise as normalize(x, "gumbel_softmax", tau=..., seed=...) on float64 x):
    v^T J = p (v - v.p) / tau."""
    return _softmax_like(fwd.p, 1 / params["tau"])


def _vjp_iterated_exp(fwd: _Forward, params) -> Apply:
    """iterated_exp of depth d is softmax(u) with u = E_(d-1)(x), E_0 = x, E_k = exp(E_(k-1)).
    By the chain rule u' = prod_{k=1}^{d-1} E_k = exp(sum_{k=0}^{d-2} E_k), so
    v^T J = u' p (v - v.p); u' p is formed as exp(ln p + sum_{k<d-1} E_k), which stays
    finite where p underflows to 0. Naive and stable forms are the same math; where
    E_(d-1) overflows (x past ln ln max for d = 3, ...) both give NaN."""
    p = fwd.p
    depth = params["depth"]
    log_du = np.zeros_like(fwd.x)
    inner = fwd.x
    for level in range(depth - 1):
        np.add(log_du, inner, out=log_du)
        if level < depth - 2:  # E_(d-1) itself is not needed
            inner = np.exp(inner)
    with np.errstate(divide="ignore"):
        weight = np.log(p)
    np.exp(np.add(weight, log_du, out=weight), out=weight)
    return _Weighted(weight, _Centring(p))


# --- sparse maps and argmax -------------------------------------------------------------------


def _sparse_vjp(s: np.ndarray) -> Apply:
    """v^T J with J = diag(s) - s s^T / sum s: s * (v - (s.v) / sum s) (J is symmetric; the
    entmax package's EntmaxBisectFunction.backward computes the same). The bracket is the
    centred form with weights s / sum s, so a dominant s (alpha > 2 at a small p) does not
    cancel to noise."""
    return _Weighted(s, _Centring(s / np.sum(s, axis=-1, keepdims=True)))


def _vjp_sparsemax(fwd: _Forward, params) -> Apply:
    """sparsemax (Martins & Astudillo 2016, eq. 12): J = diag(s) - s s^T / |S| with s the
    indicator of the support S = {i : p_i > 0}. Entries exactly at the support's edge
    (p_i = 0 at a tie with tau) count as outside. Needs p alone."""
    p = fwd.p
    return _sparse_vjp(np.where(np.isnan(p), np.nan, (p > 0).astype(_F64)))


def _entmax_vjp(p: np.ndarray, alpha: float) -> Apply:
    """alpha-entmax (Peters, Niculae & Martins 2019, Prop. 1): J = diag(s) - s s^T / sum s
    with s_i = p_i^(2 - alpha) on the support and 0 outside. Needs p alone."""
    # np.power(..., where=p > 0) would skip the zeros but runs numpy's masked loop, whose
    # power differs from the contiguous loop's in the last bit: the values would move.
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(p > 0, np.power(p, 2 - alpha), np.where(np.isnan(p), np.nan, 0.0))
    return _sparse_vjp(s)


def _vjp_entmax15(fwd: _Forward, params) -> Apply:
    """1.5-entmax: s_i = sqrt(p_i) on the support (see _entmax_vjp)."""
    return _entmax_vjp(fwd.p, 1.5)


def _vjp_entmax(fwd: _Forward, params) -> Apply:
    """alpha-entmax by bisection: s_i = p_i^(2 - alpha) on the support (see _entmax_vjp)."""
    return _entmax_vjp(fwd.p, params["alpha"])


class _Zero:
    """v -> 0 of v's shape broadcast with x's."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return np.zeros(np.broadcast_shapes(v.shape, self.shape), dtype=_F64)


def _vjp_argmax(fwd: _Forward, params) -> Apply:
    """Hardmax is piecewise constant: its Jacobian is 0 wherever it exists, and 0 is what
    every finite row gets (also at ties, where it has none); the rows normalize makes NaN
    get NaN (applied by :class:`Pullback`). No forward pass."""
    return _Zero(fwd.x.shape)


_VJPS: dict[str, Callable[[_Forward, dict], Apply]] = {
    "argmax": _vjp_argmax,
    "linear": _vjp_linear,
    "shifted_linear": _vjp_shifted_linear,
    "relu": _vjp_relu,
    "softplus": _vjp_softplus,
    "sigmoid": _vjp_sigmoid,
    "spherical": _vjp_spherical,
    "escort": _vjp_escort,
    "taylor": _vjp_taylor,
    "stablemax": _vjp_stablemax,
    "softmax": _vjp_softmax,
    "iterated_exp": _vjp_iterated_exp,
    "ssmax": _vjp_ssmax,
    "sparsemax": _vjp_sparsemax,
    "entmax15": _vjp_entmax15,
    "entmax": _vjp_entmax,
    "gumbel_softmax": _vjp_gumbel_softmax,
}


def _plugin_vjp(found, x: np.ndarray, params: dict) -> Apply:
    """A plugin's own vjp(x, v, **params) on float64 x and v (one call per leading index of a
    stacked v), checked to return float64 of x's shape (ValueError naming the method
    otherwise)."""

    def once(v: np.ndarray) -> np.ndarray:
        v = np.broadcast_to(v, x.shape)
        return checked_output(found.name, x, found.vjp(x, v, **params), "'s vjp")

    def apply(v: np.ndarray) -> np.ndarray:
        if v.ndim <= x.ndim:
            return once(v)
        flat = v.reshape((-1, *x.shape))
        return np.stack([once(row) for row in flat]).reshape(v.shape)

    return apply


class Pullback:
    """v -> v^T dp/dx of p = normalize(x, method, **params) at one fixed x, in float64.

    What the formula needs besides v (the forward pass, its terms, the largest weight of
    each row, g'/S, ...) is computed once, at the first call, and shared by every
    cotangent: k cotangents cost one forward pass and k times O(K) arithmetic per row,
    where k calls of :func:`vjp` cost k forward passes. Each call gives exactly what
    :func:`vjp` gives for the same x and v (the same arithmetic), with the edge
    conventions applied.

    x: float64 with at least one row (ndim >= 1, size > 0); the method's name and full
    parameters (:func:`softmaxlab.check_params`). ``output``: the float64 p the caller
    already has for this x (the exponential and sparse maps then skip the forward pass).
    ``track``: the forward records overflow as :func:`softmaxlab.evaluate` does, and
    :meth:`evaluated` returns evaluate's (p, overflow), bit for bit.
    """

    def __init__(self, x: np.ndarray, method: str, params: dict, output=None, track=False):
        if x.dtype != _F64 or x.ndim == 0 or x.size == 0:
            raise ValueError(f"Pullback needs float64 rows, got {x.dtype} of shape {x.shape}")
        self.x, self.method, self.params, self.track = x, method, params, track
        self.forward = _Forward(x, method, params, output, track)
        self._apply: Apply | None = None

    def evaluated(self) -> tuple[np.ndarray, np.ndarray]:
        """(p, overflow) of the forward pass with the edge conventions, as
        :func:`softmaxlab.evaluate` returns them (overflow all False unless ``track``)."""
        with np.errstate(all="ignore"):
            self.forward.run()
            p = self.forward.p
            if p.dtype != _F64:  # as softmaxlab.methods._run: a promoted constant is a bug
                raise AssertionError(f"{self.method} computed in {p.dtype} instead of float64")
            ctx = self.forward.ctx
            return _with_conventions(self.x, p, ctx.finite_rows), ctx.overflow

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """g = v^T dp/dx (float64) for a float64 v of x's shape, or of shape (m, *x.shape)
        for m cotangents at once (g then has v's shape). ValueError for a method without
        a vjp (:func:`has_vjp`)."""
        with np.errstate(all="ignore"):
            return _with_conventions(self.x, self._built()(v))

    def centred_form(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(factor, scale, w, top, shift) when the pullback (before the edge conventions) is
        v -> r = (factor * scale) * (d - d.w), d = v - v[top] per row, then
        r - shift * sum(r): a float factor, float64 C-contiguous scale, w and shift of x's
        shape (shift of shape (0, K): none, every map but shifted_linear) and top, the
        int64 index of each row's largest w (x's leading shape); None for argmax and
        plugins. What a compiled loop needs to apply the pullback without numpy's
        intermediate arrays (softmaxlab.kernels.nll, for x of shape (n, K))."""
        with np.errstate(all="ignore"):
            apply = self._built()
            if not isinstance(apply, _Weighted):
                return None
            scale = np.ascontiguousarray(np.broadcast_to(apply.scale, self.x.shape))
        centring = apply.centring
        top = np.ascontiguousarray(centring.top[..., 0], dtype=np.int64)
        k = self.x.shape[-1]
        shift = np.empty((0, k)) if apply.shift is None else apply.shift
        w = np.ascontiguousarray(centring.w, dtype=_F64)
        return float(apply.factor), scale, w, top, np.ascontiguousarray(shift, dtype=_F64)

    def softmax_factor(self) -> float | None:
        """c where the pullback (before the edge conventions) is v -> c p (v - v.p), the
        Jacobian of p = softmax(c x + b) with b independent of x (softmax with any base
        and temperature, ssmax, gumbel_softmax); None for every other map. For those the
        NLL's gradient, the pullback of v = -e_y / p_y, is c (p - e_y): p_y / p_y cancels,
        so it needs no 1/p_y and is defined where p_y underflows (softmaxlab.nll)."""
        apply = self._built()
        return apply.factor if isinstance(apply, _Weighted) and apply.softmax else None

    def softmax_logits(self, rows: np.ndarray) -> np.ndarray | None:
        """u, float64 (len(rows), K), with p = softmax(u) on the rows ``rows`` of the 2-d x,
        for the maps of :meth:`softmax_factor` (None for every other map): c x, and
        c (x + G) for gumbel_softmax, whose noise G is the method's own float64 draw for
        x's shape. Only differences u_i - u_j are meaningful (softmax ignores a row
        constant): softmaxlab.nll forms ln p_y = ln p_m + (u_y - u_m) from them where p_y
        has underflowed, the log-softmax value the frameworks' loss computes."""
        factor = self.softmax_factor()
        if factor is None:
            return None
        x = self.x[rows]
        if self.method == "gumbel_softmax":
            x = x + gumbel_noise(self.params["seed"], self.x.shape)[rows]
        return factor * x

    def is_zero(self) -> bool:
        """Whether the pullback is identically 0 before the edge conventions (argmax)."""
        return isinstance(self._built(), _Zero)

    def nan_rows(self) -> np.ndarray | None:
        """The rows (x's leading shape) the edge conventions make NaN, or None if none."""
        return _nan_rows(self.x)

    def _built(self) -> Apply:
        """The pullback without the edge conventions, built at the first use."""
        if self._apply is None:
            with np.errstate(all="ignore"):  # as vjp: inf/NaN are the formula's values
                self._apply = self._build()
        return self._apply

    def _build(self) -> Apply:
        found = plugin(self.method)
        if found is None:
            return _VJPS[self.method](self.forward, self.params)
        if found.vjp is None:
            raise ValueError(
                f"method {self.method!r} has no vjp: give its function a vjp(x, v, **params) "
                "attribute, or pass vjp= to softmaxlab.register_method (softmaxlab.plugins)"
            )
        return _plugin_vjp(found, self.x, self.params)


def vjp(x, v, method: str, *, output=None, **params) -> np.ndarray:
    """v^T dp/dx of p = normalize(x, method, **params) along the last axis, in float64.

    Per row, g_j = sum_i v_i dp_i/dx_j. x (any shape, 0-d and empty included) and v are
    cast to float64; v broadcasts against x as numpy broadcasts (e.g. one cotangent for
    every row); the result has x's shape. Same method names and parameters as
    :func:`softmaxlab.normalize`; ValueError for an unknown method, a bad parameter, a
    method without an analytic derivative here, or a v that does not broadcast to x.
    Never raises on inf/NaN input: NaN rows where normalize's edge conventions give NaN,
    elsewhere the formula's NaN/inf.

    ``output`` (optional, keyword only): p = normalize(x, method, **params) as the caller
    computed it in float64 (x's shape), to save the forward pass of the maps whose
    derivative needs p alone (softmax with its bases and temperatures, ssmax,
    iterated_exp, gumbel_softmax, sparsemax, entmax15, entmax); the other maps need the
    terms they normalise and evaluate themselves. The result is the same as without it
    when ``output`` is that p. (Named ``output``, not ``p``: escort's parameter is p.)
    For several cotangents at the same x, :class:`Pullback` shares the forward pass.

    >>> vjp([1.0, 2.0], [1.0, 0.0], "softmax").round(4)  # row 0 of p(1-p) [[1,-1],[-1,1]]
    array([ 0.1966, -0.1966])
    """
    full = check_params(method, params)
    if not has_vjp(method):
        raise ValueError(
            f"method {method!r} has no vjp: give its function a vjp(x, v, **params) "
            "attribute, or pass vjp= to softmaxlab.register_method (softmaxlab.plugins)"
        )
    x = _as_array(x).astype(_F64, copy=False)
    try:
        v = np.broadcast_to(np.asarray(v, dtype=_F64), x.shape)
    except ValueError:
        raise ValueError(
            f"v of shape {np.shape(v)} does not broadcast to x's shape {x.shape}"
        ) from None
    degenerate = _without_rows(x, np.zeros((), dtype=_F64))
    if degenerate is not None:
        return degenerate
    if output is not None:
        output = np.asarray(output, dtype=_F64)
        if output.shape != x.shape:
            raise ValueError(f"output of shape {output.shape} differs from x's shape {x.shape}")
    return Pullback(x, method, full, output)(v)


def has_vjp(method: str) -> bool:
    """Whether :func:`vjp` has a formula for ``method``: every built-in, and a plugin with
    a vjp (softmaxlab.plugins). ValueError for an unknown method."""
    found = plugin(method)
    return found is None or found.vjp is not None
