"""The training study (claim C15): does the choice of exp matter when a model is trained?

A multinomial linear classifier (logits = X W + b, float32 master weights) is fitted to each
data set of :mod:`softmaxlab.training.data` by full-batch gradient descent and by Adam, for
every configured method with the NLL -log p_y (and the sparse maps also with their
Fenchel-Young losses), over a grid of learning rates x initialisation seeds, in each format.
Where the rate chosen on the validation part (:func:`best_runs`) is the smallest or largest
trained, the grid of that (group, optimiser) is widened a decade that way, up to ``widen``
times (:func:`_widened`): a choice at the edge of a grid says the best rate may lie beyond it.
The initial weights are N(0, ``init_scale``^2); C15's check (:func:`recheck`) also trains
from ``check_init_scales`` and chooses the scale on the validation part with the rate
(:func:`best_runs`): whether a map's loss is finite at the initial model can depend on the
scale (entmax15's NLL on digits is infinite at 0.01, where some training image's logits
already spread past its threshold, and finite at 1e-4), and that is the set-up's, not the
map's. The check also starts every bias at each of ``check_init_centres`` (the logits then
start near it), the centre chosen the same way, for the maps a common shift of the logits
changes (:func:`shift_invariant`): linear normalisation's NLL is undefined wherever the
target's score is not positive, so from weights centred at 0 it never takes a step, and
the question the thread asks, linear normalisation with the NLL, is whether it trains from
positive scores.

One step of one run, the mixed-precision recipe of the training frameworks:

1. forward: logits X W + b computed in float32, rounded to the format (float32 or
   bfloat16), and the method computed in that format by :func:`softmaxlab.normalize`;
2. the loss (mean over the training rows, float64) from that output p and those rounded
   logits: NLL -log p_y, or the Fenchel-Young loss;
3. backward: the gradient with respect to the logits in float64 at the rounded logits
   (:func:`softmaxlab.vjp` for the NLL, p - e_y for Fenchel-Young), then X^T G and sum G for
   W and b in float64, rounded to float32;
4. the optimiser updates the float32 master weights (:mod:`softmaxlab.training.optim`).

The runs of one (data set, method, loss, format) - every optimiser, initial scale, learning
rate and seed - are stacked along a leading axis, so each step calls normalize and vjp once
on the runs still training (a run that stopped is no longer evaluated). Gumbel-softmax
draws its noise for the whole stacked array, so a run's noise depends on the grid it is part
of; it draws noise in training only: on the validation and test parts its models predict
with softmax, the distribution its noise samples (:func:`predicting_map`); no map predicts
with noise.

The argmax map is trained like every other and reported, not skipped: its NLL is infinite
as soon as one training image is misclassified (at step 0 in practice) and its gradient is
zero, so it stops at step 0 with ``diverged`` true.

Cost: about 32 s of one core for the default config (25 steps, 3 rates per optimiser, 2
seeds, 30 methods, 2 formats, 2 data sets; 101 of its 288 groups widened, 22 s without),
most of it in the bisection of ``entmax`` (alpha 1.25 and 1.75), whose float64 vjp repeats
the forward at 54 bisection steps. C15's check (:func:`recheck`: the settings where an
alternative fell short or a re-parametrisation of softmax was told apart, and softmax's,
at ``check_steps`` = 100 steps with one learning rate more below each grid, widened the
same way: 111 groups, 28 of them widened) took about 27 s more (the two measured alone
at 95e20a8, with the kernels compiled) from one initial scale. From two (a108a23, on a
machine with AVX-512): the study 21 s, the check 61 s (111 groups, 38 of them widened).
With the initial biases of 0 and 1 for the maps a shift changes (05efe15, on a machine
without AVX-512, in the workflow): the study 34 s, the check 139 s (111 groups, 34 of them
widened), against about 90 s from the scales alone on that machine.

Definitions of the columns of :data:`COLUMNS` (one row per run):

* ``init_scale``, ``init_centre``: where the run started: weights and biases drawn
  N(0, init_scale^2), ``init_centre`` then added to every bias (0 in the study; the
  check's starts in ``training_check.csv``).
* ``steps``: updates applied: the configured number, unless the training loss became
  non-finite (inf or NaN) at step s < steps: then the run stops there (its weights are
  frozen at that step) and ``steps`` = s. Step 0 is the initial model.
* ``train_nll``, ``validation_nll``, ``test_nll``: mean -log p_y at the run's last step
  (inf where some p_y = 0, NaN where some p_y < 0 or is NaN); ``validation_accuracy``,
  ``test_accuracy`` and ``ece`` (15 bins, :func:`~softmaxlab.training.evaluation.ece`, on
  the test part) at that step too. The validation part chooses the learning rate
  (:func:`best_runs`); the test part only reports.
* ``diverged``: the training loss was non-finite at some step, or its final value exceeds
  its initial value.
* ``steps_to_90pct``: the first step at which the test accuracy is >= 0.9 (measured at
  every step, 0 being the initial model), empty if never.

The curves table (:data:`CURVE_COLUMNS`) keeps each run at 0, about :data:`CURVE_POINTS`
log-spaced steps and its last step; a run that stopped ends at the step whose training loss
was non-finite (``train_loss`` inf or NaN there).

Every random choice comes from a named stream of the study's seed: the data split and the
mixture's samples (:mod:`~softmaxlab.training.data`), the initial weights (standard
normal draws from the stream ("training", "init", data set, seed index), times the initial
scale: the same for every method, format, optimiser and scale) and Gumbel-softmax's noise
(fresh at every training step, stream ("training", "gumbel", ..., "train", step)).
The BLAS is held to one thread, so the numbers do not depend on the machine's cores.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from softmaxlab.dtypes import get_dtype
from softmaxlab.methods import check_params, normalize, plugin
from softmaxlab.methods import label as method_label
from softmaxlab.sampling import stream
from softmaxlab.training.data import DATASETS, Dataset, Mixture, bayes_accuracy, load
from softmaxlab.training.evaluation import accuracy, ece, predictions
from softmaxlab.training.losses import FENCHEL_YOUNG_METHODS, loss_and_grad, nll
from softmaxlab.training.optim import OPTIMIZERS, make_optimizer
from softmaxlab.vjp import has_vjp

log = logging.getLogger("softmaxlab.training")

#: The key columns of one run, first in both tables (and the keys of StudyResult.test_correct).
RUN_KEYS: tuple[str, ...] = (
    "dataset",
    "method",
    "label",
    "loss",
    "dtype",
    "optimizer",
    "init_scale",
    "init_centre",
    "learning_rate",
    "seed",
)
COLUMNS: tuple[str, ...] = (
    *RUN_KEYS,
    "steps",
    "train_nll",
    "validation_nll",
    "validation_accuracy",
    "test_nll",
    "test_accuracy",
    "ece",
    "diverged",
    "steps_to_90pct",
)
CURVE_COLUMNS: tuple[str, ...] = (
    *RUN_KEYS,
    "step",
    "train_loss",
    "train_nll",
    "test_nll",
    "test_accuracy",
)
ACCURACY_TARGET = 0.9  # steps_to_90pct: the first step with test accuracy >= this
TRAINING_DTYPES: tuple[str, ...] = ("float32", "bfloat16")
CURVE_POINTS = 25  # log-spaced steps kept per run in the curves table (plus 0 and the last)


def _finite(value) -> bool:
    """A finite number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value) -> bool:
    """A finite number > 0 (not a bool)."""
    return _finite(value) and value > 0


