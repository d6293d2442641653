"""What a trained model's outputs are scored by: predictions, accuracy and calibration.

The prediction is the class with the largest output p_j (the first on ties); a row with a
non-finite entry predicts nothing (-1) and counts as wrong. The confidence is that largest
p_j. Metrics work on stacked runs: p has shape (..., n, K), labels y (n,), results (...,).
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15  # Guo, Pleiss, Sun & Weinberger 2017, "On calibration of modern neural networks"


def predictions(p: np.ndarray) -> np.ndarray:
    """argmax_j p_j per row (int64), -1 where the row has a non-finite entry."""
    p = np.asarray(p)
    if p.dtype not in (np.float32, np.float64):  # numpy's own loops, not ml_dtypes'
        p = p.astype(np.float64)  # exact: the same order and ties
    finite = np.all(np.isfinite(p), axis=-1)
    return np.where(finite, np.argmax(np.where(np.isfinite(p), p, -np.inf), axis=-1), -1)


def accuracy(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Share of rows whose prediction is the label, over the second-to-last axis."""
    return np.mean(predictions(p) == np.asarray(y), axis=-1)


def ece(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Expected calibration error with ``bins`` equal-width confidence bins (Guo et al. 2017):
    sum_b (n_b / n) |acc_b - conf_b|, bin b = ((b - 1)/M, b/M] (confidence 0 joins the first
    bin), conf_b the mean confidence and acc_b the accuracy of the rows in it.

    Confidences outside [0, 1] (outputs that are not probabilities, e.g. linear
    normalisation of signed logits) fall into the end bins but keep their value in conf_b.
    NaN where a row has a non-finite output: the model has no calibration to measure.
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y)
    n, k = p.shape[-2:]
    runs = p.reshape(-1, n, k)
    out = np.full(len(runs), np.nan)
    for r, rows in enumerate(runs):
        if not np.all(np.isfinite(rows)):
            continue
        conf = np.max(rows, axis=-1)
        correct = (predictions(rows) == y).astype(np.float64)
        index = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
        # n_b |acc_b - conf_b| = |sum over the bin of (correct - conf)|
        gap = np.bincount(index, weights=correct - conf, minlength=bins)
        out[r] = np.sum(np.abs(gap)) / n
    return out.reshape(p.shape[:-2])
