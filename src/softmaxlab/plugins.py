"""Users' own normalisation methods: the plugin protocol, its import and its probe.

A plugin is a Python function ``function(x, **params)`` that maps logits x along the last
axis and returns an array of x's shape and dtype (computing in x's dtype is the method's
business: :mod:`softmaxlab.methods` explains what that means for the narrow formats). It
must not modify x. Its parameters are the keyword parameters of its signature after x,
each with a default that is a bool, an int or a float (the kind a config value must have,
and what :func:`softmaxlab.label` spells); :func:`softmaxlab.register_method` can give the
defaults explicitly instead. An optional ``function.vjp(x, v, **params)`` attribute returns
v^T dp/dx along the last axis in float64 (x and v float64, the result of x's shape): with it
the sweep's NLL gradients and the training study (claim C15) treat the method like a
built-in; without one those gradient metrics are NaN and the study skips the method, saying
so in its log.

Two ways in:

* a config entry ``{method: "package.module:function", <params>}``: the module is imported
  from the working directory (put first on ``sys.path``, as ``python -m`` does) or from
  PYTHONPATH, in the Snakemake process that validates the config and in every job;
* ``softmaxlab.register_method(name, function, params=..., vjp=...)`` in a notebook or
  script: the name then works in normalize, evaluate, vjp and the sweep's library calls
  of that process (a workflow's jobs run in fresh processes: use the config entry there).

:func:`probe` runs the method on a fixed vector in each format it will meet and refuses,
with one line naming the method, a function that raises, returns something that is not an
array of x's shape and dtype, or modifies x. The config is checked with it before any job
(:func:`softmaxlab.config.validate`); ``register_method`` probes float64.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from softmaxlab.methods import _Param, describe_value

#: A name register_method accepts, and a parameter's name (one word, as labels spell it).
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
#: "package.module:function" (ASCII, as the config schema's pattern).
PLUGIN_PATTERN = rf"{NAME_PATTERN}(?:\.{NAME_PATTERN})*:{NAME_PATTERN}"
#: The probe: two rows of four logits, exact in every format of softmaxlab.dtypes.
PROBE = np.array([[0.5, -1.25, 2.0, 0.0], [3.0, 1.0, -2.0, 0.25]])
_KINDS = {bool: ("bool", "true or false"), int: ("int", "an integer"), float: ("real", "a real")}


@dataclass(frozen=True)
class Plugin:
    """A user's method: its name (the registered name or "module:function"), the function,
    its parameter specs (as the built-ins' in softmaxlab.methods) and its optional vjp."""

    name: str
    function: Callable
    specs: Mapping[str, _Param]
    vjp: Callable | None = None

    def run(self, x: np.ndarray, ctx, **params) -> np.ndarray:
        """The method as softmaxlab.methods runs a built-in: ``function(x, **params)``
        checked for shape and dtype, its non-finite entries from a finite row flagged as
        overflow (``ctx.check``)."""
        return ctx.check(checked_output(self.name, x, self.function(x, **params)))


def is_plugin_name(name) -> bool:
    """Whether ``name`` has the form "package.module:function"."""
    return isinstance(name, str) and re.fullmatch(PLUGIN_PATTERN, name) is not None


def checked_output(name: str, x: np.ndarray, out, what: str = "") -> np.ndarray:
    """``out`` if it is an ndarray of x's shape and dtype, else ValueError naming the method,
    what it returned and what it must return."""
    if not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
        got = (
            f"an array of shape {out.shape} and dtype {out.dtype}"
            if isinstance(out, np.ndarray)
            else f"a {type(out).__name__}"
        )
        raise ValueError(
            f"method {name!r}{what} returned {got} for x of shape {x.shape} and dtype "
            f"{x.dtype}; it must return an array of x's shape and dtype"
        )
    return out


def param_specs(name: str, function: Callable, defaults: Mapping | None = None) -> dict:
    """The parameter specs of a plugin: from ``defaults`` when given, else from the keyword
    parameters of its signature after x (each must have a bool, int or float default).
    ValueError naming the parameter otherwise."""
    if defaults is None:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            raise ValueError(f"method {name!r}: its signature cannot be read") from None
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        parameters = list(signature.parameters.values())
        if not parameters or parameters[0].kind not in positional:
            raise ValueError(f"method {name!r} must take the logits x as its first argument")
        defaults = {}
        for parameter in parameters[1:]:
            if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            if parameter.default is inspect.Parameter.empty:
                raise ValueError(
                    f"method {name!r}: parameter {parameter.name} has no default; every "
                    "parameter after x needs a bool, int or float default"
                )
            defaults[parameter.name] = parameter.default
    if not isinstance(defaults, Mapping):
        raise ValueError(f"method {name!r}: params must be a mapping of names to defaults")
    specs = {}
    for key, default in defaults.items():
        kind = _KINDS.get(type(default))
        if not isinstance(key, str) or re.fullmatch(NAME_PATTERN, key) is None or kind is None:
            raise ValueError(
                f"method {name!r}: parameter {describe_value(key)} = {describe_value(default)}; "
                "parameters need identifier names and bool, int or float defaults"
            )
        if kind[0] == "real" and not np.isfinite(default):
            raise ValueError(f"method {name!r}: parameter {key}'s default {default} is not finite")
        specs[key] = _Param(default, kind[0], kind[1])
    return specs


def make_plugin(name: str, function, params: Mapping | None = None, vjp=None) -> Plugin:
    """A Plugin, or ValueError naming the method: function (and vjp) must be callable; the
    parameters as :func:`param_specs` reads them."""
    if not callable(function):
        raise ValueError(f"method {name!r}: {describe_value(function)} is not callable")
    vjp = getattr(function, "vjp", None) if vjp is None else vjp
    if vjp is not None and not callable(vjp):
        raise ValueError(f"method {name!r}: its vjp {describe_value(vjp)} is not callable")
    return Plugin(name, function, param_specs(name, function, params), vjp)


def _working_directory_on_path() -> None:
    """Put the working directory first on sys.path, as ``python -m`` does (once)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_plugin(name: str) -> Plugin:
    """The Plugin named "package.module:function": the module imported from the working
    directory or PYTHONPATH, the function its attribute. ValueError naming the entry when
    the import fails, the name is missing or is not callable."""
    module_name, _, attribute = name.partition(":")
    _working_directory_on_path()
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # any failure of the user's module is one line here
        problem = " ".join(f"{type(err).__name__}: {err}".split())
        raise ValueError(
            f"method {name!r}: cannot import module {module_name!r} ({problem}); it must be "
            "importable from the working directory or PYTHONPATH"
        ) from None
    if not hasattr(module, attribute):
        raise ValueError(f"method {name!r}: module {module_name!r} has no {attribute!r}")
    return make_plugin(name, getattr(module, attribute))


def source_digest(plugin: Plugin) -> str | None:
    """SHA-256 of the file that defines the plugin's function (None when it has none, e.g.
    a function typed into a notebook): a change to it reruns the sweep jobs that use it."""
    try:
        path = inspect.getsourcefile(plugin.function)
    except TypeError:
        return None
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def probe(plugin: Plugin, params: Mapping, dtypes: Iterable[np.dtype]) -> None:
    """Run the plugin (with its full ``params``) on :data:`PROBE` in each of ``dtypes``, and
    its vjp on the float64 probe; ValueError naming the method when a call raises, returns
    the wrong shape or dtype, or modifies x."""
    for dtype in dict.fromkeys(np.dtype(d) for d in dtypes):
        x = PROBE.astype(dtype)
        _probe_call(plugin.name, "", plugin.function, x, (x,), params)
    if plugin.vjp is not None:
        x = PROBE.copy()
        v = np.linspace(-1.0, 1.0, x.size).reshape(x.shape)
        _probe_call(plugin.name, "'s vjp", plugin.vjp, x, (x, v), params)


def _probe_call(name: str, what: str, function, x: np.ndarray, args: tuple, params) -> None:
    before = [a.copy() for a in args]
    try:
        out = function(*args, **params)
    except Exception as err:  # what the user's code raises is the message
        problem = " ".join(f"{type(err).__name__}: {err}".split())
        raise ValueError(
            f"method {name!r}{what} raised {problem} on the probe vector {PROBE.tolist()} "
            f"in {x.dtype}"
        ) from None
    checked_output(name, x, out, f"{what} (probe vector in {x.dtype})")
    for arg, copy in zip(args, before, strict=True):
        if not np.array_equal(arg, copy):
            raise ValueError(f"method {name!r}{what} modified its input in {x.dtype}")
