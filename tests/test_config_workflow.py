"""Broken configs through snakemake itself: a non-zero exit, one "Invalid config:" line naming
the key, no traceback, nothing under results/ (issue 12). Dry runs of a copied project."""

import subprocess
import sys

import pytest
import yaml
from sweeps import TINY
from test_workflow import make_project

pytestmark = pytest.mark.workflow

SMALL_YAML = yaml.safe_dump(TINY, sort_keys=False)


def dry_run(root, *args, configfile=True):
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", *args]
    if configfile:
        cmd[3:3] = ["--configfile", "small.yaml"]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)


def assert_refused(result, root, *fragments):
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if "Invalid config:" in line]
    assert result.returncode != 0, output[-3000:]
    assert len(lines) == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (root / "results").exists()


CASES = [
    # (name, text of small.yaml, extra arguments, fragments of the one line)
    (
        "duplicate top-level key",
        SMALL_YAML + "seed: 12\n",
        [],
        ["small.yaml", "duplicate key 'seed'", "line"],
    ),
    (
        "duplicate nested key",
        SMALL_YAML.replace("  normal:\n", "  normal:\n    family: normal\n", 1),
        [],
        ["small.yaml", "duplicate key 'family'"],
    ),
    ("seed 3.0", SMALL_YAML.replace("seed: 5", "seed: 3.0"), [], ["'seed'", "integer", "3.0"]),
    (
        "400-digit integer",
        SMALL_YAML.replace("seed: 5", "seed: " + "9" * 400),
        [],
        ["'seed'", "400-digit"],
    ),
    (
        "a name that reads back as nan",
        SMALL_YAML.replace("  normal:\n", "  nan:\n", 1),
        [],
        ["'distributions'", "'nan'"],
    ),
    ("scale .nan", SMALL_YAML.replace("- 0.1\n", "- .nan\n", 1), [], ["'scales[0]'", "finite"]),
    (
        "nested --config number with a mistake",
        SMALL_YAML,
        ["--config", "vectors={elements: 2.5}"],
        ["'vectors.elements'", "2.5"],
    ),
    (
        "taylor order beyond the limit",
        SMALL_YAML,
        ["--config", "methods=[{method: taylor, order: 1000}]"],
        ["'methods[0]'", "override"],
    ),
]


@pytest.mark.parametrize(("name", "text", "args", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_broken_config_stops_snakemake_with_one_line(tmp_path, name, text, args, fragments):
    root = make_project(tmp_path / "p", TINY)
    (root / "small.yaml").write_text(text)
    result = dry_run(root, *args)
    assert_refused(result, root, *fragments)
    if "2.5" in fragments:
        assert "'2.5'" not in result.stderr


def test_duplicate_key_in_the_default_config_file_is_refused(tmp_path):
    # No --configfile: the Snakefile's configfile: directive loads config/config.yaml.
    root = make_project(tmp_path / "p", TINY)
    default = root / "config" / "config.yaml"
    default.write_text(default.read_text() + "\ngrad_vectors: 3\n")
    result = dry_run(root, configfile=False)
    assert_refused(result, root, "config.yaml", "duplicate key 'grad_vectors'")


def test_nested_command_line_values_run(tmp_path):
    root = make_project(tmp_path / "p", TINY)
    result = dry_run(
        root,
        "--config",
        "vectors={elements: 40, min: 2, max: 4}",
        "methods=[{method: taylor, order: 4}, {method: softmax, stable: false}]",
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Invalid config" not in result.stdout + result.stderr
