"""The claims' checks on seeded vectors, computed as workflow work (softmaxlab.claim_checks).

Oracles independent of the code under test: the sweep's own summary of the same cells (its
measured overflow rates, computed by the methods, not by the thresholds), hand-computed
softmax values (math.exp, powers), mpmath's overflow points, the Boltzmann distribution by
bisection, and the table's own CSV bytes.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pandas as pd
import pytest
from sweeps import TINY

from softmaxlab import claim_checks, config, provenance, sweep
from softmaxlab.dtypes import sum_tolerance
from softmaxlab.methods import evaluate
from softmaxlab.sampling import logits, sample_z, stream

REPO = Path(__file__).resolve().parents[1]

# Two distributions, K on both sides of C5_MAX_ELEMENTS (C5 then measures the first
# distribution only), a narrow format whose sum overflows at K = 2000 (448 < 2000), and a
# scale at which the naive softmax of every base overflows float64.
CFG = config.validate(
    {
        **TINY,
        "scales": [0.5, 400.0],
        "k": [3, 2000],
        "dtypes": ["float64", "float32", "float8_e4m3fn"],
        "distributions": {
            "normal": {"family": "normal"},
            "positive": {"family": "uniform", "low": 0.0, "high": 1.0},
        },
        "methods": [
            {"method": "softmax"},
            {"method": "softmax", "stable": False},
            {"method": "softmax", "base": 100, "stable": False},
        ],
        "vectors": {"elements": 8000, "min": 3, "max": 40},
    }
)


CELL_CHECKS = ("C5_base", "C7_predicted", "C8_anatomy")
CELL = ["distribution", "scale", "k", "dtype"]
# The formats compared with the sweep: their arithmetic is their own in every compute mode
# (a narrower format may compute in float32, which the checks do not model).
WIDE = ("float64", "float32")


def _cell_rows(table, name, k):
    """The rows a cell job writes for (name, K)."""
    keep = table["check"].isin(CELL_CHECKS) & (table["distribution"] == name) & (table["k"] == k)
    return table[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def table():
    return claim_checks.checks_table(CFG)


@pytest.fixture(scope="module")
def summary():
    return sweep.sort_summary(sweep.run_cells(CFG, sweep.cells(CFG)), CFG)


# --- the long table ---------------------------------------------------------------------


def test_table_has_one_block_per_cell_and_check(table, summary):
    assert list(table.columns) == list(claim_checks.CHECK_COLUMNS)
    assert list(dict.fromkeys(table["check"])) == [
        "C4_fd",
        "C6_uniform",
        "C11_maxent",
        "C5_base",
        "C7_predicted",
        "C8_anatomy",
    ]
    n = {k: sweep.n_vectors(CFG, k) for k in CFG["k"]}
    c7 = claim_checks.wide(table, "C7_predicted")
    # Every (distribution, K, format, base, scale) once, on the sweep's n vectors: those
    # whose rounded logits are finite, as the sweep's overflow rate counts them.
    assert len(c7) == 2 * 2 * 3 * len(claim_checks.C7_BASES) * 2
    assert (c7["n"] <= c7["k"].map(n)).all()
    overflow = sweep.headline_rows(summary)
    overflow = overflow[overflow["metric"] == "overflow"]
    keys = ["distribution", "scale", "k", "dtype"]
    sweep_n = overflow.set_index([*keys, "label"])["n"]
    pairs = c7.set_index([*keys, "variant"])["n"]
    pairs.index = pairs.index.set_names([*keys, "label"])
    shared = pairs.index.intersection(sweep_n.index)
    assert len(shared) and (pairs[shared] == sweep_n[shared]).all()
    # C8: the config's formats (float64 and float32 always).
    c8 = claim_checks.wide(table, "C8_anatomy")
    assert set(c8["dtype"]) == {"float64", "float32", "float8_e4m3fn"}
    assert len(c8) == 2 * 2 * 3 * 2
    # C5: K = 2000 > C5_MAX_ELEMENTS on the first distribution only, on one vector there.
    c5 = claim_checks.wide(table, "C5_base")
    assert set(zip(c5["distribution"], c5["k"], strict=True)) == {
        ("normal", 3),
        ("normal", 2000),
        ("positive", 3),
    }
    assert set(c5.loc[c5["k"] == 2000, "n"]) == {1}
    assert set(c5.loc[c5["k"] == 3, "n"]) == {min(n[3], claim_checks.C5_MAX_ELEMENTS // 3)}


def test_csv_round_trip_is_exact(table, tmp_path):
    path = tmp_path / "claim_checks.csv"
    sweep.write_csv(table, path)
    again = claim_checks.read(path)
    pd.testing.assert_frame_equal(table, again, check_exact=True)
    # Written again, the same bytes: a merge of cell tables reproduces them.
    sweep.write_csv(again, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()
    # The value bits survive (not merely equal to 1e-15).
    assert np.array_equal(
        table["value"].to_numpy().view(np.int64)[~np.isnan(table["value"])],
        again["value"].to_numpy().view(np.int64)[~np.isnan(again["value"])],
    )


def test_wide_refuses_rows_out_of_order(table):
    rows = table[table["check"] == "C4_fd"].iloc[::-1]
    with pytest.raises(ValueError, match="C4_fd"):
        claim_checks.wide(rows, "C4_fd")


# --- the cell checks are the sweep's vectors ------------------------------------------------


def test_predicted_overflow_is_the_sweeps_measured_overflow(table, summary):
    """The thresholds' prediction (C7) on the vectors the checks drew agrees count for count
    with what the sweep measured on its own vectors: they are the same vectors."""
    c7 = claim_checks.wide(table, "C7_predicted").rename(columns={"variant": "label"})
    measured = summary[summary["metric"] == "overflow"]
    both = c7.merge(measured[measured["dtype"].isin(WIDE)], on=CELL + ["label"])
    # The configured naive labels (base e and 100), every cell.
    assert len(both) == 2 * 2 * 2 * 2 * 2
    # Rates over all n vectors (predicted) and over those with a finite input (measured):
    # the same count of overflowing vectors.
    np.testing.assert_array_equal(
        np.rint(both["predicted"] * both["n_x"]), np.rint(both["mean"].fillna(0) * both["n_y"])
    )
    assert both["predicted"].max() > 0  # base 100 at scale 400 overflows float64


def test_anatomy_counts_the_sweeps_flagged_vectors(table, summary):
    c8 = claim_checks.wide(table, "C8_anatomy")
    stable = summary[(summary["label"] == "softmax") & (summary["metric"] == "overflow")]
    both = c8.merge(stable[stable["dtype"].isin(WIDE)], on=CELL)
    assert len(both) == 2 * 2 * 2 * 2
    flagged = np.rint(both["mean"].fillna(0) * both["n_y"])
    np.testing.assert_array_equal(both["overflow_flagged"], flagged)
    assert (both["vectors_finite_input"] == both["n_y"]).all()
    assert (both["overflow_flagged"] == 0).all()  # stable never overflows float64/float32
    # fp8 e4m3 holds at most 448. Uniform [0, 1] logits at scale 0.5 have y = x - max x in
    # [-0.5, 0], so each of the 2000 terms e^y is at least 0.5 after rounding: computed
    # natively, the sum leaves the format for every vector; in float32 (the headline mode
    # the table models) it never does.
    fp8 = c8[
        (c8["dtype"] == "float8_e4m3fn")
        & (c8["k"] == 2000)
        & (c8["distribution"] == "positive")
        & (c8["scale"] == 0.5)
    ]
    assert (fp8["sum_out_of_range"] == 0).all() and fp8["vectors_finite_input"].max() > 0
    spec = CFG["distributions"]["positive"]
    x = logits(sample_z(CFG["seed"], "positive", spec, 2000, 5), 0.5, "float8_e4m3fn")
    native = claim_checks.stable_anatomy(x, "float8_e4m3fn", "native")
    counts = dict(zip(claim_checks.QUANTITIES["C8_anatomy"], native, strict=True))
    assert counts["sum_out_of_range"] == counts["vectors_finite_input"] == 5


def test_blocks_change_no_value(table, monkeypatch):
    """Streaming a cell's vectors a few at a time gives the same rows as larger blocks."""
    monkeypatch.setattr(claim_checks, "BLOCK_ELEMENTS", 2048)  # one vector of K = 2000
    for shard, (name, k) in enumerate(claim_checks.plan(CFG)):
        params = claim_checks.cell_params(CFG, shard)
        small = claim_checks.cell_checks(
            CFG["seed"], name, params["spec"], k, CFG["scales"], CFG["dtypes"], CFG["vectors"],
            params["c5"],
        )  # fmt: skip
        pd.testing.assert_frame_equal(small, _cell_rows(table, name, k), check_exact=True)


