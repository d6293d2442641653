"""Verify the shards and concatenate their rows into the tidy summary table, in canonical order:
as CSV and, when the rule asks for it, as typed Parquet (the same rows in the same order)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from softmaxlab import sweep

shards, output = snakemake.input.shards, snakemake.output
try:
    # A damaged shard is deleted before the error, so that the next run recomputes it.
    rows = sweep.merge_shards(
        shards,
        snakemake.params.plan,
        output.csv,
        discard_damaged=True,
        parquet=output.get("parquet"),
        machines=output.get("machines"),
    )
except sweep.ShardError as error:
    sys.exit(str(error))  # one line in the log, no traceback
print(f"{rows} rows from {len(shards)} verified shards", file=sys.stderr)
found = (
    sweep.read_machines(output.machines) if output.get("machines") else sweep.shard_machines(shards)
)
if len(found) > 1:  # the float64 cells' last bits may depend on which job ran them
    print(f"warning: the shards were computed on {len(found)} kinds of machine", file=sys.stderr)
for machine in found:
    print(f"machine: {machine}", file=sys.stderr)
