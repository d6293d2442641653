"""Claim C15, "apart from numerics, the choice of exp matters for training": measure -> typed
result -> pure verdict -> text.

:func:`measure` turns the study's table into a :class:`TrainingResult`: for every setting
(data set x format x optimiser) and every alternative (a method with a loss), its test
accuracy at its best learning rate (mean over seeds; the rate chosen on the validation part,
:func:`softmaxlab.training.study.best_runs`) next to the reference's, softmax with the NLL,
in the same setting. An alternative

* falls short in a setting when it does not train (every learning rate has a diverged
  seed) while the reference does, or its best accuracy is below the reference's by more
  than the tolerance;
* is ahead when it trains and the reference does not, or its best accuracy exceeds the
  reference's by more than the tolerance.

The tolerance is two binomial standard errors of the reference's accuracy on that test
set, 2 sqrt(a (1 - a) / n_test): smaller gaps are what a different test sample could undo.

Alternatives are every configured method except softmax's own re-parametrisations (any
base or temperature: a base is a temperature; ssmax: softmax of scaled logits;
Gumbel-softmax: softmax of noisy logits), which are reported but not counted either way.

:func:`verdict`: "does not hold" if no alternative falls short in any setting (nothing
trains worse than exp); "holds" if every alternative falls short in every setting (no other
map reaches exp's accuracy anywhere); otherwise "holds with conditions", the conditions
naming the alternatives that fall short and those that match.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from softmaxlab.claims import CONDITIONAL, FAILS, HOLDS
from softmaxlab.formatting import number, percent
from softmaxlab.training.study import best_runs, by_validation

CLAIM = "C15"
STATEMENT = "Apart from numerics, the choice of exp matters for training."
REFERENCE = ("softmax", "nll")  # (label, loss) every alternative is compared with
#: Methods that are softmax itself up to a temperature, a logit scale or noise.
EXP_FAMILY: tuple[str, ...] = ("softmax", "ssmax", "gumbel_softmax")
STANDARD_ERRORS = 2.0  # the tolerance, in binomial standard errors of the reference accuracy


@dataclass(frozen=True)
class Comparison:
    """One alternative (label, loss) against the reference in one setting."""

    dataset: str
    dtype: str
    optimizer: str
    label: str
    loss: str
    accuracy: float  # best learning rate, mean over seeds
    trains: bool  # some learning rate at which no seed diverged
    diverged_share: float  # over all its runs (every learning rate and seed)
    reference_accuracy: float
    reference_trains: bool
    tolerance: float

    @property
    def short(self) -> bool:
        """Falls short of the reference (see the module docstring)."""
        if not self.reference_trains:
            return False
        return not self.trains or self.accuracy < self.reference_accuracy - self.tolerance

    @property
    def ahead(self) -> bool:
        """Ahead of the reference (see the module docstring)."""
        if not self.trains:
            return False
        return not self.reference_trains or (
            self.accuracy > self.reference_accuracy + self.tolerance
        )

    @property
    def name(self) -> str:
        return self.label if self.loss == "nll" else f"{self.label} ({self.loss})"


@dataclass(frozen=True)
class TrainingResult:
    """What C15's verdict and text are computed from."""

    comparisons: tuple[Comparison, ...]
    exp_family: tuple[Comparison, ...] = ()  # softmax's re-parametrisations, not counted
    # softmax's test accuracy in the setting with its best validation accuracy
    reference_digits_accuracy: float | None = None
    logistic_regression_accuracy: float | None = None  # sklearn's on the same digits parts
    mixture_accuracy: float | None = None  # as reference_digits_accuracy, on the mixture
    mixture_bayes_accuracy: float | None = None  # the mixture's ceiling
    diverged_share_by_dtype: dict[str, float] = field(default_factory=dict)
    untrainable: tuple[str, ...] = ()  # alternatives that train in no setting at all

    def alternatives(self) -> list[str]:
        return list(dict.fromkeys(c.name for c in self.comparisons))

    def short_in(self, name: str) -> list[Comparison]:
        return [c for c in self.comparisons if c.name == name and c.short]


def verdict(result: TrainingResult) -> str:
    """holds / holds with conditions / does not hold (see the module docstring)."""
    if not result.comparisons:
        raise ValueError("C15 needs at least one alternative to softmax in the training study")
    short = [c.short for c in result.comparisons]
    if not any(short):
        return FAILS
    if all(short):
        return HOLDS
    return CONDITIONAL


