"""Claim C15, "apart from numerics, the choice of exp matters for training": measure -> typed
result -> pure verdict -> text. The measurement and the typed result are
:mod:`softmaxlab.training.result`'s (its names are re-exported here); this module reads
them into the verdict and the text.

:func:`verdict` reads the shortfalls it counts: "does not hold" if none (nothing trains
worse than exp); "holds" if every alternative falls short in every setting (no other map
reaches exp's accuracy anywhere); otherwise "holds with conditions", the conditions naming
the alternatives that fall short, those that match, those whose shortfall closed on the
check's grid and the naive forms short for their overflow only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from softmaxlab.claims import CONDITIONAL, FAILS, HOLDS
from softmaxlab.formatting import interval, number, percent
from softmaxlab.methods import parse_label
from softmaxlab.training.result import (
    ALPHA,
    EXP_FAMILY,
    REFERENCE,
    Comparison,
    TrainingResult,
    as_plain,
    comparisons_frame,
    from_json,
    jointly,
    measure,
    measure_every_start,
    needs_check,
    result_json,
    stable_label,
)
from softmaxlab.training.study import shift_invariant

# The measurement's names too, for the callers that read them here.
__all__ = [
    "ALPHA",
    "CLAIM",
    "EXP_FAMILY",
    "REFERENCE",
    "STATEMENT",
    "Comparison",
    "TrainingResult",
    "comparisons_frame",
    "conditions",
    "from_json",
    "jointly",
    "measure",
    "measure_every_start",
    "needs_check",
    "result_json",
    "stable_label",
    "text",
    "to_json",
    "verdict",
]

CLAIM = "C15"
STATEMENT = "Apart from numerics, the choice of exp matters for training."


def verdict(result: TrainingResult) -> str:
    """holds / holds with conditions / does not hold (see the module docstring)."""
    if not result.comparisons:
        raise ValueError("C15 needs at least one alternative to softmax in the training study")
    short = [result.counts(c) for c in result.comparisons]
    if not any(short):
        return FAILS
    if all(short):
        return HOLDS
    return CONDITIONAL


def _gap(c: Comparison) -> str:
    points = f"{number(100 * (c.accuracy - c.reference_accuracy), 2)} points"
    if c.never_steps:  # its loss is not finite at the initial model: no update at all
        return f"{points}, takes no step"
    # every run's loss ends non-finite or above its start: scored at the step it stopped
    return points if c.trains else f"{points}, every run diverges"


def conditions(result: TrainingResult) -> str:
    """Which alternatives fall short as the verdict counts them (in how many settings; the
    worst gap there, on the check's grid where it ran), which close on the check's grid,
    which fall short for their overflow only, and which match."""
    names = result.alternatives()
    settings = {(c.dataset, c.dtype, c.optimizer) for c in result.comparisons}
    parts = []
    matching = [n for n in names if not result.short_in(n)]
    items = []
    for name in result.counted():
        counted = [result.checked(c) or c for c in result.short_in(name) if result.counts(c)]
        worst = min(counted, key=lambda c: c.accuracy - c.reference_accuracy)
        items.append(
            f"{name} ({len(counted)}/{len(settings)} settings, "
            f"worst: {_gap(worst)} on {worst.dataset} {worst.dtype} {worst.optimizer})"
        )
    if items:
        grid = f", even {_check_grid(result)}" if result.check_steps else ""
        parts.append(f"falls short of softmax{grid}: " + "; ".join(items))
    if matching:
        parts.append(
            "not told apart from softmax in any setting (paired test): " + ", ".join(matching)
        )
    ahead = sorted({c.name for c in result.comparisons if c.ahead})
    if ahead:
        parts.append("ahead of softmax somewhere: " + ", ".join(ahead))
    closed = result.rechecked()[1]
    if closed:
        parts.append(
            f"short with {number(result.steps)} steps, not told apart from softmax with the "
            "check's: " + ", ".join(closed)
        )
    numerics = result.numerics_only()
    if numerics:
        parts.append(
            "short only where their stable forms (the same maps) are not, so for their "
            "overflow (numerics, set aside): " + ", ".join(numerics)
        )
    return ". ".join(parts)


def _as_controlled(label: str) -> str:
    """A re-parametrisation of softmax with what no set-up can absorb in it, where the
    label says: base 1 (a constant map) or Gumbel noise (in every training step; its
    models predict without it: study.predicting_map)."""
    try:
        name, params = parse_label(label)
    except ValueError:
        return label
    if name == "gumbel_softmax":
        return f"{label}: noise in every training step"
    if params.get("base") == 1:
        return f"{label}: base 1, a constant output"
    return label


def _check_grid(result: TrainingResult) -> str:
    """How the check trained, in words: its steps, learning rates and initial scales."""
    lowest = [f"{number(min(grid))} ({name})" for name, grid in result.check_learning_rates.items()]
    where = ""
    if lowest:
        listed = ", ".join(lowest[:-1]) + " and " + lowest[-1] if len(lowest) > 1 else lowest[0]
        where = f" and learning rates down to {listed}"
        if result.widen:
            where += (
                f", widened by up to {number(result.widen)} decades where the chosen "
                "rate was the smallest or largest trained"
            )
    scales = [number(s) for s in result.check_init_scales]
    if len(scales) > 1:
        where += (
            f", from initial weights of scale {', '.join(scales[:-1])} and {scales[-1]} (the "
            "scale chosen on the validation part with the rate)"
        )
    centres = [number(c) for c in result.check_init_centres]
    if len(centres) > 1:
        where += (
            f" and, for the maps a common shift of the logits changes, initial biases of "
            f"{', '.join(centres[:-1])} and {centres[-1]} (every logit starts near it; chosen "
            "the same way)"
        )
    if len(scales) > 1 or len(centres) > 1:
        where += (
            ", a shortfall counting only where it is found from every start, each with its "
            "own rate chosen on the validation part"
        )
    return f"with {number(result.check_steps)} steps instead of {number(result.steps)}{where}"


def _idle_in_study(result: TrainingResult) -> list[str]:
    """The alternatives that took no step in any setting of the study (their loss is not
    finite at the initial model in every run)."""
    names = dict.fromkeys(c.name for c in result.comparisons)
    return [n for n in names if all(c.never_steps for c in result.comparisons if c.name == n)]


def _from_centres(result: TrainingResult) -> str:
    """What the check's initial biases changed: in how many of its settings the start chosen
    on the validation part has a non-zero bias, and how the alternatives that took no step
    in the study train from it: their test accuracy over the check's settings against
    softmax's, and in how many they still fall short."""
    if not result.check or not any(result.check_init_centres):
        return ""
    centres = [number(c) for c in result.check_init_centres if c]
    chosen = [c for c in result.check if c.init_centre]
    out = (
        f"The check's runs from an initial bias of {' or '.join(centres)} were chosen in "
        f"{number(len(chosen))} of its {number(len(result.check))} settings"
    )
    revived = []
    for name in _idle_in_study(result):
        rows = result.stepped_from_centres(name)
        if not rows:
            continue
        accuracy = [c.accuracy for c in rows]
        reference = [c.reference_accuracy for c in rows]
        text = (
            f"{name}, test accuracy {interval(min(accuracy), max(accuracy), rate=True)} "
            f"(softmax's {interval(min(reference), max(reference), rate=True)}), short in "
            f"{number(sum(c.short for c in rows))} of {number(len(rows))} settings"
        )
        idle = sum(not c.trains for c in rows)
        if idle:
            text += (
                f", every run diverging (its loss not finite or above its start) in {number(idle)}"
            )
        revived.append(text)
    if revived:
        start = " (their scores start positive)" if min(result.check_init_centres) >= 0 else ""
        out += (
            f"; from it, the maps that took no step from weights centred at 0 take steps"
            f"{start}: " + "; ".join(revived)
        )
    return out + "."


def _edges(result: TrainingResult) -> str:
    """How far the check's grid was widened, and which remaining shortfalls still chose the
    smallest or largest rate trained (a better rate may lie beyond it)."""
    if not result.check_groups:
        return ""
    sentence = (
        f"Of the {number(result.check_groups)} groups trained again (the alternatives' "
        f"settings and softmax's), {number(result.check_widened)} were widened beyond the "
        f"check's grid"
    )
    remaining = [c for c in result.check if c.short]
    edge = [c for c in remaining if c.at_edge]
    if not edge:
        return sentence + (
            "; every remaining shortfall's alternative chose a rate inside those trained."
        )
    where = "; ".join(
        f"{c.name} on {c.dataset} {c.dtype} {c.optimizer}: {number(c.learning_rate)}" for c in edge
    )
    return sentence + (
        f"; in {number(len(edge))} of the {number(len(remaining))} remaining shortfalls the "
        f"alternative still chose the smallest or largest rate trained, so a better rate may "
        f"lie beyond it: {where}."
    )


def _reference_edge(result: TrainingResult) -> str:
    """The settings where softmax's own chosen rate is the smallest or largest the study
    trained (its grid, widened): there a better-tuned softmax might tell apart an
    alternative that is not (the check trains softmax again only where something fell
    short)."""
    settings = {(c.dataset, c.dtype, c.optimizer): c for c in result.comparisons}
    edge = [c for c in settings.values() if c.reference_at_edge]
    if not edge:
        return ""
    where = "; ".join(
        f"{c.dataset} {c.dtype} {c.optimizer}: {number(c.reference_learning_rate)}" for c in edge
    )
    return (
        f"Softmax's chosen learning rate is the smallest or largest trained in "
        f"{number(len(edge))} of its {number(len(settings))} settings ({where}): a better "
        f"rate beyond it might raise softmax's accuracy there and tell apart an alternative "
        f"that matches it now."
    )


def _setting(setting: tuple[str, str] | None) -> str:
    """Where softmax's quoted accuracy was measured: its format and optimiser, chosen on the
    validation part like the rates (the other settings' accuracies are C15's table's)."""
    if setting is None:
        return ""
    dtype, optimizer = setting
    return (
        f"{dtype}, {optimizer}: the format and optimiser with softmax's best validation "
        "accuracy, and "
    )


def text(result: TrainingResult) -> str:
    """One paragraph: the verdict's numbers in words."""
    n_alt = len(result.alternatives())
    n_short = sum(1 for n in result.alternatives() if result.short_in(n))
    out = []
    if result.reference_digits_accuracy is not None:
        sentence = (
            f"A linear classifier trained through softmax with the NLL reaches a test "
            f"accuracy of {percent(result.reference_digits_accuracy)} on scikit-learn's digits "
            f"({_setting(result.reference_digits_setting)}each method's learning rate chosen "
            "on a validation part)"
        )
        if result.logistic_regression_accuracy is not None:
            sentence += (
                f"; multinomial logistic regression by scikit-learn on the same parts, its "
                f"regularisation chosen the same way: "
                f"{percent(result.logistic_regression_accuracy)}"
            )
        out.append(sentence + ".")
    if result.mixture_accuracy is not None:
        notes = [] if result.mixture_setting is None else [", ".join(result.mixture_setting)]
        if result.mixture_bayes_accuracy is not None:
            notes.append(f"Bayes accuracy: {percent(result.mixture_bayes_accuracy)}")
        sentence = f"On the Gaussian mixture it reaches {percent(result.mixture_accuracy)}"
        sentence += f" ({'; '.join(notes)})" if notes else ""
        out.append(sentence + ".")
    out.append(
        f"Of {n_alt} alternatives (other maps with the NLL, sparse maps also with their "
        f"Fenchel-Young loss), {n_short} fall short of softmax's test accuracy in at least "
        f"one setting (data set x format x optimiser; a paired exact test on the test points "
        f"given the trained models, {percent(ALPHA)} family-wise over each alternative's "
        f"settings)"
        + (
            f", before the check below trains them again: {len(result.counted())} as the "
            "verdict counts them, after it."
            if result.check
            else "."
        )
    )
    if result.widen and result.groups:
        out.append(
            f"Each grid of learning rates was widened a decade at a time, up to "
            f"{number(result.widen)}, where the rate chosen was the smallest or largest "
            f"trained: {number(result.widened)} of the {number(result.groups)} groups (data "
            f"set x map x loss x format x optimiser); {number(result.at_edge)} still chose "
            f"the smallest or largest rate trained (at_edge in the comparisons; a shortfall "
            f"among them is trained again by the check)."
        )
    reference_edge = _reference_edge(result)
    if reference_edge:
        out.append(reference_edge)
    if result.exp_family:
        level = [c for c in result.exp_family if not c.short and not c.ahead]
        off = list(dict.fromkeys(c.name for c in result.exp_family if c.short or c.ahead))
        sentence = (
            f"Softmax's own re-parametrisations (other bases and temperatures, ssmax, "
            f"Gumbel noise) are not told apart from softmax in {len(level)} of "
            f"{len(result.exp_family)} comparisons"
        )
        if off:
            sentence += (
                f"; told apart: {', '.join(off)} (each is softmax up to a logit scale, "
                f"base 1's being 0, or noise)"
            )
        out.append(sentence + ".")
    if result.check:
        still, closed = result.rechecked()
        settings = len(result.check)
        remain = sum(c.short for c in result.check)
        sentence = (
            f"Trained again {_check_grid(result)}, where an alternative fell short "
            f"({settings} settings, {len(still + closed)} alternatives), "
            f"{remain} of the {settings} shortfalls remain"
        )
        if closed:
            sentence += f"; not told apart from softmax in any setting: {', '.join(closed)}"
        out.append(sentence + ": a shortfall the check does not find is not counted.")
        edges = _edges(result)
        if edges:
            out.append(edges)
        centred = _from_centres(result)
        if centred:
            out.append(centred)
    if result.check_exp_family:
        still = [c for c in result.check_exp_family if c.short or c.ahead]
        names = list(dict.fromkeys(c.name for c in still))
        closed = [
            n for n in dict.fromkeys(c.name for c in result.check_exp_family) if n not in names
        ]
        sentence = (
            f"The check's control, softmax's re-parametrisations told apart from it trained "
            f"again the same way: {len(still)} of {len(result.check_exp_family)} still told "
            f"apart" + (f" ({'; '.join(map(_as_controlled, names))})" if names else "")
        )
        if closed:
            sentence += f"; not told apart in any setting: {', '.join(closed)}"
        out.append(sentence + ".")
    numerics = result.numerics_only()
    if numerics:
        out.append(
            f"{', '.join(numerics)} fall short only where their stable forms (the same maps, "
            "the max-shift applied) do not: the difference is their overflow, numerics, "
            "which this claim sets aside."
        )
    counted = result.counted()
    idle = result.never_stepping()
    if counted:
        parts = []
        if idle:
            parts.append(
                f"{len(idle)} never take a step where they fall short (their loss is not "
                f"finite at the initial model in every run, so they are scored as that model: "
                f"{', '.join(idle)})"
            )
        stepped = [n for n in counted if n not in idle]
        if stepped:
            parts.append(f"{len(stepped)} are trained and end less accurate ({', '.join(stepped)})")
        out.append(
            f"Of the {len(counted)} alternatives counted as falling short, {'; '.join(parts)}."
        )
    joint = jointly(result)
    checked = f" (and over the check's {len(result.check)})" if result.check else ""
    out.append(
        f"Holm over all {len(result.comparisons)} comparisons at once{checked} instead of "
        f"over each alternative's settings (family-wise control over the whole claim) "
        f"counts {len(joint.counted())} of the {n_alt} alternatives as falling short, "
        f"against {len(result.counted())} with the per-alternative rule."
    )
    untrainable = [
        n for n in result.untrainable if not any(c.trains for c in result.check if c.name == n)
    ]
    if untrainable:
        grid = " (nor on the check's grid)" if result.check else ""
        out.append(
            "No learning rate trains "
            + ", ".join(untrainable)
            + f" in any setting{grid}: the NLL is infinite or undefined (a target probability "
            f"of zero or below) or the gradient is zero, {_centre_caveat(result, untrainable)}."
        )
    if result.diverged_share_by_dtype:
        shares = ", ".join(
            f"{percent(share)} in {dtype}"
            for dtype, share in result.diverged_share_by_dtype.items()
        )
        out.append(f"Share of runs that diverged, over every method, rate and seed: {shares}.")
    return " ".join(out)


def _invariant(name: str) -> bool:
    """Whether the map of a comparison's name (its label, then the loss in parentheses) is
    shift-invariant; False where the label cannot be read (a plugin not importable here)."""
    try:
        method = parse_label(name.split(" (")[0])[0]
    except (ValueError, KeyError):
        return False
    return shift_invariant(method)


def _centre_caveat(result: TrainingResult, names: Sequence[str]) -> str:
    """Whether the initial weights' centre could be what keeps ``names`` from training."""
    if result.check and any(result.check_init_centres):
        if all(_invariant(name) for name in names):
            return "whatever the initial bias (each is invariant to a common shift of the logits)"
        return "from initial biases of 0 and those of the check"
    return (
        "from initial weights centred at 0 (the check varies their scale, not their centre: "
        "a map that needs positive logits, such as linear's, may train from weights that "
        "start them positive; not measured here)"
    )


def to_json(result: TrainingResult) -> str:
    """The claim's row (claim, statement, verdict, conditions, text) and the typed result,
    as JSON in field order (the same result always gives the same bytes)."""
    payload = {
        "claim": CLAIM,
        "statement": STATEMENT,
        "verdict": verdict(result),
        "conditions": conditions(result),
        "text": text(result),
        "result": as_plain(result),
    }
    return json.dumps(payload, indent=1, allow_nan=False) + "\n"
