"""How the workflow scales: wall time and memory against sweep size, DAG cost, a K = 10^6 job.

Run from the repository root: ``python benchmarks/scaling.py`` (about 6 minutes on 2 cores).
Each measurement runs ``python -m snakemake`` in a fresh copy of the workflow (Snakefile,
workflow/, scripts/, config/; the library is the installed one) in a temporary directory:

1. sweep size: the same sweep at 1x, 4x and 16x a base number of cells (more scales, all
   else equal), built up to ``results/tables/summary.csv`` with ``--cores 2``: wall time,
   time per million logit elements, the peak RSS of the largest single process
   (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a wrapper that only waits for Snakemake:
   exact, it covers every process the wrapper's descendants waited for), the peak RSS summed
   over the process tree (sampled every 50 ms with psutil: approximate), and the largest
   ``max_rss`` any sweep job's Snakemake benchmark file recorded;
2. the no-op rerun: the 16x command again, with every output up to date;
3. the DAG of a sweep of >= 10^5 cells (many scales and K), and of config/large.yaml:
   ``snakemake -n`` (dry run) wall time and job count; these sweeps are never run;
4. one sweep job on a single cell with K = 10^6 (8 vectors, float64, every default method):
   its peak RSS (target < 1 GiB) and wall time, with the default grad_vectors and with
   none (the float64 directional derivative's share of the memory);
5. one sweep job on a single K = 10 cell with 10^4, 10^5 and 10^6 vectors (float32, every
   default method): peak RSS and wall time, which show that memory does not grow with the
   vectors (a job streams them in blocks).

The table is printed and written to benchmarks/out/scaling.txt and scaling.csv.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import yaml

from softmaxlab import config as sl_config
from softmaxlab import manifest, sweep

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out"
GIB = 1024**3
# Runs the command given as arguments, then writes the largest resident set size (kB on
# Linux) of any descendant it (transitively) waited for: the peak of the biggest process.
WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def make_project(root: Path, config: dict) -> Path:
    """A copy of the workflow whose config/config.yaml (the one a bare run reads) is ``config``."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("workflow", "scripts", "config"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return root


class TreeRss:
    """Peak of the RSS summed over a process and its descendants, sampled every ``period`` s."""

    def __init__(self, pid: int, period: float = 0.05):
        self.pid, self.period, self.peak = pid, period, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.period)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_snakemake(root: Path, *args: str) -> dict:
    """Wall time, peak single-process RSS and peak tree RSS of one Snakemake invocation."""
    rss_file = root / ".maxrss"
    cmd = [
        sys.executable, "-c", WRAPPER, str(rss_file),
        sys.executable, "-m", "snakemake", "--cores", "2", *args,
    ]  # fmt: skip
    log = root / f"snakemake-{len(list(root.glob('snakemake-*.log')))}.log"
    with open(log, "w") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=root, stdout=handle, stderr=subprocess.STDOUT)
        tree = TreeRss(proc.pid)
        code = proc.wait()
        seconds = time.perf_counter() - start
        tree_peak = tree.stop()
    if code != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {root}; see {log}")
    return {
        "seconds": seconds,
        "max_process_rss": int(rss_file.read_text()) * 1024,
        "tree_rss": tree_peak,
        "log": log,
    }


def job_benchmarks(root: Path) -> dict:
    """Largest max_rss (bytes) and summed wall time of the sweep jobs' benchmark files."""
    max_rss, total = 0.0, 0.0
    for path in (root / "results" / "benchmarks").glob("sweep_shard_*.tsv"):
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        if row.get("max_rss", "NA") not in ("NA", "-", ""):
            max_rss = max(max_rss, float(row["max_rss"]) * 1024**2)
        total += float(row["s"])
    return {"job_max_rss": max_rss, "job_seconds": total}


def scales(count: int) -> list[float]:
    return [float(f"{v:.10g}") for v in np.logspace(-3, 3, count)]


def base_config(args) -> dict:
    config = default_config()
    config.update(
        {
            "distributions": {
                "normal": {"family": "normal"},
                "uniform": {"family": "uniform", "low": -1.0, "high": 1.0},
            },
            "k": [10, 100, 1000],
            "dtypes": ["float64", "float32", "float16"],
            "scales": scales(args.base_scales),
            "shard_elements": args.shard_elements,
        }
    )
    return config


def totals(config: dict) -> tuple[int, int, int]:
    config = sl_config.validate(config)
    cells = sweep.cells(config)
    elements = sum(sweep.cell_elements(config, cell) for cell in cells)
    return len(cells), elements, len(sweep.plan_shards(config))


