"""Claim C15, "apart from numerics, the choice of exp matters for training": measure -> typed
result -> pure verdict -> text.

:func:`measure` turns the study's table into a :class:`TrainingResult`: for every setting
(data set x format x optimiser) and every alternative (a method with a loss), its test
accuracy at its best learning rate (mean over seeds; the rate chosen on the validation part,
:func:`softmaxlab.training.study.best_runs`) next to the reference's, softmax with the NLL,
in the same setting. An alternative falls short in a setting where a paired exact test on
the test points finds it less accurate than the reference, and is ahead where the same test
finds it more accurate. Whether it trains (some learning rate at which no seed's loss
became non-finite or ended above its start) is reported, not judged: a run that blows up is
frozen at its last finite step and scored like any other, so a map whose loss is undefined
(zeros under the NLL) is judged by the chance accuracy it stays at, and one whose loss
overflows late by the model it reached.

The test: per test point, the number of seeds whose reference model predicted it right
minus the number whose alternative did (both at their chosen learning rates), and the
one-sided exact sign-flip test of those differences (:func:`softmaxlab.paired.sign_flip_p`;
with one seed, McNemar's exact test): only the points where the two models disagree count,
which is what a different test sample could change. Each alternative's p-values over its
settings are adjusted by Holm's procedure, and a difference counts where the adjusted p is
at most :data:`ALPHA`: an alternative as accurate as softmax is listed as falling short
somewhere with probability at most ALPHA (given the trained models). Softmax's
re-parametrisations are tested the same way and reported apart: they differ from softmax
by a logit scale (base psi is a factor ln psi; base 1 the factor 0) or by noise, so where
they are told apart the set-up (the learning-rate grid, the number of steps), not the
exponential, makes the difference.

Alternatives are every configured method except softmax's own re-parametrisations (any
base or temperature: a base is a temperature; ssmax: softmax of scaled logits;
Gumbel-softmax: softmax of noisy logits), which are reported but not counted either way.

The check: where an alternative falls short, that setting (and the reference's) is trained
again with ``check_steps`` steps instead of ``steps`` and learning rates below the grid
(``check_rates_below`` decades), widened a decade at a time (up to ``widen``) where
the rate chosen is the smallest or largest trained, from the initial scales of
``check_init_scales`` and, for the maps a common shift of the logits changes, the initial
biases of ``check_init_centres`` (each start chosen with the rate on the validation part)
(:func:`softmaxlab.training.study.recheck`), and compared the same way. A shortfall that
closes there was the set-up's (too few steps, rates too large or too small, or a start
where the loss is not finite, for that map: a map whose runs blow up at every rate of the
grid may train at a smaller one; linear normalisation's NLL needs positive scores), not
the map's; with several starts, a shortfall counts only where it is found from each, each
start with its own rate chosen on the validation part (:func:`measure_every_start`); one
that remains persists (:meth:`TrainingResult.persists`). The text names the remaining
shortfalls whose alternative still chose the smallest or largest rate trained, and the
settings where softmax's rate in the study is at its grid's edge.
Its control: softmax's re-parametrisations told apart from softmax are trained again the
same way (their difference is a logit scale or noise, so the check should close the
scale's), and the text says how many stay told apart.

Numerics set aside: a naive form (``stable`` false: iterated_exp) computes the same map as
its stable form. Where the study trains both, the naive form's persisting shortfall counts
only where the stable form's persists too (:meth:`TrainingResult.counts`); elsewhere the
difference is the naive form's overflow, which the claim's "apart from numerics" excludes
(C10 reports it).

:func:`verdict` reads the shortfalls it counts: "does not hold" if none (nothing trains
worse than exp); "holds" if every alternative falls short in every setting (no other map
reaches exp's accuracy anywhere); otherwise "holds with conditions", the conditions naming
the alternatives that fall short, those that match, those whose shortfall closed on the
check's grid and the naive forms short for their overflow only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from softmaxlab.claims import CONDITIONAL, FAILS, HOLDS
from softmaxlab.formatting import interval, number, percent
from softmaxlab.methods import check_params, parse_label
from softmaxlab.methods import label as method_label
from softmaxlab.paired import holm, sign_flip_p
from softmaxlab.training.study import best_runs, by_validation, chosen_at_edge, shift_invariant

CLAIM = "C15"
STATEMENT = "Apart from numerics, the choice of exp matters for training."
REFERENCE = ("softmax", "nll")  # (label, loss) every alternative is compared with
#: Methods that are softmax itself up to a temperature, a logit scale or noise.
EXP_FAMILY: tuple[str, ...] = ("softmax", "ssmax", "gumbel_softmax")
#: Level of the paired test, family-wise over an alternative's settings (Holm).
ALPHA = 0.05


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
    # test points by d = (seeds whose reference model is right) - (seeds whose alternative
    # is), d = -seeds .. +seeds
    differences: tuple[int, ...]
    p_short: float  # one-sided exact sign-flip p: the alternative is less accurate
    p_ahead: float  # the same, more accurate
    p_short_holm: float  # p_short adjusted by Holm over the alternative's settings
    p_ahead_holm: float
    # every run of the alternative here (every rate and seed) stopped at step 0: its loss
    # was not finite at the initial model, so no update was ever applied
    never_steps: bool = False
    # the learning rates chosen (study.best_runs), and whether each is the smallest or
    # largest its setting was trained at (study.chosen_at_edge): the best may lie beyond
    learning_rate: float = math.nan
    reference_learning_rate: float = math.nan
    # the initial weights' scales and biases chosen with them (one, init_scale and 0, but in
    # the check)
    init_scale: float = math.nan
    reference_init_scale: float = math.nan
    init_centre: float = 0.0
    reference_init_centre: float = 0.0
    at_edge: bool = False
    reference_at_edge: bool = False

    @property
    def short(self) -> bool:
        """Falls short of the reference (see the module docstring)."""
        return self.p_short_holm <= ALPHA

    @property
    def ahead(self) -> bool:
        """Ahead of the reference (see the module docstring)."""
        return self.p_ahead_holm <= ALPHA

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """(data set, label, loss, format, optimiser): the setting and the alternative, as
        study.recheck takes them."""
        return (self.dataset, self.label, self.loss, self.dtype, self.optimizer)

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
    # the settings (format, optimiser) of reference_digits_accuracy and mixture_accuracy
    reference_digits_setting: tuple[str, str] | None = None
    mixture_setting: tuple[str, str] | None = None
    diverged_share_by_dtype: dict[str, float] = field(default_factory=dict)
    untrainable: tuple[str, ...] = ()  # alternatives that train in no setting at all
    steps: int | None = None  # the study's steps
    # the settings where an alternative fell short, trained again with check_steps steps
    # on each optimiser's check_learning_rates (softmaxlab.training.study.recheck) and
    # compared the same way
    check_steps: int | None = None
    check_learning_rates: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # the initial weights' scales and biases the check trains from
    # (study.StudyConfig.checking; the biases only for maps a shift changes)
    check_init_scales: tuple[float, ...] = ()
    check_init_centres: tuple[float, ...] = ()
    # decades a grid may be widened where its chosen rate is at its edge (the study's and
    # the check's); of the groups (alternatives' and references' settings) trained again:
    # how many, and how many were widened
    widen: int | None = None
    check_groups: int = 0
    check_widened: int = 0
    # the same for the study's groups (each widened the same way: study._widened), and how
    # many of them still chose the smallest or largest rate trained
    groups: int = 0
    widened: int = 0
    at_edge: int = 0
    check: tuple[Comparison, ...] = ()
    # softmax's re-parametrisations told apart from it, trained again the same way: a
    # control of the check (their difference is the set-up's by construction)
    check_exp_family: tuple[Comparison, ...] = ()

    def alternatives(self) -> list[str]:
        return list(dict.fromkeys(c.name for c in self.comparisons))

    def short_in(self, name: str) -> list[Comparison]:
        return [c for c in self.comparisons if c.name == name and c.short]

    def persists(self, c: Comparison) -> bool:
        """``c`` falls short, and not for want of steps or of another learning rate: no
        check was run, or its setting trained again on the check's (widened) grid still
        falls short."""
        if not c.short:
            return False
        if not self.check_steps:
            return True
        again = self.checked(c)
        return again is None or again.short

    def checked(self, c: Comparison) -> Comparison | None:
        """``c``'s setting as the check compared it, or None where it did not."""
        return next((x for x in self.check if x.key == c.key), None)

    def rechecked(self) -> tuple[list[str], list[str]]:
        """The alternatives some of whose shortfalls were trained again: those still short
        somewhere on the check's grid, and those no longer short in any setting."""
        names = list(dict.fromkeys(c.name for c in self.check))
        persisting = self.persisting()
        still = [n for n in names if n in persisting]
        return still, [n for n in names if n not in still]

    def persisting(self) -> list[str]:
        """The alternatives with a shortfall that persists (:meth:`persists`) somewhere."""
        return [n for n in self.alternatives() if any(map(self.persists, self.short_in(n)))]

    def stable_form(self, c: Comparison) -> Comparison | None:
        """Where ``c``'s alternative is the naive form (stable=False) of a map whose stable
        form (the same parameters, stable=True) the study also trains: that form's
        comparison in the same setting; else None."""
        stable = stable_label(c.label)
        if stable is None:
            return None
        key = (c.dataset, stable, c.loss, c.dtype, c.optimizer)
        return next((x for x in self.comparisons if x.key == key), None)

    def counts(self, c: Comparison) -> bool:
        """C15 counts ``c``'s shortfall: it persists, and it is the map's, not the
        computation's: where the alternative is a naive form, its stable form (the same map)
        falls short there too; where only the naive form does, the difference is its
        overflow, numerics, which C15 sets aside."""
        if not self.persists(c):
            return False
        stable = self.stable_form(c)
        return stable is None or self.persists(stable)

    def counted(self) -> list[str]:
        """The alternatives with a shortfall C15 counts (:meth:`counts`) somewhere."""
        return [n for n in self.alternatives() if any(map(self.counts, self.short_in(n)))]

    def never_stepping(self) -> list[str]:
        """The counted alternatives (:meth:`counted`) that take no step in any setting where
        their shortfall counts (on the check's grid where it ran): scored as their initial
        model, which neither more steps nor a smaller rate can change."""
        return [
            n
            for n in self.counted()
            if all((self.checked(c) or c).never_steps for c in self.short_in(n) if self.counts(c))
        ]

    def stepped_from_centres(self, name: str) -> list[Comparison]:
        """The check's settings of ``name`` where its chosen runs took steps, provided
        every one of them started from a non-zero bias; [] otherwise. How a map that a
        shift of the logits changes trains from the check's other starts, where it took no
        step from weights centred at 0 (C4 quotes it for linear, C15 for every such map)."""
        rows = [c for c in self.check if c.name == name and not c.never_steps]
        return rows if rows and all(c.init_centre for c in rows) else []

    def numerics_only(self) -> list[str]:
        """The naive forms whose every persisting shortfall is their overflow's: their
        stable forms do not fall short there."""
        counted = self.counted()
        return [n for n in self.persisting() if n not in counted]


