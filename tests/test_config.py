"""The broken-config corpus: every bad value is refused, naming the key and the allowed values."""

import copy

import pytest
import yaml

from softmaxlab import config as sl_config

with open("config/config.yaml") as handle:
    DEFAULT = yaml.safe_load(handle)


def broken(**changes):
    cfg = copy.deepcopy(DEFAULT)
    for key, value in changes.items():
        if value is DELETE:
            del cfg[key]
        else:
            cfg[key] = value
    return cfg


DELETE = object()

# (name, config, fragments the message must contain)
CORPUS = [
    ("k below 2", broken(k=[1, 10]), ["'k[0]'", "minimum of 2", "1"]),
    ("k not integer", broken(k=[2.5]), ["'k[0]'", "integer"]),
    ("k empty", broken(k=[]), ["'k'", "non-empty", "[]"]),
    ("k duplicate", broken(k=[10, 10]), ["'k'", "non-unique"]),
    ("scale zero", broken(scales=[0, 1]), ["'scales[0]'", "0"]),
    ("scale negative", broken(scales=[1, -2]), ["'scales[1]'", "-2"]),
    ("scales empty", broken(scales=[]), ["'scales'", "non-empty"]),
    ("scale a string", broken(scales=["big"]), ["'scales[0]'", "number"]),
    (
        "unknown dtype",
        broken(dtypes=["float64", "float128"]),
        ["'dtypes[1]'", "float128", "float8_e5m2"],
    ),
    ("dtypes empty", broken(dtypes=[]), ["'dtypes'", "non-empty"]),
    ("seed float", broken(seed=1.5), ["'seed'", "integer"]),
    ("seed string", broken(seed="abc"), ["'seed'", "integer"]),
    ("seed bool", broken(seed=True), ["'seed'", "integer"]),
    ("seed negative", broken(seed=-1), ["'seed'", "minimum"]),
    ("unknown top key", broken(scale=[1.0]), ["'scale'", "allowed keys", "scales"]),
    (
        "unknown method",
        broken(methods=[{"method": "softmin"}]),
        ["'methods[0].method'", "softmin", "sparsemax"],
    ),
    (
        "method missing name",
        broken(methods=[{"temperature": 2}]),
        ["'methods[0]'", "'method' is a required"],
    ),
    (
        "taylor odd order",
        broken(methods=[{"method": "taylor", "order": 3}]),
        ["methods[0]", "order", "even", "3"],
    ),
    (
        "entmax alpha 1",
        broken(methods=[{"method": "entmax", "alpha": 1.0}]),
        ["methods[0]", "alpha", "> 1"],
    ),
    (
        "entmax alpha below 1",
        broken(methods=[{"method": "entmax", "alpha": 0.5}]),
        ["methods[0]", "alpha", "0.5"],
    ),
    (
        "temperature zero",
        broken(methods=[{"method": "softmax", "temperature": 0}]),
        ["methods[0]", "temperature", "> 0"],
    ),
    (
        "temperature negative",
        broken(methods=[{"method": "softmax", "temperature": -1}]),
        ["methods[0]", "temperature"],
    ),
    (
        "negative eps",
        broken(methods=[{"method": "spherical", "eps": -1e-3}]),
        ["methods[0]", "eps", ">= 0"],
    ),
    (
        "unknown method param",
        broken(methods=[{"method": "softmax", "beta": 2}]),
        ["methods[0]", "beta", "temperature"],
    ),
    (
        "depth zero",
        broken(methods=[{"method": "iterated_exp", "depth": 0}]),
        ["methods[0]", "depth"],
    ),
    (
        "stable not bool",
        broken(methods=[{"method": "softmax", "stable": "no"}]),
        ["methods[0]", "stable"],
    ),
    (
        "duplicate method",
        broken(
            methods=[
                {"method": "softmax"},
                {"method": "linear"},
                {"method": "softmax", "temperature": 1},
            ]
        ),
        ["methods[2]", "duplicate of methods[0]", "softmax"],
    ),
    ("methods empty", broken(methods=[]), ["'methods'", "non-empty"]),
    (
        "unknown family",
        broken(distributions={"d": {"family": "cauchy"}}),
        ["'distributions.d.family'", "cauchy", "normal"],
    ),
    (
        "family missing",
        broken(distributions={"d": {"df": 3}}),
        ["'distributions.d'", "'family' is a required"],
    ),
    (
        "bad family param",
        broken(distributions={"d": {"family": "normal", "mu": 0}}),
        ["distributions.d", "mu", "loc"],
    ),
    (
        "uniform low>=high",
        broken(distributions={"d": {"family": "uniform", "low": 1, "high": 1}}),
        ["distributions.d", "low < high"],
    ),
    (
        "student df zero",
        broken(distributions={"d": {"family": "student_t", "df": 0}}),
        ["distributions.d", "df", "> 0"],
    ),
    (
        "bad distribution name",
        broken(distributions={"my dist": {"family": "normal"}}),
        ["'distributions'", "my dist"],
    ),
    ("distributions empty", broken(distributions={}), ["'distributions'"]),
    (
        "vectors zero",
        broken(vectors={"elements": 1000, "min": 0, "max": 10}),
        ["'vectors.min'", "minimum of 1"],
    ),
    (
        "vectors min>max",
        broken(vectors={"elements": 1000, "min": 20, "max": 10}),
        ["'vectors'", "min (20)", "max (10)"],
    ),
    ("vectors unknown key", broken(vectors={"count": 10}), ["'vectors'", "count", "elements"]),
    ("shard_elements zero", broken(shard_elements=0), ["'shard_elements'", "minimum of 1"]),
    ("grad_vectors negative", broken(grad_vectors=-3), ["'grad_vectors'", "-3"]),
    ("quantile_vectors zero", broken(quantile_vectors=0), ["'quantile_vectors'", "minimum"]),
    ("quantile_vectors boolean", broken(quantile_vectors=True), ["'quantile_vectors'", "True"]),
    ("raw_metrics not boolean", broken(raw_metrics="maybe"), ["'raw_metrics'", "maybe"]),
]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25


