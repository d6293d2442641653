"""The empirical family: the user's own logits from a file (softmaxlab.sampling), checked
before any job (softmaxlab.config), planned with the file's K (softmaxlab.sweep), and run
end to end with a plugin method through the workflow to the report.

Oracles: the array written to each file format; the definition of the standardisation
recomputed with numpy; a direct recomputation of a cell's summary from the drawn rows.
"""

import math
import shutil
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pandas as pd
import pytest
import yaml
from sweeps import TINY

import softmaxlab
from softmaxlab import config as sl_config
from softmaxlab import normalize, sampling, sweep

REPO = Path(__file__).resolve().parents[1]
DIGITS = "results/training/digits_test_logits.npy"


@pytest.fixture
def logits() -> np.ndarray:
    """40 rows of 5 classes with per-row offsets and integers among them."""
    rng = np.random.default_rng(7)
    x = rng.normal(3.0, 2.0, size=(40, 5)) + rng.normal(0, 4, size=(40, 1))
    x[0] = [1, 2, 3, 4, 5]
    return x


def write(path: Path, x: np.ndarray) -> Path:
    """x in the format of path's suffix (what a user's tool would write)."""
    if path.suffix == ".npy":
        np.save(path, x)
    elif path.suffix == ".npz":
        np.savez(path, x)
    elif path.suffix == ".parquet":
        pd.DataFrame(x, columns=[f"class_{i}" for i in range(x.shape[1])]).to_parquet(path)
    elif path.name.endswith(".header.csv"):
        pd.DataFrame(x, columns=[f"c{i}" for i in range(x.shape[1])]).to_csv(path, index=False)
    else:
        np.savetxt(path, x, delimiter=",", fmt="%.17g")
    return path


def spec(path, **more) -> dict:
    return {"family": "empirical", "path": str(path), **more}


def config_with(distributions: dict, **changes) -> dict:
    return {**TINY, "distributions": distributions, **changes}


# --- reading the file ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x.npy", "x.npz", "x.parquet", "x.csv", "x.header.csv"])
def test_each_format_reads_back_the_array_written(tmp_path, logits, name):
    path = write(tmp_path / name, logits)
    got = sampling.read_logits(path)
    assert got.dtype == np.float64 and got.shape == (40, 5)
    np.testing.assert_array_equal(got, logits)
    assert sampling.empirical_k(spec(path)) == 5


def test_npz_with_several_arrays_takes_the_one_named_logits(tmp_path, logits):
    np.savez(tmp_path / "many.npz", labels=np.arange(40), logits=logits)
    np.testing.assert_array_equal(sampling.read_logits(tmp_path / "many.npz"), logits)
    np.savez(tmp_path / "ambiguous.npz", a=logits, b=logits)
    with pytest.raises(ValueError, match="holds 2 arrays \\(a, b\\).*'logits'"):
        sampling.read_logits(tmp_path / "ambiguous.npz")


def test_a_rewritten_file_is_read_again(tmp_path, logits):
    path = write(tmp_path / "x.npy", logits)
    assert sampling.read_logits(path).shape == (40, 5)
    np.save(path, logits[:, :3])
    assert sampling.read_logits(path).shape == (40, 3)


# --- drawing ------------------------------------------------------------------------------


def test_draws_are_rows_with_replacement_reproducible_by_seed(tmp_path, logits):
    s = spec(write(tmp_path / "x.npy", logits))
    z = sampling.sample_z(11, "mine", s, 5, 500)
    again = sampling.sample_z(11, "mine", s, 5, 500)
    np.testing.assert_array_equal(z, again)
    assert not np.array_equal(z, sampling.sample_z(12, "mine", s, 5, 500))
    rows = {tuple(row) for row in logits}
    assert all(tuple(row) in rows for row in z)
    drawn = [next(i for i, r in enumerate(logits) if np.array_equal(r, row)) for row in z]
    counts = np.bincount(drawn, minlength=40)
    assert counts.max() > 1  # with replacement: 500 draws of 40 rows repeat
    # uniform: 500 / 40 = 12.5 per row; a chi-square of 39 df stays below 80 (p ~ 1e-4)
    assert np.sum((counts - 12.5) ** 2 / 12.5) < 80
    blocks = list(sampling.sample_z_blocks(11, "mine", s, 5, 500, 37))
    np.testing.assert_array_equal(np.concatenate(blocks), z)  # streaming draws the same rows


