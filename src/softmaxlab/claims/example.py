"""C1, the worked example x = [2, 4, 2, 1] through every method, against the thread's numbers.

Verdict: "holds" when argmax, linear and softmax round to the thread's printed 4 decimals;
"holds with conditions" when they agree to within one unit of the 3rd decimal but not when
rounded to 4 (the thread truncated or mis-rounded); "does not hold" otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from softmaxlab.config import method_specs
from softmaxlab.formatting import number
from softmaxlab.methods import normalize

from .common import CONDITIONAL, FAILS, HOLDS, Claim, Spec

EXAMPLE_X: tuple[float, ...] = (2.0, 4.0, 2.0, 1.0)
# The numbers printed in the thread's answer (the claim under test, not a result).
THREAD_EXAMPLE: dict[str, tuple[float, ...]] = {
    "argmax": (0.0, 1.0, 0.0, 0.0),
    "linear": (0.2222, 0.4444, 0.2222, 0.1111),
    "softmax": (0.1025, 0.7573, 0.1025, 0.0377),
}
# The thread prints 4 decimals: a computed value matches when it rounds to the printed one.
EXAMPLE_DECIMALS = 4
# Near miss: within one unit of the third decimal.
NEAR_MISS = 1e-3
EXAMPLE_COLUMNS = ("method", "label", "p1", "p2", "p3", "p4", "sum")


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


@dataclass(frozen=True)
class C1Result:
    """Which of the thread's three rows fail at 4 decimals, the largest |p - printed|, the
    largest probability of softmax and linear, and how many other methods were tabulated."""

    failed: tuple[str, ...]
    worst: float
    softmax_max: float
    linear_max: float
    others: int
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def measure(example: pd.DataFrame | None, config: Mapping) -> C1Result:
    """C1's result from the worked-example table (recomputed if None or incomplete)."""
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
    return C1Result(
        failed=tuple(failed),
        worst=worst,
        softmax_max=float(get.loc["softmax", cols].max()),
        linear_max=float(get.loc["linear", cols].max()),
        others=len(detail) - len(THREAD_EXAMPLE),
        details={"C1_worked_example": detail},
    )


def verdict(r: C1Result) -> str:
    if not r.failed:
        return HOLDS
    return CONDITIONAL if r.worst < NEAR_MISS else FAILS


def value(r: C1Result) -> str:
    return (
        f"argmax, linear, softmax match the thread to {EXAMPLE_DECIMALS} decimals: "
        f"{len(THREAD_EXAMPLE) - len(r.failed)}/{len(THREAD_EXAMPLE)} (max |p - printed| = "
        f"{number(r.worst, 3)}); p(max) softmax {number(r.softmax_max, decimals=4)} vs linear "
        f"{number(r.linear_max, decimals=4)}; {r.others} other methods tabulated"
    )


def conditions(r: C1Result) -> str:
    if not r.failed:
        return "exact for float64 on this vector"
    where = ", ".join(r.failed)
    if verdict(r) == CONDITIONAL:
        return f"{where} agree to within {NEAR_MISS:g} but not when rounded to 4 decimals"
    return f"mismatch for {where} at {EXAMPLE_DECIMALS} decimals"


SPEC = Spec(
    "C1",
    "For x = [2, 4, 2, 1]: argmax [0,1,0,0], linear [0.2222,0.4444,0.2222,0.1111], "
    "softmax [0.1025,0.7573,0.1025,0.0377].",
    "The vector through every method in float64; rounded to 4 decimals vs the thread.",
    verdict,
    value,
    conditions,
    outcomes=(
        "holds when the argmax, linear and softmax vectors the thread printed match to "
        f"{EXAMPLE_DECIMALS} decimals; with conditions when a mismatch is below {NEAR_MISS:g}; "
        "does not hold otherwise. Exact arithmetic on one vector: only a misprint in the "
        "thread could change it."
    ),
)


def claim(example: pd.DataFrame | None, config: Mapping) -> Claim:
    result = measure(example, config)
    return SPEC.row(result, result.details)
