"""The checks of the claims that evaluate seeded vectors, computed as workflow work: the
claims job reads their table (softmaxlab.claims.data.ClaimData) and draws no vector.

Per (distribution, K) of the sweep, one job (rule claim_checks_cell, :func:`cell_checks`)
on the sweep's own vectors of that pair (the (distribution, K) stream of
softmaxlab.sampling, n = softmaxlab.sweep.n_vectors of them, drawn in blocks of about
BLOCK_ELEMENTS logits so that a job's memory does not grow with the budget):

- ``C5_base``: base psi against base e (total variation) and against temperature 1/ln psi
  (ulps, and ulps over the rounding budget), on the first vectors of each cell (at most
  C5_MAX_ELEMENTS logits; K above that on the first distribution only), every format the
  claims read (the config's and float64), per (format, base, scale);
- ``C7_predicted``: the overflow rate of the naive softmax of each base of C7_BASES that
  the analytic thresholds predict, on every vector, per (format, label, scale), for the
  config's formats and float64;
- ``C8_anatomy``: why the stable softmax overflows, on every vector of every cell, step by
  step as the library computes (y = x - max x in the format, e^y, the sum accumulated in
  float32 for narrow formats), for the config's formats, float64 and float32. The claim
  reads the cells where the sweep flagged an overflow.

Once (rule claim_checks, which also merges the cell jobs' tables, :func:`fixed_checks`),
on vectors of their own streams:

- ``C4_fd``: dCE/dx = p - y of softmax against float64 central differences, per (K, scale);
- ``C6_uniform``: softmax(base=1) is uniform, per (format, K, stable), on the first
  distribution's first vectors;
- ``C11_maxent``: the numerical maximum-entropy distribution against Boltzmann's, per
  seeded problem.

Table ``claim_checks.csv``, long like the summary: one row per (check, cell, quantity) with
the columns CHECK_COLUMNS: ``check`` (the names above), the cell's ``distribution`` (empty
for C4 and C11, whose draws come from streams of their own), ``scale`` (empty for C6, which
pools the scales, and C11), ``k`` (C11: the problem's K), ``dtype``, ``variant`` (C5: the
base; C6: "stable" or "naive"; C7: the method's label; C11: the problem's index; else
empty), ``quantity``, ``n`` (the vectors drawn for the row: per scale for the cell checks,
C5's first ones; per (K, scale) for C4; per K for C6, each scale's; 1 for a C11 problem)
and ``value`` (float64; counts are exact, booleans 0/1). :func:`wide` turns one check's
rows back into one row per cell.

The format facts the checks share with the claims' exact constructions (the ulp distance,
the base a format computes with, where a format overflows) are defined here too, so that
this module does not import the claims (their text is not the checks' input).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import mpmath
import numpy as np
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from softmaxlab.dtypes import DTYPES, dtype_name, finfo, sum_tolerance
from softmaxlab.methods import check_params, evaluate, normalize
from softmaxlab.methods import label as method_label
from softmaxlab.metrics import hardmax, tv_to_argmax
from softmaxlab.sampling import EMPIRICAL, logits, sample_z, sample_z_blocks, stream
from softmaxlab.sweep import compute_modes, headline_compute, ks, n_vectors

CHECK_COLUMNS: tuple[str, ...] = (
    "check",
    "distribution",
    "scale",
    "k",
    "dtype",
    "variant",
    "quantity",
    "n",
    "value",
)
#: The columns read as text (softmaxlab.sweep.read_table: a base "2.0" or a problem "7"
#: stays a string until :func:`wide` converts it).
TEXT_COLUMNS: tuple[str, ...] = ("check", "distribution", "dtype", "variant", "quantity")
#: Logits of one block of a cell's vectors: bounds a job's memory whatever the budget
#: (8 MiB of float64 per array; a pass holds a few such arrays per format).
BLOCK_ELEMENTS = 1 << 20
MAIN_DTYPE = "float64"

# --- C4: dCE/dx = p - y by central differences ----------------------------------------------
C4_FD_SCALES = (0.1, 1.0, 10.0)
C4_FD_VECTORS = 20
C4_FD_MAX_K = 100  # 2K evaluations per vector: larger K adds run time, not information

# --- C5: base psi against base e and against temperature 1/ln psi ----------------------------
C5_BASES = (2.0, 3.0, 4.0, 10.0, 100.0)
# Logit elements per (distribution, K, scale): the first vectors of each sweep cell, at
# least one. K above this is measured on the first distribution only.
C5_MAX_ELEMENTS = 1024

# --- C6: softmax(base=1) ---------------------------------------------------------------------
C6_VECTORS = 8
C6_MAX_ELEMENTS = 4096

# --- C7: the bases whose naive softmax the thresholds predict ---------------------------------
#: Bases of the naive softmax whose overflow C7 checks against the analytic threshold.
C7_BASES: tuple[float, ...] = (math.e, 2.0, 3.0, 4.0, 10.0, 100.0)

# --- C11: maximum entropy --------------------------------------------------------------------
C11_PROBLEMS = 120
C11_MAX_K = 12

#: The quantities of each check, in the order its rows are written.
QUANTITIES: dict[str, tuple[str, ...]] = {
    "C4_fd": ("max_abs_difference", "max_abs_gradient"),
    "C5_base": (
        "entries",
        "max_ulps",
        "max_ulps_over_budget",
        "one_route_non_finite",
        "tv_sum",
        "tv_vectors",
        "max_tv_to_base_e",
    ),
    "C6_uniform": (
        "vectors",
        "exactly_uniform",
        "p_value",
        "one_over_k_in_dtype",
        "max_tv_deviation",
        "tolerance",
        "ok_share",
    ),
    "C7_predicted": ("predicted",),
    "C8_anatomy": (
        "vectors_finite_input",
        "overflow_flagged",
        "non_finite_output",
        "x_minus_max_out_of_range",
        "sum_out_of_range",
    ),
    "C11_maxent": (
        "target_mean",
        "beta",
        "max_abs_difference",
        "entropy_numeric",
        "entropy_boltzmann",
        "constraint_residual",
        "solver_success",
        "iterations",
    ),
}
STABLE, NAIVE = "stable", "naive"


# ------------------------------------------------------------------------ the long table


def to_long(check: str, cells: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``check`` (CHECK_COLUMNS) from ``cells``: one row per cell with the key
    columns it has (the others take their empty value), ``n`` and the check's QUANTITIES.
    Cell-major: a cell's quantities are consecutive, in QUANTITIES' order."""
    quantities = QUANTITIES[check]
    count, per = len(cells), len(quantities)

    def key(column: str, empty, dtype) -> np.ndarray:
        values = cells[column].to_numpy() if column in cells else np.full(count, empty)
        return np.repeat(np.asarray(values, dtype=dtype), per)

    values = cells.loc[:, list(quantities)].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "check": np.full(count * per, check, dtype=object),
            "distribution": key("distribution", "", object),
            "scale": key("scale", np.nan, np.float64),
            "k": key("k", 0, np.int64),
            "dtype": key("dtype", "", object),
            "variant": key("variant", "", object),
            "quantity": np.tile(np.asarray(quantities, dtype=object), count),
            "n": key("n", 0, np.int64),
            "value": values.reshape(-1),
        },
        columns=list(CHECK_COLUMNS),
    )


