"""C13's reference: E[max softmax(s z)] for normal logits, from order statistics, without
simulation.

For x = s z with z ~ N(0, I_K) and s > 0, the largest probability is p_max = 1 / (1 + S),
S = sum_{j != a} exp(s (z_j - M)), where M = z_a is the maximum. Three steps make the
K-dimensional expectation a nested three-dimensional integral:

1. 1 / (1 + S) = integral_0^inf exp(-t (1 + S)) dt (S >= 0).
2. Given M = m, the other K - 1 draws are i.i.d. N(0, 1) conditioned on z < m, with density
   phi(z) / Phi(m) on (-inf, m); so E[exp(-t S) | M = m] = L(t, m)^(K-1) with
   L(t, m) = E[exp(-t exp(-s (m - z))) | z < m] = G(t, m) / Phi(m),
   G(t, m) = integral_{-inf}^m phi(z) exp(-t e^{s (z - m)}) dz.
3. M has the density f_M(m) = K phi(m) Phi(m)^(K-1), so
   E[p_max] = integral f_M(m) integral_0^inf e^{-t} L(t, m)^(K-1) dt dm
            = K integral phi(m) integral_0^inf e^{-t} G(t, m)^(K-1) dt dm.

The module evaluates the distance to the argmax directly, E[TV] = E[1 - p_max] =
integral f_M(m) integral_0^inf e^{-t} (1 - L^(K-1)) dt dm (1 - L^(K-1) as
-expm1((K - 1) log L), so a small TV keeps its relative precision), and E[p_max] = 1 - E[TV].

Quadrature: fixed Gauss-Legendre rules on panels, vectorised over all nodes at once (no
adaptive quad: the 78 (K, scale) pairs of the default config take about 0.4 s of CPU).
For K = 10^4 at scale 10 it gives E[TV] = 0.2771 (issue 9 said "about 0.26").

- m: the panels between the quantiles eps, 1e-3, 1/2, 1 - 1e-3 and 1 - eps of M (Phi(m)^K
  inverted in logs, scipy.special.ndtri_exp), eps = 1e-16; the mass left out is at most
  2 eps and enters the error bound.
- t: tau = ln t on [ln T0, ln T1] = [-20, ln 40], in the panels between -20, -12, -8, -4, 0
  and ln 40 (for small s, 1 - L^(K-1) rises like 1 - exp(-K t), a step near tau = -ln K;
  panels of 4 units in tau resolve it for every K up to 10^6). Left out: t < T0, where
  1 - L^(K-1) <= (K - 1) t, so at most (K - 1) T0^2 / 2; t > T1, at most e^-T1.
- z: d = m - z >= 0 on [0, D], D = min(d_tail, (40 + ln T1) / s), where Phi(m - d_tail) =
  1e-18 Phi(m) and beyond (40 + ln T1) / s the factor 1 - exp(-t e^{-s d}) <= e^-40 for
  every t <= T1. The panel is split at (6 + ln T1) / s, past the step of
  1 - exp(-t e^{-s d}) (at d = ln t / s, width 1 / s), when that lies inside; the panels
  depend on m only, so G is cached over t. 1 - L is summed; ln L is log1p(-(1 - L)) where
  1 - L < 1/2, else the log of L = (mass of the nodes) + (conditional mass beyond D,
  Phi(m - D) / Phi(m), exactly by scipy.special.log_ndtr) - (1 - L).

Error bound: the difference between the rules COARSE and FINE (1.33-1.5x the nodes in every
dimension; the estimate of the coarser rule's error, reported for the finer one, whose own
error is far smaller: about 1e-14 against K = 2's closed form, K = 3's two-dimensional
quad and a rule with 2x FINE's nodes) plus the truncated masses above plus ROUNDING for the
sums' rounding. Pairs whose bound exceeds MAX_ERROR are left out of the table, with
the reason in its notes.

Normal logits with loc and scale (family parameters): softmax is shift-invariant, so loc
drops out, and s (sigma z') = (s sigma) z': the reference is computed at scale s x sigma.

Table ``c13_reference.csv`` (:func:`reference_table`), one row per (distribution, K,
scale): ``distribution`` (every configured distribution of family ``normal``), ``k``,
``scale`` (the config's scale s; the logits are s times the distribution's draws),
``expected_max_prob`` (E[p_max]), ``expected_tv`` (E[TV(softmax(x), argmax)] =
1 - E[p_max]), ``abs_error_bound`` (the error estimate above, for both values), ``notes``
(empty, or why a pair was left out: then the two values are empty).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy import optimize, special

from softmaxlab.sampling import family_params

# Quantile of M left out at each end of the m-integral.
TAIL_EPS = 1e-16
# The t-integral's range, t in [T0, T1].
T0 = math.exp(-20.0)
T1 = 40.0
# Conditional mass of z | z < m left beyond d_tail: ratio Phi(m - d_tail) / Phi(m).
Z_TAIL = 1e-18
# Panel edges in tau = ln t.
TAU_EDGES = (math.log(T0), -12.0, -8.0, -4.0, 0.0, math.log(T1))
# Nodes per panel (m, t, z) of the two rules compared for the error estimate.
COARSE = (12, 16, 16)
FINE = (16, 24, 24)
# Rounding of the sums (about 10^5 terms of relative error eps).
ROUNDING = 1e-13
# Pairs with a larger error estimate are left out of the table.
MAX_ERROR = 1e-8
COLUMNS = (
    "distribution",
    "k",
    "scale",
    "expected_max_prob",
    "expected_tv",
    "abs_error_bound",
    "notes",
)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class Reference:
    """E[p_max] and E[TV to argmax] = 1 - E[p_max] for softmax(scale z), z ~ N(0, I_K),
    with an absolute error bound for both (module docstring)."""

    k: int
    scale: float
    expected_max_prob: float
    expected_tv: float
    abs_error_bound: float


@cache
def _unit_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) / 2, w / 2


def _panels(edges: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of an n-point Gauss-Legendre rule on each panel between
    consecutive ``edges`` (last axis), for any leading shape; empty panels weigh 0."""
    x, w = _unit_rule(n)
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]
    nodes = lo + (hi - lo) * x
    weights = (hi - lo) * w
    shape = (*edges.shape[:-1], -1)
    return nodes.reshape(shape), weights.reshape(shape)


