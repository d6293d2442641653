"""No wrong result with exit code 0 (issue 12): verified merges, names read as text, code as
an input of the jobs, and the clean-up of temporaries left by killed writes.

The library-level tests run in a second; the workflow tests (marked ``workflow``) run
Snakemake on scratch copies of the project."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sweeps import TINY

from softmaxlab import config as sl_config
from softmaxlab import files, manifest, provenance, sweep

REPO = Path(__file__).resolve().parents[1]

# --- merges verify -------------------------------------------------------------------

SHARDED = {**TINY, "methods": TINY["methods"][:3], "dtypes": ["float64"], "shard_elements": 100}


@pytest.fixture(scope="module")
def shard_set(tmp_path_factory):
    """The plan's shards of SHARDED, written with their manifests, and the merged bytes."""
    config = sl_config.validate(SHARDED)
    plan = sweep.plan_shards(config)
    assert len(plan) >= 3
    root = tmp_path_factory.mktemp("shards")
    for i, cells in enumerate(plan):
        sweep.write_shard(sweep.run_cells(config, cells), root / f"shard_{i}.csv", cells, config)
    merged = root / "merged.csv"
    sweep.merge_shards(shards(root, plan), config, merged)
    return config, plan, root, merged.read_bytes()


def shards(root: Path, plan) -> list[Path]:
    return [root / f"shard_{i}.csv" for i in range(len(plan))]


@pytest.fixture
def damaged(shard_set, tmp_path):
    """A fresh copy of the shards to damage, and a function that merges them."""
    config, plan, root, _ = shard_set
    copy = tmp_path / "shards"
    shutil.copytree(root, copy)
    (copy / "merged.csv").unlink()

    def merge(**kwargs):
        return sweep.merge_shards(shards(copy, plan), config, copy / "merged.csv", **kwargs)

    return copy, merge


def reseal(shard: Path) -> None:
    """Recompute a shard's manifest checksum and row count after damaging it: what a writer
    with a bug would leave, so that the field and key checks are tested on their own."""
    manifest = json.loads(sweep.manifest_path(shard).read_text())
    data = shard.read_bytes()
    manifest.update(sha256=hashlib.sha256(data).hexdigest(), rows=data.count(b"\n") - 1)
    sweep.manifest_path(shard).write_text(json.dumps(manifest))


def edit_lines(shard: Path, edit) -> None:
    header, *rows = shard.read_text().splitlines(keepends=True)
    edited = header + "".join(edit(rows))
    assert edited != shard.read_text()
    shard.write_text(edited)


def replace_field(line: str, column: str, value: str) -> str:
    """``line`` with one unquoted numeric field replaced (fields after the quoted label)."""
    head, sep, tail = line.rpartition('"')  # labels with commas are quoted
    fields = tail.split(",")
    offset = len(sweep.COLUMNS) - len(fields)
    fields[sweep.COLUMNS.index(column) - offset] = value
    return head + sep + ",".join(fields)


def respell_scale(line: str) -> str:
    distribution, scale, rest = line.split(",", 2)
    return f"{distribution},{scale}0,{rest}"


def test_intact_shards_merge(damaged, shard_set):
    copy, merge = damaged
    merge()
    assert (copy / "merged.csv").read_bytes() == shard_set[3]


DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "cut mid-line": lambda p: p.write_bytes(p.read_bytes()[:-7]),
    "last rows dropped": lambda p: edit_lines(p, lambda rows: rows[:-3]),
    "duplicated row": lambda p: edit_lines(p, lambda rows: [rows[0], *rows[:-1]]),
    "edited value": lambda p: edit_lines(
        p, lambda rows: [replace_field(rows[0], "mean", "0.123"), *rows[1:]]
    ),
    "text for a mean": lambda p: edit_lines(
        p, lambda rows: [replace_field(rows[0], "mean", "abc"), *rows[1:]]
    ),
    "copied over": lambda p: shutil.copy(p.with_name("shard_0.csv"), p),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_shard_is_refused_by_name(damaged, kind):
    """Finding 2: each kind of damage made the merge succeed (or fail without naming the
    shard); now the merge fails naming the shard and writes nothing."""
    copy, merge = damaged
    DAMAGE[kind](copy / "shard_1.csv")
    with pytest.raises(sweep.ShardError, match=r"^\S*shard_1\.csv: .*SHA-256") as error:
        merge()
    assert error.value.shard == copy / "shard_1.csv"
    assert "\n" not in str(error.value)
    assert not (copy / "merged.csv").exists()


