"""Evaluate one shard of cells and write its summary rows (and, if asked, raw metrics)."""

import contextlib
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")

from softmaxlab import allocator, raw, sweep
from softmaxlab.config import method_specs
from softmaxlab.sweep import Cell

allocator.keep_freed_memory()  # reuse numpy's freed temporaries (softmaxlab.allocator)

shard = snakemake.params.shard
cells = [Cell(d, float(s), int(k), t, c) for d, s, k, t, c in shard["cells"]]
with contextlib.ExitStack() as stack:
    write_raw = None
    if "raw" in snakemake.output.keys():
        write_raw = stack.enter_context(
            raw.parquet_writer(snakemake.output.raw, method_specs(shard))
        )
    summary = sweep.run_cells(shard, cells, progress=sweep.stderr_progress, raw=write_raw)
    sweep.write_shard(summary, snakemake.output.summary, cells, shard)
