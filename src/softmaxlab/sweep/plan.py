"""The sweep's plan: its cells, how they are grouped into jobs, and what a job needs.

A cell is (distribution, scale, K, dtype, compute mode). Its vectors come from the
(distribution, K) stream (softmaxlab.sampling), so a cell's numbers are the same whichever
job runs it: sharding changes only the grouping, never a value. :func:`cells` lists the
cells in canonical order; :func:`plan_shards` packs them into jobs of about
``shard_elements`` logits, :func:`shard_params` is what a job's result depends on and
:func:`job_mem_mb` the memory it requests; :func:`block_rows` fixes how many vectors of a
cell are evaluated together. The compute modes of a format (:func:`compute_modes`) and the
one the claims, figures and tables read (:func:`headline_compute`, :func:`headline_rows`)
are planned here too. Evaluating the cells is softmaxlab.sweep.run's, the files
softmaxlab.sweep.io's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from softmaxlab import plugins
from softmaxlab.dtypes import get_dtype
from softmaxlab.methods import COMPUTE_MODES, plugin
from softmaxlab.metrics import NLL_DTYPE
from softmaxlab.sampling import EMPIRICAL, empirical_k, vectors_per_cell

# Logits evaluated at once bound a job's working memory (about 40 arrays of this many
# float64 live at the peak). Fixed in code, not config: block boundaries decide the Gumbel
# noise streams.
CHUNK_ELEMENTS = 1 << 17
# Rows of a cell evaluated together (see block_rows): bounds the metric values held per cell.
MAX_BLOCK_ROWS = 2048
#: Bytes held per (vector, logit) for the first grad_vectors vectors of a (distribution, K):
#: the gradient directions and the NLL partners, float64 each (softmaxlab.sweep.run's
#: GradientDraws), as job_mem_mb counts them.
DRAW_BYTES_PER_LOGIT = 16


@dataclass(frozen=True)
class Cell:
    distribution: str
    scale: float
    k: int
    dtype: str
    #: How the format computes (softmaxlab.methods.COMPUTE_MODES): see compute_modes.
    compute: str = "native"


#: The mode a format narrower than float32 computes in when the config's ``compute`` does
#: not list it, and the mode the claims, figures and tables read (headline_rows): float32,
#: as the frameworks' kernels compute (softmaxlab.methods.compute_dtype).
DEFAULT_COMPUTE = "float32"


def compute_modes(config: Mapping, dtype: str) -> list[str]:
    """The compute modes of ``dtype``'s cells: the config's ``compute`` list for a format
    narrower than float32 (DEFAULT_COMPUTE when not listed); "native" for float32 and
    float64, whose arithmetic is their own in either mode."""
    if get_dtype(dtype).itemsize >= 4:
        return ["native"]
    listed = config.get("compute", {}).get(dtype, [DEFAULT_COMPUTE])
    return [mode for mode in COMPUTE_MODES if mode in listed]  # canonical order


def headline_compute(dtype: str, modes: Iterable[str]) -> str:
    """The one mode of ``dtype`` that the claims, figures and tables read among the modes
    a summary has for it: DEFAULT_COMPUTE where measured, else native."""
    modes = set(modes)
    if get_dtype(dtype).itemsize < 4 and DEFAULT_COMPUTE in modes:
        return DEFAULT_COMPUTE
    return "native" if "native" in modes else sorted(modes)[0]


def headline_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of each format's headline compute mode (:func:`headline_compute`):
    one row per (distribution, scale, K, dtype, label, metric), as the claims, figures and
    tables read it. A summary without a compute column is returned as it is."""
    if "compute" not in summary.columns or summary.empty:
        return summary
    keep = _headline_mask(summary)
    if keep.all():  # a summary of headline rows already (a job that read only those)
        return summary.reset_index(drop=True)
    return summary[keep].reset_index(drop=True)


