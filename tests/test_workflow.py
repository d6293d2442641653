"""The workflow end to end on a small sweep: outputs, determinism, bad config, interruption."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sweeps import SMALL

from softmaxlab.metrics import METRICS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


SUMMARY_COLUMNS = (
    "distribution,scale,k,dtype,compute,method,label,metric,"
    "n,mean,std,ci_low,ci_high,q05,median,q95"
)


def make_project(root: Path, config: dict) -> Path:
    """A copy of the workflow (not the library: that is installed) with its own config."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("workflow", "scripts", "config"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    (root / "small.yaml").write_text(yaml.safe_dump(config))
    return root


def snakemake(root: Path, *args, check=True, **kwargs):
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "small.yaml", "--cores", "2", *args]
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("full"), SMALL)
    snakemake(root)
    return root


def test_end_to_end_outputs(full_run):
    tables = full_run / "results" / "tables"
    summary_text = (tables / "summary.csv").read_text()
    assert summary_text.splitlines()[0] == SUMMARY_COLUMNS
    summary = pd.read_csv(tables / "summary.csv")
    n_cells = 2 * 3 * 2 * 3  # distributions x scales x K x (format, compute mode) pairs
    assert len(summary) == n_cells * len(SMALL["methods"]) * len(METRICS)
    assert set(summary["label"]) == {
        "argmax",
        "linear",
        "softmax",
        "softmax(stable=False)",
        "softmax(base=100, stable=False)",
        "sparsemax",
        "gumbel_softmax",
    }
    # Unstable base-100 softmax overflows float64 above ln(max)/ln(100) = 154.1: at scale 200
    # some normal logits exceed it, at scale 3 none do; the stable one never overflows.
    over = summary[
        (summary.metric == "overflow")
        & (summary.dtype == "float64")
        & (summary.distribution == "normal")
    ]
    base100 = over[over.label == "softmax(base=100, stable=False)"].set_index(["scale", "k"])[
        "mean"
    ]
    assert base100.loc[(200.0, 10)] > 0 and base100.loc[(3.0, 10)] == 0
    assert (over[over.label == "softmax"]["mean"] == 0).all()
    # Hardmax is at distance 0 from argmax, always.
    tv = summary[(summary.metric == "tv_to_argmax") & (summary.label == "argmax")]
    assert (tv["mean"] == 0).all()
    claims = pd.read_csv(tables / "claims.csv")
    assert list(claims.columns) == [
        "claim",
        "statement",
        "measure",
        "value",
        "verdict",
        "conditions",
        "outcomes",
    ]
    assert list(claims["claim"]) == [f"C{i}" for i in range(1, 16)]
    assert claims["outcomes"].str.len().min() > 0  # every claim says what its verdicts need
    assert set(claims["verdict"]) <= {"holds", "holds with conditions", "does not hold"}
    report = (full_run / "results" / "report.html").read_text()
    assert "C13" in report and "<svg" in report or "data:image" in report
    # the sweep's figures, then the training study's curves with the caption its job wrote
    from markupsafe import escape  # the report template's (Jinja2's) escaping

    from softmaxlab.captions import read_caption
    from softmaxlab.figures import FIGURES

    curves = read_caption(full_run / "results" / "figures" / "training_curves.caption.md")
    assert f"Figure {len(FIGURES) + 1}. {escape(curves.title)}" in report
    assert str(escape(curves.paragraphs[-1])) in report
    assert (full_run / "results" / "figures").is_dir()
    assert any((full_run / "logs").rglob("*.log"))


def test_same_bytes_whatever_cores_and_sharding(full_run, tmp_path):
    other = make_project(tmp_path / "other", {**SMALL, "shard_elements": 150})
    result = snakemake(
        other, "--cores", "1", "results/tables/summary.csv", "results/tables/claims.csv"
    )
    assert result.returncode == 0
    shards = list((other / "results" / "shards").glob("shard_*.csv"))
    assert len(shards) > len(list((full_run / "results" / "shards").glob("shard_*.csv")))
    for table in ("summary.csv", "claims.csv"):
        assert (other / "results/tables" / table).read_bytes() == (
            full_run / "results/tables" / table
        ).read_bytes()


