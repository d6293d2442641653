"""Issue 12, the configuration half: validation that matches what runs.

Integers are integers, names cannot read back as something else, numbers are finite,
duplicate YAML keys are refused, one job stays within the documented memory and time unless
the config says `limits: {override: true}`, nested --config values are coerced like
top-level ones, and every refusal is one line naming the key (never a traceback).
"""

import copy
import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snakemake.cli import parse_config
from snakemake.utils import update_config
from sweeps import SMALL, TINY

from softmaxlab import config as sl_config
from softmaxlab import sampling, sweep
from softmaxlab.methods import method_defaults, methods

with open("config/config.yaml") as handle:
    DEFAULT = yaml.safe_load(handle)
SCHEMA = sl_config.load_schema()


def refused(cfg) -> str:
    """The ConfigError message for cfg (which must be refused)."""
    with pytest.raises(sl_config.ConfigError) as info:
        sl_config.validate(cfg)
    message = str(info.value)
    assert message.startswith("config key ") and "\n" not in message, message
    return message


# --- integers are integers -----------------------------------------------------------------


def _schema_integer_paths(schema, prefix=()):
    """Paths (tuples of keys, 0 for a list item) of every integer in the schema, any depth."""
    if schema.get("type") == "integer":
        yield prefix
    if schema.get("type") == "array":
        yield from _schema_integer_paths(schema.get("items", {}), (*prefix, 0))
    for key, sub in schema.get("properties", {}).items():
        yield from _schema_integer_paths(sub, (*prefix, key))


def _with(path, value):
    """The default config (schema defaults where it has none) with ``value`` at ``path``."""
    cfg = sl_config.validate(DEFAULT)
    node = cfg
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return cfg


def _integer_keys():
    """(path, config with an integral float at that path, the same with the integer) for
    every integer key of the schema, at any depth, and every integer parameter of every
    method (found from the schema and the registry: a key added later is covered too)."""
    cases = []
    for path in _schema_integer_paths(SCHEMA):
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        value = 400 if path[0] == "vectors" else 4  # the default vectors.min is 200
        cases.append((key, _with(path, float(value)), _with(path, value)))
    for name in methods():
        for param, default in method_defaults(name).items():
            if isinstance(default, int) and not isinstance(default, bool):
                entry = {"method": name}
                cases.append(
                    (
                        f"methods[0] {name}.{param}",
                        {**DEFAULT, "methods": [{**entry, param: 4.0}]},
                        {**DEFAULT, "methods": [{**entry, param: 4}]},
                    )
                )
    return cases


INTEGER_KEYS = _integer_keys()


def test_every_integer_key_is_found():
    found = {path.split(" ")[-1] for path, _, _ in INTEGER_KEYS}
    assert {"seed", "k[0]", "vectors.elements", "vectors.min", "vectors.max"} <= found
    assert {"grad_vectors", "quantile_vectors", "shard_elements"} <= found
    assert {"taylor.order", "iterated_exp.depth", "gumbel_softmax.seed"} <= found


@pytest.mark.parametrize(("path", "bad", "good"), INTEGER_KEYS, ids=[c[0] for c in INTEGER_KEYS])
def test_an_integral_float_is_refused_for_every_integer_key(path, bad, good):
    message = refused(bad)
    assert repr(path.split(" ")[0]) in message and "integer" in message
    assert "4.0" in message or "400.0" in message
    sl_config.validate(good)  # the same value as an integer is accepted


def test_integer_method_parameters_become_python_ints():
    full = sl_config.validate({**DEFAULT, "methods": [{"method": "taylor", "order": np.int64(4)}]})
    ((_, params, label),) = sl_config.method_specs(full)
    assert type(params["order"]) is int and label == "taylor(order=4)"


# --- names ---------------------------------------------------------------------------------

NAME_PATTERN = SCHEMA["properties"]["distributions"]["propertyNames"]["pattern"]


def _read_back_tokens():
    """Every string pandas reads as missing or boolean, and every spelling float() takes
    for nan and infinity, that the name pattern would otherwise allow. pandas' own list is
    the oracle."""
    from pandas._libs.parsers import STR_NA_VALUES

    tokens = set(STR_NA_VALUES) | {"True", "TRUE", "true", "False", "FALSE", "false"}
    tokens |= {"inf", "Inf", "INF", "infinity", "Infinity", "INFINITY", "nan", "NaN", "NAN"}
    return sorted(t for t in tokens if re.fullmatch(NAME_PATTERN.rstrip("$") + r"\Z", t))


