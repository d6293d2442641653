"""float64's error reference where long double is float64 itself (Windows, macOS arm64):
IEEE quad from numpy_quaddtype (softmaxlab.dtypes.float64_reference). This machine's long
double is x87 extended, so the tests switch dtypes.LONGDOUBLE_IS_WIDER off to run the
fallback, and check it against mpmath, against the long double reference, and in the
sweep. Those that import numpy_quaddtype into the test process are tests/quad_in_process.py's,
run here in a process of their own; the others start their own processes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sweeps import TINY

from softmaxlab.config import load_config_file, method_specs, validate
from softmaxlab.metrics import ERROR_METRICS

# Found, not imported: importing numpy_quaddtype would change numpy's promotions for every
# later test of this process (the in-process tests are tests/quad_in_process.py's).
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("numpy_quaddtype") is None, reason="numpy_quaddtype is not installed"
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = validate(load_config_file(ROOT / "config" / "config.yaml"))
# Where float64 has 53 bits, a reference within 2^-58 of the exact p changes a measured
# float64 error by at most 1/32 of float64's unit roundoff (2^-53).
REFERENCE_TOL = 2.0**-58


def test_the_in_process_quad_tests_pass_in_a_process_of_their_own():
    """tests/quad_in_process.py (quad against mpmath and long double, the sweep's float64
    cells against quad) in a fresh pytest process: every one of its tests runs and passes,
    and this process never imports numpy_quaddtype."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/quad_in_process.py",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    expected = len(method_specs(DEFAULT)) + 3
    assert re.search(rf"\b{expected} passed\b", done.stdout), done.stdout[-2000:]
    assert "numpy_quaddtype" not in sys.modules


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