@dataclass(frozen=True)
class StudyConfig:
    """The study's grid. ``learning_rates`` maps each optimiser to its log-spaced grid."""

    steps: int = 25
    seeds: int = 2
    learning_rates: Mapping[str, tuple[float, ...]] = field(
        default_factory=lambda: {
            "gd": (0.1, 1.0, 10.0),
            "adam": (0.01, 0.1, 1.0),
        }
    )
    dtypes: tuple[str, ...] = TRAINING_DTYPES
    optimizers: tuple[str, ...] = OPTIMIZERS
    datasets: tuple[str, ...] = DATASETS
    mixture: Mixture = field(default_factory=Mixture)
    init_scale: float = 0.01
    # C15's check of its shortfalls with longer training (recheck); 0: none
    check_steps: int = 100
    # learning rates the check adds below each optimiser's grid, a decade apart
    check_rates_below: int = 1
    # scales of the initial weights the check trains from besides init_scale, each chosen
    # on the validation part like the learning rate: whether a map starts with a finite
    # loss can depend on it (entmax15 with the NLL on digits: not at 0.01, yes at 1e-4)
    check_init_scales: tuple[float, ...] = (0.0001,)
    # initial biases (every class the same, so the logits start near it) the check trains
    # from besides 0, chosen with the scale and rate: a map that needs positive logits
    # (linear normalisation's NLL is undefined where a score is negative) may train from
    # positive ones. The maps a common shift of the logits does not change are not trained
    # from them (shift_invariant).
    check_init_centres: tuple[float, ...] = (1.0,)
    # decades a grid of learning rates is widened, one at a time, for a group whose chosen
    # rate is the smallest or largest trained (the study's and the check's: _widened)
    widen: int = 2
    # the initial scales a grid trains from, every one for each learning rate and seed:
    # set by checking(); empty: init_scale alone (not a config key)
    grid_init_scales: tuple[float, ...] = ()
    # the initial biases a grid trains from, the same way: empty: 0 alone (not a config key)
    grid_init_centres: tuple[float, ...] = ()

    def __post_init__(self):
        if not (isinstance(self.steps, int) and self.steps >= 1):
            raise ValueError(f"training.steps must be an integer >= 1, got {self.steps!r}")
        if not (isinstance(self.check_steps, int) and self.check_steps >= 0):
            raise ValueError(
                f"training.check_steps must be an integer >= 0, got {self.check_steps!r}"
            )
        for key in ("check_rates_below", "widen"):
            value = getattr(self, key)
            if not (isinstance(value, int) and value >= 0):
                raise ValueError(f"training.{key} must be an integer >= 0, got {value!r}")
        for key, values in (
            ("init_scale", (self.init_scale,)),
            ("check_init_scales", self.check_init_scales),
        ):
            if not all(_positive(v) for v in values):
                raise ValueError(
                    f"training.{key} must be {'a number' if key == 'init_scale' else 'numbers'}"
                    f" > 0, got {getattr(self, key)!r}"
                )
        if not all(_finite(v) for v in self.check_init_centres):
            raise ValueError(
                f"training.check_init_centres must be finite numbers, got "
                f"{self.check_init_centres!r}"
            )
        if not (isinstance(self.seeds, int) and self.seeds >= 1):
            raise ValueError(f"training.seeds must be an integer >= 1, got {self.seeds!r}")
        for key, allowed, values in (
            ("dtypes", TRAINING_DTYPES, self.dtypes),
            ("optimizers", OPTIMIZERS, self.optimizers),
            ("datasets", DATASETS, self.datasets),
        ):
            bad = [v for v in values if v not in allowed] or ([] if values else ["(empty)"])
            if bad:
                raise ValueError(
                    f"training.{key}: {bad[0]!r} is not allowed; valid values: {', '.join(allowed)}"
                )
        for name in self.optimizers:
            rates = self.learning_rates.get(name, ())
            if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
                raise ValueError(
                    f"training.learning_rates.{name} must be a non-empty list of numbers > 0, "
                    f"got {rates!r}"
                )

    def checking(self) -> StudyConfig:
        """The grid of C15's check (:func:`recheck`): ``check_steps`` steps, and each
        optimiser's learning rates with ``check_rates_below`` more below its smallest, a
        decade apart (a map whose runs blow up at every rate of the grid may train at a
        smaller one; a longer run at a small rate goes as far as a short one at a large).
        ValueError where check_steps is 0: there is no check."""
        if not self.check_steps:
            raise ValueError("training.check_steps is 0: there is no check to train")
        rates = {
            name: tuple(
                sorted(
                    {*grid, *(min(grid) / 10.0**i for i in range(1, self.check_rates_below + 1))}
                )
            )
            for name, grid in self.learning_rates.items()
        }
        scales = tuple(dict.fromkeys((self.init_scale, *self.check_init_scales)))
        centres = tuple(dict.fromkeys((0.0, *map(float, self.check_init_centres))))
        return dataclasses.replace(
            self,
            steps=self.check_steps,
            learning_rates=rates,
            grid_init_scales=scales,
            grid_init_centres=centres,
        )

    def init_scales(self) -> tuple[float, ...]:
        """The initial scales this grid trains from: init_scale, or the check's."""
        return self.grid_init_scales or (self.init_scale,)

    def init_centres(self) -> tuple[float, ...]:
        """The initial biases this grid trains from: 0, or the check's."""
        return self.grid_init_centres or (0.0,)

    @classmethod
    def from_mapping(cls, mapping: Mapping | None) -> StudyConfig:
        """A StudyConfig from the config's ``training`` block (missing keys: defaults)."""
        mapping = dict(mapping or {})
        allowed = set(cls.__dataclass_fields__) - {"grid_init_scales", "grid_init_centres"}
        unknown = sorted(set(mapping) - allowed)
        if unknown:
            raise ValueError(
                f"training: unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(allowed))}"
            )
        if "learning_rates" in mapping:
            default = cls().learning_rates
            given = mapping["learning_rates"]
            mapping["learning_rates"] = {
                name: tuple(float(v) for v in given.get(name, default[name])) for name in default
            }
        if "mixture" in mapping:
            mapping["mixture"] = Mixture.from_mapping(mapping["mixture"])
        for key in ("dtypes", "optimizers", "datasets", "check_init_scales", "check_init_centres"):
            if key in mapping:
                mapping[key] = tuple(mapping[key])
        return cls(**mapping)


