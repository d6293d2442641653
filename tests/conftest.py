"""Guards for the whole suite."""

import sys

import pytest

from softmaxlab.dtypes import LONGDOUBLE_IS_WIDER


@pytest.fixture(autouse=True)
def _numpy_quaddtype_stays_out(request):
    """Fail a test that imports numpy_quaddtype into the test process: the import changes
    numpy's promotion of Python floats with bfloat16 and float8_e4m3fn for every later test
    of the process, which production never sees outside the sweep's float64 reference. Such
    a test belongs in tests/quad_in_process.py, which runs in a process of its own. Only
    where long double is wider than float64: elsewhere (Windows, macOS arm64) quad is the
    sweep's float64 reference, and in-process sweeps import it as production does."""
    imported_before = "numpy_quaddtype" in sys.modules
    yield
    # the item's file rather than request.module, which a doctest item does not have
    exempt = request.node.path.name == "quad_in_process.py"
    if LONGDOUBLE_IS_WIDER and not exempt and not imported_before:
        assert "numpy_quaddtype" not in sys.modules, (
            f"{request.node.nodeid} imported numpy_quaddtype into the test process: "
            "move it to tests/quad_in_process.py"
        )
