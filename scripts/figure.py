"""Render one figure of the report from the tidy summary: SVG, PNG and its caption file."""

import sys

sys.stderr = open(snakemake.log[0], "w")


from softmaxlab import figures, sweep

out = snakemake.output
# The rows figures read, and the columns: every one but the statistics no figure plots.
UNPLOTTED = ("std", "q05", "q95")
summary = sweep.read_summary(
    snakemake.input[0],
    headline=True,
    columns=[column for column in sweep.COLUMNS if column not in UNPLOTTED],
)
figures.render(snakemake.wildcards.figure, summary, out.svg, out.png, out.caption)
