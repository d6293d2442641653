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


def method(name, **params):
    """A config with one method entry."""
    return broken(methods=[{"method": name, **params}])


def dist(name="d", **spec):
    """A config with one distribution."""
    return broken(distributions={name: spec})


BIG = 10**400  # a 401-digit integer: OverflowError in float(), no numpy integer holds it

# Issue 12: values that passed the schema and crashed inside a job (or later), and inputs
# that gave a traceback instead of the one-line message.
CORPUS += [
    # Finding 5: integers are integers. 3.0 is refused for every integer key (JSON Schema's
    # draft 7 counts it as an integer; numpy and range() do not).
    ("seed 7.0", broken(seed=7.0), ["'seed'", "integer", "7.0"]),
    ("k 2.0", broken(k=[2, 10.0]), ["'k[1]'", "integer", "10.0"]),
    (
        "vectors.elements 100.0",
        broken(vectors={"elements": 100.0, "min": 3, "max": 10}),
        ["'vectors.elements'", "integer", "100.0"],
    ),
    (
        "vectors.min 3.0",
        broken(vectors={"elements": 100, "min": 3.0, "max": 10}),
        ["'vectors.min'", "integer"],
    ),
    (
        "vectors.max 10.0",
        broken(vectors={"elements": 100, "min": 3, "max": 10.0}),
        ["'vectors.max'", "integer"],
    ),
    ("grad_vectors 2.0", broken(grad_vectors=2.0), ["'grad_vectors'", "integer", "2.0"]),
    ("quantile_vectors 8.0", broken(quantile_vectors=8.0), ["'quantile_vectors'", "integer"]),
    ("shard_elements 1e6", broken(shard_elements=1e6), ["'shard_elements'", "integer"]),
    ("taylor order 4.0", method("taylor", order=4.0), ["'methods[0]'", "order", "4.0"]),
    ("depth 2.0", method("iterated_exp", depth=2.0), ["'methods[0]'", "depth", "2.0"]),
    ("gumbel seed 1.0", method("gumbel_softmax", seed=1.0), ["'methods[0]'", "seed", "1.0"]),
    # Finding 5: names fullmatch their pattern (Python's $ matches before a final newline).
    ("name with newline", dist("normal\n", family="normal"), ["'distributions'", "normal"]),
    # Finding 3: names that read back as a number, a boolean or a missing value.
    ("name nan", dist("nan", family="normal"), ["'distributions'", "'nan'", "reads back"]),
    ("name NaN", dist("NaN", family="normal"), ["'distributions'", "'NaN'"]),
    ("name inf", dist("inf", family="normal"), ["'distributions'", "'inf'"]),
    ("name Infinity", dist("Infinity", family="normal"), ["'distributions'", "'Infinity'"]),
    ("name true", dist("true", family="normal"), ["'distributions'", "'true'"]),
    ("name False", dist("False", family="normal"), ["'distributions'", "'False'"]),
    ("name NA", dist("NA", family="normal"), ["'distributions'", "'NA'"]),
    ("name null", dist("null", family="normal"), ["'distributions'", "'null'"]),
    ("name None", dist("None", family="normal"), ["'distributions'", "'None'"]),
    ("name NULL", dist("NULL", family="normal"), ["'distributions'", "'NULL'"]),
    # Finding 4: scales and family parameters finite; scaled logits within float64.
    ("scale nan", broken(scales=[1.0, float("nan")]), ["'scales[1]'", "finite", "nan"]),
    ("scale inf", broken(scales=[float("inf")]), ["'scales[0]'", "finite", "inf"]),
    (
        "scale overflows float64",
        broken(scales=[1.0, 1e306]),
        ["'scales[1]'", "float64", "overflow", "student_t"],
    ),
    ("scale 400 digits", broken(scales=[BIG]), ["'scales[0]'", "401-digit"]),
    ("loc nan", dist(family="normal", loc=float("nan")), ["'distributions.d.loc'", "finite"]),
    ("low -inf", dist(family="uniform", low=float("-inf")), ["'distributions.d.low'", "finite"]),
    ("df inf", dist(family="student_t", df=float("inf")), ["'distributions.d.df'", "finite"]),
    (
        "uniform width overflows",
        dist(family="uniform", low=-1e308, high=1e308),
        ["'distributions.d'", "high - low", "float64"],
    ),
    (
        "normal draws overflow",
        dist(family="normal", loc=0, scale=1e308),
        ["'distributions.d'", "overflow", "float64"],
    ),
    (
        "lognormal draws overflow",
        dist(family="lognormal", sigma=200),
        ["'distributions.d'", "overflow", "sigma"],
    ),
    (
        "student_t df tiny",
        dist(family="student_t", df=1e-3),
        ["'distributions.d'", "overflow", "df"],
    ),
    ("laplace scale zero", dist(family="laplace", scale=0), ["'distributions.d'", "scale", "> 0"]),
    (
        "exponential scale negative",
        dist(family="exponential", scale=-1),
        ["'distributions.d'", "scale", "> 0"],
    ),
    # Finding 6: tracebacks instead of the one-line message.
    ("seed 400 digits", broken(seed=BIG), ["'seed'", "401-digit", "64-bit"]),
    ("k 400 digits", broken(k=[2, BIG]), ["'k[1]'", "401-digit"]),
    (
        "elements 400 digits",
        broken(vectors={"elements": BIG, "min": 3, "max": 10}),
        ["'vectors.elements'", "401-digit"],
    ),
    ("temperature 400 digits", method("softmax", temperature=BIG), ["'methods[0]", "401-digit"]),
    ("loc 400 digits", dist(family="normal", loc=BIG), ["'distributions.d.loc'", "401-digit"]),
    ("depth 400 digits", method("iterated_exp", depth=BIG), ["'methods[0]", "401-digit"]),
    ("key int at top", {**DEFAULT, 1: "x"}, ["'(top level)'", "1", "not a string"]),
    ("key null at top", {**DEFAULT, None: "y"}, ["'(top level)'", "None", "not a string"]),
    ("key true at top", {**DEFAULT, True: "z"}, ["'(top level)'", "True", "not a string"]),
    (
        "distribution named 1",
        broken(distributions={1: {"family": "normal"}}),
        ["'distributions'", "1", "not a string"],
    ),
    (
        "distribution named null",
        broken(distributions={"normal": {"family": "bad"}, None: {"family": "bad"}}),
        ["'distributions'", "None", "not a string"],
    ),
    (
        "distribution named true",
        broken(distributions={True: {"family": "normal"}}),
        ["'distributions'", "True", "not a string"],
    ),
    (
        "family parameter key int",
        broken(distributions={"d": {"family": "normal", 1: 0}}),
        ["'distributions.d'", "1", "not a string"],
    ),
    (
        "method parameter key int",
        broken(methods=[{"method": "softmax", 1: 2}]),
        ["'methods[0]'", "1", "not a string"],
    ),
    (
        "method parameter key null",
        broken(methods=[{"method": "softmax", None: 2}]),
        ["'methods[0]'", "None", "not a string"],
    ),
    ("vectors a list", broken(vectors=[1, 2]), ["'vectors'", "object"]),
    ("distributions a list", broken(distributions=[{"family": "normal"}]), ["'distributions'"]),
    ("methods a mapping", broken(methods={"method": "softmax"}), ["'methods'", "array"]),
    ("method a string", broken(methods=["softmax"]), ["'methods[0]'", "object"]),
    ("distribution a list", broken(distributions={"d": [1]}), ["'distributions.d'", "object"]),
    ("method name a list", method(["softmax"]), ["'methods[0].method'", "softmax"]),
    ("family a mapping", dist(family={"a": 1}), ["'distributions.d.family'", "normal"]),
    ("limits unknown key", broken(limits={"ignore": True}), ["'limits'", "override"]),
    ("limits override a string", broken(limits={"override": "yes"}), ["'limits.override'"]),
    # Upper bounds that keep one job within the documented memory and time.
    (
        "taylor order 1000",
        method("taylor", order=1000),
        ["'methods[0]'", "order", "1000", "limit", "override"],
    ),
    (
        "iterated_exp depth 50",
        method("iterated_exp", depth=50),
        ["'methods[0]'", "depth", "50", "limit", "override"],
    ),
    (
        "entmax alpha too close to 1",
        method("entmax", alpha=1 + 1e-6),
        ["'methods[0]'", "alpha", "limit", "override"],
    ),
    ("K of 10^9", broken(k=[2, 10**9], grad_vectors=8), ["'k[1]'", "MiB", "limit", "override"]),
    (
        "gradient directions too large",
        broken(k=[2, 10**6], grad_vectors=10**5),
        ["'grad_vectors'", "MiB", "override"],
    ),
    (
        "cell of 10^12 logits",
        broken(vectors={"elements": 10**12, "min": 3, "max": 10**12}),
        ["'vectors'", "logits", "limit", "override"],
    ),
    (
        "vectors.min huge",
        broken(vectors={"elements": 10, "min": 10**9, "max": 10**9}),
        ["'vectors'", "limit", "override"],
    ),
    (
        "shard_elements 10^12 on a big sweep",
        broken(shard_elements=10**12, vectors={"elements": 10**6, "min": 3, "max": 10**6}),
        ["'shard_elements'", "limit", "override"],
    ),
    (
        "quantile samples too large",
        broken(
            k=[2],
            vectors={"elements": 10**8, "min": 3, "max": 10**8},
            quantile_vectors=10**8,
        ),
        ["'quantile_vectors'", "MiB", "override"],
    ),
    # More broken values of every kind.
    ("seed a list", broken(seed=[1]), ["'seed'", "integer"]),
    ("seed null", broken(seed=None), ["'seed'", "integer"]),
    ("scales a number", broken(scales=1.0), ["'scales'", "array"]),
    ("scale boolean", broken(scales=[True]), ["'scales[0]'", "number"]),
    ("scale null", broken(scales=[None]), ["'scales[0]'", "number"]),
    ("scale 1e400 string", broken(scales=["1e400"]), ["'scales[0]'", "finite"]),
    ("k boolean", broken(k=[True, 10]), ["'k[0]'", "integer"]),
    ("k string", broken(k=["ten"]), ["'k[0]'", "integer"]),
    ("dtype case", broken(dtypes=["Float16"]), ["'dtypes[0]'", "Float16", "float16"]),
    ("dtype duplicate", broken(dtypes=["float16", "float16"]), ["'dtypes'", "non-unique"]),
    ("name starts with digit", dist("1e3", family="normal"), ["'distributions'", "1e3"]),
    ("name with dash", dist("my-dist", family="normal"), ["'distributions'", "my-dist"]),
    ("name empty", dist("", family="normal"), ["'distributions'"]),
    ("family null", dist(family=None), ["'distributions.d.family'", "None"]),
    ("family param string", dist(family="normal", loc="zero"), ["'distributions.d.loc'"]),
    ("family param boolean", dist(family="normal", scale=True), ["'distributions.d.scale'"]),
    (
        "uniform reversed",
        dist(family="uniform", low=2, high=1),
        ["'distributions.d'", "low < high"],
    ),
    ("lognormal sigma zero", dist(family="lognormal", sigma=0), ["'distributions.d'", "sigma"]),
    ("method null", method(None), ["'methods[0].method'", "None"]),
    ("method param null", method("softmax", temperature=None), ["'methods[0]'", "temperature"]),
    ("base zero", method("softmax", base=0), ["'methods[0]'", "base", "> 0"]),
    ("base inf", method("softmax", base=float("inf")), ["'methods[0].base'", "finite"]),
    ("escort p zero", method("escort", p=0), ["'methods[0]'", "p", "> 0"]),
    ("ssmax s negative", method("ssmax", s=-1), ["'methods[0]'", "s", "> 0"]),
    ("tau zero", method("gumbel_softmax", tau=0), ["'methods[0]'", "tau"]),
    ("gumbel seed negative", method("gumbel_softmax", seed=-1), ["'methods[0]'", "seed"]),
    ("taylor order negative", method("taylor", order=-2), ["'methods[0]'", "order"]),
    ("taylor order string", method("taylor", order="four"), ["'methods[0]'", "order"]),
    ("params for argmax", method("argmax", k=2), ["'methods[0]'", "argmax", "(none)"]),
    (
        "duplicate after defaults",
        broken(methods=[{"method": "taylor"}, {"method": "taylor", "order": 2}]),
        ["'methods[1]'", "duplicate of methods[0]"],
    ),
    ("vectors missing max", broken(vectors={"elements": 10, "min": 200}), ["'vectors'", "min"]),
    ("vectors elements zero", broken(vectors={"elements": 0}), ["'vectors.elements'"]),
    ("grad_vectors boolean", broken(grad_vectors=False), ["'grad_vectors'", "False"]),
    ("shard_elements negative", broken(shard_elements=-5), ["'shard_elements'", "-5"]),
    ("raw_metrics a number", broken(raw_metrics=1), ["'raw_metrics'", "1"]),
]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25 + 30


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
