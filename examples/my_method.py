"""A plugin method for softmaxlab: the "power softmax", exp's compound-interest limit.

exp(t) = lim_{n -> inf} (1 + t/n)^n. Replacing exp in softmax by the power (1 + t/n)^n,
clipped at 0 and taken at t = x_i - max x (so that the base is at most 1, as in the stable
softmax), gives

    p_i = max(0, 1 + (x_i - max x) / n)^n / sum_j max(0, 1 + (x_j - max x) / n)^n.

n = 1 is a shifted, clipped linear normalisation (sparse: classes more than 1 below the
maximum get 0); as n grows it tends to softmax entry by entry, and its support (the classes
within n of the maximum) grows to every class. So a sweep of n shows what exp buys over a
polynomial: how large n must be before the distances to argmax, the support and the
gradients look like softmax's. Shift-invariant, never overflows (every term is <= 1).

The plugin protocol (softmaxlab.plugins): ``power_softmax(x, n=4)`` maps along the last
axis and returns an array of x's shape and dtype; the keyword default (an int) declares the
parameter ``n`` and its kind. Every operation is done in x's dtype with constants made in
that dtype (a Python float would turn a bfloat16 array into float32), and the sum over the
classes is accumulated in float32 for the formats narrower than float32, as the built-ins
do. ``power_softmax.vjp`` is its vector-Jacobian product in float64, which the sweep's NLL
gradients and the training study use.

Use it from a config as ``{method: "examples.my_method:power_softmax", n: 16}`` (run
Snakemake from the folder that holds ``examples/``), or in a notebook::

    import softmaxlab
    from examples.my_method import power_softmax
    softmaxlab.register_method("power_softmax", power_softmax)
    softmaxlab.normalize([2.0, 4.0, 2.0, 1.0], "power_softmax", n=16)
"""

import numpy as np


def power_softmax(x: np.ndarray, n: int = 4) -> np.ndarray:
    """p_i = max(0, 1 + (x_i - max x)/n)^n / sum_j (same), in x's dtype (module docstring):
    the softmax with exp replaced by its compound-interest approximation of order n >= 1."""
    if n < 1:
        raise ValueError(f"power_softmax: n must be an integer >= 1, got {n}")
    dtype = x.dtype
    accumulator = np.float32 if dtype.itemsize < 4 else dtype
    order = np.asarray(n, dtype=dtype)
    base = np.asarray(1, dtype=dtype) + (x - np.max(x, axis=-1, keepdims=True)) / order
    terms = np.power(np.maximum(base, np.asarray(0, dtype=dtype)), order)
    total = np.sum(terms, axis=-1, keepdims=True, dtype=accumulator).astype(dtype)
    return terms / total


def _power_softmax_vjp(x: np.ndarray, v: np.ndarray, n: int = 4) -> np.ndarray:
    """v^T dp/dx of power_softmax in float64. With m = max x, t = 1 + (x - m)/n and
    g = max(0, t)^n: p = g / S and dg_i/dx_i = n max(0, t_i)^(n-1) / n = max(0, t_i)^(n-1)
    at a fixed m, so w_j = g'_j / S (v_j - v.p) (the ratio rule of softmaxlab.vjp); m
    moves with the argmax entry, which subtracts sum_j w_j there (the first maximiser at a
    tie: one of the subgradients)."""
    x = np.asarray(x, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    base = np.maximum(1 + (x - np.max(x, axis=-1, keepdims=True)) / n, 0.0)
    terms = base**n
    total = np.sum(terms, axis=-1, keepdims=True)
    p = terms / total
    w = base ** (n - 1) / total * (v - np.sum(v * p, axis=-1, keepdims=True))
    top = np.argmax(x, axis=-1)[..., None]
    moved = np.zeros_like(w)
    np.put_along_axis(moved, top, np.sum(w, axis=-1, keepdims=True), axis=-1)
    return w - moved


power_softmax.vjp = _power_softmax_vjp