def test_standardize_centres_rows_and_divides_by_the_pooled_within_row_spread(tmp_path, logits):
    s = spec(write(tmp_path / "x.npy", logits), standardize=True)
    z = sampling.empirical_z(s)
    centred = logits - logits.mean(axis=1, keepdims=True)
    pooled = np.sqrt(np.sum(centred**2) / (40 * (5 - 1)))
    np.testing.assert_allclose(z, centred / pooled, rtol=1e-14)
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-14)
    np.testing.assert_allclose(np.sum(z**2) / (40 * 4), 1.0, rtol=1e-14)
    # per-row offsets and a common scale of the file do not change it
    moved = write(tmp_path / "moved.npy", 7.5 * logits + np.arange(40)[:, None])
    np.testing.assert_allclose(sampling.empirical_z(spec(moved, standardize=True)), z, atol=1e-13)
    # without standardize the rows are the file's
    np.testing.assert_array_equal(sampling.empirical_z(spec(tmp_path / "x.npy")), logits)


def test_standardized_normal_logits_spread_like_the_normal_family(tmp_path):
    rng = np.random.default_rng(1)
    path = write(tmp_path / "n.npy", 4.0 + 3.0 * rng.standard_normal((4000, 10)))
    z = sampling.empirical_z(spec(path, standardize=True))
    # rows of N(0, 1) entries: E[row std] = c4(10) sigma, c4(n) = sqrt(2/(n-1)) G(n/2)/G((n-1)/2)
    c4 = math.sqrt(2 / 9) * math.gamma(5) / math.gamma(4.5)
    np.testing.assert_allclose(np.std(z, axis=1, ddof=1).mean(), c4, atol=0.01)
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-13)


def test_sweep_cells_take_k_from_the_file_and_scale_multiplies(tmp_path, logits):
    s = spec(write(tmp_path / "x.npy", logits), standardize=True)
    config = sl_config.validate(
        config_with({"normal": {"family": "normal"}, "mine": s}, scales=[0.5, 4.0])
    )
    assert sweep.ks(config, "mine") == [5] and sweep.all_ks(config) == [2, 10, 5]
    mine = [cell for cell in sweep.cells(config) if cell.distribution == "mine"]
    assert {cell.k for cell in mine} == {5}
    summary = sweep.run_cells(config, [c for c in mine if c.dtype == "float64"])
    n = sweep.n_vectors(config, 5)
    z = sampling.sample_z(config["seed"], "mine", s, 5, n)
    for scale in (0.5, 4.0):
        expected = normalize(scale * z, "softmax").max(axis=1).mean()
        row = summary[
            (summary["scale"] == scale)
            & (summary["label"] == "softmax")
            & (summary["metric"] == "max_prob")
        ]
        np.testing.assert_allclose(row["mean"].item(), expected, rtol=1e-12)


def test_results_do_not_depend_on_the_sharding(tmp_path, logits):
    s = spec(write(tmp_path / "x.npy", logits))
    base = config_with({"mine": s, "normal": {"family": "normal"}})
    whole = sl_config.validate({**base, "shard_elements": 10**6})
    split = sl_config.validate({**base, "shard_elements": 50})
    # the file's cells and the rest: two jobs, however large shard_elements
    assert len(sweep.plan_shards(whole)) == 2 < len(sweep.plan_shards(split))
    one = pd.concat([sweep.run_cells(whole, shard) for shard in sweep.plan_shards(whole)])
    paths = []
    for index, shard in enumerate(sweep.plan_shards(split)):
        path = tmp_path / f"shard_{index}.csv"
        sweep.write_shard(sweep.run_cells(split, shard), path, shard, split)
        paths.append(path)
    sweep.merge_shards(paths, split, tmp_path / "summary.csv")
    merged = sweep.read_summary(tmp_path / "summary.csv")
    sweep.write_csv(sweep.sort_summary(one, whole), tmp_path / "one.csv")
    pd.testing.assert_frame_equal(merged, sweep.read_summary(tmp_path / "one.csv"))
    assert set(merged.loc[merged["distribution"] == "mine", "k"]) == {5}


