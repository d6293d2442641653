"""The claims ledger C1-C15, the detail tables behind it, and "the answer" (answer.csv)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

from softmaxlab import claims, sweep  # noqa: E402
from softmaxlab.files import atomic_dir  # noqa: E402

inputs = snakemake.input  # noqa: F821
# The claims cells exist only when the config lacks cells a claim needs (required_config).
cells = [inputs.cells] if isinstance(inputs.cells, str) else list(inputs.cells)
built = claims.build_claims(
    sweep.read_summary(inputs.summary),
    sweep.read_table(inputs.example),
    snakemake.params.config,  # noqa: F821
    cells=sweep.read_summary(cells[0]) if cells else None,
    crossover=sweep.read_table(inputs.crossover),
    orderstats=sweep.read_table(inputs.orderstats),
    training_verdict=claims.read_training(inputs.training),
)
ledger, details = claims.ledger_frame(built)
with atomic_dir(snakemake.output.details) as tmp:  # noqa: F821
    for name, table in details.items():
        table.to_csv(tmp / f"claim_{name}.csv", index=False, lineterminator="\n")
sweep.write_csv(claims.answer_table(built), snakemake.output.answer)  # noqa: F821
sweep.write_csv(ledger, snakemake.output.ledger)  # noqa: F821