def _gap(c: Comparison) -> str:
    if not c.trains:
        return "does not train"
    return f"{number(100 * (c.accuracy - c.reference_accuracy), 2)} points"


def conditions(result: TrainingResult) -> str:
    """Which alternatives fall short (in how many settings, worst gap) and which match."""
    names = result.alternatives()
    settings = {(c.dataset, c.dtype, c.optimizer) for c in result.comparisons}
    parts = []
    short = [n for n in names if result.short_in(n)]
    matching = [n for n in names if not result.short_in(n)]
    if short:
        items = []
        for name in short:
            worst = min(
                result.short_in(name),
                key=lambda c: (c.trains, c.accuracy - c.reference_accuracy),
            )
            items.append(
                f"{name} ({len(result.short_in(name))}/{len(settings)} settings, "
                f"worst: {_gap(worst)} on {worst.dataset} {worst.dtype} {worst.optimizer})"
            )
        parts.append("falls short of softmax: " + "; ".join(items))
    if matching:
        parts.append("within the tolerance of softmax everywhere: " + ", ".join(matching))
    ahead = sorted({c.name for c in result.comparisons if c.ahead})
    if ahead:
        parts.append("ahead of softmax somewhere: " + ", ".join(ahead))
    return ". ".join(parts)


def text(result: TrainingResult) -> str:
    """One paragraph: the verdict's numbers in words."""
    n_alt = len(result.alternatives())
    n_short = sum(1 for n in result.alternatives() if result.short_in(n))
    out = []
    if result.reference_digits_accuracy is not None:
        sentence = (
            f"A linear classifier trained through softmax with the NLL reaches a test "
            f"accuracy of {percent(result.reference_digits_accuracy)} on scikit-learn's digits "
            f"(each method's learning rate chosen on a validation part)"
        )
        if result.logistic_regression_accuracy is not None:
            sentence += (
                f"; multinomial logistic regression by scikit-learn on the same parts, its "
                f"regularisation chosen the same way: "
                f"{percent(result.logistic_regression_accuracy)}"
            )
        out.append(sentence + ".")
    if result.mixture_accuracy is not None:
        sentence = f"On the Gaussian mixture it reaches {percent(result.mixture_accuracy)}"
        if result.mixture_bayes_accuracy is not None:
            sentence += f" (Bayes accuracy: {percent(result.mixture_bayes_accuracy)})"
        out.append(sentence + ".")
    out.append(
        f"Of {n_alt} alternatives (other maps with the NLL, sparse maps also with their "
        f"Fenchel-Young loss), {n_short} fall short of softmax by more than "
        f"{number(STANDARD_ERRORS, 2)} standard errors of its test accuracy, or do not "
        f"train at all, in at least one setting (data set x format x optimiser)."
    )
    if result.exp_family:
        level = [c for c in result.exp_family if not c.short and not c.ahead]
        off = list(dict.fromkeys(c.name for c in result.exp_family if c.short or c.ahead))
        sentence = (
            f"Softmax's own re-parametrisations (other bases and temperatures, ssmax, "
            f"Gumbel noise) are within the tolerance in {len(level)} of "
            f"{len(result.exp_family)} comparisons"
        )
        out.append(sentence + (f"; not: {', '.join(off)}." if off else "."))
    if result.untrainable:
        out.append(
            "No learning rate trains "
            + ", ".join(result.untrainable)
            + " in any setting: the NLL is infinite or undefined (a target probability of "
            "zero or below) or the gradient is zero."
        )
    if result.diverged_share_by_dtype:
        shares = ", ".join(
            f"{percent(share)} in {dtype}"
            for dtype, share in result.diverged_share_by_dtype.items()
        )
        out.append(f"Share of runs that diverged, over every method, rate and seed: {shares}.")
    return " ".join(out)


# --- measure ------------------------------------------------------------------------------


def _tolerance(accuracy: float, n_test: int) -> float:
    """STANDARD_ERRORS binomial standard errors of ``accuracy`` on ``n_test`` test points."""
    if not math.isfinite(accuracy):
        return 0.0
    return STANDARD_ERRORS * math.sqrt(max(accuracy * (1 - accuracy), 0.0) / n_test)


def _trains(table: pd.DataFrame) -> pd.Series:
    """Per (data set, label, loss, format, optimiser): some learning rate without a
    diverged seed."""
    keys = ["dataset", "label", "loss", "dtype", "optimizer"]
    clean = ~table.groupby(keys + ["learning_rate"], sort=False)["diverged"].any()
    return clean.groupby(level=keys, sort=False).any()


