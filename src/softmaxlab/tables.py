"""Pivot tables for readers, computed from the tidy summary (results/tables/summary.csv).

Each entry of :data:`PIVOTS` maps a file-name-safe name to a :class:`Pivot`, a callable
``pivot(summary) -> DataFrame``. Every table has one index, ``label`` (the method with its
parameters, in the order the methods first appear in the summary, i.e. config order; the
cast's table, which no method changes, has ``scale``: Pivot.rows), and
string columns (format names or scales). The summary has one row per cell
(distribution, scale, K, dtype), label and metric, so pooling is over cells, by the one
pooling rule of softmaxlab.stats (POOLING_RULE, the same as the claims' and the figures'):

* means: the cells' means weighted by their numbers of vectors n (the mean over the pooled
  vectors). A cell whose metric is undefined for every vector (n = 0, mean NaN) is left
  out; an infinite cell mean makes the pooled mean infinite.
* ``median of cell medians`` for errors, whose distributions are heavy-tailed.

The pooled-over cells are named in each table's ``description``.
:func:`to_html` renders a table as an HTML ``<table class="pivot">`` with rates as
percentages and other numbers to 3 significant digits (softmaxlab.formatting).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from softmaxlab import formatting
from softmaxlab.dtypes import DTYPES
from softmaxlab.metrics import unchecked_sums_text
from softmaxlab.stats import pool
from softmaxlab.sweep import headline_rows

__all__ = [
    "PIVOTS",
    "EVERY_COMPUTE_MODE",
    "Pivot",
    "excluded_note",
    "format_scale",
    "metric_rows",
    "nonfinite_shares",
    "off_simplex_share",
    "ordered_dtypes",
    "ordered_labels",
    "pick_dtype",
    "pooled_share",
    "to_html",
]

_EMPTY_NOTE = "no data for this table in this sweep"


def ordered_labels(frame: pd.DataFrame) -> list[str]:
    """Labels in order of first appearance (the summary is written in config order)."""
    return [str(label) for label in pd.unique(frame["label"])]


def ordered_dtypes(values) -> list[str]:
    """Format names present in ``values``, widest first (softmaxlab.dtypes order); unknown last."""
    present = [str(v) for v in pd.unique(pd.Series(values))]
    known = [name for name in DTYPES if name in present]
    return known + sorted(name for name in present if name not in DTYPES)


def pick_dtype(values, prefer: str = "float64") -> str | None:
    """``prefer`` if present, else the widest format present (None if there is none)."""
    dtypes = ordered_dtypes(values)
    if not dtypes:
        return None
    return prefer if prefer in dtypes else dtypes[0]


def format_scale(scales) -> list[str]:
    """Shortest decimal strings (>= 3 significant digits) that tell the given scales apart.

    0.00316227766 -> "0.00316", 1000.0 -> "1000", 0.1 -> "0.1".
    """
    scales = [float(s) for s in scales]
    for digits in range(3, 18):
        texts = [
            np.format_float_positional(s, precision=digits, unique=True, fractional=False, trim="-")
            for s in scales
        ]
        if len(set(texts)) == len(set(scales)):
            return texts
    return [repr(s) for s in scales]


def metric_rows(summary: pd.DataFrame, metric: str, columns: list[str] | None = None):
    """The summary rows of one metric (optionally only ``columns``). Read summaries with
    softmaxlab.sweep.read_summary: pandas' defaults read the metric name "nan" as missing."""
    rows = summary[(summary["metric"] == metric).to_numpy(dtype=bool, na_value=False)]
    return rows if columns is None else rows[list(columns)]


def pooled_share(summary: pd.DataFrame, metric: str, by: list[str]) -> pd.Series:
    """A rate's pooled mean per group of ``by`` over the summary's cells (the one pooling
    rule), groups in order of appearance; empty when the summary lacks the metric."""
    rows = metric_rows(summary, metric, [*by, "n", "mean"])
    if rows.empty:
        return pd.Series(dtype=np.float64)
    return _pooled(rows, by)


#: The columns that name a cell and a method variant in the summary (compute where present).
_CELL_LABEL = ("distribution", "scale", "k", "dtype", "compute", "label")


