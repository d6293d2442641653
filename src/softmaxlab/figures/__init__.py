"""The report's figures, drawn with matplotlib (Agg) and seaborn from the tidy summary.

One module per figure, each with ``prepare(summary) -> data`` (the slice of the sweep it
shows, see :mod:`softmaxlab.figures.data`), ``draw(data) -> Figure`` and
``caption(data) -> str``: the caption states what the figure shows and which slice it
uses, with every number read from the same data the figure plots. The entry points below
read each format in its headline compute mode (softmaxlab.sweep.headline_rows). The look
and the shared drawing helpers live in :mod:`softmaxlab.figures.style`.

:data:`FIGURES` maps each figure's name to its :class:`FigureSpec`; :data:`NAMES` lists
the names alone, without importing matplotlib (the workflow's Snakefile reads them): the
rest lives in :mod:`softmaxlab.figures.registry`, imported on first use. The figure job
calls :func:`render`, which writes the SVG, the PNG and the caption file (softmaxlab.captions)
that the report reads, so the report needs no plotting code. ``make_figure``,
``caption`` and ``title`` give the pieces one at a time (notebooks, tests).
"""

from __future__ import annotations

#: The figures' names, in the report's order: the keys of FIGURES.
NAMES: tuple[str, ...] = (
    "distance_vs_scale",
    "entropy_vs_scale",
    "overflow_heatmap",
    "nan_heatmap",
    "underflow_heatmap",
    "distance_vs_k",
    "softmax_family",
    "accuracy_by_dtype",
    "gradient_vs_scale",
)

__all__ = [
    "FIGURES",
    "NAMES",
    "SVG_HASHSALT",
    "FigureSpec",
    "caption",
    "make_figure",
    "render",
    "save_figure",
    "title",
]


def __getattr__(name: str):
    """The names of softmaxlab.figures.registry (and the style's two the figure jobs use),
    imported on first use (PEP 562)."""
    if name in ("SVG_HASHSALT", "save_figure"):
        from softmaxlab.figures import style

        return getattr(style, name)
    if name in __all__ and name != "NAMES":
        from softmaxlab.figures import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
