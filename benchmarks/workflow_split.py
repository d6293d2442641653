"""Where a ``make report`` run's time went, from its log.

Run from the repository root after a timed run, for example from a fresh clone::

    git clone -q . /tmp/clone && (cd /tmp/clone && make report > /tmp/report.log 2>&1)
    python benchmarks/workflow_split.py /tmp/report.log --clone /tmp/clone

LOG is what ``make report`` printed (make's commands and Snakemake's log, whose job lines
carry timestamps to the second). Per rule: its jobs and their job-seconds, from each job's
start (the timestamp before ``rule NAME:`` or ``localrule NAME:`` and its ``jobid:``) to
its end (the timestamp before ``Finished jobid:``). Then the span from the first job's
start to the last job's end, and the share of it the cores were busy. With ``--clone``
(the clone the run was made in), the set-up (the clone's Makefile to
``.venv/.installed-stamp``, by their modification times), Snakemake's start (the stamp to
the first job), the total (the Makefile to ``results/report.html``), and the model that
issue 10's measurements rest on: when every core is busy from the first job to the last,
the total is the set-up, the start and the job-seconds divided by the cores.

The table is printed and written to benchmarks/out/workflow_split.txt.
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
_STAMP = re.compile(r"\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"(?:local)?(?:rule|checkpoint) (\w+):$")
_JOBID = re.compile(r"\s+jobid: (\d+)$")
_FINISHED = re.compile(r"Finished jobid: (\d+)\b")


@dataclass(frozen=True)
class Job:
    rule: str
    start: datetime.datetime
    end: datetime.datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def parse_jobs(lines) -> list[Job]:
    """The finished jobs of a Snakemake log, in the order they finished. A job's start is
    the last timestamp before its rule line, its end the last before its Finished line."""
    stamp = None
    rule = None
    started: dict[str, tuple[str, datetime.datetime]] = {}
    jobs = []
    for line in lines:
        line = line.rstrip("\n")
        if m := _STAMP.match(line):
            stamp = datetime.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := _RULE.match(line):
            rule = m.group(1)
        elif (m := _JOBID.match(line)) and rule is not None:
            started[m.group(1)] = (rule, stamp)
            rule = None
        elif (m := _FINISHED.match(line)) and m.group(1) in started:
            name, start = started.pop(m.group(1))
            jobs.append(Job(name, start, stamp))
    return jobs


def by_rule(jobs: list[Job]) -> dict[str, tuple[int, float]]:
    """rule -> (jobs, job-seconds), the costliest rule first."""
    totals: dict[str, tuple[int, float]] = {}
    for job in jobs:
        count, seconds = totals.get(job.rule, (0, 0.0))
        totals[job.rule] = (count + 1, seconds + job.seconds)
    return dict(sorted(totals.items(), key=lambda item: -item[1][1]))


def _mtime(path: Path) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(path.stat().st_mtime)


def split(jobs: list[Job], cores: int, clone: Path | None = None) -> list[str]:
    """The split as lines of text (see the module's docstring)."""
    if not jobs:
        raise ValueError("no finished job in the log: is it the output of make report?")
    first = min(job.start for job in jobs)
    last = max(job.end for job in jobs)
    span = (last - first).total_seconds()
    job_seconds = sum(job.seconds for job in jobs)
    lines = ["rule | jobs | job-s", "---|---:|---:"]
    lines += [
        f"{rule} | {count} | {seconds:.0f}" for rule, (count, seconds) in by_rule(jobs).items()
    ]
    lines.append(f"total | {len(jobs)} | {job_seconds:.0f}")
    lines.append("")
    # the first sweep job to start compiles the kernels (numba's cache is empty)
    sweep = [
        job.seconds for job in sorted(jobs, key=lambda job: job.start) if job.rule == "sweep_shard"
    ]
    if len(sweep) > 1:
        lines.append(
            f"sweep jobs: the first to start took {sweep[0]:.0f} s, the others a median"
            f" {statistics.median(sweep[1:]):.0f} s"
        )
    busy = job_seconds / (cores * span) if span > 0 else float("nan")
    lines.append(f"span, first job to last: {span:.0f} s; {cores} cores busy {busy:.0%} of it")
    if clone is not None:
        made = _mtime(clone / "Makefile")
        installed = _mtime(clone / ".venv" / ".installed-stamp")
        done = _mtime(clone / "results" / "report.html")
        setup = (installed - made).total_seconds()
        start = (first - installed).total_seconds()
        total = (done - made).total_seconds()
        model = setup + start + job_seconds / cores
        lines.append(
            f"set-up {setup:.0f} s; Snakemake's start {start:.0f} s; total {total:.0f} s;"
            f" set-up + start + job-s / {cores} = {model:.0f} s"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="what make report printed")
    parser.add_argument("--clone", type=Path, help="the clone the run was made in")
    parser.add_argument("--cores", type=int, default=2, help="the cores Snakemake used")
    args = parser.parse_args(argv)
    with open(args.log, errors="replace") as handle:
        jobs = parse_jobs(handle)
    try:
        lines = split(jobs, args.cores, args.clone)
    except (ValueError, FileNotFoundError) as error:
        print(f"workflow_split: {error}", file=sys.stderr)
        return 2
    text = "\n".join(lines) + "\n"
    print(text, end="")
    OUT.mkdir(exist_ok=True)
    (OUT / "workflow_split.txt").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