SEALED_DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-200]), "rows|last line is cut"),
    "cut mid-line": (lambda p: p.write_bytes(p.read_bytes()[:-7]), "last line is cut"),
    "duplicated row": (
        lambda p: edit_lines(p, lambda rows: [rows[0], rows[0], *rows[2:]]),
        "appears more than once",
    ),
    "text for a mean": (
        lambda p: edit_lines(p, lambda rows: [replace_field(rows[0], "mean", "abc"), *rows[1:]]),
        "malformed CSV.*abc",
    ),
    "fractional n": (
        lambda p: edit_lines(p, lambda rows: [replace_field(rows[0], "n", "3.5"), *rows[1:]]),
        "n = '3.5' is not a count",
    ),
    "scale spelled otherwise": (  # 3.0 as 3.00: the same number, not write_csv's text
        lambda p: edit_lines(p, lambda rows: [respell_scale(rows[0]), *rows[1:]]),
        "keys this config does not have",
    ),
    "row of another shard": (
        lambda p: edit_lines(
            p, lambda rows: [p.with_name("shard_0.csv").read_text().splitlines(True)[1], *rows[1:]]
        ),
        "not planned to hold|more than once",
    ),
}


@pytest.mark.parametrize("kind", SEALED_DAMAGE)
def test_field_and_key_checks_without_the_checksum(damaged, kind):
    """Damage with a matching checksum (a writer's bug, not a later edit): the row count,
    field and key checks still name the shard."""
    copy, merge = damaged
    damage, message = SEALED_DAMAGE[kind]
    damage(copy / "shard_1.csv")
    reseal(copy / "shard_1.csv")
    with pytest.raises(sweep.ShardError, match=rf"shard_1\.csv: .*({message})"):
        merge()


# Damage at the tenth data row, where a shard parsed 4 rows at a time is in its third part.
LATE_DAMAGE = {
    "fractional n": lambda rows: [*rows[:9], replace_field(rows[9], "n", "3.5"), *rows[10:]],
    "text for a mean": lambda rows: [*rows[:9], replace_field(rows[9], "mean", "x"), *rows[10:]],
    "scale spelled otherwise": lambda rows: [*rows[:9], respell_scale(rows[9]), *rows[10:]],
    "duplicated row": lambda rows: [*rows[:10], rows[9], *rows[11:]],
    "extra field": lambda rows: [*rows[:9], rows[9].replace("\n", ",1\n"), *rows[10:]],
}


@pytest.mark.parametrize("kind", LATE_DAMAGE)
def test_a_shard_parsed_in_parts_is_verified_as_whole(damaged, shard_set, monkeypatch, kind):
    """The merge parses a shard VERIFY_ROWS rows at a time (its memory): parsed 4 rows at a
    time, intact shards merge to the same bytes, and damage past the first part is refused
    with the message (and row) of the shard parsed at once."""
    copy, merge = damaged
    monkeypatch.setattr(sweep.io, "VERIFY_ROWS", 4)
    merge()
    assert (copy / "merged.csv").read_bytes() == shard_set[3]
    (copy / "merged.csv").unlink()
    edit_lines(copy / "shard_1.csv", LATE_DAMAGE[kind])
    reseal(copy / "shard_1.csv")
    with pytest.raises(sweep.ShardError, match=r"shard_1\.csv: ") as in_parts:
        merge()
    monkeypatch.setattr(sweep.io, "VERIFY_ROWS", 10**6)
    with pytest.raises(sweep.ShardError) as whole:
        merge()
    assert str(in_parts.value) == str(whole.value)
    assert not (copy / "merged.csv").exists()


def test_shard_and_manifest_copied_over_another(damaged):
    copy, merge = damaged
    for suffix in (".csv", ".json"):
        shutil.copy(copy / f"shard_0{suffix}", copy / f"shard_2{suffix}")
    with pytest.raises(sweep.ShardError, match=r"shard_2\.csv: its manifest's cells are not"):
        merge()