def test_shards_get_their_logit_files_as_inputs(tmp_path, logits):
    path = str(write(tmp_path / "x.npy", logits))
    config = sl_config.validate(
        config_with({"normal": {"family": "normal"}, "mine": spec(path)}, shard_elements=300)
    )
    files = [sweep.logit_files(config, shard) for shard in sweep.plan_shards(config)]
    assert [] in files and [path] in files
    for shard, shard_files in zip(sweep.plan_shards(config), files, strict=True):
        assert (path in shard_files) == any(cell.distribution == "mine" for cell in shard)


def test_cells_that_read_a_file_are_jobs_of_their_own(tmp_path, logits):
    """A job that waits for a logit file (one the workflow writes) holds only the cells of
    that file, whatever shard_elements allows: the other cells never wait for it."""
    first = spec(write(tmp_path / "x.npy", logits))
    second = spec(write(tmp_path / "y.npy", logits))
    config = sl_config.validate(
        config_with(
            {"mine": first, "normal": {"family": "normal"}, "theirs": second},
            shard_elements=10**9,
        )
    )
    plan = sweep.plan_shards(config)
    assert [sorted({cell.distribution for cell in shard}) for shard in plan] == [
        ["mine"],
        ["normal"],
        ["theirs"],
    ]
    assert [sweep.logit_files(config, shard) for shard in plan] == [
        [first["path"]],
        [],
        [second["path"]],
    ]
    assert sum(len(shard) for shard in plan) == len(sweep.cells(config))


# --- refused before any job ---------------------------------------------------------------


def bad_file(tmp_path: Path, case: str) -> Path:
    x = np.arange(12.0).reshape(4, 3)
    if case == "missing":
        return tmp_path / "nowhere.npy"
    if case == "1-D":
        return write(tmp_path / "a.npy", x.ravel())
    if case == "3-D":
        return write(tmp_path / "a.npy", x.reshape(2, 2, 3))
    if case == "one column":
        return write(tmp_path / "a.npy", x[:, :1])
    if case == "no rows":
        return write(tmp_path / "a.npy", x[:0])
    if case in ("nan", "inf"):
        x[2, 1] = np.nan if case == "nan" else -np.inf
        return write(tmp_path / "a.npy", x)
    if case == "text suffix":
        return write(tmp_path / "a.txt", x)
    if case == "corrupt npy":
        (tmp_path / "a.npy").write_bytes(b"not a numpy file")
        return tmp_path / "a.npy"
    if case == "strings":
        np.save(tmp_path / "a.npy", np.array([["a", "b"], ["c", "d"]]))
        return tmp_path / "a.npy"
    if case == "ragged csv":
        (tmp_path / "a.csv").write_text("1,2,3\n4,5\n")
        return tmp_path / "a.csv"
    if case == "pandas index":
        pd.DataFrame(x).to_csv(tmp_path / "a.csv")
        return tmp_path / "a.csv"
    if case == "pandas default header":
        pd.DataFrame(x).to_csv(tmp_path / "a.csv", index=False)
        return tmp_path / "a.csv"
    if case == "text column":
        pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}).to_parquet(tmp_path / "a.parquet")
        return tmp_path / "a.parquet"
    if case == "constant rows":
        return write(tmp_path / "a.npy", np.ones((4, 3)))
    raise AssertionError(case)


