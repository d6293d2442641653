"""The claims ledger C1-C13 and the detail tables behind it."""

import shutil
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

import pandas as pd  # noqa: E402

from softmaxlab import claims, sweep  # noqa: E402

summary = sweep.read_summary(snakemake.input.summary)  # noqa: F821
example = pd.read_csv(snakemake.input.example)  # noqa: F821
ledger, details = claims.build_ledger(summary, example, snakemake.params.config)  # noqa: F821
# Details go to a temporary folder renamed into place, so the folder is whole or absent.
out = Path(snakemake.output.details)  # noqa: F821
tmp = out.with_name(out.name + ".tmp")
shutil.rmtree(tmp, ignore_errors=True)
tmp.mkdir(parents=True)
for name, table in details.items():
    table.to_csv(tmp / f"claim_{name}.csv", index=False, lineterminator="\n")
shutil.rmtree(out, ignore_errors=True)
tmp.rename(out)
sweep.write_csv(ledger, snakemake.output.ledger)  # noqa: F821