#: The built-in maps whose output does not change when the same number is added to every
#: logit, in exact arithmetic, whatever their parameters: softmax's family (base^(x/T): the
#: shift's factor cancels in the ratio; ssmax and Gumbel-softmax are softmax of a scaled or
#: noisy x), argmax, shifted_linear (x - min), and the sparse maps (their threshold tau
#: moves with the shift). C15's check does not train them from a non-zero initial bias: it
#: would train the same model. tests/test_training.py checks the list against the maps.
SHIFT_INVARIANT_MAPS: tuple[str, ...] = (
    "softmax",
    "ssmax",
    "gumbel_softmax",
    "argmax",
    "shifted_linear",
    "sparsemax",
    "entmax15",
    "entmax",
)


def shift_invariant(method: str) -> bool:
    """Whether ``method`` is one of :data:`SHIFT_INVARIANT_MAPS` (a plugin never is: its
    invariance is not known)."""
    return plugin(method) is None and method in SHIFT_INVARIANT_MAPS


#: What C15 compares: softmax with its default parameters, and the thread's alternative.
REFERENCE_METHOD, FALLBACK_ALTERNATIVE = "softmax", "linear"


def with_reference(
    method_specs: Sequence[tuple[str, Mapping, str]],
) -> list[tuple[str, Mapping, str]]:
    """The configured methods, plus what C15 needs when the config lacks it: softmax with
    its default parameters first (the reference), and linear normalisation last when
    nothing else would be compared with it. Specs as softmaxlab.config.method_specs.
    A plugin method without a vjp (softmaxlab.plugins) cannot be trained: it is left out,
    and the log says so."""
    specs = []
    for spec in method_specs:
        if has_vjp(spec[0]):
            specs.append(spec)
        else:
            log.warning("training study: %s skipped: it has no vjp (softmaxlab.plugins)", spec[2])
    if REFERENCE_METHOD not in [spec[2] for spec in specs]:
        specs.insert(0, _spec(REFERENCE_METHOD))
    if len(specs) == 1:
        specs.append(_spec(FALLBACK_ALTERNATIVE))
    return specs


def _spec(name: str) -> tuple[str, dict, str]:
    params = check_params(name)
    return name, params, method_label(name, params)


@dataclass(frozen=True)
class Group:
    """The stacked runs of one (data set, method, loss, format): every optimiser, learning
    rate and seed."""

    dataset: str
    method: str
    params: Mapping
    label: str
    loss: str
    dtype: str


def groups(method_specs: Sequence[tuple[str, Mapping, str]], cfg: StudyConfig) -> list[Group]:
    """Every group of the study, in table order: data set, method (config order), loss
    (nll, then fenchel_young for the sparse maps), format."""
    out = []
    for dataset in cfg.datasets:
        for name, params, label in method_specs:
            losses = ("nll", "fenchel_young") if name in FENCHEL_YOUNG_METHODS else ("nll",)
            for loss in losses:
                for dtype in cfg.dtypes:
                    out.append(Group(dataset, name, params, label, loss, dtype))
    return out


