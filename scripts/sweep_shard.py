"""Evaluate one shard of cells and write its summary rows."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

from softmaxlab import sweep  # noqa: E402
from softmaxlab.sweep import Cell  # noqa: E402

shard = snakemake.params.shard  # noqa: F821
cells = [Cell(d, float(s), int(k), t) for d, s, k, t in shard["cells"]]
summary = sweep.run_cells(shard, cells, progress=sweep.stderr_progress)
sweep.write_csv(summary, snakemake.output[0])  # noqa: F821
