# Stage 4: one seaborn figure per job, as SVG (for the report) and PNG, and its caption
# (title and text computed from the data it plotted; the report reads it).


rule figure:
    input:
        "results/tables/summary.parquet",
    output:
        svg="results/figures/{figure}.svg",
        caption="results/figures/{figure}.caption.md",
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "logs/figures/{figure}.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        code=code("figure.py"),
    script:
        "../../scripts/figure.py"
