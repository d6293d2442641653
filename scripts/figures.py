"""Render a batch of the report's figures from the tidy summary, read once: each one's SVG,
PNG and caption file."""

import sys

sys.stderr = open(snakemake.log[0], "w")


from softmaxlab import figures, sweep

out = snakemake.output
# The rows figures read (each format's headline compute mode), and the columns: every one
# but the statistics no figure plots and the compute mode. Without that column the rows
# pass through render's own headline_rows untouched instead of being compared again string
# by string (0.6 s a figure for the default sweep's 1.5 million rows).
UNREAD = ("std", "q05", "q95", "compute")
summary = sweep.read_summary(
    snakemake.input[0],
    headline=True,
    columns=[column for column in sweep.COLUMNS if column not in UNREAD],
)
for name, svg, png, caption in zip(
    snakemake.params.figures, out.svg, out.png, out.caption, strict=True
):
    figures.render(name, summary, svg, png, caption)
