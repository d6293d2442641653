"""Made-up C15 comparisons for the verdict tests (tests/test_training.py,
tests/test_claims_verdicts.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from softmaxlab.paired import sign_flip_p
from softmaxlab.training.verdict import Comparison, TrainingResult


def comparison(
    label: str,
    accuracy: float,
    trains: bool = True,
    reference: float = 0.95,
    loss: str = "nll",
    dataset: str = "digits",
    optimizer: str = "adam",
) -> Comparison:
    """A comparison whose paired test agrees with its accuracies: 100 test points, one seed,
    the alternative right on its first 100 x accuracy points, the reference on its first
    100 x reference; its family is itself (Holm over one test changes nothing)."""
    points = np.arange(100)
    d = (points < round(100 * reference)).astype(int) - (points < round(100 * accuracy)).astype(int)
    p_short, p_ahead = sign_flip_p(d), sign_flip_p(-d)
    return Comparison(
        dataset=dataset,
        dtype="float32",
        optimizer=optimizer,
        label=label,
        loss=loss,
        accuracy=accuracy,
        trains=trains,
        diverged_share=0.0 if trains else 1.0,
        reference_accuracy=reference,
        reference_trains=True,
        differences=tuple(int(c) for c in np.bincount(d + 1, minlength=3)),
        p_short=p_short,
        p_ahead=p_ahead,
        p_short_holm=p_short,
        p_ahead_holm=p_ahead,
    )


def with_check(result: TrainingResult, check, **fields) -> TrainingResult:
    """``result`` as the training job leaves it after C15's check: 25 study steps, 100 check
    steps, the check's comparisons ``check``, and any other fields given."""
    return replace(result, steps=25, check_steps=100, check=tuple(check), **fields)
