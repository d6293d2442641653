"""What a Snakemake user and a pandas user expect (issue 11, items 3 and 5): every CSV the
workflow writes loads with plain ``pd.read_csv`` as what the file holds; summary.parquet
holds the summary's rows; each rule gets only the config keys it reads, so regrouping the
sweep or keeping raw metrics reruns no table, claim, figure or report job; ``snakemake
--lint`` passes with no filter; the conda env lists the pinned packages; the schema ships
as package data, so a non-editable install validates a config; a --configfile replaces
the default config."""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sweeps import TINY
from test_workflow import make_project, snakemake

from softmaxlab import config as sl_config
from softmaxlab import manifest, sweep
from softmaxlab.config import command_line_configfiles

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """TINY end to end in a scratch copy of the project, with its default profile (what a
    plain `snakemake` uses: its max-checksum-file-size lets Snakemake see that a rewritten
    table kept its bytes)."""
    root = make_project(tmp_path_factory.mktemp("hygiene"), TINY)
    shutil.copytree(REPO / "profiles" / "default", root / "profiles" / "default")
    snakemake(root)
    return root


def csv_findings(path: Path) -> list[str]:
    """Where plain pd.read_csv disagrees with the file's text (read with dtype=str,
    keep_default_na=False): a field read as missing that is not empty, a number that is
    not the number written, a text that is not the text written."""
    plain = pd.read_csv(path)
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(plain.columns) == list(text.columns) and len(plain) == len(text)
    found = []
    for column in text.columns:
        missing = plain[column].isna().to_numpy()
        written = text[column].to_numpy(dtype=object)
        for value in sorted(set(written[missing]) - {""}):
            found.append(f"{path.name}: {column} {value!r} read as missing")
        kept = ~missing
        if pd.api.types.is_bool_dtype(plain[column]):
            same = plain[column].to_numpy()[kept].astype(str) == written[kept]
        elif pd.api.types.is_numeric_dtype(plain[column]):
            numbers = np.array([float(v) for v in written[kept]])
            same = (plain[column].to_numpy(dtype=float)[kept] == numbers) | (
                np.isnan(numbers) & np.isnan(plain[column].to_numpy(dtype=float)[kept])
            )
        else:  # text, or booleans with missing values (an object column)
            values = plain[column].to_numpy(dtype=object)[kept]
            same = np.array([str(v) if isinstance(v, bool | np.bool_) else v for v in values])
            same = same == written[kept]
        for value in sorted(set(written[kept][~same])):
            found.append(f"{path.name}: {column} {value!r} read as something else")
    return found


@pytest.mark.workflow
def test_every_csv_loads_with_plain_pandas(tiny_run):
    csvs = sorted((tiny_run / "results").rglob("*.csv"))
    names = {path.name for path in csvs}
    # Every kind of CSV the workflow writes is among them.
    for name in (
        "summary.csv",
        "claims.csv",
        "answer.csv",
        "worked_example.csv",
        "training.csv",
        "training_curves.csv",
        "training_check.csv",
        "c2_crossover.csv",
        "c13_reference.csv",
        "pivot_overflow_rate.csv",
        "shard_0.csv",
    ):
        assert name in names, name
    assert any(path.parent.name == "claim_details" for path in csvs)
    findings = [finding for path in csvs for finding in csv_findings(path)]
    assert not findings, "\n".join(findings)


def test_csv_findings_catches_what_pandas_misreads(tmp_path):
    """The check itself: pandas' default NA spellings and a text column of numbers."""
    path = tmp_path / "t.csv"
    path.write_text("name,value\nNA,1.5\nNone,\nnull,inf\nok,2\n")
    findings = csv_findings(path)
    assert findings == [
        "t.csv: name 'NA' read as missing",
        "t.csv: name 'None' read as missing",
        "t.csv: name 'null' read as missing",
    ]


