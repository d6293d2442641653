"""Validation of a sweep config: JSON Schema first, then the checks a schema cannot express.

Every error names the config key, the bad value and what is allowed, in one line, so a
user can fix the file without reading code; no input gives another exception. ``validate``
returns a new dict with the schema's defaults filled in and never touches the input.

What runs is what is checked: integers are Python ints (3.0 is refused for every integer
key), every number is finite and every integer fits int64, names fullmatch their pattern
and cannot read back as a number, boolean or missing value, every distribution's draws and
every scaled logit stay within float64, and one sweep job stays within LIMITS (memory and
time) unless the config sets ``limits: {override: true}``. Numbers and booleans written as
strings (what ``snakemake --config`` hands over inside lists and mappings) are read as
numbers and booleans first. ``load_config_file`` reads a config file strictly: a key
repeated in one mapping is refused, where YAML loaders silently keep the last.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import importlib.resources
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import jsonschema
import numpy as np
import yaml

from softmaxlab import plugins
from softmaxlab.dtypes import DTYPES
from softmaxlab.methods import check_params, describe_value, label, plugin, sweep_limits
from softmaxlab.sampling import EMPIRICAL, draw_bound, empirical_params, family_params

# The schema ships inside the package (package data), so an installed softmaxlab validates a
# config wherever it runs; workflow/schemas/config.schema.yaml is a symlink to this file.
SCHEMA_PATH = importlib.resources.files("softmaxlab.schemas") / "config.schema.yaml"

# What one sweep job may take without `limits: {override: true}`. Memory: the job's request
# (softmaxlab.sweep.job_mem_mb, plus its quantile samples); 8 GiB fits a laptop and a
# common cluster node. Time: logits per job (shard_elements) and per cell (a cell is never
# split): 4 x 10^8 logits take about an hour on one core with the 30 methods of
# config/config.yaml (the default sweep's 1.4 x 10^7 logits take 132 s of CPU).
LIMITS = {"job_mem_mb": 8192, "job_elements": 4 * 10**8}
_OVERRIDE = "set `limits: {override: true}` to run it anyway (config/README.md)"
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT64_MAX = float(np.finfo(np.float64).max)
# Names pandas.read_csv reads as missing or boolean, and float()'s nan/inf spellings that the
# name pattern allows, compared case-insensitively: such a name would not read back as itself.
_READ_BACK = frozenset({"na", "nan", "null", "none", "true", "false", "inf", "infinity"})
# Logit files the workflow writes itself, for the empirical family: the rule that writes
# it, and the training data set it needs. They do not exist when the DAG is built, so such
# a distribution states its K (`classes`) and the sweep job checks the file against it.
WORKFLOW_LOGITS = {"results/training/digits_test_logits.npy": ("training", "digits")}


class ConfigError(ValueError):
    """A config value is not allowed; the message says which key and what is allowed."""


# --- reading config files strictly ---------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key repeated in one mapping (SafeLoader, like the
    loaders Snakemake uses, keeps the last one silently). Merge keys (``<<: *anchor``)
    still override as YAML defines."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.setdefault(key, key_node)
                except TypeError:  # unhashable: SafeLoader's own error follows
                    continue
                if earlier is not key_node:
                    raise ConfigError(
                        f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first on "
                        f"line {earlier.start_mark.line + 1}); YAML keeps only the last, "
                        "so remove one"
                    )
        return super().construct_mapping(node, deep=deep)


def _json_pairs(pairs: list) -> dict:
    """json.load's object_pairs_hook refusing a repeated key."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ConfigError(f"duplicate key {key!r}; JSON keeps only the last, so remove one")
        out[key] = value
    return out


