"""Read-only access to what the jobs wrote, and the sweep work the claims need planned ahead.

The claims job never runs the sweep. What a claim needs beyond the user's config (a method,
a distribution with the other support, a format) is planned by :func:`required_config` as
a sweep of its own: the workflow shards it like the main sweep (rule claims_shard) and
merges it into ``results/tables/claims_cells.csv`` (rule claims_cells); :class:`ClaimData`
reads the summary and those cells and nothing else. Rows of a (label, distribution,
format) come from the summary when it has them, else from the claims cells; a claim whose
rows are in neither says "not measured" (:class:`softmaxlab.claims.common.Missing`).

The other inputs (each optional, None when absent): C2's crossover table and C13's
order-statistics reference (softmaxlab.crossover, softmaxlab.orderstats), the training
study's verdict JSON (C15, softmaxlab.training.verdict) and the checks on seeded vectors
that C4-C8 and C11 read (``claim_checks.csv``, softmaxlab.claim_checks; by
:meth:`ClaimData.check`): the claims job draws no vector.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# C7_BASES (the bases of the naive softmax whose overflow C7 checks against the analytic
# threshold) and unstable_entry are defined by the module that computes that check.
from softmaxlab.claim_checks import C7_BASES, read, unstable_entry, wide
from softmaxlab.config import method_specs
from softmaxlab.methods import check_params
from softmaxlab.methods import label as method_label
from softmaxlab.sweep import headline_rows, native_rows

from . import c14
from .common import MAIN_DTYPE, Missing, dtype_order, nonnegative_support

#: The iterated exp forms C10 compares with softmax: depth 2 and 3, naive and stabilised.
C10_ENTRIES: tuple[tuple[str, dict], ...] = tuple(
    ("iterated_exp", {"depth": depth, "stable": stable})
    for depth in (2, 3)
    for stable in (False, True)
)
#: The metrics read in the native compute mode of a format whose headline mode is float32
#: (:meth:`ClaimData.native`): C8's overflow flag and non-finite outputs of the stable form.
NATIVE_METRICS: tuple[str, ...] = ("overflow", "nonfinite_output")
_SUMMARY_USED = (
    "distribution",
    "scale",
    "k",
    "dtype",
    "method",
    "label",
    "metric",
    "n",
    "mean",
    "std",  # C13's comparison with the exact value in standard errors
    "ci_low",
    "ci_high",
    "median",  # C13's skewed cells
    "q95",
)
Entry = tuple[str, Mapping]


def entry_label(entry: Entry) -> str:
    name, params = entry
    return method_label(name, check_params(name, dict(params)))


def distributions(config: Mapping) -> dict[str, dict]:
    """The config's distributions (name -> spec)."""
    return {name: dict(spec) for name, spec in config["distributions"].items()}


def with_support(config: Mapping, nonnegative: bool) -> dict[str, dict]:
    """The config's distributions, plus one of the wanted support if none has it: uniform on
    [0, 1] ("positive") or the standard normal ("normal"), renamed if the name is taken."""
    dists = distributions(config)
    if any(nonnegative_support(spec) == nonnegative for spec in dists.values()):
        return dists
    name, spec = (
        ("positive", {"family": "uniform", "low": 0.0, "high": 1.0})
        if nonnegative
        else ("normal", {"family": "normal"})
    )
    while name in dists:
        name += "_claims"
    return {**dists, name: spec}


def needs(config: Mapping) -> list[tuple[str, list[Entry], dict[str, dict], list[str]]]:
    """(claim, methods, distributions, formats) each claim reads from the sweep's cells."""
    dists = distributions(config)
    dtypes = list(config["dtypes"])
    configured = [(name, params) for name, params, _ in method_specs(config)]
    softmax = [("softmax", {})]
    both = {**with_support(config, True), **with_support(config, False)}
    return [
        ("C2", [("softmax", {}), ("linear", {})], with_support(config, True), [MAIN_DTYPE]),
        ("C3", [("argmax", {}), *softmax], dists, [MAIN_DTYPE]),
        ("C4", [("linear", {})], both, [MAIN_DTYPE]),
        (
            "C7",
            [*map(unstable_entry, C7_BASES), *softmax, ("softmax", {"base": 100.0})],
            dists,
            dtype_order([*dtypes, MAIN_DTYPE]),
        ),
        (
            "C8",
            [*softmax, ("softmax", {"stable": False})],
            dists,
            dtype_order([*dtypes, "float64", "float32"]),
        ),
        (
            "C9",
            [(n, p) for n, p in configured if n == "softmax"]
            + [*map(unstable_entry, C7_BASES), *softmax, ("softmax", {"base": 100.0})],
            dists,
            dtype_order([*dtypes, MAIN_DTYPE]),
        ),
        ("C10", [*softmax, *C10_ENTRIES], dists, [MAIN_DTYPE]),
        ("C13", [*softmax, ("ssmax", {})], dists, [MAIN_DTYPE]),
        ("C14", [*softmax, *configured], dists, [MAIN_DTYPE]),
    ]


