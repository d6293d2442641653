# softmaxlab: why does softmax use exp? The workflow, stage by stage (workflow/rules/).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "results/report.html",
        "results/tables/summary.csv",
        "results/tables/claims.csv",
        pivot_outputs(),
        figure_outputs(),