@dataclass
class GroupRuns:
    """What the stacked runs of one group produced: per run (axis 0 of each array) the
    optimiser, learning rate and seed index, and per step (axis 0 of the histories) and run
    the training loss, train NLL, test NLL and test accuracy (NaN after a run stopped)."""

    group: Group
    optimizers: np.ndarray
    init_scales: np.ndarray
    init_centres: np.ndarray
    learning_rates: np.ndarray
    seeds: np.ndarray
    steps: np.ndarray
    train_loss: np.ndarray
    train_nll: np.ndarray
    test_nll: np.ndarray
    test_accuracy: np.ndarray
    final_validation_nll: np.ndarray
    final_validation_accuracy: np.ndarray
    final_ece: np.ndarray
    final_test_logits: np.ndarray
    final_test_correct: np.ndarray  # (run, test point): predicted right at the last step
    seconds: float

    def rows(self) -> list[dict]:
        """One row of :data:`COLUMNS` per run."""
        out = []
        for r in range(len(self.learning_rates)):
            last = int(self.steps[r])
            losses = self.train_loss[: last + 1, r]
            reached = np.flatnonzero(self.test_accuracy[: last + 1, r] >= ACCURACY_TARGET)
            diverged = (not np.all(np.isfinite(losses))) or bool(losses[-1] > losses[0])
            out.append(
                {
                    **self._run_keys(r),
                    "steps": last,
                    "train_nll": float(self.train_nll[last, r]),
                    "validation_nll": float(self.final_validation_nll[r]),
                    "validation_accuracy": float(self.final_validation_accuracy[r]),
                    "test_nll": float(self.test_nll[last, r]),
                    "test_accuracy": float(self.test_accuracy[last, r]),
                    "ece": float(self.final_ece[r]),
                    "diverged": diverged,
                    "steps_to_90pct": int(reached[0]) if reached.size else None,
                }
            )
        return out

    def _run_keys(self, r: int) -> dict:
        """The key columns of run r: its group's, then optimizer, initial scale and bias,
        learning rate, seed."""
        return {
            **_keys(self.group),
            "optimizer": str(self.optimizers[r]),
            "init_scale": float(self.init_scales[r]),
            "init_centre": float(self.init_centres[r]),
            "learning_rate": float(self.learning_rates[r]),
            "seed": int(self.seeds[r]),
        }

    def test_correct(self) -> dict[tuple, np.ndarray]:
        """Per run, keyed by :data:`RUN_KEYS`' values, which test points its last step
        predicted right (its test_accuracy is their mean): what C15's paired test reads."""
        return {
            tuple(self._run_keys(r)[k] for k in RUN_KEYS): self.final_test_correct[r]
            for r in range(len(self.learning_rates))
        }

    def curve_rows(self, total_steps: int) -> list[dict]:
        """Rows of :data:`CURVE_COLUMNS`: each run at the logged steps up to its last one,
        and at its last step (the one where it stopped, if it diverged)."""
        logged = curve_steps(total_steps)
        out = []
        for r in range(len(self.learning_rates)):
            last = int(self.steps[r])
            for step in sorted({s for s in logged if s <= last} | {last}):
                out.append(
                    {
                        **self._run_keys(r),
                        "step": step,
                        "train_loss": float(self.train_loss[step, r]),
                        "train_nll": float(self.train_nll[step, r]),
                        "test_nll": float(self.test_nll[step, r]),
                        "test_accuracy": float(self.test_accuracy[step, r]),
                    }
                )
        return out


def _keys(group: Group) -> dict:
    return {
        "dataset": group.dataset,
        "method": group.method,
        "label": group.label,
        "loss": group.loss,
        "dtype": group.dtype,
    }


def curve_steps(total_steps: int, points: int = CURVE_POINTS) -> list[int]:
    """Steps kept in the curves table: 0, about ``points`` log-spaced steps, and the last."""
    spaced = np.unique(np.round(np.geomspace(1, total_steps, points)).astype(int))
    return sorted({0, total_steps, *map(int, spaced)})


def initial_weights(
    seed: int, data: Dataset, seeds: int, init_scale: float, init_centre: float = 0.0
):
    """(W, b) float32 of shape (seeds, d, K) and (seeds, K): N(0, init_scale^2) entries from
    the stream ("training", "init", data set, seed index) of each seed index, and
    ``init_centre`` added to every bias (the same draws whatever the centre: every logit
    starts near it, as the features are standardised)."""
    d, k = data.n_features, data.n_classes
    w = np.empty((seeds, d + 1, k), dtype=np.float32)
    for j in range(seeds):
        rng = stream(seed, "training", "init", data.name, j)
        w[j] = init_scale * rng.standard_normal((d + 1, k))
    b = np.ascontiguousarray(w[:, d])
    if init_centre:  # 0: the draws as they are (adding 0.0 would turn a -0.0 into +0.0)
        b += np.float32(init_centre)
    return np.ascontiguousarray(w[:, :d]), b


def _step_params(group: Group, seed: int, step: int) -> dict:
    """The method's parameters for one training forward; Gumbel-softmax gets a fresh noise
    seed (from the stream named by the group and the step) at every step."""
    params = dict(group.params)
    if group.method == "gumbel_softmax":
        rng = stream(
            seed,
            "training",
            "gumbel",
            params["seed"],
            group.dataset,
            group.loss,
            group.dtype,
            "train",
            step,
        )
        params["seed"] = int(rng.integers(2**31))
    return params


