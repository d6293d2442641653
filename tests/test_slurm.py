"""The workflow on a real SLURM, through profiles/slurm, against a local run.

Needs a SLURM to submit to: CI starts a single node on the test machine with .ci/slurm-up
(Debian's slurmctld and slurmd, no accounting database, MinJobAge=86400). Elsewhere the tests
are skipped where ``sbatch`` is not on PATH. Every job of these runs goes through sbatch, so
besides the bytes the tests check the parts a simulated cluster (tests/test_cluster.py)
cannot: the plugin learning job states from ``squeue`` without accounting, a job cancelled by
the scheduler (``scancel``) being retried, and the jobs finding the venv's Python.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweeps import TINY
from test_cluster import _job_stats
from test_workflow import make_project, snakemake

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
TABLES = ("results/tables/summary.csv", "results/tables/claims.csv")
REPORT = "results/report.html"
# The plugin's first status check comes this many seconds after a submission (its default, 40,
# suits a busy cluster, not a test); each check that finds no job finished adds 10 s.
FAST_STATUS = ("--slurm-init-seconds-before-status-checks", "1")
RUN_TIMEOUT = 600  # seconds; a run takes about a minute on an idle 2-core node
NODE_WAIT = 60  # seconds for the node to take jobs, e.g. just after .ci/slurm-up
pytestmark = [pytest.mark.slurm, pytest.mark.workflow]


def _slurm(*cmd: str) -> str:
    """A SLURM command's output, or its error message (for diagnostics only)."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{' '.join(cmd)}: {error}"
    return (result.stdout + result.stderr).strip()


def _project_jobs(root: Path) -> list[dict[str, str]]:
    """The SLURM jobs (finished ones too) submitted from the project at root, oldest first."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T|%k|%Z"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    jobs = []
    for line in out.splitlines():
        job_id, state, comment, workdir = line.strip().split("|", 3)
        if Path(workdir) == root:
            jobs.append({"id": job_id, "state": state, "rule": comment})
    return sorted(jobs, key=lambda job: int(job["id"]))


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return str(error)


def _diagnostics(root: Path) -> str:
    """What the cluster knows about the project's jobs, for a failure message."""
    parts = [
        "squeue --states=all:\n" + _slurm("squeue", "--states=all", "--format=%i|%T|%k|%Z|%R"),
        "sacct -X:\n" + _slurm("sacct", "-X", "--format=JobID,State,ExitCode,Comment%40"),
        "sinfo -N -l:\n" + _slurm("sinfo", "-N", "-l"),
    ]
    for log in sorted((root / ".snakemake" / "slurm_logs").rglob("*.log"))[-4:]:
        parts.append(f"{log}:\n{_tail(log)}")
    config = _slurm("scontrol", "show", "config").splitlines()
    for key in ("SlurmctldLogFile", "SlurmdLogFile"):
        for line in config:
            if line.split("=")[0].strip() == key:
                parts.append(f"{key}:\n{_tail(Path(line.split('=', 1)[1].strip()))}")
    return "\n\n".join(parts)


@pytest.fixture(scope="module")
def slurm_node():
    """A SLURM that takes jobs now; skip where there is none, fail in CI."""
    if shutil.which("sbatch") is None:
        if os.environ.get("CI"):
            pytest.fail("sbatch is not on PATH in CI: .ci/run starts SLURM with .ci/slurm-up")
        pytest.skip("sbatch not on PATH: no SLURM here (as root, .ci/slurm-up starts one)")
    deadline = time.monotonic() + NODE_WAIT
    states = ""
    while time.monotonic() < deadline:
        states = _slurm("sinfo", "--noheader", "--format=%T")
        if {"idle", "mixed", "allocated"} & set(states.split()):
            return
        time.sleep(1)
    pytest.fail(f"no SLURM node takes jobs after {NODE_WAIT} s (sinfo: {states!r})")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The reference: the tables and the report of a plain local run, made once a session.

    Under pytest-xdist the workers share it through their common temporary directory (a lock
    lets one make it while the others wait), so it costs one local run, not one a worker.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = tmp_path_factory.getbasetemp().parent  # this session's, shared by its workers
    else:
        base = tmp_path_factory.mktemp("slurm-local")
    root = base / "slurm-local"
    with (base / "slurm-local.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "slurm-local.done").exists():
            shutil.rmtree(root, ignore_errors=True)  # a worker's failed attempt
            snakemake(make_project(root, TINY), *TABLES, REPORT, timeout=RUN_TIMEOUT)
            (base / "slurm-local.done").touch()
    return root


def _start(root: Path, *targets: str) -> tuple[subprocess.Popen, Path]:
    """Snakemake through profiles/slurm, its output going to a file in root."""
    log = root / "snakemake-slurm.out"
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "small.yaml",
           "--profile", str(PROFILE), *FAST_STATUS, *targets]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, log


