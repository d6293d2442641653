"""The claims ledger: each claim of the thread (C1-C13) as a measured hypothesis and a verdict.

The thread (Cross Validated, "why use exp in softmax?", kept in ``seed/``) makes thirteen
claims, listed in ``claims.md``. For each, :func:`build_ledger` measures a number on the
sweep's summary table, on an exact construction, or on a seeded sample the library computes
here, and decides the verdict (holds / holds with conditions / does not hold) in code, with
the tolerances below. Nothing in a verdict is typed in: change the data and the verdict
follows.

Where the summary lacks a method, distribution or format a claim needs (a small config),
the missing cells are measured with :func:`softmaxlab.sweep.run_cells` on the same seeded
vectors the sweep would have used, so every claim still gets a computed verdict and the
same config always gives the same ledger, byte for byte.

Sources: Bridle (1990) for softmax; Goodfellow, Bengio & Courville (2016, sec. 4.1) for the
max-subtraction; Jaynes (1957) for the maximum-entropy (Boltzmann) derivation; Robbins
(1955) for Stirling's series ln n! = n ln n - n + (1/2) ln(2 pi n) + O(1/n); Nakanishi (2025)
for scalable softmax (ssmax).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import mpmath
import numpy as np
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from softmaxlab.config import method_specs
from softmaxlab.dtypes import DTYPES, dtype_name, finfo, sum_tolerance
from softmaxlab.methods import check_params, evaluate, normalize
from softmaxlab.methods import label as method_label
from softmaxlab.metrics import GRAD_VANISHING_THRESHOLD, hardmax, tv_to_argmax
from softmaxlab.sampling import family_params, logits, sample_z, stream
from softmaxlab.sweep import cells, n_vectors, run_cells

LEDGER_COLUMNS: tuple[str, ...] = (
    "claim",
    "statement",
    "measure",
    "value",
    "verdict",
    "conditions",
)
HOLDS, CONDITIONAL, FAILS = "holds", "holds with conditions", "does not hold"
VERDICTS: tuple[str, ...] = (HOLDS, CONDITIONAL, FAILS)

# --- C1: the worked example ---------------------------------------------------------------
EXAMPLE_X: tuple[float, ...] = (2.0, 4.0, 2.0, 1.0)
# The numbers printed in the thread's answer (the claim under test, not a result).
THREAD_EXAMPLE: dict[str, tuple[float, ...]] = {
    "argmax": (0.0, 1.0, 0.0, 0.0),
    "linear": (0.2222, 0.4444, 0.2222, 0.1111),
    "softmax": (0.1025, 0.7573, 0.1025, 0.0377),
}
# The thread prints 4 decimals: a computed value matches when it rounds to the printed one.
EXAMPLE_DECIMALS = 4
EXAMPLE_COLUMNS = ("method", "label", "p1", "p2", "p3", "p4", "sum")

# The format the format-independent claims are measured in (supplemented if not configured).
MAIN_DTYPE = "float64"

# --- C3 ----------------------------------------------------------------------------------
# "Zero almost everywhere": hardmax's gradient may be non-zero only where the finite-difference
# step crosses a tie, which for continuous logits is a vanishing share; we allow 1% of vectors.
C3_ALMOST_EVERYWHERE = 0.99

# --- C4 ----------------------------------------------------------------------------------
# Central differences in float64 with h = eps^(1/3) max(1, |x|) are accurate to about
# eps^(2/3) ~ 4e-11 times the size of the third derivative and of |CE|; for |x| <= ~30 and
# CE <= ~60 that stays below 1e-8, so 1e-7 separates a wrong gradient from rounding.
C4_FD_TOLERANCE = 1e-7
C4_FD_SCALES = (0.1, 1.0, 10.0)
C4_FD_VECTORS = 20
C4_FD_MAX_K = 100  # 2K evaluations per vector: larger K adds run time, not information

# --- C5 ----------------------------------------------------------------------------------
C5_BASES = (2.0, 3.0, 4.0, 10.0, 100.0)
# psi^y and e^(y/T), T = 1/ln psi, y = x - max x, differ only by rounding. Per entry, with
# a = y ln psi and unit roundoff u: the exponent's argument is rounded once in the base route
# (the base rounded to the format) and twice in the temperature route (T, then y/T), each
# error amplified by exp's condition number |a|; the power/exp rounds once per route; the sum
# of K terms carries up to ceil(log2 K) roundings (pairwise summation); the quotient one. That
# is a relative difference of at most u (3|a| + 2 ceil(log2 K) + 4), i.e. that many ulps, so
# we allow |ulps| <= 4 (1 + |a| + ceil(log2 K)): within it, the two are "the same" up to
# rounding.
C5_ULPS_PER_ROUNDING = 4.0
# Logit elements per (distribution, K, scale) regenerated for C5: the first vectors of each
# sweep cell, at least one. K above this is measured on the first distribution only (one
# vector of K = 10000 in every format costs as much as all smaller K together).
C5_MAX_ELEMENTS = 1024

# --- C6 ----------------------------------------------------------------------------------
C6_VECTORS = 8
C6_MAX_ELEMENTS = 4096

# --- C7/C8/C10 ---------------------------------------------------------------------------
C7_BASES: tuple[float, ...] = (math.e, 2.0, 3.0, 4.0, 10.0, 100.0)
# Digits for the exact thresholds (mpmath): far more than float64's 17, so the derived
# threshold is the correctly rounded value of ln(max)/ln(psi).
THRESHOLD_DIGITS = 40
# The measured overflow rate agrees with the prediction from the analytic thresholds when
# the counts differ by less than one vector per cell (the same vectors are regenerated).
C7_COUNT_TOLERANCE = 0.5
C10_SHIFT = 0.5
C10_VECTORS = 100
# Softmax is shift-invariant up to rounding: |p(x + c) - p(x)| is a few float64 ulps of the
# arguments (~1e-15); 1e-12 leaves room, and anything above it is a real change.
C10_SHIFT_TOLERANCE = 1e-12

# --- C11 ---------------------------------------------------------------------------------
C11_PROBLEMS = 120
C11_MAX_K = 12
# Boltzmann vs numerical maximum-entropy solution: the target accuracy.
C11_TOLERANCE = 1e-6

# --- C12 ---------------------------------------------------------------------------------
C12_MAX_N = 10**6
C12_TABLE_N = (1, 2, 5, 10, 100, 10**3, 10**4, 10**5, 10**6)
C12_REL_TARGET = 0.01  # "under 1%"

# --- C13 ---------------------------------------------------------------------------------
C13_TV_TARGET = 0.1  # the scale at which softmax is within TV 0.1 of the one-hot
C13_TV_LIMIT = 0.05  # "distance -> 0": below this at the largest configured scale

RATE_SHARE_TOLERANCE = 0.0  # rates are means of 0/1: "never" means exactly 0


@dataclass
class _Claim:
    claim: str
    statement: str
    measure: str
    value: str
    verdict: str
    conditions: str
    details: dict[str, pd.DataFrame] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# small helpers


def _g(value, digits: int = 4) -> str:
    """A number for the ledger's text: n/a for NaN, else ``digits`` significant digits."""
    if value is None:
        return "n/a"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}g}"


def _pct(value) -> str:
    return "n/a" if value is None or math.isnan(float(value)) else f"{100 * float(value):.3g}%"


def _dtype_order(names: Iterable[str]) -> list[str]:
    names = set(names)
    return [name for name in DTYPES if name in names]


def _sort(frame: pd.DataFrame, orders: Mapping[str, Sequence | None]) -> pd.DataFrame:
    """Rows sorted by the given columns; a column with a list sorts in that list's order."""
    if frame.empty:
        return frame.reset_index(drop=True)
    keys = []
    for column, values in orders.items():
        if values is None:
            keys.append(frame[column].to_numpy())
        else:
            rank = {value: index for index, value in enumerate(values)}
            keys.append(frame[column].map(lambda v, rank=rank: rank.get(v, len(rank))).to_numpy())
    return frame.iloc[np.lexsort(list(reversed(keys)))].reset_index(drop=True)


def _nonnegative_support(spec: Mapping) -> bool:
    """Whether a distribution only draws values >= 0 (linear normalisation is then defined)."""
    params = family_params(spec)
    family = spec["family"]
    return family in ("lognormal", "exponential") or (family == "uniform" and params["low"] >= 0)


