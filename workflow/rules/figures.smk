# Stage 4: the report's figures, each as SVG (for the report) and PNG, and its caption (title
# and text computed from the data it plotted; the report reads it). A job draws a batch of
# figures: it imports the plotting libraries and reads the summary once (about 3 s), then
# draws each figure (1 to 3 s).
#
# Two jobs on 2 cores: figures_1 starts first (priority) and runs while figures_2, the pivot
# tables and the claims run one after the other on the other core; figures_2 draws the
# cheapest figures, so that both cores finish at about the same time. Measured on the default
# sweep (the tail's first job start to the report's end, 2 cores): 17.9 s; 19.4 to 19.8 s with
# only distance_vs_k in figures_2, 20 s with one figure job, 21 to 22.6 s with two equal
# batches (they start together and leave the claims and the pivot tables for after).
LIGHT_FIGURES = ["distance_vs_k", "accuracy_by_dtype"]
FIGURE_BATCHES = {
    "1": [name for name in FIGURES if name not in LIGHT_FIGURES],
    "2": [name for name in FIGURES if name in LIGHT_FIGURES],
}
assert set(LIGHT_FIGURES) < set(FIGURES), LIGHT_FIGURES

for batch, batch_figures in FIGURE_BATCHES.items():

    rule:
        name:
            f"figures_{batch}"
        input:
            "results/tables/summary.parquet",
        output:
            svg=expand("results/figures/{figure}.svg", figure=batch_figures),
            caption=expand("results/figures/{figure}.caption.md", figure=batch_figures),
            png=[
                report(
                    f"results/figures/{figure}.png",
                    caption="../report/figure.rst",
                    category="Figures",
                    labels={"figure": figure},
                )
                for figure in batch_figures
            ],
        log:
            f"logs/figures/batch_{batch}.log",
        priority: 1 if batch == "1" else 0
        conda:
            "../envs/softmaxlab.yaml"
        params:
            figures=batch_figures,
            code=code("figures.py"),
        script:
            "../../scripts/figures.py"