@pytest.mark.parametrize(("name", "cfg", "fragments"), CORPUS, ids=[case[0] for case in CORPUS])
def test_broken_config_is_refused_with_a_clear_message(name, cfg, fragments):
    with pytest.raises(sl_config.ConfigError) as info:
        sl_config.validate(cfg)
    message = str(info.value)
    assert message.startswith("config key"), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_default_config_is_valid_and_defaults_fill_in():
    full = sl_config.validate({"k": [2, 3]})
    assert full["k"] == [2, 3]
    assert full["vectors"] == {"elements": 2000, "min": 3, "max": 100}
    assert full["dtypes"][0] == "float64"
    assert sl_config.validate(DEFAULT)["methods"] == DEFAULT["methods"]


def test_validate_does_not_mutate_input():
    cfg = {"k": [2]}
    sl_config.validate(cfg)
    assert cfg == {"k": [2]}


def test_method_labels():
    specs = sl_config.method_specs(
        {"methods": [{"method": "softmax", "base": 100, "stable": False}]}
    )
    assert specs[0][2] == "softmax(base=100, stable=False)"


def test_command_line_lists_of_numeric_strings_become_numbers():
    # What snakemake --config scales="[0.5, 2, 1e3]" hands over (YAML BaseLoader: strings).
    full = sl_config.validate({**DEFAULT, "scales": ["0.5", "2", "1e3"], "dtypes": ["float16"]})
    assert full["scales"] == [0.5, 2, 1000.0] and full["dtypes"] == ["float16"]
    with pytest.raises(sl_config.ConfigError, match=r"'scales\[0\]'"):
        sl_config.validate({**DEFAULT, "scales": ["big"]})


def test_command_line_booleans_become_booleans():
    # snakemake --config raw_metrics=true hands over the string "true".
    assert sl_config.validate({**DEFAULT, "raw_metrics": "true"})["raw_metrics"] is True
    assert sl_config.validate({**DEFAULT, "raw_metrics": "False"})["raw_metrics"] is False
    assert sl_config.validate(DEFAULT)["raw_metrics"] is False
    assert sl_config.validate(DEFAULT)["quantile_vectors"] == 4096