REFUSALS = {
    "missing": "does not exist",
    "1-D": "shape (12,); it must be 2-D",
    "3-D": "shape (2, 2, 3); it must be 2-D",
    "one column": "4 x 1 array; it needs at least one row and 2 columns",
    "no rows": "0 x 3 array",
    "nan": "1 non-finite entries (first: row 2, column 1: nan)",
    "inf": "(first: row 2, column 1: -inf)",
    "text suffix": "unreadable format '.txt'",
    "corrupt npy": "cannot be read as npy",
    "strings": "logits must be numbers",
    "ragged csv": "cannot be read as csv",
    "pandas index": "index=False",
    "pandas default header": "pandas' default header",
    "text column": "every column must be numeric",
    "constant rows": "every row is constant",
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_file_is_refused_naming_the_path_key(tmp_path, case):
    path = bad_file(tmp_path, case)
    s = spec(path, standardize=case == "constant rows")
    with pytest.raises(sl_config.ConfigError) as error:
        sl_config.validate(config_with({"normal": {"family": "normal"}, "mine": s}))
    message = str(error.value)
    assert message.startswith("config key 'distributions.mine.path': ")
    assert REFUSALS[case] in message and "\n" not in message


def test_classes_that_disagree_with_the_file_are_refused_naming_both(tmp_path, logits):
    path = write(tmp_path / "x.npy", logits)
    with pytest.raises(sl_config.ConfigError) as error:
        sl_config.validate(config_with({"mine": spec(path, classes=10)}))
    message = str(error.value)
    assert message.startswith("config key 'distributions.mine.classes': classes = 10")
    assert f"{str(path)!r} has 5 columns" in message
    assert sl_config.validate(config_with({"mine": spec(path, classes=5)}))


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ({"family": "empirical"}, "'path' is a required property"),
        ({"family": "empirical", "path": "x.npy", "scale": 2}, "'scale' was unexpected"),
        ({"family": "empirical", "path": "x.npy", "standardize": "yes"}, "'boolean'"),
        ({"family": "empirical", "path": "x.npy", "classes": 1}, "minimum of 2"),
        ({"family": "empirical", "path": ""}, "non-empty"),
    ],
)
def test_the_schema_checks_an_empirical_entry(entry, fragment):
    with pytest.raises(sl_config.ConfigError, match="distributions\\.mine") as error:
        sl_config.validate(config_with({"mine": entry}))
    assert fragment in str(error.value)


def test_the_workflows_own_logits_are_planned_from_classes_without_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no results/ here: the file does not exist yet
    digits = {"family": "empirical", "path": DIGITS, "classes": 10}
    config = sl_config.validate(config_with({"digits": digits}, k=[3]))
    assert sweep.ks(config, "digits") == [10]
    assert all(sweep.logit_files(config, s) == [DIGITS] for s in sweep.plan_shards(config))
    with pytest.raises(sl_config.ConfigError, match="distributions.digits.classes': required"):
        sl_config.validate(config_with({"digits": {"family": "empirical", "path": DIGITS}}))
    no_digits = {**TINY["training"], "datasets": ["mixture"]}
    with pytest.raises(sl_config.ConfigError, match="training.datasets lacks 'digits'"):
        sl_config.validate(config_with({"digits": digits}, training=no_digits))
    # the sweep job checks the file when it reads it
    Path("results/training").mkdir(parents=True)
    np.save(DIGITS, np.zeros((0, 0)))
    with pytest.raises(ValueError, match="0 x 0 array"):
        sampling.sample_z(1, "digits", digits, 10, 5)
    np.save(DIGITS, np.ones((6, 7)))
    with pytest.raises(ValueError, match="classes = 10, but .* has 7 columns"):
        sampling.sample_z(1, "digits", digits, 10, 5)


# --- end to end: a plugin method and empirical logits through the workflow -----------------