@pytest.mark.workflow
def test_summary_parquet_holds_the_summary_rows(tiny_run):
    tables = tiny_run / "results" / "tables"
    from_csv = pd.read_csv(tables / "summary.csv", keep_default_na=False, na_values=[""])
    from_parquet = pd.read_parquet(tables / "summary.parquet")
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    pd.testing.assert_frame_equal(
        sweep.read_summary(tables / "summary.parquet"), sweep.read_summary(tables / "summary.csv")
    )
    assert dict(from_parquet.dtypes.astype(str)) == sweep.SUMMARY_DTYPES


@pytest.mark.workflow
def test_the_report_names_the_machines_that_computed_the_sweep(tiny_run):
    """The sweep's and the claims cells' merges list the machine their jobs ran on, and the
    report's manifest shows it (one kind of machine here)."""
    tables = tiny_run / "results" / "tables"
    for name in ("sweep_machines.json", "claims_cells_machines.json"):
        assert json.loads((tables / name).read_text()) == {"machines": [manifest.machine()]}
    page = (tiny_run / "results" / "report.html").read_text()
    machine = manifest.machine()
    shown = (
        f"{machine['platform']}, numpy {machine['numpy']}, numpy SIMD {machine['numpy_simd']}, "
        f"float64 errors against {machine['float64_reference']}"
    )
    assert re.search(rf"sweep computed on</th><td[^>]*>{re.escape(shown)}</td>", page)


def jobs_run(output: str) -> set[str]:
    """The rules of the jobs a Snakemake run's log says it ran."""
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", output, flags=re.M))


