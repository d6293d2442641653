"""Verify the shards and concatenate their rows into the tidy summary table, in canonical order."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

from softmaxlab import sweep  # noqa: E402

shards, config = snakemake.input.shards, snakemake.params.config  # noqa: F821
try:
    # A damaged shard is deleted before the error, so that the next run recomputes it.
    rows = sweep.merge_shards(shards, config, snakemake.output[0], discard_damaged=True)  # noqa: F821
except sweep.ShardError as error:
    sys.exit(str(error))  # one line in the log, no traceback
print(f"{rows} rows from {len(shards)} verified shards", file=sys.stderr)
