"""Claim C15's verdict and text, and the training study's loss-curve figure, from the
training job's outputs."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from softmaxlab.training import publish

publish.run(snakemake.input, snakemake.output)
