"""The ledger C1-C15 and "the answer": the claims in order, each from its module.

:func:`build_ledger` reads only what the jobs wrote (the summary, the claims cells, the
worked example, the reference tables, the training verdict JSON and the checks on seeded
vectors) plus the exact constructions of the claims themselves; :func:`answer_table` turns
the typed results into the five to eight plain sentences the report opens with, each with
one number.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from . import bases, c10, c13, distance, gradients, stability, theory, training
from . import example as example_claim
from .common import LEDGER_COLUMNS, Claim, Spec
from .data import ClaimData

ANSWER_COLUMNS: tuple[str, ...] = ("order", "claim", "sentence", "value")
#: The order of ideas of "the answer": why exp (C14), a base is a temperature (C5), maximum
#: entropy (C11), the max-shift for numerics (C7/C8), what the alternatives lose in training
#: (C15) and iterated exp (C10), the closeness to argmax (C2).
ANSWER_ORDER: tuple[Spec, ...] = (
    gradients.SPEC_C14,
    bases.SPEC_C5,
    theory.SPEC_C11,
    bases.SPEC_C7,
    training.SPEC_C15,
    c10.SPEC_C10,
    distance.SPEC_C2,
)


def build_claims(
    summary: pd.DataFrame,
    example: pd.DataFrame | None,
    config: Mapping,
    cells: pd.DataFrame | None = None,
    crossover: pd.DataFrame | None = None,
    orderstats: pd.DataFrame | None = None,
    training_verdict: Mapping | None = None,
    checks: pd.DataFrame | None = None,
    modes: pd.DataFrame | None = None,
) -> list[Claim]:
    """Every claim C1-C15 (:class:`Claim`, with its typed result), in order; ``modes`` as
    :class:`ClaimData`'s (the native-mode rows C8 reads, when ``summary`` lacks them)."""
    data = ClaimData(summary, config, cells, crossover, orderstats, training_verdict, checks, modes)
    thresholds = bases.threshold_table()
    return [
        example_claim.claim(example, config),
        distance.claim_c2(data),
        gradients.claim_c3(data),
        gradients.claim_c4(data),
        bases.claim_c5(data),
        bases.claim_c6(data),
        bases.claim_c7(data, thresholds),
        stability.claim_c8(data),
        bases.claim_c9(data),
        c10.claim_c10(data),
        theory.claim_c11(data),
        theory.claim_c12(),
        c13.claim_c13(data),
        gradients.claim_c14(data),
        training.claim_c15(training_verdict),
    ]


def ledger_frame(claims: list[Claim]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The ledger (LEDGER_COLUMNS) and the detail tables, keyed by names starting with the
    claim id."""
    details: dict[str, pd.DataFrame] = {}
    for claim in claims:
        details.update(claim.details)
    ledger = pd.DataFrame(
        [[getattr(c, col) for col in LEDGER_COLUMNS] for c in claims], columns=list(LEDGER_COLUMNS)
    )
    return ledger, details


def build_ledger(
    summary: pd.DataFrame,
    example: pd.DataFrame | None,
    config: Mapping,
    cells: pd.DataFrame | None = None,
    crossover: pd.DataFrame | None = None,
    orderstats: pd.DataFrame | None = None,
    training_verdict: Mapping | None = None,
    checks: pd.DataFrame | None = None,
    modes: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The ledger (one row per claim C1..C15, columns LEDGER_COLUMNS) and its detail tables.

    ``summary``: the sweep's summary table (long format); ``example``: the worked-example
    table (recomputed if None); ``config``: the validated config; ``cells``: the claims
    cells (:func:`softmaxlab.claims.required_config`'s sweep), ``crossover`` and
    ``orderstats``: the reference tables of C2 and C13, ``training_verdict``: the training
    study's JSON payload, ``checks``: the checks on seeded vectors (claim_checks.csv,
    softmaxlab.claim_checks) (each None when absent: the claim then says so), ``modes``:
    a summary holding the native-mode rows C8 reads (None: ``summary``'s own).
    """
    return ledger_frame(
        build_claims(
            summary, example, config, cells, crossover, orderstats, training_verdict, checks, modes
        )
    )


def answer_table(claims: list[Claim]) -> pd.DataFrame:
    """ "The answer": one sentence per idea of ANSWER_ORDER whose claim was measured, each
    with exactly one number (formatted by softmaxlab.formatting) and its claim id; ``value``
    is the typed result's number the sentence quotes."""
    by_id = {claim.claim: claim for claim in claims}
    rows = []
    for spec in ANSWER_ORDER:
        claim = by_id.get(spec.claim)
        if claim is None or claim.result is None or spec.headline is None:
            continue
        line = spec.headline(claim.result)
        if line is None:
            continue
        sentence, value = line
        rows.append({"claim": spec.claim, "sentence": sentence, "value": float(value)})
    frame = pd.DataFrame(rows, columns=["claim", "sentence", "value"])
    frame.insert(0, "order", range(1, len(frame) + 1))
    return frame
