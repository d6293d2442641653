# Stage 4: one seaborn figure per job, as SVG (for the report) and PNG.


rule figure:
    input:
        "results/tables/summary.csv",
    output:
        svg="results/figures/{figure}.svg",
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "logs/figures/{figure}.log",
    script:
        "../../scripts/figure.py"