def required_config(config: Mapping) -> dict | None:
    """The sweep config of the cells the claims need that the user's config does not run,
    or None when it runs them all (the default config does).

    Its methods, distributions and formats are those of the missing (label, distribution,
    format) triples; seed, scales, K and vector counts are the config's, so its cells are
    the cells the main sweep would have run (same seeded vectors). Planned, sharded and
    merged like the main sweep; raw per-vector metrics are not kept.
    """
    present_labels = {label for _, _, label in method_specs(config)}
    present = {
        (label, d, t)
        for label in present_labels
        for d in config["distributions"]
        for t in config["dtypes"]
    }
    methods: dict[str, Entry] = {}
    dists: dict[str, dict] = {}
    dtypes: set[str] = set()
    for _, entries, claim_dists, claim_dtypes in needs(config):
        for entry in entries:
            label = entry_label(entry)
            for d, spec in claim_dists.items():
                for t in claim_dtypes:
                    if (label, d, t) not in present:
                        methods.setdefault(label, entry)
                        dists.setdefault(d, spec)
                        dtypes.add(t)
    if not methods:
        return None
    return {
        **{key: value for key, value in config.items() if key != "training"},
        "distributions": dists,
        "methods": [{"method": name, **dict(params)} for name, params in methods.values()],
        "dtypes": dtype_order(dtypes),
        "raw_metrics": False,
    }


