"""C2's crossover scale of softmax and linear normalisation, with its 95% interval."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

from softmaxlab import crossover, sweep  # noqa: E402

params = snakemake.params  # noqa: F821
table = crossover.crossover_table(
    params.seed, params.distributions, params.k, params.scales, params.vectors
)
sweep.write_csv(table, snakemake.output[0])  # noqa: F821