def job_count(dry_run_output: str) -> int:
    """The 'total' line of Snakemake's job stats table."""
    match = re.search(r"^total\s+(\d+)", dry_run_output, flags=re.MULTILINE)
    if not match:
        raise RuntimeError("no job count in the dry-run output")
    return int(match.group(1))


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.0f} MiB" if n else "n/a"


def measure_sizes(args, work: Path, rows: list[dict]) -> None:
    base = base_config(args)
    previous = None
    for factor in args.factors:
        config = {**base, "scales": scales(args.base_scales * factor)}
        n_cells, elements, n_shards = totals(config)
        root = make_project(work / f"size_{factor}x", config)
        result = run_snakemake(root, "results/tables/summary.csv")
        jobs = job_benchmarks(root)
        row = {
            "measurement": f"sweep {factor}x -> summary.csv",
            "cells": n_cells,
            "elements": elements,
            "jobs": n_shards + 1,
            "seconds": result["seconds"],
            "s/Melem": result["seconds"] / elements * 1e6,
            "max process RSS": result["max_process_rss"],
            "tree RSS (sampled)": result["tree_rss"],
            "max job max_rss": jobs["job_max_rss"],
            "note": f"sweep jobs' wall times sum to {jobs['job_seconds']:.1f} s",
        }
        if previous is not None:
            slope = (row["seconds"] - previous["seconds"]) / (elements - previous["elements"])
            row["note"] += f"; marginal {slope * 1e6:.2f} s/Melem"
        rows.append(row)
        print(f"{row['measurement']}: {row['seconds']:.1f} s", file=sys.stderr, flush=True)
        previous = row
    noop = run_snakemake(root, "results/tables/summary.csv")
    assert "Nothing to be done" in noop["log"].read_text(), "the rerun was not a no-op"
    rows.append(
        {
            "measurement": f"no-op rerun of the {args.factors[-1]}x sweep",
            "cells": n_cells,
            "elements": elements,
            "jobs": 0,
            "seconds": noop["seconds"],
            "max process RSS": noop["max_process_rss"],
            "tree RSS (sampled)": noop["tree_rss"],
            "note": "every output up to date: Snakemake parses, builds the DAG, does nothing",
        }
    )


def huge_config() -> dict:
    """>= 10^5 cells: 5 distributions x 6 dtypes x 200 scales x 17 K."""
    config = default_config()
    config["scales"] = scales(200)
    config["k"] = [2, 3, 4, 5, 6, 8, 10, 16, 20, 32, 50, 64, 100, 128, 256, 512, 1000]
    return config


def _dry_run_row(config: dict, name: str, label: str, work: Path) -> dict:
    """Time `snakemake -n` of ``config`` in a project copy: a row of the scaling table."""
    n_cells, elements, n_shards = totals(config)
    root = make_project(work / name, config)
    result = run_snakemake(root, "-n")
    jobs = job_count(result["log"].read_text())
    print(f"{label}: {result['seconds']:.1f} s", file=sys.stderr, flush=True)
    return {
        "measurement": f"dry run (snakemake -n), {label}",
        "cells": n_cells,
        "elements": elements,
        "jobs": jobs,
        "seconds": result["seconds"],
        "max process RSS": result["max_process_rss"],
        "tree RSS (sampled)": result["tree_rss"],
        "note": f"{n_shards} sweep jobs; {1e3 * result['seconds'] / jobs:.2f} ms per job",
    }


def measure_dry_run(args, work: Path, rows: list[dict]) -> None:
    rows.append(_dry_run_row(huge_config(), "huge", ">= 10^5 cells", work))


def measure_large_config_dry_run(args, work: Path, rows: list[dict]) -> None:
    config = yaml.safe_load((REPO / "config" / "large.yaml").read_text())
    rows.append(_dry_run_row(config, "large_config", "config/large.yaml", work))


def measure_large_k(args, work: Path, rows: list[dict]) -> None:
    default_grad = default_config()["grad_vectors"]
    for dtype in args.large_k_dtypes:
        for grad_vectors in dict.fromkeys([default_grad, *args.large_k_grad_vectors]):
            large_k_job(args, work, rows, dtype, grad_vectors)


def large_k_job(args, work: Path, rows: list[dict], dtype: str, grad_vectors: int) -> None:
    config = default_config()
    config.update(
        {
            "distributions": {"normal": {"family": "normal"}},
            "scales": [1.0],
            "k": [1_000_000],
            "dtypes": [dtype],
            "vectors": {"elements": 1, "min": 8, "max": 8},
            "grad_vectors": grad_vectors,
        }
    )
    measurement = f"one sweep job, K = 10^6, 8 vectors, {dtype}, grad_vectors {grad_vectors}"
    one_job(work / f"large_k_{dtype}_grad{grad_vectors}", config, measurement, rows)