class _RowsBy(Mapping):
    """label -> the frame's rows of that label (in frame order), each taken on access."""

    def __init__(self, frame: pd.DataFrame, column: str):
        self._frame = frame
        self._rows = frame.groupby(column, sort=True).indices

    def __getitem__(self, key: str) -> pd.DataFrame:
        return self._frame.take(self._rows[key])

    def __iter__(self):
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class ClaimData:
    """The rows the claims read: the summary's, then the claims cells' for what it lacks,
    each format in its headline compute mode (softmaxlab.sweep.headline_rows); the
    NATIVE_METRICS rows of the native mode of a format whose headline mode is float32
    (softmaxlab.sweep.native_rows), from ``modes`` (a summary holding them; None: from
    ``summary`` itself); and the optional reference tables. Nothing here computes a sweep."""

    def __init__(
        self,
        summary: pd.DataFrame,
        config: Mapping,
        cells: pd.DataFrame | None = None,
        crossover: pd.DataFrame | None = None,
        orderstats: pd.DataFrame | None = None,
        training: Mapping | None = None,
        checks: pd.DataFrame | None = None,
        modes: pd.DataFrame | None = None,
    ):
        self.config = config
        # The two metrics first: fewer rows for native_rows to copy.
        source = summary if modes is None else modes
        source = source[source["metric"].isin(NATIVE_METRICS)]
        self._native = self._typed(native_rows(source))
        frames = [self._typed(headline_rows(summary))]
        if cells is not None and len(cells):
            extra = self._typed(headline_rows(cells))
            have = set(map(tuple, frames[0][["label", "distribution", "dtype"]].to_numpy()))
            keys = list(zip(extra["label"], extra["distribution"], extra["dtype"], strict=True))
            frames.append(extra[[key not in have for key in keys]])
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        self.frame = frame
        # The rows of one label, taken when asked for: a dict of every label's rows would
        # hold a second copy of the summary (the claims job's peak memory).
        self.by_label: Mapping[str, pd.DataFrame] = _RowsBy(frame, "label")
        self.crossover = crossover
        self.orderstats = orderstats
        self.training = training
        self.checks = checks
        self._nll: c14.C14Result | ValueError | None = None

    def nll(self) -> c14.C14Result:
        """C14's measurement of the NLL rows (c14.measure_c14 of the frame), made once and
        shared by the claims that read it (C3, C10, C14); the ValueError it raises, raised
        again on every call."""
        if self._nll is None:
            try:
                self._nll = c14.measure_c14(self.frame)
            except ValueError as error:
                self._nll = error
        if isinstance(self._nll, ValueError):
            raise ValueError(str(self._nll))
        return self._nll

    def check(self, name: str, claim: str) -> pd.DataFrame:
        """The cells of one check of ``claim_checks.csv`` (softmaxlab.claim_checks.wide: one
        row per cell, a float64 column per quantity). Missing when the table was not given
        or has no rows of that check."""
        if self.checks is None:
            raise Missing(f"{claim} reads the checks table claim_checks.csv, which was not given")
        cells = wide(self.checks, name)
        if cells.empty:
            raise Missing(f"{claim}: claim_checks.csv has no {name} rows")
        return cells

    def native(self, entries: Sequence[Entry], metrics: Sequence[str]) -> pd.DataFrame:
        """The native-mode rows (NATIVE_METRICS) of the given methods and metrics, in the
        formats measured in both modes; empty where none was (no native mode is no error)."""
        unread = set(metrics) - set(NATIVE_METRICS)
        if unread:
            raise ValueError(f"ClaimData.native: {sorted(unread)} not among {NATIVE_METRICS}")
        labels = [entry_label(e) for e in entries]
        frame = self._native
        keep = frame["label"].isin(labels) & frame["metric"].isin(list(metrics))
        return frame[keep].reset_index(drop=True)

    @staticmethod
    def _typed(summary: pd.DataFrame) -> pd.DataFrame:
        columns = [c for c in _SUMMARY_USED if c in summary.columns]
        frame = summary.loc[:, columns]
        return frame.assign(
            scale=frame["scale"].astype(np.float64),
            k=frame["k"].astype(np.int64),
            n=frame["n"].astype(np.int64),
        )

    @property
    def distributions(self) -> dict[str, dict]:
        return distributions(self.config)

    def with_support(self, nonnegative: bool) -> dict[str, dict]:
        return with_support(self.config, nonnegative)

    @property
    def scales(self) -> list[float]:
        return sorted(float(s) for s in self.config["scales"])

    def rows(
        self,
        entries: Sequence[Entry],
        distributions: Mapping[str, Mapping] | None = None,
        dtypes: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        claim: str = "this claim",
    ) -> pd.DataFrame:
        """The rows of the given methods, distributions, formats and metrics. Missing (a
        LookupError naming what) when a method has no row there, or no row has a vector."""
        dists = list(distributions if distributions is not None else self.config["distributions"])
        dtypes = list(dtypes if dtypes is not None else self.config["dtypes"])
        labels = list(dict.fromkeys(entry_label(e) for e in entries))
        parts = [self.by_label[lab] for lab in labels if lab in self.by_label]
        frame = pd.concat(parts, ignore_index=True) if parts else self.frame.iloc[:0]
        keep = frame["distribution"].isin(dists) & frame["dtype"].isin(dtypes)
        if metrics is not None:
            keep &= frame["metric"].isin(list(metrics))
        frame = frame[keep].reset_index(drop=True)
        present = set(frame["label"].unique())  # once, not per label over every row
        absent = [lab for lab in labels if lab not in present]
        if absent or frame["n"].sum() == 0:
            raise Missing(
                f"{claim} needs {', '.join(absent or labels)} on {', '.join(dists)} in "
                f"{', '.join(dtypes)}"
                + (f" (metrics {', '.join(metrics)})" if metrics is not None else "")
                + ": not in the summary or the claims cells"
            )
        return frame


def read_training(path) -> dict | None:
    """The training study's verdict JSON (softmaxlab.training.verdict.to_json), or None."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def read_checks(path) -> pd.DataFrame | None:
    """The checks on seeded vectors (claim_checks.csv, softmaxlab.claim_checks), or None."""
    return read(path) if Path(path).exists() else None