def stable_label(label: str) -> str | None:
    """The label of the stable form of the method ``label`` names, where it is a naive form
    (it has a ``stable`` parameter, false here); None otherwise."""
    try:
        name, params = parse_label(label)
        full = check_params(name, params)
    except (ValueError, KeyError):  # a label this process cannot read (an unloaded plugin)
        return None
    if full.get("stable", True) is not False:
        return None
    return method_label(name, {**full, "stable": True})


def jointly(result: TrainingResult) -> TrainingResult:
    """``result`` with Holm over all its comparisons at once, and over all its check's at
    once, instead of over each alternative's settings: the count with family-wise control
    over the whole claim (more conservative; a shortfall it keeps is one the per-alternative
    rule keeps, so its check was run)."""

    def adjusted(comparisons: tuple[Comparison, ...]) -> tuple[Comparison, ...]:
        shorts = holm([c.p_short for c in comparisons])
        aheads = holm([c.p_ahead for c in comparisons])
        return tuple(
            replace(c, p_short_holm=float(s), p_ahead_holm=float(a))
            for c, s, a in zip(comparisons, shorts, aheads, strict=True)
        )

    return replace(result, comparisons=adjusted(result.comparisons), check=adjusted(result.check))


def needs_check(result: TrainingResult) -> list[tuple[str, str, str, str, str]]:
    """The (data set, label, loss, format, optimiser) settings where an alternative falls
    short (one that does not train among them: a smaller learning rate may let it) or a
    re-parametrisation of softmax is told apart from it (the check's control): what
    study.recheck trains again."""
    return [c.key for c in result.comparisons if c.short] + [
        c.key for c in result.exp_family if c.short or c.ahead
    ]


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


