"""Throughput of softmaxlab against numpy and scipy on one array of logits.

Run from the repository root: ``python benchmarks/throughput.py`` (``make bench``).

On an array of ``--rows`` x ``--k`` standard normal logits (times ``--scale``), for each
dtype it times, best of ``--repeats`` runs with ``time.perf_counter``. The defaults are the
default config's cell (config/config.yaml): K = 1000, its vectors per cell at that K (1000),
its ``grad_vectors`` (256) and ``error_vectors`` (32), so that the full evaluation costs
what one cell of ``make report`` costs per method:

- ``np.exp(x)``: one elementwise pass, the floor any exp-based normalisation pays;
- ``scipy.special.softmax(x, axis=-1)``: the reference implementation
  (max-shift, exp, sum, divide);
- ``softmaxlab.normalize(x, "softmax")``;
- the full per-element evaluation the sweep does for one method on one cell
  (``softmaxlab.sweep.evaluate_group`` on a one-cell group with a one-method spec list:
  rounding scale * z to the dtype, the method via ``softmaxlab.methods.evaluate``, the same
  method on the wider reference format, ``softmaxlab.metrics.vector_metrics`` and the
  float64 directional derivative and NLL metrics on the first ``--grad-vectors`` rows, the
  float64 cells' long double reference on the first ``--error-vectors``);
- and the parts of that evaluation, in the sweep's chunks of about
  ``sweep.CHUNK_ELEMENTS`` logits: the method via ``methods.evaluate``, the reference
  (the cast to the wider format and ``normalize`` there), the two together (the floor of
  any evaluation that keeps a wider reference) and ``metrics.vector_metrics``; plus
  ``np.exp`` on the array in the reference format (long double for float64, else float64),
  the floor of the reference itself;
- ``metrics.vector_metrics`` twice on the same chunks: compiled (``softmaxlab.kernels``,
  numba) and through the numpy reference (``metrics.USE_KERNELS = False``), the same values
  bit for bit; and on sweep blocks of small K (``--small-k``, ``sweep.block_rows(K)``
  vectors each), where numpy's per-call overhead dominates;
- numba's first-call cost: a fresh process with an empty cache (``NUMBA_CACHE_DIR``)
  compiling the metric kernels, then one loading them from that cache;
- the sweep's cost per (logit, method) (``--sweep-k``, issue 10's first target):
  ``sweep.run_cells`` on every cell of the default config's formats and compute modes and
  its methods, normal logits at ``--sweep-scales``, K in ``--sweep-k`` with the default
  budget's vectors per cell, as a ratio to one float64 ``np.exp`` per element timed in
  the same run.

Times are printed as ratios to scipy's softmax and to ``np.exp`` on the same array in the
same dtype. scipy >= 1.15 computes in the input's dtype through the array API (float16 in,
float16 out: the ``scipy dtype`` column shows what it returned; older releases upcast), so
the float16 rows compare like with like; for narrow formats an extra row times scipy on the
float32 cast, what a caller who upcasts first pays. ``--profile`` runs cProfile on the full
evaluation and prints the functions where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.special

import softmaxlab
from softmaxlab import allocator, manifest, metrics, sweep
from softmaxlab.config import load_config_file, method_specs, validate
from softmaxlab.dtypes import reference_dtype
from softmaxlab.methods import evaluate, normalize
from softmaxlab.metrics import vector_metrics

TARGETS = {
    # (what, dtypes it applies to, bound on the ratio to scipy)
    "normalize": (("float64", "float32"), 1.0),
    "full evaluation": (("float64", "float32", "float16"), 3.0),
}


#: The default sweep (config/config.yaml, validated): the benchmark's defaults are its cell's.
DEFAULT_CONFIG = validate(load_config_file(Path(__file__).parents[1] / "config" / "config.yaml"))


def best_time(fn, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> str:
    return (
        f"{os.cpu_count()} logical CPUs ({manifest.cpu_model()}), {manifest.platform_name()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, softmaxlab {softmaxlab.__version__}; "
        # numpy's float64 exp, the ratios' reference, is its AVX-512 kernel or the C
        # library's by this (softmaxlab.manifest.numpy_simd): several times apart in cost.
        f"numpy SIMD {manifest.numpy_simd()}; "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )


def full_evaluation(
    z: np.ndarray, dtype: str, scale: float, method: str, grad_vectors: int, error_vectors: int
):
    """A closure running what one sweep cell costs for one method (sweep.evaluate_group)."""
    n, k = z.shape
    config = {
        "seed": 0,
        "grad_vectors": grad_vectors,
        "error_vectors": error_vectors,
        "methods": [{"method": method}],
        "distributions": {"normal": {"family": "normal"}},
    }
    specs = method_specs(config)
    # the mode the sweep computes the format in by default (float32 for the narrow formats)
    cell = sweep.Cell("normal", float(scale), int(k), dtype, sweep.compute_modes({}, dtype)[0])
    draws = sweep.gradient_draws(config, "normal", int(k), min(grad_vectors, n))
    # evaluate_group rounds scale * z to the dtype itself, as the sweep does.
    return lambda: sweep.evaluate_group(config, [cell], z, specs, draws)


def parts(x: np.ndarray, method: str, repeats: int) -> dict[str, float]:
    """Best times of the full evaluation's parts, in the sweep's chunks (see the docstring)."""
    ref = reference_dtype(x.dtype)
    rows = max(1, sweep.CHUNK_ELEMENTS // x.shape[-1])
    chunks = [x[i : i + rows] for i in range(0, len(x), rows)]
    outputs = [evaluate(c, method) for c in chunks]
    refs = [normalize(c.astype(ref), method) for c in chunks]
    x_ref = x.astype(ref)

    def both():
        for c in chunks:
            evaluate(c, method)
            normalize(c.astype(ref), method)

    with np.errstate(all="ignore"):
        return {
            "exp in reference format": best_time(lambda: np.exp(x_ref), repeats),
            "method (evaluate, chunks)": best_time(
                lambda: [evaluate(c, method) for c in chunks], repeats
            ),
            "reference (cast + normalize, chunks)": best_time(
                lambda: [normalize(c.astype(ref), method) for c in chunks], repeats
            ),
            "method + reference (floor)": best_time(both, repeats),
            "vector_metrics (chunks)": metric_pass_time(chunks, outputs, refs, repeats, True),
            "vector_metrics, numpy reference (chunks)": metric_pass_time(
                chunks, outputs, refs, repeats, False
            ),
        }


def metric_pass_time(chunks, outputs, refs, repeats: int, compiled: bool) -> float:
    """Best time of vector_metrics over the chunks, compiled or the numpy reference."""
    saved = metrics.USE_KERNELS
    metrics.USE_KERNELS = compiled
    try:
        run = lambda: [  # noqa: E731
            vector_metrics(c, p, o, r) for c, (p, o), r in zip(chunks, outputs, refs, strict=True)
        ]
        run()  # compiles (or loads) the kernels outside the timing
        return best_time(run, repeats)
    finally:
        metrics.USE_KERNELS = saved


def small_k(args) -> list[dict]:
    """vector_metrics on one sweep block of K = 3, 10, ... (sweep.block_rows(K) vectors of
    softmax over standard normal logits times --scale): compiled against numpy."""
    rows = []
    for k in args.small_k:
        z = np.random.default_rng(args.seed).standard_normal((sweep.block_rows(k), k))
        for dtype in args.dtypes:
            x = (args.scale * z).astype(dtype)
            ref = reference_dtype(x.dtype)
            with np.errstate(all="ignore"):
                outputs = [evaluate(x, args.method)]
                refs = [normalize(x.astype(ref), args.method)]
                numpy_s = metric_pass_time([x], outputs, refs, args.repeats, False)
                compiled_s = metric_pass_time([x], outputs, refs, args.repeats, True)
            rows.append(
                {
                    "K": k,
                    "dtype": dtype,
                    "vectors": x.shape[0],
                    "numpy ms": 1e3 * numpy_s,
                    "compiled ms": 1e3 * compiled_s,
                    "speed-up": numpy_s / compiled_s,
                    "compiled ns/elem": 1e9 * compiled_s / x.size,
                }
            )
    return rows


COMPILE_SCRIPT = """
import time
import numpy as np
import softmaxlab
from softmaxlab.dtypes import reference_dtype
from softmaxlab.metrics import vector_metrics
start = time.perf_counter()
for dtype in ("float64", "float32", "float16"):
    x = np.random.default_rng(0).standard_normal((4, 300)).astype(dtype)
    p, o = softmaxlab.evaluate(x, "softmax")
    vector_metrics(x, p, o, softmaxlab.normalize(x.astype(reference_dtype(x.dtype)), "softmax"))
