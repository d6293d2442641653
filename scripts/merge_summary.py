"""Concatenate the shards' rows into the tidy summary table, in canonical order."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

import pandas as pd  # noqa: E402

from softmaxlab import sweep  # noqa: E402

frames = [sweep.read_summary(path) for path in snakemake.input]  # noqa: F821
summary = sweep.sort_summary(pd.concat(frames, ignore_index=True), snakemake.params.config)  # noqa: F821
sweep.write_csv(summary, snakemake.output[0])  # noqa: F821
print(f"{len(summary)} rows from {len(frames)} shards", file=sys.stderr)