@pytest.mark.parametrize("name", _read_back_tokens())
def test_names_that_read_back_as_something_else_are_refused(name):
    message = refused({**DEFAULT, "distributions": {name: {"family": "normal"}}})
    assert "'distributions'" in message and repr(name) in message


def test_names_that_read_back_as_themselves_are_accepted():
    names = ["nan_", "inf2", "e5", "NaNa", "yes", "Normal", "N", "Truey", "nulls", "x1e3"]
    cfg = {**DEFAULT, "distributions": {name: {"family": "normal"} for name in names}}
    assert list(sl_config.validate(cfg)["distributions"]) == names
    # The oracle: pandas reads them back as the same strings.
    back = pd.read_csv(io.StringIO("distribution\n" + "\n".join(names) + "\n"))
    assert back["distribution"].tolist() == names


@pytest.mark.parametrize("name", ["normal\n", "normal\r\n", "\nnormal", "nor\nmal", "a b"])
def test_names_fullmatch_the_pattern(name):
    assert "'distributions'" in refused({**DEFAULT, "distributions": {name: {"family": "normal"}}})


# --- finite numbers and float64 draws ------------------------------------------------------

P = 1e-18  # the documented tail probability of sampling.draw_bound


@pytest.mark.parametrize(
    ("family", "params", "oracle"),
    [
        (
            "normal",
            {"loc": 2.0, "scale": 3.0},
            lambda: 2 + 3 * __import__("scipy").stats.norm.isf(P / 2),
        ),
        (
            "gumbel",
            {"loc": -1.0, "scale": 2.0},
            lambda: 1 + 2 * __import__("scipy").stats.gumbel_r.isf(P),
        ),
        (
            "laplace",
            {"loc": 0.0, "scale": 5.0},
            lambda: 5 * __import__("scipy").stats.laplace.isf(P / 2),
        ),
        ("exponential", {"scale": 4.0}, lambda: 4 * __import__("scipy").stats.expon.isf(P)),
        (
            "lognormal",
            {"mean": 1.0, "sigma": 2.0},
            lambda: __import__("scipy").stats.lognorm.isf(P, 2.0, scale=math.e),
        ),
        ("student_t", {"df": 3.0}, lambda: __import__("scipy").stats.t.isf(P / 2, 3.0)),
        ("student_t", {"df": 30.0}, lambda: __import__("scipy").stats.t.isf(P / 2, 30.0)),
        ("uniform", {"low": -7.0, "high": 2.0}, lambda: 7.0),
    ],
)
def test_draw_bound_matches_scipy_quantiles(family, params, oracle):
    # scipy.stats' inverse survival functions are the oracle (gumbel: the right tail, the
    # left one is far lighter; its |loc| is added as the bound's shift).
    bound = sampling.draw_bound({"family": family, **params})
    assert bound == pytest.approx(oracle(), rel=1e-9)


def test_student_t_bound_for_tiny_df_follows_the_exact_tail():
    # mpmath's regularised incomplete beta is the oracle: P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2).
    import mpmath as mp

    mp.mp.dps = 40
    for df in (0.1, 0.5):
        t = mp.mpf(sampling.draw_bound({"family": "student_t", "df": df}))
        tail = mp.betainc(df / 2, 0.5, 0, df / (df + t**2), regularized=True)
        assert float(tail) == pytest.approx(P, rel=1e-6)


def test_largest_scale_is_allowed_and_the_next_refused():
    bound = sampling.draw_bound({"family": "student_t", "df": 3})
    largest = np.finfo(np.float64).max / bound
    cfg = {**DEFAULT, "scales": [largest], "k": [2]}
    assert sl_config.validate(cfg)["scales"] == [largest]
    message = refused({**cfg, "scales": [largest * 1.001]})
    assert "'scales[0]'" in message and "student_t" in message


def test_non_finite_values_are_refused_wherever_they_are():
    for cfg, key in [
        ({**DEFAULT, "scales": [float("nan")]}, "'scales[0]'"),
        (
            {**DEFAULT, "methods": [{"method": "softmax", "temperature": float("-inf")}]},
            "'methods[0].temperature'",
        ),
        (
            {**DEFAULT, "distributions": {"d": {"family": "uniform", "high": float("inf")}}},
            "'distributions.d.high'",
        ),
    ]:
        assert key in refused(cfg)


