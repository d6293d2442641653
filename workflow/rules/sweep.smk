# Stage 1: evaluate every method on every cell, a shard of cells per job, then merge.


rule sweep_shard:
    output:
        **raw_output(),
        summary="results/shards/shard_{shard}.csv",
    log:
        "logs/sweep/shard_{shard}.log",
    benchmark:
        "results/benchmarks/sweep_shard_{shard}.tsv"
    resources:
        # Streaming bounds a job's memory whatever its vectors and cells: 1 GiB, more only
        # for K beyond about 2 x 10^6 (softmaxlab.sweep.job_mem_mb, benchmarks/README.md).
        mem_mb=lambda wildcards: sl_sweep.job_mem_mb(
            config, SHARDS[int(wildcards.shard)]
        ),
        runtime=lambda wildcards: 10 + shard_elements(wildcards) // 200_000,
    params:
        shard=lambda wildcards: sl_sweep.shard_params(
            config, int(wildcards.shard), SHARDS
        ),
    script:
        "../../scripts/sweep_shard.py"


rule summary:
    input:
        shard_outputs(),
    output:
        report(
            "results/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            labels={"table": "summary (tidy)"},
        ),
    log:
        "logs/summary.log",
    params:
        config=config,
    script:
        "../../scripts/merge_summary.py"
