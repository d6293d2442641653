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

import functools
import math
from collections.abc import Callable

import numpy as np

from softmaxlab.methods import (
    _as_array,
    _Ctx,
    _lookup,
    _with_conventions,
    _without_rows,
    check_params,
    plugin,
)
from softmaxlab.plugins import checked_output

_F64 = np.dtype(np.float64)


class _TermsCtx(_Ctx):
    """A float64, untracked method context that keeps the terms the method normalises.

    Every "g then normalise" method ends in ``ctx.normalise(t)`` with t = g(x) (for softmax,
    the shifted powers base^((x - max x)/T)); this context records t, so the derivative
    reuses the method's own forward evaluation instead of a second copy of it.
    """

    def __init__(self, x: np.ndarray):
        super().__init__(x, track=False)
        self.terms: np.ndarray | None = None

    def normalise(self, t: np.ndarray, owned: bool = False) -> np.ndarray:
        self.terms = t  # float64 already; owned=False below leaves t untouched
        return super().normalise(t, owned=False)


def _forward(x: np.ndarray, method: str, params: dict, **override) -> tuple[np.ndarray, _TermsCtx]:
    """(p, ctx): the method's float64 output on x and the context holding its terms.
    ``override`` replaces parameters (used to evaluate taylor of a lower order)."""
    fn = _lookup(method)[0]
    ctx = _TermsCtx(x)
    p = fn(x, ctx, **{**params, **override})
    return p, ctx


def _centred(v: np.ndarray, p: np.ndarray) -> np.ndarray:
    """v - (v . p) per row for weights p summing to 1, computed as (v - c) - (v - c) . p with
    c = v at the row's largest weight: accurate to rounding for the dominant entry even when
    p is nearly one-hot (where the plain form cancels to noise)."""
    top = np.argmax(p, axis=-1)[..., None]  # a row with NaN is NaN whichever entry is picked
    d = v - np.take_along_axis(v, top, axis=-1)
    return d - np.sum(d * p, axis=-1, keepdims=True)


def _ratio_vjp(v, p, ctx, dg: np.ndarray) -> np.ndarray:
    """v^T J for p = g / S: g' / S * (v - v.p), with S the sum of the captured terms."""
    s = np.sum(ctx.terms, axis=-1, keepdims=True)
    return dg / s * _centred(v, p)


# --- the elementwise "g then normalise" maps ------------------------------------------------


def _vjp_linear(x, v, params):
    """linear, g(x) = x, g' = 1: v^T J = (v - v.p) / sum x. Scale-invariant, so
    sum_j x_j (v^T J)_j = 0; a zero sum gives inf/NaN."""
    p, ctx = _forward(x, "linear", params)
    return _ratio_vjp(v, p, ctx, np.ones_like(x))


def _vjp_shifted_linear(x, v, params):
    """shifted_linear, g = x - m with m = min x: dg_i/dx_j = delta_ij - dm/dx_j, so with
    w = (v - v.p) / S, (v^T J)_j = w_j - dm/dx_j sum_i w_i. dm/dx is the one-hot of the
    minimiser; tied minima share it equally (1/n_ties each, the convention of
    torch.amin's gradient), one choice among the subgradients at a tie.
    Shift-invariant: the entries of v^T J sum to 0."""
    p, ctx = _forward(x, "shifted_linear", params)
    w = _ratio_vjp(v, p, ctx, np.ones_like(x))
    is_min = x == np.min(x, axis=-1, keepdims=True)
    dmin = is_min / np.sum(is_min, axis=-1, keepdims=True)
    return w - dmin * np.sum(w, axis=-1, keepdims=True)


def _vjp_relu(x, v, params):
    """relu, g = max(x, 0), g' = 1 for x > 0 and 0 for x <= 0 (the derivative from the left
    at the kink x = 0, as relu's gradient in the frameworks)."""
    p, ctx = _forward(x, "relu", params)
    return _ratio_vjp(v, p, ctx, (x > 0).astype(_F64))


def _vjp_softplus(x, v, params):
    """softplus, g = ln(1 + e^x), g' = sigma(x) = 1 - e^-g, evaluated as -expm1(-g) on the
    method's own g (no overflow, full relative accuracy for very negative x)."""
    p, ctx = _forward(x, "softplus", params)
    return _ratio_vjp(v, p, ctx, -np.expm1(-ctx.terms))


