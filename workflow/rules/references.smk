# Stage 3c: references the claims compare with, computed without the sweep: C2's crossover
# scale by root finding on fresh seeded draws, C13's E[max softmax] for normal logits.


rule crossover:
    output:
        "results/tables/c2_crossover.csv",
    log:
        "logs/crossover.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        seed=config["seed"],
        k=config["k"],
        distributions=config["distributions"],
        scales=config["scales"],
        vectors=config["vectors"],
        code=code("crossover.py"),
    script:
        "../../scripts/crossover.py"


rule orderstats:
    output:
        "results/tables/c13_reference.csv",
    log:
        "logs/orderstats.log",
    conda:
        "../envs/softmaxlab.yaml"
    params:
        k=config["k"],
        distributions=config["distributions"],
        scales=config["scales"],
        code=code("orderstats.py"),
    script:
        "../../scripts/orderstats.py"
