"""The claims ledger: each claim of the thread (C1-C15) as a measured hypothesis and a verdict.

The thread (Cross Validated, "why use exp in softmax?", kept in ``seed/``) makes the claims
listed in ``claims.md``. Each is measure -> a typed result -> a pure ``verdict(result)`` ->
text, in one module per group: example (C1), distance (C2), c13 (C13), gradients (C3, C4, C14,
with c14), bases (C5, C6, C7, C9), stability (C8), c10 (C10), theory (C11, C12), training (C15);
common holds the verdicts, the ledger row and THE pooling rule (:data:`POOLING_RULE`,
:func:`pool`); data the read-only access to what the jobs wrote and :func:`required_config`,
the sweep work the claims need planned ahead; thresholds the exact overflow constructions;
ledger builds the ledger and "the answer". Nothing in a verdict is typed in, and the claims
job runs no sweep and draws no vector: the checks on seeded vectors are workflow work
(softmaxlab.claim_checks), read from ``claim_checks.csv``.

Sources: Bridle (1990) for softmax; Goodfellow, Bengio & Courville (2016, sec. 4.1) for the
max-subtraction; Jaynes (1957) for the maximum-entropy (Boltzmann) derivation; Robbins
(1955) for Stirling's series; Nakanishi (2025) for scalable softmax (ssmax).
"""

from .common import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    LEDGER_COLUMNS,
    MAIN_DTYPE,
    NOT_MEASURED,
    POOLING_RULE,
    VERDICTS,
    Claim,
    pool,
)
from .data import NATIVE_METRICS, ClaimData, read_checks, read_training, required_config
from .example import EXAMPLE_X, THREAD_EXAMPLE, worked_example
from .gradients import C4_FD_TOLERANCE
from .ledger import ANSWER_COLUMNS, answer_table, build_claims, build_ledger, ledger_frame
from .theory import stirling_table
from .thresholds import (
    exp_overflow_threshold,
    iterated_exp_threshold,
    overflow_boundary,
    threshold_check,
    ulp_distance,
)

__all__ = [
    "ANSWER_COLUMNS",
    "C4_FD_TOLERANCE",
    "CONDITIONAL",
    "EXAMPLE_X",
    "FAILS",
    "HOLDS",
    "LEDGER_COLUMNS",
    "MAIN_DTYPE",
    "NOT_MEASURED",
    "POOLING_RULE",
    "THREAD_EXAMPLE",
    "VERDICTS",
    "Claim",
    "ClaimData",
    "NATIVE_METRICS",
    "answer_table",
    "build_claims",
    "build_ledger",
    "exp_overflow_threshold",
    "iterated_exp_threshold",
    "ledger_frame",
    "overflow_boundary",
    "pool",
    "read_checks",
    "read_training",
    "required_config",
    "stirling_table",
    "threshold_check",
    "ulp_distance",
    "worked_example",
]