# --- each check against an oracle -------------------------------------------------------------


def test_c5_stats_by_hand():
    # x = [0, 1]: base 2 gives [1/3, 2/3], base e gives [1, e] / (1 + e).
    x = np.array([[0.0, 1.0]])
    stats = claim_checks.c5_stats(x, 2)[claim_checks.C5_BASES.index(2.0)]
    e = math.e
    assert stats["tv_sum"] == pytest.approx(abs(2 / 3 - e / (1 + e)), rel=1e-14)
    assert stats["tv_vectors"] == 1 and stats["entries"] == 2
    # Base 2 and temperature 1/ln 2 are the same up to rounding (a few ulps).
    assert stats["max_ulps"] <= 4 and stats["one_route_non_finite"] == 0


def test_predicted_overflow_at_the_mpmath_threshold():
    """[0, t (1 -/+ 1e-12)] around t, where 100^x overflows float64 (mpmath): the prediction
    and the library's overflow flag agree on both sides. (Within an ulp or two of t the
    product x ln 100 the prediction forms may round across; C7 allows half a vector.)"""
    with mpmath.workdps(40):
        top = mpmath.mpf(2) ** 1024 - mpmath.mpf(2) ** 970  # max + half an ulp
        t = float(mpmath.log(top) / mpmath.log(100))
    below, above = t * (1 - 1e-12), t * (1 + 1e-12)
    x = np.array([[0.0, below], [0.0, above]])
    ln_over = claim_checks.ln_overflow("float64")
    over = claim_checks.predicted_overflow(
        x, x.max(axis=-1), np.ones(2, dtype=bool), math.log(100.0), ln_over, "float64"
    )
    flagged = evaluate(x, "softmax", base=100.0, stable=False)[1]
    assert over.tolist() == flagged.tolist() == [False, True]