# --- measure ------------------------------------------------------------------------------


def _differences(
    test_correct: Mapping[tuple, np.ndarray], alternative: tuple, reference: tuple, seeds
) -> np.ndarray:
    """Per test point: the seeds whose reference run predicted it right minus those whose
    alternative run did. ``alternative`` and ``reference``: a run's key (RUN_KEYS) without
    its seed; ``seeds``: the seed indices both have."""
    right = [
        sum(test_correct[(*key, seed)].astype(np.int64) for seed in seeds)
        for key in (reference, alternative)
    ]
    return right[0] - right[1]


def _histogram(differences: np.ndarray, seeds: int) -> tuple[int, ...]:
    """The number of test points with each difference -seeds .. +seeds."""
    counts = np.bincount(differences + seeds, minlength=2 * seeds + 1)
    return tuple(int(c) for c in counts)


def _with_holm(comparisons: list[dict]) -> list[Comparison]:
    """Comparisons from their fields, p_short_holm and p_ahead_holm adjusted by Holm over
    each alternative's (label, loss) settings."""
    names = [(c["label"], c["loss"]) for c in comparisons]
    for name in dict.fromkeys(names):
        family = [c for c, n in zip(comparisons, names, strict=True) if n == name]
        for side in ("p_short", "p_ahead"):
            adjusted = holm([c[side] for c in family])
            for c, p in zip(family, adjusted, strict=True):
                c[f"{side}_holm"] = float(p)
    return [Comparison(**c) for c in comparisons]