def _pool(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The pooled mean over the vectors of several cells: sum(n mean) / sum(n), per group.

    Cells whose mean is NaN (no finite observation) are left out; ``n`` is the pooled count.
    """
    f = frame[frame["n"].gt(0) & frame["mean"].notna()]
    f = f.assign(_w=f["n"] * f["mean"])
    grouped = f.groupby(by, sort=True)[["_w", "n"]].sum()
    out = pd.DataFrame({"mean": grouped["_w"] / grouped["n"], "n": grouped["n"]})
    return out.reset_index()


def _log_crossing(scales: np.ndarray, values: np.ndarray, level: float = 0.0) -> float:
    """The scale where ``values`` last crosses ``level`` from <= to >, interpolated linearly in
    log(scale); NaN if it never crosses upward (all above or all at/below)."""
    above = values > level
    index = np.flatnonzero(~above[:-1] & above[1:])
    if len(index) == 0:
        return math.nan
    i = index[-1]
    v0, v1 = values[i], values[i + 1]
    frac = 0.0 if v1 == v0 else (level - v0) / (v1 - v0)
    return float(np.exp(np.log(scales[i]) + frac * (np.log(scales[i + 1]) - np.log(scales[i]))))


def _uint(dtype) -> type:
    return {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[np.dtype(dtype).itemsize]


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


# ------------------------------------------------------------------------------------------
# thresholds (exact constructions)


def _max_of(dtype) -> float:
    return float(finfo(dtype).max)


def _base_in(dtype, base: float) -> float:
    """The base the computation uses: e stays e (exp is called), others are rounded to dtype."""
    return math.e if base == math.e else float(np.asarray(base, dtype=DTYPES[dtype_name(dtype)]))


def _overflow_value(dtype, rounding: bool) -> mpmath.mpf:
    """The format's max, or with ``rounding`` the smallest value that rounds to overflow
    under round-to-nearest: max + ulp(max)/2 (ties go to the even neighbour, which is the
    overflow: max has an odd significand)."""
    top = _max_of(dtype)
    value = mpmath.mpf(top)
    if rounding:
        info = finfo(dtype)
        value += mpmath.ldexp(mpmath.mpf(float(info.eps)), math.frexp(top)[1] - 1) / 2
    return value


def exp_overflow_threshold(
    dtype, base: float = math.e, round_base: bool = True, rounding: bool = False
) -> float:
    """x above which base^x exceeds the format's largest finite value: ln(max) / ln(base).

    Computed with mpmath (40 digits) from ``ml_dtypes.finfo(dtype).max`` and rounded once to
    float64: 709.782712893384 for e and 154.127... for 100 in float64. With ``round_base``
    the base is first rounded to the format, as the computation does (100 is 96 in fp8);
    with ``rounding`` the threshold is where the power rounds to overflow, ln(max +
    ulp(max)/2) / ln(base) (the same float64 number; later in coarse formats: in
    float8_e5m2 3^10 = 59049 > max = 57344 still rounds to max).
    """
    base = _base_in(dtype, base) if round_base else base
    with mpmath.workdps(THRESHOLD_DIGITS):
        log_base = mpmath.mpf(1) if base == math.e else mpmath.log(mpmath.mpf(base))
        return float(mpmath.log(_overflow_value(dtype, rounding)) / log_base)


def iterated_exp_threshold(dtype, depth: int, rounding: bool = False) -> float:
    """x above which exp applied ``depth`` times overflows: ln applied ``depth`` times to max
    (``rounding``: to max + ulp(max)/2, as in :func:`exp_overflow_threshold`).

    float64: depth 1 gives 709.78, depth 2 ln ln max = 6.5650, depth 3 ln ln ln max = 1.8817.
    Intermediate roundings are ignored, so in narrow formats the computation may overflow a
    few ulps earlier (the table shows where).
    """
    with mpmath.workdps(THRESHOLD_DIGITS):
        value = _overflow_value(dtype, rounding)
        for _ in range(depth):
            value = mpmath.log(value)
        return float(value)


def _from_bits(bits: int, dtype) -> float:
    return float(np.array(bits, dtype=_uint(dtype)).view(dtype)[()])


def _to_bits(value: float, dtype) -> int:
    return int(np.asarray(value, dtype=dtype).view(_uint(dtype))[()])


def _overflows(value: float, dtype, method: str, params: Mapping) -> bool:
    x = np.array([[0.0, value]]).astype(dtype)
    return bool(evaluate(x, method, **params)[1][0])


def overflow_boundary(dtype, method: str, **params) -> float:
    """The largest x >= 0 representable in ``dtype`` for which ``method`` on [0, x] does not
    overflow (bisection over the bit patterns of the positive values, which are ordered like
    the values); the format's max if nothing overflows. The library's overflow flag decides."""
    dtype = DTYPES[dtype_name(dtype)]
    lo, hi = 0, _to_bits(_max_of(dtype), dtype)
    if _overflows(0.0, dtype, method, params):
        return math.nan
    if not _overflows(_from_bits(hi, dtype), dtype, method, params):
        return _from_bits(hi, dtype)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _overflows(_from_bits(mid, dtype), dtype, method, params):
            hi = mid
        else:
            lo = mid
    return _from_bits(lo, dtype)


def _neighbours(value: float, dtype) -> tuple[float, float]:
    """The representable values of dtype just below and just above ``value`` (> 0)."""
    dtype = DTYPES[dtype_name(dtype)]
    bits = _to_bits(value, dtype)
    rounded = _from_bits(bits, dtype)
    below_bits = bits if rounded < value else bits - 1
    above_bits = bits if rounded > value else bits + 1
    return _from_bits(below_bits, dtype), _from_bits(above_bits, dtype)


def threshold_check(dtype, threshold: float, method: str, **params) -> dict:
    """Whether [0, t-] stays finite and [0, t+] overflows, t- and t+ the representable values
    just below and above the derived threshold, plus the library's empirical boundary."""
    below, above = _neighbours(threshold, dtype)
    boundary = overflow_boundary(dtype, method, **params)
    over_below = _overflows(below, dtype, method, params)
    over_above = _overflows(above, dtype, method, params)
    return {
        "x_below": below,
        "overflow_below": over_below,
        "x_above": above,
        "overflow_above": over_above,
        "empirical_boundary": boundary,
        "consistent": (not over_below) and over_above,
    }


# ------------------------------------------------------------------------------------------
# C1 worked example


def worked_example(methods_config: Sequence[Mapping]) -> pd.DataFrame:
    """x = [2, 4, 2, 1] in float64 through argmax, linear and softmax (first, the thread's
    three) and then every other configured method, in config order.

    Columns: method, label, p1..p4 (full precision) and sum (float64 sum of p).
    """
    thread = [{"method": name} for name in THREAD_EXAMPLE]
    specs = method_specs({"methods": [*thread, *methods_config]})
    seen: set[str] = set()
    rows = []
    x = np.array(EXAMPLE_X, dtype=np.float64)
    for name, params, label in specs:
        if label in seen:
            continue
        seen.add(label)
        p = normalize(x, name, **params).astype(np.float64)
        rows.append(
            {
                "method": name,
                "label": label,
                **{f"p{i + 1}": float(p[i]) for i in range(len(x))},
                "sum": float(np.sum(p)),
            }
        )
    return pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS))


def _claim_c1(example: pd.DataFrame | None, config: Mapping) -> _Claim:
    if example is None or not set(THREAD_EXAMPLE) <= set(example["label"]):
        example = worked_example(config["methods"])
    detail = example[list(EXAMPLE_COLUMNS)].copy()
    cols = [f"p{i + 1}" for i in range(len(EXAMPLE_X))]
    thread = np.full((len(detail), len(cols)), np.nan)
    matches = [None] * len(detail)
    worst = 0.0
    failed = []
    for row, label in enumerate(detail["label"]):
        if label in THREAD_EXAMPLE:
            expected = np.array(THREAD_EXAMPLE[label])
            got = detail.loc[detail.index[row], cols].to_numpy(np.float64)
            thread[row] = expected
            ok = bool(np.all(np.round(got, EXAMPLE_DECIMALS) == expected))
            matches[row] = ok
            worst = max(worst, float(np.max(np.abs(got - expected))))
            if not ok:
                failed.append(label)
    for i, col in enumerate(cols):
        detail[f"thread_{col}"] = thread[:, i]
    detail["matches_thread_4dp"] = matches
    get = detail.set_index("label")
    soft, lin = get.loc["softmax", "p2"], get.loc["linear", "p2"]
    others = len(detail) - len(THREAD_EXAMPLE)
    value = (
        f"argmax, linear, softmax match the thread to {EXAMPLE_DECIMALS} decimals: "
        f"{3 - len(failed)}/3 (max |p - printed| = {_g(worst, 3)}); p(max) softmax "
        f"{soft:.4f} vs linear {lin:.4f}; {others} other methods tabulated"
    )
    verdict = HOLDS if not failed else FAILS
    conditions = (
        "exact for float64 on this vector"
        if not failed
        else f"mismatch for {', '.join(failed)} at {EXAMPLE_DECIMALS} decimals"
    )
    return _Claim(
        "C1",
        "For x = [2, 4, 2, 1]: argmax [0,1,0,0], linear [0.2222,0.4444,0.2222,0.1111], "
        "softmax [0.1025,0.7573,0.1025,0.0377].",
        "The vector through every method in float64; rounded to 4 decimals vs the thread.",
        value,
        verdict,
        conditions,
        {"C1_worked_example": detail},
    )


# ------------------------------------------------------------------------------------------
# access to the summary, supplemented by direct measurement


_SUMMARY_USED = ("distribution", "scale", "k", "dtype", "method", "label", "metric", "n", "mean")
_METRICS_USED = (
    "tv_to_argmax",
    "entropy",
    "max_prob",
    "grad_norm",
    "grad_vanishes",
    "overflow",
    "nan",
    "underflow",
    "invalid",
)


