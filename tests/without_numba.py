"""A kernels module imported as on a platform without numba wheels (a module, not a
conftest: tests import it)."""

import importlib
import sys

import softmaxlab.kernels


def kernels_without_numba(monkeypatch, name: str):
    """softmaxlab.kernels.<name> imported anew with ``import numba`` raising ImportError,
    after softmaxlab.kernels.jit (whose njit the module compiles with) was imported anew
    the same way; sys.modules and the package's attributes are restored afterwards."""
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    for module in ("jit", name):
        full = f"softmaxlab.kernels.{module}"
        current = importlib.import_module(full)
        monkeypatch.delitem(sys.modules, full)
        monkeypatch.setattr(softmaxlab.kernels, module, current)  # restored afterwards
    importlib.import_module("softmaxlab.kernels.jit")
    return importlib.import_module(f"softmaxlab.kernels.{name}")