def _trains(table: pd.DataFrame) -> pd.Series:
    """Per (data set, label, loss, format, optimiser): some (initial scale, bias, learning
    rate) without a diverged seed."""
    keys = ["dataset", "label", "loss", "dtype", "optimizer"]
    runs = keys + ["init_scale", "init_centre", "learning_rate"]
    clean = ~table.groupby(runs, sort=False)["diverged"].any()
    return clean.groupby(level=keys, sort=False).any()


def _never_steps(table: pd.DataFrame) -> pd.Series:
    """Per (data set, label, loss, format, optimiser): every run stopped at step 0."""
    keys = ["dataset", "label", "loss", "dtype", "optimizer"]
    return (table["steps"] == 0).groupby([table[k] for k in keys], sort=False).all()


def _chosen_test_accuracy(reference: pd.DataFrame, dataset: str):
    """The reference's test accuracy on ``dataset`` in the setting (format, optimiser) with
    the best validation accuracy, ties broken by the study's rule (by_validation: the lower
    validation NLL, then the first in table order), and that setting; (None, None) without
    runs there."""
    rows = reference[reference["dataset"] == dataset]
    if rows.empty:
        return None, None
    chosen = by_validation(rows, rows["validation_nll"]).iloc[0]
    return float(chosen["test_accuracy"]), (str(chosen["dtype"]), str(chosen["optimizer"]))