def test_missing_or_broken_manifest(damaged):
    copy, merge = damaged
    sweep.manifest_path(copy / "shard_1.csv").write_text("{")
    with pytest.raises(sweep.ShardError, match=r"shard_1\.csv: no readable manifest"):
        merge()
    sweep.manifest_path(copy / "shard_1.csv").unlink()
    with pytest.raises(sweep.ShardError, match=r"shard_1\.csv: no readable manifest"):
        merge()


def test_discarding_a_damaged_shard_deletes_it_and_only_it(damaged):
    copy, merge = damaged
    DAMAGE["truncated"](copy / "shard_1.csv")
    with pytest.raises(sweep.ShardError, match="deleted it and its manifest"):
        merge(discard_damaged=True)
    assert not (copy / "shard_1.csv").exists() and not (copy / "shard_1.json").exists()
    assert (copy / "shard_0.csv").exists() and (copy / "shard_2.json").exists()


def test_wrong_number_of_shards(damaged, shard_set):
    config, plan, root, _ = shard_set
    with pytest.raises(ValueError, match=f"2 shards to merge, but the config plans {len(plan)}"):
        sweep.merge_shards(shards(root, plan)[:2], config, damaged[0] / "merged.csv")


def test_the_merge_names_the_machines_that_computed_the_shards(damaged, shard_set):
    copy, merge = damaged
    plan = shard_set[1]
    found = copy / "machines.json"
    merge(machines=found)
    assert json.loads(found.read_text()) == {"machines": [manifest.machine()]}
    # Another kind of machine for one job, and a shard from before manifests named theirs.
    other = {**manifest.machine(), "numpy_simd": "X86_V2 X86_V3 X86_V4"}
    for shard, machine in [(copy / "shard_0.csv", other), (copy / "shard_1.csv", None)]:
        written = json.loads(sweep.manifest_path(shard).read_text())
        written.pop("machine")
        if machine is not None:
            written["machine"] = machine
        sweep.manifest_path(shard).write_text(json.dumps(written))
    merge(machines=found)
    expected = [{"platform": "unknown"}, manifest.machine(), other]
    assert sorted(json.dumps(m, sort_keys=True) for m in expected) == [
        json.dumps(m, sort_keys=True) for m in json.loads(found.read_text())["machines"]
    ]
    assert len(sweep.shard_machines(shards(copy, plan))) == 3


@pytest.mark.parametrize("machine", ["vm", ["x86_64"], {"numpy": 2}, None])
def test_a_manifest_machine_that_is_not_an_object_of_strings_is_a_damaged_shard(damaged, machine):
    """A hand-edited machine entry is named in one line (ShardError, before anything is
    written), and with discard_damaged the shard is deleted to be recomputed."""
    copy, merge = damaged
    written = json.loads(sweep.manifest_path(copy / "shard_1.csv").read_text())
    written["machine"] = machine
    sweep.manifest_path(copy / "shard_1.csv").write_text(json.dumps(written))
    merged = copy / "merged.csv"
    with pytest.raises(
        sweep.ShardError, match=r"shard_1\.csv: its manifest's machine is not a JSON object"
    ):
        merge(machines=copy / "machines.json")
    assert not (copy / "machines.json").exists() and not merged.exists()
    with pytest.raises(sweep.ShardError, match="deleted it and its manifest"):
        merge(discard_damaged=True)
    assert not (copy / "shard_1.csv").exists()


def test_numpy_simd_is_what_show_runtime_lists():
    """An independent reading: np.show_runtime's printed baseline and found features."""
    import contextlib
    import io
    import re

    import numpy as np

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        np.show_runtime()
    text = " ".join(printed.getvalue().split())
    lists = {
        key: re.findall(r"'([A-Z0-9_]+)'", re.search(rf"'{key}': \[([^]]*)\]", text)[1])
        for key in ("baseline", "found")
    }
    assert manifest.numpy_simd() == " ".join(lists["baseline"] + lists["found"])
    assert manifest.machine()["numpy"] == np.__version__


# --- names read back as names (finding 3, the reading side) ----------------------------


