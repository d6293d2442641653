"""C15, "apart from numerics, the choice of exp matters for training", from the training
study's verdict JSON (results/tables/training_verdict.json).

The claims job reads the JSON the training job wrote; the typed result, verdict and text are
softmaxlab.training.verdict's, imported inside the functions (that module imports the
verdict strings from here, so a module-level import would be circular).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from softmaxlab.formatting import number

from .common import Claim, Spec


def measure_c15(payload: Mapping):
    """The TrainingResult of the study's JSON payload."""
    from softmaxlab.training.verdict import from_json

    return from_json(dict(payload))


def verdict_c15(result) -> str:
    from softmaxlab.training.verdict import verdict

    return verdict(result)


def value_c15(result) -> str:
    from softmaxlab.training.verdict import text

    return text(result)


def conditions_c15(result) -> str:
    from softmaxlab.training.verdict import conditions

    return conditions(result)


def headline_c15(result) -> tuple[str, float]:
    """How many alternatives fall short somewhere, as the verdict counts them: the
    shortfalls that persist on the check's grid (the set-up's share removed), the naive
    forms' overflow set aside."""
    count = len(result.counted())
    how = ""
    if result.check_steps:
        how = ", even with longer training and a wider learning-rate grid"
        starts = []
        if len(result.check_init_scales) > 1:
            starts.append("smaller initial weights")
        centres = [c for c in result.check_init_centres if c]
        if centres:
            positive = min(centres) > 0
            starts.append("positive initial scores" if positive else "other initial biases")
        if starts:
            grid = ["longer training", "a wider learning-rate grid", *starts]
            how = f", even with {', '.join(grid[:-1])} and {grid[-1]}"
    if result.numerics_only():
        how += " (the naive forms' overflow set aside)"
    return (
        "In training, measured: a linear classifier trained through each map on scikit-learn's "
        f"digits and a Gaussian mixture, {number(count)} of the alternatives to "
        f"softmax fell short of its test accuracy in at least one setting{how}"
        f"{_untrained(result)} (C15).",
        float(count),
    )


def _untrained(result) -> str:
    """How many of the counted alternatives never take a step where they fall short."""
    idle, counted = result.never_stepping(), result.counted()
    if not idle:
        return ""
    return (
        f"; {number(len(idle))} of them never take a step there (their loss is not finite "
        f"at the initial model), {number(len(counted) - len(idle))} are trained and end less "
        f"accurate"
    )


def _statement() -> str:
    return "Apart from numerics, the choice of exp matters for training."


SPEC_C15 = Spec(
    "C15",
    _statement(),
    "A multinomial linear classifier trained through every method on scikit-learn's digits "
    "and a seeded Gaussian mixture (learning-rate grid, seeds, float32 and bfloat16): test "
    "accuracy at the learning rate chosen on a validation part (the grid widened where the "
    "choice is at its edge: training.widen), per setting, against softmax with the NLL by a "
    "paired exact test on the same test points (sign-flip; Holm over each alternative's "
    "settings) (results/tables/training.csv); where an alternative falls short, that setting "
    "and softmax's trained again with more steps, smaller learning rates, a smaller "
    "initial scale of the weights and, for the maps a common shift of the logits changes, "
    "other initial biases (a positive one starts every score positive, which linear "
    "normalisation's NLL needs), each chosen on the validation part with the rate, widened "
    "the same way (training.check_steps, check_rates_below, check_init_scales, "
    "check_init_centres), so that a "
    "shortfall the set-up makes is not counted; nor is a naive form's (stable=False) where "
    "its stable form is not short: that is overflow, numerics.",
    verdict_c15,
    value_c15,
    conditions_c15,
    headline_c15,
    outcomes=(
        "does not hold when no alternative falls short of softmax in any setting of the "
        "training study (as the verdict counts a shortfall: found by the paired test, "
        "persisting on the check's grid, not a naive form's overflow); holds when every "
        "alternative does in every setting; with conditions otherwise. Set by algebra and "
        "the methods configured in part: argmax's gradient is zero, so with argmax among the "
        "alternatives 'does not hold' cannot come out, and 'holds' needs every alternative "
        "short in every setting; measured: which alternatives fall short, where, and by how "
        "much."
    ),
)


def claim_c15(payload: Mapping | None) -> Claim:
    if payload is None:
        return SPEC_C15.not_measured("the training study's verdict JSON was not given")
    result = measure_c15(payload)
    if not result.comparisons:
        return SPEC_C15.not_measured("the training study has no alternative to softmax")
    from softmaxlab.training.verdict import comparisons_frame

    comparisons = comparisons_frame(result.comparisons)
    comparisons["persists"] = [result.persists(c) for c in result.comparisons]
    comparisons["counts"] = [result.counts(c) for c in result.comparisons]
    details = {"C15_comparisons": comparisons}
    if result.check:  # the shortfalls trained again on the check's grid
        details["C15_check"] = comparisons_frame(result.check)
    return SPEC_C15.row(result, {k: pd.DataFrame(v) for k, v in details.items()})
