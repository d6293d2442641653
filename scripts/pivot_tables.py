"""Write every reader's pivot table (CSV and HTML) from the tidy summary, read once."""

import sys

sys.stderr = open(snakemake.log[0], "w")


from softmaxlab import sweep, tables
from softmaxlab.files import atomic_path

# The columns softmaxlab.tables' pivots and their notes read: half the summary's (never the
# method or the other statistics; distribution and K name the cells a distributions-only
# pivot leaves out).
PIVOT_COLUMNS = (
    "distribution",
    "scale",
    "k",
    "dtype",
    "compute",
    "label",
    "metric",
    "n",
    "mean",
    "median",
)

out = snakemake.output
# Every compute mode's rows, for the pivots that show them all (tables.Pivot.every_mode);
# the others read each format's headline mode, chosen here once. Without the compute column
# those rows pass through each Pivot's own headline_rows untouched (a headline frame as
# read_summary(headline=True) gives it, tests/test_parquet.py), instead of being compared
# again string by string (0.6 s a pivot for the default sweep's 1.5 million rows).
summary = sweep.read_summary(snakemake.input[0], columns=PIVOT_COLUMNS)
headline = sweep.headline_rows(summary).drop(columns="compute")
for name, csv, html in zip(snakemake.params.pivots, out.csv, out.html, strict=True):
    pivot = tables.PIVOTS[name]
    table = pivot(summary if pivot.every_mode else headline)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, lineterminator="\n")
    with atomic_path(html) as tmp:
        tmp.write_text(tables.to_html(table))