def wide(table: pd.DataFrame, check: str) -> pd.DataFrame:
    """One check's rows of a claim_checks table back as one row per cell, in table order:
    the key columns (distribution, scale, k, dtype, variant, n) and one float64 column per
    quantity. Empty (no rows, the columns still there) when the table has none.
    ValueError when the rows are not cell-major in QUANTITIES' order."""
    quantities = QUANTITIES[check]
    rows = table[table["check"] == check]
    per = len(quantities)
    if len(rows) % per or (rows["quantity"].to_numpy().reshape(-1, per) != quantities).any():
        raise ValueError(f"the {check} rows are not one block of {quantities} per cell")
    firsts = rows.iloc[::per]
    frame = pd.DataFrame(
        {
            "distribution": firsts["distribution"].astype(str).to_numpy(),
            "scale": firsts["scale"].to_numpy(np.float64),
            "k": firsts["k"].to_numpy(np.int64),
            "dtype": firsts["dtype"].astype(str).to_numpy(),
            "variant": firsts["variant"].astype(str).to_numpy(),
            "n": firsts["n"].to_numpy(np.int64),
        }
    )
    values = rows["value"].to_numpy(np.float64).reshape(-1, per)
    for index, quantity in enumerate(quantities):
        frame[quantity] = values[:, index]
    return frame


def read(path) -> pd.DataFrame:
    """A claim_checks table as written (text columns as text, k and n as integers)."""
    # Imported here: the workflow's readers live with the summary's.
    from softmaxlab.sweep import read_table

    return read_table(
        path,
        dtype={
            **{column: "str" for column in TEXT_COLUMNS},
            "scale": np.float64,
            "k": np.int64,
            "n": np.int64,
            "value": np.float64,
        },
    )


# ------------------------------------------------------------------ format facts (shared)

# Digits for the exact thresholds (mpmath): far more than float64's 17, so a derived
# threshold is the correctly rounded value of ln(max)/ln(psi).
THRESHOLD_DIGITS = 40


