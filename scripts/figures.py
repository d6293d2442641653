"""Render a batch of the report's figures from the tidy summary, read once: each one's SVG,
PNG and caption file."""

import sys

sys.stderr = open(snakemake.log[0], "w")


from softmaxlab import figures, sweep

out = snakemake.output
# The rows figures read (each format's headline compute mode, which the captions name), and
# the columns: every one but the statistics no figure plots. render is told the rows are the
# headline's, so it does not select them again string by string (0.9 s a figure).
UNREAD = ("std", "q05", "q95")
summary = sweep.read_summary(
    snakemake.input[0],
    headline=True,
    columns=[column for column in sweep.COLUMNS if column not in UNREAD],
)
for name, svg, png, caption in zip(
    snakemake.params.figures, out.svg, out.png, out.caption, strict=True
):
    figures.render(name, summary, svg, png, caption, headline=True)
