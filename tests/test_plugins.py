"""Users' own methods (softmaxlab.plugins): config entries "package.module:function" and
register_method, checked before any job; through normalize, evaluate, vjp and labels.

The plugin under test is the worked example examples/my_method.py (power softmax); its
oracles are independent of its code: the closed form on a hand-checked vector, softmax as
its n -> infinity limit ((1 + t/n)^n -> e^t), and central finite differences for its vjp.
"""

import importlib
import math
import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from sweeps import TINY

import softmaxlab
from softmaxlab import config as sl_config
from softmaxlab import plugins, sweep

REPO = Path(__file__).resolve().parents[1]
# The module that holds the registry of users' methods (patched where it is used).
sl_registry = importlib.import_module("softmaxlab.methods.registry")
POWER = "examples.my_method:power_softmax"


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    """Every test starts with no registered or imported plugin and leaves none behind."""
    monkeypatch.setattr(sl_registry, "_REGISTERED", {})
    monkeypatch.setattr(sl_registry, "_IMPORTED", {})
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path whose modules hold plugins written by the test."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(module: str, source: str) -> str:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        sys.modules.pop(module, None)
        return module

    return write


def config_with(*entries, **changes) -> dict:
    return {**TINY, "methods": [{"method": "softmax"}, *entries], **changes}


# --- the worked example through the library ------------------------------------------------


def power_reference(x: np.ndarray, n: int) -> np.ndarray:
    """The closed form in float64, written out independently of the example's code."""
    t = np.maximum(1 + (x - x.max(axis=-1, keepdims=True)) / n, 0) ** n
    return t / t.sum(axis=-1, keepdims=True)


def test_plugin_entry_through_normalize_matches_its_closed_form():
    x = np.array([[2.0, 4.0, 2.0, 1.0], [0.0, -3.0, 0.5, 0.25]])
    p = softmaxlab.normalize(x, POWER, n=2)
    # [2, 4, 2, 1], n = 2: bases 0, 1, 0, 0 (clipped at 0): the argmax's one-hot.
    np.testing.assert_array_equal(p[0], [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(p, power_reference(x, 2), rtol=1e-15)
    assert p.dtype == np.float64


def test_plugin_tends_to_softmax_as_n_grows():
    """(1 + t/n)^n -> e^t: the error to softmax falls like 1/n."""
    x = np.random.default_rng(3).normal(size=(20, 7))
    errors = [
        np.abs(softmaxlab.normalize(x, POWER, n=n) - softmaxlab.normalize(x, "softmax")).max()
        for n in (100, 1000, 10000)
    ]
    assert errors[0] > 5 * errors[1] > 25 * errors[2]
    assert errors[2] < 1e-3


@pytest.mark.parametrize(
    "dtype",
    [np.float32, np.float16, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, np.longdouble],
)
def test_plugin_computes_in_each_format(dtype):
    x = np.array([[2.0, 4.0, 2.0, 1.0], [0.5, 0.25, 0.0, -1.0]]).astype(dtype)
    p, overflow = softmaxlab.evaluate(x, POWER, n=4)
    assert p.dtype == np.dtype(dtype) and p.shape == x.shape
    assert not overflow.any()
    np.testing.assert_allclose(
        p.astype(np.float64), power_reference(x.astype(np.float64), 4), atol=0.07
    )


def test_plugin_follows_the_edge_conventions():
    """methods._run applies them to a plugin as to a built-in: 0-d -> 1, empty -> empty,
    rows with NaN, +inf or all -inf -> NaN; other rows are the plugin's own output."""
    assert softmaxlab.normalize(np.float64(3.0), POWER) == 1.0
    assert softmaxlab.normalize(np.empty((0, 4)), POWER).shape == (0, 4)
    x = np.array([[0.0, np.inf, 0.0], [np.nan, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [0, 1, 2]])
    p = softmaxlab.normalize(x, POWER)
    assert np.isnan(p[:3]).all()
    np.testing.assert_allclose(p[3], power_reference(x[3:], 4)[0])


def test_evaluate_flags_a_plugins_non_finite_output_from_finite_input_as_overflow(plugin_dir):
    module = plugin_dir(
        "naive_plugin",
        """
        import numpy as np

        def naive_exp(x):
            e = np.exp(x)
            return e / np.sum(e, axis=-1, keepdims=True)
        """,
    )
    x = np.array([[1.0, 2.0], [800.0, 0.0], [np.inf, 0.0]])
    p, overflow = softmaxlab.evaluate(x, f"{module}:naive_exp")
    np.testing.assert_array_equal(overflow, [False, True, False])  # row 2's input is not finite
    np.testing.assert_allclose(p[0], softmaxlab.normalize(x[0], "softmax"))


def test_plugin_vjp_matches_finite_differences():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 5)) * 2
    v = rng.normal(size=x.shape)
    g = softmaxlab.vjp(x, v, POWER, n=3)
    h = 1e-6
    fd = np.zeros_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        up, down = softmaxlab.normalize(x + e, POWER, n=3), softmaxlab.normalize(x - e, POWER, n=3)
        fd[:, j] = np.sum((up - down) * v, axis=-1) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-8)
    assert softmaxlab.vjp(np.float64(1.0), 1.0, POWER) == 0.0  # the edge conventions hold