def measure(
    table: pd.DataFrame,
    test_correct: Mapping[tuple, np.ndarray],
    logistic_regression_accuracy: float | None = None,
    mixture_bayes_accuracy: float | None = None,
) -> TrainingResult:
    """C15's result from the study's table (:data:`softmaxlab.training.study.COLUMNS`) and
    which test points each run predicted right (``test_correct``, keyed by
    :data:`softmaxlab.training.study.RUN_KEYS`' values: StudyResult.test_correct); the
    references as :class:`softmaxlab.training.study.StudyResult` holds them."""
    best = best_runs(table)
    trains = _trains(table)
    idle = _never_steps(table)
    edges = chosen_at_edge(table).set_index(["dataset", "label", "loss", "dtype", "optimizer"])
    keys = ["dataset", "dtype", "optimizer"]
    reference = best[(best["label"] == REFERENCE[0]) & (best["loss"] == REFERENCE[1])]
    if reference.empty:
        raise ValueError("C15 needs softmax (default parameters) with the NLL in the study")
    ref = {tuple(row[k] for k in keys): row for _, row in reference.iterrows()}
    seeds = sorted(int(s) for s in table["seed"].unique())
    comparisons, family = [], []
    for _, row in best.iterrows():
        setting = tuple(row[k] for k in keys)
        if (row["label"], row["loss"]) == REFERENCE or setting not in ref:
            continue
        base = ref[setting]
        dataset, dtype, optimizer = setting
        d = _differences(
            test_correct,
            (dataset, row["method"], row["label"], row["loss"], dtype, optimizer)
            + (row["init_scale"], row["init_centre"], row["learning_rate"]),
            (dataset, base["method"], *REFERENCE, dtype, optimizer)
            + (base["init_scale"], base["init_centre"], base["learning_rate"]),
            seeds,
        )
        item = dict(
            dataset=dataset,
            dtype=dtype,
            optimizer=optimizer,
            label=row["label"],
            loss=row["loss"],
            accuracy=float(row["test_accuracy"]),
            trains=bool(trains[(dataset, row["label"], row["loss"], dtype, optimizer)]),
            diverged_share=float(row["diverged_share"]),
            reference_accuracy=float(base["test_accuracy"]),
            reference_trains=bool(trains[(dataset, *REFERENCE, dtype, optimizer)]),
            differences=_histogram(d, len(seeds)),
            p_short=sign_flip_p(d),
            p_ahead=sign_flip_p(-d),
            never_steps=bool(idle[(dataset, row["label"], row["loss"], dtype, optimizer)]),
            learning_rate=float(row["learning_rate"]),
            reference_learning_rate=float(base["learning_rate"]),
            init_scale=float(row["init_scale"]),
            reference_init_scale=float(base["init_scale"]),
            init_centre=float(row["init_centre"]),
            reference_init_centre=float(base["init_centre"]),
            at_edge=bool(
                edges.at[(dataset, row["label"], row["loss"], dtype, optimizer), "at_edge"]
            ),
            reference_at_edge=bool(edges.at[(dataset, *REFERENCE, dtype, optimizer), "at_edge"]),
        )
        (family if row["method"] in EXP_FAMILY else comparisons).append(item)
    comparisons, family = _with_holm(comparisons), _with_holm(family)
    names = list(dict.fromkeys(c.name for c in comparisons))
    untrainable = tuple(n for n in names if not any(c.trains for c in comparisons if c.name == n))
    digits, digits_setting = _chosen_test_accuracy(reference, "digits")
    mixture, mixture_setting = _chosen_test_accuracy(reference, "mixture")
    shares = table.groupby("dtype", sort=False)["diverged"].mean()
    return TrainingResult(
        comparisons=tuple(comparisons),
        exp_family=tuple(family),
        reference_digits_accuracy=digits,
        logistic_regression_accuracy=logistic_regression_accuracy,
        mixture_accuracy=mixture,
        mixture_bayes_accuracy=mixture_bayes_accuracy,
        reference_digits_setting=digits_setting,
        mixture_setting=mixture_setting,
        diverged_share_by_dtype={str(k): float(v) for k, v in shares.items()},
        untrainable=untrainable,
    )


