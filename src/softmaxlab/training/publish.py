"""The training study's verdict job: claim C15's verdict and text, and the loss-curve figure.

Inputs (the training job's outputs, :mod:`softmaxlab.training.job`): ``result``, the typed
result (JSON); ``table`` and ``curves``, the runs and their loss curves, ``check`` and
``check_curves``, C15's check's (CSV). Outputs
(the workflow's rule ``training_verdict``):

* ``verdict``: claim C15's row (claim, statement, verdict, conditions, text) and the typed
  result, JSON (:func:`softmaxlab.training.verdict.to_json`), which the claims job reads;
* ``svg``, ``png``, ``caption``: the loss-curve figure (with the check's runs of the maps
  that never trained in the study) and its caption file.

A job of its own, apart from the training: an edit to a claim's text or to a figure
reruns this one (seconds), not the study (minutes), and leaves the digits logits that the
sweep reads as they are. The same inputs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from softmaxlab.captions import Caption, write_caption
from softmaxlab.figures.style import save_figure, styled
from softmaxlab.files import atomic_path
from softmaxlab.sweep.io import read_table
from softmaxlab.training import figure, verdict
from softmaxlab.training.result import from_json

#: The text columns of the training job's run and curve tables (read as text, whatever
#: they hold: a label such as "1e3" stays a name).
TEXT_KEYS: tuple[str, ...] = ("dataset", "label", "loss", "dtype", "optimizer")


def read_runs(path) -> pd.DataFrame:
    """A run table (training.csv, training_check.csv) or the curves, as the training job
    wrote them: the text columns as text, the numbers as the floats written (exact: the
    CSV holds each float's shortest round-trip repr)."""
    return read_table(path, dtype=dict.fromkeys(TEXT_KEYS, "str"))


def run(inputs: Mapping, outputs: Mapping) -> None:
    """Write ``outputs`` (keys verdict, svg, png, caption) from ``inputs`` (keys result,
    table, curves, check, check_curves)."""
    measured = from_json(Path(inputs["result"]).read_text(encoding="utf-8"))
    with atomic_path(outputs["verdict"]) as tmp:
        tmp.write_text(verdict.to_json(measured), encoding="utf-8")
    tables = ("table", "curves", "check", "check_curves")
    data = figure.prepare(*(read_runs(inputs[name]) for name in tables))
    with styled():
        fig = figure.draw(data)
    save_figure(fig, outputs["svg"], outputs["png"])
    write_caption(outputs["caption"], Caption(figure.TITLE, figure.caption(data)))