def predicting_map(group: Group) -> tuple[str, dict]:
    """(method, parameters) a trained model of ``group`` predicts with, on the validation
    and test parts: the group's own map, but for Gumbel-softmax: its noise draws a relaxed
    sample of the categorical distribution softmax(x) in training (the Gumbel-max trick,
    whatever tau), and that distribution is what its model predicts, so its noise-free
    map is softmax(x). Every map then predicts deterministically: a gap to softmax is the
    training's, not noise drawn at test time."""
    if group.method == "gumbel_softmax":
        return "softmax", {}
    return group.method, dict(group.params)


def _forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, dtype, method: str, params):
    """(rounded logits, p): float32 logits X W + b of every run, rounded to ``dtype``, and the
    method computed in that dtype."""
    logits = (np.matmul(x, w) + b[:, None, :]).astype(dtype)
    return logits, normalize(logits, method, **params)


def _run_grid(cfg: StudyConfig) -> tuple[np.ndarray, ...]:
    """(optimiser, initial scale, initial bias, learning rate, seed index) of every run of a
    group, optimiser-major, then initial scale, bias, learning rate and seed: each
    optimiser's runs are one contiguous block."""
    names, scales, centres, rates, seeds = [], [], [], [], []
    for name in cfg.optimizers:
        for scale in cfg.init_scales():
            for centre in cfg.init_centres():
                for rate in cfg.learning_rates[name]:
                    for index in range(cfg.seeds):
                        names.append(name)
                        scales.append(float(scale))
                        centres.append(float(centre))
                        rates.append(float(rate))
                        seeds.append(index)
    return tuple(map(np.array, (names, scales, centres, rates, seeds)))


def train_group(group: Group, data: Dataset, cfg: StudyConfig, seed: int) -> GroupRuns:
    """Train every (optimiser, initial scale, learning rate, seed index) run of ``group`` on
    ``data``, stacked: each step evaluates the runs still active in one normalize and one
    vjp call."""
    start = time.perf_counter()
    dtype = get_dtype(group.dtype)
    run_optimizers, run_scales, run_centres, run_rates, run_seeds = _run_grid(cfg)
    n_runs = len(run_rates)
    w = np.empty((n_runs, data.n_features, data.n_classes), dtype=np.float32)
    b = np.empty((n_runs, data.n_classes), dtype=np.float32)
    for scale, centre in itertools.product(cfg.init_scales(), cfg.init_centres()):
        runs = (run_scales == scale) & (run_centres == centre)
        w0, b0 = initial_weights(seed, data, cfg.seeds, scale, centre)
        w[runs], b[runs] = w0[run_seeds[runs]], b0[run_seeds[runs]]
    blocks = []  # (optimiser, its contiguous block of runs)
    for name in cfg.optimizers:
        where = np.flatnonzero(run_optimizers == name)
        block = slice(int(where[0]), int(where[-1]) + 1)
        blocks.append((make_optimizer(name, run_rates[block]), block))
    x_train64 = data.x_train.astype(np.float64)
    predicting = predicting_map(group)  # the validation and test parts' map
    n_train = len(data.y_train)

    history = {
        key: np.full((cfg.steps + 1, n_runs), np.nan)
        for key in ("train_loss", "train_nll", "test_nll", "test_accuracy")
    }
    steps = np.full(n_runs, cfg.steps)
    active = np.ones(n_runs, dtype=bool)
    final_ece = np.full(n_runs, np.nan)
    final_validation = {key: np.full(n_runs, np.nan) for key in ("nll", "accuracy")}
    final_logits = np.full((n_runs, len(data.y_test), data.n_classes), np.nan)
    final_correct = np.zeros((n_runs, len(data.y_test)), dtype=bool)
    for step in range(cfg.steps + 1):
        live = np.flatnonzero(active)  # only the runs still training are evaluated
        params = _step_params(group, seed, step)
        logits, p = _forward(data.x_train, w[live], b[live], dtype, group.method, params)
        rows_loss, rows_grad = loss_and_grad(
            group.loss, logits, p, data.y_train, group.method, params
        )
        loss = np.mean(rows_loss, axis=-1)
        test_logits, p_test = _forward(data.x_test, w[live], b[live], dtype, *predicting)
        history["train_loss"][step, live] = loss
        history["train_nll"][step, live] = np.mean(nll(p, data.y_train), axis=-1)
        history["test_nll"][step, live] = np.mean(nll(p_test, data.y_test), axis=-1)
        history["test_accuracy"][step, live] = accuracy(p_test, data.y_test)
        stopping = ~np.isfinite(loss) | (step == cfg.steps)
        if stopping.any():
            final_ece[live[stopping]] = ece(p_test[stopping], data.y_test)
            final_logits[live[stopping]] = test_logits[stopping].astype(np.float64)
            final_correct[live[stopping]] = predictions(p_test[stopping]) == data.y_test
            ending = live[stopping]
            _, p_validation = _forward(data.x_validation, w[ending], b[ending], dtype, *predicting)
            final_validation["nll"][ending] = np.mean(nll(p_validation, data.y_validation), -1)
            final_validation["accuracy"][ending] = accuracy(p_validation, data.y_validation)
        diverging = live[~np.isfinite(loss)]
        steps[diverging] = step
        active[diverging] = False
        if step == cfg.steps or not active.any():
            break
        grad = rows_grad / n_train  # d(mean loss)/d(logits), float64
        grad_w = np.zeros(w.shape)
        grad_b = np.zeros(b.shape)
        with np.errstate(all="ignore"):  # a NaN gradient shows as a NaN loss next step
            grad_w[live] = np.matmul(x_train64.T, grad)
            grad_b[live] = np.sum(grad, axis=1)
        for optimizer, block in blocks:
            optimizer.step([w[block], b[block]], [grad_w[block], grad_b[block]], active[block])
    return GroupRuns(
        group=group,
        optimizers=run_optimizers,
        init_scales=run_scales,
        init_centres=run_centres,
        learning_rates=run_rates,
        seeds=run_seeds,
        steps=steps,
        final_validation_nll=final_validation["nll"],
        final_validation_accuracy=final_validation["accuracy"],
        final_ece=final_ece,
        final_test_logits=final_logits,
        final_test_correct=final_correct,
        seconds=time.perf_counter() - start,
        **history,
    )


