"""The claims ledger C1-C15, the detail tables behind it, and "the answer" (answer.csv)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from softmaxlab import claims, sweep
from softmaxlab.files import atomic_dir

inputs = snakemake.input
# The claims cells exist only when the config lacks cells a claim needs (required_config).
cells = [inputs.cells] if isinstance(inputs.cells, str) else list(inputs.cells)
# The rows the claims read (each format's headline compute mode) and the columns: every one
# but those claims.ClaimData drops (the compute mode, once the rows are the headline's).
UNREAD = ("compute", "q05")
COLUMNS = [column for column in sweep.COLUMNS if column not in UNREAD]
built = claims.build_claims(
    sweep.read_summary(inputs.summary, headline=True, columns=COLUMNS),
    sweep.read_table(inputs.example),
    snakemake.params.claims,
    cells=sweep.read_summary(cells[0], headline=True, columns=COLUMNS) if cells else None,
    crossover=sweep.read_table(inputs.crossover),
    orderstats=sweep.read_table(inputs.orderstats),
    training_verdict=claims.read_training(inputs.training),
    checks=claims.read_checks(inputs.checks),
    # C8's native-mode rows, which the headline rows above leave out.
    modes=sweep.read_summary(
        inputs.summary, metrics=claims.NATIVE_METRICS, columns=[*COLUMNS, "compute"]
    ),
)
ledger, details = claims.ledger_frame(built)
with atomic_dir(snakemake.output.details) as tmp:
    for name, table in details.items():
        table.to_csv(tmp / f"claim_{name}.csv", index=False, lineterminator="\n")
sweep.write_csv(claims.answer_table(built), snakemake.output.answer)
sweep.write_csv(ledger, snakemake.output.ledger)
