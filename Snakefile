# softmaxlab: why does softmax use exp? The workflow, stage by stage (workflow/rules/).
from snakemake.utils import min_version

min_version("9.0")


# The default sweep, unless the user names another: Snakemake would merge the two, so
# a sweep with fewer distributions would silently get the defaults' as well.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/references.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "results/report.html",
        "results/tables/summary.csv",
        "results/tables/claims.csv",
        "results/tables/training.csv",
        pivot_outputs(),
        figure_outputs(),
        raw_outputs(),
