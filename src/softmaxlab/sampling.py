"""Random logit vectors: x = scale * z, z drawn in float64, then rounded to the dtype.

z comes from a parametric family (:data:`FAMILIES`) or from a file of the user's own
logits, the ``empirical`` family: ``{family: empirical, path: <file>, standardize: false,
classes: K}``. Its draws are rows of the file (one logit vector a row) picked uniformly
with replacement from the seeded stream, so K is the file's number of columns (``classes``
may state it; a file the workflow writes itself must state it, see softmaxlab.config).
Files: ``.npy``; ``.npz`` holding one array (or several, one of them named ``logits``);
``.parquet`` (every column numeric, one column a class); ``.csv`` with a comma between
numbers and one row a line, whose first line is a header when one of its fields is not a
number (pandas' index column and its default header 0,1,...,K-1 are refused as ambiguous:
add a header line of names). Relative paths are relative to the working directory. The file
is read once per process into float64 and must be 2-D with at least one row and 2 columns,
every entry finite. ``standardize: true`` centres each row on its mean and divides every
entry by one pooled within-row standard deviation s, s^2 = sum_ij (x_ij - mean_i)^2 /
(n (K - 1)), so the draws spread like the normal family's N(0, 1) logits (rows centred because
every softmax is shift-invariant, one s for the whole file so confident rows stay more
spread than unsure ones); false keeps the logits as they are. The sweep's scales multiply
these z like every family's.

Every (distribution, K) pair has its own random stream, derived from the seed and the
pair's name, so a cell's vectors never depend on which other cells share its job. The
stream does not depend on the scale or the dtype either: all scales and formats see the
same z (a paired design, so curves over scale and comparisons across formats are smooth
and differences are not sampling noise).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

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


EMPIRICAL = "empirical"
#: The empirical family's keys and defaults (classes: None = the file's number of columns).
EMPIRICAL_DEFAULTS: dict[str, object] = {"path": None, "standardize": False, "classes": None}
LOGIT_FILE_SUFFIXES = (".npy", ".npz", ".parquet", ".csv")


def family_names() -> list[str]:
    """Every distribution family: the parametric ones, then ``empirical``."""
    return [*FAMILIES, EMPIRICAL]


def empirical_params(spec: Mapping) -> dict:
    """The keys of an empirical spec, defaults filled in: path (a non-empty string),
    standardize (bool) and classes (an int >= 2, or None). ValueError naming the key."""
    unknown = sorted(set(spec) - {"family", *EMPIRICAL_DEFAULTS}, key=repr)
    if unknown:
        raise ValueError(
            f"distribution family 'empirical' has no parameter {unknown[0]!r}; "
            f"valid parameters: {', '.join(EMPIRICAL_DEFAULTS)}"
        )
    full = {**EMPIRICAL_DEFAULTS, **{k: v for k, v in spec.items() if k != "family"}}
    if not isinstance(full["path"], str) or not full["path"]:
        raise ValueError(
            f"distribution family 'empirical': path must be a file name, got "
            f"{describe_value(full['path'])}"
        )
    if not isinstance(full["standardize"], bool | np.bool_):
        raise ValueError(
            "distribution family 'empirical': standardize must be true or false, got "
            f"{describe_value(full['standardize'])}"
        )
    classes = full["classes"]
    if classes is not None and (
        isinstance(classes, bool | np.bool_)
        or not isinstance(classes, int | np.integer)
        or classes < 2
    ):
        raise ValueError(
            "distribution family 'empirical': classes must be an integer >= 2, got "
            f"{describe_value(classes)}"
        )
    full["standardize"] = bool(full["standardize"])
    full["classes"] = None if classes is None else int(classes)
    return full


def nonnegative_support(spec: Mapping) -> bool:
    """True for a distribution whose draws are never negative (uniform with low >= 0,
    exponential, lognormal), where linear normalisation is defined. Any other family
    (signed, empirical, or unknown to this check) is False."""
    family = spec.get("family")
    if family == "uniform":
        return family_params(spec)["low"] >= 0
    return family in ("exponential", "lognormal")


def family_params(spec: Mapping) -> dict:
    """The sampler parameters of a distribution spec ``{family: ..., <params>}``, defaults
    filled in, as finite Python floats (an empirical spec: :func:`empirical_params`, the
    file not read).

    Raises ValueError naming the family or parameter and the allowed values: an unknown
    family or parameter, a value that is not a finite real number, low >= high, a scale,
    sigma or df that is not > 0, or parameters whose draws overflow float64 (a uniform
    whose high - low does, or a draw_bound beyond float64's max).
    """
    family = spec.get("family")
    if family == EMPIRICAL:
        return empirical_params(spec)
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(
            f"unknown distribution family {family!r}; valid families: {', '.join(family_names())}"
        )
    defaults = FAMILIES[family][0]
    # ``k``: the distribution's own K list (softmaxlab.sweep.ks), not a sampler parameter.
    params = {key: value for key, value in spec.items() if key not in ("family", "k")}
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
    float64 (softmaxlab.config). Exact for uniform (max |low|, |high|) and for an empirical
    file (its largest |z|, which reads the file); inf when the draws themselves overflow
    float64. ValueError for a spec family_params refuses or a file that cannot be used.
    """
    if spec.get("family") == EMPIRICAL:
        return float(np.max(np.abs(empirical_z(spec))))
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


# --- the empirical family: the user's own logits ------------------------------------------


def read_logits(path) -> np.ndarray:
    """The logits a file holds, as a 2-D float64 array (one vector a row), read once per
    process and file version (path, size and modification time). ValueError, starting with
    the path, for a missing or unreadable file, an unknown suffix, a non-numeric array, an
    array that is not 2-D, has no row, fewer than 2 columns or a non-finite entry."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise ValueError(
            f"{str(path)!r} does not exist (relative paths are relative to the working "
            f"directory, here {os.getcwd()})"
        ) from None
    return _read_logits(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_logits(path: str, size: int, mtime_ns: int) -> np.ndarray:
    """read_logits of one version of a file (size and mtime are the cache's key)."""
    suffix = Path(path).suffix.lower()
    if suffix not in LOGIT_FILE_SUFFIXES:
        raise ValueError(
            f"{path!r} has an unreadable format {suffix or '(no suffix)'!r}; logit files "
            f"are {', '.join(LOGIT_FILE_SUFFIXES)}"
        )
    try:
        array = _LOADERS[suffix](path)
    except Exception as err:  # the library's own error, in one line, unless it is ours
        if str(err).startswith(repr(path)):
            raise
        problem = " ".join(f"{type(err).__name__}: {err}".split())
        raise ValueError(f"{path!r} cannot be read as {suffix[1:]} ({problem})") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{path!r} holds {array.dtype} values; logits must be numbers")
    if array.ndim != 2:
        raise ValueError(
            f"{path!r} holds an array of shape {array.shape}; it must be 2-D, one logit "
            "vector a row"
        )
    if array.shape[0] < 1 or array.shape[1] < 2:
        raise ValueError(
            f"{path!r} holds a {array.shape[0]} x {array.shape[1]} array; it needs at least "
            "one row and 2 columns (classes)"
        )
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{path!r} has {int(bad.sum())} non-finite entries (first: row {row}, column "
            f"{col}: {array[row, col]}); every logit must be finite"
        )
    array.setflags(write=False)
    return array


def _load_npz(path: str) -> np.ndarray:
    """The one array of an .npz, or the one named ``logits`` among several."""
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if len(names) == 1 or "logits" in names:
            return archive[names[0] if len(names) == 1 else "logits"]
    raise ValueError(
        f"{path!r} holds {len(names)} arrays ({', '.join(names) or 'none'}); it must hold "
        "one, or name the logits 'logits'"
    )


def _load_parquet(path: str) -> np.ndarray:
    """The numeric columns of a Parquet table as one array (one column a class)."""
    import pandas as pd

    frame = pd.read_parquet(path)
    for column, dtype in frame.dtypes.items():
        if dtype.kind not in "iuf":
            raise ValueError(
                f"{path!r}: column {column!r} is {dtype}; every column must be numeric"
            )
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _load_csv(path: str) -> np.ndarray:
    """Numbers separated by commas, one vector a line, after an optional header line (a first
    line with a field that is not a number). pandas' index column (an empty first header
    field) and its default header 0,1,...,K-1 (K >= 3) are refused: either would become
    data (a file whose first row really is 0,1,...,K-1 can add a header line)."""
    with open(path, encoding="utf-8") as handle:
        first = handle.readline().rstrip("\r\n")
    fields = [field.strip() for field in first.split(",")]
    header = not all(_is_number(field) for field in fields)
    if header and fields[0] == "":
        raise ValueError(
            f"{path!r}: its header starts with an empty field, as pandas writes an index "
            "column; write it with to_csv(path, index=False)"
        )
    if not header and len(fields) >= 3 and fields == [str(i) for i in range(len(fields))]:
        raise ValueError(
            f"{path!r}: its first line {first!r} is pandas' default header of a frame "
            "without column names, or data; write it with header=False or named columns"
        )
    return np.loadtxt(path, delimiter=",", skiprows=int(header), ndmin=2, dtype=np.float64)


_LOADERS: dict[str, Callable[[str], np.ndarray]] = {
    ".npy": lambda path: np.load(path, allow_pickle=False),
    ".npz": _load_npz,
    ".parquet": _load_parquet,
    ".csv": _load_csv,
}


def empirical_z(spec: Mapping) -> np.ndarray:
    """The rows an empirical spec draws from (float64, read-only): the file's logits,
    standardised when ``standardize`` (module docstring). ValueError for a file
    :func:`read_logits` refuses, a ``classes`` that is not the file's number of columns,
    or a file whose rows are all constant when standardizing."""
    params = empirical_params(spec)
    x = read_logits(params["path"])
    n, k = x.shape
    if params["classes"] is not None and params["classes"] != k:
        raise ValueError(
            f"classes = {params['classes']}, but {params['path']!r} has {k} columns "
            "(classes); they must agree"
        )
    if not params["standardize"]:
        return x
    centred = x - np.mean(x, axis=-1, keepdims=True)
    spread = math.sqrt(float(np.sum(centred * centred)) / (n * (k - 1)))
    if not spread > 0:
        raise ValueError(
            f"{params['path']!r}: every row is constant, so standardize: true would divide "
            "by their spread 0"
        )
    z = centred / spread
    z.setflags(write=False)
    return z


def empirical_k(spec: Mapping) -> int:
    """K of an empirical spec: ``classes`` when given (the file is not read), else the
    file's number of columns."""
    params = empirical_params(spec)
    if params["classes"] is not None:
        return params["classes"]
    return int(read_logits(params["path"]).shape[1])


def sampler(spec: Mapping, k: int) -> Callable[[np.random.Generator, int], np.ndarray]:
    """draw(rng, n): n vectors of K logits z (float64, shape (n, K)) from ``rng``: the
    family's sampler, or for an empirical spec n rows of its file picked uniformly with
    replacement (rng.integers). ValueError for a spec or file that cannot be used, or a K
    the empirical file does not have."""
    params = family_params(spec)
    if spec["family"] != EMPIRICAL:
        draw = FAMILIES[spec["family"]][1]
        return lambda rng, n: draw(rng, (n, k), **params)
    rows = empirical_z(spec)
    if rows.shape[1] != k:
        raise ValueError(
            f"empirical distribution {params['path']!r} has K = {rows.shape[1]}, not {k}"
        )
    return lambda rng, n: rows[rng.integers(0, len(rows), size=n)]


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
    draw = sampler(spec, k)
    rng = stream(seed, "logits", distribution, k)
    for start in range(0, max(n_vectors, 1), block_rows):
        yield draw(rng, min(block_rows, n_vectors - start))


def logits(z: np.ndarray, scale: float, dtype) -> np.ndarray:
    """x = scale * z computed in float64, then rounded to ``dtype`` as numpy's and
    ml_dtypes' ``astype`` round it: to nearest even, directly for float32 and float16, and
    through float32 for bfloat16 and the fp8 formats (ml_dtypes' cast). That double
    rounding gives the neighbour of the nearest value where float32's rounding lands on a
    midpoint of the format: 13 of the 10^6 bfloat16 logits of the default sweep's normal
    K = 1000 cell at scale 1, 2 in float8_e4m3fn (formats.round_to with ``direct`` rounds
    once)."""
    from softmaxlab.kernels import formats  # compiled casts; imports numba on the first call

    with np.errstate(over="ignore", invalid="ignore"):
        return formats.round_to(scale * z, get_dtype(dtype))  # astype's bits, faster


def vectors_per_cell(k: int, element_budget: int, min_count: int, max_count: int) -> int:
    """How many vectors a cell of K classes gets: budget // K, clipped to [min, max]."""
    return int(min(max(element_budget // k, min_count), max_count))
