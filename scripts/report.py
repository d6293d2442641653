"""Assemble the self-contained HTML report from the tables and figures."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

import pandas as pd  # noqa: E402

from softmaxlab import manifest, report, sweep  # noqa: E402
from softmaxlab.files import atomic_path  # noqa: E402

inputs, params = snakemake.input, snakemake.params  # noqa: F821
details = {
    path.stem.removeprefix("claim_"): pd.read_csv(path)
    for path in sorted(Path(inputs.details).glob("claim_*.csv"))
}
html = report.build_report(
    summary=sweep.read_summary(inputs.summary),
    claims=pd.read_csv(inputs.claims),
    claim_details=details,
    worked_example=pd.read_csv(inputs.example),
    pivots={
        name: pd.read_csv(path, index_col=0)
        for name, path in zip(params.pivots, inputs.pivots, strict=True)
    },
    figures=dict(zip(params.figures, inputs.figures, strict=True)),
    manifest=manifest.run_manifest(params.config, inputs.benchmarks),
)
with atomic_path(snakemake.output[0]) as tmp:  # noqa: F821
    tmp.write_text(html, encoding="utf-8")