def _sint(dtype) -> type:
    return {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[np.dtype(dtype).itemsize]


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many representable values of the format lie between a and b (0 when equal), float64.

    The bit patterns of IEEE-style formats (and of bfloat16 and the OCP fp8 formats) are
    sign-magnitude, so mapping a pattern with the sign bit set to minus its magnitude gives
    integers in the order of the values; the ulp distance is their difference (+0 and -0 are
    0 apart). Both NaN: 0; one NaN: inf.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != b.dtype:
        raise ValueError(f"ulp_distance needs one format, got {a.dtype} and {b.dtype}")
    sint = _sint(a.dtype)
    ia = np.ascontiguousarray(a).view(sint).astype(np.int64)
    ib = np.ascontiguousarray(b).view(sint).astype(np.int64)
    if a.dtype.itemsize < 8:
        bits = 8 * a.dtype.itemsize
        mask = (1 << (bits - 1)) - 1
        ordered_a = np.where(ia < 0, -(ia & mask), ia)
        ordered_b = np.where(ib < 0, -(ib & mask), ib)
        dist = np.abs(ordered_a - ordered_b).astype(np.float64)
    else:
        mask = np.int64(0x7FFFFFFFFFFFFFFF)
        mag_a, mag_b = ia & mask, ib & mask
        same_sign = (ia < 0) == (ib < 0)
        dist = np.where(
            same_sign,
            np.abs(mag_a - mag_b).astype(np.float64),
            mag_a.astype(np.float64) + mag_b.astype(np.float64),
        )
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    dist = np.where(nan_a & nan_b, 0.0, dist)
    return np.where(nan_a ^ nan_b, np.inf, dist)


def max_of(dtype) -> float:
    return float(finfo(dtype).max)


def base_in(dtype, base: float) -> float:
    """The base the computation uses: e stays e (exp is called), others are rounded to dtype."""
    return math.e if base == math.e else float(np.asarray(base, dtype=DTYPES[dtype_name(dtype)]))


def overflow_value(dtype, rounding: bool) -> mpmath.mpf:
    """The format's max, or with ``rounding`` the smallest value that rounds to overflow
    under round-to-nearest: max + ulp(max)/2 (ties go to the even neighbour, which is the
    overflow: max has an odd significand)."""
    top = max_of(dtype)
    value = mpmath.mpf(top)
    if rounding:
        info = finfo(dtype)
        value += mpmath.ldexp(mpmath.mpf(float(info.eps)), math.frexp(top)[1] - 1) / 2
    return value


def ln_overflow(dtype) -> float:
    """ln of the smallest value that rounds to overflow in ``dtype`` (max + ulp(max)/2)."""
    with mpmath.workdps(THRESHOLD_DIGITS):
        return float(mpmath.log(overflow_value(dtype, rounding=True)))


def unstable_entry(base: float) -> tuple[str, dict]:
    """The naive softmax of base ``base`` as (method, params)."""
    return ("softmax", {"stable": False} if base == math.e else {"base": base, "stable": False})


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance 1/2 sum |p - q| along the last axis (float64)."""
    return 0.5 * np.sum(np.abs(p.astype(np.float64) - q.astype(np.float64)), axis=-1)


def _dtype_order(names) -> list[str]:
    """The formats among ``names`` in the library's order (widest first)."""
    names = set(names)
    return [name for name in DTYPES if name in names]


# --------------------------------------------------------------------- the cell checks


def plan(config: Mapping) -> list[tuple[str, int]]:
    """The (distribution, K) pairs of the cell jobs, in the sweep's order."""
    return [(name, k) for name in config["distributions"] for k in ks(config, name)]


def plan_jobs(config: Mapping) -> list[list[tuple[str, int]]]:
    """The cell jobs: per distribution, its (distribution, K) pairs in plan order. One job
    a distribution rather than a pair: a job's start (Python, numpy, pandas, softmaxlab)
    costs about 1.5 s, more than most pairs' checks."""
    jobs: dict[str, list[tuple[str, int]]] = {}
    for name, k in plan(config):
        jobs.setdefault(name, []).append((name, k))
    return list(jobs.values())


def job_params(config: Mapping, job: int, jobs: list[list[tuple[str, int]]] | None = None):
    """:func:`cell_params` of every pair of cell job ``job``, in plan order."""
    pairs = plan(config)
    job_pairs = (plan_jobs(config) if jobs is None else jobs)[job]
    return [cell_params(config, pairs.index(tuple(pair)), pairs) for pair in job_pairs]


def cell_params(config: Mapping, shard: int, cells: list[tuple[str, int]] | None = None) -> dict:
    """What cell job ``shard`` computes, as plain data: its distribution (name and spec), K,
    and whether C5 is measured there (K <= C5_MAX_ELEMENTS or the first distribution)."""
    cells = plan(config) if cells is None else cells
    name, k = cells[shard]
    first = next(iter(config["distributions"]))
    return {
        "distribution": name,
        "spec": dict(config["distributions"][name]),
        "k": int(k),
        "c5": bool(k <= C5_MAX_ELEMENTS or name == first),
    }


def logit_files(config: Mapping, distributions) -> list[str]:
    """The logit files of the empirical distributions among ``distributions`` (names): the
    workflow gives them to the jobs as inputs, so that a job waits for a file the workflow
    writes (the training study's digits logits) and reruns when it changes."""
    specs = [config["distributions"][name] for name in distributions]
    return [spec["path"] for spec in specs if spec.get("family") == EMPIRICAL]


def _blocks(seed: int, name: str, spec: Mapping, k: int, n: int) -> Iterator[np.ndarray]:
    """The cell's n vectors z (the sweep's: sample_z's rows), about BLOCK_ELEMENTS at a time."""
    return sample_z_blocks(seed, name, spec, k, n, max(1, BLOCK_ELEMENTS // k))


def c5_stats(x: np.ndarray, k: int) -> list[dict]:
    """Per base of C5_BASES, C5_base's quantities for the logits x (vectors, K) of one cell:
    ulps between softmax(base=psi) and softmax(temperature=1/ln psi) (entries where both
    are finite, the largest, the largest over the rounding budget, entries where only one
    is finite) and the TV between base psi and base e (its sum, the vectors where it is
    finite, the largest)."""
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        shifted = np.abs(x64 - np.max(x64, axis=-1, keepdims=True))
    p_e = normalize(x, "softmax").astype(np.float64)
    stats = []
    for base in C5_BASES:
        by_base = normalize(x, "softmax", base=base)
        by_temp = normalize(x, "softmax", temperature=1 / math.log(base))
        ulps = ulp_distance(by_base, by_temp)
        p_base, p_temp = by_base.astype(np.float64), by_temp.astype(np.float64)
        fin_a, fin_b = np.isfinite(p_base), np.isfinite(p_temp)
        both = fin_a & fin_b
        # The rounding budget in ulps per entry (softmaxlab.claims.bases, C5).
        budget = 1 + shifted * math.log(base) + math.ceil(math.log2(k))
        with np.errstate(invalid="ignore"):
            over_budget = np.where(both, ulps / budget, 0.0)
        tv = total_variation(p_base, p_e)
        tv_ok = np.isfinite(tv)
        stats.append(
            {
                "entries": int(both.sum()),
                "max_ulps": float(np.where(both, ulps, 0.0).max()),
                "max_ulps_over_budget": float(over_budget.max()),
                "one_route_non_finite": int((fin_a ^ fin_b).sum()),
                "tv_sum": float(np.where(tv_ok, tv, 0.0).sum()),
                "tv_vectors": int(tv_ok.sum()),
                "max_tv_to_base_e": float(np.where(tv_ok, tv, 0.0).max()),
            }
        )
    return stats


def c5_cell(z: np.ndarray, k: int, scales: Sequence[float], dtypes: Sequence[str]) -> list[dict]:
    """C5_base's cells (without distribution and n) for the first vectors z of a
    (distribution, K): per format, base and scale, in that order. One scale at a time, so
    that one vector of a huge K is all a pass holds."""
    rows = []
    for dtype in dtypes:
        by_scale = [c5_stats(logits(z, scale, dtype), k) for scale in scales]
        for b, base in enumerate(C5_BASES):
            for j, scale in enumerate(scales):
                rows.append(
                    {"dtype": dtype, "variant": repr(float(base)), "scale": scale, **by_scale[j][b]}
                )
    return rows


def predicted_overflow(
    x64: np.ndarray,
    row_max: np.ndarray,
    finite: np.ndarray,
    ln_base: float,
    ln_over: float,
    dtype: str,
) -> np.ndarray:
    """Rows (with finite input) whose unstable base^x is predicted to overflow.

    A value rounds to infinity (NaN in float8_e4m3fn) at or above max + ulp(max)/2, i.e. at
    ln value >= ``ln_over``. With a_j = x_j ln(base): some term overflows if max a >=
    ln_over. Otherwise the sum may still overflow, possible only where max a + ln K reaches
    ln_over; there the terms are rounded to the format (as computed), summed (in float32
    for formats narrower than float32) and the sum rounded to the format. Rows where every
    term underflows give 0/0 = NaN, which the library counts as NaN, not as overflow.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        m = row_max * ln_base
    over = finite & (m >= ln_over)
    unsure = finite & ~over & (m + math.log(x64.shape[-1]) >= ln_over)
    if unsure.any():
        fmt = DTYPES[dtype]
        acc = np.float32 if fmt.itemsize < 4 else fmt
        with np.errstate(over="ignore", invalid="ignore"):
            terms = np.exp(x64[unsure] * ln_base).astype(fmt)
            total = np.sum(terms, axis=-1, dtype=acc).astype(fmt).astype(np.float64)
        over[unsure] = ~np.isfinite(total)
    return over


def work_format(dtype: str, compute: str) -> str:
    """The format a cell's arithmetic runs in (softmaxlab.methods.compute_dtype): float32
    for a format narrower than float32 computed in float32 mode, else the format itself."""
    return "float32" if compute == "float32" and DTYPES[dtype].itemsize < 4 else dtype


def headline_modes(dtypes: Sequence[str], compute: Mapping) -> dict[str, str]:
    """Each format's compute mode as the claims read it (softmaxlab.sweep.headline_compute
    of the modes the config's ``compute`` entry gives it)."""
    return {
        dtype: headline_compute(dtype, compute_modes({"compute": compute}, dtype))
        for dtype in dtypes
    }


def stable_anatomy(x: np.ndarray, dtype: str, compute: str = "native") -> np.ndarray:
    """Counts of C8_anatomy (its QUANTITIES' order) for the logits x of one cell's block,
    computed in mode ``compute``: rows with finite input, and among them rows the library
    flags as overflowing, rows whose output is non-finite, rows where y = x - max x left
    the range of the format the arithmetic runs in, rows where the sum of e^y (float32 for
    narrow formats, rounded to that format) did."""
    # the exponent-bit tests and the exact widening of softmaxlab.kernels.formats (numba,
    # imported on the first call): the values of isfinite and astype, without ml_dtypes'
    # casts (a quarter of the cell jobs' time)
    from softmaxlab.kernels import formats

    p, overflow = evaluate(x, "softmax", compute=compute)
    finite_in = formats.finite_rows(x)
    fmt = DTYPES[work_format(dtype, compute)]
    acc = np.float32 if fmt.itemsize < 4 else fmt
    x = formats.widen(x, fmt) if fmt != x.dtype else x  # exact: a wider format
    with np.errstate(all="ignore"):
        y = x - np.max(x, axis=-1, keepdims=True)
        total = np.sum(np.exp(y), axis=-1, dtype=acc).astype(fmt)
    y_bad = ~formats.finite_rows(y)
    sum_bad = ~formats.finite_rows(total[..., None])
    out_bad = ~formats.finite_rows(p)
    return np.array(
        [
            finite_in.sum(),
            (overflow & finite_in).sum(),
            (out_bad & finite_in).sum(),
            (y_bad & finite_in).sum(),
            (sum_bad & finite_in).sum(),
        ],
        dtype=np.int64,
    )


def cell_checks(
    seed: int,
    distribution: str,
    spec: Mapping,
    k: int,
    scales: Sequence[float],
    dtypes: Sequence[str],
    vectors: Mapping,
    c5: bool = True,
    compute: Mapping | None = None,
) -> pd.DataFrame:
    """The rows (CHECK_COLUMNS) of C5_base (when ``c5``), C7_predicted and C8_anatomy for
    the sweep's (distribution, K) with the config's scales, formats (``dtypes``),
    ``vectors`` and ``compute`` entries (module docstring). C7 and C8 model each format's
    headline compute mode (:func:`headline_modes`), the one the claims read; C7's rates
    are over the vectors whose rounded logits are finite, as the sweep's are."""
    n = n_vectors({"vectors": vectors}, k)
    scales = [float(scale) for scale in scales]
    c5_dtypes = _dtype_order([*dtypes, MAIN_DTYPE])
    c7_dtypes = c5_dtypes
    c8_dtypes = _dtype_order([*dtypes, MAIN_DTYPE, "float32"])
    labels = [method_label(*_checked(unstable_entry(base))) for base in C7_BASES]
    modes = headline_modes(c8_dtypes, compute or {})
    work = {t: work_format(t, modes[t]) for t in c8_dtypes}
    # the base is a constant of the arithmetic, rounded to the format it runs in
    ln_base = {t: [math.log(base_in(work[t], b)) for b in C7_BASES] for t in c7_dtypes}
    ln_over = {t: ln_overflow(work[t]) for t in c7_dtypes}
    c7_counts = {t: np.zeros((len(C7_BASES), len(scales)), dtype=np.int64) for t in c7_dtypes}
    c7_finite = {t: np.zeros(len(scales), dtype=np.int64) for t in c7_dtypes}
    c8_counts = {t: np.zeros((len(scales), 5), dtype=np.int64) for t in c8_dtypes}
    c5_rows: list[dict] = []
    c5_vectors = max(1, min(n, C5_MAX_ELEMENTS // k))
    from softmaxlab.kernels import formats  # numba, on the first call (stable_anatomy's)

    for index, z in enumerate(_blocks(seed, distribution, spec, k, n)):
        if index == 0 and c5:
            # The first vectors (the first block holds them: BLOCK_ELEMENTS >= C5_MAX_ELEMENTS).
            c5_rows = c5_cell(z[:c5_vectors], k, scales, c5_dtypes)
        for dtype in c8_dtypes:
            for j, scale in enumerate(scales):
                x = logits(z, scale, dtype)
                c8_counts[dtype][j] += stable_anatomy(x, dtype, modes[dtype])
                if dtype not in c7_counts:
                    continue
                x64 = formats.widen(x, np.float64)
                finite = formats.finite_rows(x)
                c7_finite[dtype][j] += int(finite.sum())
                with np.errstate(invalid="ignore"):
                    row_max = np.max(x64, axis=-1)
                for b, lb in enumerate(ln_base[dtype]):
                    over = predicted_overflow(x64, row_max, finite, lb, ln_over[dtype], work[dtype])
                    c7_counts[dtype][b, j] += int(over.sum())
    parts = []
    if c5_rows:
        c5_cells = pd.DataFrame(c5_rows).assign(distribution=distribution, k=int(k), n=c5_vectors)
        parts.append(to_long("C5_base", c5_cells))
    c7_cells = pd.DataFrame(
        [
            {
                "distribution": distribution,
                "scale": scale,
                "k": int(k),
                "dtype": dtype,
                "variant": label,
                # The sweep's n: the vectors whose rounded logits are finite.
                "n": int(c7_finite[dtype][j]),
                # The rate as a mean of 0/1 over those vectors: the count over n.
                "predicted": _share(c7_counts[dtype][b, j], c7_finite[dtype][j]),
            }
            for dtype in c7_dtypes
            for b, label in enumerate(labels)
            for j, scale in enumerate(scales)
        ]
    )
    parts.append(to_long("C7_predicted", c7_cells))
    c8_cells = pd.DataFrame(
        [
            {
                "distribution": distribution,
                "scale": scale,
                "k": int(k),
                "dtype": dtype,
                "n": n,
                **dict(zip(QUANTITIES["C8_anatomy"], c8_counts[dtype][j], strict=True)),
            }
            for dtype in c8_dtypes
            for j, scale in enumerate(scales)
        ]
    )
    parts.append(to_long("C8_anatomy", c8_cells))
    return pd.concat(parts, ignore_index=True)


def job_checks(
    seed: int,
    cells: Sequence[Mapping],
    scales: Sequence[float],
    dtypes: Sequence[str],
    vectors: Mapping,
    compute: Mapping | None = None,
) -> pd.DataFrame:
    """One cell job's table: :func:`cell_checks` of each of its ``cells``
    (:func:`job_params`), in order."""
    tables = [
        cell_checks(
            seed,
            cell["distribution"],
            cell["spec"],
            cell["k"],
            scales,
            dtypes,
            vectors,
            cell["c5"],
            compute,
        )
        for cell in cells
    ]
    return pd.concat(tables, ignore_index=True)


def _share(count: int, n: int) -> float:
    """count / n as float64, NaN when no vector was measured (n = 0)."""
    return np.float64(count) / n if n else np.nan


def _checked(entry: tuple[str, dict]) -> tuple[str, dict]:
    name, params = entry
    return name, check_params(name, dict(params))


# -------------------------------------------------------------------- the fixed checks


def softmax_ce_gradient_check(seed: int, ks: Sequence[int]) -> pd.DataFrame:
    """Max |central FD of CE - (p - y)| per (K, scale) on seeded vectors, in float64.

    CE(x) = -ln softmax(x)_y with softmax from the library; the analytic gradient is p - e_y
    (Bridle 1990). Central differences with h = eps^(1/3) max(1, max|x|) per vector (Nocedal
    & Wright 2006, sec. 8.1); all 2K perturbed vectors go through one normalize call.
    Columns: k, scale, vectors, max_abs_difference, max_abs_gradient.
    """
    rows = []
    eps = np.finfo(np.float64).eps
    for k in ks:
        rng = stream(seed, "claims", "C4", "fd", k)
        for scale in C4_FD_SCALES:
            x = scale * rng.standard_normal((C4_FD_VECTORS, k))
            y = rng.integers(0, k, C4_FD_VECTORS)
            p = normalize(x, "softmax")
            analytic = p - np.eye(k)[y]
            h = np.cbrt(eps) * np.maximum(1.0, np.max(np.abs(x), axis=1))
            steps = h[:, None, None] * np.eye(k)[None]
            plus = normalize(x[:, None, :] + steps, "softmax")
            minus = normalize(x[:, None, :] - steps, "softmax")
            take = y[:, None, None]
            ce_plus = -np.log(np.take_along_axis(plus, take, axis=2)[..., 0])
            ce_minus = -np.log(np.take_along_axis(minus, take, axis=2)[..., 0])
            numeric = (ce_plus - ce_minus) / (2 * h[:, None])
            rows.append(
                {
                    "k": k,
                    "scale": scale,
                    "vectors": C4_FD_VECTORS,
                    "max_abs_difference": float(np.max(np.abs(numeric - analytic))),
                    "max_abs_gradient": float(np.max(np.abs(analytic))),
                }
            )
    return pd.DataFrame(rows)


def c4_ks(configured: Sequence[int]) -> list[int]:
    """The K of C4's check: the configured K up to C4_FD_MAX_K, else the smallest."""
    return sorted(k for k in configured if k <= C4_FD_MAX_K) or [min(configured)]


def uniform_tolerance(dtype: str, k: int) -> float:
    """How far TV to the one-hot may stray from 1 - m/K for softmax(base=1) in ``dtype``:
    every entry is q = 1/K rounded, and with q = (1 + d)/K the TV is exactly
    1 - m/K + (K - 2m) d / (2K), so |TV - (1 - m/K)| <= |d| / 2. One rounding to the format
    (two in float32 compute: to float32, then to the format) keeps |d| within its unit
    roundoff u where 1/K is normal there; the TV's own float64 sum adds at most
    sum_tolerance(float64, K). So u + that. Where 1/K is below the format's normal range
    its rounding can exceed u (float8_e4m3fn at K = 1000: q = 2^-9, twice 1/K, the entries
    summing to 1.95) and the check fails: equal entries, but no distribution. The format's
    own sum tolerance, (ceil(log2 K) + 2) eps, would reach 1 or more in the 8-bit formats
    and could not fail there."""
    return float(finfo(dtype).eps) / 2 + sum_tolerance("float64", k)


def uniform_rows(
    seed: int,
    distribution: str,
    spec: Mapping,
    configured_ks: Sequence[int],
    scales: Sequence[float],
    dtypes: Sequence[str],
    compute: Mapping | None = None,
) -> pd.DataFrame:
    """softmax(base=1) on the first vectors of ``distribution`` (the sweep's stream), per
    (format, K, stable), in each format's headline compute mode (:func:`headline_modes` of
    the config's ``compute``): all entries equal, and TV to the one-hot = 1 - m/K (m tied
    maximisers) within :func:`uniform_tolerance`."""
    grid = np.array(scales, dtype=np.float64)
    modes = headline_modes(dtypes, compute or {})
    rows = []
    for dtype in dtypes:
        for k in configured_ks:
            n = max(1, min(C6_VECTORS, C6_MAX_ELEMENTS // k))
            z = sample_z(seed, distribution, spec, k, n)
            x = np.stack([logits(z, s, dtype) for s in grid]).reshape(-1, k)
            x64 = x.astype(np.float64)
            finite = np.all(np.isfinite(x64), axis=-1)
            ties = np.sum(x64 == np.max(x64, axis=-1, keepdims=True), axis=-1)
            expected = 1 - ties / k
            for stable in (False, True):
                p, _ = evaluate(x, "softmax", base=1.0, stable=stable, compute=modes[dtype])
                p64 = p.astype(np.float64)
                equal = np.all(p64 == p64[:, :1], axis=-1) & np.all(np.isfinite(p64), axis=-1)
                tv = tv_to_argmax(p64, hardmax(x64))
                with np.errstate(invalid="ignore"):
                    dev = np.abs(tv - expected)
                tol = uniform_tolerance(dtype, k)
                ok = equal & (dev <= tol)
                rows.append(
                    {
                        "dtype": dtype,
                        "k": k,
                        "stable": stable,
                        "n": n,
                        "vectors": int(finite.sum()),
                        "exactly_uniform": float(np.mean(equal[finite])),
                        "p_value": float(p64[finite][0, 0]) if finite.any() else math.nan,
                        "one_over_k_in_dtype": float(np.asarray(1 / k, dtype=DTYPES[dtype])),
                        "max_tv_deviation": float(np.nanmax(dev[finite]))
                        if np.isfinite(dev[finite]).any()
                        else math.nan,
                        "tolerance": tol,
                        "ok_share": float(np.mean(ok[finite])),
                    }
                )
    return pd.DataFrame(rows)


def _boltzmann(energy: np.ndarray, beta: float) -> np.ndarray:
    w = np.exp(-beta * (energy - (energy.min() if beta >= 0 else energy.max())))
    return w / w.sum()


def _boltzmann_beta(energy: np.ndarray, target: float) -> float:
    """beta with sum_i p_i(beta) E_i = target, p(beta) = exp(-beta E)/Z (brentq; the mean
    falls strictly with beta, d mean / d beta = -Var_p(E) < 0)."""

    def gap(beta):
        return float(_boltzmann(energy, beta) @ energy) - target

    lo, hi = -1.0, 1.0
    while gap(lo) <= 0:
        lo *= 2
    while gap(hi) >= 0:
        hi *= 2
    return optimize.brentq(gap, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)


def _maxent_numeric(energy: np.ndarray, target: float) -> tuple[np.ndarray, bool, int]:
    """argmax of -sum p ln p subject to sum p = 1, p . E = target, 0 <= p, by SLSQP.

    Start: the uniform distribution mixed with a point mass at the lowest or highest energy
    so that the start is feasible and strictly positive.
    """
    k = len(energy)
    mean_u = energy.mean()
    j = int(np.argmin(energy) if target <= mean_u else np.argmax(energy))
    lam = 0.0 if energy[j] == mean_u else (target - mean_u) / (energy[j] - mean_u)
    p0 = np.full(k, (1 - lam) / k)
    p0[j] += lam
    floor = 1e-300

    def neg_entropy(p):
        q = np.maximum(p, floor)
        return float(np.sum(q * np.log(q)))

    def grad(p):
        return np.log(np.maximum(p, floor)) + 1.0

    cons = [
        {"type": "eq", "fun": lambda p: np.sum(p) - 1.0, "jac": lambda p: np.ones(k)},
        {"type": "eq", "fun": lambda p: p @ energy - target, "jac": lambda p: energy},
    ]
    res = optimize.minimize(
        neg_entropy,
        p0,
        jac=grad,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=cons,
        options={"ftol": 1e-16, "maxiter": 1000},
    )
    return res.x, bool(res.success), int(res.nit)


def maxent_check(seed: int, problems: int = C11_PROBLEMS) -> pd.DataFrame:
    """Numerical maximum entropy vs Boltzmann on seeded problems, one row per problem.

    Each problem: K in [2, C11_MAX_K], energies E ~ N(0, 1), target mean E_min + u (E_max -
    E_min) with u ~ U(0.05, 0.95) (strictly feasible). Jaynes (1957): the maximiser is
    p = exp(-beta E)/Z with beta fixed by the mean constraint.
    """
    rng = stream(seed, "claims", "C11")
    # SLSQP stops at float64 noise (ftol 1e-16), where BLAS's threaded kernels round
    # differently from its single-threaded ones: one BLAS thread makes the table the same
    # in a notebook as in a Snakemake job (which runs with OPENBLAS_NUM_THREADS=1).
    with threadpool_limits(limits=1, user_api="blas"):
        rows = [_maxent_problem(rng, index) for index in range(problems)]
    return pd.DataFrame(rows)


def _maxent_problem(rng: np.random.Generator, index: int) -> dict:
    """One problem of maxent_check, drawn from ``rng``."""
    k = int(rng.integers(2, C11_MAX_K + 1))
    energy = rng.standard_normal(k)
    u = rng.uniform(0.05, 0.95)
    target = float(energy.min() + u * (energy.max() - energy.min()))
    beta = _boltzmann_beta(energy, target)
    p_b = _boltzmann(energy, beta)
    p_n, success, nit = _maxent_numeric(energy, target)
    ent = special.entr
    return {
        "problem": index,
        "k": k,
        "target_mean": target,
        "beta": beta,
        "max_abs_difference": float(np.max(np.abs(p_n - p_b))),
        "entropy_numeric": float(np.sum(ent(np.maximum(p_n, 0)))),
        "entropy_boltzmann": float(np.sum(ent(p_b))),
        "constraint_residual": float(abs(p_n @ energy - target) + abs(p_n.sum() - 1)),
        "solver_success": success,
        "iterations": nit,
    }


def fixed_checks(
    seed: int,
    configured_ks: Sequence[int],
    scales: Sequence[float],
    dtypes: Sequence[str],
    first: Mapping[str, Mapping],
    compute: Mapping | None = None,
) -> pd.DataFrame:
    """The rows (CHECK_COLUMNS) of C4_fd, C6_uniform (on ``first``, the config's first
    distribution as {name: spec}, each format in its headline compute mode of ``compute``)
    and C11_maxent (module docstring)."""
    fd = softmax_ce_gradient_check(seed, c4_ks(configured_ks))
    [(name, spec)] = first.items()
    uniform = uniform_rows(
        seed, name, spec, configured_ks, scales, _dtype_order([*dtypes, MAIN_DTYPE]), compute
    )
    uniform = uniform.assign(distribution=name, variant=np.where(uniform["stable"], STABLE, NAIVE))
    maxent = maxent_check(seed)
    return pd.concat(
        [
            to_long("C4_fd", fd.assign(dtype=MAIN_DTYPE, n=fd["vectors"])),
            to_long("C6_uniform", uniform),
            to_long(
                "C11_maxent",
                maxent.assign(dtype=MAIN_DTYPE, variant=maxent["problem"].astype(str), n=1),
            ),
        ],
        ignore_index=True,
    )


def first_distribution(config: Mapping) -> dict[str, dict]:
    """The config's first distribution as {name: spec} (C6 draws from it)."""
    name, spec = next(iter(config["distributions"].items()))
    return {name: dict(spec)}


def merge(fixed: pd.DataFrame, cells: Sequence[pd.DataFrame], planned: Sequence) -> pd.DataFrame:
    """The table claim_checks.csv: the fixed checks' rows, then each cell job's in plan
    order. ``planned``: per cell job's table, its (distribution, K) pairs (plan_jobs).
    ValueError when a table's rows are not those of its planned pairs, in that order."""
    for frame, pairs in zip(cells, planned, strict=True):
        expected = [(str(name), int(k)) for name, k in pairs]
        found = list(dict.fromkeys(zip(frame["distribution"], frame["k"].astype(int), strict=True)))
        if found != expected:
            raise ValueError(f"a cell table holds {found}, planned {expected}")
    return pd.concat([fixed, *cells], ignore_index=True)[list(CHECK_COLUMNS)]


def checks_table(config: Mapping) -> pd.DataFrame:
    """The whole table for a (validated) config in one process, as the workflow's jobs
    compute it (cell jobs, then the merge): for tests and notebooks."""
    jobs = plan_jobs(config)
    cells = [
        job_checks(
            config["seed"],
            job_params(config, job, jobs),
            config["scales"],
            config["dtypes"],
            config["vectors"],
            config.get("compute", {}),
        )
        for job in range(len(jobs))
    ]
    fixed = fixed_checks(
        config["seed"],
        config["k"],
        config["scales"],
        config["dtypes"],
        first_distribution(config),
        config.get("compute", {}),
    )
    return merge(fixed, cells, jobs)
