"""What a report was made from: config, seed, package versions, measured run time."""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping
from importlib import metadata

import pandas as pd

PACKAGES = (
    "softmaxlab",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "seaborn",
    "ml_dtypes",
    "mpmath",
    "snakemake",
)


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (from its distribution metadata)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def sweep_run_time(benchmark_paths: Iterable[str]) -> dict[str, float]:
    """Wall seconds of the sweep jobs, from Snakemake's benchmark files (column ``s``).

    Returns the jobs' total, the longest job and the job count: with parallel jobs the
    sweep's wall time lies between the longest job and the total.
    """
    seconds = [float(pd.read_csv(path, sep="\t")["s"].iloc[0]) for path in benchmark_paths]
    return {
        "jobs": len(seconds),
        "total_job_seconds": sum(seconds),
        "longest_job_seconds": max(seconds, default=0.0),
    }


def run_manifest(config: Mapping, benchmark_paths: Iterable[str] | None = None) -> dict:
    """Config, seed, versions and, given the sweep jobs' benchmark files, the sweep's run
    time; JSON-serialisable. (The workflow's report omits the run time: it would make the
    report rerun whenever the sweep jobs do, even when they reproduce the same summary.)"""
    manifest = {
        "seed": config["seed"],
        "config": dict(config),
        "versions": package_versions(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
    if benchmark_paths is not None:
        manifest["run_time"] = sweep_run_time(benchmark_paths)
    return manifest