@pytest.mark.parametrize(
    "names",
    [["1e3", "1000"], ["True", "False"], ["1", "1.0"], ["nan", "NA"], ["007", "7"]],
)
def test_names_like_numbers_stay_text(tmp_path, names):
    """Distributions named like numbers, booleans or missing values read back as the text
    they are. Before, read_summary turned ["1e3", "1000"] into 1000.0 twice (one
    distribution where there were two), ["True", "False"] into booleans."""
    frame = pd.DataFrame(
        {
            "distribution": names,
            "scale": [1.0, 1e-5],
            "k": [2, 3],
            "dtype": ["float64", "float16"],
            "method": ["softmax", "softmax"],
            "label": ["softmax", "softmax"],
            "metric": ["nan", "entropy"],
            "n": [0, 4],
            "mean": [float("nan"), float("inf")],
        }
    )
    path = tmp_path / "summary.csv"
    sweep.write_csv(frame, path)
    back = sweep.read_summary(path)
    assert back["distribution"].tolist() == names
    assert back["metric"].tolist() == ["nan", "entropy"]
    assert back["k"].tolist() == [2, 3] and back["scale"].tolist() == [1.0, 1e-5]
    assert back["mean"].isna().tolist() == [True, False] and back["mean"].iloc[1] == float("inf")
    # Any table the workflow wrote, e.g. a pivot indexed by distribution.
    pivot = tmp_path / "pivot.csv"
    frame.set_index("distribution")[["mean"]].to_csv(pivot, lineterminator="\n")
    assert sweep.read_table(pivot, index_col=0).index.tolist() == names


# --- clean-up of temporaries (finding 7) --------------------------------------------------


def test_atomic_write_removes_its_own_stale_temporaries(tmp_path):
    target = tmp_path / "summary.csv"
    stale = tmp_path / ".summary.csv.k3j_x0qa.tmp"
    stale_dir = tmp_path / ".summary.csv.abcdefgh.tmp"
    keep = [
        tmp_path / ".summary.csv.short.tmp",  # not mkstemp's 8 characters
        tmp_path / ".other.csv.k3j_x0qa.tmp",  # another target's
        tmp_path / "summary.csv.k3j_x0qa.tmp",  # no leading dot
        tmp_path / ".summary.csv.k3j_x0qa.tmp.bak",
    ]
    for path in [stale, *keep]:
        path.write_text("partial")
    stale_dir.mkdir()
    (stale_dir / "x.csv").write_text("partial")
    with files.atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    assert not stale.exists() and not stale_dir.exists()
    assert all(path.exists() for path in keep)


