"""What a report was made from: config, seed, package versions, measured run time, and the
machines that computed the sweep."""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping
from importlib import metadata

import numpy as np
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


def numpy_simd() -> str:
    """The SIMD extensions numpy dispatches to on this CPU, as ``np.show_runtime`` lists
    them: its baseline, then the dispatch targets found ("X86_V2 X86_V3", say).

    They decide bits: numpy's float64 exp and log run its own AVX-512 kernels where the CPU
    has AVX512F (X86_V4) and the C library's elsewhere (numpy/_core/src/umath/
    loops_exponent_log.dispatch.c.src), and the two differ in the last bit on some
    arguments, so a float64 cell's errors may differ between such machines."""
    try:  # numpy's private module, which np.show_runtime reads
        from numpy._core._multiarray_umath import (
            __cpu_baseline__,
            __cpu_dispatch__,
            __cpu_features__,
        )
    except ImportError:
        return "unknown"
    found = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    return " ".join([*__cpu_baseline__, *found])


def machine() -> dict[str, str]:
    """What, besides the config and the code, decides the bits a sweep job computes: the
    platform, numpy's version, the SIMD code numpy runs (:func:`numpy_simd`) and the
    format float64's errors are measured against (softmaxlab.dtypes.float64_reference)."""
    from softmaxlab.dtypes import describe_float64_reference

    return {
        "platform": platform_name(),
        "numpy": np.__version__,
        "numpy_simd": numpy_simd(),
        "float64_reference": describe_float64_reference(),
    }


def cpu_model() -> str:
    """The processor's model name (/proc/cpuinfo's, else the platform module's guess)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def platform_name() -> str:
    """The operating system and processor architecture ("Linux x86_64")."""
    return f"{platform.system()} {platform.machine()}"


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
        "platform": platform_name(),
    }
    if benchmark_paths is not None:
        manifest["run_time"] = sweep_run_time(benchmark_paths)
    return manifest
