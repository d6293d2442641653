"""Every metric on hand-made vectors whose answers are known in closed form."""

import math

import ml_dtypes
import numpy as np
import pytest

from softmaxlab import metrics


def test_hardmax_ties_share_mass():
    np.testing.assert_array_equal(metrics.hardmax([[1.0, 3.0, 3.0, 0.0]]), [[0, 0.5, 0.5, 0]])


def test_distances_single_maximiser():
    x = np.array([[2.0, 4.0, 2.0, 1.0]])
    p = np.array([[0.1, 0.6, 0.2, 0.1]])
    h = metrics.hardmax(x)
    assert metrics.tv_to_argmax(p, h)[0] == pytest.approx(1 - 0.6)
    assert metrics.l2_to_argmax(p, h)[0] == pytest.approx(math.sqrt(0.01 + 0.16 + 0.04 + 0.01))
    assert metrics.kl_to_argmax(p, h)[0] == pytest.approx(-math.log(0.6))


def test_distances_with_tie():
    h = metrics.hardmax([[1.0, 1.0]])
    p = np.array([[0.75, 0.25]])
    assert metrics.tv_to_argmax(p, h)[0] == pytest.approx(0.25)
    # KL(h || p) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25)
    assert metrics.kl_to_argmax(p, h)[0] == pytest.approx(0.5 * math.log(2 / 3) + 0.5 * math.log(2))


def test_kl_infinite_when_argmax_mass_is_zero():
    h = metrics.hardmax([[0.0, 1.0]])
    assert metrics.kl_to_argmax(np.array([[1.0, 0.0]]), h)[0] == math.inf


def test_entropy_known_values():
    p = np.array([[0.25] * 4, [1.0, 0, 0, 0], [0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(metrics.entropy(p), [math.log(4), 0.0, math.log(2)])


def test_argmax_agrees():
    x = np.array([[0.0, 2.0, 1.0], [0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    p = np.array([[0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [np.nan, 0.5, 0.5]])
    np.testing.assert_array_equal(metrics.argmax_agrees(p, x), [1, 0, 1, 0])


def test_invalid_detects_each_failure():
    p = np.array(
        [
            [0.5, 0.5],
            [1.2, -0.2],  # negative entry
            [0.6, 0.6],  # sums to 1.2
            [np.nan, 1.0],
            [np.inf, 0.0],
        ]
    )
    np.testing.assert_array_equal(metrics.invalid(p, np.float64, 2), [0, 1, 1, 1, 1])


def test_invalid_tolerance_scales_with_format():
    # 0.5 + 0.53 is off by 0.03: far outside float64's tolerance, inside float8_e4m3fn's.
    p = np.array([[0.5, 0.53]])
    assert metrics.invalid(p, np.float64, 2)[0] == 1
    assert metrics.invalid(p, ml_dtypes.float8_e4m3fn, 2)[0] == 0


def test_errors_against_reference():
    p = np.array([[0.0, 0.5, 0.5]], dtype=np.float16)
    p_ref = np.array([[1e-9, 0.5 - 1e-9, 0.5]])
    underflow, abs_err, rel_err = metrics.errors(p, p_ref)
    assert underflow[0] == 1
    assert abs_err[0] == pytest.approx(1e-9)
    assert rel_err[0] == pytest.approx(1.0)  # the flushed entry is 100% off


def test_no_underflow_when_reference_is_zero_too():
    p = np.array([[0.0, 1.0]])
    underflow, abs_err, rel_err = metrics.errors(p, np.array([[0.0, 1.0]]))
    assert (underflow[0], abs_err[0], rel_err[0]) == (0, 0, 0)


def test_directional_grad_norm_linear_map_is_exact():
    # f(x) = A x has J v = A v exactly; central differences are exact for linear maps.
    a = np.array([[2.0, 0.0], [1.0, 3.0]])
    v = np.array([[0.6, 0.8]])
    got = metrics.directional_grad_norm(lambda y: y @ a.T, np.array([[1.0, -2.0]]), v)
    assert got[0] == pytest.approx(np.linalg.norm(a @ v[0]), rel=1e-9)


def test_directional_grad_norm_of_softmax_matches_jacobian():
    # softmax Jacobian J = diag(p) - p p^T (Bridle 1990); an analytic oracle.
    x = np.array([0.3, -1.2, 2.0, 0.5])
    p = np.exp(x) / np.exp(x).sum()
    jac = np.diag(p) - np.outer(p, p)
    v = np.array([0.5, -0.5, 0.5, 0.5])

    def softmax(y):
        e = np.exp(y - y.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    got = metrics.directional_grad_norm(softmax, x[None], v[None])
    assert got[0] == pytest.approx(np.linalg.norm(jac @ v), rel=1e-8)


def test_vector_metrics_on_uniform_output():
    x = np.array([[0.0, 1.0, 2.0, 3.0]])
    p = np.full((1, 4), 0.25)
    out = metrics.vector_metrics(x, p, np.array([False]), p.copy())
    assert out["tv_to_argmax"][0] == pytest.approx(0.75)
    assert out["normalized_entropy"][0] == pytest.approx(1.0)
    assert out["max_prob"][0] == 0.25
    assert out["argmax_agrees"][0] == 0
    assert out["support_fraction"][0] == 1
    assert out["invalid"][0] == 0 and out["nan"][0] == 0 and out["overflow"][0] == 0
    assert set(out) | {"grad_norm", "grad_vanishes"} == set(metrics.METRICS)


def test_every_metric_has_a_definition():
    assert set(metrics.DEFINITIONS) == set(metrics.METRICS)
    assert all(text.endswith(".") for text in metrics.DEFINITIONS.values())
