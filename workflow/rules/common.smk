# Shared helpers: config validation (before any job runs), the shard plan, input functions.
import sys
from pathlib import Path

from softmaxlab import config as sl_config
from softmaxlab import files as sl_files
from softmaxlab import figures as sl_figures
from softmaxlab import provenance as sl_provenance
from softmaxlab import sweep as sl_sweep
from softmaxlab import tables as sl_tables

try:
    # Snakemake's loader keeps the last of two equal keys: re-read every config file of
    # this run (--configfile, or the Snakefile's configfile:) strictly first.
    for _configfile in workflow.configfiles:
        sl_config.check_config_file(_configfile)
    _validated = sl_config.validate(config)
except sl_config.ConfigError as error:
    # A clean one-line error instead of a traceback; nothing has been written yet.
    sys.exit(f"Invalid config: {error}")
config.clear()
config.update(_validated)

SHARDS = sl_sweep.plan_shards(config)
FIGURES = list(sl_figures.FIGURES)
PIVOTS = list(sl_tables.PIVOTS)


wildcard_constraints:
    shard=r"\d+",
    figure="|".join(FIGURES),
    pivot="|".join(PIVOTS),


def shard_outputs():
    return expand("results/shards/shard_{shard}.csv", shard=range(len(SHARDS)))


def raw_output():
    """The shard's raw per-vector Parquet, when the config asks for it."""
    if config["raw_metrics"]:
        return {"raw": "results/raw/shard_{shard}.parquet"}
    return {}


def raw_outputs():
    if config["raw_metrics"]:
        return expand("results/raw/shard_{shard}.parquet", shard=range(len(SHARDS)))
    return []


def pivot_outputs():
    return expand(
        "results/tables/pivot_{pivot}.{ext}", pivot=PIVOTS, ext=["csv", "html"]
    )


def figure_outputs():
    return expand("results/figures/{figure}.{ext}", figure=FIGURES, ext=["svg", "png"])


def shard_elements(wildcards):
    return sum(
        sl_sweep.cell_elements(config, cell) for cell in SHARDS[int(wildcards.shard)]
    )
