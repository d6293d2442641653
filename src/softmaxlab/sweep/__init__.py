"""The sweep: cells, their grouping into jobs, the evaluation of a group of cells, and the
files the jobs write and read.

A cell is (distribution, scale, K, dtype, compute mode). Its vectors come from the
(distribution, K) stream (softmaxlab.sampling), so a cell's numbers are the same whichever
job runs it: sharding changes only the grouping, never a value.

Three modules, whose names are all here (``from softmaxlab import sweep``, then
``sweep.run_cells(...)``):

- :mod:`softmaxlab.sweep.plan`: the cells (:class:`Cell`, :func:`cells`, the compute modes
  and the headline mode the claims, figures and tables read), their packing into jobs
  (:func:`plan_shards`, :func:`shard_params`, :func:`job_mem_mb`, the order they start
  in: :func:`shard_priorities`) and into blocks of
  vectors (:func:`block_rows`).
- :mod:`softmaxlab.sweep.run`: the evaluation, :func:`evaluate_group` on a block of cells
  that differ only in scale, :func:`run_cells` a job's summary rows.
- :mod:`softmaxlab.sweep.io`: shards and their manifests, the verified merge
  (:func:`merge_shards`; the machines that computed the shards: :func:`shard_machines`),
  the summary as CSV and Parquet (:func:`read_summary`,
  :func:`write_parquet`, :func:`sort_summary`) and any CSV the workflow wrote
  (:func:`read_table`).

The names here are the modules' own objects: a test that replaces one (a constant such as
PASS_BYTES, a helper) replaces it in the module that defines it.
"""

from softmaxlab.metrics import METRICS

from .io import (
    CELL_KEYS,
    COLUMNS,
    KEY_COLUMNS,
    MANIFEST_FORMAT,
    PARQUET_ROW_GROUP,
    SUMMARY_DTYPES,
    SUMMARY_SCHEMA,
    SUMMARY_TEXT,
    TEXT_COLUMNS,
    VERIFY_ROWS,
    ShardError,
    distinct_machines,
    manifest_path,
    merge_shards,
    read_machines,
    read_summary,
    read_table,
    shard_machines,
    sort_summary,
    write_csv,
    write_parquet,
    write_shard,
)
from .plan import (
    CHUNK_ELEMENTS,
    DEFAULT_COMPUTE,
    DRAW_BYTES_PER_LOGIT,
    MAX_BLOCK_ROWS,
    Cell,
    all_ks,
    block_rows,
    cell_elements,
    cells,
    compute_modes,
    headline_compute,
    headline_rows,
    independent_vectors,
    job_mem_mb,
    ks,
    logit_files,
    n_vectors,
    native_rows,
    plan_shards,
    plugin_sources,
    shard_cost,
    shard_params,
    shard_priorities,
)
from .run import (
    PASS_BYTES,
    PROGRESS_SECONDS,
    GradientDraws,
    evaluate_group,
    gradient_draws,
    run_cells,
    stderr_progress,
)

__all__ = [
    "CELL_KEYS",
    "CHUNK_ELEMENTS",
    "COLUMNS",
    "DEFAULT_COMPUTE",
    "DRAW_BYTES_PER_LOGIT",
    "KEY_COLUMNS",
    "MANIFEST_FORMAT",
    "MAX_BLOCK_ROWS",
    "METRICS",
    "PARQUET_ROW_GROUP",
    "PASS_BYTES",
    "PROGRESS_SECONDS",
    "SUMMARY_DTYPES",
    "SUMMARY_SCHEMA",
    "SUMMARY_TEXT",
    "TEXT_COLUMNS",
    "VERIFY_ROWS",
    "Cell",
    "GradientDraws",
    "ShardError",
    "all_ks",
    "block_rows",
    "cell_elements",
    "cells",
    "compute_modes",
    "distinct_machines",
    "evaluate_group",
    "gradient_draws",
    "headline_compute",
    "headline_rows",
    "independent_vectors",
    "job_mem_mb",
    "ks",
    "logit_files",
    "manifest_path",
    "merge_shards",
    "n_vectors",
    "native_rows",
    "plan_shards",
    "plugin_sources",
    "read_machines",
    "read_summary",
    "read_table",
    "run_cells",
    "shard_cost",
    "shard_machines",
    "shard_params",
    "shard_priorities",
    "sort_summary",
    "stderr_progress",
    "write_csv",
    "write_parquet",
    "write_shard",
]
