"""Claim C15's measurement: the training study's tables -> typed result (:class:`TrainingResult`).
The verdict and the text are :mod:`softmaxlab.training.verdict`'s (measure -> typed result ->
pure verdict -> text). This module imports neither the claims nor the figures: the training
job needs the measurement to choose what its check trains again, and does not rerun when
a claim's text or a figure changes.

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
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from softmaxlab.methods import check_params, parse_label
from softmaxlab.methods import label as method_label
from softmaxlab.paired import holm, sign_flip_p
from softmaxlab.training.study import best_runs, by_validation, chosen_at_edge

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


def as_plain(result: TrainingResult) -> dict:
    """The typed result as JSON-safe fields, in field order (:func:`from_json` reads them
    back)."""
    return _plain(asdict(result))


def result_json(result: TrainingResult) -> str:
    """The typed result alone as JSON, {"result": ...}: the training job's (the verdict job
    adds the claim's row: softmaxlab.training.verdict.to_json). The same result always
    gives the same bytes."""
    return json.dumps({"result": as_plain(result)}, indent=1, allow_nan=False) + "\n"


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