# --- the command line: nested values arrive as strings -------------------------------------


def command_line(*entries):
    """The default config updated with snakemake --config entries, parsed by Snakemake."""
    cfg = copy.deepcopy(DEFAULT)
    update_config(cfg, parse_config(list(entries)))
    return cfg


def test_nested_command_line_values_are_coerced_like_top_level_ones():
    full = sl_config.validate(
        command_line(
            "vectors={elements: 40, min: 2, max: 4}",
            "distributions={u: {family: uniform, low: -0.5, high: 2}}",
            "methods=[{method: taylor, order: 4}, {method: softmax, stable: false}]",
            "limits={override: true}",
            "scales=[0.5, 1e3]",
            "raw_metrics=true",
        )
    )
    assert full["vectors"] == {"elements": 40, "min": 2, "max": 4}
    assert full["distributions"]["u"] == {"family": "uniform", "low": -0.5, "high": 2}
    assert full["methods"] == [
        {"method": "taylor", "order": 4},
        {"method": "softmax", "stable": False},
    ]
    assert full["limits"] == {"override": True} and full["raw_metrics"] is True
    assert full["scales"] == [0.5, 1000.0]


def test_a_nested_command_line_mistake_shows_the_number_not_a_string():
    message = refused(command_line("vectors={elements: 2.5}"))
    assert "'vectors.elements'" in message and "2.5" in message and "'2.5'" not in message
    message = refused(command_line("methods=[{method: taylor, order: 3}]"))
    assert "got 3" in message and "'3'" not in message


def test_strings_that_are_names_stay_strings():
    full = sl_config.validate(command_line("dtypes=[float16]", "methods=[{method: linear}]"))
    assert full["dtypes"] == ["float16"] and full["methods"] == [{"method": "linear"}]
    # "inf" and "nan" are not numbers to the coercion: they stay text and are refused as such.
    assert "'scales[0]'" in refused(command_line("scales=[inf]"))


# --- duplicate keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("seed: 1\nk: [2]\nseed: 2\n", "seed", 3),
        ("distributions:\n  d: {family: normal}\n  d: {family: gumbel}\n", "d", 3),
        ("methods:\n  - {method: softmax, base: 2, base: 3}\n", "base", 2),
        ("vectors:\n  min: 1\n  max: 5\n  min: 2\n", "min", 4),
        ('{"seed": 1, "seed": 2}', "seed", 1),
        ('{"vectors": {"min": 1, "min": 2}}', "min", 1),
    ],
)
def test_duplicate_keys_are_refused_naming_key_file_and_line(tmp_path, text, key, line):
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(sl_config.ConfigError) as info:
        sl_config.load_config_file(path)
    message = str(info.value)
    assert f"duplicate key {key!r}" in message and str(path) in message, message
    assert f"line {line}" in message and "\n" not in message


def test_strict_loading_reads_what_snakemake_reads(tmp_path):
    from snakemake.common.configfile import load_configfile

    merged = tmp_path / "merge.yaml"
    merged.write_text("base: &b {min: 1, max: 5}\nvectors:\n  <<: *b\n  max: 9\n")
    json_file = tmp_path / "c.json"
    json_file.write_text(json.dumps(SMALL))
    for path in ["config/config.yaml", "config/large.yaml", merged, json_file]:
        assert sl_config.load_config_file(path) == load_configfile(str(path))