def command_line_configfiles(argv: Sequence[str]) -> list[str]:
    """The config files a Snakemake command line names (``--configfile``/``--configfiles``,
    each followed by one or more paths, or ``--configfile=PATH``), in order; [] when it
    names none. The Snakefile loads the default config only then, so a named file replaces
    it. Read from the documented command line because Snakemake has no public record of
    them for a Snakefile; option abbreviations (``--configf``) are not recognised."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--configfile", "--configfiles", nargs="+", default=[])
    known, _ = parser.parse_known_args(list(argv)[1:])
    return list(known.configfile)


def check_config_file(path: str | Path) -> object:
    """What a config file holds, parsed as Snakemake parses it (JSON first, then YAML) but
    strictly: ConfigError ``config file 'path', line N: duplicate key 'seed' ...`` for a
    key repeated in one mapping, and one line for a file that is neither JSON nor YAML.
    A YTE template (``__use_yte__: true``) is returned unevaluated: its duplicate keys are
    checked, its Python expressions never run here."""
    where = f"config file {str(path)!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as err:
        raise ConfigError(f"{where} cannot be read as UTF-8 text: {err}") from None
    try:
        return json.loads(text, object_pairs_hook=_json_pairs)
    except ConfigError as err:
        raise ConfigError(f"{where}, {_duplicate_line(text) or err}") from None
    except ValueError:
        pass  # not JSON: YAML decides
    try:
        return yaml.load(text, Loader=StrictLoader)
    except ConfigError as err:
        raise ConfigError(f"{where}, {err}") from None
    except yaml.YAMLError as err:
        problem = " ".join(str(err).split())
        raise ConfigError(f"{where} is not valid YAML or JSON: {problem}") from None


def _duplicate_line(text: str) -> str | None:
    """StrictLoader's message (with its line) for a duplicate in JSON text, which is YAML
    too; None when PyYAML cannot read it."""
    try:
        yaml.load(text, Loader=StrictLoader)
    except ConfigError as err:
        return str(err)
    except yaml.YAMLError:
        return None
    return None


def load_config_file(path: str | Path) -> dict:
    """The config a JSON or YAML file holds (what Snakemake reads from it), read strictly
    (see check_config_file). ConfigError for a YTE template: its values are Python code
    that only Snakemake evaluates."""
    config = check_config_file(path)
    if not isinstance(config, dict):
        raise ConfigError(f"config file {str(path)!r}: the top level must be a mapping of keys")
    if config.get("__use_yte__") is True:
        raise ConfigError(
            f"config file {str(path)!r} is a YTE template (__use_yte__: true): Snakemake "
            "evaluates its Python expressions; validate what it produces instead"
        )
    return config


# --- the schema ----------------------------------------------------------------------------


def load_schema(path=SCHEMA_PATH) -> dict:
    """The JSON schema (a YAML file: a path, or an importlib.resources resource such as
    SCHEMA_PATH), read with libyaml when PyYAML has it."""
    resource = Path(path) if isinstance(path, str) else path
    text = resource.read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.lru_cache(maxsize=1)
def _default_schema() -> dict:
    """The schema at SCHEMA_PATH, read once per process (validate never modifies it)."""
    return load_schema()


def _key(path) -> str:
    """'methods[3].order' from a jsonschema path deque."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    value = error.instance
    schema = error.schema
    if error.validator == "enum":
        allowed = ", ".join(map(str, schema["enum"]))
        return f"config key {key!r}: {value!r} is not allowed; valid values: {allowed}"
    if error.validator == "anyOf":  # the method: a built-in's name or a plugin
        allowed = ", ".join(
            ", ".join(map(str, sub["enum"])) if "enum" in sub else sub.get("description", "")
            for sub in schema["anyOf"]
        )
        return f"config key {key!r}: {value!r} is not allowed; valid values: {allowed}"
    if error.validator == "additionalProperties":
        allowed = ", ".join(schema.get("properties", {})) or "(none)"
        return f"config key {key!r}: {error.message}; allowed keys: {allowed}"
    if error.validator == "required":
        return f"config key {key!r}: {error.message}"
    if error.validator in (
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "type",
        "minItems",
        "uniqueItems",
        "minProperties",
        "pattern",
        "propertyNames",
    ):
        return f"config key {key!r}: {error.message} (bad value: {value!r})"
    return f"config key {key!r}: {error.message}"