#: The columns that name where a run started: its initial scale and bias.
_START = ["init_scale", "init_centre"]


def measure_every_start(
    table: pd.DataFrame, test_correct: Mapping[tuple, np.ndarray]
) -> TrainingResult:
    """C15's check's result: :func:`measure` of the whole table (each alternative's start
    and learning rate chosen on the validation part: the accuracies quoted), with each
    comparison's p-values (p_short, p_ahead and their Holm-adjusted values) the largest of
    those :func:`measure` gives from each start alone (the alternative's runs from that
    initial scale and bias, softmax's from all of its, as chosen). A shortfall then counts
    only where it is found from every start the alternative was trained from, each with
    its own rate chosen on the validation part: an intersection-union test, at level ALPHA
    without a further correction (Berger 1982). It gives the alternative the benefit of
    the doubt: a start the validation part prefers by a few images cannot make a shortfall
    that another start does not show. (:func:`jointly`'s Holm over every comparison at
    once adjusts these largest raw p-values.)"""
    chosen = measure(table, test_correct)
    reference = (table["label"] == REFERENCE[0]) & (table["loss"] == REFERENCE[1])
    pvalues = ("p_short", "p_ahead", "p_short_holm", "p_ahead_holm")
    worst: dict[tuple, tuple[float, ...]] = {}
    for start in table.loc[~reference, _START].drop_duplicates().itertuples(index=False):
        own = reference | (
            (table["init_scale"] == start.init_scale) & (table["init_centre"] == start.init_centre)
        )
        part = measure(table[own], test_correct)
        for c in (*part.comparisons, *part.exp_family):
            found = (getattr(c, name) for name in pvalues)
            worst[c.key] = tuple(map(max, zip(worst.get(c.key, (0.0,) * 4), found, strict=True)))

    def every_start(c: Comparison) -> Comparison:
        return replace(c, **dict(zip(pvalues, worst[c.key], strict=True)))

    return replace(
        chosen,
        comparisons=tuple(map(every_start, chosen.comparisons)),
        exp_family=tuple(map(every_start, chosen.exp_family)),
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
            k: (
                math.nan
                if v is None and k.endswith(("accuracy", "learning_rate", "init_scale"))
                else v
            )
            for k, v in item.items()
        }
        return Comparison(**{**item, "differences": tuple(item["differences"])})

    result["comparisons"] = tuple(comparison(c) for c in result["comparisons"])
    result["exp_family"] = tuple(comparison(c) for c in result["exp_family"])
    result["check"] = tuple(comparison(c) for c in result.get("check", ()))
    result["check_exp_family"] = tuple(comparison(c) for c in result.get("check_exp_family", ()))
    result["untrainable"] = tuple(result["untrainable"])
    for key in ("check_init_scales", "check_init_centres"):
        result[key] = tuple(result.get(key, ()))
    for key in ("reference_digits_setting", "mixture_setting"):
        result[key] = None if result.get(key) is None else tuple(result[key])
    result["check_learning_rates"] = {
        name: tuple(rates) for name, rates in result.get("check_learning_rates", {}).items()
    }
    return TrainingResult(**result)


def comparisons_frame(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """The comparisons as a table, with the derived ``short`` and ``ahead`` flags."""
    return pd.DataFrame(
        [
            {
                **asdict(c),
                # counts for d = -seeds .. +seeds, one string: a CSV cell
                "differences": " ".join(map(str, c.differences)),
                "short": c.short,
                "ahead": c.ahead,
            }
            for c in comparisons
        ]
    )
