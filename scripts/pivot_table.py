"""Write one reader's pivot table (CSV and HTML) from the tidy summary."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821


from softmaxlab import sweep, tables  # noqa: E402
from softmaxlab.files import atomic_path  # noqa: E402

summary = sweep.read_summary(snakemake.input[0])  # noqa: F821
table = tables.PIVOTS[snakemake.wildcards.pivot](summary)  # noqa: F821
with atomic_path(snakemake.output.csv) as tmp:  # noqa: F821
    table.to_csv(tmp, lineterminator="\n")
with atomic_path(snakemake.output.html) as tmp:  # noqa: F821
    tmp.write_text(tables.to_html(table))
