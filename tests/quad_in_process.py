"""The quad reference's tests that run in the test process: they import numpy_quaddtype,
which changes numpy's promotion of Python floats with bfloat16 and float8_e4m3fn for the
rest of the process, so tests/test_quad_reference.py runs this module in a process of its
own (its name keeps pytest from collecting it with the others; tests/conftest.py fails a
collected test that imports the package)."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from test_quad_reference import DEFAULT, REFERENCE_TOL

import softmaxlab
from softmaxlab import dtypes, manifest, sweep
from softmaxlab.config import method_specs
from softmaxlab.metrics import ERROR_METRICS, METRICS
from softmaxlab.sweep import Cell

QUAD = dtypes.quad_dtype()
pytestmark = pytest.mark.skipif(QUAD is None, reason="numpy_quaddtype is not installed")


def _mp(values) -> list:
    """Exact mpmath values of an array of quad or long double entries (quad via its
    34-digit text, which round-trips; long double via its integer ratio)."""
    out = []
    for v in np.asarray(values).ravel():
        if not np.isfinite(v):
            out.append(mpmath.mpf(float(v)))
        elif v.dtype == np.longdouble:
            num, den = v.as_integer_ratio()
            out.append(mpmath.mpf(num) / den)
        else:
            out.append(mpmath.mpf(str(v)))
    return out


def _logits(rows: int = 3, k: int = 12, scale: float = 4.0) -> np.ndarray:
    return np.random.default_rng(20261201).standard_normal((rows, k)) * scale


def test_float64_reference_is_long_double_where_wider_else_quad(monkeypatch):
    assert dtypes.float64_reference() == np.longdouble  # x87 extended here
    assert "64-bit significand" in manifest.machine()["float64_reference"]
    monkeypatch.setattr(dtypes, "LONGDOUBLE_IS_WIDER", False)
    assert dtypes.float64_reference() == QUAD
    assert dtypes.reference_dtype("float64") == QUAD
    assert dtypes.reference_dtype("float32") == np.float64
    assert manifest.machine()["float64_reference"].startswith("IEEE quad")
    monkeypatch.setattr(dtypes, "quad_dtype", lambda: None)
    assert dtypes.float64_reference() is None
    monkeypatch.setattr(dtypes.importlib.util, "find_spec", lambda name: None)
    assert manifest.machine()["float64_reference"].startswith("none")


def test_quad_softmax_is_quad_accurate_against_mpmath():
    """Quad softmax is within 2^-100 of the exact value at 50 digits: the arithmetic is
    really quad's (113 bits), not float64 or long double in disguise (2^-53, 2^-64)."""
    x = _logits()
    p = softmaxlab.normalize(x.astype(QUAD), "softmax")
    assert p.dtype == QUAD
    with mpmath.workdps(50):
        for row, got in zip(x, p, strict=True):
            terms = [mpmath.exp(mpmath.mpf(float(v)) - mpmath.mpf(float(row.max()))) for v in row]
            total = mpmath.fsum(terms)
            for value, term in zip(_mp(got), terms, strict=True):
                exact = term / total
                assert abs(value - exact) <= 2.0**-100 * exact


@pytest.mark.parametrize(
    "spec", method_specs(DEFAULT), ids=[label for _, _, label in method_specs(DEFAULT)]
)
def test_every_default_method_in_quad_agrees_with_long_double(spec):
    """Each default method computed in quad lies within 2^-58 (relative, plus 2^-58 times
    the row's largest entry for the sparse maps' zeros and cancellations) of the long
    double reference the sweep uses on this machine, compared exactly in mpmath: either is
    a reference for float64's errors, to 1/32 of float64's roundoff."""
    name, params, _ = spec
    x = _logits()
    with np.errstate(all="ignore"):
        p_quad = softmaxlab.normalize(x.astype(QUAD), name, **params)
        p_ld = softmaxlab.normalize(x.astype(np.longdouble), name, **params)
    assert p_quad.dtype == QUAD and p_quad.shape == x.shape
    quad, ld = _mp(p_quad), _mp(p_ld)
    largest = max(abs(v) for v in ld if mpmath.isfinite(v))
    for a, b in zip(quad, ld, strict=True):
        if not mpmath.isfinite(b):  # NaN rows (iterated_exp's overflow): NaN in both
            assert not mpmath.isfinite(a)
            continue
        assert abs(a - b) <= REFERENCE_TOL * (abs(b) + largest * 2.0**-6)


def _summaries(config, cells):
    frame = sweep.run_cells(config, cells)
    return frame.set_index(["scale", "label", "metric"]).sort_index()


def test_float64_cells_measure_errors_against_quad_where_long_double_is_float64(monkeypatch):
    """With long double taken for float64 (as on Windows), a float64 cell's error metrics
    are measured against quad on its first error_vectors vectors, within 2^-58 of the long
    double ones (means of per-vector values, so the bound holds for them too); every other
    metric is the same bits. Without quad either, they are not measured (n = 0)."""
    config = {
        **DEFAULT,
        "vectors": {"elements": 2000, "min": 40, "max": 40},
        "grad_vectors": 8,
        "error_vectors": 6,
        "methods": DEFAULT["methods"][::3],
    }
    cells = [Cell("normal", scale, 50, "float64", "native") for scale in (1.0, 100.0)]
    with_ld = _summaries(config, cells)
    monkeypatch.setattr(dtypes, "LONGDOUBLE_IS_WIDER", False)
    with_quad = _summaries(config, cells)
    errors = with_ld.index.get_level_values("metric").isin(ERROR_METRICS)
    assert with_ld[~errors].equals(with_quad[~errors])
    measured = with_quad[errors]
    assert set(measured["n"]) <= set(range(config["error_vectors"] + 1))
    assert (measured["n"] == config["error_vectors"]).any()
    assert measured["n"].equals(with_ld[errors]["n"])
    for column in ("mean", "median"):
        a, b = with_ld[errors][column].to_numpy(), with_quad[errors][column].to_numpy()
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(a)
        assert np.all(np.abs(a[ok] - b[ok]) <= REFERENCE_TOL * np.maximum(np.abs(a[ok]), 1.0))
    assert (with_quad[errors]["mean"].to_numpy() != with_ld[errors]["mean"].to_numpy()).any()

    monkeypatch.setattr(dtypes, "quad_dtype", lambda: None)
    without = _summaries(config, cells)
    assert (without[errors]["n"] == 0).all()
    assert without[~errors].equals(with_ld[~errors])
    assert len(METRICS) * len(config["methods"]) * len(cells) == len(without)
