"""The training job: run the study for a validated sweep config and write its outputs.

Outputs (paths given by the caller, the workflow's rule ``training``):

* ``table``: one row per run (:data:`softmaxlab.training.study.COLUMNS`), CSV;
* ``curves``: the loss curves (:data:`softmaxlab.training.study.CURVE_COLUMNS`), CSV;
* ``check``: one row per run of C15's check (``table``'s columns; no row where it did not
  run), CSV: what its comparisons were chosen from;
* ``check_curves``: the loss curves of the check's runs (``curves``' columns), CSV;
* ``result``: claim C15's typed result (:func:`softmaxlab.training.result.result_json`),
  JSON, which the verdict job (:mod:`softmaxlab.training.publish`) reads;
* ``logits``: the test-set logits of digits' softmax model, ``.npy`` (2-D float64, one
  vector a row), for sweeping as an "empirical" logit distribution.

The verdict, its text and the loss-curve figure are the verdict job's: this job imports
neither the claims nor the figures, so an edit to a claim's text or to a figure does not
train again (softmaxlab.provenance), nor rewrite the digits logits the sweep reads.
Everything but the log is a function of the config: the same config gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from softmaxlab.config import method_specs
from softmaxlab.files import atomic_path
from softmaxlab.sweep import write_csv
from softmaxlab.training import result as measured_result
from softmaxlab.training.study import (
    COLUMNS,
    CURVE_COLUMNS,
    Group,
    StudyConfig,
    chosen_at_edge,
    recheck,
    run_study,
    with_reference,
)

log = logging.getLogger("softmaxlab.training")


def _progress(group: Group, seconds: float) -> None:
    log.info("%s %s %s %s: %.2f s", group.dataset, group.label, group.loss, group.dtype, seconds)


def write_npy(array: np.ndarray, path) -> None:
    """``array`` as a .npy file, written atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def _checked(
    measured: measured_result.TrainingResult, specs, cfg: StudyConfig, seed: int
) -> tuple[measured_result.TrainingResult, pd.DataFrame, pd.DataFrame]:
    """``measured`` with C15's check: the settings where an alternative fell short or a
    re-parametrisation of softmax was told apart from it (measured_result.needs_check), trained
    again on the check's grid (cfg.checking(): check_steps steps, smaller learning rates,
    widened where the chosen rate is at an edge, more initial scales and biases;
    study.recheck) and compared the same way (none where check_steps is 0 or nothing fell
    short), the check's runs and their loss curves."""
    settings = measured_result.needs_check(measured)
    checked = measured_result.TrainingResult(())
    table = pd.DataFrame(columns=list(COLUMNS))
    curves = pd.DataFrame(columns=list(CURVE_COLUMNS))
    rates, scales, centres = {}, (), ()
    edges = {}
    if cfg.check_steps:
        grid = cfg.checking()
        rates = {name: grid.learning_rates[name] for name in cfg.optimizers}
        scales = grid.init_scales()
        centres = grid.init_centres()
    if cfg.check_steps and settings:
        start = time.perf_counter()
        table, correct, curves = recheck(specs, cfg, seed, settings, measured_result.REFERENCE)
        checked = measured_result.measure_every_start(table, correct)
        edges["check_groups"], edges["check_widened"], _ = _edges(table, rates)
        log.info("C15 check, %d settings: %.1f s", len(settings), time.perf_counter() - start)
    result = dataclasses.replace(
        measured,
        steps=cfg.steps,
        check_steps=cfg.check_steps or None,
        check_learning_rates=rates,
        check_init_scales=scales,
        check_init_centres=centres,
        check=checked.comparisons,
        check_exp_family=checked.exp_family,
        **edges,
    )
    return result, table, curves


def _edges(table, rates: Mapping[str, tuple[float, ...]]) -> tuple[int, int, int]:
    """The groups (data set, label, loss, format, optimiser) of a study's or check's table:
    how many, how many were trained beyond the grid ``rates`` (study._widened), and how many
    still chose the smallest or largest rate trained (study.chosen_at_edge)."""
    edges = chosen_at_edge(table)
    smallest = edges["optimizer"].map(lambda name: min(rates[name]))
    largest = edges["optimizer"].map(lambda name: max(rates[name]))
    beyond = (edges["smallest"] < smallest) | (edges["largest"] > largest)
    return len(edges), int(beyond.sum()), int(edges["at_edge"].sum())


def run(config: Mapping, outputs: Mapping) -> float:
    """Run the study of ``config`` (validated: seed, methods and the ``training`` block; the
    methods completed by :func:`~softmaxlab.training.study.with_reference`) and
    write ``outputs`` (keys table, curves, check, check_curves, result, logits); return the
    study's wall time in seconds (logged, not written: the outputs stay byte-stable)."""
    cfg = StudyConfig.from_mapping(config.get("training"))
    start = time.perf_counter()
    specs = with_reference(method_specs(config))
    result = run_study(specs, cfg, int(config["seed"]), progress=_progress)
    seconds = time.perf_counter() - start
    log.info("training study: %.1f s", seconds)
    write_csv(result.table, outputs["table"])
    write_csv(result.curves, outputs["curves"])
    measured = measured_result.measure(
        result.table,
        result.test_correct,
        logistic_regression_accuracy=result.logistic_regression.get("digits"),
        mixture_bayes_accuracy=result.mixture_bayes_accuracy,
    )
    groups, widened, at_edge = _edges(result.table, cfg.learning_rates)
    measured = dataclasses.replace(
        measured, widen=cfg.widen, groups=groups, widened=widened, at_edge=at_edge
    )
    measured, check, check_curves = _checked(measured, specs, cfg, int(config["seed"]))
    write_csv(check, outputs["check"])
    write_csv(check_curves, outputs["check_curves"])
    with atomic_path(outputs["result"]) as tmp:
        tmp.write_text(measured_result.result_json(measured), encoding="utf-8")
    logits = result.digits_softmax_test_logits
    if logits is None:  # digits or softmax not in the study: an empty 2-D array says so
        logits = np.empty((0, 0), dtype=np.float64)
    write_npy(np.ascontiguousarray(logits, dtype=np.float64), outputs["logits"])
    return seconds
