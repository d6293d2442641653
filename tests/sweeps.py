"""Small sweep configs shared by the tests (a module, not a conftest: tests import it)."""

SMALL = {
    "seed": 11,
    "scales": [0.1, 3.0, 200.0],
    "k": [2, 10],
    "dtypes": ["float64", "float16"],
    # both modes: the workflow plans, merges and reads cells of two modes of one format
    "compute": {"float16": ["float32", "native"]},
    "distributions": {
        "normal": {"family": "normal"},
        "positive": {"family": "uniform", "low": 0, "high": 1},
    },
    "methods": [
        {"method": "argmax"},
        {"method": "linear"},
        {"method": "softmax"},
        {"method": "softmax", "stable": False},
        {"method": "softmax", "base": 100, "stable": False},
        {"method": "sparsemax"},
        {"method": "gumbel_softmax"},
    ],
    "vectors": {"elements": 200, "min": 5, "max": 30},
    "grad_vectors": 4,
    "shard_elements": 2000,
    # The training study (C15) at its smallest useful grid: about 2 s instead of 10; its
    # one-rate grids would all widen (tests/test_training.py tests the widening).
    "training": {
        "steps": 5,
        "seeds": 1,
        "learning_rates": {"gd": [1.0], "adam": [0.1]},
        "mixture": {"n_train": 100, "n_test": 100},
        "widen": 0,
    },
}

# The same cells with fewer vectors and without the noisy method: for tests that only need
# the summary's shape.
TINY = {
    **SMALL,
    "seed": 5,
    "methods": [entry for entry in SMALL["methods"] if entry["method"] != "gumbel_softmax"],
    "vectors": {"elements": 40, "min": 4, "max": 8},
    "grad_vectors": 2,
}