def _is_integer(checker, instance) -> bool:
    """JSON Schema's integer as the code uses it: a Python int, never a float such as 3.0
    (draft 7 counts 3.0 as an integer; range() and numpy's sizes do not) nor a bool."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _fullmatch_pattern(validator, pattern, instance, schema):
    """``pattern`` applied to the whole string: Python's ``$`` (what jsonschema's re.search
    uses) also matches before a trailing newline, so 'normal\\n' would pass '^...$'."""
    if isinstance(instance, str) and re.fullmatch(pattern, instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    validators={"pattern": _fullmatch_pattern},
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def _path_order(error: jsonschema.ValidationError) -> list:
    """Sort key for errors: by path, list indexes as numbers, keys as text."""
    return [
        (0, part, "") if isinstance(part, int) else (1, 0, str(part))
        for part in error.absolute_path
    ]


# --- values: coercion and the checks that hold everywhere -----------------------------------


def _number(text: str):
    """int or float for a numeric string, else the string itself. Only strings with a
    digit count as numbers: 'nan' and 'inf' stay text (and are refused as such)."""
    try:
        return int(text)
    except ValueError:
        pass
    if any(char.isdigit() for char in text):
        try:
            return float(text)
        except ValueError:
            pass
    return text


def _coerce(node):
    """A copy of node with numeric strings as numbers and 'true'/'false' (any case) as
    booleans, at any depth. Snakemake parses ``--config vectors="{elements: 2}"`` with
    YAML's BaseLoader, which leaves every scalar inside a list or mapping a string (it
    converts only the top level); keys are left as they are."""
    if isinstance(node, Mapping):
        return {key: _coerce(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_coerce(value) for value in node]
    if isinstance(node, str):
        if node.lower() in ("true", "false"):
            return node.lower() == "true"
        return _number(node)
    return node


def _check_values(node, path: tuple = ()) -> None:
    """ConfigError for the first key that is not a string, float that is not finite, or
    integer beyond int64, anywhere in node (the rules that hold for every key)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ConfigError(
                    f"config key {_key(path)!r}: key {describe_value(key)} "
                    f"({type(key).__name__}) is not a string; keys and names are text"
                )
            _check_values(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check_values(value, (*path, index))
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"config key {_key(path)!r}: {node!r} is not a finite number")
    elif isinstance(node, int) and not isinstance(node, bool):
        if not _INT64[0] <= node <= _INT64[1]:
            raise ConfigError(
                f"config key {_key(path)!r}: {describe_value(node)} is outside the 64-bit "
                "integer range [-2^63, 2^63 - 1]"
            )


def _check_name(name: str) -> None:
    """ConfigError for a distribution name that reads back from summary.csv as something
    else: a number (float() takes it) or a pandas missing value or boolean."""
    try:
        float(name)
        number = True
    except ValueError:
        number = False
    if number or name.lower() in _READ_BACK:
        raise ConfigError(
            f"config key 'distributions': name {name!r} reads back as a number, a boolean "
            "or a missing value (pandas.read_csv, float()); choose another name (not nan, "
            "inf, infinity, na, null, none, true or false in any case)"
        )


