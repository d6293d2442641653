"""Random logit vectors: x = scale * z, z drawn in float64, then rounded to the dtype.

Every (distribution, K) pair has its own random stream, derived from the seed and the
pair's name, so a cell's vectors never depend on which other cells share its job. The
stream does not depend on the scale or the dtype either: all scales and formats see the
same z (a paired design, so curves over scale and comparisons across formats are smooth
and differences are not sampling noise).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping

import numpy as np

from softmaxlab.dtypes import get_dtype
from softmaxlab.methods import describe_value

# family -> (parameter defaults, sampler(rng, size, **params))
FAMILIES: dict[str, tuple[dict[str, float], object]] = {
    "normal": (
        {"loc": 0.0, "scale": 1.0},
        lambda rng, size, loc, scale: rng.normal(loc, scale, size),
    ),
    "uniform": (
        {"low": -1.0, "high": 1.0},
        lambda rng, size, low, high: rng.uniform(low, high, size),
    ),
    "gumbel": (
        {"loc": 0.0, "scale": 1.0},
        lambda rng, size, loc, scale: rng.gumbel(loc, scale, size),
    ),
    "student_t": ({"df": 3.0}, lambda rng, size, df: rng.standard_t(df, size)),
    "laplace": (
        {"loc": 0.0, "scale": 1.0},
        lambda rng, size, loc, scale: rng.laplace(loc, scale, size),
    ),
    "lognormal": (
        {"mean": 0.0, "sigma": 1.0},
        lambda rng, size, mean, sigma: rng.lognormal(mean, sigma, size),
    ),
    "exponential": ({"scale": 1.0}, lambda rng, size, scale: rng.exponential(scale, size)),
}


# A draw exceeds draw_bound with about this probability: a sweep of 10^9 logits per stream
# overflows float64 with probability below 10^-9.
TAIL_PROBABILITY = 1e-18
_FLOAT64_MAX = float(np.finfo(np.float64).max)


def family_params(spec: Mapping) -> dict[str, float]:
    """The sampler parameters of a distribution spec ``{family: ..., <params>}``, defaults
    filled in, as finite Python floats.

    Raises ValueError naming the family or parameter and the allowed values: an unknown
    family or parameter, a value that is not a finite real number, low >= high, a scale,
    sigma or df that is not > 0, or parameters whose draws overflow float64 (a uniform
    whose high - low does, or a draw_bound beyond float64's max).
    """
    family = spec.get("family")
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(
            f"unknown distribution family {family!r}; valid families: {', '.join(FAMILIES)}"
        )
    defaults = FAMILIES[family][0]
    params = {key: value for key, value in spec.items() if key != "family"}
    unknown = sorted(set(params) - set(defaults), key=repr)
    if unknown:
        raise ValueError(
            f"distribution family {family!r} has no parameter {unknown[0]!r}; "
            f"valid parameters: {', '.join(defaults) or '(none)'}"
        )
    full = dict(defaults)
    for key, value in params.items():
        full[key] = _finite(family, key, value)
    if family == "uniform":
        if not full["low"] < full["high"]:
            raise ValueError(
                f"uniform needs low < high, got low={full['low']}, high={full['high']}"
            )
        if not math.isfinite(full["high"] - full["low"]):
            raise ValueError(
                f"uniform's high - low = {full['high']} - {full['low']} overflows float64 "
                "(the sampler computes low + (high - low) u)"
            )
    for key in ("scale", "sigma", "df"):
        if key in full and not full[key] > 0:
            raise ValueError(f"distribution family {family!r}: {key} must be > 0, got {full[key]}")
    bound = _draw_bound(family, full)
    if not bound <= _FLOAT64_MAX:
        shown = ", ".join(f"{key}={value:g}" for key, value in full.items())
        raise ValueError(
            f"distribution family {family!r} with {shown}: its draws overflow float64 "
            f"(|z| exceeds float64's max {_FLOAT64_MAX:.4g} with probability above "
            f"{TAIL_PROBABILITY:g}); use a smaller scale, sigma or |loc|, or a larger df"
        )
    return full


def _finite(family: str, key: str, value) -> float:
    """A family parameter as a finite Python float, or ValueError naming it."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise ValueError(
            f"distribution family {family!r}: {key} must be a real number, "
            f"got {describe_value(value)}"
        )
    try:
        real = float(value)
    except OverflowError:
        real = math.inf
    if not math.isfinite(real):
        raise ValueError(
            f"distribution family {family!r}: {key} must be a finite float64, "
            f"got {describe_value(value)}"
        )
    return real


