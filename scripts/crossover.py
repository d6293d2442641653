"""C2's crossover scale of softmax and linear normalisation, with its 95% interval."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from softmaxlab import crossover, sweep

params = snakemake.params
table = crossover.crossover_table(
    params.seed, params.distributions, params.k, params.scales, params.vectors
)
sweep.write_csv(table, snakemake.output[0])
