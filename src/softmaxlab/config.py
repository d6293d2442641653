"""Validation of a sweep config: JSON Schema first, then the checks a schema cannot express.

Every error names the config key, the bad value and what is allowed, so a user can fix the
file without reading code. ``validate`` returns a new dict with the schema's defaults
filled in and never touches the input.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import yaml

from softmaxlab.methods import check_params, label
from softmaxlab.sampling import family_params

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value is not allowed; the message says which key and what is allowed."""


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


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


def _number(text: str):
    """int or float for a numeric string, else the string itself."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def _coerce_list_numbers(config: dict) -> None:
    """Numeric strings inside top-level lists become numbers.

    Snakemake parses ``--config scales="[1, 10]"`` with YAML's BaseLoader, which leaves
    every list element a string; a config file never produces numeric strings there.
    """
    for key, value in config.items():
        if isinstance(value, list):
            config[key] = [_number(item) if isinstance(item, str) else item for item in value]


def _coerce_booleans(config: dict, schema: Mapping) -> None:
    """ "true"/"false" (any case) become booleans for the schema's boolean keys: Snakemake
    hands ``--config raw_metrics=true`` over as a string (it converts only True/False)."""
    for key, sub in schema.get("properties", {}).items():
        value = config.get(key)
        if sub.get("type") == "boolean" and isinstance(value, str):
            if value.lower() in ("true", "false"):
                config[key] = value.lower() == "true"


def _fill_defaults(config: dict, schema: Mapping) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(config[key], sub)


def validate(config: Mapping, schema: Mapping | None = None) -> dict:
    """The config with defaults filled in, or ConfigError naming the first bad key.

    Checks, in order: the JSON schema (types, ranges, allowed names); every distribution's
    family parameters; every method's parameters (softmaxlab.methods.check_params);
    vectors.min <= vectors.max; no two methods with the same label.
    """
    schema = load_schema() if schema is None else schema
    config = copy.deepcopy(dict(config))
    # Booleans are integers to JSON Schema's Python binding; a seed of `true` is a mistake.
    for key in ("seed", "grad_vectors", "quantile_vectors", "shard_elements"):
        if isinstance(config.get(key), bool):
            raise ConfigError(f"config key {key!r}: must be an integer, got {config[key]!r}")
    _coerce_list_numbers(config)
    _coerce_booleans(config, schema)
    _fill_defaults(config, schema)
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path)
    )
    if errors:
        raise ConfigError(_describe(errors[0]))
    for name, spec in config["distributions"].items():
        try:
            family_params(spec)
        except ValueError as err:
            raise ConfigError(f"config key 'distributions.{name}': {err}") from None
    vectors = config["vectors"]
    if vectors["min"] > vectors["max"]:
        raise ConfigError(
            f"config key 'vectors': min ({vectors['min']}) must not exceed max ({vectors['max']})"
        )
    seen: dict[str, int] = {}
    for index, (_name, _params, method_label) in enumerate(method_specs(config)):
        if method_label in seen:
            raise ConfigError(
                f"config key 'methods[{index}]': duplicate of methods[{seen[method_label]}] "
                f"({method_label}); each method and parameter combination may appear once"
            )
        seen[method_label] = index
    return config


def method_specs(config: Mapping) -> list[tuple[str, dict, str]]:
    """(name, full parameters, label) for every configured method, in config order;
    ConfigError naming the entry (methods[i]) whose parameters are not allowed."""
    specs = []
    for index, entry in enumerate(config["methods"]):
        params = {key: value for key, value in entry.items() if key != "method"}
        try:
            full = check_params(entry["method"], params)
        except ValueError as err:
            raise ConfigError(f"config key 'methods[{index}]': {err}") from None
        specs.append((entry["method"], full, label(entry["method"], full)))
    return specs
