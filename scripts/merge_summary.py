"""Concatenate the shards' rows into the tidy summary table, in canonical order."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

from softmaxlab import sweep  # noqa: E402

rows = sweep.merge_shards(snakemake.input, snakemake.params.config, snakemake.output[0])  # noqa: F821
print(f"{rows} rows from {len(snakemake.input)} shards", file=sys.stderr)  # noqa: F821
