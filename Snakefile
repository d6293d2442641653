# softmaxlab: why does softmax use exp? The workflow, stage by stage (workflow/rules/).
import sys

from snakemake.utils import min_version

from softmaxlab.config import command_line_configfiles

min_version("9.0")


# The default sweep, unless the command line names a config file: that one replaces it.
# (Snakemake would merge the two, so a sweep with fewer distributions would silently get
# the defaults' as well.) `--config key=value` alone still overrides the default.
DEFAULT_CONFIGFILE = "config/config.yaml"
CONFIGFILES = command_line_configfiles(sys.argv)
if not CONFIGFILES:

    configfile: DEFAULT_CONFIGFILE


include: "workflow/rules/common.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/references.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


# Jobs that take under a second and read no table: not worth a cluster job's overhead.
localrules:
    all,
    worked_example,
    orderstats,


rule all:
    default_target: True
    input:
        "results/report.html",
        "results/tables/summary.csv",
        "results/tables/summary.parquet",
        "results/tables/claims.csv",
        "results/tables/training.csv",
        pivot_outputs(),
        figure_outputs(),
        raw_outputs(),
