"""Per-vector measurements of the negative log-likelihood (NLL) through a normalisation method.

Claim C14, the link between softmax and cross-entropy. For logits x (one row, K classes), a
method p = normalize(x, method, **params) evaluated in float64, and a target class y, the
training loss is the NLL L(x) = -ln p_y(x). For softmax ln p_y = x_y - logsumexp(x), so

    L(x) = logsumexp(x) - x_y,

which is convex in x (log-sum-exp is convex, Boyd & Vandenberghe 2004, sec. 3.1.5; x_y is
linear) and has the gradient dL/dx = p - e_y (Bishop 2006, eq. 4.109; Goodfellow, Bengio &
Courville 2016, sec. 6.2.2.3), whose entries lie in [-1, 1] and which does not vanish while
the prediction is wrong (||p - e_y||_2 >= 1 - p_y). It is the Fenchel-Young loss of the
Shannon negentropy (Blondel, Martins & Niculae 2020), and every Fenchel-Young loss is convex;
the NLL of another map is not its Fenchel-Young loss and need not be convex or even defined:
linear normalisation gives p_y <= 0 for signed logits, sparsemax and entmax give p_y = 0 when
the target is outside the support, and ln sum_i g(x_i) - ln g(x_y) is not convex for linear,
sigmoid, taylor or iterated exp (tests/test_nll.py gives explicit segments).

Every measurement is in float64, from the logits rounded to the cell's format and read
exactly as float64 (as the sweep's grad_norm). "Apart from numerics", as the thread asks:
rows whose logits are not all finite (the cast to the format overflowed: the sweep's
input_nonfinite) and rows where the float64 forward itself overflows (a naive exponential
form past its threshold, as :func:`softmaxlab.evaluate` flags it; claims C7, C8 and C10
count those) give NaN in every metric. Per row, with p_y the float64 output at the target:

* ``nll``: -ln p_y where p_y > 0 (NaN where it is infinite or undefined, which the next two
  count); for softmax's family (below) where p_y < 2^-1022, the log-softmax value
  u_m - u_y - ln p_m of p = softmax(u) instead, the frameworks' loss, finite there
  (:func:`_log_softmax_below_tiny`), so that the family's mean leaves no vector out;
* ``nll_infinite``: 1 if p_y = 0 (the NLL is +inf: sparsemax/entmax with the target outside
  the support, argmax on a wrong prediction, or float64 underflow of p_y, e.g. softmax once
  x_max - x_y > 745: -ln of the computed p is infinite there, log-softmax is not, and
  ``nll`` holds the latter);
* ``nll_undefined``: 1 if p_y < 0 or p_y is NaN (linear on signed logits; a zero sum: relu
  without a positive entry, linear summing to 0, sigmoid whose terms all underflow);
* ``nll_grad_norm`` / ``nll_grad_max``: ||g||_2 and max_i |g_i| of g = dL/dx, computed as
  vjp(x, -e_y / p_y) (:func:`softmaxlab.training.losses.nll_grad`) for the uniformly drawn
  target; NaN where p_y is below float64's smallest normal 2^-1022 (there the cotangent
  1/p_y loses precision or overflows) or undefined, except for the maps whose pullback is
  softmax's Jacobian c p (v - v.p) (softmax with any base and temperature, ssmax,
  gumbel_softmax: :meth:`softmaxlab.vjp.Pullback.softmax_factor`): their gradient is
  c (p - e_y), which needs no 1/p_y, and is computed so wherever p_y < 2^-1022 (the
  log-softmax route of the frameworks; ||g|| >= c (1 - p_y) there, so no vector whose
  target underflowed drops out of softmax's mean);
* ``nll_grad_norm_argmax`` / ``nll_grad_norm_argmin``: ||g||_2 for y = argmax x (the
  prediction is right: softmax's gradient fades as the scale grows) and y = argmin x (the
  worst class: it does not fade);
* ``nll_grad_over_one``: 1 if an entry of any of the three gradients exceeds 1 + 2(K + 4) eps
  in absolute value (softmax's p - e_y never does; the bound is the rounding of the vjp: K
  terms in the sum v.p, four operations after it), NaN if none of them is defined;
* ``nll_convexity_break``: the midpoint test on the segment [x, x'], with x' the row's
  partner (another vector of the same distribution, scale and format, from its own seeded
  stream: :func:`partner_z`) and the drawn target: 1 if
  L((x + x')/2) > (L(x) + L(x'))/2 + tol, or if L at the midpoint is infinite or undefined;
  0 otherwise; counted (not NaN) only where both endpoints have finite logits and
  p_y >= 2^-1022, no forward (x, x', midpoint) overflows, and in the naive exponential
  forms the target's own term is >= 2^-1022 at all three points (:func:`naive_term_rate`).
  tol is the rounding bound of :func:`midpoint_tolerance`.

The targets are drawn uniformly from the named stream "nll_target" of the (distribution, K)
(:func:`draw_targets`) and the partners from "nll_segment" (:func:`partner_z`), like the
gradient directions: the same for every scale and format of a (distribution, K).

Cost per call on n rows: at most three forward passes, vectorised over the rows. The
forward at x gives p, the overflow flags and what the derivative needs
(:class:`softmaxlab.vjp.Pullback`), shared by the three targets; the gradients' norms are
computed from it in one compiled loop (softmaxlab.kernels.nll) without forming the
gradients as arrays; x' and the midpoint are evaluated only on the rows whose test can
still count (:func:`convexity_break`). Every value is that of the plain computation (one
``evaluate``, one ``vjp`` per target, numpy norms, the segment on every row) bit for bit:
tests/test_nll.py compares the two.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np

from softmaxlab.methods import check_params, evaluate, plugin
from softmaxlab.sampling import sampler, stream
from softmaxlab.training import losses
from softmaxlab.vjp import Pullback, has_vjp

_F64 = np.dtype(np.float64)
_FINFO = np.finfo(np.float64)
EPS = float(_FINFO.eps)
#: Smallest normal float64 (2^-1022): below it p_y has fewer than 53 significant bits.
TINY = float(_FINFO.tiny)
_LN_TINY = math.log(TINY)
#: The spacing of float64's subnormals (2^-1074).
SUBNORMAL_SPACING = float(_FINFO.smallest_subnormal)
#: Multiplier of the midpoint test's rounding bound (see :func:`midpoint_tolerance`).
CONVEXITY_ULPS = 64

NLL_METRICS: tuple[str, ...] = (
    "nll",
    "nll_infinite",
    "nll_undefined",
    "nll_grad_norm",
    "nll_grad_max",
    "nll_grad_norm_argmax",
    "nll_grad_norm_argmin",
    "nll_grad_over_one",
    "nll_convexity_break",
)
#: The 0/1 metrics among NLL_METRICS.
NLL_RATE_METRICS: frozenset[str] = frozenset(
    {"nll_infinite", "nll_undefined", "nll_grad_over_one", "nll_convexity_break"}
)
#: Natural ranges (as softmaxlab.metrics.METRIC_RANGES): the NLL of a probability is >= 0
#: (linear's p_y > 1 on signed logits gives a negative one: outside the range), norms >= 0.
NLL_METRIC_RANGES: dict[str, tuple[float, float]] = {
    **{name: (0.0, 1.0) for name in NLL_RATE_METRICS},
    **{name: (0.0, np.inf) for name in NLL_METRICS if name not in NLL_RATE_METRICS},
}
#: Per-vector definitions (y: the uniformly drawn target; g: d(-ln p_y)/dx).
NLL_DEFINITIONS: dict[str, str] = {
    "nll": "-ln p_y for a target y drawn uniformly (seeded stream nll_target), p in float64 "
    "from the rounded logits; for softmax's family (any base or temperature, ssmax, "
    "Gumbel) where p_y < 2^-1022, the log-softmax value (finite); NaN where p_y <= 0 or "
    "NaN otherwise (counted by nll_infinite and nll_undefined).",
    "nll_infinite": "1 if p_y = 0 in float64 (-ln p_y is +inf: target outside a sparse "
    "support, a wrong argmax, or underflow of p_y, where softmax's family's nll holds "
    "log-softmax's finite value), else 0.",
    "nll_undefined": "1 if p_y < 0 or NaN (the NLL is undefined: linear on signed logits, "
    "a zero sum), else 0; vectors whose float64 forward overflows are left out of every "
    "nll metric (numerics: overflow).",
    "nll_grad_norm": "||g||_2, g = d(-ln p_y)/dx = vjp(x, -e_y / p_y) in float64 (p - e_y "
    "for softmax); NaN where p_y is undefined, or below 2^-1022 (1/p_y not representable) "
    "except for softmax's family (any base or temperature, ssmax, Gumbel), whose "
    "c (p - e_y) needs no 1/p_y.",
    "nll_grad_max": "max_i |g_i| for the drawn target (<= 1 for softmax).",
    "nll_grad_norm_argmax": "||g||_2 for the target y = argmax x (a right prediction).",
    "nll_grad_norm_argmin": "||g||_2 for the target y = argmin x (the worst class).",
    "nll_grad_over_one": "1 if max_i |g_i| > 1 + 2(K + 4) eps for any of the three targets "
    "(softmax's entries are in [-1, 1]), else 0.",
    "nll_convexity_break": "on a segment [x, x'] to a seeded partner x' of the same "
    "distribution, scale and format: 1 if -ln p_y((x + x')/2) exceeds the endpoints' mean by "
    "more than the rounding bound 64 eps (|a| + |b| + |c| + K + max|x|, |x'| + 1), or is "
    "infinite or undefined; counted where both endpoints have p_y >= 2^-1022, no "
    "forward overflows and, in the naive exponential forms, the target's term is >= "
    "2^-1022 at x, x' and the midpoint.",
}


def draw_targets(seed: int, distribution: str, k: int, count: int) -> np.ndarray:
    """``count`` target classes drawn uniformly from {0, ..., K - 1} (int64), from the named
    stream ("nll_target", distribution, K) under ``seed``: one per vector of a cell, the
    same for every scale and format (like the gradient directions)."""
    if k < 1:
        raise ValueError(f"k must be >= 1 to draw targets, got {k}")
    return stream(seed, "nll_target", distribution, k).integers(0, k, size=count, dtype=np.int64)


def partner_z(seed: int, distribution: str, spec: Mapping, k: int, count: int) -> np.ndarray:
    """The standardised draws z' (float64, shape (count, K)) of the segments' far endpoints:
    the distribution's own sampler on the named stream ("nll_segment", distribution, K).
    The sweep turns them into x' exactly as it turns z into x (softmaxlab.sampling.logits:
    the same scale, rounded to the same format), so x' is an independent vector of the same
    cell. ValueError for a spec :func:`softmaxlab.sampling.family_params` refuses."""
    return sampler(spec, k)(stream(seed, "nll_segment", distribution, k), count)


def gradient_bound(k: int) -> float:
    """1 + 2(K + 4) eps: the largest |entry| softmax's computed p - e_y can reach.

    vjp forms p (v - v.p) with v = -e_y / p_y: one division for v_y, a K-term sum for v.p,
    a subtraction and a product, each with relative error <= eps/2 (the sum <= (K - 1)
    eps/2), on exact values of magnitude <= 1; the factor 2 is margin.
    """
    return 1.0 + 2.0 * (k + 4) * EPS


def midpoint_tolerance(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, p_mid: np.ndarray, k: int, reach: np.ndarray
) -> np.ndarray:
    """The rounding bound of the midpoint test c > (a + b)/2 + tol (float64, per row).

    a, b, c: the computed NLL at x, x' and the midpoint m = fl(x/2 + x'/2); p_mid: p_y at m;
    reach: max(max_i |x_i|, max_i |x'_i|). For softmax, each NLL is computed from
    p_y = t_y / sum_j t_j with t_j = exp(fl(x_j - max x)): the shift errs by eps/2 |x_j -
    max x| <= eps reach, which exp turns into a relative error of p_y of about eps (reach +
    1); the sum adds (K - 1) eps/2, the division and the log eps/2 (1 + |NLL|); rounding m
    moves the NLL by at most ||p - e_y||_1 eps/2 max|m| <= eps reach. Altogether the test's
    error is below about eps (5 reach + 2 K + 6 + |a| + |b| + |c|), so

        tol = 64 eps (|a| + |b| + |c| + K + reach + 1) + 4 * 2^-1074 / p_mid

    has a margin of more than ten; the last term is p_mid's absolute rounding when it is
    subnormal (it loses relative precision there; the endpoints are kept >= 2^-1022).
    A break beyond tol is therefore not rounding for softmax, and for the other maps it is
    a real departure from convexity unless their NLL's gradient is far above softmax's
    (iterated exp near overflow); every break the tests construct exceeds tol by orders of
    magnitude.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        subnormal = np.where(p_mid > 0, 4 * SUBNORMAL_SPACING / p_mid, 0.0)
    size = np.abs(a) + np.abs(b) + np.abs(c) + k + reach + 1.0
    return CONVEXITY_ULPS * EPS * size + subnormal


def naive_term_rate(method: str, params: Mapping) -> float | None:
    """c with the target's term of a naive exponential form t_y = e^(c x_y), or None.

    softmax(stable=False) computes base^(x_y / T) unshifted: c = ln(base) / T;
    iterated_exp(depth=1, stable=False) is e^(x_y): c = 1. Their p_y = t_y / sum_j t_j can
    be a normal number (>= 2^-1022) while t_y is subnormal, because the sum is tiny too
    (base 10, x_y = -318.5 and a largest logit of -58.5: p_y about 1e-260): t_y then keeps
    few significant bits, and the midpoint test would read their rounding as a break. Every
    other form's p_y <= t_y (a shifted largest term is 1) or has no such term (None)."""
    params = check_params(method, params)
    if method == "softmax" and not params["stable"]:
        return math.log(params["base"]) / params["temperature"]
    if method == "iterated_exp" and not params["stable"] and params["depth"] == 1:
        return 1.0
    return None


#: The built-in maps whose every output entry is positive for finite logits, in exact
#: arithmetic, whatever their parameters: a positive weight (base^(x/T) with base > 0, an
#: exponential of anything, ln(1 + e^x), 1/(1 + e^-x), an even-order Taylor polynomial of
#: e^x, stablemax's x + 1 or 1/(1 - x)) over the sum of such weights. Their NLL is finite on
#: every finite vector; a p_y of 0 is float64 underflow, as softmax's is.
POSITIVE_MAPS: tuple[str, ...] = (
    "softmax",
    "ssmax",
    "gumbel_softmax",
    "iterated_exp",
    "softplus",
    "sigmoid",
    "taylor",
    "stablemax",
)


def positive_map(method: str, params: Mapping | None = None) -> bool:
    """Whether the map's outputs are positive for every finite logit vector in exact
    arithmetic (:data:`POSITIVE_MAPS`, and spherical with eps > 0: (x_i^2 + eps) / sum), so
    that its nll_infinite counts float64 underflow of p_y only, never a zero of the map.
    False for the maps with exact zeros (argmax, relu, shifted_linear, the sparse maps,
    escort and spherical without eps at x_y = 0), signed outputs (linear) and plugins."""
    if plugin(method) is not None:
        return False
    if method == "spherical":
        return check_params(method, params)["eps"] > 0
    return method in POSITIVE_MAPS


def _rows(x, name: str) -> np.ndarray:
    """x as a float64 (n, K) array with K >= 1, read exactly (no copy when it is float64
    already: nothing here writes to it), or ValueError naming it."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array (rows, K >= 1 classes), got shape {x.shape}")
    return x.astype(_F64, copy=False)


def _targets(y, n: int, k: int) -> np.ndarray:
    """y as an int64 array of n classes in [0, K), or ValueError."""
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"target must be an integer array of shape ({n},), got {y.dtype} of shape {y.shape}"
        )
    if n and (y.min() < 0 or y.max() >= k):
        raise ValueError(
            f"target classes must be in [0, {k}), got values in [{y.min()}, {y.max()}]"
        )
    return y.astype(np.int64)


def _gradients(back: Pullback, p: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """g = d(-ln p_y)/dx for each row of ``targets`` (int, shape (m, n): m targets per row
    of x), float64 of shape (m, n, K): the cotangents -e_y / p_y (losses.nll_cotangent)
    stacked and pulled back through the one forward pass of ``back``; NaN on the rows where
    p_y < 2^-1022 or is NaN (the NLL is infinite, undefined or its cotangent 1/p_y is not
    representable to full precision), but c (p - e_y) where p_y < 2^-1022 for softmax's
    Jacobian (:func:`_softmax_below_tiny`). p: the forward's output at x (shape (n, K))."""
    p_y = p[np.arange(p.shape[0]), targets]
    with np.errstate(over="ignore"):  # 1/p_y for a subnormal p_y: masked below
        g = back(losses.nll_cotangent(p_y, targets, p.shape[-1]))
    g = np.where((p_y >= TINY)[..., None], g, np.nan)
    below = _softmax_below_tiny(back, p_y)
    if below is not None:
        g[below] = _softmax_gradients(back, p, targets, below)
    return g


def _softmax_below_tiny(back: Pullback, p_y: np.ndarray) -> np.ndarray | None:
    """The (target, row) pairs, a bool array of p_y's shape, where p_y is in [0, 2^-1022)
    and the pullback is softmax's (Pullback.softmax_factor), which gives the gradient
    without 1/p_y (:func:`_softmax_gradients`); None where there are none. The rows the
    edge conventions make NaN stay NaN."""
    if back.softmax_factor() is None:
        return None
    below = (p_y >= 0) & (p_y < TINY)
    nan_rows = back.nan_rows()
    if nan_rows is not None:
        below &= ~nan_rows
    return below if below.any() else None


def _log_softmax_below_tiny(
    back: Pullback, p: np.ndarray, y: np.ndarray, loss: np.ndarray
) -> np.ndarray:
    """loss (-ln p_y per row of p, shape (n,)) with log-softmax's value where p_y is in
    [0, 2^-1022) and the map is softmax's family (:func:`_softmax_below_tiny`, the rows
    whose gradient is c (p - e_y)): -ln p_y = -(ln p_m + u_y - u_m), p = softmax(u)
    (Pullback.softmax_logits) and m the row's largest p (p_m >= 1/K: its log is exact to
    rounding). This is the loss the frameworks compute (x_y - logsumexp(x)): finite, and
    large, where the float64 p_y underflows, so that no such vector drops out of the
    family's mean NLL; nll_infinite still counts p_y = 0, the computed probability."""
    if not has_vjp(back.method):  # a plugin without one: its pullback is not known
        return loss
    below = _softmax_below_tiny(back, p[np.arange(len(p)), y])
    if below is None:
        return loss
    rows = np.flatnonzero(below)
    u = back.softmax_logits(rows)
    largest = np.argmax(p[rows], axis=-1)
    at = np.arange(len(rows))
    loss = loss.copy()
    loss[rows] = -(np.log(p[rows, largest]) + (u[at, y[rows]] - u[at, largest]))
    return loss


def _softmax_gradients(
    back: Pullback, p: np.ndarray, targets: np.ndarray, pairs: np.ndarray
) -> np.ndarray:
    """c (p - e_y), float64 (number of pairs, K), for the (target, row) ``pairs`` (bool, of
    targets' shape) of a pullback v -> c p (v - v.p): the NLL's gradient there, exact to the
    rounding of p, where p_y has underflowed (there ||g|| >= c (1 - p_y), about c)."""
    which, rows = np.nonzero(pairs)
    d = p[rows]  # a copy: fancy indexing
    d[np.arange(len(rows)), targets[which, rows]] -= 1.0
    return back.softmax_factor() * d


def nll_gradient(x: np.ndarray, p: np.ndarray, y: np.ndarray, method: str, params: Mapping):
    """g = d(-ln p_y)/dx per row (float64, shape of x (n, K)): vjp(x, -e_y / p_y, method)
    with p_y read from the caller's p, NaN on the rows where p_y < 2^-1022 (the NLL is
    infinite, undefined or its cotangent 1/p_y is not representable to full precision; not
    for softmax's family, whose c (p - e_y) needs no 1/p_y) or NaN; NaN everywhere for a
    plugin method without a vjp (softmaxlab.plugins)."""
    x = _rows(x, "x")
    y = _targets(y, *x.shape)
    if not has_vjp(method):
        return np.full(x.shape, np.nan)
    back = Pullback(x, method, check_params(method, params))
    return _gradients(back, np.asarray(p, dtype=_F64), y[None])[0]


def _norms(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(||g||_2, max_i |g_i|) over the last axis; NaN rows stay NaN."""
    return np.sqrt(np.sum(g * g, axis=-1)), np.max(np.abs(g), axis=-1)


#: Compute the gradients' norms in softmaxlab.kernels.nll where numba is importable; False
#: runs the numpy reference (_norms of _gradients) everywhere (the tests compare the two).
USE_KERNELS: bool = True


@functools.cache
def _norm_kernels():
    """softmaxlab.kernels.nll, imported on first use, or None without numba (the module
    catches numba's ImportError itself)."""
    from softmaxlab.kernels import nll as kernels

    return kernels if kernels.AVAILABLE else None


def _gradient_norms(
    back: Pullback, p: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(||g||_2, max_i |g_i|), each of targets' shape (m, n), of the gradients
    :func:`_gradients` gives, bit for bit: NaN where p_y < 2^-1022 (but softmax's family
    there: :func:`_softmax_below_tiny`) or is NaN, and on the rows the edge conventions
    make NaN. For the maps whose pullback is a scaled centring
    (every built-in but argmax) the compiled loop of softmaxlab.kernels.nll, which forms
    no (m, n, K) array; argmax's zeros directly; the numpy reference else (plugins, no
    numba, USE_KERNELS False)."""
    if not USE_KERNELS:
        return _norms(_gradients(back, p, targets))
    p_y = p[np.arange(p.shape[0]), targets]
    resolved = p_y >= TINY
    nan_rows = back.nan_rows()
    if nan_rows is not None:
        resolved &= ~nan_rows
    if back.is_zero():  # argmax: g = 0, whose norms are 0.0 (sqrt(0.0 + 0.0 + ...))
        zero = np.where(resolved, 0.0, np.nan)
        return zero, zero.copy()
    form = back.centred_form()
    kernels = _norm_kernels() if form is not None else None
    if kernels is None:
        return _norms(_gradients(back, p, targets))
    with np.errstate(all="ignore"):  # 1/p_y overflows for a subnormal p_y: not resolved
        c = -1.0 / p_y  # the cotangent's entry at the target (losses.nll_cotangent)
    norm, largest = kernels.centred_gradient_norms(*form, targets.astype(np.int64), c, resolved)
    below = _softmax_below_tiny(back, p_y)
    if below is not None:
        norm[below], largest[below] = _norms(_softmax_gradients(back, p, targets, below))
    return norm, largest


def _largest_magnitude(x: np.ndarray) -> np.ndarray:
    """max_i |x_i| per row, as max(max x, -min x): the same value (NaN for a row with a
    NaN) without an |x| array; only the sign of a zero maximum may differ, and the
    tolerance adds it to positive terms."""
    return np.maximum(np.max(x, axis=-1), -np.min(x, axis=-1))


def row_wise(method: str) -> bool:
    """Whether each row of the method's output depends on that row alone, so that it can
    be evaluated on a subset of the rows with the same bits: every built-in but
    gumbel_softmax (its noise depends on the whole array's shape); plugins are not
    assumed to be."""
    return method != "gumbel_softmax" and plugin(method) is None


def _target_forward(
    x: np.ndarray, rows: np.ndarray | None, y: np.ndarray, method: str, params: Mapping
) -> tuple[np.ndarray, np.ndarray]:
    """(p_y, overflow) of the method's float64 forward (softmaxlab.evaluate) on the rows
    ``rows`` of x (None: all), one value per evaluated row. The output is reduced to its
    target's entry at once, so that its memory is reused by the next array instead of
    fresh pages (numpy's large temporaries cost more in page faults than in arithmetic)."""
    if rows is not None:
        x, y = x[rows], y[rows]
    p, overflow = evaluate(x, method, **params)
    return losses.target_prob(p, y), overflow


def convexity_break(
    x: np.ndarray,
    x_partner: np.ndarray,
    y: np.ndarray,
    method: str,
    params: Mapping,
    p_y: np.ndarray | None = None,
) -> np.ndarray:
    """The midpoint convexity test per row (float64 0/1, NaN where not counted).

    With a = L(x), b = L(x'), c = L(m), m = x/2 + x'/2 (each half exact, one rounding),
    L = -ln p_y: 1 if c > (a + b)/2 + :func:`midpoint_tolerance`, or if c is infinite or
    undefined (a convex function is finite on the segment between two points where it is
    finite); 0 otherwise. Counted where both endpoints have finite logits and p_y >= 2^-1022,
    no forward overflows (:func:`softmaxlab.evaluate`), and in the naive exponential forms
    the target's term is >= 2^-1022 at x, x' and m (:func:`naive_term_rate`). ``p_y``: p_y
    at x when the caller has it, from a forward that did not overflow (saves one
    evaluation).

    For the row-wise methods (:func:`row_wise`) x' is evaluated only on the rows that
    can still count, and the midpoint only on those whose x' counts too: the same values
    on the counted rows, and no forward for the others (sparse maps with the target
    outside the support, overflowing naive forms, underflowed p_y).
    """
    if p_y is None:
        p, overflow = evaluate(x, method, **params)
        p_y = np.where(overflow, np.nan, losses.target_prob(p, y))
    n = x.shape[0]
    subsets = row_wise(method)
    counted = (
        np.all(np.isfinite(x), axis=-1) & np.all(np.isfinite(x_partner), axis=-1) & (p_y >= TINY)
    )
    rate = naive_term_rate(method, params)
    if rate is not None:
        at_x, at_far = x[np.arange(n), y], x_partner[np.arange(n), y]
        with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf: not counted anyway
            for x_y in (at_x, at_far, 0.5 * at_x + 0.5 * at_far):  # m_y as the midpoint has it
                counted &= rate * x_y >= _LN_TINY
    p_far, p_mid = np.full(n, np.nan), np.full(n, np.nan)
    for step in ("far", "mid"):
        rows = np.flatnonzero(counted) if subsets else np.arange(n)
        if not rows.size:
            break
        whole = None if rows.size == n else rows  # all rows: no copy
        if step == "far":
            at, overflow = _target_forward(x_partner, whole, y, method, params)
            p_far[rows] = at
            counted[rows] &= ~overflow & (at >= TINY)
        else:
            mid = 0.5 * x if whole is None else 0.5 * x[whole]
            mid += 0.5 * (x_partner if whole is None else x_partner[whole])  # fl(x/2 + x'/2)
            at, overflow = _target_forward(mid, None, y[rows], method, params)
            p_mid[rows] = at
            counted[rows] &= ~overflow
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b, c = -np.log(p_y), -np.log(p_far), -np.log(p_mid)
        reach = np.maximum(_largest_magnitude(x), _largest_magnitude(x_partner))
        tol = midpoint_tolerance(a, b, c, p_mid, x.shape[-1], reach)
        within = c <= 0.5 * a + 0.5 * b + tol  # False for NaN or inf c
    return np.where(counted, (~within).astype(_F64), np.nan)


def nll_metrics(
    x,
    x_partner,
    y,
    method: str,
    params: Mapping | None = None,
    pullback: Pullback | None = None,
) -> dict[str, np.ndarray]:
    """Every metric of NLL_METRICS for each row of x (float64 arrays of shape (n,)).

    x: logits, shape (n, K), in any format (read exactly as float64); x_partner: the
    segments' far endpoints, same shape (None: nll_convexity_break is NaN); y: the drawn
    targets, int array of shape (n,). ``params``: the method's parameters as
    :func:`softmaxlab.normalize` takes them (for gumbel_softmax the noise then depends on
    the seed and on x's shape, and is the same at x, x' and the midpoint). ``pullback``:
    ``Pullback(x, method, params, track=True)`` when the caller has built it on this float64
    x (the sweep measures its other metrics on the same forward pass); None builds it.
    ValueError for a bad shape, a target outside [0, K), a pullback of another array, or
    what normalize refuses. Rows with a non-finite logit or whose float64 forward
    overflows are NaN in every metric.
    """
    params = check_params(method, params)
    x = _rows(x, "x")
    n, k = x.shape
    y = _targets(y, n, k)
    partner = None if x_partner is None else _rows(x_partner, "x_partner")
    if partner is not None and partner.shape != x.shape:
        raise ValueError(f"x_partner's shape {partner.shape} differs from x's {x.shape}")
    if n == 0:
        return {name: np.empty(0, dtype=_F64) for name in NLL_METRICS}
    # One forward pass at x: p and its overflow flags exactly as softmaxlab.evaluate gives
    # them, and what the three gradients need.
    back = Pullback(x, method, params, track=True) if pullback is None else pullback
    if back.x is not x or not back.track or (back.method, back.params) != (method, params):
        raise ValueError("nll_metrics: pullback must be Pullback(x, method, params, track=True)")
    p, overflow = back.evaluated()
    valid = np.all(np.isfinite(x), axis=-1) & ~overflow
    target_p = p[np.arange(n), y]
    p_y = np.where(valid, target_p, np.nan)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = _log_softmax_below_tiny(back, p, y, -np.log(target_p))
    out["nll"] = np.where(np.isfinite(loss), loss, np.nan)
    out["nll_infinite"] = (p_y == 0).astype(_F64)
    out["nll_undefined"] = (~(p_y >= 0)).astype(_F64)  # p_y < 0 or NaN
    # The drawn, argmax and argmin targets as one stack of cotangents.
    targets = np.stack([y, np.argmax(x, axis=-1), np.argmin(x, axis=-1)])
    if has_vjp(method):
        norm, largest = _gradient_norms(back, p, targets)
    else:
        norm = largest = np.full(targets.shape, np.nan)
    out["nll_grad_norm"], out["nll_grad_max"] = norm[0], largest[0]
    out["nll_grad_norm_argmax"], out["nll_grad_norm_argmin"] = norm[1], norm[2]
    over = np.where(np.isnan(largest), np.nan, largest > gradient_bound(k))
    out["nll_grad_over_one"] = np.fmax.reduce(over, axis=0)  # NaN only if all three are
    if partner is None:
        out["nll_convexity_break"] = np.full(n, np.nan)
    else:
        out["nll_convexity_break"] = convexity_break(x, partner, y, method, params, p_y)
    return {name: np.where(valid, out[name], np.nan) for name in NLL_METRICS}
