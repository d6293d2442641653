"""float64's error reference where long double is float64 itself (Windows, macOS arm64):
IEEE quad from numpy_quaddtype (softmaxlab.dtypes.float64_reference). This machine's long
double is x87 extended, so the tests switch dtypes.LONGDOUBLE_IS_WIDER off to run the
fallback, and check it against mpmath, against the long double reference, and in the
sweep."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pandas as pd
import pytest
import yaml
from sweeps import TINY

import softmaxlab
from softmaxlab import dtypes, manifest, sweep
from softmaxlab.config import load_config_file, method_specs, validate
from softmaxlab.metrics import ERROR_METRICS, METRICS
from softmaxlab.sweep import Cell

QUAD = dtypes.quad_dtype()
pytestmark = pytest.mark.skipif(QUAD is None, reason="numpy_quaddtype is not installed")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = validate(load_config_file(ROOT / "config" / "config.yaml"))
# Where float64 has 53 bits, a reference within 2^-58 of the exact p changes a measured
# float64 error by at most 1/32 of float64's unit roundoff (2^-53).
REFERENCE_TOL = 2.0**-58


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


def test_validating_a_config_does_not_import_quad():
    """Only the sweep's float64 reference imports numpy_quaddtype (it changes numpy's
    promotion of Python floats with bfloat16, which the training study computes in):
    validating the config and recording the machine do not, even where quad is the
    reference."""
    code = (
        "import sys; from softmaxlab import dtypes, manifest; dtypes.LONGDOUBLE_IS_WIDER = False;"
        "from softmaxlab.config import load_config_file, validate;"
        "validate(load_config_file('config/config.yaml'));"
        "print(manifest.machine()['float64_reference'], 'numpy_quaddtype' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.split()[:2] == ["IEEE", "quad"] and out.split()[-1] == "False"


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


_SWEEP_DIGEST = """
import hashlib, sys
if sys.argv[1] == "quad":
    import numpy_quaddtype  # noqa: F401
from softmaxlab import sweep
from softmaxlab.config import load_config_file, validate
from softmaxlab.sweep import Cell
from softmaxlab.sweep.plan import compute_modes
config = validate(load_config_file("config/config.yaml"))
config.update(vectors={"elements": 600, "min": 12, "max": 12}, grad_vectors=4, error_vectors=3)
cells = [
    Cell("normal", scale, k, dtype, mode)
    for k in (3, 60)
    for scale in (0.1, 1000.0)
    for dtype in config["dtypes"]
    for mode in compute_modes(config, dtype)
]
frame = sweep.run_cells(config, cells)
print(len(frame), hashlib.sha256(frame.to_csv().encode()).hexdigest())
"""


def test_importing_quad_changes_no_bit_of_a_sweep():
    """numpy_quaddtype, once imported, makes numpy promote a Python float with bfloat16 to
    float64 (float32 without it). The methods never rely on that promotion: a sweep of
    every format, compute mode and default method computes the same bits with the package
    imported first as without it (each in a fresh process)."""
    probe = "import ml_dtypes, numpy as np; print((np.ones(2, ml_dtypes.bfloat16) * 0.5).dtype)"
    promoted = subprocess.run(
        [sys.executable, "-c", "import numpy_quaddtype; " + probe],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert promoted == "float64"  # the side effect is real: this test guards against it
    digests = [
        subprocess.run(
            [sys.executable, "-c", _SWEEP_DIGEST, mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.split()
        for mode in ("plain", "quad")
    ]
    assert int(digests[0][0]) > 0
    assert digests[0] == digests[1]


@pytest.mark.workflow
def test_a_machine_whose_long_double_is_float64_reports_errors_against_quad(tmp_path):
    """The workflow end to end as on Windows or macOS arm64: every Python it starts takes
    long double for float64 (a sitecustomize switches LONGDOUBLE_IS_WIDER off). The shards
    record quad as float64's reference, the report names it, float64's error metrics are
    measured on error_vectors vectors, and every other row of the summary is the one a
    run with long double gives."""

    def run(name: str, quad: bool) -> Path:
        root = tmp_path / name
        root.mkdir()
        for part in ("workflow", "scripts", "config"):
            shutil.copytree(ROOT / part, root / part)
        shutil.copy(ROOT / "Snakefile", root / "Snakefile")
        (root / "small.yaml").write_text(yaml.safe_dump({**TINY, "error_vectors": 3}))
        env = dict(os.environ)
        if quad:
            site = tmp_path / "site"
            site.mkdir(exist_ok=True)
            (site / "sitecustomize.py").write_text(
                "import softmaxlab.dtypes\nsoftmaxlab.dtypes.LONGDOUBLE_IS_WIDER = False\n"
            )
            env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, "-m", "snakemake", "--configfile", "small.yaml", "--cores", "2"]
        result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr[-4000:]
        return root

    with_ld, with_quad = run("long_double", False), run("quad", True)
    machines = json.loads((with_quad / "results/tables/sweep_machines.json").read_text())
    assert [m["float64_reference"] for m in machines["machines"]] == [
        "IEEE quad (numpy_quaddtype, 113-bit significand)"
    ]
    page = (with_quad / "results/report.html").read_text()
    assert "float64 errors against IEEE quad (numpy_quaddtype, 113-bit significand)" in page
    keys = ["distribution", "scale", "k", "dtype", "compute", "label", "metric"]
    a = pd.read_csv(with_ld / "results/tables/summary.csv").set_index(keys).sort_index()
    b = pd.read_csv(with_quad / "results/tables/summary.csv").set_index(keys).sort_index()
    errors = a.index.get_level_values("metric").isin(ERROR_METRICS)
    assert a[~errors].equals(b[~errors])
    float64 = errors & (a.index.get_level_values("dtype") == "float64")
    assert (b[float64]["n"] > 0).any() and b[float64]["n"].equals(a[float64]["n"])
    mean_a, mean_b = a[float64]["mean"].to_numpy(), b[float64]["mean"].to_numpy()
    np.testing.assert_array_equal(np.isnan(mean_a), np.isnan(mean_b))
    ok = ~np.isnan(mean_a)
    assert np.all(np.abs(mean_a[ok] - mean_b[ok]) <= REFERENCE_TOL * np.maximum(mean_a[ok], 1))
    assert a[errors & ~float64].equals(b[errors & ~float64])