def off_simplex_share(summary: pd.DataFrame) -> pd.Series:
    """Per cell and label, the share of vectors whose output is finite but not a
    distribution: invalid less nonfinite_output (negative entries, as linear normalisation
    gives on signed logits, or a sum off 1 beyond rounding). Indexed by the cell's columns
    and label (those of the summary); NaN where the cell has no vector; empty without the
    invalid metric."""
    keys = [c for c in _CELL_LABEL if c in summary.columns]
    shares = [
        metric_rows(summary, name, [*keys, "mean"]).set_index(keys)["mean"]
        for name in ("invalid", "nonfinite_output")
    ]
    return shares[0].sub(shares[1], fill_value=0.0)


def _off_simplex_cells(summary: pd.DataFrame, metric: str) -> pd.Series:
    """Per cell of ``metric`` in ``summary``, whether some of the cell's finite outputs are
    not distributions (:func:`off_simplex_share` > 0), as a bool Series indexed by label
    and scale (one entry per cell)."""
    keys = [c for c in _CELL_LABEL if c in summary.columns]
    cells = metric_rows(summary, metric, keys)
    share = off_simplex_share(summary).reindex(pd.MultiIndex.from_frame(cells))
    index = pd.MultiIndex.from_arrays(
        [cells["label"].astype(str), cells["scale"].astype(np.float64)], names=["label", "scale"]
    )
    return pd.Series(share.to_numpy() > 0, index=index, name="off")


#: The largest non-finite output shares an accuracy table's description names.
_NAMED_SHARES = 6


def excluded_note(summary: pd.DataFrame, labels=None) -> str:
    """The sentence every table and figure states: the share of vectors left out because
    their logits are not finite once rounded to the format (input_nonfinite, pooled per
    format over the summary's cells; the cast, not the method) and, for ``labels``, the
    share of vectors whose output is not finite (nonfinite_output), which the accuracy
    metrics leave out too. Only the non-zero shares are named; empty when there is none."""
    parts = []
    one_label = summary[summary["label"] == summary["label"].iloc[0]] if len(summary) else summary
    cast = pooled_share(one_label, "input_nonfinite", ["dtype"])
    cast = cast[cast > 0]
    if len(cast):
        shares = ", ".join(f"{formatting.percent(v)} in {d}" for d, v in cast.items())
        parts.append(
            "Left out: vectors whose logits are not finite once rounded to the format "
            f"(the cast, not the method): {shares}."
        )
    if labels is not None:
        rows = summary[summary["label"].isin(list(labels))]
        output = pooled_share(rows, "nonfinite_output", ["label", "dtype"])
        output = output[output > 0].sort_values(ascending=False, kind="stable")
        if len(output):
            named = [
                f"{label} {formatting.percent(v)} in {dtype}"
                for (label, dtype), v in output.iloc[:_NAMED_SHARES].items()
            ]
            more = len(output) - len(named)
            rest = f"; {more} more in the non-finite output table" if more > 0 else ""
            parts.append(
                "Non-finite outputs, also left out of the accuracy metrics: "
                f"{', '.join(named)}{rest}."
            )
    return " ".join(parts)