def test_plugin_without_vjp_refuses_vjp_and_has_nan_nll_gradients(plugin_dir):
    from softmaxlab import nll
    from softmaxlab.training.study import with_reference

    module = plugin_dir(
        "novjp_plugin",
        """
        import numpy as np

        def halves(x):
            return np.full_like(x, 1 / x.shape[-1])
        """,
    )
    name = f"{module}:halves"
    with pytest.raises(ValueError, match="has no vjp.*vjp\\(x, v, \\*\\*params\\)"):
        softmaxlab.vjp([1.0, 2.0], [1.0, 0.0], name)
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    metrics = nll.nll_metrics(x, x[::-1], np.array([0, 2]), name, {})
    np.testing.assert_allclose(metrics["nll"], [math.log(3)] * 2)  # the forward still counts
    assert np.isnan(metrics["nll_grad_norm"]).all()
    specs = [("softmax", {}, "softmax"), (name, {}, name)]
    assert [label for _, _, label in with_reference(specs)] == ["softmax", "linear"]


# --- labels -------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"n": 16}, {"n": 1}])
def test_plugin_label_is_its_entry_and_round_trips(params):
    text = softmaxlab.label(POWER, params)
    assert text == (f"{POWER}(n={params['n']})" if params.get("n", 4) != 4 else POWER)
    assert softmaxlab.parse_label(text) == (POWER, params if params.get("n", 4) != 4 else {})


def test_plugin_parameter_kinds_come_from_the_signature(plugin_dir):
    module = plugin_dir(
        "kinds_plugin",
        """
        import numpy as np

        def scaled(x, beta=1.0, depth=2, flip=False):
            return np.full_like(x, 1 / x.shape[-1])
        """,
    )
    name = f"{module}:scaled"
    assert softmaxlab.method_defaults(name) == {"beta": 1.0, "depth": 2, "flip": False}
    text = softmaxlab.label(name, {"beta": 2, "flip": True})
    assert text == f"{name}(beta=2, flip=True)"
    assert softmaxlab.parse_label(text) == (name, {"beta": 2.0, "flip": True})
    with pytest.raises(ValueError, match="depth must be an integer"):
        softmaxlab.check_params(name, {"depth": 2.5})
    with pytest.raises(ValueError, match="no parameter 'gamma'"):
        softmaxlab.check_params(name, {"gamma": 1})


def test_figures_group_a_plugin_label_with_the_other_methods():
    from softmaxlab.figures.data import family_groups

    labels = ["softmax", f"{POWER}(n=64)", "linear"]
    groups = dict(family_groups(labels))
    assert groups["other"] == [f"{POWER}(n=64)"]


# --- register_method (a notebook) ---------------------------------------------------------


def test_register_method_in_a_notebook():
    from examples.my_method import power_softmax

    assert softmaxlab.register_method("power", power_softmax) == "power"
    assert softmaxlab.methods()[-1] == "power"
    x = np.array([2.0, 4.0, 2.0, 1.0])
    np.testing.assert_allclose(softmaxlab.normalize(x, "power", n=8), power_reference(x, 8))
    assert softmaxlab.label("power", {"n": 8}) == "power(n=8)"
    assert softmaxlab.parse_label("power(n=8)") == ("power", {"n": 8})
    assert softmaxlab.vjp(x, np.ones(4), "power").shape == (4,)
    # explicit defaults and vjp instead of the signature and the attribute
    softmaxlab.register_method(
        "power3", lambda x, n: power_softmax(x, n), params={"n": 3}, vjp=power_softmax.vjp
    )
    np.testing.assert_allclose(softmaxlab.normalize(x, "power3"), power_reference(x, 3))
    softmaxlab.unregister_method("power3")
    assert "power3" not in softmaxlab.methods()


def test_registered_method_runs_through_the_sweep_library():
    from examples.my_method import power_softmax

    softmaxlab.register_method("power", power_softmax)
    config = sl_config.validate(config_with())
    config["methods"] = [{"method": "softmax"}, {"method": "power", "n": 64}]
    shard = sweep.plan_shards(config)[0][:2]
    summary = sweep.run_cells(config, shard)
    assert set(summary["label"]) == {"softmax", "power(n=64)"}
    tv = summary[summary["metric"] == "tv_to_argmax"].set_index("label")["mean"]
    assert tv.notna().all()


