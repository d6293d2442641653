"""The training study (claim C15): runs, loss curves, the check's runs, the typed result and
the digits logits."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")

from softmaxlab.training import job

job.run(snakemake.params.training, snakemake.output)