#: The inverse L2 strengths the reference logistic regression chooses from.
LOGISTIC_CS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)


def logistic_regression_accuracy(data: Dataset) -> float:
    """Test accuracy of scikit-learn's multinomial logistic regression (lbfgs, trained to
    convergence) on the same parts and standardised features, with C from LOGISTIC_CS
    chosen on the validation part as the runs' learning rates are (the smaller C on a tie):
    what a well-trained softmax-linear model reaches there, the oracle for softmax's runs."""
    best = None
    for c in LOGISTIC_CS:
        model = LogisticRegression(C=c, max_iter=5000).fit(data.x_train, data.y_train)
        score = model.score(data.x_validation, data.y_validation)
        if best is None or score > best[0]:
            best = (score, model)
    return float(best[1].score(data.x_test, data.y_test))


@dataclass
class StudyResult:
    """The study's tables: one row per run (:data:`COLUMNS`) and the loss curves
    (:data:`CURVE_COLUMNS`), the time each group took, the test-set logits of the softmax
    model picked by :func:`best_runs` on digits (None without that group), which test
    points each run predicted right (keyed by :data:`RUN_KEYS`' values), and the
    references: logistic regression's test accuracy per data set and the mixture's Bayes
    accuracy (None when the mixture is not in the study)."""

    table: pd.DataFrame
    curves: pd.DataFrame
    seconds: pd.DataFrame
    digits_softmax_test_logits: np.ndarray | None
    logistic_regression: dict[str, float]
    mixture_bayes_accuracy: float | None
    test_correct: dict[tuple, np.ndarray] = field(default_factory=dict)


def run_study(
    method_specs: Sequence[tuple[str, Mapping, str]],
    cfg: StudyConfig,
    seed: int,
    progress: Callable[[Group, float], None] | None = None,
) -> StudyResult:
    """Train every group of the study; ``method_specs`` as softmaxlab.config.method_specs
    gives them ((name, full parameters, label), in config order)."""
    data = {name: load(name, seed, cfg.mixture) for name in cfg.datasets}
    rows, curves, seconds, logits, correct = [], [], [], {}, {}
    every_group = groups(method_specs, cfg)
    with threadpool_limits(limits=1, user_api="blas"):
        batches = _widened([(group, data[group.dataset], cfg) for group in every_group], seed)
    for group, batch in zip(every_group, batches, strict=True):
        for runs in batch:
            rows.extend(runs.rows())
            curves.extend(runs.curve_rows(cfg.steps))
            correct.update(runs.test_correct())
        spent = sum(runs.seconds for runs in batch)
        seconds.append({**_keys(group), "seconds": spent})
        if group.dataset == "digits" and group.label == "softmax" and group.loss == "nll":
            logits[group.dtype] = batch
        if progress is not None:
            progress(group, spent)
    table = _run_table(rows)
    return StudyResult(
        table=table,
        curves=pd.DataFrame(curves, columns=list(CURVE_COLUMNS)),
        seconds=pd.DataFrame(seconds),
        digits_softmax_test_logits=_chosen_logits(table, logits),
        logistic_regression={name: logistic_regression_accuracy(d) for name, d in data.items()},
        mixture_bayes_accuracy=(
            bayes_accuracy(seed, cfg.mixture) if "mixture" in cfg.datasets else None
        ),
        test_correct=correct,
    )


class Checked(NamedTuple):
    """What :func:`recheck` trained: the runs (:data:`COLUMNS`), the test points each run
    predicted right (keyed by :data:`RUN_KEYS`' values) and the loss curves
    (:data:`CURVE_COLUMNS`)."""

    table: pd.DataFrame
    correct: dict[tuple, np.ndarray]
    curves: pd.DataFrame


def recheck(
    method_specs: Sequence[tuple[str, Mapping, str]],
    cfg: StudyConfig,
    seed: int,
    settings: Iterable[tuple[str, str, str, str, str]],
    reference: tuple[str, str],
) -> Checked:
    """Train again each (data set, label, loss, format, optimiser) of ``settings`` and the
    ``reference`` (label, loss) in the same data set, format and optimiser, with the same
    seeds on the check's grid (:meth:`StudyConfig.checking`: ``cfg.check_steps`` steps, the
    learning rates and ``cfg.check_rates_below`` below them, from ``init_scale`` and each of
    ``cfg.check_init_scales``, and from a bias of 0 and each of ``cfg.check_init_centres``
    where the map is not :func:`shift_invariant`), each widened where its chosen rate is at
    an edge (:func:`_widened`): their rows of :data:`COLUMNS`, their test points predicted
    right (as StudyResult.test_correct) and their loss curves (:data:`CURVE_COLUMNS`, as
    the study's). Whether a gap in accuracy, or a map that does not train, is the map's or
    the set-up's (the number of steps, the learning-rate grid, the initial weights' scale
    and centre): C15's check."""
    wanted = set(settings)
    wanted |= {(d, *reference, dtype, opt) for d, _, _, dtype, opt in wanted}
    longer = cfg.checking()
    data, jobs, rows, curves, correct = {}, [], [], [], {}
    for group in groups(method_specs, cfg):
        for optimizer in cfg.optimizers:
            key = (group.dataset, group.label, group.loss, group.dtype, optimizer)
            if key not in wanted:
                continue
            if group.dataset not in data:
                data[group.dataset] = load(group.dataset, seed, cfg.mixture)
            one = dataclasses.replace(longer, optimizers=(optimizer,))
            if shift_invariant(group.method):  # a common shift of the logits changes nothing
                one = dataclasses.replace(one, grid_init_centres=(0.0,))
            jobs.append((group, data[group.dataset], one))
    with threadpool_limits(limits=1, user_api="blas"):
        batches = _widened(jobs, seed)
    for runs in (runs for batch in batches for runs in batch):
        rows.extend(runs.rows())
        curves.extend(runs.curve_rows(longer.steps))
        correct.update(runs.test_correct())
    return Checked(_run_table(rows), correct, pd.DataFrame(curves, columns=list(CURVE_COLUMNS)))


