"""Assemble the self-contained HTML report from the tables, figures and their captions."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

import pandas as pd  # noqa: E402

from softmaxlab import claims, manifest, report, sweep  # noqa: E402
from softmaxlab.files import atomic_path  # noqa: E402

inputs, params = snakemake.input, snakemake.params  # noqa: F821
details = {
    path.stem.removeprefix("claim_"): sweep.read_table(path)
    for path in sorted(Path(inputs.details).glob("claim_*.csv"))
}
html = report.build_report(
    summary=sweep.read_summary(inputs.summary),
    claims=sweep.read_table(inputs.claims),
    claim_details=details,
    worked_example=sweep.read_table(inputs.example),
    pivots={
        name: sweep.read_table(path, index_col=0)
        for name, path in zip(params.pivots, inputs.pivots, strict=True)
    },
    figures=dict(zip(params.figures, inputs.figures, strict=True)),
    captions=dict(zip(params.figures, inputs.captions, strict=True)),
    manifest=manifest.run_manifest(params.config, inputs.benchmarks),
    # Every field as written (the value keeps the spelling its sentence uses).
    answer=pd.read_csv(inputs.answer, dtype=str, keep_default_na=False),
    pooling_rule=claims.POOLING_RULE,
)
with atomic_path(snakemake.output[0]) as tmp:  # noqa: F821
    tmp.write_text(html, encoding="utf-8")
