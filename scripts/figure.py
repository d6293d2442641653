"""Render one figure of the report from the tidy summary: SVG, PNG and its caption file."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821


from softmaxlab import figures, sweep  # noqa: E402

out = snakemake.output  # noqa: F821
summary = sweep.read_summary(snakemake.input[0])  # noqa: F821
figures.render(snakemake.wildcards.figure, summary, out.svg, out.png, out.caption)  # noqa: F821
