"""Render one figure of the report from the tidy summary: SVG, PNG and its caption file."""

import sys

sys.stderr = open(snakemake.log[0], "w")


from softmaxlab import figures, sweep

out = snakemake.output
summary = sweep.read_summary(snakemake.input[0], headline=True)  # the rows figures read
figures.render(snakemake.wildcards.figure, summary, out.svg, out.png, out.caption)