print(time.perf_counter() - start)
"""


def compile_times() -> tuple[float, float]:
    """Seconds of the first vector_metrics calls (float64, float32, float16) in a fresh
    process with an empty numba cache (compiling), and in a second one (loading it)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        times = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", COMPILE_SCRIPT], env=env, capture_output=True, text=True
            )
            if out.returncode:
                raise RuntimeError(out.stderr)
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return times[0], times[1]


def run(args) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    z = rng.standard_normal((args.rows, args.k))
    rows = []
    for dtype in args.dtypes:
        x = (args.scale * z).astype(dtype)
        scipy_dtype = scipy.special.softmax(x[:2], axis=-1).dtype
        times = {
            "np.exp": best_time(lambda x=x: np.exp(x), args.repeats),
            "scipy softmax": best_time(lambda x=x: scipy.special.softmax(x, axis=-1), args.repeats),
        }
        if x.dtype.itemsize < 4:
            x32 = x.astype(np.float32)
            times["scipy softmax (float32 cast)"] = best_time(
                lambda x32=x32: scipy.special.softmax(x32, axis=-1), args.repeats
            )
        times["normalize"] = best_time(
            lambda x=x: softmaxlab.normalize(x, args.method), args.repeats
        )
        full = full_evaluation(
            z, dtype, args.scale, args.method, args.grad_vectors, args.error_vectors
        )
        times["full evaluation"] = best_time(full, max(1, args.full_repeats))
        times.update(parts(x, args.method, args.repeats))
        for what, seconds in times.items():
            target = TARGETS.get(what)
            ratio = seconds / times["scipy softmax"]
            check = ""
            if target and dtype in target[0]:
                check = f"{'ok' if ratio <= target[1] else 'MISSED'} (<= {target[1]:g})"
            rows.append(
                {
                    "dtype": dtype,
                    "scipy dtype": str(scipy_dtype),
                    "what": what,
                    "ms": 1e3 * seconds,
                    "Melem/s": x.size / seconds / 1e6,
                    "vs scipy": ratio,
                    "vs np.exp": seconds / times["np.exp"],
                    "target vs scipy": check,
                }
            )
    return rows