def _by_label_dtype(metric: str, field: str, how: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """label x dtype table of ``how`` ('mean' or 'median') over cells of the cell ``field``."""

    def build(summary: pd.DataFrame) -> pd.DataFrame:
        rows = metric_rows(summary, metric, ["label", "dtype", "n", field])
        labels = ordered_labels(rows)
        dtypes = ordered_dtypes(rows["dtype"])
        if how == "mean":
            table = _pooled(rows, ["label", "dtype"]).unstack("dtype")
        else:
            table = rows.groupby(["label", "dtype"], sort=False)[field].agg(how).unstack("dtype")
        return _tidy(table, labels, dtypes)

    return build


def nonfinite_shares(summary: pd.DataFrame, labels, dtypes) -> pd.DataFrame:
    """label x dtype table of the pooled share of non-finite outputs (nonfinite_output),
    which the accuracy metrics leave out; NaN where the summary has no such row."""
    shares = pooled_share(summary, "nonfinite_output", ["label", "dtype"])
    table = shares.unstack("dtype") if len(shares) else pd.DataFrame()
    return table.reindex(index=labels, columns=dtypes).astype(np.float64)


#: The suffix of an accuracy pivot's companion columns: the non-finite output share of
#: the column's cells (:func:`_with_nonfinite`), shown as a rate.
NONFINITE_SUFFIX = " non-finite"


def _with_nonfinite(build: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable:
    """A label x dtype accuracy table with, after its columns, "<dtype> non-finite": the
    pooled share of that method's outputs in that format that are not finite, which the
    accuracy metric leaves out (no survivorship: the row carries what it rests on)."""

    def with_shares(summary: pd.DataFrame) -> pd.DataFrame:
        table = build(summary)
        shares = nonfinite_shares(summary, table.index, table.columns)
        shares.columns = pd.Index([f"{c}{NONFINITE_SUFFIX}" for c in table.columns], dtype=object)
        out = pd.concat([table, shares], axis=1)
        out.attrs = table.attrs
        return out

    return with_shares


def _by_label_scale(metric: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """label x scale table of the pooled mean over cells (distributions x K), float64."""

    def build(summary: pd.DataFrame) -> pd.DataFrame:
        rows = metric_rows(summary, metric, ["label", "dtype", "scale", "n", "mean"])
        dtype = pick_dtype(rows["dtype"])
        rows = rows[rows["dtype"] == dtype]
        labels = ordered_labels(rows)
        scales = sorted(float(s) for s in pd.unique(rows["scale"]))
        table = _pooled(rows, ["label", "scale"]).unstack("scale")
        table = table.reindex(columns=scales)
        table.columns = format_scale(scales)
        table = _tidy(table, labels, list(table.columns))
        table.attrs["dtype"] = dtype
        return table

    return build


def _pooled(rows: pd.DataFrame, by: list[str]) -> pd.Series:
    """The pooled mean per group of ``by`` (softmaxlab.stats.pool), indexed by ``by``."""
    return pool(rows.assign(n=rows["n"].astype(np.int64)), by).set_index(by)["mean"]


def _tidy(table: pd.DataFrame, labels: list[str], columns: list[str]) -> pd.DataFrame:
    table = table.reindex(index=labels, columns=columns).astype(np.float64)
    table.index = pd.Index([str(label) for label in table.index], name="label", dtype=object)
    table.columns = pd.Index([str(column) for column in table.columns], dtype=object)
    return table


def _input_nonfinite_by_scale(summary: pd.DataFrame) -> pd.DataFrame:
    """scale x dtype table of input_nonfinite (one method's rows: it is the same for all)."""
    rows = metric_rows(summary, "input_nonfinite", ["label", "dtype", "scale", "n", "mean"])
    if not rows.empty:
        rows = rows[rows["label"] == rows["label"].iloc[0]]
    scales = sorted(float(s) for s in pd.unique(rows["scale"]))
    table = _pooled(rows, ["scale", "dtype"]).unstack("dtype")
    table = table.reindex(index=scales, columns=ordered_dtypes(rows["dtype"])).astype(np.float64)
    table.index = pd.Index(format_scale(scales), name="scale", dtype=object)
    table.columns = pd.Index([str(column) for column in table.columns], dtype=object)
    return table


def _by_label_compute(metric: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """label x "dtype compute" table of a rate's pooled mean, for the formats the sweep
    computes in more than one mode."""

    def build(summary: pd.DataFrame) -> pd.DataFrame:
        rows = metric_rows(summary, metric, ["label", "dtype", "compute", "n", "mean"])
        rows = rows.astype({"dtype": str, "compute": str})
        modes = rows[["dtype", "compute"]].drop_duplicates()
        several = modes.groupby("dtype")["compute"].nunique()
        rows = rows[rows["dtype"].isin(several[several > 1].index)]
        rows = rows.assign(mode=rows["dtype"] + " " + rows["compute"])
        present = set(rows["mode"].unique())
        columns = [
            f"{dtype} {mode}"
            for dtype in ordered_dtypes(rows["dtype"])
            for mode in ("float32", "native")
            if f"{dtype} {mode}" in present
        ]
        table = _pooled(rows, ["label", "mode"]).unstack("mode") if len(rows) else pd.DataFrame()
        return _tidy(table, ordered_labels(rows), columns)

    return build


@dataclass(frozen=True)
class Pivot:
    """A reader's table: ``pivot(summary)`` builds it and records title and format in ``attrs``.

    ``percent``: the values are rates (fractions), shown as percentages by :func:`to_html`.
    ``columns``: what the columns are ("dtype" or "scale").
    """

    title: str
    description: str
    percent: bool
    columns: str
    build: Callable[[pd.DataFrame], pd.DataFrame]
    #: An accuracy metric (NaN on non-finite outputs): the description names the share of
    #: non-finite outputs it leaves out, per method and format (no survivorship).
    accuracy: bool = False
    #: What the rows are: "label" (the methods), or "scale" for the cast's table.
    rows: str = "label"
    #: Built from every compute mode's rows; the others read each format's headline mode
    #: only (softmaxlab.sweep.headline_rows), whatever summary they are given.
    every_mode: bool = False
    #: A table by scale of a metric defined for distributions only (the distance to the
    #: one-hot, the entropy), named here: a method is not pooled (NaN) at a scale where some
    #: of its cells' finite outputs are not distributions. There the metric is no distance
    #: (above 1), or NaN on the vectors with negative entries, so that the cell's mean rests
    #: on the others alone, and with linear's 1 / sum x a mean that need not exist. Every
    #: value shown thus pools the same cells as the others of its column.
    simplex_metric: str | None = None

    def __post_init__(self) -> None:
        # softmaxlab.report shows the first paragraph of PIVOTS[name].__doc__ above the table.
        doc = self.description.replace(
            _DTYPE_CHOICE, "float64 (the sweep's widest format if it has no float64)"
        )
        object.__setattr__(self, "__doc__", doc)

    def __call__(self, summary: pd.DataFrame) -> pd.DataFrame:
        if not self.every_mode:
            summary = headline_rows(summary)
        table = self.build(summary)
        dtype = table.attrs.get("dtype")
        if self.simplex_metric and len(table):
            off = self._off_simplex(summary, dtype)
            blank = off.groupby(level=["label", "scale"]).any().unstack("scale")
            blank.columns = format_scale(list(blank.columns))
            table = table.mask(blank.reindex_like(table).fillna(False).astype(bool))
        description = self.description
        if dtype is not None:
            description = description.replace("{dtype}", dtype)
        description = f"{description} {self.note(summary, table)}".strip()
        table.attrs.update(
            title=self.title, description=description, percent=self.percent, columns=self.columns
        )
        return table

    def note(self, summary: pd.DataFrame, table: pd.DataFrame) -> str:
        """:func:`excluded_note` of the cells the table pools (a table by scale: its one
        format's), naming the non-finite output shares of its methods if it is an accuracy
        table."""
        if self.columns == "scale" and len(summary):
            summary = summary[summary["dtype"] == pick_dtype(summary["dtype"])]
        note = excluded_note(summary, list(table.index) if self.accuracy else None)
        if not (self.simplex_metric and len(summary)):
            return note
        off = self._off_simplex(summary, table.attrs.get("dtype"))
        counts = off.groupby(level="label", sort=False).agg(["sum", "size"])
        named = ", ".join(f"{k} {v} of {n}" for k, (v, n) in counts.iterrows() if v)
        if not named:
            return note
        return (
            "Not pooled (n/a) at a scale where some of a method's finite outputs are not "
            "distributions (negative entries, or a sum off 1); the cells with such outputs: "
            f"{named}. {note}"
        ).strip()

    def _off_simplex(self, summary: pd.DataFrame, dtype: str | None) -> pd.Series:
        """:func:`_off_simplex_cells` of simplex_metric in ``dtype``, the format the table
        shows (None: :func:`pick_dtype`'s)."""
        dtype = dtype or pick_dtype(summary["dtype"])
        return _off_simplex_cells(summary[summary["dtype"] == dtype], self.simplex_metric)


_CELLS_ALL = (
    "Pooled over the sweep's cells (distribution x scale x K): each cell's {what} weighted "
    "by its number of vectors (the one pooling rule); cells where it is undefined for every "
    "vector are left out."
)
_DTYPE_CHOICE = "{dtype} (float64 when the sweep has it, else its widest format)"
_CELLS_SCALE = (
    "Format " + _DTYPE_CHOICE + ". Pooled over "
    "distributions and K: each cell's {what} weighted by its number of vectors (the one "
    "pooling rule); cells where it is undefined for every vector are left out."
)

#: Why a mean distance to argmax above 1 is no number to compare (the pivot's description,
#: the distance figures' captions): the outputs had negative entries.
NOT_A_DISTANCE = (
    "no distance between distributions, and a mean that need not exist (linear "
    "normalisation's 1 / sum x has none on signed logits)"
)
#: Why the distance and entropy pivots pool a method at a scale only where its finite
#: outputs are distributions (Pivot.simplex_metric).
_DISTRIBUTIONS_ONLY = (
    "A method is pooled at a scale only where every finite output it gives there is a "
    "distribution, so that every value of a column pools the same cells."
)

PIVOTS: dict[str, Pivot] = {
    "overflow_rate": Pivot(
        title="Overflow rate by method and format",
        description="Share of vectors whose computation produced inf/NaN from finite logits "
        "(an intermediate or the output overflowed). " + _CELLS_ALL.format(what="overflow rate"),
        percent=True,
        columns="dtype",
        build=_by_label_dtype("overflow", "mean", "mean"),
    ),
    "nan_rate": Pivot(
        title="NaN rate by method and format",
        description="Share of vectors whose output contains a NaN. "
        + _CELLS_ALL.format(what="NaN rate"),
        percent=True,
        columns="dtype",
        build=_by_label_dtype("nan_output", "mean", "mean"),
    ),
    "underflow_rate": Pivot(
        title="Underflow rate by method and format",
        description="Share of vectors with an output entry flushed to 0 although the wider "
        "reference computation gives a positive value. " + _CELLS_ALL.format(what="underflow rate"),
        percent=True,
        columns="dtype",
        build=_by_label_dtype("underflow", "mean", "mean"),
    ),
    "invalid_rate": Pivot(
        title="Invalid-output rate by method and format",
        description="Share of vectors whose output is not a probability vector (a non-finite "
        "or negative entry, or a sum off 1 by more than the format's tolerance). "
        + unchecked_sums_text()
        + " "
        + _CELLS_ALL.format(what="invalid rate"),
        percent=True,
        columns="dtype",
        build=_by_label_dtype("invalid", "mean", "mean"),
    ),
    "max_rel_error_median": Pivot(
        title="Median relative error by method and format",
        description="max_i |p_i - p_ref_i| / p_ref_i against the same method computed in a "
        "wider format on the same rounded logits. Median over the sweep's cells (distribution "
        "x scale x K) of each cell's median; cells where it is undefined for every vector "
        "(e.g. all outputs NaN) are left out. The error is of the finite outputs: the "
        "columns 'FORMAT non-finite' give the pooled share of the method's outputs in that "
        "format that are not finite, which its error leaves out.",
        percent=False,
        columns="dtype",
        build=_with_nonfinite(_by_label_dtype("max_rel_error", "median", "median")),
        accuracy=True,
    ),
    "nonfinite_output_rate": Pivot(
        title="Non-finite output rate by method and format",
        description="Share of vectors with finite rounded logits whose output has a NaN or "
        "an infinite entry: the vectors the accuracy metrics (distances, entropy, errors) "
        "leave out. " + _CELLS_ALL.format(what="non-finite output rate"),
        percent=True,
        columns="dtype",
        build=_by_label_dtype("nonfinite_output", "mean", "mean"),
    ),
    "input_nonfinite_rate": Pivot(
        title="Logits that are not finite once rounded to the format, by scale",
        description="Share of vectors with a logit beyond the format's range once rounded to "
        "it (inf, or NaN in float8_e4m3fn): the cast, not a method; these vectors are left "
        "out of every other metric. Pooled over distributions and K (the one pooling rule).",
        percent=True,
        columns="dtype",
        build=_input_nonfinite_by_scale,
        rows="scale",
    ),
    "compute_modes": Pivot(
        title="Non-finite output rate by compute mode (float16, bfloat16)",
        description="The same formats computed two ways: float32 (input and output in the "
        "format, arithmetic in float32, as PyTorch's and JAX's kernels run softmax; the mode "
        "every other table and figure shows) and native (every operation rounded to the "
        "format). " + _CELLS_ALL.format(what="non-finite output rate"),
        percent=True,
        columns="dtype",
        build=_by_label_compute("nonfinite_output"),
        every_mode=True,
    ),
    "distance_to_argmax": Pivot(
        title="Distance to argmax (total variation) by method and scale",
        description="tv_to_argmax = 1/2 sum_i |p_i - h_i| (h: the argmax one-hot; 1 - p at "
        "the argmax for a valid output, larger than 1 when entries are negative: then "
        f"{NOT_A_DISTANCE}). "
        + _CELLS_SCALE.format(what="mean distance", dtype="{dtype}")
        + " "
        + _DISTRIBUTIONS_ONLY,
        percent=False,
        columns="scale",
        build=_by_label_scale("tv_to_argmax"),
        simplex_metric="tv_to_argmax",
        accuracy=True,
    ),
    "normalized_entropy": Pivot(
        title="Normalized entropy by method and scale",
        description="Entropy -sum p_i ln p_i divided by ln K: 1 for the uniform distribution, "
        "0 for a one-hot; not defined for an output with a negative entry. "
        + _CELLS_SCALE.format(what="mean normalized entropy", dtype="{dtype}")
        + " "
        + _DISTRIBUTIONS_ONLY,
        percent=False,
        columns="scale",
        build=_by_label_scale("normalized_entropy"),
        simplex_metric="normalized_entropy",
        accuracy=True,
    ),
    "grad_vanishes_rate": Pivot(
        title="Vanishing-gradient rate by method and scale",
        description="Share of vectors whose float64 directional derivative ||J v|| is below "
        "1e-8 (softmaxlab.metrics.GRAD_VANISHING_THRESHOLD). "
        + _CELLS_SCALE.format(what="vanishing rate", dtype="{dtype}"),
        percent=True,
        columns="scale",
        build=_by_label_scale("grad_vanishes"),
    ),
}


#: The pivots built from every compute mode's rows (Pivot.every_mode).
EVERY_COMPUTE_MODE = frozenset(name for name, pivot in PIVOTS.items() if pivot.every_mode)


def to_html(table: pd.DataFrame, percent: bool | None = None, title: str | None = None) -> str:
    """A pivot as HTML (softmaxlab.formatting.html_table): the index as row headers, rates as
    percentages, other numbers to 3 significant digits, exact values in each cell's title.

    ``percent`` and ``title`` default to the table's ``attrs`` (set by :class:`Pivot`); a
    table read back from CSV has none, so pass them (``PIVOTS[name].percent``). The
    description in ``attrs`` becomes the table's footer.
    """
    attrs = table.attrs
    percent = bool(attrs.get("percent", False)) if percent is None else percent
    title = attrs.get("title") if title is None else title
    corner = str(table.index.name or "label")
    if attrs.get("columns"):
        corner = f"{corner} \\ {attrs['columns']}"
    return (
        str(
            formatting.html_table(
                table,
                index=True,
                corner=corner,
                formatter=_rate if percent else _value,
                formatters={
                    column: _rate
                    for column in table.columns
                    if str(column).endswith(NONFINITE_SUFFIX)
                },
                caption=title or None,
                footer=attrs.get("description") or None,
                classes="pivot",
                empty=_EMPTY_NOTE,
            )
        )
        + "\n"
    )


def _rate(value) -> str:
    return formatting.percent(value, 3)


def _value(value) -> str:
    # 1 is the end of a distance's, an entropy's or a share's range: 0.9996 must not read 1
    return formatting.number(value, 3, keep_apart=(1,))
