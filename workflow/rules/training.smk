# Stage 3b: the training study (claim C15): a linear classifier trained through every method
# on scikit-learn's digits and a seeded Gaussian mixture; its runs, loss curves and typed
# result, then (training_verdict) C15's verdict and text and the loss-curve figure. Two jobs:
# an edit to a claim's text or to a figure reruns the second (seconds), not the training.


rule training:
    output:
        table=report(
            "results/tables/training.csv",
            caption="../report/training.rst",
            category="Tables",
            labels={"table": "training study runs"},
        ),
        curves="results/tables/training_curves.csv",
        check="results/tables/training_check.csv",
        check_curves="results/tables/training_check_curves.csv",
        result="results/training/training_result.json",
        logits="results/training/digits_test_logits.npy",
    log:
        "logs/training.log",
    # Before every sweep job: the sweep's digits cells read the logits it writes.
    priority: len(SHARDS) + 1
    conda:
        "../envs/softmaxlab.yaml"
    params:
        training=config_keys(TRAINING_KEYS),
        code=code("training.py"),
    script:
        "../../scripts/training.py"


rule training_verdict:
    input:
        result="results/training/training_result.json",
        table="results/tables/training.csv",
        curves="results/tables/training_curves.csv",
        check="results/tables/training_check.csv",
        check_curves="results/tables/training_check_curves.csv",
    output:
        verdict="results/tables/training_verdict.json",
        svg="results/figures/training_curves.svg",
        caption="results/figures/training_curves.caption.md",
        png=report(
            "results/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
            labels={"figure": "training_curves"},
        ),
    log:
        "logs/training_verdict.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        code=code("training_verdict.py"),
    script:
        "../../scripts/training_verdict.py"