def test_remove_temporaries_only_older_ones(tmp_path):
    old = tmp_path / "tables" / ".summary.csv.aaaaaaaa.tmp"
    young = tmp_path / "figures" / ".a.svg.bbbbbbbb.tmp"
    other = tmp_path / "tables" / ".notes.tmp"
    for path in (old, young, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
    os.utime(old, (time.time() - 100, time.time() - 100))
    assert files.remove_temporaries(tmp_path, before=time.time() - 50) == [old]
    assert not old.exists() and young.exists() and other.exists()


def test_atomic_dir_is_whole_or_absent(tmp_path):
    target = tmp_path / "details"
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_dir(target) as tmp:
            (tmp / "a.csv").write_text("1")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with files.atomic_dir(target) as tmp:
        (tmp / "a.csv").write_text("1")
    with files.atomic_dir(target) as tmp:  # replaces the old folder
        (tmp / "b.csv").write_text("2")
    assert [p.name for p in target.iterdir()] == ["b.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["details"]


# --- code is an input: the import walk -----------------------------------------------------


def test_scripts_depend_on_the_modules_they_import():
    scripts = REPO / "scripts"
    modules = {path.stem: set(provenance.library_modules(path)) for path in scripts.glob("*.py")}
    # Every script imports the package (so its __init__) and the sweep's readers.
    assert all({"softmaxlab", "softmaxlab.sweep"} <= found for found in modules.values())
    assert "softmaxlab.figures" in modules["figures"]
    assert {"softmaxlab.report", "softmaxlab.manifest"} <= modules["report"]
    for script in ("sweep_shard", "merge_summary", "claims", "worked_example", "pivot_tables"):
        assert "softmaxlab.figures" not in modules[script]
        assert "softmaxlab.report" not in modules[script]
    assert "softmaxlab.claims" not in modules["sweep_shard"] | modules["pivot_tables"]
    assert "softmaxlab.raw" in modules["sweep_shard"]
    # The sweep package's modules, each of them: an edit to any reruns the sweep's jobs.
    sweep_modules = {f"softmaxlab.sweep.{name}" for name in ("plan", "run", "io")}
    assert sweep_modules <= modules["sweep_shard"] & modules["merge_summary"]
    # Likewise the methods package's modules: an edit to any method reruns the sweep's jobs.
    methods_modules = {
        f"softmaxlab.methods.{name}" for name in ("context", "maps", "registry", "run")
    }
    assert {"softmaxlab.methods", *methods_modules} <= modules["sweep_shard"]
    # A package's data files (the report's templates) count for the scripts that import it.
    report_data = [name for name in provenance.code_version(scripts / "report.py") if ":" in name]
    assert any(name.startswith("softmaxlab.report:") for name in report_data)
    assert not any(":" in name for name in provenance.code_version(scripts / "sweep_shard.py"))


def test_import_forms_are_resolved():
    source = """
import softmaxlab.stats
from softmaxlab import sweep, normalize
from . import tables
from .figures import make_figure
import importlib
def later():
    importlib.import_module("softmaxlab.report")
    from softmaxlab.methods import label
"""
    names = provenance.imported_names(source, "softmaxlab.claims", is_package=False)
    assert {
        "softmaxlab",
        "softmaxlab.stats",
        "softmaxlab.sweep",
        "softmaxlab.normalize",  # a candidate; not a file, so library_modules drops it
        "softmaxlab.tables",
        "softmaxlab.figures",
        "softmaxlab.report",
        "softmaxlab.methods",
    } <= names
    assert provenance.module_file("softmaxlab.normalize") is None
    assert provenance.module_file("numpy") is None
    assert provenance.module_file("softmaxlab.tables") == provenance.package_dir() / "tables.py"


def test_code_version_follows_the_installed_copy(tmp_path):
    """The digests are those of the files Python imports, wherever the package is
    installed (here a plain, non-editable copy first on PYTHONPATH); an edit to one module
    changes that module's digest alone."""
    lib = tmp_path / "lib"
    shutil.copytree(
        provenance.package_dir(), lib / "softmaxlab", ignore=shutil.ignore_patterns("__pycache__")
    )
    code = (
        "import json, sys; from softmaxlab import provenance as p; "
        "print(json.dumps([str(p.package_dir()), p.code_version(sys.argv[1])]))"
    )

    def versions():
        result = subprocess.run(
            [sys.executable, "-c", code, str(REPO / "scripts" / "figures.py")],
            env={**os.environ, "PYTHONPATH": str(lib)},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout)

    where, before = versions()
    assert where == str(lib / "softmaxlab")
    edited = module_file(lib, "softmaxlab.tables")
    append(edited, "\n# an edit\n")
    _, after = versions()
    assert {name for name in before if before[name] != after[name]} == {"softmaxlab.tables"}


# --- the workflow ------------------------------------------------------------------------

WORKFLOW_CONFIG = {
    **TINY,
    "scales": [0.1, 200.0],
    "k": [2, 10],
    "dtypes": ["float64", "float16"],
    "distributions": {"normal": {"family": "normal"}},
    "methods": [{"method": "argmax"}, {"method": "linear"}, {"method": "softmax"}],
    "shard_elements": 100,
}


def make_project(root: Path, config: dict, library: bool = False) -> Path:
    """A copy of the workflow with its own config; with ``library``, a copy of the library
    too, found first on PYTHONPATH (so that a test can edit it)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("workflow", "scripts", "config"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    (root / "small.yaml").write_text(json.dumps(config))
    if library:
        shutil.copytree(
            provenance.package_dir(),
            root / "lib" / "softmaxlab",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return root


def snakemake(root: Path, *args, check=True):
    env = dict(os.environ)
    if (root / "lib").is_dir():
        env["PYTHONPATH"] = os.pathsep.join([str(root / "lib"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "small.yaml", "--cores", "2", *args]
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def planned_jobs(root: Path, *args: str) -> dict[str, int]:
    """rule -> jobs that `snakemake *args` would run now (from the dry run's job stats)."""
    result = snakemake(root, "--dry-run", "--quiet", "rules", *args)
    output = result.stdout + result.stderr
    if "Nothing to be done" in output:
        return {}
    lines = output[output.index("Job stats:") :].splitlines()[3:]
    jobs = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def importers(module: str) -> set[str]:
    """The scripts (by stem) that import ``module``, directly or not: their rules rerun."""
    return {
        path.stem
        for path in (REPO / "scripts").glob("*.py")
        if module in provenance.library_modules(path)
    }


def module_file(lib: Path, name: str) -> Path:
    """The file of module ``name`` in the library copy under ``lib`` (a module or a package)."""
    folder = lib.joinpath(*name.split("."))
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")


def append(path: Path, text: str) -> bytes:
    original = path.read_bytes()
    path.write_bytes(original + text.encode())
    return original


@pytest.mark.workflow
def test_library_change_reruns_exactly_its_jobs(tmp_path):
    """Finding 1: after an edit to a library module, `snakemake` said "Nothing to be done".
    Now the dry run lists exactly the jobs whose scripts import the module, and those
    downstream of them."""
    root = make_project(tmp_path / "code", WORKFLOW_CONFIG, library=True)
    snakemake(root)
    assert planned_jobs(root) == {}
    everything = planned_jobs(root, "--forceall")
    assert everything["sweep_shard"] == len(sweep.plan_shards(sl_config.validate(WORKFLOW_CONFIG)))
    # Rules beyond those named here (e.g. the training study) rerun when their scripts
    # import the module: the import graph says which, Snakemake's dry run must agree.
    # The training study's verdict job draws its figure, and the claims job reads its
    # verdict (C15): a figure edit reruns that job, hence the claims, whose output the
    # report reads; never the training itself (its job imports no figure nor claim).
    figure_users = (
        {"training_verdict": 1, "claims": 1}
        if "training_verdict" in importers("softmaxlab.figures")
        else {}
    )
    # Two jobs draw the figures, each a batch of them (workflow/rules/figures.smk).
    figure_jobs = {"figures_1": 1, "figures_2": 1}
    assert importers("softmaxlab.figures") <= {"figures", "report", "training_verdict"}
    assert "training" not in importers("softmaxlab.claims") | importers("softmaxlab.figures")
    lib = root / "lib"
    expectations = {
        "softmaxlab.figures": {"all": 1, **figure_jobs, "report": 1, **figure_users},
        "softmaxlab.report": {"all": 1, "report": 1},
        "softmaxlab.methods": everything,  # everything from the sweep on
    }
    for module, expected in expectations.items():
        original = append(module_file(lib, module), "\n# an edit\n")
        assert planned_jobs(root) == expected, module
        module_file(lib, module).write_bytes(original)
    # An edit to C15's text reruns the verdict job and what reads claims, not the training
    # (nor, through the digits logits it writes, the sweep).
    original = append(module_file(lib, "softmaxlab.training.verdict"), "\n# an edit\n")
    planned = planned_jobs(root)
    assert planned["training_verdict"] == 1 and planned["claims"] == 1, planned
    assert "training" not in planned and "sweep_shard" not in planned, planned
    module_file(lib, "softmaxlab.training.verdict").write_bytes(original)
    assert planned_jobs(root) == {}  # the same code again: nothing to do
    # A run records the new code: a figure-only change runs the figure jobs and the report
    # (not the sweep), and then nothing is left to do.
    append(module_file(lib, "softmaxlab.figures"), "\n# an edit\n")
    summary = (root / "results/tables/summary.csv").stat().st_mtime_ns
    snakemake(root)
    assert (root / "results/tables/summary.csv").stat().st_mtime_ns == summary
    assert planned_jobs(root) == {}


@pytest.mark.workflow
def test_damaged_shard_fails_then_is_recomputed(tmp_path):
    """Finding 2 end to end: a truncated shard made `snakemake` exit 0 on the damaged data.
    Now the merge fails naming the shard, and the next plain run recomputes that shard
    alone and merges the same bytes as before."""
    root = make_project(tmp_path / "damaged", WORKFLOW_CONFIG)
    target = "results/tables/summary.csv"
    snakemake(root, target)
    summary = (root / target).read_bytes()
    shard = root / "results/shards/shard_1.csv"
    shard.write_bytes(shard.read_bytes()[:-100])
    failed = snakemake(root, target, check=False)
    assert failed.returncode != 0
    log = (root / "logs/summary.log").read_text()
    assert log.startswith("results/shards/shard_1.csv: its bytes differ from the SHA-256")
    assert "Traceback" not in log and len(log.strip().splitlines()) == 1
    assert not shard.exists() and not (root / target).exists()
    planned = planned_jobs(root)
    assert planned["sweep_shard"] == 1 and planned["summary"] == 1
    rerun = snakemake(root, target)
    assert "rule sweep_shard" in rerun.stdout + rerun.stderr
    assert (root / target).read_bytes() == summary


@pytest.mark.workflow
def test_stale_temporaries_are_removed_on_the_next_run(tmp_path):
    """Finding 7: a killed write's temporary stayed forever. Now the next run removes the
    workflow's own temporaries under results/, and nothing else."""
    root = make_project(tmp_path / "temps", WORKFLOW_CONFIG)
    target = "results/tables/summary.csv"
    snakemake(root, target)
    stale = [
        root / "results/tables/.summary.csv.k3j_x0qa.tmp",  # rewritten by this run
        root / "results/figures/.softmax_family.svg.aaaa_bbb.tmp",  # not rewritten
        root / "results/tables/.claim_details.qqqqqqqq.tmp",  # a folder's
    ]
    kept = [root / "results/tables/.notes.tmp", root / "results/keep.k3j_x0qa.tmp"]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
    (root / target).unlink()  # something to do: the merge (onstart runs only then)
    snakemake(root, target)
    assert [path for path in stale if path.exists()] == []
    assert all(path.exists() for path in kept)


# Boundary values of the schema's keys, combined into two tiny sweeps: a config the schema
# allows must run to a report (finding 4: grad_vectors: 0 failed in the claims job).
BOUNDARIES = {
    "minimal": {
        "seed": 0,
        "scales": [1.0],  # one scale
        "k": [2],  # the smallest K, alone
        "dtypes": ["float8_e4m3fn"],  # one format, the narrowest
        "distributions": {"only": {"family": "normal"}},  # one distribution
        "methods": [{"method": "linear"}],  # one method, not softmax
        "vectors": {"elements": 1, "min": 1, "max": 1},  # one vector a cell
        "grad_vectors": 0,
        "quantile_vectors": 1,
        "shard_elements": 1,
    },
    "softmax_only": {
        "seed": 2,
        "scales": [0.5, 50.0],
        "k": [2, 3],
        "dtypes": ["float64", "bfloat16"],
        "distributions": {"pos": {"family": "uniform", "low": 0.0, "high": 1.0}},
        "methods": [{"method": "softmax"}],
        "vectors": {"elements": 1, "min": 2, "max": 2},
        "grad_vectors": 1,
        "quantile_vectors": 1,
        "shard_elements": 1,  # one cell a shard
    },
}


@pytest.mark.workflow
@pytest.mark.parametrize("case", BOUNDARIES)
def test_boundary_configs_run_to_a_report(tmp_path, case):
    config = BOUNDARIES[case]
    root = make_project(tmp_path / case, config)
    snakemake(root)
    from softmaxlab.metrics import METRICS

    validated = sl_config.validate(config)
    summary = sweep.read_summary(root / "results/tables/summary.csv")
    assert len(summary) == len(sweep.cells(validated)) * len(config["methods"]) * len(METRICS)
    assert len(list((root / "results/shards").glob("shard_*.csv"))) == len(
        sweep.plan_shards(validated)
    )
    ledger = sweep.read_table(root / "results/tables/claims.csv")
    assert list(ledger["claim"]) == [f"C{i}" for i in range(1, 16)]
    report = (root / "results/report.html").read_text()
    assert "C13" in report
    if config["grad_vectors"] == 0:
        c3 = ledger.set_index("claim").loc["C3"]
        assert c3["verdict"] == "not measured" and "grad_vectors is 0" in c3["conditions"]
        assert "grad_vectors is 0" in report
        caption = (root / "results/figures/gradient_vs_scale.caption.md").read_text()
        assert "No gradient data" in caption
