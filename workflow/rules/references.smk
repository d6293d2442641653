# Stage 3c: references the claims compare with, computed without the sweep: C2's crossover
# scale by root finding on fresh seeded draws, C13's E[max softmax] for normal logits; and
# the claims' checks on seeded vectors (C4-C8, C11), so that the claims job draws none.
from softmaxlab import claim_checks as sl_claim_checks

# One job per distribution of the sweep, on the vectors of its (distribution, K) pairs
# (softmaxlab.claim_checks.plan_jobs).
CHECK_JOBS = sl_claim_checks.plan_jobs(config)


rule crossover:
    output:
        "results/tables/c2_crossover.csv",
    log:
        "logs/crossover.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        seed=config["seed"],
        k=config["k"],
        distributions=config["distributions"],
        scales=config["scales"],
        vectors=config["vectors"],
        code=code("crossover.py"),
    script:
        "../../scripts/crossover.py"


rule orderstats:
    output:
        "results/tables/c13_reference.csv",
    log:
        "logs/orderstats.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        k=config["k"],
        distributions=config["distributions"],
        scales=config["scales"],
        code=code("orderstats.py"),
    script:
        "../../scripts/orderstats.py"


# C5, C7 and C8's checks on the sweep's vectors of one distribution's (distribution, K)
# pairs, every scale and format: one job per distribution, streaming its vectors.
rule claim_checks_cell:
    input:
        # An empirical distribution's logit file (the training study's digits logits).
        logits=lambda wildcards: sl_claim_checks.logit_files(
            config, [CHECK_JOBS[int(wildcards.shard)][0][0]]
        ),
    output:
        "results/claim_checks/cell_{shard}.csv",
    log:
        "logs/claim_checks/cell_{shard}.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        seed=config["seed"],
        scales=config["scales"],
        dtypes=config["dtypes"],
        compute=config["compute"],
        vectors=config["vectors"],
        cells=lambda wildcards: sl_claim_checks.job_params(
            config, int(wildcards.shard), CHECK_JOBS
        ),
        code=code("claim_checks.py"),
    script:
        "../../scripts/claim_checks.py"


# C4, C6 and C11's checks on their own seeded streams, and the table the claims read:
# those rows, then every cell job's in plan order.
rule claim_checks:
    input:
        cells=expand(
            "results/claim_checks/cell_{shard}.csv", shard=range(len(CHECK_JOBS))
        ),
        logits=sl_claim_checks.logit_files(
            config, sl_claim_checks.first_distribution(config)
        ),
    output:
        "results/tables/claim_checks.csv",
    log:
        "logs/claim_checks.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        seed=config["seed"],
        k=config["k"],
        scales=config["scales"],
        dtypes=config["dtypes"],
        compute=config["compute"],
        first=sl_claim_checks.first_distribution(config),
        cells=[[list(pair) for pair in job] for job in CHECK_JOBS],
        code=code("claim_checks.py"),
    script:
        "../../scripts/claim_checks.py"
