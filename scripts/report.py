"""Assemble the self-contained HTML report from the tables, figures and their captions."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd

from softmaxlab import claims, manifest, report, sweep
from softmaxlab.files import atomic_path

inputs, params = snakemake.input, snakemake.params
details = {
    path.stem.removeprefix("claim_"): sweep.read_table(path)
    for path in sorted(Path(inputs.details).glob("claim_*.csv"))
}
# The columns build_report reads of the summary (the sweep's overview, the pivots' notes,
# the methods present): not the statistics beyond the mean.
SUMMARY_COLUMNS = (*sweep.CELL_KEYS, "method", "label", "metric", "n", "mean")
html = report.build_report(
    summary=sweep.read_summary(inputs.summary, columns=SUMMARY_COLUMNS),
    claims=sweep.read_table(inputs.claims),
    claim_details=details,
    worked_example=sweep.read_table(inputs.example),
    pivots={
        name: sweep.read_table(path, index_col=0)
        for name, path in zip(params.pivots, inputs.pivots, strict=True)
    },
    # The sweep's figures, then the training study's curves (its job draws them).
    figures={
        **dict(zip(params.figures, inputs.figures, strict=True)),
        "training_curves": inputs.training_figure,
    },
    captions={
        **dict(zip(params.figures, inputs.captions, strict=True)),
        "training_curves": inputs.training_caption,
    },
    manifest={
        **manifest.run_manifest(params.results_config),
        # The sweep's machines and the claims cells' (if any), each kind once.
        "machines": sweep.distinct_machines(
            machine for path in inputs.machines for machine in sweep.read_machines(path)
        ),
    },
    # Every field as written (the value keeps the spelling its sentence uses).
    answer=pd.read_csv(inputs.answer, dtype=str, keep_default_na=False),
    pooling_rule=claims.POOLING_RULE,
)
with atomic_path(snakemake.output[0]) as tmp:
    tmp.write_text(html, encoding="utf-8")