def draw_bound(spec: Mapping) -> float:
    """B such that one draw z of the distribution has |z| > B with probability about
    TAIL_PROBABILITY (10^-18): the scales it allows are those with scale * B within
    float64 (softmaxlab.config). Exact for uniform (max |low|, |high|); inf when the draws
    themselves overflow float64. ValueError for a spec family_params refuses.
    """
    return _draw_bound(spec["family"], family_params(spec))


def _draw_bound(family: str, params: Mapping[str, float]) -> float:
    """draw_bound for checked parameters, from the closed-form tails: normal |loc| + scale x
    Phi^-1(1 - p/2); gumbel (right tail; the left is far lighter) |loc| + scale x
    -ln(-ln(1 - p)); laplace |loc| + scale x ln(1/p); exponential scale x ln(1/p); lognormal
    exp(mean + sigma Phi^-1(1 - p)); student_t the two-sided t quantile (scipy's stdtrit
    for df > 1; for df <= 1, where stdtrit stalls near 1e152, the tail's leading term
    P(T > t) ~ c df^((df-1)/2) t^-df solved for t: equal to the exact quantile to double
    precision there, tests/test_config_strict.py checks it with mpmath)."""
    from scipy import special

    p = TAIL_PROBABILITY
    with np.errstate(over="ignore"):
        if family == "uniform":
            return max(abs(params["low"]), abs(params["high"]))
        if family == "normal":
            return abs(params["loc"]) - params["scale"] * float(special.ndtri(p / 2))
        if family == "gumbel":
            return abs(params["loc"]) - params["scale"] * math.log(-math.log1p(-p))
        if family == "laplace":
            return abs(params["loc"]) - params["scale"] * math.log(p)
        if family == "exponential":
            return -params["scale"] * math.log(p)
        if family == "lognormal":
            exponent = params["mean"] - params["sigma"] * float(special.ndtri(p))
            return math.exp(exponent) if exponent < 710 else math.inf
        if family == "student_t":
            df = params["df"]
            if df > 1:
                return -float(special.stdtrit(df, p / 2))
            # f(t) ~ c (df/t^2)^((df+1)/2) for large t, c = G((df+1)/2)/(sqrt(df pi) G(df/2)):
            # P(T > t) ~ c df^((df-1)/2) t^-df, solved for P = p/2 in logs.
            log_c = math.lgamma((df + 1) / 2) - 0.5 * math.log(df * math.pi) - math.lgamma(df / 2)
            log_t = (log_c + (df - 1) / 2 * math.log(df) - math.log(p / 2)) / df
            return math.exp(log_t) if log_t < 709 else math.inf
    raise ValueError(f"unknown distribution family {family!r}")


def stream(seed: int, *names) -> np.random.Generator:
    """A generator for the stream named by ``names`` under ``seed``.

    The names are hashed (SHA-256) into the SeedSequence spawn key, so the stream is the
    same on every machine and in every process, whatever else the sweep contains.
    """
    digest = hashlib.sha256("\x1f".join(map(str, names)).encode()).digest()
    key = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def sample_z(seed: int, distribution: str, spec: Mapping, k: int, n_vectors: int) -> np.ndarray:
    """The standardised draws z, shape (n_vectors, k), float64, for one (distribution, K)."""
    return next(sample_z_blocks(seed, distribution, spec, k, n_vectors, max(n_vectors, 1)))


def sample_z_blocks(
    seed: int, distribution: str, spec: Mapping, k: int, n_vectors: int, block_rows: int
) -> Iterator[np.ndarray]:
    """The rows of :func:`sample_z`, ``block_rows`` at a time (the last block may be short).

    The blocks are drawn one after the other from the same stream, and every family's
    sampler draws its values in order, so their concatenation is exactly sample_z's array
    (tests/test_sampling.py checks it for every family): a job can stream the draws of a
    cell of any size without holding them.
    """
    params = family_params(spec)
    sampler = FAMILIES[spec["family"]][1]
    rng = stream(seed, "logits", distribution, k)
    for start in range(0, max(n_vectors, 1), block_rows):
        yield sampler(rng, (min(block_rows, n_vectors - start), k), **params)


def logits(z: np.ndarray, scale: float, dtype) -> np.ndarray:
    """x = scale * z computed in float64, then rounded to ``dtype`` (round to nearest)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return (scale * z).astype(get_dtype(dtype))


def vectors_per_cell(k: int, element_budget: int, min_count: int, max_count: int) -> int:
    """How many vectors a cell of K classes gets: budget // K, clipped to [min, max]."""
    return int(min(max(element_budget // k, min_count), max_count))