def _chosen_test_accuracy(reference: pd.DataFrame, dataset: str) -> float | None:
    """The reference's test accuracy on ``dataset`` in the setting (format, optimiser) with
    the best validation accuracy, ties broken by the study's rule (by_validation: the lower
    validation NLL, then the first in table order), or None."""
    rows = reference[reference["dataset"] == dataset]
    if rows.empty:
        return None
    return float(by_validation(rows, rows["validation_nll"])["test_accuracy"].iloc[0])


def measure(
    table: pd.DataFrame,
    n_test: dict[str, int],
    logistic_regression_accuracy: float | None = None,
    mixture_bayes_accuracy: float | None = None,
) -> TrainingResult:
    """C15's result from the study's table (:data:`softmaxlab.training.study.COLUMNS`);
    ``n_test``: the test-set size of each data set; the references as
    :class:`softmaxlab.training.study.StudyResult` holds them."""
    best = best_runs(table)
    trains = _trains(table)
    keys = ["dataset", "dtype", "optimizer"]
    reference = best[(best["label"] == REFERENCE[0]) & (best["loss"] == REFERENCE[1])]
    if reference.empty:
        raise ValueError("C15 needs softmax (default parameters) with the NLL in the study")
    ref = {tuple(row[k] for k in keys): row for _, row in reference.iterrows()}
    comparisons, family = [], []
    for _, row in best.iterrows():
        setting = tuple(row[k] for k in keys)
        if (row["label"], row["loss"]) == REFERENCE or setting not in ref:
            continue
        base = ref[setting]
        item = Comparison(
            dataset=row["dataset"],
            dtype=row["dtype"],
            optimizer=row["optimizer"],
            label=row["label"],
            loss=row["loss"],
            accuracy=float(row["test_accuracy"]),
            trains=bool(trains[(row["dataset"], row["label"], row["loss"], *setting[1:])]),
            diverged_share=float(row["diverged_share"]),
            reference_accuracy=float(base["test_accuracy"]),
            reference_trains=bool(trains[(base["dataset"], *REFERENCE, *setting[1:])]),
            tolerance=_tolerance(float(base["test_accuracy"]), n_test[row["dataset"]]),
        )
        (family if row["method"] in EXP_FAMILY else comparisons).append(item)
    names = list(dict.fromkeys(c.name for c in comparisons))
    untrainable = tuple(n for n in names if not any(c.trains for c in comparisons if c.name == n))
    digits, mixture = (_chosen_test_accuracy(reference, name) for name in ("digits", "mixture"))
    shares = table.groupby("dtype", sort=False)["diverged"].mean()
    return TrainingResult(
        comparisons=tuple(comparisons),
        exp_family=tuple(family),
        reference_digits_accuracy=digits,
        logistic_regression_accuracy=logistic_regression_accuracy,
        mixture_accuracy=mixture,
        mixture_bayes_accuracy=mixture_bayes_accuracy,
        diverged_share_by_dtype={str(k): float(v) for k, v in shares.items()},
        untrainable=untrainable,
    )


# --- serialisation --------------------------------------------------------------------------


def _plain(value):
    """JSON-safe: NaN and the infinities become None (JSON has neither)."""
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_json(result: TrainingResult) -> str:
    """The claim's row (claim, statement, verdict, conditions, text) and the typed result,
    as JSON in field order (the same result always gives the same bytes)."""
    payload = {
        "claim": CLAIM,
        "statement": STATEMENT,
        "verdict": verdict(result),
        "conditions": conditions(result),
        "text": text(result),
        "result": _plain(asdict(result)),
    }
    return json.dumps(payload, indent=1, allow_nan=False) + "\n"


def from_json(payload: str | dict) -> TrainingResult:
    """The TrainingResult of a :func:`to_json` payload (None back to NaN)."""
    data = json.loads(payload) if isinstance(payload, str) else payload
    result = dict(data["result"])

    def comparison(item: dict) -> Comparison:
        item = {
            k: (math.nan if v is None and k.endswith("accuracy") else v) for k, v in item.items()
        }
        return Comparison(**item)

    result["comparisons"] = tuple(comparison(c) for c in result["comparisons"])
    result["exp_family"] = tuple(comparison(c) for c in result["exp_family"])
    result["untrainable"] = tuple(result["untrainable"])
    return TrainingResult(**result)


def comparisons_frame(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """The comparisons as a table, with the derived ``short`` and ``ahead`` flags."""
    return pd.DataFrame([{**asdict(c), "short": c.short, "ahead": c.ahead} for c in comparisons])