def native_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows computed natively (every operation rounded to the format) of the
    formats whose headline compute mode is another (float32): what :func:`headline_rows`
    leaves out of a narrow format measured in both modes. Empty without a compute column."""
    if "compute" not in summary.columns or summary.empty:
        return summary.iloc[:0]
    native = (summary["compute"] == "native").to_numpy(dtype=bool)
    return summary[native & ~_headline_mask(summary)].reset_index(drop=True)


def _headline_mask(summary: pd.DataFrame) -> np.ndarray:
    """Which rows of ``summary`` (with a compute column) are their format's headline mode's."""
    # One vectorised comparison per format: mapping each row's format to its mode would
    # make a Python str per row (twice the frame's text for a million rows).
    dtypes, modes = summary["dtype"], summary["compute"]
    keep = np.zeros(len(summary), dtype=bool)
    for dtype in dtypes.dropna().unique():
        of_dtype = (dtypes == dtype).to_numpy(dtype=bool)
        chosen = headline_compute(dtype, pd.unique(modes[of_dtype]))
        keep |= of_dtype & (modes == chosen).to_numpy(dtype=bool)
    return keep


def n_vectors(config: Mapping, k: int) -> int:
    vectors = config["vectors"]
    return vectors_per_cell(k, vectors["elements"], vectors["min"], vectors["max"])


def ks(config: Mapping, distribution: str) -> list[int]:
    """The K of a distribution's cells: its own ``k`` list when it has one, else the
    config's ``k``; for an empirical distribution the one K of its file (its ``classes``
    when stated: the file is then not read, softmaxlab.sampling.empirical_k)."""
    spec = config["distributions"][distribution]
    if spec.get("family") == EMPIRICAL:
        return [empirical_k(spec)]
    return [int(k) for k in spec.get("k", config["k"])]


def all_ks(config: Mapping) -> list[int]:
    """Every K of the sweep in canonical order: the ``k`` list, then the distributions' own
    K (their ``k`` lists, an empirical one's K) that are not in it, in distribution order."""
    found = [int(k) for k in config["k"]]
    for distribution in config["distributions"]:
        found += [k for k in ks(config, distribution) if k not in found]
    return found


def independent_vectors(config: Mapping) -> dict[tuple[str, int], int]:
    """The distinct vectors z drawn per (distribution, K): n_vectors(config, K) from the
    (distribution, K) stream, shared by every scale and format of that (distribution, K)
    (common random numbers), so their sum over (distribution, K) is the number of
    independent vectors of the sweep."""
    return {
        (distribution, k): n_vectors(config, k)
        for distribution in config["distributions"]
        for k in ks(config, distribution)
    }


def cells(config: Mapping) -> list[Cell]:
    """Every cell, grouped by (distribution, K) so a job samples each stream once."""
    return [
        Cell(distribution, float(scale), k, dtype, compute)
        for distribution in config["distributions"]
        for k in ks(config, distribution)
        for scale in config["scales"]
        for dtype in config["dtypes"]
        for compute in compute_modes(config, dtype)
    ]


def logit_files(config: Mapping, shard_cells: Iterable[Cell]) -> list[str]:
    """The logit files (empirical distributions' paths) a job on ``shard_cells`` reads: the
    workflow gives them to the job as inputs, so a job waits for a file the workflow
    writes and reruns when a file changes."""
    used = dict.fromkeys(cell.distribution for cell in shard_cells)
    specs = [config["distributions"][name] for name in used]
    return [spec["path"] for spec in specs if spec.get("family") == EMPIRICAL]


def cell_elements(config: Mapping, cell: Cell) -> int:
    return n_vectors(config, cell.k) * cell.k


def plan_shards(config: Mapping) -> list[list[Cell]]:
    """Cells packed in order into jobs of about ``shard_elements`` logit elements each. The
    cells that read a logit file (an empirical distribution's) are jobs of their own, one
    file a job: a file the workflow writes (the training study's digits logits) holds back
    only the small jobs that read it, never a share of the other distributions' cells."""
    shards: list[list[Cell]] = [[]]
    load = 0
    reads = None  # the logit files the current job reads
    for cell in cells(config):
        size = cell_elements(config, cell)
        cell_reads = logit_files(config, [cell])
        if shards[-1] and (load + size > config["shard_elements"] or cell_reads != reads):
            shards.append([])
            load = 0
        shards[-1].append(cell)
        load += size
        reads = cell_reads
    return shards


#: The cost of a job's work in logit elements (shard_cost): each vector of a cell costs
#: about VECTOR_COST more (its summaries and the row-wise steps of the methods, whatever
#: K), and each logit of a float64 cell's gradient vectors GRADIENT_COST more (the
#: gradient and NLL metrics' forwards). Least squares on the default sweep's 11 jobs
#: (fresh clone at 2f12c72; the jobs took 4 to 66 s): 0.49 s per 10^6 elements, 40 ms per
#: 1000 vectors, 1.85 s per 10^6 gradient logits, within 11 s of each job's time but the
#: one that also compiled the kernels (left out of the fit).
VECTOR_COST = 80
GRADIENT_COST = 4


def shard_cost(config: Mapping, shard_cells: Iterable[Cell]) -> int:
    """The estimated work of a job on ``shard_cells``, in logit elements (VECTOR_COST,
    GRADIENT_COST): what orders the jobs (:func:`shard_priorities`), never a value."""
    cost = 0
    for cell in shard_cells:
        n = n_vectors(config, cell.k)
        cost += cell_elements(config, cell) + VECTOR_COST * n
        if cell.dtype == NLL_DTYPE:  # the format whose cells get the gradient metrics
            cost += GRADIENT_COST * min(config["grad_vectors"], n) * cell.k
    return cost


def shard_priorities(config: Mapping, shards: list[list[Cell]]) -> list[int]:
    """Each job's scheduling priority: its rank by :func:`shard_cost`, 1 for the cheapest
    to len(shards) for the costliest (ties in plan order), so that the costliest jobs start
    first and the cheap ones fill the cores at the end (longest processing time first)."""
    order = sorted(range(len(shards)), key=lambda i: (shard_cost(config, shards[i]), -i))
    priorities = [0] * len(shards)
    for rank, shard in enumerate(order, start=1):
        priorities[shard] = rank
    return priorities


def job_mem_mb(config: Mapping, shard_cells: list[Cell]) -> int:
    """Memory (MiB) to request for a job on ``shard_cells``: 1024, or more for huge K.

    A job streams its cells, so its peak does not depend on how many vectors or cells it
    has; it grows with the largest block (one vector when K > CHUNK_ELEMENTS) and with the
    draws held for the first grad_vectors vectors of a (distribution, K) (GradientDraws:
    directions and NLL partners, 2 x grad_vectors x K float64). Estimate: 384 MiB
    (interpreter, libraries, PASS_BYTES of summaries) + 256 bytes per logit of the largest
    block + those draws, with a quarter's margin. Measured before the NLL metrics: K = 10^6
    with 8 gradient vectors peaks at 396 MiB (benchmarks/README.md), one K = 4 x 10^6
    vector at 963 MiB. With them, a float64 K = 10^6 cell of softmax and sparsemax with 8
    gradient vectors peaks at 410 MiB (332 MiB before; estimate 750 MiB, request 1024);
    nll_metrics on one row of 10^6 logits traces at most 114 MiB (entmax15), under the
    block's 256 bytes per logit.
    """
    largest = max((cell.k for cell in shard_cells), default=1)
    block = max(min(CHUNK_ELEMENTS, MAX_BLOCK_ROWS * largest), largest)
    held = DRAW_BYTES_PER_LOGIT * config["grad_vectors"] * largest
    estimate = 384 * 2**20 + 256 * block + held
    return max(1024, int(1.25 * estimate / 2**20))


def shard_params(config: Mapping, shard: int, shards: list[list[Cell]] | None = None) -> dict:
    """Everything a shard's result depends on, as plain data (Snakemake reruns when it
    changes). ``shards``: the plan, when the caller has it (planning is O(cells))."""
    shard_cells = (plan_shards(config) if shards is None else shards)[shard]
    used = sorted({cell.distribution for cell in shard_cells})
    return {
        "seed": config["seed"],
        "distributions": {name: dict(config["distributions"][name]) for name in used},
        "methods": [dict(entry) for entry in config["methods"]],
        "plugin_sources": plugin_sources(config),
        "vectors": dict(config["vectors"]),
        "grad_vectors": config["grad_vectors"],
        "error_vectors": config["error_vectors"],
        "quantile_vectors": config["quantile_vectors"],
        "cells": [[c.distribution, c.scale, c.k, c.dtype, c.compute] for c in shard_cells],
    }


def plugin_sources(config: Mapping) -> dict[str, str | None]:
    """Each plugin method's name -> the SHA-256 of the file that defines it (None when it
    has none): a change to a plugin's code reruns the jobs that run it."""
    found = (plugin(entry["method"]) for entry in config["methods"])
    return {entry.name: plugins.source_digest(entry) for entry in found if entry is not None}


def block_rows(k: int) -> int:
    """Vectors of a cell evaluated together: about CHUNK_ELEMENTS logits, at most
    MAX_BLOCK_ROWS rows. Fixed by K alone, so blocks (and Gumbel noise) never depend on
    the sharding or on the other cells."""
    return max(1, min(CHUNK_ELEMENTS // k, MAX_BLOCK_ROWS))
