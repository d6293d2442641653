"""The training study (claim C15): tables, loss curves, figure, verdict and digits logits."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")

from softmaxlab.training import job  # noqa: E402

job.run(snakemake.params.config, snakemake.output)  # noqa: F821