@pytest.mark.workflow
def test_plugin_and_empirical_logits_run_end_to_end_to_the_report(tmp_path):
    """examples/config.yaml, made smaller, from a copy of the workflow: the plugin (with a
    vjp, and a copy without one), the example's own logits and the training study's digits
    logits; every output through results/report.html."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("workflow", "scripts", "config", "examples"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    (root / "novjp.py").write_text(
        "from examples.my_method import power_softmax\n\n\n"
        "def flat(x, n=4):\n    return power_softmax(x, n)\n"
    )
    config = yaml.safe_load((REPO / "examples" / "config.yaml").read_text())
    config["methods"] = [
        {"method": "softmax"},
        {"method": "linear"},
        {"method": "examples.my_method:power_softmax", "n": 64},
        {"method": "novjp:flat"},
    ]
    config["scales"] = [0.1, 10.0]
    config["vectors"] = {"elements": 100, "min": 5, "max": 10}
    config["training"] = {**config["training"], "steps": 3, "datasets": ["digits"]}
    (root / "byo.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "byo.yaml", "--cores", "2"]
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-5000:]

    summary = sweep.read_summary(root / "results" / "tables" / "summary.csv")
    labels = ["softmax", "linear", "examples.my_method:power_softmax(n=64)", "novjp:flat"]
    assert list(dict.fromkeys(summary["label"])) == labels
    assert set(summary.groupby("distribution")["k"].unique().map(tuple)) == {(10,)}
    assert list(dict.fromkeys(summary["distribution"])) == ["normal", "mine", "digits"]
    plugin = summary[summary["label"] == labels[2]].set_index(["distribution", "scale", "metric"])
    assert plugin.loc[("digits", 10.0, "tv_to_argmax"), "mean"].max() < 0.5
    grads = summary[(summary["metric"] == "nll_grad_norm") & (summary["dtype"] == "float64")]
    by_label = grads.groupby("label")["mean"].apply(lambda m: m.notna().any())
    assert by_label[labels[2]] and not by_label["novjp:flat"]  # no vjp: NaN, not a crash

    training = pd.read_csv(root / "results" / "tables" / "training.csv")
    assert labels[2] in set(training["label"]) and "novjp:flat" not in set(training["label"])
    assert "novjp:flat skipped: it has no vjp" in (root / "logs" / "training.log").read_text()
    digits = np.load(root / DIGITS)
    assert digits.shape == (450, 10) and digits.dtype == np.float64
    report = (root / "results" / "report.html").read_text()
    assert "examples.my_method:power_softmax(n=64)" in report and "digits" in report


def test_an_infinite_output_is_left_out_of_the_accuracy_metrics(tmp_path):
    """linear on the bfloat16 logits [1, -1] divides by a sum rounded to 0: p = [inf, -inf],
    no NaN. That vector counts in nonfinite_output and is left out of every accuracy metric
    (NaN there, as a NaN output is), so the cell's accuracy rows are those of the finite
    outputs ([2, 1] -> p = [2/3, 1/3] rounded to bfloat16), not infinite means."""
    from softmaxlab.metrics import ACCURACY_METRICS, vector_metrics

    rows = np.array([[1.0, -1.0], [2.0, 1.0]])
    s = spec(write(tmp_path / "pair.npy", rows))
    config = sl_config.validate(
        config_with(
            {"pair": s},
            scales=[1.0],
            dtypes=["bfloat16"],
            compute={"bfloat16": ["float32"]},
            methods=[{"method": "linear"}],
            vectors={"elements": 64, "min": 32, "max": 32},
        )
    )
    summary = sweep.run_cells(config, sweep.cells(config))
    n = sweep.n_vectors(config, 2)
    z = sampling.sample_z(config["seed"], "pair", s, 2, n)
    infinite = int((z[:, 0] == 1.0).sum())
    assert 0 < infinite < n  # both rows were drawn
    finite_rows = z[z[:, 0] == 2.0].astype(ml_dtypes.bfloat16)
    p, overflow = softmaxlab.evaluate(finite_rows, "linear", compute="float32")
    expected = vector_metrics(finite_rows, p, overflow, None)

    def row(metric):
        return summary[summary["metric"] == metric].iloc[0]

    assert row("nonfinite_output")["mean"] == infinite / n and row("nonfinite_output")["n"] == n
    for metric in ACCURACY_METRICS:
        if metric in ("max_abs_error", "max_rel_error"):
            continue  # measured against the float64 reference: finite, checked below
        assert row(metric)["n"] == n - infinite, metric
        assert row(metric)["mean"] == pytest.approx(expected[metric].mean(), rel=1e-12), metric
    for metric in ("max_abs_error", "max_rel_error"):
        assert row(metric)["n"] == n - infinite and np.isfinite(row(metric)["mean"]), metric
    # the metric itself, outside the sweep, is what its definition gives: infinite
    bad = np.array([[1.0, -1.0]]).astype(ml_dtypes.bfloat16)
    p_bad, over = softmaxlab.evaluate(bad, "linear", compute="float32")
    assert np.isinf(p_bad.astype(np.float64)).all()
    assert np.isinf(vector_metrics(bad, p_bad, over, None)["tv_to_argmax"]).all()