def test_fixed_checks_against_oracles(table):
    fd = claim_checks.wide(table, "C4_fd")
    assert list(fd["k"].unique()) == [3]  # the configured K up to C4_FD_MAX_K
    assert fd["max_abs_difference"].max() < 1e-7
    uniform = claim_checks.wide(table, "C6_uniform")
    f64 = uniform[uniform["dtype"] == "float64"]
    # softmax(base=1) = 1/K exactly in float64, the same number in every entry.
    assert (f64["exactly_uniform"] == 1).all()
    assert f64["p_value"].tolist() == [1 / k for k in f64["k"]]
    fp8 = uniform[(uniform["dtype"] == "float8_e4m3fn") & (uniform["k"] == 2000)]
    # In float32 (the headline mode) the sum 2000 is exact; natively it is not representable.
    assert (fp8["exactly_uniform"] == 1).all()
    spec = CFG["distributions"]["normal"]
    native = claim_checks.uniform_rows(
        CFG["seed"], "normal", spec, [2000], [1.0], ["float8_e4m3fn"], {"float8_e4m3fn": ["native"]}
    )
    assert (native["exactly_uniform"] == 0).all()
    maxent = claim_checks.wide(table, "C11_maxent")
    assert len(maxent) == claim_checks.C11_PROBLEMS
    assert maxent["max_abs_difference"].max() < 1e-6
    assert set(maxent["solver_success"]) <= {0.0, 1.0}