def test_raw_metrics_as_parquet_change_no_summary(full_run, tmp_path):
    other = make_project(tmp_path / "raw", {**SMALL, "shard_elements": 150})
    snakemake(other, "--config", "raw_metrics=true", "--", "results/tables/summary.csv")
    summary_path = "results/tables/summary.csv"
    assert (other / summary_path).read_bytes() == (full_run / summary_path).read_bytes()
    shards = sorted((other / "results" / "shards").glob("shard_*.csv"))
    assert len(list((other / "results" / "raw").glob("shard_*.parquet"))) == len(shards)
    per_vector = pd.read_parquet(other / "results" / "raw")
    summary = pd.read_csv(other / summary_path, keep_default_na=False, na_values=[""])
    vectors = {2: 30, 10: 20}  # elements 200 // K clipped to [5, 30]
    cells_per_k = 2 * 3 * 3  # distributions x scales x (format, compute mode) pairs
    assert len(per_vector) == sum(cells_per_k * len(SMALL["methods"]) * n for n in vectors.values())
    keys = ["distribution", "scale", "k", "dtype", "compute", "label"]
    means = per_vector.groupby(keys, observed=True)[["max_prob", "overflow"]].mean()
    for metric in ("max_prob", "overflow"):
        rows = summary[summary.metric == metric].set_index(keys)["mean"]
        joined = means[metric].to_frame("raw").join(rows.rename("summary"), how="inner")
        assert len(joined) == len(rows)
        pd.testing.assert_series_equal(
            joined["raw"], joined["summary"], check_names=False, rtol=1e-12
        )


def test_bad_config_stops_before_any_work(tmp_path):
    root = make_project(tmp_path / "bad", {**SMALL, "k": [1, 10]})
    result = snakemake(root, check=False)
    assert result.returncode != 0
    assert "config key 'k[0]'" in result.stderr + result.stdout
    assert not (root / "results").exists()


def test_interrupted_run_completes_identically(full_run, tmp_path):
    root = make_project(tmp_path / "interrupted", SMALL)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--configfile",
        "small.yaml",
        "--cores",
        "1",
        "results/tables/summary.csv",
    ]
    proc = subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    shards = root / "results" / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(shards.glob("shard_*.csv")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up: the harshest interruption
    proc.wait()
    assert not (root / "results/tables/summary.csv").exists()
    # A killed Snakemake leaves its lock behind: the README's recovery is unlock, then rerun.
    snakemake(root, "--unlock")
    snakemake(root, "--rerun-incomplete", "results/tables/summary.csv")
    assert (root / "results/tables/summary.csv").read_bytes() == (
        full_run / "results/tables/summary.csv"
    ).read_bytes()


def _browser_paths():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver must be installed in CI (.ci/run installs them)")
        pytest.skip(
            "chromium/chromedriver not installed (Debian packages chromium, chromium-driver)"
        )
    return chromium, driver


def test_report_renders_in_headless_chromium(full_run):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        browser.get((full_run / "results" / "report.html").as_uri())
        images = browser.execute_script(
            "return Array.from(document.images)"
            ".map(i => [i.complete, i.naturalWidth, i.alt || i.src.slice(0, 40)])"
        )
        inline_svgs = browser.execute_script(
            "return Array.from(document.querySelectorAll('svg'))"
            ".filter(s => s.getBoundingClientRect().width > 100).length"
        )
        from softmaxlab.figures import FIGURES

        assert len(images) + inline_svgs >= len(FIGURES), (images, inline_svgs)
        broken = [image for image in images if not (image[0] and image[1] > 0)]
        assert not broken, broken
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
        artifacts = REPO / "results" / "test-artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(artifacts / "report-screenshot.png"))
    finally:
        browser.quit()
