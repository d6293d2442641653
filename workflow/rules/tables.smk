# Stage 2: pivot tables for readers, from the tidy summary: one job reads it once and writes
# every pivot (softmaxlab.tables.PIVOTS), a CSV and an HTML table each.


rule pivot_tables:
    input:
        "results/tables/summary.parquet",
    output:
        csv=expand("results/tables/pivot_{pivot}.csv", pivot=PIVOTS),
        html=[
            report(
                f"results/tables/pivot_{pivot}.html",
                caption="../report/pivot.rst",
                category="Tables",
                labels={"table": pivot},
            )
            for pivot in PIVOTS
        ],
    log:
        "logs/tables/pivot_tables.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        pivots=PIVOTS,
        code=code("pivot_tables.py"),
    script:
        "../../scripts/pivot_tables.py"