def _vjp_sigmoid(x, v, params):
    """sigmoid, g = sigma(x), g' = sigma(x) sigma(-x) = e^-|x| / (1 + e^-|x|)^2 (symmetric
    form: no overflow, no cancellation in 1 - sigma for large x)."""
    p, ctx = _forward(x, "sigmoid", params)
    e = np.exp(-np.abs(x))
    return _ratio_vjp(v, p, ctx, e / ((1 + e) * (1 + e)))


def _vjp_spherical(x, v, params):
    """spherical (de Brebisson & Vincent 2016), g = x^2 + eps, g' = 2x."""
    p, ctx = _forward(x, "spherical", params)
    return _ratio_vjp(v, p, ctx, 2 * x)


def _vjp_escort(x, v, params):
    """escort (Beck & Schloegl 1993), g = |x|^q, g' = q |x|^(q - 1) sign(x). At x = 0 this is
    0 for q > 1, sign(0) = 0 for q = 1, and NaN (inf * 0) for q < 1, where g has no
    derivative."""
    p, ctx = _forward(x, "escort", params)
    q = params["p"]
    return _ratio_vjp(v, p, ctx, q * np.power(np.abs(x), q - 1) * np.sign(x))


def _vjp_taylor(x, v, params):
    """taylor (de Brebisson & Vincent 2016), g = t_n(x) = sum_{i<=n} x^i / i!, and
    g' = t_(n-1)(x), the method's own Horner evaluation one order lower (0 for n = 0)."""
    p, ctx = _forward(x, "taylor", params)
    order = params["order"]
    if order == 0:
        dg = np.zeros_like(x)
    else:
        dg = _forward(x, "taylor", params, order=order - 1)[1].terms
    return _ratio_vjp(v, p, ctx, dg)


def _vjp_stablemax(x, v, params):
    """stablemax (Prieto et al. 2025), g = x + 1 for x >= 0 and 1/(1 - x) below, so
    g' = 1 for x >= 0 and 1/(1 - x)^2 = g^2 below (both 1 at the joint: g is C^1 there;
    its second derivative jumps)."""
    p, ctx = _forward(x, "stablemax", params)
    g = ctx.terms
    return _ratio_vjp(v, p, ctx, np.where(x >= 0, 1.0, g * g))


# --- the exponential maps ---------------------------------------------------------------------


def _softmax_like(v, p, factor: float) -> np.ndarray:
    """v^T J of p = softmax(c x): J = c (diag(p) - p p^T), so v^T J = c p (v - v.p)
    (Bridle 1990; the softmax Jacobian as in any autodiff framework)."""
    return factor * p * _centred(v, p)


def _vjp_softmax(x, v, params):
    """softmax with base b and temperature T is softmax(x ln(b) / T), so
    v^T J = (ln b / T) p (v - v.p). ``stable`` does not change the math; p comes from the
    requested form in float64, so the naive form's overflow (x ln b / T > 709.78) gives
    NaN as normalize does."""
    p, _ = _forward(x, "softmax", params)
    return _softmax_like(v, p, math.log(params["base"]) / params["temperature"])


def _vjp_ssmax(x, v, params):
    """ssmax (Nakanishi 2025), softmax(s ln(K) x): the chain rule gives the factor s ln K
    (0 for K = 1)."""
    p, _ = _forward(x, "ssmax", params)
    return _softmax_like(v, p, params["s"] * math.log(x.shape[-1]))


def _vjp_gumbel_softmax(x, v, params):
    """Gumbel-softmax (Jang et al. 2017), softmax((x + G)/tau) with the noise G fixed by
    the seed and the shape of x, drawn by the method itself (the float64 draw, i.e. the
    same noise as normalize(x, "gumbel_softmax", tau=..., seed=...) on float64 x):
    v^T J = p (v - v.p) / tau."""
    p, _ = _forward(x, "gumbel_softmax", params)
    return _softmax_like(v, p, 1 / params["tau"])


def _vjp_iterated_exp(x, v, params):
    """iterated_exp of depth d is softmax(u) with u = E_(d-1)(x), E_0 = x, E_k = exp(E_(k-1)).
    By the chain rule u' = prod_{k=1}^{d-1} E_k = exp(sum_{k=0}^{d-2} E_k), so
    v^T J = u' p (v - v.p); u' p is formed as exp(ln p + sum_{k<d-1} E_k), which stays
    finite where p underflows to 0. Naive and stable forms are the same math; where
    E_(d-1) overflows (x past ln ln max for d = 3, ...) both give NaN."""
    p, _ = _forward(x, "iterated_exp", params)
    log_du = np.zeros_like(x)
    inner = x
    for _ in range(params["depth"] - 1):
        log_du = log_du + inner
        inner = np.exp(inner)
    with np.errstate(divide="ignore"):
        weight = np.exp(np.log(p) + log_du)
    return weight * _centred(v, p)


