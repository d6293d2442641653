# Stage 3: the worked example and the claims ledger (C1-C13), verdicts computed from data.


rule worked_example:
    output:
        report(
            "results/tables/worked_example.csv",
            caption="../report/worked_example.rst",
            category="Tables",
            labels={"table": "worked example [2, 4, 2, 1]"},
        ),
    log:
        "logs/worked_example.log",
    params:
        methods=config["methods"],
    script:
        "../../scripts/worked_example.py"


rule claims:
    input:
        summary="results/tables/summary.csv",
        example="results/tables/worked_example.csv",
    output:
        ledger=report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
            labels={"table": "claims ledger"},
        ),
        details=directory("results/tables/claim_details"),
    log:
        "logs/claims.log",
    params:
        config=config,
    script:
        "../../scripts/claims.py"