def sweep_cost(args) -> list[dict]:
    """The sweep's time per (logit, method) on the default config's formats, compute modes
    and methods, per K and over all, against one float64 np.exp per element."""
    default = DEFAULT_CONFIG
    x = np.random.default_rng(args.seed).standard_normal((2000, 1000))
    exp_ns = best_time(lambda: np.exp(x), args.repeats) / x.size * 1e9
    rows, total_seconds, total_evaluations = [], 0.0, 0
    configs = {
        k: {
            **default,
            "k": [k],
            "scales": args.sweep_scales,
            "distributions": {"normal": {"family": "normal"}},
        }
        for k in args.sweep_k
    }
    # Compiles (or loads from numba's cache) every kernel the cells use, outside the
    # timing: on a cold cache the first K's row would otherwise time compilation (20 s).
    smallest = configs[min(args.sweep_k)]
    sweep.run_cells(smallest, sweep.cells(smallest))
    for k, config in configs.items():
        cells = sweep.cells(config)
        evaluations = sum(sweep.cell_elements(config, cell) for cell in cells)
        evaluations *= len(method_specs(config))
        start = time.perf_counter()
        sweep.run_cells(config, cells)
        seconds = time.perf_counter() - start
        total_seconds += seconds
        total_evaluations += evaluations
        ns = seconds / evaluations * 1e9
        rows.append(
            {"K": str(k), "cells": len(cells), "s": seconds, "ns": ns, "vs np.exp": ns / exp_ns}
        )
    ns = total_seconds / total_evaluations * 1e9
    rows.append(
        {
            "K": "all",
            "cells": sum(r["cells"] for r in rows),
            "s": total_seconds,
            "ns": ns,
            "vs np.exp": ns / exp_ns,
        }
    )
    for row in rows:
        row["target"] = (
            f"{'ok' if row['vs np.exp'] <= 8 else 'MISSED'} (<= 8)" if row["K"] == "all" else ""
        )
    return rows


