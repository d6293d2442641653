"""C13's reference: E[max softmax] for normal logits from order statistics (no simulation)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

from softmaxlab import orderstats, sweep  # noqa: E402

params = snakemake.params  # noqa: F821
table = orderstats.reference_table(params.distributions, params.k, params.scales)
sweep.write_csv(table, snakemake.output[0])  # noqa: F821
