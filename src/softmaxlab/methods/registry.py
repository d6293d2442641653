"""The registry of methods: the built-ins and their parameters, the methods users register
(softmaxlab.plugins), the checks of parameters and the labels that name a method with them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .context import _SUPPORTED
from .maps import (
    _argmax,
    _entmax,
    _entmax15,
    _escort,
    _gumbel_softmax,
    _iterated_exp,
    _linear,
    _relu,
    _shifted_linear,
    _sigmoid,
    _softmax,
    _softplus,
    _sparsemax,
    _spherical,
    _ssmax,
    _stablemax,
    _taylor,
)


@dataclass(frozen=True)
class _Param:
    default: object
    kind: str  # "real" (finite float64), "int" (int64) or "bool"
    allowed: str  # what is allowed, for messages
    ok: Callable[[object], bool] = field(default=lambda value: True)
    # [low, high] a sweep takes without `limits: {override: true}` (softmaxlab.config), or
    # None; values beyond cost hours per job or lose accuracy, as `why` says.
    sweep_limit: tuple[float, float] | None = None
    why: str = ""


_METHODS: dict[str, tuple[Callable, dict[str, _Param]]] = {
    "argmax": (_argmax, {}),
    "linear": (_linear, {}),
    "shifted_linear": (_shifted_linear, {}),
    "relu": (_relu, {}),
    "softplus": (_softplus, {}),
    "sigmoid": (_sigmoid, {}),
    "spherical": (_spherical, {"eps": _Param(1e-5, "real", ">= 0", lambda v: v >= 0)}),
    "escort": (_escort, {"p": _Param(2.0, "real", "> 0", lambda v: v > 0)}),
    "taylor": (
        _taylor,
        {
            "order": _Param(
                2,
                "int",
                "an even integer >= 0",
                lambda v: v >= 0 and v % 2 == 0,
                sweep_limit=(0, 64),
                why="each order is one more pass over every logit: order 64 takes 8x softmax",
            )
        },
    ),
    "stablemax": (_stablemax, {}),
    "softmax": (
        _softmax,
        {
            "temperature": _Param(1.0, "real", "> 0", lambda v: v > 0),
            "base": _Param(math.e, "real", "> 0", lambda v: v > 0),
            "stable": _Param(True, "bool", "true or false"),
        },
    ),
    "iterated_exp": (
        _iterated_exp,
        {
            "depth": _Param(
                2,
                "int",
                "an integer >= 1",
                lambda v: v >= 1,
                sweep_limit=(1, 6),
                why="E_6(x) > e^(3.8e6) for every x: deeper overflows every format on any input",
            ),
            "stable": _Param(False, "bool", "true or false"),
        },
    ),
    "ssmax": (_ssmax, {"s": _Param(1.0, "real", "> 0", lambda v: v > 0)}),
    "sparsemax": (_sparsemax, {}),
    "entmax15": (_entmax15, {}),
    "entmax": (
        _entmax,
        {
            "alpha": _Param(
                1.5,
                "real",
                "> 1",
                lambda v: v > 1,
                sweep_limit=(1.001, math.inf),
                why="closer to 1 the float32 bisection of the narrow formats loses the answer "
                "(alpha = 1.0001 errs by 6e-5, 1 + 1e-9 by 0.97; alpha -> 1 is softmax)",
            )
        },
    ),
    "gumbel_softmax": (
        _gumbel_softmax,
        {
            "tau": _Param(1.0, "real", "> 0", lambda v: v > 0),
            "seed": _Param(0, "int", "an integer >= 0", lambda v: v >= 0),
        },
    ),
}


# Users' methods (softmaxlab.plugins): registered by name, and "package.module:function"
# entries imported on first use (one import per process).
_REGISTERED: dict[str, object] = {}
_IMPORTED: dict[str, object] = {}


def methods() -> list[str]:
    """Names of every normalisation method, in a fixed order: the built-ins, then the
    methods registered with :func:`register_method` in this process."""
    return [*_METHODS, *_REGISTERED]


def plugin(name: str):
    """The :class:`softmaxlab.plugins.Plugin` of a registered or "package.module:function"
    method (imported on first use), None for a built-in; ValueError for an unknown name or
    a plugin that cannot be imported."""
    from softmaxlab import plugins

    if isinstance(name, str) and name in _METHODS:
        return None
    if isinstance(name, str) and name in _REGISTERED:
        return _REGISTERED[name]
    if plugins.is_plugin_name(name):
        if name not in _IMPORTED:
            _IMPORTED[name] = plugins.import_plugin(name)
        return _IMPORTED[name]
    raise ValueError(
        f"unknown method {describe_value(name)}; valid methods: {', '.join(methods())}, "
        "or a plugin 'package.module:function' (README: Bring your own method)"
    )


def _lookup(name: str):
    """(function(x, ctx, **params), parameter specs) of a method; ValueError for anything
    but a known name or an importable plugin."""
    found = plugin(name)
    return _METHODS[name] if found is None else (found.run, found.specs)


def register_method(name: str, function: Callable, params: Mapping | None = None, vjp=None):
    """Register ``function(x, **params)`` as method ``name`` for this process (a notebook, a
    script): normalize, evaluate, vjp, label and the sweep's library functions then take
    it like a built-in. ``params``: the parameters' defaults (bool, int or float), read
    from the function's signature when None; ``vjp(x, v, **params)``: its vector-Jacobian
    product in float64 (default: the function's ``vjp`` attribute, if any). The protocol
    is softmaxlab.plugins'; the function is probed in float64 first. Registering a name
    again replaces it; ValueError for a built-in's name, a name that is not an identifier,
    or a function the probe refuses. Returns ``name``."""
    from softmaxlab import plugins

    if not isinstance(name, str) or re.fullmatch(plugins.NAME_PATTERN, name) is None:
        raise ValueError(
            f"method name {describe_value(name)} must be an identifier (letters, digits, _)"
        )
    if name in _METHODS:
        raise ValueError(f"method name {name!r} is a built-in method's; choose another")
    found = plugins.make_plugin(name, function, params, vjp)
    plugins.probe(found, {key: spec.default for key, spec in found.specs.items()}, [np.float64])
    _REGISTERED[name] = found
    return name


def unregister_method(name: str) -> None:
    """Forget a method registered with :func:`register_method`; ValueError for any other."""
    if name not in _REGISTERED:
        raise ValueError(
            f"{describe_value(name)} is not a registered method; registered: "
            f"{', '.join(_REGISTERED) or '(none)'}"
        )
    del _REGISTERED[name]


def describe_value(value) -> str:
    """A value for a message: its repr, a huge integer by its number of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"a {len(str(abs(value)))}-digit integer"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _typed(value, kind: str):
    """``value`` as the Python bool, int or float that ``kind`` asks for, or None when it is
    not one: bools are neither ints nor reals, an int must fit int64 (numpy), a real must
    be finite in float64. A numpy scalar becomes the Python number it holds (a float32
    0.1 becomes 0.10000000149011612), so labels spell the value used."""
    if kind == "bool":
        return bool(value) if isinstance(value, bool | np.bool_) else None
    if isinstance(value, bool | np.bool_):
        return None
    if kind == "int":
        if isinstance(value, int | np.integer) and -(2**63) <= int(value) < 2**63:
            return int(value)
        return None
    if isinstance(value, int | float | np.integer | np.floating) or (
        isinstance(value, np.generic) and value.dtype in _SUPPORTED  # ml_dtypes' scalars
    ):
        try:
            real = float(value)
        except OverflowError:
            return None
        return real if math.isfinite(real) else None
    return None


def method_defaults(name: str) -> dict:
    """The parameters of a method and their defaults."""
    return {key: spec.default for key, spec in _lookup(name)[1].items()}


def method_doc(name: str) -> str:
    """The docstring of a method: its formula, source and edge-input behaviour (a plugin's:
    its function's docstring)."""
    found = plugin(name)
    return _METHODS[name][0].__doc__ if found is None else found.function.__doc__


def check_params(name: str, params: Mapping | None = None) -> dict:
    """The full parameters of ``name`` (defaults filled in) as Python bool, int and float,
    or ValueError naming the bad parameter, its value and what is allowed.

    A numpy scalar becomes the Python number it holds, so the returned value (and the
    label made from it) is the value the method computes with.
    """
    specs = _lookup(name)[1]
    if params is not None and not isinstance(params, Mapping):
        raise ValueError(
            f"method {name!r}: parameters must be a mapping, got {describe_value(params)}"
        )
    params = dict(params or {})
    unknown = sorted(set(params) - set(specs), key=repr)
    if unknown:
        raise ValueError(
            f"method {name!r} has no parameter {describe_value(unknown[0])}; "
            f"valid parameters: {', '.join(specs) or '(none)'}"
        )
    full = {}
    for key, spec in specs.items():
        value = params.get(key, spec.default)
        typed = _typed(value, spec.kind)
        if typed is None or not spec.ok(typed):
            kind = {"real": "real, finite", "int": "int64"}.get(spec.kind, spec.kind)
            raise ValueError(
                f"method {name!r}: parameter {key} must be {spec.allowed} "
                f"({kind}), got {describe_value(value)}"
            )
        full[key] = typed
    return full


def sweep_limits(name: str) -> dict[str, tuple[float, float, str]]:
    """Parameter -> (low, high, why) for the parameters of ``name`` whose values a sweep
    takes only within [low, high] unless the config sets ``limits: {override: true}``."""
    return {
        key: (*spec.sweep_limit, spec.why)
        for key, spec in _lookup(name)[1].items()
        if spec.sweep_limit is not None
    }


def _format(value) -> str:
    """A parameter as label spells it: Python's shortest round-trip repr, integral reals
    below 10^16 without the '.0' (base=100), booleans as True/False."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def label(name: str, params: Mapping | None = None) -> str:
    """The method with its non-default parameters, e.g. ``softmax(base=100, stable=False)``;
    just the name when every parameter has its default."""
    full = check_params(name, params)
    defaults = method_defaults(name)
    changed = [f"{key}={_format(value)}" for key, value in full.items() if value != defaults[key]]
    return f"{name}({', '.join(changed)})" if changed else name


def parse_label(text: str) -> tuple[str, dict]:
    """The inverse of :func:`label`: the method's name and the parameters the label spells
    out (the non-default ones), typed as check_params wants them.

    ``parse_label("softmax(base=100, stable=False)") == ("softmax", {"base": 100.0,
    "stable": False})``. ValueError for a string that :func:`label` does not produce.
    """
    match = re.fullmatch(r"(\w+|[\w.]+:\w+)(?:\((.+)\))?", str(text))
    if match is None:
        raise ValueError(f"not a method label: {text!r}; labels look like 'softmax(base=2)'")
    name, specs = match.group(1), _lookup(match.group(1))[1]
    params: dict = {}
    for item in match.group(2).split(", ") if match.group(2) else []:
        key, _, value = item.partition("=")
        if key not in specs:
            raise ValueError(
                f"label {text!r}: method {name!r} has no parameter {key!r}; "
                f"valid parameters: {', '.join(specs) or '(none)'}"
            )
        kind = specs[key].kind
        try:
            if kind == "bool" and value not in ("True", "False"):
                raise ValueError(value)
            params[key] = (
                value == "True" if kind == "bool" else int(value) if kind == "int" else float(value)
            )
        except ValueError:
            raise ValueError(f"label {text!r}: {key}={value!r} is not a {kind}") from None
    canonical = label(name, params)  # also checks the values
    if canonical != text:
        raise ValueError(f"label {text!r} is not in canonical form; it reads {canonical!r}")
    return name, params