class _Data:
    """The summary's rows, by label, plus rows measured here for what the summary lacks."""

    def __init__(self, summary: pd.DataFrame, config: Mapping):
        self.config = config
        frame = summary.loc[summary["metric"].isin(_METRICS_USED), list(_SUMMARY_USED)]
        frame = frame.assign(
            scale=frame["scale"].astype(np.float64), k=frame["k"].astype(np.int64), source="sweep"
        )
        self.by_label: dict[str, pd.DataFrame] = {
            label: part for label, part in frame.groupby("label", sort=True)
        }
        self.present: set[tuple[str, str, str]] = set(
            map(tuple, frame[["label", "distribution", "dtype"]].drop_duplicates().to_numpy())
        )
        self.measured_directly: list[str] = []
        specs = method_specs(config)
        self.params: dict[str, tuple[str, dict]] = {lab: (n, p) for n, p, lab in specs}

    @property
    def distributions(self) -> dict[str, dict]:
        return {name: dict(spec) for name, spec in self.config["distributions"].items()}

    def with_fallback(self, want_nonnegative: bool) -> dict[str, dict]:
        """Config distributions, plus one measured here if none has the wanted support."""
        dists = self.distributions
        if any(_nonnegative_support(spec) == want_nonnegative for spec in dists.values()):
            return dists
        name, spec = (
            ("positive", {"family": "uniform", "low": 0.0, "high": 1.0})
            if want_nonnegative
            else ("normal", {"family": "normal"})
        )
        while name in dists:
            name += "_direct"
        return {**dists, name: spec}

    def rows(
        self,
        entries: Sequence[tuple[str, Mapping]],
        distributions: Mapping[str, Mapping] | None = None,
        dtypes: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Summary rows of the given methods on the given distributions and formats, over the
        config's scales and K; measured with run_cells where the summary has none."""
        distributions = dict(distributions if distributions is not None else self.distributions)
        dtypes = list(dtypes if dtypes is not None else self.config["dtypes"])
        labels = []
        for name, params in entries:
            full = check_params(name, dict(params))
            lab = method_label(name, full)
            labels.append(lab)
            self.params.setdefault(lab, (name, full))
        missing = [
            (lab, d, t)
            for lab in labels
            for d in distributions
            for t in dtypes
            if (lab, d, t) not in self.present
        ]
        if missing:
            self._measure(missing, distributions)
        parts = [self.by_label[lab] for lab in dict.fromkeys(labels) if lab in self.by_label]
        if not parts:
            return pd.DataFrame(columns=[*_SUMMARY_USED, "source"])
        frame = pd.concat(parts, ignore_index=True)
        keep = frame["distribution"].isin(list(distributions)) & frame["dtype"].isin(dtypes)
        if metrics is not None:
            keep &= frame["metric"].isin(list(metrics))
        return frame[keep].reset_index(drop=True)

    def _measure(self, missing: list[tuple[str, str, str]], distributions: Mapping) -> None:
        labels = list(dict.fromkeys(lab for lab, _, _ in missing))
        dists = list(dict.fromkeys(d for _, d, _ in missing))
        dtypes = _dtype_order(t for _, _, t in missing)
        sub = {
            "seed": self.config["seed"],
            "scales": list(self.config["scales"]),
            "k": list(self.config["k"]),
            "dtypes": dtypes,
            "distributions": {d: dict(distributions[d]) for d in dists},
            "methods": [{"method": self.params[lab][0], **self.params[lab][1]} for lab in labels],
            "vectors": dict(self.config["vectors"]),
            "grad_vectors": self.config["grad_vectors"],
            "quantile_vectors": self.config["quantile_vectors"],
        }
        frame = run_cells(sub, cells(sub))
        frame = frame.loc[frame["metric"].isin(_METRICS_USED), list(_SUMMARY_USED)]
        wanted = set(missing)
        keys = list(zip(frame["label"], frame["distribution"], frame["dtype"], strict=True))
        frame = frame[[key in wanted for key in keys]].assign(
            scale=lambda f: f["scale"].astype(np.float64),
            k=lambda f: f["k"].astype(np.int64),
            source="direct",
        )
        for lab, part in frame.groupby("label", sort=True):
            old = self.by_label.get(lab)
            self.by_label[lab] = part if old is None else pd.concat([old, part], ignore_index=True)
        self.present |= wanted
        for lab, d, t in missing:
            self.measured_directly.append(f"{lab} on {d} in {t}")


def _wide(frame: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """(label, metric) columns of the cell means, one row per ``index``."""
    return frame.pivot_table(
        index=index, columns=["label", "metric"], values="mean", aggfunc="first"
    )


# ------------------------------------------------------------------------------------------
# C2 distance to argmax: softmax vs linear


def _claim_c2(data: _Data) -> _Claim:
    dists = data.with_fallback(want_nonnegative=True)
    rows = data.rows(
        [("softmax", {}), ("linear", {})], dists, [MAIN_DTYPE], ["tv_to_argmax", "invalid"]
    )
    wide = _wide(rows, ["distribution", "k", "scale"])
    table = pd.DataFrame(
        {
            "tv_softmax": wide[("softmax", "tv_to_argmax")],
            "tv_linear": wide[("linear", "tv_to_argmax")],
            "linear_invalid_rate": wide[("linear", "invalid")],
        }
    ).reset_index()
    table.insert(
        1,
        "support",
        [
            "non-negative" if _nonnegative_support(dists[d]) else "signed"
            for d in table["distribution"]
        ],
    )
    table["softmax_closer"] = table["tv_softmax"] < table["tv_linear"]
    table = _sort(table, {"distribution": list(dists), "k": None, "scale": None})
    crossings = []
    for (dist, k), part in table.groupby(["distribution", "k"], sort=False):
        d = (part["tv_linear"] - part["tv_softmax"]).to_numpy(np.float64)
        closer = part["softmax_closer"].to_numpy()
        scales = part["scale"].to_numpy(np.float64)
        if closer.all():
            regime, cross = "softmax closer at every scale", math.nan
        elif not closer.any():
            regime, cross = "linear closer (or equal) at every scale", math.nan
        else:
            cross = _log_crossing(scales, np.nan_to_num(d, nan=-np.inf))
            regime = (
                "linear closer below, softmax closer above the crossover"
                if closer[-1] and not closer[0]
                else "mixed"
            )
        crossings.append(
            {
                "distribution": dist,
                "support": part["support"].iloc[0],
                "k": k,
                "crossover_scale": cross,
                "softmax_closer_scales": int(closer.sum()),
                "scales": len(closer),
                "regime": regime,
            }
        )
    cross = pd.DataFrame(crossings)
    pos = table[table["support"] == "non-negative"]
    sig = table[table["support"] == "signed"]
    share_all = float(table["softmax_closer"].mean())
    share_pos = float(pos["softmax_closer"].mean()) if len(pos) else math.nan
    share_sig = float(sig["softmax_closer"].mean()) if len(sig) else math.nan
    pos_cross = cross[(cross["support"] == "non-negative") & cross["crossover_scale"].notna()]
    cross_text = ", ".join(
        f"{d} K={k}: {_g(s, 3)}"
        for d, k, s in pos_cross[["distribution", "k", "crossover_scale"]].itertuples(index=False)
    )
    sig_invalid = float(sig["linear_invalid_rate"].mean()) if len(sig) else math.nan
    value = (
        f"softmax closer to the one-hot in {_pct(share_all)} of cells (non-negative logits "
        f"{_pct(share_pos)}, signed {_pct(share_sig)}); crossover scale on non-negative logits: "
        f"{cross_text or 'none'}"
    )
    if share_all == 1.0:
        verdict = HOLDS
        conditions = "softmax is closer at every measured scale, K and distribution"
    elif share_all > 0:
        verdict = CONDITIONAL
        conditions = (
            "linear normalisation is scale-invariant while softmax sharpens with scale: on "
            "non-negative logits linear is closer below the crossover scale (softmax is near "
            f"uniform there); on signed logits linear is not a probability vector (invalid in "
            f"{_pct(sig_invalid)} of signed vectors, mean over cells)"
        )
    else:
        verdict = FAILS
        conditions = "linear normalisation is at least as close at every measured cell"
    return _Claim(
        "C2",
        "Softmax is much closer to argmax than linear normalisation, because exp boosts the "
        "largest score.",
        f"Mean TV distance to the argmax one-hot, softmax vs linear, {MAIN_DTYPE}, every "
        "distribution, K and scale; crossover scale interpolated in log(scale).",
        value,
        verdict,
        conditions,
        {"C2_distance": table, "C2_crossover": cross},
    )


# ------------------------------------------------------------------------------------------
# C3 gradients


def _claim_c3(data: _Data) -> _Claim:
    entries = [("argmax", {}), ("softmax", {})]
    if MAIN_DTYPE in data.config["dtypes"]:
        entries += [(name, params) for name, params, _ in method_specs(data.config)]
    rows = data.rows(entries, None, [MAIN_DTYPE], ["grad_norm", "grad_vanishes"])
    pooled = _pool(rows, ["label", "metric", "scale"])
    table = pooled.pivot_table(index=["label", "scale"], columns="metric", values="mean")
    counts = pooled[pooled["metric"] == "grad_vanishes"].set_index(["label", "scale"])["n"]
    table = table.reindex(columns=["grad_norm", "grad_vanishes"]).assign(n=counts).reset_index()
    table = table.rename(columns={"grad_norm": "grad_norm_mean", "grad_vanishes": "vanishing_rate"})
    order = list(dict.fromkeys(method_label(n, p) for n, p in entries))
    table = _sort(table, {"label": order, "scale": None})
    overall = _pool(rows[rows["metric"] == "grad_vanishes"], ["label"]).set_index("label")
    argmax_share = float(overall.loc["argmax", "mean"])
    argmax_norm = table[table["label"] == "argmax"]["grad_norm_mean"]
    soft = table[table["label"] == "softmax"].set_index("scale")["vanishing_rate"]
    vanishing_scales = soft[soft > RATE_SHARE_TOLERANCE]
    alive_scales = soft[soft <= RATE_SHARE_TOLERANCE]
    value = (
        f"argmax: gradient below {GRAD_VANISHING_THRESHOLD:g} in {_pct(argmax_share)} of vectors "
        "(hardmax is piecewise constant: the rest are steps across a change of the argmax, "
        f"mean norm up to {_g(argmax_norm.max(), 3)}); softmax: vanishing in "
        f"{_pct(soft.min())}-{_pct(soft.max())} of vectors per scale, mean norm "
        f"{_g(table[table['label'] == 'softmax']['grad_norm_mean'].max(), 3)} at most"
    )
    argmax_ok = argmax_share >= C3_ALMOST_EVERYWHERE
    if argmax_ok and vanishing_scales.empty:
        verdict, conditions = HOLDS, "softmax's gradient is non-zero at every measured scale"
    elif argmax_ok and not alive_scales.empty:
        verdict = CONDITIONAL
        conditions = (
            "softmax saturates: its gradient vanishes (< "
            f"{GRAD_VANISHING_THRESHOLD:g}) for some vectors at scale >= "
            f"{_g(vanishing_scales.index.min())} (up to {_pct(vanishing_scales.max())} at "
            f"scale {_g(vanishing_scales.idxmax())}), so 'trainable' needs moderate logits"
        )
    else:
        verdict = FAILS
        conditions = (
            f"hardmax gradient non-zero in {_pct(1 - argmax_share)} of vectors"
            if not argmax_ok
            else "softmax's gradient vanishes at every measured scale"
        )
    return _Claim(
        "C3",
        "argmax (hardmax) is not differentiable; softmax gives every class some probability, "
        "so it is differentiable and trainable.",
        f"Directional finite-difference gradient norm per method and scale ({MAIN_DTYPE}), "
        f"share of vectors with norm < {GRAD_VANISHING_THRESHOLD:g}.",
        value,
        verdict,
        conditions,
        {"C3_gradients": table},
    )


# ------------------------------------------------------------------------------------------
# C4 cross-entropy with linear normalisation; dCE/dx = p - y


def softmax_ce_gradient_check(seed: int, ks: Sequence[int]) -> pd.DataFrame:
    """Max |central FD of CE - (p - y)| per (K, scale) on seeded vectors, in float64.

    CE(x) = -ln softmax(x)_y with softmax from the library; the analytic gradient is p - e_y
    (Bridle 1990). Central differences with h = eps^(1/3) max(1, max|x|) per vector (Nocedal
    & Wright 2006, sec. 8.1); all 2K perturbed vectors go through one normalize call.
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


def _claim_c4(data: _Data) -> _Claim:
    dists = data.with_fallback(want_nonnegative=True)
    dists = {**dists, **data.with_fallback(want_nonnegative=False)}
    rows = data.rows([("linear", {})], dists, [MAIN_DTYPE], ["invalid", "nan"])
    pooled = _pool(rows, ["distribution", "k", "metric"])
    table = pooled.pivot_table(index=["distribution", "k"], columns="metric", values="mean")
    counts = pooled[pooled["metric"] == "invalid"].set_index(["distribution", "k"])["n"]
    table = table.reindex(columns=["invalid", "nan"]).assign(n=counts).reset_index()
    table = table.rename(columns={"invalid": "invalid_rate", "nan": "nan_rate"})
    table.insert(
        1,
        "support",
        [
            "non-negative" if _nonnegative_support(dists[d]) else "signed"
            for d in table["distribution"]
        ],
    )
    table = _sort(table, {"distribution": list(dists), "k": None})
    by_dist = _pool(rows[rows["metric"] == "invalid"], ["distribution"]).set_index("distribution")
    pos = [d for d in dists if _nonnegative_support(dists[d])]
    sig = [d for d in dists if not _nonnegative_support(dists[d])]
    pos_rate = float(by_dist.loc[pos, "mean"].max())
    sig_rate = float(by_dist.loc[sig, "mean"].max())
    sig_min = float(by_dist.loc[sig, "mean"].min())
    ks = sorted(k for k in data.config["k"] if k <= C4_FD_MAX_K) or [min(data.config["k"])]
    fd = softmax_ce_gradient_check(data.config["seed"], ks)
    fd_max = float(fd["max_abs_difference"].max())
    fd_ok = fd_max < C4_FD_TOLERANCE
    sig_range = _pct(sig_rate) if sig_min == sig_rate else f"{_pct(sig_min)}-{_pct(sig_rate)}"
    value = (
        f"linear gives invalid probabilities in {sig_range} of signed "
        f"vectors ({', '.join(sig)}) and {_pct(pos_rate)} of non-negative ones "
        f"({', '.join(pos)}); softmax dCE/dx = p - y: max |FD - (p - y)| = {_g(fd_max, 3)} "
        f"(tolerance {C4_FD_TOLERANCE:g})"
    )
    fd_text = (
        "with softmax the gradient is exactly p - y (checked by finite differences)"
        if fd_ok
        else f"the finite-difference check of p - y failed ({_g(fd_max, 3)})"
    )
    if pos_rate <= RATE_SHARE_TOLERANCE and sig_rate <= RATE_SHARE_TOLERANCE:
        verdict = HOLDS if fd_ok else CONDITIONAL
        conditions = f"linear was valid on every measured vector; {fd_text}"
    elif pos_rate <= RATE_SHARE_TOLERANCE:
        verdict = CONDITIONAL
        conditions = (
            "cross-entropy needs positive outputs: with linear normalisation only for "
            f"non-negative scores; signed logits give negative entries or entries > 1; {fd_text}"
        )
    else:
        verdict = FAILS
        conditions = f"linear is invalid even on non-negative logits ({_pct(pos_rate)}); {fd_text}"
    return _Claim(
        "C4",
        "Cross-entropy does not depend on softmax: it can be used with linear normalisation.",
        f"Share of vectors where linear's output is not a probability vector ({MAIN_DTYPE}), "
        "signed vs non-negative logits; dCE/dx = p - y for softmax against central "
        "differences on seeded vectors.",
        value,
        verdict,
        conditions,
        {"C4_linear_invalid": table, "C4_gradient_check": fd},
    )


# ------------------------------------------------------------------------------------------
# C5 base psi = temperature 1/ln psi


def _claim_c5(data: _Data) -> _Claim:
    config = data.config
    dtypes = _dtype_order([*config["dtypes"], MAIN_DTYPE])
    scales = np.array(config["scales"], dtype=np.float64)
    aggregate = {
        "entries": "sum",
        "max_ulps": "max",
        "max_ulps_over_budget": "max",
        "max_abs_difference": "max",
        "non_finite_base_route_only": "sum",
        "non_finite_temperature_route_only": "sum",
        "non_finite_both": "sum",
    }
    parts = []
    for index, (dist, spec) in enumerate(config["distributions"].items()):
        for k in config["k"]:
            if k > C5_MAX_ELEMENTS and index > 0:
                continue
            n_cfg = n_vectors(config, k)
            n = max(1, min(n_cfg, C5_MAX_ELEMENTS // k))
            z = sample_z(config["seed"], dist, spec, k, n_cfg)[:n]
            for dtype in dtypes:
                x = np.stack([logits(z, s, dtype) for s in scales])  # (scales, n, K)
                x64 = x.astype(np.float64)
                with np.errstate(invalid="ignore"):
                    shifted = np.abs(x64 - np.max(x64, axis=-1, keepdims=True))
                for base in C5_BASES:
                    by_base = normalize(x, "softmax", base=base)
                    by_temp = normalize(x, "softmax", temperature=1 / math.log(base))
                    ulps = ulp_distance(by_base, by_temp)
                    p_base, p_temp = by_base.astype(np.float64), by_temp.astype(np.float64)
                    fin_a, fin_b = np.isfinite(p_base), np.isfinite(p_temp)
                    both = fin_a & fin_b
                    budget = 1 + shifted * math.log(base) + math.ceil(math.log2(k))
                    with np.errstate(invalid="ignore"):
                        over_budget = np.where(both, ulps / budget, 0.0)
                        diff = np.where(both, np.abs(p_base - p_temp), 0.0)
                    axes = (1, 2)
                    parts.append(
                        pd.DataFrame(
                            {
                                "dtype": dtype,
                                "base": base,
                                "scale": scales,
                                "entries": both.sum(axis=axes),
                                "max_ulps": np.where(both, ulps, 0.0).max(axis=axes),
                                "max_ulps_over_budget": over_budget.max(axis=axes),
                                "max_abs_difference": diff.max(axis=axes),
                                "non_finite_base_route_only": (~fin_a & fin_b).sum(axis=axes),
                                "non_finite_temperature_route_only": (fin_a & ~fin_b).sum(
                                    axis=axes
                                ),
                                "non_finite_both": (~fin_a & ~fin_b).sum(axis=axes),
                            }
                        )
                    )
    table = (
        pd.concat(parts, ignore_index=True)
        .groupby(["dtype", "base", "scale"], sort=False)[list(aggregate)]
        .agg(aggregate)
        .reset_index()
    )
    table["base_in_dtype"] = [
        _base_in(t, b) for t, b in zip(table["dtype"], table["base"], strict=True)
    ]
    table["temperature_in_dtype"] = [
        float(np.asarray(1 / math.log(b), dtype=DTYPES[t]))
        for t, b in zip(table["dtype"], table["base"], strict=True)
    ]
    one_route = table["non_finite_base_route_only"] + table["non_finite_temperature_route_only"]
    table["within_bound"] = (table["max_ulps_over_budget"] <= C5_ULPS_PER_ROUNDING) & (
        one_route == 0
    )
    table = _sort(table, {"dtype": dtypes, "base": None, "scale": None})
    per_dtype = table.groupby("dtype", sort=False).agg(
        ok=("within_bound", "all"),
        max_ulps=("max_ulps", "max"),
        per_round=("max_ulps_over_budget", "max"),
        base_only=("non_finite_base_route_only", "sum"),
        temp_only=("non_finite_temperature_route_only", "sum"),
    )
    good = [t for t in dtypes if per_dtype.loc[t, "ok"]]
    bad = [t for t in dtypes if not per_dtype.loc[t, "ok"]]
    f64 = per_dtype.loc[MAIN_DTYPE]
    few = table[table["dtype"] == MAIN_DTYPE]
    small = few[few["max_ulps"] <= C5_ULPS_PER_ROUNDING]
    value = (
        f"float64: max {_g(f64['max_ulps'], 4)} ulps apart, at most {_g(f64['per_round'], 3)} "
        f"x the rounding budget (1 + |a| + ceil(log2 K)); max ulps per format: "
        + ", ".join(f"{t} {_g(per_dtype.loc[t, 'max_ulps'], 3)}" for t in dtypes)
    )
    bound = f"|ulps| <= {C5_ULPS_PER_ROUNDING:g} (1 + |a| + ceil(log2 K)), a = (x - max x) ln psi"
    large = few[few["max_ulps"] > C5_ULPS_PER_ROUNDING]
    where_large = (
        f"raw differences exceed {C5_ULPS_PER_ROUNDING:g} ulps in float64 from scale "
        f"{_g(large['scale'].min())} (up to {_g(large['max_ulps'].max())} ulps, on small "
        "entries whose exponent argument is large)"
        if len(large)
        else f"raw differences stay within {C5_ULPS_PER_ROUNDING:g} ulps in float64"
    )
    if not bad and large.empty:
        verdict, conditions = HOLDS, f"equal up to rounding everywhere: {bound}"
    elif per_dtype.loc[MAIN_DTYPE, "ok"]:
        verdict = CONDITIONAL
        fail_text = (
            "; outside the bound in "
            + ", ".join(
                f"{t} (up to {_g(per_dtype.loc[t, 'per_round'], 3)} x the budget; entries "
                f"non-finite in one route only: {int(per_dtype.loc[t, 'temp_only'])} via "
                f"y/T and e^(y/T), {int(per_dtype.loc[t, 'base_only'])} via psi^y)"
                for t in bad
            )
            if bad
            else ""
        )
        conditions = (
            f"equal up to rounding, {bound}, in {', '.join(good)}; {where_large}"
            f"{fail_text}; within {C5_ULPS_PER_ROUNDING:g} raw ulps at "
            f"{len(small)}/{len(few)} float64 (base, scale) cells"
        )
    else:
        verdict = FAILS
        conditions = f"float64 differences exceed {bound}"
    return _Claim(
        "C5",
        "Any base psi (3, 4, ...) gives 'the same' softmax; e just has a nicer derivative.",
        "softmax(base=psi) vs softmax(temperature=1/ln psi) for psi in 2, 3, 4, 10, 100 on the "
        "sweep's first vectors of each cell, every configured format: distance in ulps.",
        value,
        verdict,
        conditions,
        {"C5_base_vs_temperature": table},
    )


# ------------------------------------------------------------------------------------------
# C6 psi = 1


def _claim_c6(data: _Data) -> _Claim:
    config = data.config
    dtypes = _dtype_order([*config["dtypes"], MAIN_DTYPE])
    dist, spec = next(iter(config["distributions"].items()))
    scales = np.array(config["scales"], dtype=np.float64)
    rows = []
    for dtype in dtypes:
        for k in config["k"]:
            n = max(1, min(C6_VECTORS, C6_MAX_ELEMENTS // k))
            z = sample_z(config["seed"], dist, spec, k, n)
            x = np.stack([logits(z, s, dtype) for s in scales]).reshape(-1, k)
            x64 = x.astype(np.float64)
            finite = np.all(np.isfinite(x64), axis=-1)
            ties = np.sum(x64 == np.max(x64, axis=-1, keepdims=True), axis=-1)
            expected = 1 - ties / k
            for stable in (False, True):
                p, _ = evaluate(x, "softmax", base=1.0, stable=stable)
                p64 = p.astype(np.float64)
                equal = np.all(p64 == p64[:, :1], axis=-1) & np.all(np.isfinite(p64), axis=-1)
                tv = tv_to_argmax(p64, hardmax(x64))
                with np.errstate(invalid="ignore"):
                    dev = np.abs(tv - expected)
                tol = sum_tolerance(dtype, k)
                ok = equal & (dev <= tol)
                rows.append(
                    {
                        "dtype": dtype,
                        "k": k,
                        "stable": stable,
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
    table = pd.DataFrame(rows)
    sweep_rows = []
    label = method_label("softmax", {"base": 1.0, "stable": False})
    if label in data.by_label:
        part = data.by_label[label]
        part = part[part["metric"] == "tv_to_argmax"]
        dev = (part["mean"] - (1 - 1 / part["k"])).abs()
        for t, d in part.assign(dev=dev).groupby("dtype", sort=False):
            sweep_rows.append(
                {
                    "dtype": t,
                    "cells": len(d),
                    "max_abs_deviation_from_1_minus_1_over_k": float(d["dev"].max()),
                    "cells_with_nan_output": int(d["mean"].isna().sum()),
                }
            )
    sweep = _sort(pd.DataFrame(sweep_rows), {"dtype": dtypes}) if sweep_rows else None
    bad = table[table["ok_share"] < 1]
    f64_ok = bool((table[table["dtype"] == MAIN_DTYPE]["ok_share"] == 1).all())
    value = (
        f"exactly uniform with TV = 1 - m/K (m = number of maximisers) in "
        f"{len(table) - len(bad)}/{len(table)} (format, K, stable) cases"
        + (
            f"; sweep softmax(base=1): max |TV - (1 - 1/K)| in float64 "
            f"{_g(sweep.set_index('dtype').loc[MAIN_DTYPE].iloc[1], 3)}"
            if sweep is not None and MAIN_DTYPE in set(sweep["dtype"])
            else ""
        )
    )
    if bad.empty:
        verdict, conditions = HOLDS, "1^x = 1 exactly in every format; p = fl(1/K)"
    elif f64_ok:
        verdict = CONDITIONAL
        where = "; ".join(
            f"{t} K={k} ({'stable' if s else 'naive'}): uniform in {_pct(u)}"
            for t, k, s, u in bad[["dtype", "k", "stable", "exactly_uniform"]].itertuples(
                index=False
            )
        )
        conditions = f"exact in float64; fails where the sum K is not representable: {where}"
    else:
        verdict, conditions = FAILS, "not exactly uniform in float64"
    details = {"C6_uniform": table}
    if sweep is not None:
        details["C6_sweep"] = sweep
    return _Claim(
        "C6",
        "psi = 1 gives the uniform distribution, far from argmax.",
        "softmax(base=1) on seeded vectors in every format: all entries equal, and TV to the "
        "one-hot = 1 - 1/K (1 - m/K with m tied maximisers) within the format's tolerance.",
        value,
        verdict,
        conditions,
        details,
    )


# ------------------------------------------------------------------------------------------
# C7/C8/C9 overflow, stable softmax, the frontier


def _unstable_entry(base: float) -> tuple[str, dict]:
    return ("softmax", {"stable": False} if base == math.e else {"base": base, "stable": False})


def _threshold_table() -> pd.DataFrame:
    rows = []
    for dtype in DTYPES:
        for base in C7_BASES:
            t_nominal = exp_overflow_threshold(dtype, base, round_base=False)
            t = exp_overflow_threshold(dtype, base, rounding=True)
            check = threshold_check(dtype, t, "softmax", base=_base_in(dtype, base), stable=False)
            rows.append(
                {
                    "dtype": dtype,
                    "base": "e" if base == math.e else _g(base),
                    "base_in_dtype": _base_in(dtype, base),
                    "max": _max_of(dtype),
                    "threshold": t_nominal,
                    "threshold_with_rounding": t,
                    **check,
                }
            )
    return pd.DataFrame(rows)


def _ln_overflow(dtype) -> float:
    """ln of the smallest value that rounds to overflow in ``dtype`` (max + ulp(max)/2)."""
    with mpmath.workdps(THRESHOLD_DIGITS):
        return float(mpmath.log(_overflow_value(dtype, rounding=True)))


def _predicted_overflow(
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


def _overflow_prediction(config: Mapping, bases: Sequence[float]) -> pd.DataFrame:
    """Predicted overflow rate per cell and base, from the sweep's own vectors regenerated."""
    labels = [method_label(*_unstable_entry(base)) for base in bases]
    dtypes = list(config["dtypes"])
    ln_over = {dtype: _ln_overflow(dtype) for dtype in dtypes}
    ln_base = {dtype: [math.log(_base_in(dtype, base)) for base in bases] for dtype in dtypes}
    columns: dict[str, list] = {
        key: [] for key in ("distribution", "scale", "k", "dtype", "label", "predicted", "vectors")
    }
    scales = [float(scale) for scale in config["scales"]]
    for dist, spec in config["distributions"].items():
        for k in config["k"]:
            z = sample_z(config["seed"], dist, spec, k, n_vectors(config, k))
            for dtype in dtypes:
                # every scale at once: shape (scales, vectors, K)
                x64 = np.stack([logits(z, scale, dtype) for scale in scales]).astype(np.float64)
                finite = np.all(np.isfinite(x64), axis=-1)
                with np.errstate(invalid="ignore"):
                    row_max = np.max(x64, axis=-1)
                for label, lb in zip(labels, ln_base[dtype], strict=True):
                    rate = np.mean(
                        _predicted_overflow(x64, row_max, finite, lb, ln_over[dtype], dtype),
                        axis=-1,
                    )
                    for scale, value in zip(scales, rate, strict=True):
                        for key, item in (
                            ("distribution", dist),
                            ("scale", scale),
                            ("k", int(k)),
                            ("dtype", dtype),
                            ("label", label),
                            ("predicted", float(value)),
                            ("vectors", z.shape[0]),
                        ):
                            columns[key].append(item)
    return pd.DataFrame(columns)


def _claim_c7(data: _Data, thresholds: pd.DataFrame) -> _Claim:
    config = data.config
    dtypes = _dtype_order([*config["dtypes"], MAIN_DTYPE])
    entries = [_unstable_entry(b) for b in C7_BASES]
    rows = data.rows([*entries, ("softmax", {})], None, dtypes, ["overflow"])
    measured = rows[rows["label"] != "softmax"][
        ["distribution", "scale", "k", "dtype", "label", "mean", "n"]
    ]
    prediction = _overflow_prediction({**config, "dtypes": dtypes}, C7_BASES)
    cell = measured.merge(prediction, on=["distribution", "scale", "k", "dtype", "label"])
    cell["count_difference"] = (cell["mean"] - cell["predicted"]).abs() * cell["vectors"]
    cell["agrees"] = cell["count_difference"] < C7_COUNT_TOLERANCE
    pooled = _pool(rows, ["dtype", "label", "scale"]).rename(
        columns={"mean": "overflow_rate", "n": "vectors"}
    )
    pred_pool = (
        prediction.assign(w=prediction["predicted"] * prediction["vectors"])
        .groupby(["dtype", "label", "scale"], sort=True)[["w", "vectors"]]
        .sum()
    )
    pred_pool = (pred_pool["w"] / pred_pool["vectors"]).rename("predicted_rate").reset_index()
    agree = cell.groupby(["dtype", "label", "scale"], sort=True)["agrees"].all().reset_index()
    table = pooled.merge(pred_pool, how="left").merge(agree, how="left")
    labels = [method_label(*e) for e in entries] + ["softmax"]
    table = _sort(table, {"dtype": _dtype_order(dtypes), "label": labels, "scale": None})
    # "approximates argmax well": base-100 (stable) vs base e, distance to the one-hot
    tv_rows = data.rows(
        [("softmax", {}), ("softmax", {"base": 100.0})], None, [MAIN_DTYPE], ["tv_to_argmax"]
    )
    tv = _pool(tv_rows, ["label", "scale"]).pivot_table(
        index="scale", columns="label", values="mean"
    )
    b100 = method_label("softmax", {"base": 100.0})
    sharper = tv[tv["softmax"] > 0]
    closer_share = float((sharper[b100] <= sharper["softmax"]).mean()) if len(sharper) else 1.0
    th = thresholds.set_index(["dtype", "base"])
    t100, te = th.loc[(MAIN_DTYPE, "100")], th.loc[(MAIN_DTYPE, "e")]
    thresholds_ok = bool(t100["consistent"] and te["consistent"])
    naive100 = table[(table["dtype"] == MAIN_DTYPE) & (table["label"] == labels[-2])]
    over_scales = naive100[naive100["overflow_rate"] > RATE_SHARE_TOLERANCE]
    stable_f64 = table[(table["label"] == "softmax") & (table["dtype"] == MAIN_DTYPE)]
    stable_max = float(stable_f64["overflow_rate"].max()) if len(stable_f64) else math.nan
    agreement = float(cell["agrees"].mean()) if len(cell) else math.nan
    value = (
        f"float64 thresholds: psi=100 {t100['threshold']:.6g}, e {te['threshold']:.8g} "
        f"(construction [0, t -/+ 1 ulp]: {'confirmed' if thresholds_ok else 'NOT confirmed'}); "
        f"naive base-100 overflow rate in float64 up to {_pct(naive100['overflow_rate'].max())}"
        f" (first at scale {_g(over_scales['scale'].min()) if len(over_scales) else 'none'}); "
        f"measured = predicted by the thresholds in {_pct(agreement)} of cells; base 100 at "
        f"least as close to argmax as e at {_pct(closer_share)} of scales"
    )
    if not thresholds_ok:
        verdict = FAILS
        conditions = "the derived threshold does not match where the computation overflows"
    elif over_scales.empty:
        verdict = FAILS
        conditions = "base 100 never overflowed float64 at the configured scales"
    else:
        verdict = CONDITIONAL
        narrow = ", ".join(
            f"{t} {th.loc[(t, '100'), 'threshold_with_rounding']:.4g}"
            for t in _dtype_order(dtypes)
            if t != MAIN_DTYPE
        )
        conditions = (
            f"only the naive computation, and only once a logit exceeds "
            f"{t100['threshold']:.5g} (scale >= {_g(over_scales['scale'].min())} here); the "
            f"stable computation's overflow rate in float64 is {_pct(stable_max)} (other "
            "formats: C8); narrower formats "
            f"overflow much earlier (base-100 thresholds: {narrow or 'not configured'})"
        )
    return _Claim(
        "C7",
        "psi = 100 approximates argmax well but overflows float64 easily (max about 1e308).",
        "Overflow threshold ln(max)/ln(psi) per format from ml_dtypes.finfo, checked on "
        "[0, t -/+ 1 ulp]; naive overflow rates per format and scale vs the rate the "
        "thresholds predict on the same vectors.",
        value,
        verdict,
        conditions,
        {"C7_thresholds": thresholds, "C7_overflow": table, "C7_overflow_cells": cell},
    )


def _stable_overflow_anatomy(config: Mapping, flagged: pd.DataFrame) -> pd.DataFrame:
    """Why the stable softmax overflowed, per flagged cell, on the sweep's own vectors.

    For each (distribution, scale, K, format) cell in ``flagged``, the vectors are
    regenerated and the stable computation is redone step by step as the library does it:
    y = x - max x in the format, e^y, the sum accumulated in float32 for narrow formats and
    rounded to the format. Counts, among rows with finite input: rows flagged, rows whose
    output is non-finite, rows where y left the format's range, rows where the sum did.
    """
    rows = []
    for dist, scale, k, dtype in flagged[["distribution", "scale", "k", "dtype"]].itertuples(
        index=False
    ):
        spec = config["distributions"][dist]
        z = sample_z(config["seed"], dist, spec, int(k), n_vectors(config, int(k)))
        x = logits(z, scale, dtype)
        p, overflow = evaluate(x, "softmax")
        finite_in = np.all(np.isfinite(x.astype(np.float64)), axis=-1)
        fmt = DTYPES[dtype]
        acc = np.float32 if fmt.itemsize < 4 else fmt
        with np.errstate(all="ignore"):
            y = x - np.max(x, axis=-1, keepdims=True)
            total = np.sum(np.exp(y), axis=-1, dtype=acc).astype(fmt)
        y_bad = ~np.all(np.isfinite(y.astype(np.float64)), axis=-1)
        sum_bad = ~np.isfinite(total.astype(np.float64))
        out_bad = ~np.all(np.isfinite(p.astype(np.float64)), axis=-1)
        rows.append(
            {
                "distribution": dist,
                "scale": float(scale),
                "k": int(k),
                "dtype": dtype,
                "vectors_finite_input": int(finite_in.sum()),
                "overflow_flagged": int((overflow & finite_in).sum()),
                "non_finite_output": int((out_bad & finite_in).sum()),
                "x_minus_max_out_of_range": int((y_bad & finite_in).sum()),
                "sum_out_of_range": int((sum_bad & finite_in).sum()),
            }
        )
    columns = [
        "distribution",
        "scale",
        "k",
        "dtype",
        "vectors_finite_input",
        "overflow_flagged",
        "non_finite_output",
        "x_minus_max_out_of_range",
        "sum_out_of_range",
    ]
    return pd.DataFrame(rows, columns=columns)


def _claim_c8(data: _Data) -> _Claim:
    dtypes = _dtype_order([*data.config["dtypes"], "float64", "float32"])
    metrics = ["overflow", "nan", "underflow", "invalid"]
    rows = data.rows([("softmax", {}), ("softmax", {"stable": False})], None, dtypes, metrics)
    pooled = _pool(rows, ["dtype", "label", "metric", "scale"])
    table = pooled.pivot_table(
        index=["dtype", "label", "scale"], columns="metric", values="mean"
    ).reindex(columns=metrics)
    table = table.add_suffix("_rate").reset_index()
    table = _sort(
        table, {"dtype": dtypes, "label": ["softmax", "softmax(stable=False)"], "scale": None}
    )
    by_k = _pool(
        rows[rows["metric"].isin(["overflow", "underflow"])], ["dtype", "label", "metric", "k"]
    )
    by_k = by_k.pivot_table(index=["dtype", "label", "k"], columns="metric", values="mean")
    by_k = by_k.add_suffix("_rate").reset_index()
    by_k = _sort(by_k, {"dtype": dtypes, "label": ["softmax", "softmax(stable=False)"], "k": None})
    stable = table[table["label"] == "softmax"]
    naive = table[table["label"] == "softmax(stable=False)"]
    s_over = stable.groupby("dtype", sort=False)["overflow_rate"].max()
    n_over = naive.groupby("dtype", sort=False)["overflow_rate"].max()
    s_under = stable.groupby("dtype", sort=False)["underflow_rate"].max()
    wide = [t for t in ("float64", "float32") if t in s_over.index]
    wide_ok = bool((s_over[wide] <= RATE_SHARE_TOLERANCE).all())
    failing = [t for t in dtypes if s_over[t] > RATE_SHARE_TOLERANCE]
    naive_seen = bool((n_over > RATE_SHARE_TOLERANCE).any())
    value = (
        "max overflow rate stable / naive: "
        + ", ".join(f"{t} {_pct(s_over[t])} / {_pct(n_over[t])}" for t in dtypes)
        + "; stable underflow up to "
        + ", ".join(f"{t} {_pct(s_under[t])}" for t in dtypes)
    )
    flagged = rows[
        (rows["label"] == "softmax") & (rows["metric"] == "overflow") & (rows["mean"] > 0)
    ]
    anatomy = _sort(
        _stable_overflow_anatomy(data.config, flagged),
        {
            "dtype": dtypes,
            "distribution": list(data.config["distributions"]),
            "k": None,
            "scale": None,
        },
    )
    per = anatomy.groupby("dtype", sort=False)[
        ["overflow_flagged", "non_finite_output", "x_minus_max_out_of_range", "sum_out_of_range"]
    ].sum()

    def ks(t, column):
        part = anatomy[(anatomy["dtype"] == t) & (anatomy[column] > 0)]
        return sorted(part["k"].astype(int).unique().tolist())

    broken = [t for t in failing if t in per.index and per.loc[t, "non_finite_output"] > 0]
    harmless = [t for t in failing if t not in broken]
    parts = []
    if broken:
        parts.append(
            "it still gives non-finite output in "
            + "; ".join(
                f"{t} (K in {ks(t, 'non_finite_output')}: x - max x out of range in "
                f"{int(per.loc[t, 'x_minus_max_out_of_range'])} vectors, the sum of K terms in "
                f"{int(per.loc[t, 'sum_out_of_range'])})"
                for t in broken
            )
        )
    if harmless:
        parts.append(
            "in "
            + ", ".join(harmless)
            + " only an intermediate overflowed (x - max x = -inf; e^-inf = 0, the output stays "
            "finite)"
        )
    if not wide_ok:
        verdict = FAILS
        conditions = "the stable computation overflowed in " + ", ".join(
            t for t in wide if s_over[t] > RATE_SHARE_TOLERANCE
        )
    elif failing:
        verdict = CONDITIONAL
        conditions = (
            "stable never overflows in float64/float32"
            + ("" if naive_seen else " (the naive one did not overflow here either)")
            + "; "
            + "; ".join(parts)
            + "; small probabilities still underflow to 0 at large scales"
        )
    elif naive_seen:
        verdict = HOLDS
        conditions = (
            "stable never overflows in any measured format; small probabilities still "
            "underflow to 0 at large scales"
        )
    else:
        verdict = CONDITIONAL
        conditions = "neither computation overflowed at the configured scales"
    return _Claim(
        "C8",
        "Frameworks must use a stable softmax (subtract the max): stable never overflows.",
        "Overflow, NaN, underflow and invalid rates of softmax with and without max-"
        "subtraction per format and scale (pooled over distributions and K).",
        value,
        verdict,
        conditions,
        {"C8_stable_vs_naive": table, "C8_by_k": by_k, "C8_stable_overflow_cells": anatomy},
    )


def _claim_c9(data: _Data) -> _Claim:
    dtypes = _dtype_order([*data.config["dtypes"], MAIN_DTYPE])
    entries = [(n, p) for n, p, _ in method_specs(data.config) if n == "softmax"]
    entries += [_unstable_entry(b) for b in C7_BASES]
    entries += [("softmax", {}), ("softmax", {"base": 100.0})]
    rows = data.rows(entries, None, dtypes, ["tv_to_argmax", "overflow", "underflow"])
    pooled = _pool(rows, ["dtype", "label", "metric", "scale"])
    table = (
        pooled.pivot_table(index=["dtype", "label", "scale"], columns="metric", values="mean")
        .reindex(columns=["tv_to_argmax", "overflow", "underflow"])
        .reset_index()
    )
    table = table.rename(
        columns={
            "tv_to_argmax": "tv_to_argmax_finite",
            "overflow": "overflow_rate",
            "underflow": "underflow_rate",
        }
    )
    params = {lab: data.params[lab][1] for lab in table["label"].unique()}
    table["beta"] = [
        math.log(params[lab]["base"]) / params[lab]["temperature"] for lab in table["label"]
    ]
    table["stable"] = [params[lab]["stable"] for lab in table["label"]]
    order = list(dict.fromkeys(method_label(n, p) for n, p in entries))
    table = _sort(table, {"dtype": _dtype_order(dtypes), "scale": None, "label": order})
    pareto = np.zeros(len(table), dtype=bool)
    tradeoff = []
    for (dtype, scale), part in table.groupby(["dtype", "scale"], sort=False):
        tv = part["tv_to_argmax_finite"].fillna(np.inf).to_numpy()
        ov = part["overflow_rate"].to_numpy()
        for j, idx in enumerate(part.index):
            dominated = np.any((tv <= tv[j]) & (ov <= ov[j]) & ((tv < tv[j]) | (ov < ov[j])))
            pareto[idx] = not dominated
        naive = part[~part["stable"]]
        beta = naive["beta"].to_numpy()
        tv_n = naive["tv_to_argmax_finite"].to_numpy()
        ov_n = naive["overflow_rate"].to_numpy()
        # a pair (i, j): the larger beta is closer to argmax and overflows more
        pairs = (
            (beta[:, None] > beta[None, :])
            & (tv_n[:, None] < tv_n[None, :])
            & (ov_n[:, None] > ov_n[None, :])
        )
        if pairs.any():
            tradeoff.append((dtype, scale))
    table["pareto"] = pareto
    tradeoff = sorted(set(tradeoff), key=lambda c: (_dtype_order(dtypes).index(c[0]), c[1]))
    stable_rows = table[table["stable"]]
    stable_f64 = stable_rows[stable_rows["dtype"] == MAIN_DTYPE]["overflow_rate"]
    stable_escape = bool(len(stable_f64)) and float(stable_f64.max()) <= RATE_SHARE_TOLERANCE
    max_beta = float(stable_rows["beta"].max()) if len(stable_rows) else math.nan
    cells_text = ", ".join(f"{t}@{_g(s)}" for t, s in tradeoff[:8]) + (
        " ..." if len(tradeoff) > 8 else ""
    )
    value = (
        f"naive computation: a larger beta = ln(psi)/T is closer to argmax but overflows more "
        f"in {len(tradeoff)} (format, scale) cells ({cells_text or 'none'}); stable softmax "
        f"(beta up to {_g(max_beta, 3)}) overflow rate in float64 "
        f"{_pct(stable_f64.max() if len(stable_f64) else math.nan)}"
    )
    top = stable_rows[(stable_rows["dtype"] == MAIN_DTYPE) & (stable_rows["beta"] == max_beta)]
    top_underflow = float(top["underflow_rate"].max()) if len(top) else math.nan
    if tradeoff and stable_escape:
        verdict = CONDITIONAL
        conditions = (
            "the trade-off is real only for the naive computation; with the max subtracted "
            f"every measured beta stays finite in float64 (overflow 0%), and what remains at "
            f"large beta is underflow of the small probabilities to 0 (up to "
            f"{_pct(top_underflow)} of vectors at beta {_g(max_beta, 3)} in float64)"
        )
    elif tradeoff:
        verdict = HOLDS
        conditions = "even the stable computation overflows at large beta"
    else:
        verdict = FAILS
        conditions = "no cell where a larger beta trades distance for overflow"
    return _Claim(
        "C9",
        "The constant must be large enough to approximate argmax and small enough to stay "
        "representable.",
        "For each base/temperature (beta = ln psi / T) and format: mean TV to argmax (finite "
        "outputs) vs overflow rate per scale; Pareto frontier per (format, scale).",
        value,
        verdict,
        conditions,
        {"C9_frontier": table},
    )


# ------------------------------------------------------------------------------------------
# C10 iterated exp


def _claim_c10(data: _Data) -> _Claim:
    dtypes = _dtype_order([*data.config["dtypes"], MAIN_DTYPE])
    rows = []
    for depth in (2, 3):
        for dtype in dtypes:
            t = iterated_exp_threshold(dtype, depth)
            t_round = iterated_exp_threshold(dtype, depth, rounding=True)
            check = threshold_check(dtype, t_round, "iterated_exp", depth=depth)
            rows.append(
                {
                    "depth": depth,
                    "dtype": dtype,
                    "threshold": t,
                    "threshold_with_rounding": t_round,
                    **check,
                }
            )
    thresholds = pd.DataFrame(rows)
    rng = stream(data.config["seed"], "claims", "C10", "shift")
    x = rng.uniform(-1.0, 1.0, (C10_VECTORS, len(EXAMPLE_X)))
    shift_rows = []
    for name, params in (
        ("softmax", {}),
        ("iterated_exp", {"depth": 2}),
        ("iterated_exp", {"depth": 3}),
    ):
        a = normalize(x, name, **params)
        b = normalize(x + C10_SHIFT, name, **params)
        shift_rows.append(
            {
                "label": method_label(name, params),
                "shift": C10_SHIFT,
                "vectors": C10_VECTORS,
                "max_abs_change": float(np.max(np.abs(a - b))),
            }
        )
    shift = pd.DataFrame(shift_rows)
    entries = [("softmax", {}), ("iterated_exp", {"depth": 2}), ("iterated_exp", {"depth": 3})]
    summ = data.rows(entries, None, [MAIN_DTYPE], ["tv_to_argmax", "entropy", "overflow"])
    pooled = _pool(summ, ["label", "metric", "scale"])
    compare = pooled.pivot_table(index=["label", "scale"], columns="metric", values="mean")
    compare = compare.reindex(columns=["tv_to_argmax", "entropy", "overflow"]).reset_index()
    compare = _sort(compare, {"label": [method_label(*e) for e in entries], "scale": None})
    th = thresholds[thresholds["dtype"] == MAIN_DTYPE].set_index("depth")
    checks_ok = bool(th["consistent"].all())
    sh = shift.set_index("label")
    d2, d3 = method_label("iterated_exp", {"depth": 2}), method_label("iterated_exp", {"depth": 3})
    soft_inv = sh.loc["softmax", "max_abs_change"] <= C10_SHIFT_TOLERANCE
    iter_not_inv = bool((sh.loc[[d2, d3], "max_abs_change"] > C10_SHIFT_TOLERANCE).all())
    over = compare.pivot_table(index="scale", columns="label", values="overflow")
    over3 = over[d3] if d3 in over else pd.Series(dtype=float)
    first3 = over3[over3 > RATE_SHARE_TOLERANCE]
    soft_over = float(over["softmax"].max()) if "softmax" in over else math.nan
    tvs = compare.pivot_table(index="scale", columns="label", values="tv_to_argmax")
    ref_scale = float(tvs.index[np.argmin(np.abs(np.log(tvs.index.to_numpy(np.float64))))])
    value = (
        f"float64 thresholds: depth 2 {th.loc[2, 'threshold']:.5g}, depth 3 "
        f"{th.loc[3, 'threshold']:.5g} ([0, t -/+ 1 ulp] "
        f"{'confirmed' if checks_ok else 'NOT confirmed'}); "
        f"shift by {C10_SHIFT}: max change softmax {_g(sh.loc['softmax', 'max_abs_change'], 2)}, "
        f"depth 2 {_g(sh.loc[d2, 'max_abs_change'], 3)}, depth 3 "
        f"{_g(sh.loc[d3, 'max_abs_change'], 3)}; depth-3 overflow from scale "
        f"{_g(first3.index.min()) if len(first3) else 'none'} (up to {_pct(over3.max())})"
        + "; TV to argmax (finite outputs) softmax / depth 2 / depth 3: "
        + ", ".join(
            f"scale {_g(sc)} {_g(tvs.loc[sc, 'softmax'], 3)} / {_g(tvs.loc[sc, d2], 3)} / "
            f"{_g(tvs.loc[sc, d3], 3)}"
            for sc in dict.fromkeys([tvs.index.min(), ref_scale])
        )
    )
    if checks_ok and iter_not_inv and soft_inv and len(first3):
        verdict = HOLDS
        conditions = (
            "iterated exp overflows far earlier than softmax (whose stable form never does: "
            f"{_pct(soft_over)}) and cannot be stabilised by a shift"
        )
    elif checks_ok and iter_not_inv:
        verdict = CONDITIONAL
        conditions = "depth-3 overflow not reached at the configured scales"
    else:
        verdict = FAILS
        conditions = (
            "derived threshold not where the computation overflows"
            if not checks_ok
            else "iterated exp turned out shift-invariant"
        )
    return _Claim(
        "C10",
        "Why not e^e^e^x: it overflows almost at once and has no shift trick.",
        "Overflow thresholds ln ln max and ln ln ln max from finfo, checked on [0, t -/+ 1 ulp];"
        " change of the output under x -> x + 0.5; TV, entropy and overflow vs softmax "
        f"({MAIN_DTYPE}).",
        value,
        verdict,
        conditions,
        {"C10_thresholds": thresholds, "C10_shift": shift, "C10_vs_softmax": compare},
    )


# ------------------------------------------------------------------------------------------
# C11 maximum entropy = Boltzmann


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


def _claim_c11(data: _Data) -> _Claim:
    table = maxent_check(data.config["seed"])
    worst = float(table["max_abs_difference"].max())
    gain = float((table["entropy_numeric"] - table["entropy_boltzmann"]).max())
    value = (
        f"{len(table)} problems (K 2-{C11_MAX_K}): max |p_SLSQP - exp(-beta E)/Z| = "
        f"{_g(worst, 3)}; numeric entropy exceeds Boltzmann's by at most {_g(gain, 3)}"
    )
    verdict = HOLDS if worst < C11_TOLERANCE else FAILS
    conditions = (
        f"agreement within {C11_TOLERANCE:g} on every problem (energies N(0,1), feasible means)"
        if verdict == HOLDS
        else f"difference {_g(worst, 3)} exceeds {C11_TOLERANCE:g}"
    )
    return _Claim(
        "C11",
        "Softmax (Boltzmann) is the distribution of maximum entropy given a mean energy.",
        "Maximise entropy s.t. sum p = 1 and p.E = target with scipy SLSQP on seeded "
        "problems; compare with exp(-beta E)/Z, beta by brentq on the mean.",
        value,
        verdict,
        conditions,
        {"C11_maxent": table},
    )


# ------------------------------------------------------------------------------------------
# C12 Stirling


def stirling_table(max_n: int = C12_MAX_N) -> tuple[pd.DataFrame, int]:
    """Relative error of ln n! ~ n ln n - n for n = 1..max_n, and the smallest n from which it
    stays below 1%.

    ln n! = gammaln(n + 1). Relative error |approx - exact| / |exact|, undefined at n = 1
    (ln 1! = 0; NaN there). The three-term form adds (1/2) ln(2 pi n) (Robbins 1955).
    """
    n = np.arange(1, max_n + 1, dtype=np.float64)
    exact = special.gammaln(n + 1)
    approx = n * np.log(n) - n
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(exact > 0, np.abs(approx - exact) / np.abs(exact), np.nan)
    above = np.flatnonzero(~(rel < C12_REL_TARGET))  # NaN (n = 1) counts as not below
    first = int(n[above[-1] + 1]) if len(above) < len(n) else -1
    rows = []
    for m in C12_TABLE_N:
        if m > max_n:
            continue
        i = m - 1
        three = approx[i] + 0.5 * math.log(2 * math.pi * m)
        rows.append(
            {
                "n": m,
                "ln_factorial": float(exact[i]),
                "n_ln_n_minus_n": float(approx[i]),
                "abs_error": float(exact[i] - approx[i]),
                "rel_error": float(rel[i]),
                "abs_error_over_ln_n": float((exact[i] - approx[i]) / math.log(m))
                if m > 1
                else math.nan,
                "rel_error_with_half_ln_2pi_n": float(abs(three - exact[i]) / exact[i])
                if exact[i] > 0
                else math.nan,
            }
        )
    return pd.DataFrame(rows), first


def _claim_c12(data: _Data) -> _Claim:
    table, first = stirling_table()
    last = table.iloc[-1]
    rel = table["rel_error"].to_numpy()
    decreasing = bool(np.all(np.diff(rel[1:]) < 0))
    ratio = table["abs_error_over_ln_n"].dropna()
    value = (
        f"relative error {_g(table.loc[table.n == 2, 'rel_error'].iloc[0], 3)} at n=2, "
        f"{_g(table.loc[table.n == 10, 'rel_error'].iloc[0], 3)} at n=10, "
        f"{_g(last['rel_error'], 3)} at n={int(last['n']):.0e}; below 1% from n = {first}; "
        f"error / ln n falls from {_g(ratio.iloc[0], 4)} at n=2 to "
        f"{_g(last['abs_error_over_ln_n'], 4)} at n={int(last['n']):.0e} (O(ln n))"
    )
    # O(ln n): error / ln n falls steadily over the table, so it is bounded by its value at n=2
    bounded = bool(np.all(np.diff(ratio.to_numpy()) < 0)) and bool(ratio.iloc[-1] > 0)
    if decreasing and bounded and first > 0:
        verdict = HOLDS
        conditions = (
            f"asymptotic: the two-term form is off by more than 1% below n = {first}; the "
            "error itself grows like (1/2) ln(2 pi n)"
        )
    else:
        verdict = FAILS
        conditions = "the relative error does not fall steadily, or the error is not O(ln n)"
    return _Claim(
        "C12",
        "Stirling: ln n! = n ln n - n + O(ln n), an asymptotic approximation.",
        f"Relative error of n ln n - n against gammaln(n + 1) for n = 1..{C12_MAX_N:.0e}.",
        value,
        verdict,
        conditions,
        {"C12_stirling": table},
    )


# ------------------------------------------------------------------------------------------
# C13 the "max" in softmax, K and scale


def _claim_c13(data: _Data) -> _Claim:
    dists = data.distributions
    rows = data.rows(
        [("softmax", {}), ("ssmax", {})], dists, [MAIN_DTYPE], ["tv_to_argmax", "max_prob"]
    )
    soft = rows[(rows["label"] == "softmax") & (rows["metric"] == "tv_to_argmax")]
    speed = []
    for (dist, k), part in soft.groupby(["distribution", "k"], sort=False):
        part = part.sort_values("scale")
        scales = part["scale"].to_numpy(np.float64)
        tv = part["mean"].to_numpy(np.float64)
        ok = tv > 0
        slope = (
            float(np.diff(np.log(tv[ok][-2:]))[0] / np.diff(np.log(scales[ok][-2:]))[0])
            if ok.sum() >= 2
            else math.nan
        )
        speed.append(
            {
                "distribution": dist,
                "k": int(k),
                "tv_smallest_scale": float(tv[0]),
                "tv_largest_scale": float(tv[-1]),
                "scale_tv_below_target": _log_crossing(scales, -tv, -C13_TV_TARGET)
                if tv[0] >= C13_TV_TARGET
                else float(scales[0]),
                "last_log_slope": slope,
                "non_increasing": bool(np.all(np.diff(tv) <= 1e-12)),
            }
        )
    speed = _sort(pd.DataFrame(speed), {"distribution": list(dists), "k": None})
    scales = np.array(sorted(data.config["scales"]), dtype=np.float64)
    ref_scale = float(scales[np.argmin(np.abs(np.log(scales)))])
    mp = rows[(rows["metric"] == "max_prob") & (rows["scale"] == ref_scale)]
    fade = mp.pivot_table(index=["distribution", "k"], columns="label", values="mean")
    fade = fade.reindex(columns=["softmax", "ssmax"]).reset_index()
    fade.insert(1, "scale", ref_scale)
    fade = _sort(
        fade.rename(columns={"softmax": "max_prob_softmax", "ssmax": "max_prob_ssmax"}),
        {"distribution": list(dists), "k": None},
    )
    monotone = bool(speed["non_increasing"].all())
    falls = monotone and bool((speed["tv_largest_scale"] < speed["tv_smallest_scale"]).all())
    unsaturated = speed[~(speed["tv_largest_scale"] < C13_TV_LIMIT)]
    ks = sorted(fade["k"].unique())
    faded, held, ss_faded, ss_held = [], [], [], []
    for dist, part in fade.groupby("distribution", sort=False):
        if len(ks) < 2:
            break
        part = part.set_index("k")
        lo, hi = part.loc[ks[0]], part.loc[ks[-1]]
        (faded if hi["max_prob_softmax"] < lo["max_prob_softmax"] else held).append(dist)
        (ss_faded if hi["max_prob_ssmax"] < lo["max_prob_ssmax"] else ss_held).append(dist)
    reach = speed.groupby("k")["scale_tv_below_target"]
    fd = fade.groupby("k")[["max_prob_softmax", "max_prob_ssmax"]].mean()
    largest = float(np.max(scales))

    def reached(k):
        values = reach.get_group(k)
        missing = int(values.isna().sum())
        text = _g(values.median(), 3) if missing < len(values) else "not reached"
        return f"K={k} {text}" + (f" ({missing}/{len(values)} not reached)" if missing else "")

    value = (
        f"TV at scale {_g(largest)} <= {_g(speed['tv_largest_scale'].max(), 3)}; scale where TV "
        f"< {C13_TV_TARGET:g} (median over distributions): "
        + ", ".join(reached(k) for k in reach.groups)
        + f"; max prob at scale {_g(ref_scale)}, softmax vs ssmax: "
        + ", ".join(
            f"K={k} {fd.loc[k, 'max_prob_softmax']:.3f}/{fd.loc[k, 'max_prob_ssmax']:.3f}"
            for k in fd.index
        )
    )
    notes = []
    if len(unsaturated):
        notes.append(
            f"TV is still >= {C13_TV_LIMIT:g} at scale {_g(largest)} for "
            + ", ".join(
                f"{d} K={k} ({_g(tv, 2)})"
                for d, k, tv in unsaturated[["distribution", "k", "tv_largest_scale"]].itertuples(
                    index=False
                )
            )
            + " (the gap between the two largest logits is small against the scale)"
        )
    if faded:
        notes.append(
            f"at scale {_g(ref_scale)} the largest probability fades from K={ks[0]} to "
            f"K={ks[-1]} for {', '.join(faded)}"
            + (f" (not for {', '.join(held)})" if held else "")
            + "; scaling the logits by ln K (ssmax) "
            + (f"keeps it for {', '.join(ss_held)}" if ss_held else "does not keep it")
            + (f" but not for {', '.join(ss_faded)}" if ss_held and ss_faded else "")
        )
    if len(scales) < 2:
        verdict = FAILS
        conditions = "only one scale configured: the approach to the one-hot is not shown"
    elif not falls:
        verdict = FAILS
        conditions = "TV to argmax does not fall steadily with scale"
    elif notes:
        verdict = CONDITIONAL
        conditions = "the max is approached only as the scale grows, later for larger K; " + (
            "; ".join(notes)
        )
    else:
        verdict = HOLDS
        conditions = "distance to argmax falls to ~0 with scale for every K" + (
            "" if len(ks) >= 2 else " (one K configured: fading with K not measured)"
        )
    return _Claim(
        "C13",
        "With exp, the largest argument is mapped towards 1 and the rest towards 0.",
        f"Softmax TV to argmax vs scale per distribution and K ({MAIN_DTYPE}): the scale where "
        f"it falls below {C13_TV_TARGET:g}; max probability of softmax vs ssmax as K grows.",
        value,
        verdict,
        conditions,
        {"C13_speed": speed, "C13_max_prob": fade},
    )


# ------------------------------------------------------------------------------------------


def build_ledger(
    summary: pd.DataFrame, example: pd.DataFrame | None, config: Mapping
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The ledger (one row per claim C1..C13, columns LEDGER_COLUMNS) and its detail tables.

    ``summary``: the sweep's summary table (long format); ``example``: the worked-example
    table (:func:`worked_example`; recomputed if None); ``config``: the validated config.
    Detail tables are keyed by names that start with the claim id.
    """
    data = _Data(summary, config)
    thresholds = _threshold_table()
    steps = [
        lambda: _claim_c1(example, config),
        lambda: _claim_c2(data),
        lambda: _claim_c3(data),
        lambda: _claim_c4(data),
        lambda: _claim_c5(data),
        lambda: _claim_c6(data),
        lambda: _claim_c7(data, thresholds),
        lambda: _claim_c8(data),
        lambda: _claim_c9(data),
        lambda: _claim_c10(data),
        lambda: _claim_c11(data),
        lambda: _claim_c12(data),
        lambda: _claim_c13(data),
    ]
    claims: list[_Claim] = []
    details: dict[str, pd.DataFrame] = {}
    for step in steps:
        before = len(data.measured_directly)
        claim = step()
        claims.append(claim)
        details.update(claim.details)
        new = data.measured_directly[before:]
        if new:
            # The summary lacked these (method, distribution, format) combinations: they were
            # measured here with sweep.run_cells on the sweep's seeded vectors.
            details[f"{claim.claim}_measured_directly"] = pd.DataFrame({"measured": new})
    ledger = pd.DataFrame(
        [[getattr(c, col) for col in LEDGER_COLUMNS] for c in claims], columns=list(LEDGER_COLUMNS)
    )
    return ledger, details