def test_a_file_that_is_not_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: [1\n")
    with pytest.raises(sl_config.ConfigError, match="bad.yaml") as info:
        sl_config.load_config_file(path)
    assert "\n" not in str(info.value)


# --- limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [DEFAULT, SMALL, TINY, "config/large.yaml"])
def test_shipped_configs_are_within_the_limits(cfg):
    if isinstance(cfg, str):
        with open(cfg) as handle:
            cfg = yaml.safe_load(handle)
    assert sl_config.validate(cfg)["limits"] == {"override": False}


def test_method_parameter_limits_are_exact():
    for name, param, inside, outside in [
        ("taylor", "order", 64, 66),
        ("iterated_exp", "depth", 6, 7),
        ("entmax", "alpha", 1.001, 1.0009),
    ]:
        cfg = {**DEFAULT, "methods": [{"method": name, param: inside}]}
        sl_config.validate(cfg)
        bad = {**cfg, "methods": [{"method": name, param: outside}]}
        assert "override" in refused(bad)
        sl_config.validate({**bad, "limits": {"override": True}})


def test_largest_k_fits_the_job_memory_limit():
    # sweep.job_mem_mb is what the job asks for; the limit is on that request.
    def request(k, grad=8):
        cfg = {**DEFAULT, "grad_vectors": grad}
        return sweep.job_mem_mb(cfg, [sweep.Cell("normal", 1.0, k, "float64")])

    largest = max(k for k in range(5_000_000, 22_000_000, 1000) if request(k) <= 8192)
    few = {**DEFAULT, "grad_vectors": 8, "vectors": {"elements": 2000, "min": 3, "max": 100}}
    sl_config.validate({**few, "k": [2, largest]})
    assert "'k[1]'" in refused({**few, "k": [2, largest + 1000]})


def test_override_lifts_soft_limits_but_never_the_hard_ones():
    over = {"limits": {"override": True}}
    sl_config.validate({**DEFAULT, **over, "k": [2, 10**9]})
    big = {"elements": 10**6, "min": 3, "max": 10**6}
    sl_config.validate({**DEFAULT, **over, "shard_elements": 10**12, "vectors": big})
    # A budget above the limit is fine when the sweep is smaller: jobs are what counts.
    small = {"elements": 2000, "min": 3, "max": 100}
    sl_config.validate({**DEFAULT, "shard_elements": 10**12, "vectors": small})
    for cfg in [
        {**DEFAULT, **over, "seed": 10**400},
        {**DEFAULT, **over, "scales": [float("nan")]},
        {**DEFAULT, **over, "scales": [1e306]},
        {**DEFAULT, **over, "seed": 3.0},
    ]:
        refused(cfg)


def test_limits_are_documented():
    readme = open("config/README.md").read()
    schema = open("workflow/schemas/config.schema.yaml").read()
    for text in (readme, schema):
        assert "override" in text
    for number in ("8192", "4 x 10^8", "64", "1.001"):
        assert number in readme, number


# --- never a traceback ---------------------------------------------------------------------

WEIRD = st.sampled_from(
    [
        10**400,
        -(10**400),
        float("nan"),
        float("inf"),
        None,
        True,
        False,
        "x",
        "",
        "nan",
        "1e400",
        "3",
        "3.0",
        [],
        {},
        [1],
        {"a": 1},
        {1: 2},
        {None: 1},
        1.5,
        -1,
        0,
        2**63,
        3.0,
    ]
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


PATHS = [p for p in _paths(SMALL) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), WEIRD), min_size=1, max_size=3))
def test_no_input_gives_a_traceback(changes):
    cfg = copy.deepcopy(SMALL)
    for path, value in changes:
        node = cfg
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        sl_config.validate(cfg)
    except sl_config.ConfigError as err:
        assert str(err).startswith("config key ") and "\n" not in str(err)


def test_yte_templates_are_code_that_only_snakemake_runs(tmp_path):
    # README: a config file with __use_yte__: true is evaluated as Python by Snakemake.
    from snakemake.common.configfile import load_configfile

    path = tmp_path / "yte.yaml"
    path.write_text(
        "__use_yte__: true\n__definitions__:\n  - import math\nseed: ?int(math.sqrt(49))\n"
    )
    assert load_configfile(str(path)) == {"seed": 7}  # Snakemake ran the import and the call
    assert sl_config.check_config_file(path)["seed"] == "?int(math.sqrt(49))"  # we did not
    with pytest.raises(sl_config.ConfigError, match="YTE template"):
        sl_config.load_config_file(path)
    path.write_text("__use_yte__: true\nseed: ?1\nk: [2]\nseed: ?2\n")
    with pytest.raises(sl_config.ConfigError, match="duplicate key 'seed'"):
        sl_config.check_config_file(path)


def test_draws_that_underflow_are_fine():
    # lognormal with mean -1000: every draw is 0 (bound 0): no overflow, no division by it.
    cfg = {**DEFAULT, "distributions": {"tiny": {"family": "lognormal", "mean": -1000}}}
    assert sampling.draw_bound(cfg["distributions"]["tiny"]) == 0
    sl_config.validate(cfg)


def test_unreadable_config_file_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("seed: 1 # caf\xe9\n".encode("latin-1"))
    with pytest.raises(sl_config.ConfigError, match="UTF-8") as info:
        sl_config.check_config_file(path)
    assert "\n" not in str(info.value)
