# Stage 5: the self-contained HTML report, read top to bottom.


rule report:
    input:
        # The checkpoints' tables (summary, claims cells), even the one the script does not
        # read: Snakemake re-evaluates after a checkpoint only the jobs that take its
        # output, so that a merge that kept its bytes reruns no report (sweep.smk).
        summary="results/tables/summary.parquet",
        machines=["results/tables/sweep_machines.json", *CLAIM_MACHINES_INPUT],
        cells=CLAIM_CELLS_INPUT,
        claims="results/tables/claims.csv",
        answer="results/tables/answer.csv",
        details="results/tables/claim_details",
        example="results/tables/worked_example.csv",
        pivots=expand("results/tables/pivot_{pivot}.csv", pivot=PIVOTS),
        figures=expand("results/figures/{figure}.svg", figure=FIGURES),
        captions=expand("results/figures/{figure}.caption.md", figure=FIGURES),
        # The training study's curves (claim C15, the cross-entropy link in training).
        training_figure="results/figures/training_curves.svg",
        training_caption="results/figures/training_curves.caption.md",
    output:
        "results/report.html",
    log:
        "logs/report.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        # Not the sweep's job times (results/benchmarks/): regrouping the sweep into other
        # jobs (shard_elements) or keeping raw metrics changes them, not the results.
        results_config=results_config(),
        pivots=PIVOTS,
        figures=FIGURES,
        code=code("report.py"),
    script:
        "../../scripts/report.py"
