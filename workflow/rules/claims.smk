# Stage 3: the worked example and the claims ledger (C1-C15), verdicts computed from data.
# The cells a claim needs beyond the config are sweep work too: sharded and merged like the
# main sweep into claims_cells.csv (none for the default config); the claims job runs no sweep.
from softmaxlab.claims import data as sl_claims_data

CLAIM_CELLS = sl_claims_data.required_config(config)
CLAIM_SHARDS = sl_sweep.plan_shards(CLAIM_CELLS) if CLAIM_CELLS else []
# The claims cells' table, when the config lacks cells a claim needs.
CLAIM_CELLS_INPUT = ["results/tables/claims_cells.csv"] if CLAIM_CELLS else []
# The machines that computed them (the report lists them with the sweep's).
CLAIM_MACHINES_INPUT = (
    ["results/tables/claims_cells_machines.json"] if CLAIM_CELLS else []
)


rule worked_example:
    output:
        report(
            "results/tables/worked_example.csv",
            caption="../report/worked_example.rst",
            category="Tables",
            labels={"table": "worked example [2, 4, 2, 1]"},
        ),
    log:
        "logs/worked_example.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        methods=config["methods"],
        code=code("worked_example.py"),
    script:
        "../../scripts/worked_example.py"


rule claims_shard:
    input:
        # An empirical distribution's logit file, as for the sweep's shards.
        logits=lambda wildcards: sl_sweep.logit_files(
            CLAIM_CELLS, CLAIM_SHARDS[int(wildcards.shard)]
        ),
    output:
        summary="results/claims_shards/shard_{shard}.csv",
        manifest="results/claims_shards/shard_{shard}.json",
    log:
        "logs/claims_shards/shard_{shard}.log",
    conda:
        "../envs/softmaxlab.yaml"
    resources:
        mem_mb=lambda wildcards: sl_sweep.job_mem_mb(
            CLAIM_CELLS, CLAIM_SHARDS[int(wildcards.shard)]
        ),
    params:
        shard=lambda wildcards: sl_sweep.shard_params(
            CLAIM_CELLS, int(wildcards.shard), CLAIM_SHARDS
        ),
        code=code("sweep_shard.py"),
    script:
        "../../scripts/sweep_shard.py"


# A checkpoint like the summary's (sweep.smk): a regrouped merge with the same bytes
# reruns no claims job.
checkpoint claims_cells:
    input:
        shards=expand(
            "results/claims_shards/shard_{shard}.csv", shard=range(len(CLAIM_SHARDS))
        ),
        manifests=expand(
            "results/claims_shards/shard_{shard}.json", shard=range(len(CLAIM_SHARDS))
        ),
    output:
        csv="results/tables/claims_cells.csv",
        machines="results/tables/claims_cells_machines.json",
    log:
        "logs/claims_cells.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        plan=lambda wildcards: config_keys(PLAN_KEYS, CLAIM_CELLS),
        code=code("merge_summary.py"),
    script:
        "../../scripts/merge_summary.py"


rule claims:
    input:
        summary="results/tables/summary.parquet",
        cells=CLAIM_CELLS_INPUT,
        example="results/tables/worked_example.csv",
        crossover="results/tables/c2_crossover.csv",
        orderstats="results/tables/c13_reference.csv",
        training="results/tables/training_verdict.json",
        # C4-C8 and C11's checks on seeded vectors (rule claim_checks).
        checks="results/tables/claim_checks.csv",
    output:
        ledger=report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
            labels={"table": "claims ledger"},
        ),
        answer="results/tables/answer.csv",
        details=directory("results/tables/claim_details"),
    log:
        "logs/claims.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        claims=claims_config(),
        code=code("claims.py"),
    script:
        "../../scripts/claims.py"
