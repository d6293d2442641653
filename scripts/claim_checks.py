"""The claims' checks on seeded vectors (softmaxlab.claim_checks): rule claim_checks_cell
computes the (distribution, K) pairs of one distribution of the sweep; rule claim_checks
the checks on their own streams, then the table claim_checks.csv with every cell job's
rows in plan order."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from softmaxlab import allocator, claim_checks, sweep

allocator.keep_freed_memory()  # reuse numpy's freed temporaries (softmaxlab.allocator)

params = snakemake.params
if snakemake.rule == "claim_checks_cell":
    table = claim_checks.job_checks(
        params.seed, params.cells, params.scales, params.dtypes, params.vectors, params.compute
    )
else:
    fixed = claim_checks.fixed_checks(
        params.seed, params.k, params.scales, params.dtypes, params.first, params.compute
    )
    cells = [claim_checks.read(path) for path in snakemake.input.cells]
    table = claim_checks.merge(fixed, cells, params.cells)
sweep.write_csv(table, snakemake.output[0])
