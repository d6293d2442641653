"""benchmarks/workflow_split.py on a log in Snakemake's format, with known times."""

import datetime
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "workflow_split", ROOT / "benchmarks" / "workflow_split.py"
)
workflow_split = importlib.util.module_from_spec(_spec)
sys.modules["workflow_split"] = workflow_split  # dataclasses look their module up there
_spec.loader.exec_module(workflow_split)

# Two cores: training 0-48 s, shard 5 0-78 s, shard 3 48-94 s, then a local rule 94-100 s;
# a job that never finished (jobid 9) counts nowhere.
LOG = """\
Building DAG of jobs...
[Wed Dec  2 02:00:41 2026]
localrule sweep_shard:
    output: results/shards/shard_5.csv
    jobid: 8
    wildcards: shard=5

[Wed Dec  2 02:00:41 2026]
localrule training:
    jobid: 15

[Wed Dec  2 02:01:29 2026]
Finished jobid: 15 (Rule: training)
1 of 4 steps (25%) done

[Wed Dec  2 02:01:29 2026]
localrule sweep_shard:
    jobid: 3

[Wed Dec  2 02:01:59 2026]
Finished jobid: 8 (Rule: sweep_shard)

[Wed Dec  2 02:01:59 2026]
rule claims:
    jobid: 9

[Wed Dec  2 02:02:15 2026]
Finished jobid: 3 (Rule: sweep_shard)

[Wed Dec  2 02:02:15 2026]
localcheckpoint summary:
    jobid: 4

[Wed Dec  2 02:02:21 2026]
Finished jobid: 4 (Rule: summary)
"""


def test_jobs_and_job_seconds_per_rule():
    jobs = workflow_split.parse_jobs(LOG.splitlines())
    assert [(job.rule, job.seconds) for job in jobs] == [
        ("training", 48.0),
        ("sweep_shard", 78.0),
        ("sweep_shard", 46.0),
        ("summary", 6.0),
    ]
    assert workflow_split.by_rule(jobs) == {
        "sweep_shard": (2, 124.0),
        "training": (1, 48.0),
        "summary": (1, 6.0),
    }


def test_split_with_the_clone_times(tmp_path):
    """Set-up, Snakemake's start and the total from the clone's files' times; the span
    100 s with 178 job-seconds on 2 cores: 89% busy."""
    start = datetime.datetime(2026, 12, 2, 2, 0, 41).timestamp()
    for name, offset in (
        ("Makefile", -36),
        (".venv/.installed-stamp", -12),
        ("results/report.html", 105),
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (start + offset, start + offset))
    lines = workflow_split.split(workflow_split.parse_jobs(LOG.splitlines()), 2, tmp_path)
    assert "total | 4 | 178" in lines
    assert "sweep jobs: the first to start took 78 s, the others a median 46 s" in lines
    assert "span, first job to last: 100 s; 2 cores busy 89% of it" in lines
    assert lines[-1] == (
        "set-up 24 s; Snakemake's start 12 s; total 141 s; set-up + start + job-s / 2 = 125 s"
    )


def test_a_log_without_jobs_is_one_clear_line(capsys, tmp_path):
    log = tmp_path / "empty.log"
    log.write_text("make: *** [Makefile:30: report] Error 1\n")
    assert workflow_split.main([str(log)]) == 2
    assert capsys.readouterr().err.strip() == (
        "workflow_split: no finished job in the log: is it the output of make report?"
    )
