"""Write one reader's pivot table (CSV and HTML) from the tidy summary."""

import sys

sys.stderr = open(snakemake.log[0], "w")


from softmaxlab import sweep, tables
from softmaxlab.files import atomic_path

# The columns softmaxlab.tables' pivots and their notes read: half the summary's (never the
# distribution, K, method or the other statistics).
PIVOT_COLUMNS = ("scale", "dtype", "compute", "label", "metric", "n", "mean", "median")

pivot = tables.PIVOTS[snakemake.wildcards.pivot]
# Each pivot reads the compute modes it shows (tables.Pivot.every_mode): only those rows.
summary = sweep.read_summary(
    snakemake.input[0], headline=not pivot.every_mode, columns=PIVOT_COLUMNS
)
table = pivot(summary)
with atomic_path(snakemake.output.csv) as tmp:
    table.to_csv(tmp, lineterminator="\n")
with atomic_path(snakemake.output.html) as tmp:
    tmp.write_text(tables.to_html(table))
