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
    for _configfile in CONFIGFILES or [DEFAULT_CONFIGFILE]:
        sl_config.check_config_file(_configfile)
    _validated = sl_config.validate(config)
except sl_config.ConfigError as error:
    # A clean one-line error instead of a traceback; nothing has been written yet.
    sys.exit(f"Invalid config: {error}")
config.clear()
config.update(_validated)

# The config keys each kind of job reads, given to it as params (never the whole config):
# a change to another key reruns none of its jobs. What no result depends on: how cells
# are grouped into jobs, whether raw per-vector metrics are kept, the job-size guard.
PLAN_KEYS = (
    "distributions",
    "k",
    "scales",
    "dtypes",
    "compute",
    "methods",
    "vectors",
    "shard_elements",
)
CLAIMS_KEYS = (
    "seed",
    "scales",
    "k",
    "dtypes",
    "compute",
    "distributions",
    "methods",
    "vectors",
    "grad_vectors",
    "error_vectors",
    "quantile_vectors",
)
TRAINING_KEYS = ("seed", "methods", "training")
RUN_ONLY_KEYS = ("shard_elements", "raw_metrics", "limits")

SHARDS = sl_sweep.plan_shards(config)
# The costliest sweep jobs start first, the cheap ones fill the cores at the end.
SHARD_PRIORITIES = sl_sweep.shard_priorities(config, SHARDS)
FIGURES = list(sl_figures.NAMES)
PIVOTS = list(sl_tables.PIVOTS)


wildcard_constraints:
    shard=r"\d+",


def config_keys(keys, cfg=None):
    """The entries ``keys`` of the (validated) config ``cfg``, default the run's."""
    cfg = config if cfg is None else cfg
    return {key: cfg[key] for key in keys}


def claims_config():
    """What the claims read of the config (softmaxlab.claims: seed, the sweep's cells and
    methods, its vector counts)."""
    return config_keys(CLAIMS_KEYS)


def results_config():
    """The config without RUN_ONLY_KEYS: what the results depend on (the report's copy)."""
    return {key: value for key, value in config.items() if key not in RUN_ONLY_KEYS}


def shard_outputs(ext="csv"):
    """Every shard's CSV (or its manifest, ``ext="json"``), in plan order."""
    return expand(
        "results/shards/shard_{shard}.{ext}", shard=range(len(SHARDS)), ext=ext
    )


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


def code(script):
    """The digests of scripts/<script> and of every library module it imports, as a param:
    a change to library code reruns exactly the jobs that run it (softmaxlab.provenance).
    """
    return sl_provenance.code_version(Path(workflow.basedir) / "scripts" / script)


def locks_taken():
    """When the oldest Snakemake running in this folder (this one included) took its locks,
    or None without lock files (--nolock): a temporary older than that is no running job's.
    """
    locks = Path(".snakemake", "locks").glob("*.lock")
    return min((lock.stat().st_mtime for lock in locks), default=None)


onstart:
    # Temporaries of writes killed in earlier runs (softmaxlab.files' names, under results/).
    taken = locks_taken()
    for stale in (
        [] if taken is None else sl_files.remove_temporaries("results", taken)
    ):
        print(f"Removed {stale}, left by an interrupted write", file=sys.stderr)
