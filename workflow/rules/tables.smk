# Stage 2: pivot tables for readers, from the tidy summary.


rule pivot_table:
    input:
        "results/tables/summary.parquet",
    output:
        csv="results/tables/pivot_{pivot}.csv",
        html=report(
            "results/tables/pivot_{pivot}.html",
            caption="../report/pivot.rst",
            category="Tables",
            labels={"table": "{pivot}"},
        ),
    log:
        "logs/tables/pivot_{pivot}.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        code=code("pivot_table.py"),
    script:
        "../../scripts/pivot_table.py"