@contextlib.contextmanager
def _about(key: str) -> Iterator[None]:
    """Any exception but ConfigError raised inside becomes a ConfigError naming ``key``:
    validate never ends in a traceback."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as err:  # the one-line message is the point: never a traceback
        problem = " ".join(f"{type(err).__name__}: {err}".split())
        raise ConfigError(f"config key {key!r}: {problem}") from None


def _fill_defaults(config: dict, schema: Mapping) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(config[key], sub)


def validate(config: Mapping, schema: Mapping | None = None) -> dict:
    """The config with defaults filled in, or ConfigError (one line) naming the first bad key.

    Checks, in order: strings that are numbers or booleans become them; keys are strings,
    numbers finite, integers within int64; the JSON schema (types, with 3.0 not an
    integer; ranges; allowed names, fullmatched); distribution names that read back as
    themselves; every distribution's family parameters and draws (an empirical one's file,
    unless the workflow writes it: WORKFLOW_LOGITS); every scale's logits
    within float64; vectors.min <= vectors.max; every method's parameters
    (softmaxlab.methods.check_params), every plugin method on the probe vector in each
    format (:func:`probe_dtypes`), and no two methods with the same label; LIMITS and
    the methods' sweep limits unless ``limits: {override: true}``.
    """
    schema = _default_schema() if schema is None else schema
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"config key '(top level)': the config must be a mapping of keys to values, "
            f"got {describe_value(config)}"
        )
    config = _coerce(config)
    _check_values(config)
    _fill_defaults(config, schema)
    errors = sorted(_Validator(schema).iter_errors(config), key=_path_order)
    if errors:
        raise ConfigError(_describe(errors[0]))
    bounds = {}
    for name, spec in config["distributions"].items():
        _check_name(name)
        with _about(f"distributions.{name}"):
            try:
                family_params(spec)
            except ValueError as err:
                raise ConfigError(f"config key 'distributions.{name}': {err}") from None
            if spec["family"] != EMPIRICAL:
                bounds[name] = draw_bound(spec)
            elif not _workflow_logits(config, name):
                bounds[name] = _empirical_bound(name, spec)
    for index, scale in enumerate(config["scales"]):
        for name, bound in bounds.items():
            largest = _FLOAT64_MAX / bound if bound > 0 else math.inf
            if not scale <= largest:
                raise ConfigError(
                    f"config key 'scales[{index}]': {scale:g} x the draws of distribution "
                    f"{name!r} overflow float64: |z| reaches {bound:.4g} (exceeded with "
                    f"probability 1e-18), so scales up to {largest:.4g} are allowed"
                )
    vectors = config["vectors"]
    if vectors["min"] > vectors["max"]:
        raise ConfigError(
            f"config key 'vectors': min ({vectors['min']}) must not exceed max ({vectors['max']})"
        )
    seen: dict[str, int] = {}
    specs = method_specs(config)
    _probe_plugins(config, specs)
    for index, (_name, _params, method_label) in enumerate(specs):
        if method_label in seen:
            raise ConfigError(
                f"config key 'methods[{index}]': duplicate of methods[{seen[method_label]}] "
                f"({method_label}); each method and parameter combination may appear once"
            )
        seen[method_label] = index
    if not config["limits"]["override"]:
        _check_method_limits(specs)
        with _about("k"):
            _check_job_limits(config, len(specs))
    return config


def _workflow_logits(config: Mapping, name: str) -> bool:
    """Whether distribution ``name`` (empirical) reads a file the workflow writes
    (WORKFLOW_LOGITS): then it must state ``classes`` and the file's writer must write it.
    ConfigError naming the key otherwise."""
    params = empirical_params(config["distributions"][name])
    writer = WORKFLOW_LOGITS.get(Path(params["path"]).as_posix().removeprefix("./"))
    if writer is None:
        return False
    rule, dataset = writer
    if params["classes"] is None:
        raise ConfigError(
            f"config key 'distributions.{name}.classes': required, since "
            f"{params['path']!r} is written by the workflow (rule {rule}) after the jobs "
            "are planned, so its K must be stated"
        )
    if dataset not in config["training"]["datasets"]:
        raise ConfigError(
            f"config key 'distributions.{name}.path': {params['path']!r} holds the "
            f"{dataset} test logits of rule {rule}, but training.datasets lacks {dataset!r}"
        )
    return True


def _empirical_bound(name: str, spec: Mapping) -> float:
    """draw_bound of an empirical distribution (reads and checks its file): ConfigError
    naming distributions.<name>.classes when classes disagrees with the file, else
    distributions.<name>.path for any problem of the file."""
    try:
        return draw_bound(spec)
    except ValueError as err:
        key = "classes" if str(err).startswith("classes =") else "path"
        raise ConfigError(f"config key 'distributions.{name}.{key}': {err}") from None


def probe_dtypes(config: Mapping) -> list[np.dtype]:
    """The formats a method of this config runs in: the sweep's dtypes, long double (the
    sweep's reference for float64 cells) and the training study's formats. Not quad, the
    reference where long double is float64 (softmaxlab.dtypes.float64_reference):
    importing numpy_quaddtype changes numpy's promotion of Python floats with bfloat16,
    which the training study computes in, so only the sweep's jobs import it; a plugin
    that cannot run in quad stops the sweep job there, naming the method."""
    names = [*config["dtypes"], *config.get("training", {}).get("dtypes", ())]
    dtypes = [DTYPES[name] for name in dict.fromkeys(["float64", *names])]
    return [*dtypes, np.dtype(np.longdouble)]


def _probe_plugins(config: Mapping, specs: list[tuple[str, dict, str]]) -> None:
    """ConfigError naming methods[i] for the first plugin method that raises, returns the
    wrong shape or dtype or modifies x on the probe vector in one of the config's formats
    (softmaxlab.plugins.probe)."""
    dtypes = probe_dtypes(config)
    for index, (name, params, _label) in enumerate(specs):
        found = plugin(name)
        if found is None:
            continue
        with _about(f"methods[{index}]"):
            try:
                plugins.probe(found, params, dtypes)
            except ValueError as err:
                raise ConfigError(f"config key 'methods[{index}]': {err}") from None


def method_specs(config: Mapping) -> list[tuple[str, dict, str]]:
    """(name, full parameters, label) for every configured method, in config order;
    ConfigError naming the entry (methods[i]) whose parameters are not allowed."""
    specs = []
    for index, entry in enumerate(config["methods"]):
        params = {key: value for key, value in entry.items() if key != "method"}
        with _about(f"methods[{index}]"):
            try:
                full = check_params(entry["method"], params)
            except ValueError as err:
                raise ConfigError(f"config key 'methods[{index}]': {err}") from None
            specs.append((entry["method"], full, label(entry["method"], full)))
    return specs


# --- limits: one job within the documented memory and time ---------------------------------


def _check_method_limits(specs: list[tuple[str, dict, str]]) -> None:
    """ConfigError for the first method parameter beyond its sweep limit
    (softmaxlab.methods.sweep_limits)."""
    for index, (name, params, _label) in enumerate(specs):
        for key, (low, high, why) in sweep_limits(name).items():
            if not low <= params[key] <= high:
                bounds = f">= {low:g}" if high == math.inf else f"within [{low:g}, {high:g}]"
                raise ConfigError(
                    f"config key 'methods[{index}]': {name} {key}={params[key]!r} is beyond "
                    f"the sweep limit ({key} {bounds}: {why}); {_OVERRIDE}"
                )


def _check_job_limits(config: Mapping, n_methods: int) -> None:
    """ConfigError when one sweep job would need more than LIMITS allow: memory for a K
    (its largest block, gradient directions and quantile samples), logits in one cell, or
    logits in one planned job (softmaxlab.sweep.plan_shards: shard_elements bounds a job
    of several cells, a smaller sweep makes smaller jobs). The key named is the one that
    dominates."""
    from softmaxlab import sweep  # sweep imports this module
    from softmaxlab.metrics import METRICS

    keys = {k: f"k[{index}]" for index, k in enumerate(config["k"])}
    for name in config["distributions"]:
        for k in sweep.ks(config, name):
            keys.setdefault(k, f"distributions.{name}")
    for k, k_key in keys.items():
        n = sweep.n_vectors(config, k)
        request = sweep.job_mem_mb(config, [sweep.Cell("", 1.0, k, "float64")])
        # A cell's metric block and quantile samples (run_cells' per_cell_bytes): job_mem_mb
        # counts PASS_BYTES of them, a single cell can hold more.
        rows = min(n, sweep.block_rows(k)) + min(n, config["quantile_vectors"])
        cell_bytes = rows * n_methods * len(METRICS) * 8
        samples = 1.25 * max(0, cell_bytes - sweep.PASS_BYTES) / 2**20
        if request + samples > LIMITS["job_mem_mb"]:
            grad = 1.25 * sweep.GradientDraws.BYTES_PER_LOGIT * config["grad_vectors"] * k / 2**20
            key = (
                "quantile_vectors"
                if samples > request
                else "grad_vectors"
                if grad > request / 2
                else k_key
            )
            raise ConfigError(
                f"config key {key!r}: a sweep job on K = {k} needs about "
                f"{request + samples:.0f} MiB (blocks and {config['grad_vectors']} gradient "
                f"directions {request} MiB, quantile samples {samples:.0f} MiB more), above "
                f"the limit of {LIMITS['job_mem_mb']} MiB per job; {_OVERRIDE}"
            )
        if n * k > LIMITS["job_elements"]:
            raise ConfigError(
                f"config key 'vectors': a cell of K = {k} gets {n} vectors ({n * k:.3g} logits), "
                f"above the limit of 4 x 10^8 logits per cell (about an hour of one job); lower "
                f"vectors.elements, vectors.min or vectors.max, or {_OVERRIDE}"
            )
    loads = [
        sum(sweep.cell_elements(config, cell) for cell in shard)
        for shard in sweep.plan_shards(config)
    ]
    if max(loads) > LIMITS["job_elements"]:
        raise ConfigError(
            f"config key 'shard_elements': with shard_elements = {config['shard_elements']} a "
            f"job gets {max(loads):.3g} logits, above the limit of 4 x 10^8 (about an hour "
            f"of one job); lower shard_elements or {_OVERRIDE}"
        )