@pytest.mark.parametrize(
    "name, function, params, fragment",
    [
        ("softmax", np.exp, None, "built-in"),
        ("my method", lambda x: x, None, "identifier"),
        ("late", 3, None, "not callable"),
        ("noisy", lambda x, scale: x, None, "scale has no default"),
        ("odd", lambda x, how="a": x, None, "bool, int or float"),
        ("raises", lambda x: 1 / 0, None, "raised ZeroDivisionError"),
        ("wide", lambda x: x.astype(np.float32), None, "dtype float32"),
    ],
)
def test_register_method_refuses(name, function, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        softmaxlab.register_method(name, function, params=params)
    assert name not in softmaxlab.methods() or name == "softmax"


# --- config entries: accepted, and every refusal before any job ----------------------------


def test_config_accepts_a_plugin_entry_and_plans_its_source():
    config = sl_config.validate(config_with({"method": POWER, "n": 16}))
    assert [label for _, _, label in sl_config.method_specs(config)] == [
        "softmax",
        f"{POWER}(n=16)",
    ]
    source = sweep.shard_params(config, 0)["plugin_sources"][POWER]
    assert len(source) == 64  # the SHA-256 of examples/my_method.py: edits rerun the jobs


BAD_PLUGINS = {
    "import fails": ("import_fails_plugin", "import numpy as np\nraise RuntimeError('boom')\n"),
    "name missing": ("missing_plugin", "import numpy as np\n"),
    "not callable": ("uncallable_plugin", "fn = 3\n"),
    "raises": (
        "raising_plugin",
        "def fn(x):\n    raise KeyError('broken on purpose')\n",
    ),
    "wrong shape": (
        "shape_plugin",
        "import numpy as np\ndef fn(x):\n    return x[..., :1]\n",
    ),
    "wrong dtype": (
        "dtype_plugin",
        # float32 arithmetic on the narrow formats: right in float64, wrong in bfloat16
        # (result_type, not x * 0.5: numpy's promotion of a Python float with bfloat16
        # changes once numpy_quaddtype is imported, as tests/test_quad_reference.py does)
        "import numpy as np\ndef fn(x):\n"
        "    return (x * 0.5).astype(np.result_type(x.dtype, np.float32))\n",
    ),
    "not an array": ("list_plugin", "def fn(x):\n    return x.tolist()\n"),
    "modifies x": (
        "inplace_plugin",
        "import numpy as np\ndef fn(x):\n    x -= x.max()\n    return np.exp(x)\n",
    ),
    "bad vjp": (
        "vjp_plugin",
        "import numpy as np\ndef fn(x):\n    return x\nfn.vjp = lambda x, v: v[..., 0]\n",
    ),
}
EXPECTED = {
    "import fails": "cannot import module 'import_fails_plugin' (RuntimeError: boom)",
    "name missing": "module 'missing_plugin' has no 'fn'",
    "not callable": "is not callable",
    "raises": "raised KeyError: 'broken on purpose' on the probe vector",
    "wrong shape": "returned an array of shape (2, 1)",
    "wrong dtype": "dtype float32 for x of shape (2, 4) and dtype bfloat16",
    "not an array": "returned a list",
    "modifies x": "modified its input in float64",
    "bad vjp": "'s vjp (probe vector in float64) returned an array of shape (2,)",
}


@pytest.mark.parametrize("case", list(BAD_PLUGINS))
def test_config_refuses_a_bad_plugin_naming_the_entry(case, plugin_dir):
    module, source = BAD_PLUGINS[case]
    plugin_dir(module, source)
    entry = {"method": f"{module}:fn"}
    with pytest.raises(sl_config.ConfigError) as error:
        sl_config.validate(config_with(entry, dtypes=["float64", "bfloat16"]))
    message = str(error.value)
    assert message.startswith("config key 'methods[1]': ")
    assert EXPECTED[case] in message
    assert "\n" not in message


def test_config_refuses_a_plugin_whose_parameter_makes_it_raise():
    with pytest.raises(sl_config.ConfigError, match=r"methods\[1\].*n must be an integer >= 1"):
        sl_config.validate(config_with({"method": POWER, "n": 0}))


@pytest.mark.parametrize(
    "method, fragment",
    [
        ("examples.my_method", "is not allowed; valid values: argmax"),
        ("examples/my_method.py:power_softmax", "or a plugin 'package.module:function'"),
        ("examples.my_method:power_softmax:x", "is not allowed"),
    ],
)
def test_schema_refuses_what_is_neither_a_builtin_nor_a_plugin(method, fragment):
    with pytest.raises(sl_config.ConfigError, match="methods\\[1\\]\\.method") as error:
        sl_config.validate(config_with({"method": method}))
    assert fragment in str(error.value)


def test_the_working_directory_is_put_on_sys_path_for_the_import(tmp_path, monkeypatch):
    (tmp_path / "cwd_plugin.py").write_text(
        "import numpy as np\ndef fn(x):\n    return np.full_like(x, 1 / x.shape[-1])\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    sys.modules.pop("cwd_plugin", None)
    assert softmaxlab.normalize([1.0, 2.0], "cwd_plugin:fn").tolist() == [0.5, 0.5]
    assert sys.path[0] == str(tmp_path)


def test_plugin_name_pattern_matches_the_schema():
    schema = sl_config.load_schema()
    method = schema["properties"]["methods"]["items"]["properties"]["method"]
    pattern = method["anyOf"][1]["pattern"]
    for name in (POWER, "a:b", "pkg.sub.mod:fn_2", "a.b", "a:b:c", "1a:b", "a.:b", "é:b"):
        import re

        assert plugins.is_plugin_name(name) == bool(re.fullmatch(pattern.strip("^$"), name))
