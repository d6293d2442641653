"""The report's figures by name (:data:`FIGURES`) and the functions that draw, caption and
write them: matplotlib (Agg) and seaborn. Imported on first use of one of these names
from softmaxlab.figures, so that the workflow's Snakefile reads the names without
importing matplotlib (about 1 s of every Snakemake start).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pandas as pd
from matplotlib.figure import Figure

from softmaxlab.captions import Caption, write_caption
from softmaxlab.figures import (
    accuracy_by_dtype,
    distance_vs_k,
    distance_vs_scale,
    entropy_vs_scale,
    gradient_vs_scale,
    heatmap,
    softmax_family,
)
from softmaxlab.figures.data import in_slice
from softmaxlab.figures.style import save_figure, styled
from softmaxlab.sweep import headline_rows
from softmaxlab.tables import excluded_note


@dataclass(frozen=True)
class FigureSpec:
    """A report figure: its title; ``prepare(summary) -> data``; ``draw(data) -> Figure``;
    ``caption(data) -> str`` (paragraphs separated by blank lines)."""

    title: str
    prepare: Callable[[pd.DataFrame], object]
    draw: Callable[[object], Figure]
    caption: Callable[[object], str]
    #: Shows an accuracy metric (NaN on non-finite outputs): the caption names the largest
    #: non-finite output shares it leaves out.
    accuracy: bool = False


def _from_module(module: ModuleType, accuracy: bool = False) -> FigureSpec:
    return FigureSpec(module.TITLE, module.prepare, module.draw, module.caption, accuracy)


def _heatmap(metric: str) -> FigureSpec:
    prepare = functools.partial(heatmap.prepare, metric=metric)
    return FigureSpec(heatmap.TITLES[metric], prepare, heatmap.draw, heatmap.caption)


#: In the order of softmaxlab.figures.NAMES (a test checks it).
FIGURES: dict[str, FigureSpec] = {
    "distance_vs_scale": _from_module(distance_vs_scale, accuracy=True),
    "entropy_vs_scale": _from_module(entropy_vs_scale, accuracy=True),
    "overflow_heatmap": _heatmap("overflow"),
    "nan_heatmap": _heatmap("nan_output"),
    "underflow_heatmap": _heatmap("underflow"),
    "distance_vs_k": _from_module(distance_vs_k, accuracy=True),
    "softmax_family": _from_module(softmax_family, accuracy=True),
    "accuracy_by_dtype": _from_module(accuracy_by_dtype, accuracy=True),
    "gradient_vs_scale": _from_module(gradient_vs_scale),
}


def _spec(name: str) -> FigureSpec:
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; valid figures: {', '.join(FIGURES)}")
    return FIGURES[name]


def title(name: str) -> str:
    """The figure's title."""
    return _spec(name).title


def caption(name: str, summary: pd.DataFrame) -> str:
    """What the figure shows and what to read from it, with numbers taken from ``summary``."""
    spec = _spec(name)
    summary = headline_rows(summary)
    data = spec.prepare(summary)
    return _with_exclusions(spec, spec.caption(data), summary, data)


def _with_exclusions(spec: FigureSpec, text: str, summary: pd.DataFrame, data) -> str:
    """The caption and, as its last paragraph, the shares of vectors the figure leaves out
    (softmaxlab.tables.excluded_note): logits not finite in the format, and for accuracy
    figures the largest non-finite output shares; of the cells of the figure's slice
    where it draws one (its data's ``choice``: softmax_family's overflow panel in a narrow
    format is a rate, which leaves nothing out but the cast), not of the whole sweep."""
    choice = getattr(data, "choice", None)
    if choice:
        summary = in_slice(summary, choice)
    if summary.empty:
        return text
    labels = list(summary["label"].unique()) if spec.accuracy else None  # in order of appearance
    note = excluded_note(summary, labels)
    return f"{text}\n\n{note}" if note else text


def _draw(spec: FigureSpec, data) -> Figure:
    with styled():
        return spec.draw(data)


def make_figure(name: str, summary: pd.DataFrame) -> Figure:
    """Draw figure ``name`` from the tidy summary (an Agg-backed matplotlib Figure)."""
    spec = _spec(name)
    return _draw(spec, spec.prepare(headline_rows(summary)))


def render(
    name: str,
    summary: pd.DataFrame,
    svg_path: str | Path,
    png_path: str | Path,
    caption_path,
    headline: bool = False,
) -> None:
    """The figure job: prepare the data once, draw it to SVG and PNG, caption it from it.
    ``headline``: the rows are already each format's headline compute mode's (read with
    softmaxlab.sweep.read_summary(headline=True)), so they are not selected again (a
    string comparison per row: about 0.9 s for the default sweep's 1.5 million)."""
    spec = _spec(name)
    summary = summary if headline else headline_rows(summary)
    data = spec.prepare(summary)
    save_figure(_draw(spec, data), svg_path, png_path)
    text = _with_exclusions(spec, spec.caption(data), summary, data)
    write_caption(caption_path, Caption(spec.title, text))
