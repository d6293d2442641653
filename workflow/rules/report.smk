# Stage 5: the self-contained HTML report, read top to bottom.


rule report:
    input:
        summary="results/tables/summary.csv",
        claims="results/tables/claims.csv",
        answer="results/tables/answer.csv",
        details="results/tables/claim_details",
        example="results/tables/worked_example.csv",
        pivots=expand("results/tables/pivot_{pivot}.csv", pivot=PIVOTS),
        figures=expand("results/figures/{figure}.svg", figure=FIGURES),
        captions=expand("results/figures/{figure}.caption.md", figure=FIGURES),
        benchmarks=expand(
            "results/benchmarks/sweep_shard_{shard}.tsv", shard=range(len(SHARDS))
        ),
    output:
        "results/report.html",
    log:
        "logs/report.log",
    params:
        config=config,
        pivots=PIVOTS,
        figures=FIGURES,
        code=code("report.py"),
    script:
        "../../scripts/report.py"
