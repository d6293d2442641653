"""Random logit vectors: x = scale * z, z drawn in float64, then rounded to the dtype.

Every (distribution, K) pair has its own random stream, derived from the seed and the
pair's name, so a cell's vectors never depend on which other cells share its job. The
stream does not depend on the scale or the dtype either: all scales and formats see the
same z (a paired design, so curves over scale and comparisons across formats are smooth
and differences are not sampling noise).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

import numpy as np

from softmaxlab.dtypes import get_dtype

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


def family_params(spec: Mapping) -> dict[str, float]:
    """The sampler parameters of a distribution spec ``{family: ..., <params>}``, defaults filled.

    Raises ValueError naming the family or parameter and the allowed values.
    """
    family = spec.get("family")
    if family not in FAMILIES:
        raise ValueError(
            f"unknown distribution family {family!r}; valid families: {', '.join(FAMILIES)}"
        )
    defaults = FAMILIES[family][0]
    params = {key: value for key, value in spec.items() if key != "family"}
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"distribution family {family!r} has no parameter {unknown[0]!r}; "
            f"valid parameters: {', '.join(defaults) or '(none)'}"
        )
    full = {**defaults, **{key: float(value) for key, value in params.items()}}
    if family == "uniform" and not full["low"] < full["high"]:
        raise ValueError(f"uniform needs low < high, got low={full['low']}, high={full['high']}")
    for key in ("scale", "sigma", "df"):
        if key in full and not full[key] > 0:
            raise ValueError(f"distribution family {family!r}: {key} must be > 0, got {full[key]}")
    return full


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