# --- sparse maps and argmax -------------------------------------------------------------------


def _sparse_vjp(v, s) -> np.ndarray:
    """v^T J with J = diag(s) - s s^T / sum s: s * (v - (s.v) / sum s) (J is symmetric; the
    entmax package's EntmaxBisectFunction.backward computes the same). The bracket is the
    centred form with weights s / sum s, so a dominant s (alpha > 2 at a small p) does not
    cancel to noise."""
    return s * _centred(v, s / np.sum(s, axis=-1, keepdims=True))


def _vjp_sparsemax(x, v, params):
    """sparsemax (Martins & Astudillo 2016, eq. 12): J = diag(s) - s s^T / |S| with s the
    indicator of the support S = {i : p_i > 0}. Entries exactly at the support's edge
    (p_i = 0 at a tie with tau) count as outside."""
    p, _ = _forward(x, "sparsemax", params)
    return _sparse_vjp(v, np.where(np.isnan(p), np.nan, (p > 0).astype(_F64)))


def _entmax_vjp(x, v, method, params, alpha: float):
    """alpha-entmax (Peters, Niculae & Martins 2019, Prop. 1): J = diag(s) - s s^T / sum s
    with s_i = p_i^(2 - alpha) on the support and 0 outside."""
    p, _ = _forward(x, method, params)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(p > 0, np.power(p, 2 - alpha), np.where(np.isnan(p), np.nan, 0.0))
    return _sparse_vjp(v, s)


def _vjp_entmax15(x, v, params):
    """1.5-entmax: s_i = sqrt(p_i) on the support (see _entmax_vjp)."""
    return _entmax_vjp(x, v, "entmax15", params, 1.5)


def _vjp_entmax(x, v, params):
    """alpha-entmax by bisection: s_i = p_i^(2 - alpha) on the support (see _entmax_vjp)."""
    return _entmax_vjp(x, v, "entmax", params, params["alpha"])


def _vjp_argmax(x, v, params):
    """Hardmax is piecewise constant: its Jacobian is 0 wherever it exists, and 0 is what
    every finite row gets (also at ties, where it has none); the rows normalize makes NaN
    get NaN (applied in :func:`vjp`)."""
    return np.zeros_like(x)


_VJPS: dict[str, Callable[[np.ndarray, np.ndarray, dict], np.ndarray]] = {
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


def vjp(x, v, method: str, **params) -> np.ndarray:
    """v^T dp/dx of p = normalize(x, method, **params) along the last axis, in float64.

    Per row, g_j = sum_i v_i dp_i/dx_j. x (any shape, 0-d and empty included) and v are
    cast to float64; v broadcasts against x as numpy broadcasts (e.g. one cotangent for
    every row); the result has x's shape. Same method names and parameters as
    :func:`softmaxlab.normalize`; ValueError for an unknown method, a bad parameter, a
    method without an analytic derivative here, or a v that does not broadcast to x.
    Never raises on inf/NaN input: NaN rows where normalize's edge conventions give NaN,
    elsewhere the formula's NaN/inf.

    >>> vjp([1.0, 2.0], [1.0, 0.0], "softmax").round(4)  # row 0 of p(1-p) [[1,-1],[-1,1]]
    array([ 0.1966, -0.1966])
    """
    full = check_params(method, params)
    found = plugin(method)
    if found is None:
        formula = _VJPS[method]
    elif found.vjp is not None:
        formula = functools.partial(_plugin_vjp, found)
    else:
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
    with np.errstate(all="ignore"):
        return _with_conventions(x, formula(x, v, full))


def has_vjp(method: str) -> bool:
    """Whether :func:`vjp` has a formula for ``method``: every built-in, and a plugin with
    a vjp (softmaxlab.plugins). ValueError for an unknown method."""
    found = plugin(method)
    return found is None or found.vjp is not None


def _plugin_vjp(found, x: np.ndarray, v: np.ndarray, params: dict) -> np.ndarray:
    """A plugin's own vjp(x, v, **params) on float64 x and v, checked to return float64 of
    x's shape (ValueError naming the method otherwise)."""
    return checked_output(found.name, x, found.vjp(x, v, **params), "'s vjp")
