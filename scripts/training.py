"""The training study (claim C15): tables, loss curves, figure, verdict and digits logits."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")

from softmaxlab.training import job

job.run(snakemake.params.training, snakemake.output)