def _stop(proc: subprocess.Popen, root: Path) -> None:
    """End a run that is given up on, and its SLURM jobs, so they do not hold the node."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C: Snakemake scancels its SLURM jobs
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    leftover = [job["id"] for job in _project_jobs(root) if job["state"] in ("PENDING", "RUNNING")]
    if leftover:
        _slurm("scancel", *leftover)


def _finish(proc: subprocess.Popen, log: Path, root: Path) -> str:
    """Wait for the run; on a timeout or an error fail with its output and the cluster's."""
    try:
        proc.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        _stop(proc, root)
        pytest.fail(
            f"snakemake on SLURM did not finish in {RUN_TIMEOUT} s:\n"
            f"{_tail(log, 60)}\n\n{_diagnostics(root)}"
        )
    output = log.read_text()
    if proc.returncode != 0:
        pytest.fail(f"snakemake on SLURM failed:\n{_tail(log, 80)}\n\n{_diagnostics(root)}")
    return output


def _cancel_first_running(root: Path, rule: str, proc: subprocess.Popen, log: Path) -> str:
    """scancel the first job of rule seen running; its SLURM job id."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        for job in _project_jobs(root):
            if job["rule"].startswith(f"rule_{rule}") and job["state"] == "RUNNING":
                subprocess.run(["scancel", job["id"]], check=True, timeout=30)
                return job["id"]
        time.sleep(0.2)
    _stop(proc, root)
    pytest.fail(f"no {rule} job was seen running:\n{_tail(log, 60)}\n\n{_diagnostics(root)}")


def test_sweep_on_slurm_survives_scancel_with_the_same_bytes(slurm_node, request, tmp_path):
    root = make_project(tmp_path / "slurm", TINY)
    proc, log = _start(root, *TABLES)
    cancelled = _cancel_first_running(root, "sweep_shard", proc, log)
    # The local reference runs while Snakemake waits for SLURM (mostly between status checks).
    try:
        local_run = request.getfixturevalue("local_run")
    except BaseException:
        _stop(proc, root)
        raise
    output = _finish(proc, log, root)

    # The scheduler's CANCELLED reached Snakemake through squeue, which retried the job.
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in output, output
    jobs = _project_jobs(root)
    states = {job["id"]: job["state"] for job in jobs}
    assert states.pop(cancelled) == "CANCELLED"
    assert set(states.values()) == {"COMPLETED"}, jobs
    # Every job of the plan but the Snakefile's localrules ran as a SLURM job, the cancelled
    # shard twice.
    stats = _job_stats(output)
    local = sum(stats.get(rule, 0) for rule in ("all", "worked_example", "orderstats"))
    assert len(jobs) == stats["total"] - local + 1, (stats, jobs)
    shard_jobs = [job for job in jobs if job["rule"].startswith("rule_sweep_shard")]
    assert len(shard_jobs) == stats["sweep_shard"] + 1, (stats, jobs)
    for table in TABLES:
        assert (root / table).read_bytes() == (local_run / table).read_bytes(), table


def test_report_rule_runs_on_slurm(slurm_node, local_run, tmp_path):
    """The profile runs every rule on the cluster, the report included (no localrules)."""
    root = tmp_path / "report"
    shutil.copytree(local_run, root, symlinks=True)
    (root / REPORT).unlink()
    # Only the report is missing; mtime alone decides (the library's hashes, which Snakemake
    # also tracks as params, must not rerun the rest if the checkout changed since local_run).
    proc, log = _start(root, "--rerun-triggers", "mtime", "--", REPORT)
    output = _finish(proc, log, root)

    assert _job_stats(output) == {"report": 1, "total": 1}, output
    jobs = _project_jobs(root)
    assert [(job["rule"], job["state"]) for job in jobs] == [("rule_report", "COMPLETED")], jobs
    assert (root / REPORT).read_bytes() == (local_run / REPORT).read_bytes()
