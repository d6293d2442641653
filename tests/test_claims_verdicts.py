"""Every claim's verdict is a pure function of its typed result that can come out each way:
synthetic results drive C1-C15 to "holds", "holds with conditions" and "does not hold", and
the text of each outcome says what the numbers say."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from training_results import comparison, with_check

from softmaxlab.claims import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    bases,
    c10,
    c13,
    c14,
    distance,
    example,
    gradients,
    stability,
    theory,
    training,
)
from softmaxlab.metrics import GRAD_VANISHING_THRESHOLD
from softmaxlab.training.verdict import TrainingResult

# --- one synthetic result per claim, then the changes that move its verdict ---------------

C1 = example.C1Result(failed=(), worst=4e-5, softmax_max=0.7573, linear_max=0.4444, others=2)
C2 = distance.C2Result(
    closer_share=1.0,
    cells=6,
    crossovers=(distance.Crossover("positive", 2, 2.683, 2.5, 2.9, distance.ROOT_FINDING),),
    signed_invalid=0.869,
)
SCALES = (
    c14.ScaleGradient(0.1, 0.82, 0.81, 0.85, 0.0),
    c14.ScaleGradient(200.0, 1.06, 0.006, 1.41, 0.0),
)
C3 = gradients.C3Result(
    by_scale=SCALES, argmax_vanishing=1.0, softmax_jacobian_vanishing=(0.0, 0.6)
)
C4 = gradients.C4Result(
    positive_invalid=0.0,
    signed_invalid_min=0.0,
    signed_invalid_max=0.0,
    signed_invalid=0.0,
    positive=("positive",),
    signed=("normal",),
    fd_max=4e-10,
)
C5 = bases.C5Result(
    example_tv=0.0368,
    example_max_base=0.794,
    example_max_e=0.757,
    sweep_cells=15,
    sweep_differ=14,
    sweep_max_tv=0.2,
    identity_ok=True,
    max_ulps=12.0,
)
C6 = bases.C6Result(cases=8, bad=(), float64_ok=True)
C7 = bases.C7Result(
    threshold_100=154.127,
    threshold_e=709.78,
    thresholds_ok=True,
    naive100_max=0.58,
    first_scale=200.0,
    agreement=1.0,
    closer_share=1.0,
    stable_max=0.0,
)
C8 = stability.C8Result(
    dtypes=("float64", "float32", "float16"),
    stable_overflow=(0.0, 0.0, 0.0),
    naive_overflow=(0.0, 0.85, 0.94),
    stable_underflow=(0.07, 0.68, 0.91),
)
C9 = bases.C9Result(tradeoff=(("float64", 200.0),), stable_max=0.0, max_beta=4.6, top_underflow=0.5)
C10 = c10.C10Result(
    naive_threshold=(6.565, 1.8817),
    inner_threshold=(709.78, 6.565),
    thresholds_ok=True,
    naive_overflow=(0.94, 0.95),
    stable_overflow=(0.0, 0.94),
    depth4_inner_threshold=1.8817,
    nll_lost=True,
    nll_labels=("iterated_exp",),
    training_short=True,
    training_labels=("iterated_exp",),
)
C11 = theory.C11Result(problems=120, worst=5e-9, entropy_gain=1e-15)
C12 = theory.C12Result(
    rel_2=1.89,
    rel_10=0.138,
    rel_last=6e-7,
    last_n=10**6,
    first=90,
    decreasing=True,
    bounded=True,
    ratio_first=1.885,
    ratio_last=0.5665,
)
C13 = c13.C13Result(
    scales=3,
    falls=True,
    largest_scale=200.0,
    tv_largest_max=0.02,
    unsaturated=(),
    reach=((2, 30.7, 0, 2, 25.0, 36.0),),
    ref_scale=3.0,
    max_prob=((2, 0.8, 0.75), (10, 0.47, 0.65)),
    ks=(2, 10),
    faded=(),
    held=("normal",),
    ss_faded=(),
    ss_held=("normal",),
)


def _label(label, method, role, *, failures=(), groups=(), convexity=0.0, over=0.0):
    return c14.LabelMeasure(
        label=label,
        method=method,
        role=role,
        vectors=48,
        nll=1.0,
        nll_vectors=48,
        infinite=0.0,
        undefined=0.0,
        segments=48,
        convexity_break=convexity,
        gradients=48,
        grad_over_one=over,
        grad_norm=0.8,
        grad_norm_argmax=0.5,
        grad_norm_argmin=1.2,
        grad_max=0.7,
        grad_norm_q95_max=1.4,
        failing_groups=groups,
        failures=failures,
    )


GROUPS = (("normal", 1.0), ("normal", 10.0))
C14 = c14.C14Result(
    labels=(
        _label("softmax", "softmax", "reference"),
        _label("linear", "linear", "alternative", failures=("undefined",), groups=GROUPS),
    ),
    groups=GROUPS,
    reference_by_scale=SCALES,
)


def _comparison(label, accuracy):
    return comparison(label, accuracy, reference=0.96)


C15 = TrainingResult(comparisons=(_comparison("linear", 0.5), _comparison("sparsemax", 0.95)))

CASES = {
    "C1": (
        example,
        "verdict",
        C1,
        {
            CONDITIONAL: replace(C1, failed=("linear",), worst=5e-4),
            FAILS: replace(C1, failed=("softmax",), worst=0.3),
        },
    ),
    "C2": (
        distance,
        "verdict_c2",
        replace(C2, crossovers=()),
        {
            CONDITIONAL: replace(C2, closer_share=0.6, crossovers=()),
            FAILS: replace(C2, closer_share=0.0, crossovers=()),
        },
    ),
    "C3": (
        gradients,
        "verdict_c3",
        C3,
        {
            CONDITIONAL: replace(
                C3, by_scale=(SCALES[0], c14.ScaleGradient(200.0, 1.0, 0.0, 1.41, 0.25))
            ),
            FAILS: replace(C3, argmax_vanishing=0.5),
        },
    ),
    "C4": (
        gradients,
        "verdict_c4",
        C4,
        {
            CONDITIONAL: replace(C4, signed_invalid_max=0.77, signed_invalid=0.75),
            FAILS: replace(C4, positive_invalid=0.1, signed_invalid_max=0.8),
        },
    ),
    "C5": (
        bases,
        "verdict_c5",
        replace(C5, sweep_differ=0, same_scales=(0.1, 1.0, 10.0)),
        # the worked example differs in every case: it decides nothing
        {CONDITIONAL: replace(C5, sweep_differ=7, same_scales=(0.1,)), FAILS: C5},
    ),
    "C6": (
        bases,
        "verdict_c6",
        C6,
        {
            CONDITIONAL: replace(C6, bad=(("float8_e4m3fn", 1000, False, 0.0),)),
            FAILS: replace(C6, bad=(("float64", 10, True, 0.5),), float64_ok=False),
        },
    ),
    "C7": (
        bases,
        "verdict_c7",
        replace(C7, stable_max=0.01),
        {CONDITIONAL: C7, FAILS: replace(C7, first_scale=math.nan)},
    ),
    "C8": (
        stability,
        "verdict_c8",
        C8,
        {
            CONDITIONAL: replace(C8, stable_overflow=(0.0, 0.0, 0.1), harmless=("float16",)),
            FAILS: replace(C8, stable_overflow=(0.2, 0.0, 0.0)),
        },
    ),
    "C9": (
        bases,
        "verdict_c9",
        replace(C9, stable_max=0.1),
        {CONDITIONAL: C9, FAILS: replace(C9, tradeoff=())},
    ),
    "C10": (
        c10,
        "verdict_c10",
        C10,
        {
            CONDITIONAL: replace(C10, training_short=False, training_labels=()),
            FAILS: replace(
                C10, stable_overflow=(0.0, 0.0), nll_lost=False, nll_labels=(), training_short=None
            ),
        },
    ),
    "C11": (
        theory,
        "verdict_c11",
        C11,
        {CONDITIONAL: replace(C11, worst=1e-4), FAILS: replace(C11, worst=1e-4, entropy_gain=1e-3)},
    ),
    "C12": (
        theory,
        "verdict_c12",
        C12,
        {CONDITIONAL: replace(C12, first=-1), FAILS: replace(C12, bounded=False)},
    ),
    "C13": (
        c13,
        "verdict_c13",
        C13,
        {
            CONDITIONAL: replace(C13, faded=("normal",), held=()),
            FAILS: replace(C13, scales=1),
        },
    ),
    "C14": (
        c14,
        "verdict",
        C14,
        {
            CONDITIONAL: replace(
                C14,
                labels=(
                    C14.labels[0],
                    replace(C14.labels[1], failing_groups=GROUPS[:1]),
                ),
            ),
            FAILS: replace(
                C14,
                labels=(
                    C14.labels[0],
                    replace(C14.labels[1], convexity_break=0.0, failures=(), failing_groups=()),
                ),
            ),
        },
    ),
    "C15": (
        training,
        "verdict_c15",
        TrainingResult(comparisons=(_comparison("linear", 0.5), _comparison("relu", 0.4))),
        {CONDITIONAL: C15, FAILS: TrainingResult(comparisons=(_comparison("sparsemax", 0.95),))},
    ),
}


@pytest.mark.parametrize("claim", list(CASES))
def test_every_claim_reaches_every_verdict(claim):
    module, name, holds, others = CASES[claim]
    verdict = getattr(module, name)
    outcomes = {HOLDS: holds, **others}
    assert {outcome: verdict(result) for outcome, result in outcomes.items()} == {
        HOLDS: HOLDS,
        CONDITIONAL: CONDITIONAL,
        FAILS: FAILS,
    }


SPECS = {
    "C1": example.SPEC,
    "C2": distance.SPEC_C2,
    "C3": gradients.SPEC_C3,
    "C4": gradients.SPEC_C4,
    "C5": bases.SPEC_C5,
    "C6": bases.SPEC_C6,
    "C7": bases.SPEC_C7,
    "C8": stability.SPEC_C8,
    "C9": bases.SPEC_C9,
    "C10": c10.SPEC_C10,
    "C11": theory.SPEC_C11,
    "C12": theory.SPEC_C12,
    "C13": c13.SPEC_C13,
    "C14": gradients.SPEC_C14,
    "C15": training.SPEC_C15,
}


@pytest.mark.parametrize("claim", list(CASES))
def test_every_outcome_has_its_own_text(claim):
    _, _, holds, others = CASES[claim]
    spec = SPECS[claim]
    rows = [spec.row(result) for result in (holds, *others.values())]
    assert [row.verdict for row in rows] == [HOLDS, CONDITIONAL, FAILS]
    assert all(row.claim == claim and row.value and row.conditions for row in rows)
    # The conditions name what decided the outcome: three different texts.
    assert len({row.conditions for row in rows}) == 3


@pytest.mark.parametrize("claim", list(SPECS))
def test_every_claim_says_what_each_verdict_requires(claim):
    """Outcomes: the rule of each of the three verdicts, and whether the data could have
    given another (a theorem or exact construction, set by algebra once the config has
    certain cells or methods, or measured); the same text on every row, measured or not."""
    spec = SPECS[claim]
    text = spec.outcomes
    assert "does not hold" in text
    assert "holds" in text.replace("does not hold", "")
    assert "with conditions" in text
    kinds = ("Exact", "A theorem", "Set by algebra", "Measured:")
    assert any(f". {kind}" in text for kind in kinds), text
    assert spec.not_measured("no data").outcomes == text
    if claim in CASES:
        _, _, holds, others = CASES[claim]
        assert {spec.row(r).outcomes for r in (holds, *others.values())} == {text}


def test_outcomes_quote_the_constants_the_verdicts_read():
    assert f"mean TV above {bases.C5_SAME_TV:g}) in more than 50%" in bases.SPEC_C5.outcomes
    assert f"below {GRAD_VANISHING_THRESHOLD:g} on fewer than 99%" in gradients.SPEC_C3.outcomes
    assert f"(within {gradients.C4_FD_TOLERANCE:g})" in gradients.SPEC_C4.outcomes
    assert f"at least {c13.C13_TV_LIMIT:g} at the largest scale" in c13.SPEC_C13.outcomes
    assert f"within {theory.C11_TOLERANCE:g} in every problem" in theory.SPEC_C11.outcomes


# --- one per claim, with meaningful numbers ------------------------------------------------


def test_c5_says_the_thread_statement_fails_up_to_a_temperature():
    row = bases.SPEC_C5.row(C5)
    assert row.verdict == FAILS
    assert "temperature 1/ln psi that a trained model absorbs into its weights" in row.conditions
    assert "0.794 with base 3 vs 0.757 with e" in row.value
    # The sweep decides, at "most" = more than half of the (base, scale) cells.
    assert bases.verdict_c5(replace(C5, sweep_differ=8, sweep_cells=15)) == FAILS
    half = bases.SPEC_C5.row(replace(C5, sweep_differ=5, sweep_cells=10, same_scales=(0.01, 0.1)))
    assert half.verdict == CONDITIONAL
    assert "agrees with e within TV 0.001 only at scale 0.01, 0.1" in half.conditions
    broken = bases.SPEC_C5.row(replace(C5, identity_ok=False))
    assert broken.verdict == FAILS and "not even temperature" in broken.conditions


def test_c10_reflects_the_stabilised_form():
    # The naive form overflowing says nothing once the stable form does not: then only the
    # NLL and training reasons count.
    fixed = replace(C10, stable_overflow=(0.0, 0.0))
    assert c10.verdict_c10(fixed) == CONDITIONAL
    text = c10.conditions_c10(fixed)
    assert "not shown here: the stabilised form still overflows" in text
    assert "709.78 (d = 2), 6.565 (d = 3), 1.8817 (d = 4)" in text
    assert "shift trick" not in c10.value_c10(C10) + text
    assert c10.verdict_c10(replace(C10, thresholds_ok=False)) == FAILS


def test_c7_says_in_which_arithmetic_the_narrow_formats_overflow():
    """The narrow formats' own base-100 thresholds hold for their native arithmetic; read in
    float32 arithmetic (the frameworks'), they overflow at float32's threshold."""
    own = replace(C7, narrow=(("float32", 19.27), ("float16", 2.408)))
    text = bases.conditions_c7(own)
    assert text.endswith(
        "much earlier in their own arithmetic (base-100 thresholds: float32 19.27, float16 2.408)"
    )
    framed = replace(own, float32_formats=("float16",), float32_threshold=19.2709)
    assert bases.conditions_c7(framed) == text + (
        "; float16 as frameworks compute them, in float32 arithmetic, overflow where float32 "
        "does, at 19.27"
    )


def test_c7_quotes_real_logits_as_they_are():
    assert "real logits" not in bases.value_c7(C7)  # no empirical distribution
    real = replace(C7, real=(("digits", 0.0), ("mine", 0.125)))
    assert (
        "(pooled per scale; first at scale 200), on real logits as they are (scale 1): digits "
        "0%, mine 12.5%; measured = predicted" in bases.value_c7(real)
    )


def test_c7_quotes_how_close_base_100_is_at_unit_logits():
    assert "mean TV" not in bases.value_c7(C7)  # not measured
    close = replace(C7, unit_tv=(1.0, 0.2964, 0.5741))
    assert bases.value_c7(close).endswith(
        "at 100% of scales (mean TV to the one-hot at scale 1: base 100 0.296, e 0.574)"
    )


def test_c9_says_which_cells_echo_float32s_arithmetic():
    """A narrow format read in float32 arithmetic overflows where float32 does: the text
    counts its cells and says whether they sit at float32's own scales."""
    cells = (("float64", 10.0), ("float32", 1.0), ("float16", 1.0), ("bfloat16", 1.0))
    plain = replace(C9, tradeoff=cells)
    assert "computed in float32" not in bases.value_c9(plain)  # none read in float32
    echo = replace(plain, float32_formats=("float16", "bfloat16"))
    assert (
        "(float64@10, float32@1, float16@1, bfloat16@1); 2 of them in float16, bfloat16, "
        "computed in float32 arithmetic as frameworks do, so overflowing where float32 does "
        "(at float32's own scales); stable" in bases.value_c9(echo)
    )
    apart = replace(echo, tradeoff=(*cells[:3], ("bfloat16", 3.0)))
    assert "overflowing where float32 does; stable" in bases.value_c9(apart)


def test_c10_quotes_where_the_two_forms_differ_most():
    """The largest rates per scale meet near the share of vectors with a positive logit;
    the scale where naive and stabilised differ most says what stabilising buys."""
    assert "where they differ most" not in c10.value_c10(C10)  # none measured
    gap = replace(C10, widest_gap=((31.62, 0.92, 0.00982), (3.162, 0.831, 0.371)))
    assert (
        "depth 3 95% / 94%; where they differ most, depth 2 at scale 31.62: 92% / 0.982%, "
        "depth 3 at scale 3.162: 83.1% / 37.1%; NLL convexity" in c10.value_c10(gap)
    )
    one = replace(C10, widest_gap=((math.nan,) * 3, (1.0, 0.393, 0.129)))
    assert "; where they differ most, depth 3 at scale 1: 39.3% / 12.9%;" in (c10.value_c10(one))


def test_c8_says_which_vectors_its_rates_leave_out():
    """The rates are among the vectors whose logits are finite in the format: the share
    left out (the cast's) is quoted for each format that has one, and only there."""
    assert "input_nonfinite" not in stability.value_c8(C8)
    cast = replace(C8, input_nonfinite=(0.0, 0.0, 0.955))
    assert stability.value_c8(cast).endswith(
        "; every rate among the vectors whose logits are finite in the format: not so for up "
        "to 95.5% of float16's at a scale (input_nonfinite, the cast's)"
    )
    assert stability.value_c8(replace(C8, input_nonfinite=(0.0, 0.0, 0.0))) == (
        stability.value_c8(C8)
    )


def test_c10_says_when_training_falls_short_through_overflow_only():
    """C10's training reason read from C15's JSON: naive iterated exp short where its stable
    form is level is its overflow (C15's numerics, set aside there), and C10 says so; the
    stable form short too is a reason of the map's, named by its labels."""
    from softmaxlab.training.verdict import to_json

    naive = comparison("iterated_exp", 0.5, trains=False)
    level = TrainingResult((naive, comparison("iterated_exp(stable=True)", 0.95)))
    assert c10._c10_training(json.loads(to_json(level))) == (True, ("iterated_exp",), True)
    overflow = replace(C10, training_overflow_only=True)
    assert c10.verdict_c10(overflow) == HOLDS  # a reason against iterated exp still
    assert (
        "its naive forms train worse than softmax through their overflow (their stable forms "
        "are not told apart from softmax where they fall short: C15)"
        in c10.conditions_c10(overflow)
    )
    both = TrainingResult((naive, comparison("iterated_exp(stable=True)", 0.6)))
    short, labels, overflow_only = c10._c10_training(json.loads(to_json(both)))
    assert short and labels == ("iterated_exp", "iterated_exp(stable=True)") and not overflow_only
    named = replace(C10, training_labels=labels)
    assert (
        "it trains worse than softmax (iterated_exp, iterated_exp(stable=True))"
        in c10.conditions_c10(named)
    )
    assert c10._c10_training(None) == (None, (), False)


def test_c4_says_the_signed_share_grows_with_k():
    """The pooled signed share is the K grid's: a vector is invalid when its logits have
    both signs (at least 1 - 2^(1-K) of symmetric ones); the text gives its two ends."""
    signed = replace(C4, signed_invalid_max=0.9, signed_invalid=0.85)
    assert "per K" not in gradients.value_c4(signed)
    ends = replace(signed, signed_by_k=((2, 0.491), (10000, 1.0)))
    assert (
        "per K from 49.1% at K = 2 to 100% at K = 10,000: a vector with logits of both signs "
        "is invalid, so the pooled share is the K grid's) and" in gradients.value_c4(ends)
    )
    assert "only for positive scores (a zero score gives its class p = 0" in (
        gradients.conditions_c4(ends)
    )


def test_c4_says_what_c15_measured_of_linear_with_the_nll():
    """C4 reads C15's comparisons of linear normalisation with the NLL: settings where no
    run took a step (its loss not finite at the initial model) are named; none measured, no
    clause; every setting stepping, said so."""
    from softmaxlab.training.verdict import to_json

    idle = replace(comparison("linear", 0.1, trains=False), never_steps=True)
    stepping = comparison("linear", 0.9)
    other = replace(comparison("relu", 0.1, trains=False), never_steps=True)
    fenchel = replace(idle, loss="fenchel_young")  # another loss: not C4's cross-entropy
    study = TrainingResult((idle, stepping, other, fenchel))
    assert gradients._c4_training(json.loads(to_json(study))) == {
        "training_settings": 2,
        "training_never_steps": 1,
    }
    assert gradients._c4_training(None) == {}
    # the check: linear's settings where its chosen runs took steps, each from a non-zero
    # bias (TrainingResult.stepped_from_centres, as C15 reads them), are quoted; another
    # map's and those that never stepped are not
    centred = replace(comparison("linear", 0.86, reference=0.98), init_centre=1.0)
    level = replace(comparison("linear", 0.92, reference=0.917), init_centre=1.0)
    others = (replace(comparison("relu", 0.5), init_centre=1.0), replace(idle, init_centre=1.0))

    def check_fields(*rows):
        checked = with_check(study, (*rows, *others), check_init_centres=(0.0, 1.0, -1.0))
        return gradients._c4_training(json.loads(to_json(checked)))

    fields = check_fields(centred, level)
    assert fields == {
        "training_settings": 2,
        "training_never_steps": 1,
        "check_stepped": 2,
        "check_accuracy": (0.86, 0.92),
        "check_reference_accuracy": (0.917, 0.98),
        "check_short": 1,
        "check_positive": True,
    }
    # a setting that stepped from bias 0 in the check: the map trains from weights centred
    # at 0 there, and neither C4 nor C15 quotes the check's other starts
    assert "check_stepped" not in check_fields(centred, level, comparison("linear", 0.1))
    # one from a negative bias: quoted, and not called positive
    negative = replace(comparison("linear", 0.3), init_centre=-1.0)
    assert check_fields(centred, level, negative)["check_positive"] is False
    below = gradients.conditions_c4(
        replace(
            C4,
            signed_invalid_max=0.77,
            signed_invalid=0.75,
            **check_fields(centred, level, negative),
        )
    )
    assert "from a non-zero initial bias (C15's check) it took steps in 3, to a test " in below
    positive = gradients.conditions_c4(
        replace(C4, signed_invalid_max=0.77, signed_invalid=0.75, **fields)
    )
    assert (
        "it took no step in 1 of 2 settings: the loss was not finite at the initial model; "
        "from positive initial scores (C15's check) it took steps in 2, to a test accuracy of "
        "86% to 92% against softmax's 91.7% to 98%, short of it in 1; with softmax" in positive
    )
    signed = replace(C4, signed_invalid_max=0.77, signed_invalid=0.75)
    text = gradients.conditions_c4(replace(signed, training_settings=8, training_never_steps=8))
    assert (
        "signed logits give negative entries or entries > 1; in C15's training (a linear "
        "classifier, whose scores are signed) it took no step in 8 of 8 settings: the loss "
        "was not finite at the initial model; with softmax the gradient is exactly p - y" in text
    )
    assert "C15" not in gradients.conditions_c4(signed)
    valid = gradients.conditions_c4(replace(C4, training_settings=8))
    assert valid.startswith(
        "linear was valid on every measured vector; in C15's training it took steps in all 8 "
        "settings; with softmax"
    )
    # the verdict reads the sweep alone
    assert gradients.verdict_c4(replace(signed, training_never_steps=8, training_settings=8)) == (
        gradients.verdict_c4(signed)
    )


def test_c9_frontier_compares_distances_on_every_vector():
    """A naive row that loses outputs to overflow keeps the vectors it survives (naive e:
    TV 0.002 on its finite outputs, against 0.02 for the same map computed stably): its
    distance is its stable form's, and one without a stable form (base 3) is not compared,
    so no overflowing row is on the frontier by survivorship."""
    rows = [  # label, beta, stable, TV on finite outputs, overflow, non-finite outputs
        ("softmax", 1.0, True, 0.02, 0.0, 0.0),
        ("softmax(stable=False)", 1.0, False, 0.002, 0.1, 0.1),
        ("softmax(base=2, stable=False)", 0.69, False, 0.05, 0.0, 0.0),
        ("softmax(base=3, stable=False)", 1.1, False, 0.01, 0.05, 0.05),
    ]
    table = pd.DataFrame(
        [
            {
                "dtype": "float64",
                "scale": 100.0,
                "label": lab,
                "beta": b,
                "stable": st,
                "tv_to_argmax_finite": tv,
                "overflow_rate": ov,
                "nonfinite_output_rate": nf,
            }
            for lab, b, st, tv, ov, nf in rows
        ]
    )
    out, tradeoff = bases.frontier(table)
    assert out["tv_to_argmax_all"].tolist()[:3] == [0.02, 0.02, 0.05]
    assert math.isnan(out["tv_to_argmax_all"].iloc[3])
    assert out["pareto"].tolist() == [True, False, False, False]
    # naive e is closer than base 2 (on every vector, via its stable form) and overflows more
    assert tradeoff == [("float64", 100.0)]
    # without the stable form, naive e is not compared: no trade-off is left in the cell
    alone, none = bases.frontier(table.iloc[1:].reset_index(drop=True))
    assert none == [] and alone["pareto"].tolist() == [False, True, False]


def test_c3_names_its_secondary_measure():
    row = gradients.SPEC_C3.row(C3)
    assert row.value.startswith("primary, the NLL gradient of softmax (p - y)")
    assert "secondary, the output's Jacobian along one random direction (not a loss gradient)" in (
        row.value
    )
    vanishing = replace(C3, by_scale=(SCALES[0], c14.ScaleGradient(200.0, 1.0, 0.0, 1e-12, 0.0)))
    assert gradients.verdict_c3(vanishing) == FAILS


def test_c2_quotes_the_root_finding_interval_or_says_interpolated():
    assert "positive K=2: 2.683 (95% interval 2.5 to 2.9)" in distance.value_c2(C2)
    grid = replace(
        C2,
        crossovers=(
            distance.Crossover("positive", 2, 2.64, math.nan, math.nan, distance.INTERPOLATED),
        ),
    )
    assert "(interpolated between grid points): positive K=2: about 2.6" in distance.value_c2(grid)
    # The signed half is an invalid share, not a crossover.
    assert "86.9% of vectors (pooled), so no comparison is made there" in distance.conditions_c2(C2)


def test_c2_names_the_distributions_its_crossovers_belong_to():
    """A crossover is its distribution's (softmax ignores a shift, linear does not): the
    texts name the non-negative distributions measured, not non-negative logits at large;
    the headline, which quotes one number, by name."""
    named = replace(C2, measured=(("positive", "uniform on [0, 1]"),))
    assert distance.value_c2(named).startswith(
        "non-negative logits (positive: uniform on [0, 1]): softmax closer"
    )
    assert distance.value_c2(C2).startswith("non-negative logits: softmax closer")
    assert (
        "on non-negative logits (positive), once their scale exceeds"
        in (distance.headline_c2(named)[0])
    )
    assert "a shifted uniform, say) cross elsewhere" in distance.conditions_c2(named)


def test_c2_says_on_how_many_standard_errors_each_cells_order_rests():
    assert "standard errors" not in distance.value_c2(C2)  # not measured
    assert (
        "in 100% of 6 cells (the order in each cell by at least 2.7 standard errors of the "
        "paired difference, its spread bounded by the two means' spreads); crossover"
    ) in distance.value_c2(replace(C2, weakest_z=2.7049))


def test_c2_paired_bound_is_nan_where_a_spread_is_not_defined():
    """A cell of one vector has no std: pivot_table drops that column altogether."""
    rows = pd.DataFrame(
        {
            "distribution": ["positive"] * 2,
            "k": [2, 2],
            "scale": [1.0, 1.0],
            "label": ["softmax", "linear"],
            "mean": [0.2, 0.3],
            "std": [np.nan, np.nan],
            "n": [1, 1],
        }
    )
    wide = rows.pivot_table(
        index=["distribution", "k", "scale"], columns="label", values=["mean", "std", "n"]
    )
    assert "std" not in wide.columns.get_level_values(0)
    assert np.isnan(distance._paired_z_bound(wide)).all()
    both = rows.assign(std=[0.1, 0.2], n=[100, 100]).pivot_table(
        index=["distribution", "k", "scale"], columns="label", values=["mean", "std", "n"]
    )
    assert distance._paired_z_bound(both).iloc[0] == pytest.approx(0.1 / (0.3 / 10))


def test_c2_describes_a_distribution_by_its_family_and_parameters():
    assert distance._law({"family": "uniform", "low": 0, "high": 1}) == "uniform on [0, 1]"
    assert distance._law({"family": "exponential", "scale": 2.5}) == "exponential(scale=2.5)"
    # the family's defaults filled in
    assert distance._law({"family": "lognormal"}) == "lognormal(mean=0, sigma=1)"


def test_c2_a_crossover_makes_the_verdict_conditional_whatever_the_grid():
    # a grid above the crossover: softmax closer in every cell, yet linear is closer below
    assert C2.closer_share == 1.0 and distance.verdict_c2(C2) == CONDITIONAL
    below = replace(C2, closer_share=0.0)  # a grid below it: linear closer in every cell
    assert distance.verdict_c2(below) == CONDITIONAL
    no_crossing = distance.Crossover("positive", 2, math.nan, math.nan, math.nan, "root finding")
    assert distance.verdict_c2(replace(C2, crossovers=(no_crossing,))) == HOLDS


def test_c2_headline_gives_the_crossover_scales_not_the_grid_share():
    two = replace(
        C2,
        closer_share=0.545,
        crossovers=(
            *C2.crossovers,
            distance.Crossover("positive", 1000, 1.596, 1.59, 1.6, distance.ROOT_FINDING),
            distance.Crossover("uniform", 10, math.nan, math.nan, math.nan, distance.ROOT_FINDING),
        ),
    )
    sentence, value = distance.headline_c2(two)
    # an estimate, with its interval (K = 2's, the largest)
    assert (
        "once their scale exceeds 2.7 (95% interval 2.5 to 2.9; the largest crossover" in sentence
    )
    assert value == 2.683 and "54.5%" not in sentence
    # a crossover without a finite interval is quoted alone
    open_ended = replace(
        two, crossovers=(distance.Crossover("positive", 2, 2.683, 2.5, math.inf, "root finding"),)
    )
    assert "exceeds 2.7 (the largest crossover" in distance.headline_c2(open_ended)[0]
    # without a crossover, the share of cells (no scale to quote)
    none = replace(two, crossovers=two.crossovers[2:])
    sentence, value = distance.headline_c2(none)
    assert value == 0.545 and "closer in 54.5% of the measured cells" in sentence


def test_c13_reports_the_order_statistics_comparison():
    with_ref = replace(
        C13,
        reference_cells=12,
        reference_inside=11,
        reference_max_difference=0.01,
        reference_vector_sets=2,
    )
    assert (
        "in 11/12 cells (2 independent sets of vectors, one per K, each reused at every scale; "
        "max |sweep - exact| 0.01)" in c13.value_c13(with_ref)
    )
    assert "order-statistics" not in c13.value_c13(C13)
    assert "standard errors" not in c13.value_c13(with_ref)
    # in standard errors: the farthest cell, and why where its values are skewed
    near = replace(
        with_ref,
        reference_within_two_se=10,
        reference_farthest=("normal", 10, 3.0, 0.32, 0.324, -2.6, 0.31),
    )
    text = c13.value_c13(near)
    assert (
        "max |sweep - exact| 0.01), within 2 standard errors of the sweep's mean (sample std / "
        "sqrt n) in 10/12; the farthest, normal K=10 at scale 3: 0.32 against 0.324, 2.6 "
        "standard errors" in text
    )
    assert "skewed" not in text
    skewed = replace(near, reference_farthest=("normal", 2, 1000.0, 2.4e-7, 3.9e-4, -2266.0, 0.0))
    assert (
        "2.4e-07 against 3.9e-04, 2,266 standard errors (median 0: TV is so skewed there"
        in c13.value_c13(skewed)
    )


def test_c15_headline_counts_the_alternatives_that_fall_short():
    sentence, value = training.headline_c15(C15)
    assert value == 1.0 and " 1 of the alternatives" in sentence and "(C15)" in sentence
    assert "longer training" not in sentence  # no check was run
    # linear's shortfall trained again: still short, or closed (then nothing persists and
    # the verdict no longer holds)
    for again, persist, outcome in ((0.5, 1, CONDITIONAL), (0.96, 0, FAILS)):
        checked = with_check(C15, [_comparison("linear", again)])
        sentence, value = training.headline_c15(checked)
        assert value == persist
        assert f", {persist} of the alternatives to softmax fell short" in sentence
        assert "even with longer training and a wider learning-rate grid (C15)." in sentence
        assert training.verdict_c15(checked) == outcome
        # a check that also trained from smaller initial weights says so
        scaled = replace(checked, check_init_scales=(0.01, 0.0001))
        assert (
            "even with longer training, a wider learning-rate grid and smaller initial "
            "weights (C15)." in (training.headline_c15(scaled)[0])
        )
        # and from positive initial scores (a bias of 1); a negative bias is not "positive"
        centred = replace(scaled, check_init_centres=(0.0, 1.0))
        assert (
            "even with longer training, a wider learning-rate grid, smaller initial weights "
            "and positive initial scores (C15)." in training.headline_c15(centred)[0]
        )
        below = replace(scaled, check_init_centres=(0.0, -1.0))
        assert "weights and other initial biases (C15)." in training.headline_c15(below)[0]
    # a counted alternative that does not train there: the headline says how many
    idle = with_check(C15, [replace(_comparison("linear", 0.5), trains=False, never_steps=True)])
    sentence, value = training.headline_c15(idle)
    assert value == 1.0
    assert (
        "learning-rate grid; 1 of them never take a step there (their loss is not finite "
        "at the initial model), 0 are trained and end less accurate (C15)." in sentence
    )


def test_c8_says_in_which_arithmetic_the_narrow_formats_held():
    """C8's "never overflows in any measured format" is about the arithmetic each format was
    read in: the narrow formats read in float32 arithmetic are named (their native mode,
    every operation rounded, can overflow in x - max x and is not what C8 reads); none
    named when none was read so."""
    scoped = replace(C8, float32_formats=("float16",))
    text = stability.conditions_c8(scoped)
    assert (
        "any measured format (float16 as frameworks compute them, in float32 arithmetic; " in text
    )
    # and what the native mode does instead, named (the audit's two float16 cells)
    assert "(compute: native), x - max x itself overflows to -inf where the logits span" in text
    assert "frameworks" not in stability.conditions_c8(C8)


#: C8 with float16 read in float32 arithmetic and also measured natively, where an
#: intermediate overflowed in 0.05% of the vectors and the output stayed finite.
C8_NATIVE = replace(
    C8,
    float32_formats=("float16",),
    native_dtypes=("float16",),
    native_overflow=(0.0005,),
    native_nonfinite=(0.0,),
)


def test_c8_quotes_the_native_mode_where_it_was_measured():
    """Measured natively, the conditions quote the mode's rates instead of describing it;
    an intermediate overflow with finite outputs leaves the verdict as it was."""
    assert stability.verdict_c8(C8_NATIVE) == HOLDS
    text = stability.conditions_c8(C8_NATIVE)
    assert (
        "(float16 as frameworks compute them, in float32 arithmetic); with every operation "
        "rounded to the format (compute: native, measured in float16), an intermediate "
        "overflowed in up to 0.05% of float16's vectors per scale (pooled; " in text
    )
    # outside the frameworks' parenthesis, and said not to count
    assert text.endswith(
        "and the output stays finite (non-finite outputs 0%): reported, not counted, as the "
        "verdict reads each format in the frameworks' arithmetic; small probabilities still "
        "underflow to 0 at large scales"
    )
    assert "x - max x itself overflows to -inf" not in text  # the unmeasured description
    # the pooled rate averages the one cell that overflowed with those that cannot: quoted
    worst = replace(C8_NATIVE, native_worst=("float16", "student_t", 1000, 1000.0, 8 / 991, 991))
    assert (
        "vectors per scale (pooled; in one cell 0.807%, 8 of 991 vectors: float16 student_t "
        "K=1,000 at scale 1,000; x - max x where" in stability.conditions_c8(worst)
    )
    quiet = replace(C8_NATIVE, native_overflow=(0.0,))
    assert "measured in float16), no intermediate overflowed (non-finite outputs 0%);" in (
        stability.conditions_c8(quiet)
    )
    assert "not counted" not in stability.conditions_c8(quiet)  # nothing to leave out


def test_c8_native_mode_with_non_finite_outputs_is_a_condition():
    """A stable output that is non-finite natively makes "never overflows" hold only in the
    frameworks' arithmetic: holds with conditions, which name the format and the rate."""
    broken = replace(C8_NATIVE, native_nonfinite=(0.25,))
    assert broken.native_broken == ["float16"]
    assert stability.verdict_c8(broken) == CONDITIONAL
    assert "and the output is non-finite in up to 25% of float16's vectors;" in (
        stability.conditions_c8(broken)
    )
    assert "not counted" not in stability.conditions_c8(broken)  # it is counted
    # with no naive overflow either, the conditions still say so
    calm = replace(broken, naive_overflow=(0.0, 0.0, 0.0))
    assert stability.verdict_c8(calm) == CONDITIONAL
    assert "(the naive one did not overflow here either)" in stability.conditions_c8(calm)
    # where the headline mode itself failed in a narrow format, the native rates follow
    failing = replace(broken, stable_overflow=(0.0, 0.0, 0.1), harmless=("float16",))
    assert stability.verdict_c8(failing) == CONDITIONAL
    assert "; with every operation rounded to the format (compute: native, measured in " in (
        stability.conditions_c8(failing)
    )


def test_c13_median_counts_a_distribution_that_never_gets_there():
    """The default sweep's K = 1000: normal 24.17, positive never, gumbel 8.40, student_t
    2.74; leaving positive out gave 8.4 (faster than K = 100's 21.4); counted as beyond
    every scale, the median is (8.40 + 24.17) / 2."""
    scales = pd.Series([24.17, math.nan, 8.40, 2.74])
    assert c13.censored_median(scales) == pytest.approx(16.285)
    assert c13.censored_median(pd.Series([1.0, math.nan, math.nan])) == math.inf
    assert c13.censored_median(pd.Series([3.0, 1.0, 2.0])) == 2.0
    text = c13.value_c13(
        replace(C13, reach=((1000, math.inf, 2, 3, 5.0, math.inf), (10, 9.16, 0, 6, 8.5, 9.9)))
    )
    assert "K=1000 not reached by half (2/3 not reached), K=10 9.16 (8.5 to 9.9)" in text
    assert (
        "with its 95% interval (median over distributions; interpolated in log scale and log "
        "TV; one that never gets there counted as beyond every" in text
    )
    # the pooled max probability says when K's distributions differ
    assert "(pooled over each K's distributions, not the same at every K)" in c13.value_c13(
        replace(C13, same_distributions=False)
    )
    assert "softmax vs ssmax (pooled):" in c13.value_c13(C13)
    one = replace(C13, common=("normal",))
    assert "softmax vs ssmax (normal: the one distribution measured at every K):" in (
        c13.value_c13(one)
    )
    assert "TV < 0.1 with its 95% interval (normal: the one distribution measured at every K;" in (
        c13.value_c13(one)
    )
    two = replace(C13, common=("normal", "gumbel"))
    assert "(pooled over normal, gumbel: the distributions measured at every K):" in (
        c13.value_c13(two)
    )


def test_c13_says_when_the_fading_is_not_steady():
    faded = replace(C13, faded=("normal", "gumbel"), held=(), faded_unsteadily=("gumbel",))
    text = c13.conditions_c13(faded)
    assert (
        "is lower at the largest K than at the smallest for normal, gumbel (rising at some step "
        "in K for gumbel);" in text
    )
    assert "rising" not in c13.conditions_c13(replace(faded, faded_unsteadily=()))
    # the others: not told apart by the intervals, or higher at the largest K
    others = replace(faded, faded_unsteadily=(), held=("student_t",), rose=("mine",))
    assert (
        "for normal, gumbel (not told apart by the 95% intervals for student_t; higher for "
        "mine);" in c13.conditions_c13(others)
    )


def _max_prob(dist, means, ss_means, half=0.03):
    """A C13_max_prob table of one distribution: K = 2, 10, 100, intervals mean -/+ half."""
    frame = pd.DataFrame({"distribution": dist, "k": [2, 10, 100][: len(means)]})
    for label, values in (("softmax", means), ("ssmax", ss_means)):
        frame[f"max_prob_{label}"] = values
        frame[f"max_prob_{label}_low"] = [v - half for v in values]
        frame[f"max_prob_{label}_high"] = [v + half for v in values]
    return frame


def test_c13_fading_is_read_from_the_intervals():
    """The default sweep's student_t at scale 1: softmax's max probability 0.762 at K = 2
    and 0.715 at K = 1000, intervals overlapping (it falls to 0.47 at K = 10, then rises):
    not told apart, where comparing the means alone called it faded."""
    fade = pd.concat(
        [
            _max_prob("falls", [0.7, 0.3, 0.1], [0.7, 0.7, 0.7]),
            _max_prob("wavers", [0.7, 0.3, 0.5], [0.7, 0.6, 0.5]),
            _max_prob("overlaps", [0.76, 0.47, 0.715], [0.7, 0.8, 0.9]),
            _max_prob("rises", [0.3, 0.5, 0.9], [0.9, 0.5, 0.3]),
            _max_prob("one_k", [0.5], [0.5]),
        ],
        ignore_index=True,
    )
    faded, held, rose, ss_faded, ss_held, unsteady = c13._fading(fade)
    assert faded == ["falls", "wavers"] and unsteady == ["wavers"]
    assert held == ["overlaps"] and rose == ["rises"]
    assert ss_faded == ["wavers", "rises"] and ss_held == ["falls", "overlaps"]


def test_c13_says_later_for_larger_k_only_where_measured():
    """ "Later for larger K" is each distribution's own measurement (the scale where TV
    falls below the target grows with its K, told apart by the intervals: c13.trend),
    named per distribution, never asserted for all: the default sweep's student_t reaches
    it at scale 8.2 for K = 10 and 5.5 for K = 100."""
    faded = replace(C13, faded=("normal", "student_t"), held=())
    both = replace(faded, later=("normal",), not_later=("student_t",))
    assert "grows, later for larger K in normal (not in student_t);" in c13.conditions_c13(both)
    three = replace(both, later_not_told_apart=("gumbel",))
    assert (
        "grows, later for larger K in normal (not in student_t; not told apart by the 95% "
        "intervals in gumbel);" in c13.conditions_c13(three)
    )
    neither = replace(faded, later=(), not_later=("student_t",))
    text = c13.conditions_c13(neither)
    assert "grows (later for larger K in no distribution with two K: not in student_t);" in text
    untold = replace(faded, later=(), later_not_told_apart=("gumbel",))
    assert (
        "(later for larger K in no distribution with two K: not told apart by the 95% "
        "intervals in gumbel);" in c13.conditions_c13(untold)
    )
    assert "later for larger K" not in c13.conditions_c13(replace(faded, not_later=()))
    assert "than at the smallest for normal, student_t" in text


def test_c13_quotes_the_exact_scale_where_tv_falls_below():
    one = replace(C13, exact_reach=(("normal", 2, 3.7474, True), ("normal", 10, 10.722, False)))
    assert (
        "; the exact scale where E[TV] = 0.1 (order statistics): K=2 3.75, K=10 10.7 (in the "
        "sweep's 95% interval for 1/2)" in c13.value_c13(one)
    )
    two = replace(one, exact_reach=(*one.exact_reach, ("wide", 2, 1.8737, True)))
    assert "normal K=2 3.75, normal K=10 10.7, wide K=2 1.87 (in " in c13.value_c13(two)
    assert "exact scale" not in c13.value_c13(C13)


def test_c6_an_output_without_mass_is_not_the_uniform_distribution():
    """Where 1/K rounds to 0 (float8_e4m3fn at K = 10^4) every entry is 0: equal, and its TV
    of 1/2 lies within the format's sum tolerance (2 there), yet it is no distribution. Such
    cases do not count as uniform, and the verdict is conditional, naming them."""
    massless = replace(
        C6, massless=(("float8_e4m3fn", 10000, False), ("float8_e4m3fn", 10000, True))
    )
    assert bases.verdict_c6(massless) == CONDITIONAL
    assert bases.verdict_c6(C6) == HOLDS
    assert "in 6/8 (format, K, stable) cases" in bases.value_c6(massless)
    text = bases.conditions_c6(massless)
    assert text == (
        "exact in float64; 1/K rounds to 0 in float8_e4m3fn K=10000: every entry is 0, "
        "equal but no distribution"
    )
    # equal entries off 1/K beyond one rounding (below the normal range): no distribution
    off = replace(massless, unnormalised=(("float8_e4m3fn", 1000, True, 1.953125),))
    assert bases.verdict_c6(off) == CONDITIONAL
    assert bases.verdict_c6(replace(C6, unnormalised=off.unnormalised)) == CONDITIONAL
    assert "in 5/8 (format, K, stable) cases" in bases.value_c6(off)
    assert (
        "1/K lies below the normal range, where the format's spacing is coarse, and rounds "
        "far from it in float8_e4m3fn K=1000 (sum 1.95): equal entries, but no distribution; "
        "1/K rounds to 0" in bases.conditions_c6(off)
    )


def test_c11_says_how_many_problems_test_nothing():
    """With K = 2 the two constraints (sum p = 1, the mean) fix p: such problems agree with
    Boltzmann's by construction, and the text counts them apart."""
    assert "test nothing" not in theory.value_c11(C11)
    assert "(14 of them with K = 2, where sum p = 1 and the mean fix p: they test nothing)" in (
        theory.value_c11(replace(C11, fixed=14))
    )
