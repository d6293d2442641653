# Stage 1: evaluate every method on every cell, a shard of cells per job, then merge.


rule sweep_shard:
    input:
        # The logit files of the shard's empirical distributions (none for most shards):
        # a file the workflow writes (the training study's digits logits) is made first.
        logits=lambda wildcards: sl_sweep.logit_files(
            config, SHARDS[int(wildcards.shard)]
        ),
    output:
        **raw_output(),
        summary="results/shards/shard_{shard}.csv",
        # What the shard holds and its SHA-256: the merge verifies the shard against it.
        manifest="results/shards/shard_{shard}.json",
    log:
        "logs/sweep/shard_{shard}.log",
    benchmark:
        "results/benchmarks/sweep_shard_{shard}.tsv"
    # Longest first (softmaxlab.sweep.shard_priorities): on the default sweep the cores
    # finish within a few seconds of each other instead of one idling for a job's length.
    priority: lambda wildcards: SHARD_PRIORITIES[int(wildcards.shard)]
    conda:
        "../envs/softmaxlab.yaml"
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
        code=code("sweep_shard.py"),
    script:
        "../../scripts/sweep_shard.py"


# A checkpoint, so that Snakemake re-evaluates the jobs downstream once it has run: when the
# sweep reran without changing a value (other shard_elements, raw_metrics switched on), the
# merged tables have the same bytes, and with their checksums unchanged no table, claim,
# figure or report job reruns (files above --max-checksum-file-size count as changed:
# profiles/default raises it above any summary.parquet).
checkpoint summary:
    input:
        shards=shard_outputs(),
        manifests=shard_outputs("json"),
    output:
        csv=report(
            "results/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            labels={"table": "summary (tidy)"},
        ),
        # The same rows, typed: what the pivot tables, figures, claims and report read.
        parquet="results/tables/summary.parquet",
        # The kinds of machine that computed the shards (platform, numpy, numpy's SIMD):
        # numpy's float64 exp and log differ between them (softmaxlab.manifest.numpy_simd).
        machines="results/tables/sweep_machines.json",
    log:
        "logs/summary.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        plan=config_keys(PLAN_KEYS),
        code=code("merge_summary.py"),
    script:
        "../../scripts/merge_summary.py"
