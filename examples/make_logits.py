"""Write examples/my_logits.npy: 300 logit vectors of 10 classes, as a classifier emits them.

A stand-in for logits dumped from your own model (seeded: the same bytes on every machine):
each row has a true class drawn uniformly; its logits are N(0, 1) noise plus a margin on the
true class drawn uniformly from [0, 4] (from unsure to confident rows), plus a per-row
offset N(0, 2^2) that every softmax ignores (standardize: true removes it, see
softmaxlab.sampling). Run from the repository root: ``python examples/make_logits.py``.
"""

from pathlib import Path

import numpy as np

ROWS, CLASSES, SEED = 300, 10, 20261124
OUT = Path(__file__).with_name("my_logits.npy")


def make_logits(rows: int = ROWS, classes: int = CLASSES, seed: int = SEED) -> np.ndarray:
    """The (rows, classes) float64 logits described in the module docstring."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    truth = rng.integers(0, classes, size=rows)
    margin = rng.uniform(0.0, 4.0, size=rows)
    offset = rng.normal(0.0, 2.0, size=(rows, 1))
    logits = rng.standard_normal((rows, classes)) + offset
    logits[np.arange(rows), truth] += margin
    return logits


if __name__ == "__main__":
    np.save(OUT, make_logits())
    print(f"wrote {OUT} ({ROWS} x {CLASSES}, float64)")