def _max_quantile(k: int, log_q: float) -> float:
    """m with P(M <= m) = Phi(m)^K = q, from ln q."""
    return float(special.ndtri_exp(log_q / k))


def _max_upper_quantile(k: int, eps: float) -> float:
    """m with P(M > m) = eps: Phi(m) = (1 - eps)^(1/K), so 1 - Phi(m) = -expm1(ln(1-eps)/K)."""
    return -float(special.ndtri(-math.expm1(math.log1p(-eps) / k)))


def _m_rule(k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in m with weights times f_M(m), on panels between quantiles of M."""
    edges = np.array(
        [
            _max_quantile(k, math.log(TAIL_EPS)),
            _max_quantile(k, math.log(1e-3)),
            _max_quantile(k, math.log(0.5)),
            _max_upper_quantile(k, 1e-3),
            _max_upper_quantile(k, TAIL_EPS),
        ]
    )
    m, w = _panels(edges, n)
    log_density = math.log(k) - 0.5 * m**2 - _LOG_SQRT_2PI + (k - 1) * special.log_ndtr(m)
    return m, w * np.exp(log_density)


def _t_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in t with the weights of dt (tau = ln t, dt = t dtau), on TAU_EDGES' panels."""
    tau, w = _panels(np.array(TAU_EDGES), n)
    t = np.exp(tau)
    return t, w * t


def _log_l(scale: float, m: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
    """ln L(t, m), shape (len(m), len(t)): L = E[exp(-t e^{-s d}) | z < m], d = m - z.

    The d-panels depend on m only, so the density and e^{-s d} are computed once per m
    and each (m, t, node) costs one expm1."""
    log_phi_m = special.log_ndtr(m)[:, None]
    # d_tail: Phi(m - d_tail) = Z_TAIL Phi(m).
    d_tail = m[:, None] - special.ndtri_exp(log_phi_m + math.log(Z_TAIL))
    d_end = np.minimum(d_tail, (40.0 + math.log(T1)) / scale)
    d_step = np.minimum(d_end, (6.0 + math.log(T1)) / scale)
    d, w = _panels(np.concatenate([np.zeros_like(d_end), d_step, d_end], axis=-1), n)
    # Conditional density phi(m - d) / Phi(m) times the weights; W = e^{-s d}.
    cw = w * np.exp(-0.5 * (m[:, None] - d) ** 2 - _LOG_SQRT_2PI - log_phi_m)
    em = np.expm1(-t[None, :, None] * np.exp(-scale * d)[:, None, :])
    one_minus_l = -np.einsum("mk,mtk->mt", cw, em)
    beyond = np.exp(special.log_ndtr(m[:, None] - d_end) - log_phi_m)
    # L itself where 1 - L >= 1/2: cancellation leaves it an absolute error of a few ulp
    # (negligible in e^-t L^(K-1)), so a negative rounding residue is clipped to 0.
    ell = np.maximum(np.sum(cw, axis=-1, keepdims=True) + beyond - one_minus_l, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(one_minus_l < 0.5, np.log1p(-one_minus_l), np.log(ell))


def _expected_tv(k: int, scale: float, nodes: tuple[int, int, int]) -> float:
    """E[TV] = integral f_M integral e^-t (1 - L^(K-1)) dt dm with the rule ``nodes``."""
    n_m, n_t, n_z = nodes
    m, wm = _m_rule(k, n_m)
    t, wt = _t_rule(n_t)
    inner = -np.expm1((k - 1) * _log_l(scale, m, t, n_z))
    return float(wm @ (inner * np.exp(-t)) @ wt)


def reference(k: int, scale: float) -> Reference:
    """E[p_max], E[TV] = 1 - E[p_max] and their error bound for softmax(scale z),
    z ~ N(0, I_K) (module docstring). ValueError for K < 2 or a scale that is not > 0."""
    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    k = int(k)
    fine = _expected_tv(k, scale, FINE)
    coarse = _expected_tv(k, scale, COARSE)
    truncated = 2 * TAIL_EPS + (k - 1) * T0**2 / 2 + math.exp(-T1) + ROUNDING
    bound = abs(fine - coarse) + truncated
    return Reference(k, float(scale), 1.0 - fine, fine, bound)


def tv_crossing(k: int, target: float, sigma: float = 1.0) -> float:
    """The scale s at which E[TV(softmax(s sigma z), argmax)] = ``target``, z ~ N(0, I_K):
    E[TV] falls strictly from 1 - 1/K (s -> 0) to 0 (s -> inf), so the root is unique;
    Brent's method on ln s, to 1e-12 in ln s, with the quadrature of :func:`reference`
    (its error, below 1e-8 in TV, moves the root by far less than the sweep resolves).
    ValueError for a target outside (0, 1 - 1/K) or a sigma that is not > 0."""
    if not 0.0 < target < 1.0 - 1.0 / k:
        raise ValueError(f"target must lie in (0, 1 - 1/K) = (0, {1 - 1 / k:g}), got {target!r}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")

    def excess(log_scale: float) -> float:
        return reference(k, math.exp(log_scale)).expected_tv - target

    low, high = math.log(1e-3), math.log(1e3)
    while excess(low) <= 0:  # a target near 1 - 1/K: reached at tiny scales
        low -= math.log(1e3)
    while excess(high) >= 0:  # a tiny target: reached at huge scales
        high += math.log(1e3)
    return math.exp(optimize.brentq(excess, low, high, xtol=1e-12)) / sigma


def normal_distributions(distributions: Mapping[str, Mapping]) -> dict[str, float]:
    """The distributions of family ``normal``, each with its standard deviation sigma
    (x = s sigma z' + s loc; the shift drops out of softmax)."""
    return {
        name: family_params(spec)["scale"]
        for name, spec in distributions.items()
        if spec.get("family") == "normal"
    }


def reference_table(
    distributions: Mapping[str, Mapping], ks: Sequence[int], scales: Sequence[float]
) -> pd.DataFrame:
    """The table ``c13_reference.csv`` (module docstring) for every normal distribution,
    K and scale, in config order."""
    rows = []
    for name, sigma in normal_distributions(distributions).items():
        for k in ks:
            for scale in scales:
                ref = reference(int(k), float(scale) * sigma)
                row = {"distribution": name, "k": int(k), "scale": float(scale)}
                if ref.abs_error_bound <= MAX_ERROR:
                    values = (ref.expected_max_prob, ref.expected_tv, ref.abs_error_bound, "")
                else:
                    note = (
                        f"left out: quadrature error estimate {ref.abs_error_bound:.2g} "
                        f"exceeds {MAX_ERROR:g}"
                    )
                    values = (math.nan, math.nan, ref.abs_error_bound, note)
                rows.append(dict(zip(COLUMNS, (*row.values(), *values), strict=True)))
    return pd.DataFrame(rows, columns=list(COLUMNS))