def test_uniform_tolerance_is_one_rounding_of_1_over_k():
    """|TV - (1 - m/K)| = |d| (K - 2m) / (2K) for entries q = (1 + d)/K: within the format's
    unit roundoff where 1/K is normal there; float8_e4m3fn at K = 1000 rounds 1/K to 2^-9
    (d = 0.953: entries summing to 1.95) and fails, where the format's sum tolerance
    (12 x 0.125 = 1.5) could not."""
    assert claim_checks.uniform_tolerance("float8_e4m3fn", 1000) == pytest.approx(0.0625, rel=1e-9)
    assert claim_checks.uniform_tolerance("float64", 1000) == pytest.approx(
        2**-53 + sum_tolerance("float64", 1000)
    )
    spec = CFG["distributions"]["normal"]
    rows = claim_checks.uniform_rows(
        CFG["seed"], "normal", spec, [10, 1000], [1.0], ["float8_e4m3fn", "float16"]
    ).set_index(["dtype", "k", "stable"])
    fp8 = rows.loc[("float8_e4m3fn", 1000, True)]
    q = 2.0**-9
    assert fp8["exactly_uniform"] == 1 and fp8["p_value"] == q
    # m = 1 (no tie in normal logits): TV = (1 + (K - 2) q) / 2
    assert fp8["max_tv_deviation"] == pytest.approx(abs((1 + 998 * q) / 2 - (1 - 1 / 1000)))
    assert fp8["ok_share"] == 0
    assert rows.loc[("float8_e4m3fn", 10, True), "ok_share"] == 1  # 1/10 is normal there
    assert (rows.xs("float16", level="dtype")["ok_share"] == 1).all()


def test_fd_gradient_check_is_tight():
    table = claim_checks.softmax_ce_gradient_check(seed=5, ks=[2, 10])
    assert table["max_abs_difference"].max() < 1e-7


def _boltzmann_by_bisection(energy, target):
    """exp(-beta E)/Z with its mean at target, beta by bisection in mpmath (the oracle)."""
    energy = [mpmath.mpf(float(e)) for e in energy]

    def dist(beta):
        w = [mpmath.exp(-beta * (e - min(energy))) for e in energy]
        return [v / sum(w) for v in w]

    lo, hi = mpmath.mpf(-200), mpmath.mpf(200)
    with mpmath.workdps(40):
        for _ in range(200):
            mid = (lo + hi) / 2
            if sum(p * e for p, e in zip(dist(mid), energy, strict=True)) > target:
                lo = mid
            else:
                hi = mid
        return [float(p) for p in dist((lo + hi) / 2)]


def test_maxent_equals_boltzmann():
    table = claim_checks.maxent_check(seed=3, problems=100)
    assert len(table) == 100
    assert table["max_abs_difference"].max() < 1e-6
    # Constraints met, and the numerical optimum has no more entropy than Boltzmann's.
    assert table["constraint_residual"].max() < 1e-9
    assert (table["entropy_numeric"] - table["entropy_boltzmann"]).max() < 1e-9
    # The first problem redrawn from its stream, its Boltzmann distribution by bisection.
    rng = stream(3, "claims", "C11")
    k = int(rng.integers(2, claim_checks.C11_MAX_K + 1))
    energy = rng.standard_normal(k)
    u = rng.uniform(0.05, 0.95)
    target = float(energy.min() + u * (energy.max() - energy.min()))
    assert table.loc[0, "k"] == k and table.loc[0, "target_mean"] == target
    expected = _boltzmann_by_bisection(energy, target)
    entropy = -sum(p * math.log(p) for p in expected if p > 0)
    assert table.loc[0, "entropy_boltzmann"] == pytest.approx(entropy, rel=1e-9)