@pytest.mark.workflow
@pytest.mark.parametrize(
    "change", [["shard_elements=150"], ["raw_metrics=true"]], ids=["shard_elements", "raw"]
)
def test_run_only_keys_rerun_nothing_downstream(tiny_run, tmp_path, change):
    """Regrouping the sweep or keeping raw metrics reruns the sweep and its merge, whose
    tables keep their bytes: no pivot table, claim, figure, training or report job runs,
    and their outputs keep their bytes and times."""
    root = tmp_path / "p"
    subprocess.run(["cp", "-a", str(tiny_run), str(root)], check=True)
    downstream = [
        root / "results/report.html",
        root / "results/tables/claims.csv",
        root / "results/tables/pivot_overflow_rate.csv",
        root / "results/figures/distance_vs_scale.svg",
    ]
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in downstream}
    summary = (root / "results/tables/summary.parquet").read_bytes()
    result = snakemake(root, "--config", *change)
    ran = jobs_run(result.stdout + result.stderr)
    sweep_jobs = {"sweep_shard", "summary", "claims_shard", "claims_cells"}
    assert {"sweep_shard", "summary"} <= ran, ran
    assert ran <= {*sweep_jobs, "all"}, ran
    assert (root / "results/tables/summary.parquet").read_bytes() == summary
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in downstream} == before
    # A second run has nothing to do.
    again = snakemake(root, "--config", *change, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.workflow
def test_a_changed_value_still_reruns_downstream(tiny_run, tmp_path):
    """The other side of the checkpoint: a key that changes the summary (the seed) reruns
    the claims, figures and report."""
    root = tmp_path / "p"
    subprocess.run(["cp", "-a", str(tiny_run), str(root)], check=True)
    result = snakemake(root, "--dry-run", "--config", "seed=6")
    planned = jobs_run(result.stdout)
    rules = {"sweep_shard", "summary", "claims", "figures_1", "figures_2", "pivot_tables", "report"}
    assert rules <= planned


def test_no_rule_gets_the_whole_config():
    rules = "\n".join(p.read_text() for p in [REPO / "Snakefile", *REPO.glob("workflow/**/*.smk")])
    assert not re.search(r"=\s*config\s*,", rules)
    assert "workflow.overwrite_configfiles" not in rules
    assert "workflow.configfiles" not in rules


def test_snakemake_lint_passes_unfiltered():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Congratulations" in result.stdout + result.stderr
    assert not (REPO / ".ci" / "filter_lint.py").exists()


def test_conda_env_pins_what_the_lock_pins():
    env = yaml.safe_load((REPO / "workflow/envs/softmaxlab.yaml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    lock = [
        line.strip()
        for line in (REPO / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pip == ["-e ../..", *lock]
    # Every rule of the workflow names the env (snakemake --lint checks that it has one).
    rules = "\n".join(p.read_text() for p in REPO.glob("workflow/rules/*.smk"))
    n_rules = len(re.findall(r"^(?:rule|checkpoint) \w+:", rules, flags=re.M))
    assert rules.count('conda:\n        "../envs/softmaxlab.yaml"') == n_rules


@pytest.mark.parametrize(
    ("argv", "files"),
    [
        (["snakemake"], []),
        (["snakemake", "--config", "seed=7"], []),
        (["snakemake", "--configfile", "a.yaml", "--cores", "2"], ["a.yaml"]),
        (
            ["snakemake", "--configfiles", "a.yaml", "b.yaml", "--config", "k=1"],
            ["a.yaml", "b.yaml"],
        ),
        (["snakemake", "--configfile=a.yaml"], ["a.yaml"]),
        (["snakemake", "-n", "--configfile", "a.yaml", "--", "target.csv"], ["a.yaml"]),
        # Snakemake's argparse keeps the last of a repeated option, and so does this.
        (["snakemake", "--configfile", "a.yaml", "--configfile", "b.yaml"], ["b.yaml"]),
    ],
)
def test_command_line_configfiles(argv, files):
    assert command_line_configfiles(argv) == files


@pytest.mark.workflow
def test_configfile_replaces_the_default(tmp_path):
    """--configfile names the whole sweep (its one distribution, not the default's five);
    --config alone overrides keys of the default config."""
    small = {**TINY, "distributions": {"normal": {"family": "normal"}}}
    root = make_project(tmp_path / "p", small)

    def planned_shards(*args):
        cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", *args]
        out = subprocess.run(
            [*cmd, "--", "results/tables/summary.parquet"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return int(re.search(r"^sweep_shard\s+(\d+)$", out.stdout, flags=re.M).group(1))

    default = sl_config.load_config_file(root / "config" / "config.yaml")
    assert planned_shards("--configfile", "small.yaml") == len(
        sweep.plan_shards(sl_config.validate(small))
    )
    assert planned_shards("--config", "seed=7") == len(
        sweep.plan_shards(sl_config.validate(default))
    )


def test_non_editable_install_validates_a_config(tmp_path):
    """pip install (not -e) of a copy of the repository into a fresh venv that sees .venv's
    packages; then, from a folder outside the repository, the schema is package data and
    validates a config (its defaults filled in, a bad value refused naming the key)."""
    copy = tmp_path / "src"
    ignore = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in ignore:
        source = REPO / name
        if source.exists() or source.is_symlink():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                target.write_bytes(source.read_bytes())
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    # .venv's packages (numpy, setuptools, ...) through a .pth line, after the venv's own
    # site-packages; .pth files in that folder are not read, so .venv's editable
    # softmaxlab (its own .pth) stays out of the venv.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "dotvenv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
        + ["--no-build-isolation", "--no-cache-dir", "--no-index", str(copy)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "my.yaml").write_text(yaml.safe_dump({**TINY, "seed": 3}))
    script = (
        "import softmaxlab, softmaxlab.config as c\n"
        "print(softmaxlab.__file__)\n"
        "print(c.SCHEMA_PATH)\n"
        "cfg = c.validate(c.load_config_file('my.yaml'))\n"
        "print(cfg['seed'], cfg['raw_metrics'], cfg['quantile_vectors'])\n"
        "try:\n"
        "    c.validate({**cfg, 'grad_vectors': -1})\n"
        "except c.ConfigError as e:\n"
        "    print('refused:', e)\n"
    )
    out = subprocess.run(
        [str(python), "-c", script], cwd=outside, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith(site) and out[1].startswith(site), out
    assert out[1].endswith("softmaxlab/schemas/config.schema.yaml")
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    default = schema["properties"]["quantile_vectors"]["default"]  # TINY does not set it
    assert out[2] == f"3 False {default}", out
    assert out[3].startswith("refused: config key 'grad_vectors'"), out
