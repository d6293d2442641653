"""Render one figure of the report from the tidy summary."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821


from softmaxlab import figures, sweep  # noqa: E402

summary = sweep.read_summary(snakemake.input[0])  # noqa: F821
fig = figures.make_figure(snakemake.wildcards.figure, summary)  # noqa: F821
figures.save_figure(fig, snakemake.output.svg, snakemake.output.png)  # noqa: F821