def _run_table(rows: list[dict]) -> pd.DataFrame:
    """Rows of :data:`COLUMNS` as the study's table (steps_to_90pct nullable)."""
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["steps_to_90pct"] = table["steps_to_90pct"].astype("Int64")
    return table


def _widened(
    jobs: Sequence[tuple[Group, Dataset, StudyConfig]], seed: int
) -> list[list[GroupRuns]]:
    """For each (group, data set, grid) of ``jobs``: the group's runs on the grid (every
    optimiser stacked), then, for each optimiser in turn, the runs that widen its grid of
    learning rates. While the rate :func:`best_runs` chooses is the smallest (largest)
    rate trained, and at most ``widen`` times (the job's grid's), the runs at a tenth of it
    (ten times it) are trained. A choice at the edge of a grid says the best rate may lie
    beyond it, so a gap measured there may be the grid's. A group none of whose runs takes
    a step (its loss is not finite at the initial model, whatever the rate), or whose
    choice is the tie-break's (:func:`chosen_at_edge`), is not widened.

    Each round of widening asks :func:`chosen_at_edge` once, over every (job, optimiser)
    still widening: its answer for one group does not depend on the others in the table,
    and on a table of one group the call is mostly pandas' overhead (about 45 ms; the
    default study asked it 532 times). Every run is trained as it would be alone."""
    batches = [[train_group(group, data, cfg, seed)] for group, data, cfg in jobs]
    rows, extra = {}, {}  # per (job, optimiser): its runs' rows so far, its widening runs
    for j, (_, _, cfg) in enumerate(jobs):
        for optimizer in cfg.optimizers:
            rows[j, optimizer] = [r for r in batches[j][0].rows() if r["optimizer"] == optimizer]
            extra[j, optimizer] = []
    widening = list(rows)
    for turn in itertools.count():
        widening = [(j, optimizer) for j, optimizer in widening if turn < jobs[j][2].widen]
        if not widening:
            break
        edges = chosen_at_edge(_run_table([row for key in widening for row in rows[key]]))
        by_key = {tuple(edge[k] for k in _EDGE_KEYS): edge for _, edge in edges.iterrows()}
        if len(by_key) != len(widening):
            raise ValueError("_widened: two jobs share a (data set, label, loss, format)")
        still = []
        for j, optimizer in widening:
            group, data, cfg = jobs[j]
            edge = by_key[(*(_keys(group)[k] for k in _EDGE_KEYS[:-1]), optimizer)]
            if not edge["at_edge"]:
                continue
            low = edge["chosen"] == edge["smallest"]
            rate = edge["chosen"] / 10.0 if low else edge["chosen"] * 10.0
            one = dataclasses.replace(
                cfg, optimizers=(optimizer,), learning_rates={optimizer: (rate,)}
            )
            runs = train_group(group, data, one, seed)
            extra[j, optimizer].append(runs)
            rows[j, optimizer].extend(runs.rows())
            still.append((j, optimizer))
        widening = still
    return [
        batch + [runs for optimizer in cfg.optimizers for runs in extra[j, optimizer]]
        for j, (batch, (_, _, cfg)) in enumerate(zip(batches, jobs, strict=True))
    ]


#: The columns that name a group of :func:`chosen_at_edge`'s table.
_EDGE_KEYS = ("dataset", "label", "loss", "dtype", "optimizer")


