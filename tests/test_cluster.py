"""The workflow on a (simulated) cluster, and the size of the cluster-sized sweep's DAG.

A cluster executor hands every job to a submit command and runs it as a separate
``snakemake`` process that shares only the file system with the main one. Here the submit
command is a script that starts the job script as a detached local process, which is what
a batch system does on a compute node; the tables must come out byte-identical to a plain
local run. The dry run of config/large.yaml checks that the DAG has exactly the jobs the
shard plan (softmaxlab.sweep.plan_shards) predicts, counted by an independent path: the
job stats Snakemake prints.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_workflow import SMALL, make_project

from softmaxlab import config as sl_config
from softmaxlab import sweep

REPO = Path(__file__).resolve().parents[1]
TARGETS = ("results/tables/summary.csv", "results/tables/claims.csv")
pytestmark = pytest.mark.workflow

# The batch system: start the job script (the last argument) detached from the submitting
# process, with its output in a file of its own, and print the job id (here the pid).
SUBMIT = """#!/bin/bash
jobscript="${@: -1}"
batch="$(dirname "$0")"
nohup bash "$jobscript" > "$batch/$(basename "$jobscript").out" 2>&1 < /dev/null &
echo "$!" | tee -a "$batch/submitted.txt"
"""


def _snakemake(root: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "small.yaml", *args]
    return subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"snakemake failed:\n{out[-6000:]}"
    return out


def test_cluster_generic_executor_matches_local_run(tmp_path):
    local = make_project(tmp_path / "local", SMALL)
    cluster = make_project(tmp_path / "cluster", SMALL)
    submit = tmp_path / "batch" / "submit.sh"
    submit.parent.mkdir()
    submit.write_text(SUBMIT)
    submit.chmod(submit.stat().st_mode | stat.S_IXUSR)
    # No status command: with a shared file system the plugin watches the job's
    # "finished"/"failed" marker files; checking every second keeps the test short.
    cluster_run = _snakemake(
        cluster,
        "--executor", "cluster-generic",
        "--cluster-generic-submit-cmd", str(submit),
        "--jobs", "2",
        "--seconds-between-status-checks", "1",
        "--latency-wait", "10",
        *TARGETS,
    )  # fmt: skip
    local_run = _snakemake(local, "--cores", "2", *TARGETS)
    cluster_out = _finish(cluster_run)
    _finish(local_run)

    # Every job of the plan went through the submit command but the localrules' (the
    # Snakefile's: under a second each), which ran in the main process.
    stats = _job_stats(cluster_out)
    config = sl_config.validate(SMALL)
    assert stats["sweep_shard"] == len(sweep.plan_shards(config)) > 1
    submitted = stats["total"] - stats["worked_example"] - stats["orderstats"]
    job_ids = (submit.parent / "submitted.txt").read_text().split()
    assert len(job_ids) == len(set(job_ids)) == submitted, cluster_out[-3000:]
    assert cluster_out.count("with external jobid") == submitted
    for table in TARGETS:
        assert (cluster / table).read_bytes() == (local / table).read_bytes(), table


def _job_stats(output: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table (rule -> count), parsed from its printed output."""
    counts: dict[str, int] = {}
    for line in output.split("Job stats:", 1)[1].splitlines():
        match = re.match(r"^(\S+)\s+(\d+)\s*$", line)
        if match:
            counts[match.group(1)] = int(match.group(2))
        elif counts:
            break
    return counts


def test_large_config_dry_run_has_the_planned_jobs(tmp_path):
    from softmaxlab import claim_checks, claims

    root = tmp_path / "large"
    root.mkdir()
    for name in ("workflow", "scripts", "config"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    env = {**os.environ, "SNAKEMAKE_PROFILE": "none"}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "2",
         "--configfile", "config/large.yaml"],
        cwd=root, capture_output=True, text=True, env=env, timeout=80,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stats = _job_stats(result.stdout + result.stderr)

    # What Snakemake sees: config/config.yaml with config/large.yaml merged over it.
    # --configfile replaces config/config.yaml (see the Snakefile).
    config = sl_config.validate(yaml.safe_load((REPO / "config" / "large.yaml").read_text()))
    assert max(config["k"]) == 10**6
    shards = sweep.plan_shards(config)
    assert sum(len(shard) for shard in shards) == len(sweep.cells(config))
    extra = claims.required_config(config)  # cells the claims need beyond the config
    claim_jobs = {} if extra is None else {"claims_shard": len(sweep.plan_shards(extra))}
    expected = {
        "sweep_shard": len(shards),
        # One job writes every pivot table; two draw the figures (workflow/rules/figures.smk).
        "pivot_tables": 1,
        "figures_1": 1,
        "figures_2": 1,
        "summary": 1,
        "worked_example": 1,
        "crossover": 1,
        "orderstats": 1,
        "training": 1,
        "training_verdict": 1,
        "claims": 1,
        "report": 1,
        "all": 1,
        "claim_checks_cell": len(claim_checks.plan_jobs(config)),
        "claim_checks": 1,
        **claim_jobs,
        **({"claims_cells": 1} if claim_jobs else {}),
    }
    expected["total"] = sum(expected.values())
    assert stats == expected
    # Every shard holds at most shard_elements, unless it is a single cell bigger than that.
    for shard in shards:
        load = sum(sweep.cell_elements(config, cell) for cell in shard)
        assert load <= config["shard_elements"] or len(shard) == 1
