"""The thread's worked example x = [2, 4, 2, 1] through every configured method."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from softmaxlab import claims, sweep

sweep.write_csv(claims.worked_example(snakemake.params.methods), snakemake.output[0])