def chosen_at_edge(table: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, label, loss, format, optimiser) of a study's or check's table: the
    rate :func:`best_runs` chooses, the smallest and largest rate trained, and ``at_edge``:
    the chosen rate is one of them, some run took a step, and the rate is chosen by the
    runs, not by the tie-break alone. A group that never steps, or whose chosen rate ties
    with another on everything best_runs compares (a map whose output does not depend on
    the weights, softmax at base 1, trains the same at every rate), chooses its smallest
    rate by the tie-break: no rate beyond it can do better than the tie, so it says
    nothing of the grid."""
    keys = list(_EDGE_KEYS)
    grids = table.groupby(keys, sort=False).agg(
        smallest=("learning_rate", "min"),
        largest=("learning_rate", "max"),
        steps=("steps", "max"),
    )
    ordered = _rates_best_first(table)
    top_two = ordered.groupby(keys, sort=False).head(2)
    tied = top_two.groupby(keys, sort=False)[_CHOICE_KEYS].nunique(dropna=False).max(axis=1).eq(1)
    tied &= top_two.groupby(keys, sort=False).size().gt(1)
    chosen = ordered.groupby(keys, sort=False).head(1).set_index(keys)["learning_rate"]
    out = grids.join(chosen.rename("chosen")).join(tied.rename("tied")).reset_index()
    edge = (out["chosen"] == out["smallest"]) | (out["chosen"] == out["largest"])
    out["at_edge"] = edge & (out["steps"] > 0) & ~out["tied"]
    return out.drop(columns=["steps", "tied"])


def by_validation(
    frame: pd.DataFrame, nll: pd.Series, then: Sequence[str] = (), first: Sequence[str] = ()
) -> pd.DataFrame:
    """``frame``'s rows best first by the study's one choice rule: the columns ``first``
    ascending (best_runs: whether a seed diverged), then the highest validation_accuracy
    (NaN last), then the lowest ``nll`` (a column of the frame's rows; non-finite counts as
    worst), then the columns ``then`` ascending; a stable sort, so the table's order decides
    what is still tied."""
    key = np.where(np.isfinite(nll), nll, np.inf)
    return (
        frame.assign(_nll_key=key)
        .sort_values(
            [*first, "validation_accuracy", "_nll_key", *then],
            ascending=[*[True] * len(first), False, True, *[True] * len(then)],
            kind="stable",
        )
        .drop(columns="_nll_key")
    )


#: The columns of a group of runs: (data set, map, loss, format, optimiser).
_GROUP_KEYS = ["dataset", "method", "label", "loss", "dtype", "optimizer"]
#: What best_runs chooses by, before the learning rate breaks what is still tied.
_CHOICE_KEYS = ["_blows_up", "validation_accuracy", "nll_key"]


def _rates_best_first(table: pd.DataFrame) -> pd.DataFrame:
    """Per group (_GROUP_KEYS), initial scale, initial bias and learning rate, the mean over
    seeds of the numeric columns, with ``nll_key`` (the mean validation NLL, a seed's
    non-finite one counting as worst), ``diverged`` (the share of its seeds that diverged)
    and ``_blows_up``; each group's (initial scale, bias, rate) triples best first by
    :func:`best_runs`' rule."""
    finite = np.isfinite(table["validation_nll"])
    frame = table.assign(
        # per run, so that one seed's non-finite NLL makes its rate's mean the worst
        nll_key=np.where(finite, table["validation_nll"], np.inf),
        diverged=table["diverged"].astype(float),
    )
    per_rate = (
        frame.groupby(_GROUP_KEYS + ["init_scale", "init_centre", "learning_rate"], sort=False)
        .agg(
            validation_accuracy=("validation_accuracy", "mean"),
            test_accuracy=("test_accuracy", "mean"),
            train_nll=("train_nll", "mean"),
            validation_nll=("validation_nll", "mean"),
            test_nll=("test_nll", "mean"),
            ece=("ece", "mean"),
            nll_key=("nll_key", "mean"),
            diverged=("diverged", "mean"),
        )
        .reset_index()
    )
    return by_validation(
        per_rate.assign(_blows_up=per_rate["diverged"] > 0),
        per_rate["nll_key"],
        then=["learning_rate"],
        first=["_blows_up"],
    )


def best_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The best learning rate of each (data set, label, loss, format, optimiser): among the
    rates at which no seed diverged (all rates where every one has a diverged seed: a rate
    whose runs blow up is not one a practitioner keeps, even where the run frozen before
    the blow-up scores well), the one with the highest mean validation accuracy over the
    seeds, ties broken by the lower mean final validation NLL (non-finite counts as worst),
    then by the smaller learning rate (:func:`by_validation`); the test part plays no part
    in the choice. Where the grid has several initial scales or biases (C15's check), the
    choice is of an (initial scale, bias, rate) triple by the same rule, still tied ones in
    the grid's order (init_scale first, then init_centre). One row per group with the mean
    (over seeds) of the numeric columns at that choice and ``diverged_share``, the share of
    the group's runs (every scale, bias, rate and seed) that diverged."""
    keys = _GROUP_KEYS
    share = (
        table.assign(diverged=table["diverged"].astype(float))
        .groupby(keys, sort=False)["diverged"]
        .mean()
        .rename("diverged_share")
    )
    ordered = _rates_best_first(table)
    best = ordered.groupby(keys, sort=False).head(1).drop(columns=["nll_key", "_blows_up"])
    best = best.merge(share.reset_index(), on=keys)
    order = table[keys].drop_duplicates().reset_index(drop=True)
    return order.merge(best, on=keys, how="left")


def _chosen_logits(table: pd.DataFrame, runs: Mapping) -> np.ndarray | None:
    """Test logits (float64, one row per test image) of digits' softmax NLL model: the
    format and optimiser whose best learning rate has the highest mean validation accuracy
    (ties: the lower mean validation NLL, then float32 first), at that rate, seed index 0."""
    if not runs:
        return None
    best = best_runs(table)
    best = best[
        (best["dataset"] == "digits") & (best["label"] == "softmax") & (best["loss"] == "nll")
    ]
    best = best.assign(is32=best["dtype"] != "float32")
    choice = by_validation(best, best["validation_nll"], then=["is32"]).iloc[0]
    for group in runs[choice["dtype"]]:  # the grid's runs, then the widening's
        index = np.flatnonzero(
            (group.optimizers == choice["optimizer"])
            & (group.init_scales == choice["init_scale"])
            & (group.init_centres == choice["init_centre"])
            & (group.learning_rates == choice["learning_rate"])
            & (group.seeds == 0)
        )
        if index.size:
            return group.final_test_logits[index[0]]
    raise AssertionError("the chosen softmax run is in none of its group's batches")