def table(rows: list[dict]) -> str:
    columns = list(rows[0])
    formats = {"ms": "{:.2f}", "Melem/s": "{:.1f}", "vs scipy": "{:.2f}", "vs np.exp": "{:.2f}"}
    formats |= {"numpy ms": "{:.3f}", "compiled ms": "{:.3f}", "speed-up": "{:.2f}"}
    formats |= {"compiled ns/elem": "{:.1f}", "s": "{:.1f}", "ns": "{:.1f}"}
    cells = [[formats.get(c, "{}").format(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def profile(args) -> str:
    z = np.random.default_rng(args.seed).standard_normal((args.rows, args.k))
    full = full_evaluation(
        z, args.profile_dtype, args.scale, args.method, args.grad_vectors, args.error_vectors
    )
    profiler = cProfile.Profile()
    profiler.enable()
    full()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"cProfile of the full evaluation ({args.method}, {args.profile_dtype}), ")
    out.write("by own time:\n")
    stats.sort_stats("tottime").print_stats(args.top)
    out.write("by cumulative time:\n")
    stats.sort_stats("cumulative").print_stats(args.top)
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="vectors (default: the default config's vectors per cell at --k, 1000 at K = 1000)",
    )
    parser.add_argument("--k", type=int, default=1000, help="classes per vector (default 1000)")
    parser.add_argument("--scale", type=float, default=1.0, help="x = scale * z (default 1)")
    parser.add_argument(
        "--dtypes", nargs="+", default=["float64", "float32", "float16"], help="formats"
    )
    parser.add_argument("--method", default="softmax", help="method to time (default softmax)")
    parser.add_argument("--repeats", type=int, default=7, help="best of N (default 7)")
    parser.add_argument(
        "--full-repeats", type=int, default=3, help="best of N for the full evaluation"
    )
    parser.add_argument(
        "--grad-vectors",
        type=int,
        default=DEFAULT_CONFIG["grad_vectors"],
        help="rows with the gradient and NLL metrics (default: the default config's, "
        f"{DEFAULT_CONFIG['grad_vectors']})",
    )
    parser.add_argument(
        "--error-vectors",
        type=int,
        default=DEFAULT_CONFIG["error_vectors"],
        help="rows of a float64 cell measured against the long double reference (default: "
        f"the default config's, {DEFAULT_CONFIG['error_vectors']})",
    )
    parser.add_argument(
        "--small-k",
        type=int,
        nargs="*",
        default=[3, 10],
        help="K of the sweep blocks on which vector_metrics is timed (default 3 10)",
    )
    parser.add_argument(
        "--skip-compile", action="store_true", help="do not time numba's first call"
    )
    parser.add_argument(
        "--sweep-k",
        type=int,
        nargs="*",
        default=[3, 10, 1000],
        help="K of the sweep-cost section (default 3 10 1000; none: skip it)",
    )
    parser.add_argument(
        "--sweep-scales",
        type=float,
        nargs="+",
        default=[0.1, 10.0],
        help="scales of the sweep-cost section (default 0.1 10)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile the full evaluation")
    parser.add_argument("--profile-dtype", default="float64")
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "out" / "throughput.txt"
    )
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = sweep.n_vectors(DEFAULT_CONFIG, args.k)
    # The allocator as the sweep's jobs set it (scripts/sweep_shard.py), for every part.
    tuned = allocator.keep_freed_memory()

    header = (
        f"machine: {machine()}\n"
        f"array: {args.rows} x {args.k} normal logits x {args.scale:g}, method {args.method!r}, "
        f"best of {args.repeats} (full evaluation: best of {args.full_repeats}, "
        f"grad_vectors={args.grad_vectors}, error_vectors={args.error_vectors})\n"
        "Ratios are to np.exp and scipy.special.softmax on the same array in the same dtype "
        "('scipy dtype' = the dtype scipy returned).\n"
        f"glibc allocator kept freed memory (softmaxlab.allocator, as the sweep's jobs): {tuned}\n"
    )
    text = header + "\n" + table(run(args)) + "\n"
    if args.small_k:
        text += "\nvector_metrics on one sweep block (softmax), compiled against numpy:\n"
        text += table(small_k(args)) + "\n"
    if args.sweep_k:
        text += (
            "\nThe sweep per (logit, method): sweep.run_cells on the default config's formats,"
            " compute modes and methods, normal logits at scales "
            f"{', '.join(f'{s:g}' for s in args.sweep_scales)}, the default budget's vectors; "
            "vs one float64 np.exp per element (2000 x 1000, best of "
            f"{args.repeats}):\n"
        )
        text += table(sweep_cost(args)) + "\n"
    if not args.skip_compile:
        cold, cached = compile_times()
        text += (
            f"\nnumba first call (vector_metrics in float64, float32, float16, fresh "
            f"process): {cold:.2f} s compiling into an empty cache, {cached:.2f} s loading "
            "from it\n"
        )
    if args.profile:
        text += "\n" + profile(args)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
