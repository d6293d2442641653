"""Write one reader's pivot table (CSV and HTML) from the tidy summary."""

import sys

sys.stderr = open(snakemake.log[0], "w")


from softmaxlab import sweep, tables
from softmaxlab.files import atomic_path

summary = sweep.read_summary(snakemake.input[0])
# each pivot reads the compute modes it shows (tables.Pivot.every_mode)
table = tables.PIVOTS[snakemake.wildcards.pivot](summary)
with atomic_path(snakemake.output.csv) as tmp:
    table.to_csv(tmp, lineterminator="\n")
with atomic_path(snakemake.output.html) as tmp:
    tmp.write_text(tables.to_html(table))
