"""What every claim shares: the verdicts, the ledger row, and THE pooling rule.

Pooling rule (stated once; :data:`POOLING_RULE` is the sentence the report prints): a value
pooled over several cells (distribution x scale x K x format) is the n-weighted mean of the
cells' means, sum_c n_c mean_c / sum_c n_c, with n_c the number of vectors of cell c where
the metric is defined. That is the mean over the pooled vectors: each vector counts once,
each cell in proportion to its vectors. Cells with n = 0 or no mean add nothing. Every
claim pools with :func:`pool`; a claim that quotes one quantity in two places quotes the
same pooled number.

Each claim is ``measure(data) -> result`` (a frozen dataclass of the numbers the verdict
needs), a pure ``verdict(result)``, and ``value(result)`` / ``conditions(result)`` for the
text; ``headline(result)`` gives the claim's sentence of "the answer" where it has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from softmaxlab.dtypes import DTYPES
from softmaxlab.sampling import nonnegative_support  # noqa: F401 (the claims import it from here)
from softmaxlab.stats import POOLING_RULE, pool  # noqa: F401 (the claims' names)
from softmaxlab.sweep import compute_modes, headline_compute

LEDGER_COLUMNS: tuple[str, ...] = (
    "claim",
    "statement",
    "measure",
    "value",
    "verdict",
    "conditions",
    "outcomes",
)
HOLDS, CONDITIONAL, FAILS = "holds", "holds with conditions", "does not hold"
#: A claim whose data the config does not produce (e.g. grad_vectors: 0): said, not guessed.
NOT_MEASURED = "not measured"
VERDICTS: tuple[str, ...] = (HOLDS, CONDITIONAL, FAILS)
#: The format the format-independent claims are measured in.
MAIN_DTYPE = "float64"
#: Rates are means of 0/1: "never" means exactly 0.
RATE_SHARE_TOLERANCE = 0.0


@dataclass
class Claim:
    """One row of the ledger (LEDGER_COLUMNS) and the detail tables behind it."""

    claim: str
    statement: str
    measure: str
    value: str
    verdict: str
    conditions: str
    details: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: The typed result the verdict was computed from (None when not measured).
    result: object = None
    #: What each verdict requires, and whether the data could have given another
    #: (Spec.outcomes).
    outcomes: str = ""


@dataclass(frozen=True)
class Spec:
    """A claim's fixed text and its pure functions of the typed result."""

    claim: str
    statement: str
    measure: str
    verdict: Callable[[object], str]
    value: Callable[[object], str]
    conditions: Callable[[object], str]
    headline: Callable[[object], tuple[str, float] | None] | None = None
    #: What each verdict requires (its rule, with the constants it reads) and whether the
    #: data could have given another: some follow from algebra once the config has
    #: certain cells or methods, and a reader should know which.
    outcomes: str = ""

    def row(self, result, details: Mapping[str, pd.DataFrame] | None = None) -> Claim:
        """The ledger row of a measured result."""
        return Claim(
            self.claim,
            self.statement,
            self.measure,
            self.value(result),
            self.verdict(result),
            self.conditions(result),
            dict(details or {}),
            result,
            self.outcomes,
        )

    def measured(self, measure: Callable[..., object], *args) -> Claim:
        """The row of ``measure(*args)`` (a result with ``details``), or the not-measured
        row when the data it needs is missing (:class:`Missing`, its message the reason)."""
        try:
            result = measure(*args)
        except Missing as missing:
            return self.not_measured(str(missing))
        return self.row(result, result.details)

    def not_measured(self, reason: str) -> Claim:
        """The row of a claim whose data this config does not produce, with the reason."""
        return Claim(
            self.claim,
            self.statement,
            self.measure,
            "not measured in this config",
            NOT_MEASURED,
            reason,
            outcomes=self.outcomes,
        )


class Missing(LookupError):
    """The data a claim needs is not in what the jobs wrote; the message says what."""


# ------------------------------------------------------------------------------ small helpers


def float32_formats(config: Mapping, dtypes: Iterable[str]) -> tuple[str, ...]:
    """The formats among ``dtypes`` narrower than float32 whose headline compute mode is
    float32 arithmetic (the frameworks'): the rows the claims read compute them in it, so
    their naive computation overflows where float32's does (C7, C8, C9)."""
    return tuple(
        t
        for t in dtypes
        if DTYPES[t].itemsize < 4 and headline_compute(t, compute_modes(config, t)) == "float32"
    )


def dtype_order(names: Iterable[str]) -> list[str]:
    """The formats among ``names`` in the library's order (widest first)."""
    names = set(names)
    return [name for name in DTYPES if name in names]


def sort_rows(frame: pd.DataFrame, orders: Mapping[str, Sequence | None]) -> pd.DataFrame:
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


def log_crossing(scales: np.ndarray, values: np.ndarray, level: float = 0.0) -> float:
    """The scale where ``values`` last crosses ``level`` from <= to >, interpolated linearly in
    log(scale) between grid points; NaN if it never crosses upward."""
    above = values > level
    index = np.flatnonzero(~above[:-1] & above[1:])
    if len(index) == 0:
        return math.nan
    i = index[-1]
    v0, v1 = values[i], values[i + 1]
    return _between(scales, i, 0.0 if v1 == v0 else (level - v0) / (v1 - v0))


def falls_below(scales: np.ndarray, values: np.ndarray, level: float) -> float:
    """The scale where ``values`` (at increasing ``scales``) last fall from >= ``level`` to
    below it, interpolated linearly in (log scale, log value) between the grid points: a
    power law s^-a, as a distance to the argmax becomes at large scale, is interpolated
    exactly (linearly in the value, softmax's E[TV] on normal logits puts the level 0.1 4%
    to 18% late on half-decade grids; in logs within 1.3%: tests/test_claims.py). Linearly
    in the value where an end is 0 (no log); the smallest scale where the values start
    below the level; NaN where they never fall below it."""
    if values[0] < level:
        return float(scales[0])
    below = values < level
    index = np.flatnonzero(~below[:-1] & below[1:])
    if len(index) == 0:
        return math.nan
    i = index[-1]
    v0, v1 = float(values[i]), float(values[i + 1])
    if v1 > 0:
        v0, v1, level = math.log(v0), math.log(v1), math.log(level)
    return _between(scales, i, (level - v0) / (v1 - v0))


def _between(scales: np.ndarray, i: int, frac: float) -> float:
    """The scale ``frac`` of the way from scales[i] to scales[i + 1] in log scale."""
    return float(np.exp(np.log(scales[i]) + frac * (np.log(scales[i + 1]) - np.log(scales[i]))))


def nearest_to_one(scales) -> float:
    """The scale nearest 1 on a log scale (the reference scale of several claims)."""
    scales = np.asarray(sorted(scales), dtype=np.float64)
    return float(scales[np.argmin(np.abs(np.log(scales)))])