def measure_many_vectors(args, work: Path, rows: list[dict]) -> None:
    """One job on one K = 10 cell with more and more vectors: streaming keeps memory flat."""
    for count in args.many_vectors:
        config = default_config()
        config.update(
            {
                "distributions": {"normal": {"family": "normal"}},
                "scales": [1.0],
                "k": [10],
                "dtypes": ["float32"],
                "vectors": {"elements": 10 * count, "min": 1, "max": count},
                "shard_elements": 10 * count,
            }
        )
        measurement = f"one sweep job, K = 10, {count:,} vectors, float32"
        one_job(work / f"many_vectors_{count}", config, measurement, rows)


def one_job(root: Path, config: dict, measurement: str, rows: list[dict]) -> None:
    """Run the first sweep job of ``config`` alone; a row with its time and peak memory."""
    n_cells, elements, n_shards = totals(config)
    make_project(root, config)
    result = run_snakemake(root, "results/shards/shard_0.csv")
    jobs = job_benchmarks(root)
    peak = max(result["max_process_rss"], jobs["job_max_rss"])
    rows.append(
        {
            "measurement": measurement,
            "cells": n_cells,
            "elements": elements,
            "jobs": n_shards,
            "seconds": result["seconds"],
            "s/Melem": result["seconds"] / elements * 1e6,
            "max process RSS": result["max_process_rss"],
            "tree RSS (sampled)": result["tree_rss"],
            "max job max_rss": jobs["job_max_rss"],
            "note": f"target < 1 GiB: {'met' if peak < GIB else 'MISSED'}; "
            f"{len(config['methods'])} methods",
        }
    )
    print(f"{measurement}: {fmt_bytes(peak)}", file=sys.stderr, flush=True)


COLUMNS = (
    "measurement", "cells", "elements", "jobs", "seconds", "s/Melem",
    "max process RSS", "tree RSS (sampled)", "max job max_rss", "note",
)  # fmt: skip


def render(rows: list[dict]) -> str:
    def cell(row, col):
        value = row.get(col, "")
        if value == "" or value is None:
            return ""
        if "RSS" in col or "rss" in col:
            return fmt_bytes(value)
        if col == "seconds":
            return f"{value:.1f}"
        if col == "s/Melem":
            return f"{value:.2f}"
        if col == "elements":
            return f"{value:.3g}" if value >= 1e6 else str(value)
        return str(value)

    body = [[cell(row, col) for col in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(COLUMNS)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def machine() -> str:
    memory = psutil.virtual_memory().total / GIB
    return (
        f"{os.cpu_count()} logical CPUs ({manifest.cpu_model()}), {memory:.1f} GiB RAM, "
        f"{manifest.platform_name()}, Python {platform.python_version()}, "
        f"numpy SIMD {manifest.numpy_simd()}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--base-scales", type=int, default=3, help="scales in the 1x sweep (default 3)"
    )
    parser.add_argument(
        "--shard-elements",
        type=int,
        default=60_000,
        help="shard_elements of the size sweeps (default 60000: two jobs at 1x)",
    )
    parser.add_argument("--large-k-dtypes", nargs="*", default=["float64"])
    parser.add_argument(
        "--large-k-grad-vectors",
        type=int,
        nargs="*",
        default=[0],
        help="grad_vectors of extra K = 10^6 runs, besides the config default (default: 0)",
    )
    parser.add_argument(
        "--many-vectors",
        type=int,
        nargs="*",
        default=[10_000, 100_000, 1_000_000],
        help="vector counts of the one-cell K = 10 jobs (default: 10^4, 10^5, 10^6)",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["sizes", "dry-run", "large-config", "large-k", "many-vectors"],
    )
    parser.add_argument("--workdir", type=Path, help="keep the project copies here")
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="softmaxlab-scaling-"))
    rows: list[dict] = []
    try:
        if "sizes" not in args.skip:
            measure_sizes(args, work, rows)
        if "dry-run" not in args.skip:
            measure_dry_run(args, work, rows)
        if "large-config" not in args.skip:
            measure_large_config_dry_run(args, work, rows)
        if "large-k" not in args.skip and args.large_k_dtypes:
            measure_large_k(args, work, rows)
        if "many-vectors" not in args.skip and args.many_vectors:
            measure_many_vectors(args, work, rows)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    text = f"machine: {machine()}\n\n{render(rows)}\n"
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scaling.txt").write_text(text)
    with open(OUT / "scaling.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({col: row.get(col, "") for col in COLUMNS})
    print(f"written to {OUT / 'scaling.txt'} and scaling.csv", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
