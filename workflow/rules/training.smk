# Stage 3b: the training study (claim C15): a linear classifier trained through every method
# on scikit-learn's digits and a seeded Gaussian mixture; tables, loss curves, figure, verdict.


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
        verdict="results/tables/training_verdict.json",
        logits="results/training/digits_test_logits.npy",
        svg="results/figures/training_curves.svg",
        caption="results/figures/training_curves.caption.md",
        png=report(
            "results/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
            labels={"figure": "training_curves"},
        ),
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
