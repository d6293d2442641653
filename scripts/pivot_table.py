"""Write one reader's pivot table (CSV and HTML) from the tidy summary."""

import sys

sys.stderr = open(snakemake.log[0], "w")


from softmaxlab import sweep, tables
from softmaxlab.files import atomic_path

pivot = snakemake.wildcards.pivot
summary = sweep.read_summary(snakemake.input[0])
if pivot not in tables.EVERY_COMPUTE_MODE:
    summary = sweep.headline_rows(summary)
table = tables.PIVOTS[pivot](summary)
with atomic_path(snakemake.output.csv) as tmp:
    table.to_csv(tmp, lineterminator="\n")
with atomic_path(snakemake.output.html) as tmp:
    tmp.write_text(tables.to_html(table))