def test_maxent_check_does_not_depend_on_blas_threads():
    """C11's SLSQP runs to float64 noise, where threaded BLAS rounds differently; the table
    must be the same in a Snakemake job (one BLAS thread) and in a notebook (all cores)."""
    code = (
        "import sys; from softmaxlab import claim_checks; "
        "claim_checks.maxent_check(20261124).to_csv(sys.stdout, index=False)"
    )
    outputs = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]


# --- the plan, the merge and the workflow -----------------------------------------------------


def test_plan_has_one_job_per_distribution(tmp_path):
    np.save(tmp_path / "mine.npy", np.random.default_rng(0).standard_normal((20, 5)))
    cfg = config.validate(
        {
            **TINY,
            "k": [2, 3000],
            "distributions": {
                "normal": {"family": "normal"},
                "mine": {"family": "empirical", "path": str(tmp_path / "mine.npy")},
                "positive": {"family": "uniform", "low": 0.0, "high": 1.0},
            },
        }
    )
    planned = claim_checks.plan(cfg)
    assert planned == [("normal", 2), ("normal", 3000), ("mine", 5), ("positive", 2),
                       ("positive", 3000)]  # fmt: skip
    c5 = [claim_checks.cell_params(cfg, shard)["c5"] for shard in range(len(planned))]
    assert c5 == [True, True, True, True, False]
    jobs = claim_checks.plan_jobs(cfg)
    assert jobs == [planned[:2], planned[2:3], planned[3:]]
    assert [cell["c5"] for cell in claim_checks.job_params(cfg, 2)] == [True, False]
    assert [cell["k"] for cell in claim_checks.job_params(cfg, 0, jobs)] == [2, 3000]
    assert claim_checks.logit_files(cfg, ["normal", "mine"]) == [str(tmp_path / "mine.npy")]


def test_merge_refuses_a_cell_table_of_another_pair(table):
    fixed = table[~table["check"].isin(CELL_CHECKS)]
    normal, positive = _cell_rows(table, "normal", 3), _cell_rows(table, "positive", 3)
    planned = [[["normal", 3]], [["positive", 3]]]
    merged = claim_checks.merge(fixed, [normal, positive], planned)
    assert len(merged) == len(fixed) + len(normal) + len(positive)
    with pytest.raises(ValueError, match="planned"):
        claim_checks.merge(fixed, [positive, normal], planned)
    # one job's table holds its pairs in plan order
    both = pd.concat([normal, positive], ignore_index=True)
    joined = claim_checks.merge(fixed, [both], [[["normal", 3], ["positive", 3]]])
    pd.testing.assert_frame_equal(joined, merged)
    with pytest.raises(ValueError, match="planned"):
        claim_checks.merge(fixed, [both], [[["positive", 3], ["normal", 3]]])


def test_code_digests_follow_the_checks_module():
    """An edit to the checks reruns their jobs and the claims; an edit to a claim's text
    does not rerun the checks (their script does not import the claims)."""
    checks = provenance.code_version(REPO / "scripts" / "claim_checks.py")
    claims = provenance.code_version(REPO / "scripts" / "claims.py")
    assert "softmaxlab.claim_checks" in checks and "softmaxlab.claim_checks" in claims
    assert not any(name.startswith("softmaxlab.claims") for name in checks)


@pytest.mark.workflow
def test_workflow_plans_the_check_jobs(tmp_path):
    """The dry run has one claim_checks_cell job per distribution, one merge, and the
    claims job waits for it."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("workflow", "scripts", "config"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    (root / "small.yaml").write_text(json.dumps({**TINY, "k": [2, 10]}))
    env = {**os.environ, "SNAKEMAKE_PROFILE": "none"}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "results/tables/claims.csv", "-n", "--cores", "2",
         "--configfile", "small.yaml", "--quiet", "rules"],
        cwd=root, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    jobs = {}
    for line in output[output.index("Job stats:") :].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    cfg = config.validate({**TINY, "k": [2, 10]})
    assert (
        jobs["claim_checks_cell"] == len(claim_checks.plan_jobs(cfg)) == len(cfg["distributions"])
    )
    assert jobs["claim_checks"] == 1 and jobs["claims"] == 1
