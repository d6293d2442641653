"""softmaxlab.paired: the paired sign-flip test and Holm's adjustment. Oracles: every sign
vector enumerated, scipy's exact binomial test (McNemar's test where each difference is
+-1), and Holm's procedure worked by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from softmaxlab.paired import holm, sign_flip_p


def _enumerated(d: np.ndarray) -> float:
    """P(sum s_i |d_i| >= sum d_i) over every sign vector, counted."""
    magnitudes = np.abs(d[d != 0])
    observed = d.sum()
    sums = [
        np.dot(signs, magnitudes) for signs in itertools.product((-1, 1), repeat=len(magnitudes))
    ]
    return float(np.mean(np.asarray(sums) >= observed)) if magnitudes.size else 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-3, 3), max_size=11))
def test_sign_flip_p_is_the_enumerated_probability(values):
    d = np.array(values, dtype=np.int64)
    assert sign_flip_p(d) == pytest.approx(_enumerated(d), abs=1e-12)


@pytest.mark.parametrize("only_a, only_b", [(10, 5), (3, 17), (40, 20), (300, 100), (0, 0)])
def test_unit_differences_give_mcnemars_exact_test(only_a, only_b):
    d = np.array([1] * only_a + [-1] * only_b + [0] * 50)
    expected = (
        stats.binomtest(only_a, only_a + only_b, 0.5, alternative="greater").pvalue
        if only_a + only_b
        else 1.0
    )
    assert sign_flip_p(d) == pytest.approx(expected, rel=1e-10)


def test_a_few_points_by_hand():
    assert sign_flip_p([1, 1, 1]) == 1 / 8  # all three signs must stay
    assert sign_flip_p([2, 1]) == 1 / 4  # only (+, +) reaches 3
    assert sign_flip_p([2, -1]) == 2 / 4  # (+, -) and (+, +) reach 1
    assert sign_flip_p([0, 0]) == 1.0 and sign_flip_p([]) == 1.0
    with pytest.raises(ValueError, match="integers"):
        sign_flip_p([0.5, 1.0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-2, 2), max_size=400))
def test_the_two_sides_cover_everything(values):
    # P(S >= s) + P(S <= s) = 1 + P(S = s) >= 1, and flipping every sign swaps the sides
    d = np.array(values, dtype=np.int64)
    p_up, p_down = sign_flip_p(d), sign_flip_p(-d)
    assert 0 < p_up <= 1 and 0 < p_down <= 1
    assert p_up + p_down >= 1 - 1e-12


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    adjusted = holm([np.nan, 0.02, 0.04])
    assert np.isnan(adjusted[0]) and adjusted[1:] == pytest.approx([0.04, 0.04])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12), st.floats(0.001, 0.2))
def test_holm_rejects_what_the_step_down_procedure_rejects(p_values, alpha):
    # Holm 1979: order the p-values; reject while p_(i) <= alpha / (m - i + 1), then stop
    p = np.array(p_values)
    m = len(p)
    rejected = np.zeros(m, dtype=bool)
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (m - rank):
            break
        rejected[i] = True
    adjusted = holm(p)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1)
    # the adjusted p is a product, so compare away from the boundary's rounding
    clear = np.abs(adjusted - alpha) > 1e-12
    assert np.array_equal((adjusted <= alpha)[clear], rejected[clear])
