"""Training losses on the logits x (rows, K classes) with integer targets y, and their gradients.

* ``nll``: the negative log-likelihood -log p_y of p = normalize(x, method), for any method.
  Its gradient with respect to x is vjp(x, -e_y / p_y, method) (chain rule through the
  method's Jacobian, :func:`softmaxlab.vjp`); for softmax it is p - e_y. Where p_y <= 0 or
  is NaN the loss is inf or NaN: -log of a non-positive "probability" is not a number the
  model can be trained on (linear normalisation with negative entries, sparsemax with the
  target outside the support, argmax on a wrong prediction).
* ``fenchel_young``: the Fenchel-Young loss L(x; y) = Omega*(x) - <x, e_y> + Omega(e_y)
  of a regularised prediction map p = argmax_{p in simplex} <x, p> - Omega(p) (Blondel,
  Martins & Niculae 2020, "Learning with Fenchel-Young losses"). With Omega* (x) =
  <x, p> - Omega(p) it reads L = <x, p - e_y> + Omega(e_y) - Omega(p), is >= 0, is 0 only
  when p = e_y, and its gradient is p - e_y. For alpha-entmax, Omega is the negative
  Tsallis entropy Omega(p) = (sum_i p_i^alpha - 1) / (alpha (alpha - 1)) (Omega(e_y) = 0);
  alpha = 2 gives sparsemax's Omega = ||p||^2 / 2 - 1/2 and the sparsemax loss of Martins &
  Astudillo (2016); alpha -> 1 would give softmax and the NLL. Only the maps that are such
  argmaxes have one here: sparsemax, entmax15 and entmax.

Losses are per row, in float64, from the logits the forward used (x rounded to the format)
and the output p the forward computed; a study averages them over the rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from softmaxlab.vjp import vjp

_F64 = np.dtype(np.float64)

#: Methods with a Fenchel-Young loss here (Tsallis-regularised argmaxes).
FENCHEL_YOUNG_METHODS: tuple[str, ...] = ("sparsemax", "entmax15", "entmax")

LOSSES: tuple[str, ...] = ("nll", "fenchel_young")


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    """e_y as float64 rows (labels y of any shape -> shape + (k,))."""
    return (np.asarray(y)[..., None] == np.arange(k)).astype(_F64)


def target_prob(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """p_y per row, float64; y broadcasts against p's leading shape. The entries are picked
    in p's format, then widened (exactly): not every entry of p."""
    p = np.asarray(p)
    index = np.broadcast_to(np.asarray(y)[..., None], p.shape[:-1] + (1,))
    return np.take_along_axis(p, index, axis=-1)[..., 0].astype(_F64)


def nll(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-log p_y per row, float64: inf where p_y = 0, NaN where p_y < 0 or is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(target_prob(p, y))


def nll_cotangent(p_y: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """dL/dp of L = -log p_y: -1/p_y at the target class y and exactly 0 elsewhere (0 * inf
    would give NaN off the target), float64 of shape p_y.shape + (k,); y broadcasts against
    p_y. -inf at the target where p_y = 0, NaN where p_y is NaN."""
    p_y = np.asarray(p_y, dtype=_F64)
    v = np.zeros(p_y.shape + (k,), dtype=_F64)
    with np.errstate(divide="ignore", invalid="ignore"):
        at_target = -1.0 / p_y
    index = np.broadcast_to(np.asarray(y)[..., None], p_y.shape + (1,))
    np.put_along_axis(v, index, at_target[..., None], axis=-1)
    return v


def nll_grad(x: np.ndarray, p: np.ndarray, y: np.ndarray, method: str, params: Mapping):
    """d(-log p_y)/dx per row, float64: vjp(x, v, method) with v = -e_y / p_y
    (:func:`nll_cotangent`; p the forward's output, the value reverse-mode differentiation
    would reuse)."""
    v = nll_cotangent(target_prob(p, y), y, np.shape(x)[-1])
    return vjp(x, v, method, **params)


def tsallis_alpha(method: str, params: Mapping) -> float:
    """alpha of the method's Tsallis regulariser; ValueError for a method without one."""
    if method == "sparsemax":
        return 2.0
    if method == "entmax15":
        return 1.5
    if method == "entmax":
        return float(params["alpha"])
    raise ValueError(
        f"method {method!r} has no Fenchel-Young loss here; "
        f"methods with one: {', '.join(FENCHEL_YOUNG_METHODS)}"
    )


def tsallis_omega(p: np.ndarray, alpha: float) -> np.ndarray:
    """Omega(p) = (sum_i p_i^alpha - 1) / (alpha (alpha - 1)) per row (negative Tsallis
    entropy), float64. p's negative entries (none for an exact argmax) count as 0."""
    p = np.maximum(np.asarray(p, dtype=_F64), 0.0)
    return (np.sum(p**alpha, axis=-1) - 1) / (alpha * (alpha - 1))


def fenchel_young(x: np.ndarray, p: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """L(x; e_y) = <x, p - e_y> - Omega(p) per row (Omega(e_y) = 0), float64, with p the
    entmax(alpha) of x (sparsemax for alpha = 2) as the forward computed it."""
    x = np.asarray(x, dtype=_F64)
    p = np.asarray(p, dtype=_F64)
    return np.sum(x * (p - one_hot(y, x.shape[-1])), axis=-1) - tsallis_omega(p, alpha)


def fenchel_young_grad(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dx = p - e_y per row, float64 (Blondel et al. 2020, Prop. 2)."""
    p = np.asarray(p, dtype=_F64)
    return p - one_hot(y, p.shape[-1])


def loss_and_grad(
    loss: str, x: np.ndarray, p: np.ndarray, y: np.ndarray, method: str, params: Mapping
) -> tuple[np.ndarray, np.ndarray]:
    """(per-row loss, per-row gradient with respect to x), both float64, for ``loss`` in
    :data:`LOSSES`; x is the logits the forward used and p its output."""
    if loss == "nll":
        return nll(p, y), nll_grad(x, p, y, method, params)
    if loss == "fenchel_young":
        alpha = tsallis_alpha(method, params)
        return fenchel_young(x, p, y, alpha), fenchel_young_grad(p, y)
    raise ValueError(f"unknown loss {loss!r}; valid losses: {', '.join(LOSSES)}")
