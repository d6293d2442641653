"""Optimisers of the training study, on stacked runs: every parameter array has the runs as
its leading axis and every run its own learning rate.

Master weights stay float32; a gradient (float64 from the float64 vjp) is rounded to the
weights' dtype before the update, and the update is computed in that dtype, as the
frameworks' mixed-precision recipe keeps float32 master weights and optimiser state.

* :class:`GradientDescent`: w <- w - lr * g (full batch).
* :class:`Adam` (Kingma & Ba 2015, Algorithm 1, the paper's defaults beta1 = 0.9,
  beta2 = 0.999, eps = 1e-8): m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
  w <- w - lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - b1^t),
  v_hat = v / (1 - b2^t), t the number of updates so far (1 at the first).

``active`` (one bool per run) freezes the runs that are done (diverged): their weights and
state are left exactly as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OPTIMIZERS: tuple[str, ...] = ("gd", "adam")


def _per_run(value: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A per-run value (runs,) shaped to broadcast against ``like`` (runs, ...)."""
    return np.asarray(value).reshape((-1,) + (1,) * (like.ndim - 1))


@dataclass
class GradientDescent:
    """Full-batch gradient descent with one learning rate per run."""

    learning_rates: np.ndarray

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], active: np.ndarray):
        """Update ``params`` in place."""
        for w, g in zip(params, grads, strict=True):
            lr = _per_run(self.learning_rates, w).astype(w.dtype)
            update = lr * g.astype(w.dtype)
            w -= np.where(_per_run(active, w), update, np.zeros((), w.dtype))


@dataclass
class Adam:
    """Adam (Kingma & Ba 2015) with one learning rate per run and the paper's defaults."""

    learning_rates: np.ndarray
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    _m: list[np.ndarray] = field(default_factory=list)
    _v: list[np.ndarray] = field(default_factory=list)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], active: np.ndarray):
        """Update ``params`` in place (t counts the steps taken by every active run: all
        runs start together and a frozen run never steps again, so one counter serves)."""
        if not self._m:
            self._m = [np.zeros_like(w) for w in params]
            self._v = [np.zeros_like(w) for w in params]
        self.t += 1
        for w, g, m, v in zip(params, grads, self._m, self._v, strict=True):
            dt = w.dtype
            g = g.astype(dt)
            keep = _per_run(active, w)
            b1, b2 = np.asarray(self.beta1, dt), np.asarray(self.beta2, dt)
            m[...] = np.where(keep, b1 * m + (1 - b1) * g, m)
            v[...] = np.where(keep, b2 * v + (1 - b2) * g * g, v)
            m_hat = m / np.asarray(1 - self.beta1**self.t, dt)
            v_hat = v / np.asarray(1 - self.beta2**self.t, dt)
            lr = _per_run(self.learning_rates, w).astype(dt)
            update = lr * m_hat / (np.sqrt(v_hat) + np.asarray(self.eps, dt))
            w -= np.where(keep, update, np.zeros((), dt))


def make_optimizer(name: str, learning_rates) -> GradientDescent | Adam:
    """The optimiser ``name`` ("gd" or "adam") for runs with these learning rates."""
    learning_rates = np.asarray(learning_rates, dtype=np.float64)
    if name == "gd":
        return GradientDescent(learning_rates)
    if name == "adam":
        return Adam(learning_rates)
    raise ValueError(f"unknown optimizer {name!r}; valid optimizers: {', '.join(OPTIMIZERS)}")
