"""Pivot tables and figures: values against hand computations, robustness, reproducible bytes."""

import copy
import itertools
import math
import re
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sweeps import TINY as SMALL

from softmaxlab import config as sl_config
from softmaxlab import figures, sweep, tables
from softmaxlab.captions import caption_path, read_caption
from softmaxlab.figures import accuracy_by_dtype, gradient_vs_scale
from softmaxlab.figures.data import distance_text

GRID = {
    "distribution": ["normal", "positive"],
    "scale": [1.0, 10.0],
    "k": [2, 10],
    "dtype": ["float64", "float16"],
}
LABELS = {"softmax": "softmax", "softmax(stable=False)": "softmax", "linear": "linear"}


def hand_summary(
    metrics=("overflow", "nan_output", "tv_to_argmax", "max_rel_error"),
) -> pd.DataFrame:
    """Every cell of GRID x LABELS x metrics with mean = median = 0; n = 200 at K=2, 20 at K=10.

    Tests overwrite the cells they are about, so expected pivots are small sums by hand.
    """
    rows = []
    for dist, scale, k, dtype in itertools.product(*GRID.values()):
        for label, method in LABELS.items():
            for metric in metrics:
                rows.append(
                    {
                        "distribution": dist,
                        "scale": scale,
                        "k": k,
                        "dtype": dtype,
                        "compute": sweep.compute_modes({}, dtype)[0],
                        "method": method,
                        "label": label,
                        "metric": metric,
                        "n": 200 if k == 2 else 20,
                        "mean": 0.0,
                        "std": 0.0,
                        "ci_low": 0.0,
                        "ci_high": 0.0,
                        "q05": 0.0,
                        "median": 0.0,
                        "q95": 0.0,
                    }
                )
    return pd.DataFrame(rows, columns=list(sweep.COLUMNS))


def put(summary, value, field="mean", **where):
    mask = np.ones(len(summary), dtype=bool)
    for column, wanted in where.items():
        mask &= (summary[column] == wanted).to_numpy()
    assert mask.any(), where
    summary.loc[mask, field] = value


@pytest.fixture(scope="module")
def small():
    cfg = sl_config.validate(copy.deepcopy(SMALL))
    return sweep.sort_summary(sweep.run_cells(cfg, sweep.cells(cfg)), cfg)


# ------------------------------------------------------------------ pivots


def test_pivot_names_are_file_name_parts():
    assert {
        "overflow_rate",
        "nan_rate",
        "distance_to_argmax",
        "invalid_rate",
        "max_rel_error_median",
        "normalized_entropy",
    } <= set(tables.PIVOTS)
    for name in [*tables.PIVOTS, *figures.FIGURES]:
        assert re.fullmatch(r"[a-z0-9_]+", name), name


def test_figure_names_are_read_without_importing_matplotlib():
    """The Snakefile reads softmaxlab.figures.NAMES: the names of FIGURES, in its order,
    from a module that imports neither matplotlib nor seaborn (about 1 s a Snakemake
    start); the rest of the package loads on first use."""
    assert list(figures.FIGURES) == list(figures.NAMES)
    probe = (
        "import sys; from softmaxlab import figures; names = figures.NAMES; "
        "print(sorted(m for m in ('matplotlib', 'seaborn') if m in sys.modules)); "
        "figures.render; print('matplotlib' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[:2] == ["[]", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        figures.nope  # noqa: B018


def test_rate_pivot_pools_cells_by_their_vectors():
    summary = hand_summary()
    # softmax(stable=False) in float16: 8 cells (2 distributions x 2 scales x 2 K).
    cells = [
        (0.0, "normal", 1.0, 2),
        (1.0, "normal", 10.0, 10),
        (0.5, "positive", 10.0, 2),
        (0.25, "positive", 10.0, 10),
    ]
    for value, dist, scale, k in cells:
        put(
            summary,
            value,
            metric="overflow",
            label="softmax(stable=False)",
            dtype="float16",
            distribution=dist,
            scale=scale,
            k=k,
        )
    table = tables.PIVOTS["overflow_rate"](summary)
    assert table.index.name == "label"
    assert list(table.index) == ["softmax", "softmax(stable=False)", "linear"]
    assert list(table.columns) == ["float64", "float16"]
    # The one pooling rule (softmaxlab.stats.pool), n = 200 at K = 2 and 20 at K = 10:
    # (0.5*200 + 1*20 + 0.25*20) / (4*200 + 4*20) = 125/880, not the unweighted 1.75/8.
    assert table.loc["softmax(stable=False)", "float16"] == pytest.approx(125 / 880)
    assert table.loc["softmax(stable=False)", "float64"] == 0
    assert (table.loc["softmax"] == 0).all()


def test_undefined_cells_are_left_out_and_the_csv_reads_back_with_plain_pandas(tmp_path):
    summary = hand_summary()
    put(summary, 0.3, metric="nan_output", label="linear", dtype="float64")
    put(summary, np.nan, metric="nan_output", label="linear", dtype="float64", scale=10.0)
    put(summary, 0, field="n", metric="nan_output", label="linear", dtype="float64", scale=10.0)
    path = tmp_path / "summary.csv"
    summary.to_csv(path, index=False)
    # The metric is named nan_output, not "nan", which plain pandas would read as missing.
    assert set(pd.read_csv(path)["metric"]) == set(summary["metric"])
    back = sweep.read_summary(path)
    assert "nan_output" in set(back["metric"])
    table = tables.PIVOTS["nan_rate"](back)
    assert table.loc["linear", "float64"] == pytest.approx(0.3)  # 4 cells at 0.3, 4 left out
    assert table.loc["linear", "float16"] == 0


def test_error_pivot_is_median_of_cell_medians():
    summary = hand_summary()
    medians = [1e-16, 5e-16, 2e-16, 9e-16, 3e-16, 4e-16, 7e-16, np.inf]
    cells = list(itertools.product(GRID["distribution"], GRID["scale"], GRID["k"]))
    for value, (dist, scale, k) in zip(medians, cells, strict=True):
        put(
            summary,
            value,
            field="median",
            metric="max_rel_error",
            label="softmax",
            dtype="float64",
            distribution=dist,
            scale=scale,
            k=k,
        )
    table = tables.PIVOTS["max_rel_error_median"](summary)
    # sorted: 1, 2, 3, 4, 5, 7, 9, inf (x 1e-16): the median is (4 + 5) / 2 = 4.5e-16.
    assert table.loc["softmax", "float64"] == pytest.approx(4.5e-16)


def test_accuracy_pivot_rows_carry_their_non_finite_share():
    # naive float16 softmax: half of its outputs lost in the two K = 2 cells at scale 10
    # (200 vectors each) of its 880 float16 vectors: 22.7%, beside its error
    summary = hand_summary(("max_rel_error", "nonfinite_output"))
    naive = "softmax(stable=False)"
    put(summary, 6e-4, field="median", metric="max_rel_error", label=naive, dtype="float16")
    put(summary, 0.5, metric="nonfinite_output", label=naive, dtype="float16", scale=10.0, k=2)
    table = tables.PIVOTS["max_rel_error_median"](summary)
    assert list(table.columns) == ["float64", "float16", "float64 non-finite", "float16 non-finite"]
    assert table.loc[naive, "float16"] == pytest.approx(6e-4)
    assert table.loc[naive, "float16 non-finite"] == pytest.approx(200 / 880)
    assert table.loc["softmax", "float16 non-finite"] == 0.0
    html = tables.to_html(table)
    assert ">0.0006<" in html or ">6e-04<" in html
    assert ">22.7%<" in html  # the share as a rate, the error as a number


def test_scale_pivot_uses_float64_and_pools_distributions_and_k(tmp_path):
    summary = hand_summary()
    put(summary, 99.0, metric="tv_to_argmax", dtype="float16")  # must be ignored
    for value, dist, k in [
        (0.1, "normal", 2),
        (0.2, "normal", 10),
        (0.3, "positive", 2),
        (0.6, "positive", 10),
    ]:
        put(
            summary,
            value,
            metric="tv_to_argmax",
            label="softmax",
            dtype="float64",
            scale=10.0,
            distribution=dist,
            k=k,
        )
    table = tables.PIVOTS["distance_to_argmax"](summary)
    assert list(table.columns) == ["1", "10"]
    # n-weighted (200 at K = 2, 20 at K = 10), not the unweighted (0.1 + 0.2 + 0.3 + 0.6) / 4.
    expected = (0.1 * 200 + 0.2 * 20 + 0.3 * 200 + 0.6 * 20) / 440
    assert table.loc["softmax", "10"] == pytest.approx(expected)
    assert table.loc["softmax", "1"] == 0
    # Readers get the same table back from the CSV the script writes.
    path = tmp_path / "pivot.csv"
    table.to_csv(path, lineterminator="\n")
    back = pd.read_csv(path, index_col=0)
    assert list(back.columns) == ["1", "10"] and back.index.name == "label"
    np.testing.assert_array_equal(back.to_numpy(), table.to_numpy())
    # Without float64 the widest format present is used.
    only16 = summary[summary["dtype"] == "float16"]
    assert (tables.PIVOTS["distance_to_argmax"](only16).to_numpy() == 99.0).all()


@pytest.mark.parametrize("name", ["distance_to_argmax", "normalized_entropy"])
def test_distribution_pivots_leave_out_scales_with_outputs_off_the_simplex(name):
    """Linear on signed logits: some finite outputs have negative entries (invalid, not
    non-finite), where the distance is no distance and the entropy undefined. At such a
    scale the method is not pooled (n/a), so that every value of a column pools the same
    cells; non-finite outputs alone (counted apart) do not make a cell off the simplex."""
    metric = tables.PIVOTS[name].simplex_metric
    summary = hand_summary(metrics=(metric, "invalid", "nonfinite_output"))
    put(summary, 0.25, metric=metric)  # every cell of every label
    put(summary, 0.5, metric=metric, label="linear", distribution="positive")
    # normal K = 10 at scale 10: 30% invalid, 10% of them non-finite: off the simplex
    cell = {"distribution": "normal", "k": 10, "scale": 10.0, "dtype": "float64"}
    put(summary, 0.3, metric="invalid", label="linear", **cell)
    put(summary, 0.1, metric="nonfinite_output", label="linear", **cell)
    # the naive form at scale 1: its invalid outputs are all non-finite (overflow)
    for rate in ("invalid", "nonfinite_output"):
        put(summary, 0.2, metric=rate, label="softmax(stable=False)", scale=1.0)
    # off the simplex in float16 only: not the table's format, so it does not count
    put(summary, 0.4, metric="invalid", label="softmax", dtype="float16")
    table = tables.PIVOTS[name](summary)
    assert math.isnan(table.loc["linear", "10"])
    # scale 1 pools all four cells: (0.25 * (200 + 20) + 0.5 * (200 + 20)) / 440
    assert table.loc["linear", "1"] == pytest.approx(0.375)
    assert (table.drop(index="linear").to_numpy() == 0.25).all()
    description = table.attrs["description"]
    assert (
        "Not pooled (n/a) at a scale where some of a method's finite outputs are not "
        "distributions (negative entries, or a sum off 1); the cells with such outputs: "
        "linear 1 of 8." in description
    )
    assert "softmax" not in description.split("such outputs:")[1].split(".")[0]
    # the report's note, from the summary and a table read back without attrs, says the same
    plain = table.copy()
    plain.attrs = {}
    assert "the cells with such outputs: linear 1 of 8." in tables.PIVOTS[name].note(
        sweep.headline_rows(summary), plain
    )
    # nothing off the simplex: the plain pooled table, and no sentence
    put(summary, 0.1, metric="invalid", label="linear", **cell)
    table = tables.PIVOTS[name](summary)
    assert table.loc["linear", "10"] == pytest.approx(0.375)
    assert "Not pooled" not in table.attrs["description"]


def test_pivots_cope_with_missing_metrics():
    summary = hand_summary(metrics=("overflow",))
    for name, pivot in tables.PIVOTS.items():
        table = pivot(summary)
        assert table.index.name == pivot.rows, name
        html = tables.to_html(table)
        assert html.startswith('<div class="table-wrap"><table class="pivot">'), name


def test_format_scale_tells_scales_apart():
    assert tables.format_scale([0.001, 0.00316227766, 1000.0, 3.16227766]) == [
        "0.001",
        "0.00316",
        "1000",
        "3.16",
    ]
    assert tables.format_scale([1.0, 1.0001]) == ["1", "1.0001"]


def test_to_html_formats_rates_numbers_and_escapes():
    table = pd.DataFrame(
        {"float64": [0.25, 0.0], "float16": [np.nan, 1 / 3]},
        index=pd.Index(["a<b", "softmax"], name="label"),
    )
    html = tables.to_html(table, percent=True, title="Overflow & co")
    assert '<table class="pivot">' in html and "<caption>Overflow &amp; co</caption>" in html
    assert ">25%<" in html and ">0%<" in html and ">33.3%<" in html and ">n/a<" in html
    assert "a&lt;b" in html and "a<b" not in html
    assert '<th scope="col">label \\ dtype</th>' not in html  # no attrs: the index name only
    plain = tables.to_html(pd.DataFrame({"x": [1.23456e-10, 123456.7]}, index=["p", "q"]))
    # softmaxlab.formatting.number with 3 digits: digits left of the point are kept.
    assert ">1.23e-10<" in plain and ">123,457<" in plain and 'title="123456.7"' in plain
    # A Pivot's table carries its own format: percentages for rates.
    rates = tables.PIVOTS["overflow_rate"](hand_summary())
    assert rates.attrs["percent"] and ">0%<" in tables.to_html(rates)


# ------------------------------------------------------------------ figures


def _render(fig):
    with matplotlib.rc_context({"svg.hashsalt": figures.SVG_HASHSALT}):
        fig.draw_without_rendering()
    assert fig.axes, "a figure with no axes"


def test_every_figure_renders_on_a_small_sweep(small):
    for name in figures.FIGURES:
        fig = figures.make_figure(name, small)
        _render(fig)
        text = figures.caption(name, small)
        assert isinstance(text, str) and len(text) > 40, name
        assert figures.title(name)
        fig.clear()


@pytest.mark.parametrize(
    "keep",
    [
        {"label": ["linear"], "dtype": ["float16"], "distribution": ["positive"]},
        {"label": ["softmax(base=100, stable=False)"], "k": [2]},
        {"label": []},
    ],
    ids=["linear-only", "base100-only", "empty"],
)
def test_every_figure_copes_with_a_summary_missing_most_methods(small, keep):
    subset = small
    for column, values in keep.items():
        subset = subset[subset[column].isin(values)]
    for name in figures.FIGURES:
        fig = figures.make_figure(name, subset)
        _render(fig)
        assert figures.caption(name, subset)
        fig.clear()


def test_unknown_figure_names_the_choices():
    with pytest.raises(ValueError, match="distance_vs_scale"):
        figures.title("nope")


@pytest.mark.parametrize("name", ["overflow_heatmap", "distance_vs_k"])
def test_svg_and_png_bytes_are_reproducible(small, tmp_path, name):
    outputs = []
    for run in range(2):
        svg, png = tmp_path / f"{run}.svg", tmp_path / f"{run}.png"
        paths = (svg, png) if run else (str(svg), str(png))  # str or Path both work
        figures.save_figure(figures.make_figure(name, small), *paths)
        outputs.append((svg.read_bytes(), png.read_bytes()))
    assert outputs[0] == outputs[1]
    svg_bytes, png_bytes = outputs[0]
    assert svg_bytes.lstrip().startswith(b"<?xml") and b"<svg" in svg_bytes
    assert png_bytes.startswith(b"\x89PNG")
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporaries


def test_distance_caption_reports_the_data(small):
    text = figures.caption("distance_vs_scale", small)
    tv = small[
        (small.metric == "tv_to_argmax")
        & (small.dtype == "float64")
        & (small.k == 10)
        & (small.distribution == "normal")
        & (small.scale == 3.0)
    ].set_index("label")
    # Scale 3 is the sweep's scale nearest 10 (log distance |ln 0.3| < |ln 20|).
    assert f"softmax at {tv.loc['softmax', 'mean']:.2g}" in text
    # linear's outputs on normal logits have negative entries: a mean "distance" above 1,
    # no distance between distributions, quoted as such and left out of the comparison
    assert tv.loc["linear", "mean"] > 1
    assert "linear above 1" in text and "linear at" not in text
    assert "K = 10, float64" in text
    assert "(linear normalisation's 1 / sum x has none on signed logits)" in text


def test_distance_captions_compare_with_linear_only_where_it_is_a_distance():
    # K = 10, float64: linear at 0.5 and 0.2 on positive logits (softmax 0.3 and 0.4: one
    # point each way) and 5 and 7 on normal ones (softmax 0.6 and 0.1): 1 of the 2 points
    # where linear's mean is at most 1, not 3 of 4.
    summary = hand_summary(("tv_to_argmax",))
    points = [
        ("positive", 1.0, 0.3, 0.5),
        ("positive", 10.0, 0.4, 0.2),
        ("normal", 1.0, 0.6, 5.0),
        ("normal", 10.0, 0.1, 7.0),
    ]
    for dist, scale, soft, lin in points:
        where = {"metric": "tv_to_argmax", "distribution": dist, "scale": scale, "k": 10}
        put(summary, soft, label="softmax", **where)
        put(summary, lin, label="linear", **where)
    text = figures.caption("distance_vs_scale", summary)
    assert (
        "Softmax is closer to argmax than linear normalisation at 1 of the 2 (distribution, "
        "scale) points where linear's mean distance is at most 1, on positive logits only (on "
        "the others linear's outputs are not distributions)." in text
    )
    assert "Linear is as close or closer for positive at scale 10." in text
    assert "linear above 1" in text  # normal logits at the scale nearest 10
    # distance_vs_k quotes a mean above 1 the same way at either end of K
    assert [distance_text(v) for v in (0.123, 1.0, 7.0)] == ["0.12", "1", "above 1"]
    # below 1 it never reads 1: K = 10^4's uniform output is at 1 - 1/K
    assert [distance_text(v) for v in (0.997, 0.9999, 0.994)] == ["0.997", "0.9999", "0.99"]
    # and the distance pivot's description gives the same reason, from the same sentence
    assert tables.NOT_A_DISTANCE in tables.PIVOTS["distance_to_argmax"].description


def test_entropy_caption_says_on_how_many_vectors_a_mean_rests():
    # Normal logits, K = 10, float64 (20 vectors a cell): linear's entropy is defined on 3
    # vectors at scale 1 and 5 at scale 10 (the others have negative entries), softmax's
    # on all 20: the caption gives linear's counts, not softmax's.
    summary = hand_summary(("normalized_entropy",))
    where = {"metric": "normalized_entropy", "distribution": "normal", "k": 10}
    put(summary, 0.89, label="linear", **where)
    put(summary, 3, field="n", label="linear", scale=1.0, **where)
    put(summary, 5, field="n", label="linear", scale=10.0, **where)
    text = figures.caption("entropy_vs_scale", summary)
    assert "linear from 0.89 to 0.89 (on 3 of 20 and 5 of 20 vectors)" in text
    assert "softmax from 0 to 0 and" in text  # all 20: no count
    assert "A mean on fewer vectors than the cell holds says on how many" in text
    put(summary, 5, field="n", label="linear", scale=1.0, **where)
    assert "linear from 0.89 to 0.89 (on 5 of 20 vectors)" in (
        figures.caption("entropy_vs_scale", summary)
    )
    put(summary, 20, field="n", label="linear", **where)
    assert "says on how many" not in figures.caption("entropy_vs_scale", summary)


def test_heatmap_caption_names_the_worst_cell():
    summary = hand_summary()
    # Pooled over the 4 (distribution, K) cells at scale 10 in float16, n-weighted (200 at
    # K = 2, 20 at K = 10): (1*200 + 1*20 + 0.5*200 + 0*20) / 440 = 72.7%.
    for value, dist, k in [(1.0, "normal", 2), (1.0, "normal", 10), (0.5, "positive", 2)]:
        put(
            summary,
            value,
            metric="overflow",
            label="softmax(stable=False)",
            dtype="float16",
            scale=10.0,
            distribution=dist,
            k=k,
        )
    text = figures.caption("overflow_heatmap", summary)
    assert "highest is softmax(stable=False) in float16 at scale 10: 72.7%" in text
    assert "1 of 3 methods" in text
    assert "Not shown (rate 0 in every cell): linear." in text  # stable softmax stays listed


def test_heatmap_captions_say_which_arithmetic_and_what_underflow_is_measured_against():
    """float16's rows are its headline mode's, float32 arithmetic: the caption says so.
    The underflow rate is a lower bound where the wider reference underflows too, and
    float64's rests on the fewer vectors of its own reference (here 8 of 200 a cell)."""
    summary = hand_summary(("overflow", "underflow"))
    put(summary, 8, field="n", metric="underflow", dtype="float64")
    overflow = figures.caption("overflow_heatmap", summary)
    assert (
        "One panel per format. float16 is computed as frameworks compute it, in float32 "
        "arithmetic" in overflow
    )
    assert "lower bound" not in overflow
    underflow = figures.caption("underflow_heatmap", summary)
    assert "float64's on at most 8 vectors a cell, those its wider reference is" in underflow
    assert "the rate there is a lower bound" in underflow
    assert "over the vectors whose output is finite" in underflow
    native = summary.assign(compute="native")
    assert "as frameworks compute" not in figures.caption("underflow_heatmap", native)
    put(summary, 200, field="n", metric="underflow", dtype="float64", k=2)
    put(summary, 20, field="n", metric="underflow", dtype="float64", k=10)
    assert "at most" not in figures.caption("underflow_heatmap", summary)


def test_softmax_family_caption_has_the_overflow_threshold(small):
    text = figures.caption("softmax_family", small)
    # ln(float64 max) / ln(100), computed here from numpy's limits: 154.1.
    threshold = math.log(np.finfo(np.float64).max) / math.log(100)
    assert f"x > {threshold:.4g}" in text and "154.1" in text
    assert f"x > {math.log(np.finfo(np.float64).max):.4g}" in text  # base e: 709.8
    # the narrow panel is float16's headline mode, float32 arithmetic; native says nothing
    assert "float16 is computed as frameworks compute it, in float32 arithmetic" in text
    native = small[small["compute"] != "float32"].assign(compute="native")
    assert "frameworks" not in figures.caption("softmax_family", native)


def test_accuracy_caption_in_units_of_roundoff():
    summary = hand_summary()
    put(summary, 2.2e-16, field="median", metric="max_rel_error", label="softmax", dtype="float64")
    put(summary, 1.5e-3, field="median", metric="max_rel_error", label="softmax", dtype="float16")
    text = figures.caption("accuracy_by_dtype", summary)
    # u = eps/2: 2^-53 for float64 (2.2e-16 / 1.11e-16 = 1.98), 2^-11 for float16 (3.07).
    assert "float64 2.2e-16 (2 u)" in text and "float16 0.0015 (3.1 u)" in text


def test_accuracy_figure_gives_the_non_finite_share_beside_the_error():
    # Naive float16 softmax loses half its outputs in the two K = 2 cells at scale 10
    # (n = 200 each) of the 8 float16 cells (4 x 200 + 4 x 20 vectors): pooled, 200 of
    # 880 vectors, 22.7%. Its error is of the survivors: the caption says so beside it.
    summary = hand_summary(("max_rel_error", "nonfinite_output"))
    naive = "softmax(stable=False)"
    put(summary, 6e-4, field="median", metric="max_rel_error", label=naive, dtype="float16")
    put(summary, 1e-3, field="median", metric="max_rel_error", label="softmax", dtype="float16")
    put(summary, 0.5, metric="nonfinite_output", label=naive, dtype="float16", scale=10.0, k=2)
    data = accuracy_by_dtype.prepare(summary)
    assert data.nonfinite.loc[naive, "float16"] == pytest.approx(200 / 880)
    assert data.nonfinite.loc["softmax", "float16"] == 0.0
    text = figures.caption("accuracy_by_dtype", summary)
    # u = 2^-11: 6e-4 is 1.2 u, 1e-3 is 2 u
    assert "float16 6e-04 (1.2 u; 22.7% of outputs non-finite, left out)" in text
    assert "softmax: float64 0 (0 u) and float16 0.001 (2 u)." in text
    # drawn hollow: one marker without a face, the naive float16 one
    fig = accuracy_by_dtype.draw(data)
    hollow = [
        c for c in fig.axes[0].collections if len(c.get_offsets()) and not len(c.get_facecolors())
    ]
    assert [len(c.get_offsets()) for c in hollow] == [1]


def test_a_slice_figure_states_the_shares_of_its_own_cells():
    # distance_vs_scale draws float64 at K = 10 (2 distributions x 2 scales, 20 vectors a
    # cell): naive softmax loses half of one cell there, 10 of 80 vectors (12.5%); its
    # K = 2 cells (outside the slice, 0.9 of one) and float16's cast are not the figure's.
    summary = hand_summary(("tv_to_argmax", "nonfinite_output", "input_nonfinite"))
    naive = "softmax(stable=False)"
    where = {"distribution": "normal", "scale": 10.0, "dtype": "float64"}
    put(summary, 0.5, metric="nonfinite_output", label=naive, k=10, **where)
    put(summary, 0.9, metric="nonfinite_output", label=naive, k=2, **where)
    put(summary, 0.5, metric="input_nonfinite", dtype="float16", scale=10.0)
    note = figures.caption("distance_vs_scale", summary).split("\n\n")[-1]
    assert note == (
        "Non-finite outputs, also left out of the accuracy metrics: "
        "softmax(stable=False) 12.5% in float64."
    )
    # a figure of every cell (the heat maps, the accuracy figure) states the sweep's
    whole = figures.caption("accuracy_by_dtype", summary)
    assert "(the cast, not the method): 25% in float16." in whole  # its scale-10 half
    assert "softmax(stable=False) 21.6% in float64" in whole


def test_render_writes_the_caption_of_the_data_it_drew(small, tmp_path):
    # The figure job's caption file holds the title and the caption of the same data.
    svg, png = tmp_path / "gradient_vs_scale.svg", tmp_path / "gradient_vs_scale.png"
    figures.render("gradient_vs_scale", small, svg, png, caption_path(svg))
    written = read_caption(tmp_path / "gradient_vs_scale.caption.md")
    assert (
        written.title == figures.title("gradient_vs_scale") == "Gradient magnitude vs logit scale"
    )
    expected = [
        " ".join(p.split()) for p in figures.caption("gradient_vs_scale", small).split("\n\n")
    ]
    assert written.paragraphs == expected
    assert svg.read_bytes().lstrip().startswith(b"<?xml") and png.read_bytes().startswith(
        b"\x89PNG"
    )


def test_render_of_rows_already_headline_writes_the_same_bytes(small, tmp_path):
    """The figure job reads the headline rows (with their compute column) and tells render
    so: the same SVG, PNG and caption as render selecting them itself."""
    for name in ("underflow_heatmap", "softmax_family"):
        outputs = {}
        for told in (False, True):
            folder = tmp_path / str(told)
            folder.mkdir(exist_ok=True)
            svg, png = folder / f"{name}.svg", folder / f"{name}.png"
            rows = sweep.headline_rows(small) if told else small
            figures.render(name, rows, svg, png, caption_path(svg), headline=told)
            outputs[told] = [p.read_bytes() for p in (svg, png, caption_path(svg))]
        assert outputs[True] == outputs[False]
        assert b"as frameworks compute" in outputs[True][2]


def test_figure_module_parts(small):
    # prepare -> data, draw(data) -> Figure, caption(data) -> text, for every figure.
    for name, spec in figures.FIGURES.items():
        data = spec.prepare(sweep.headline_rows(small))
        # figures.caption adds the shares of vectors left out (tables.excluded_note).
        assert figures.caption(name, small).startswith(spec.caption(data)), name
        with matplotlib.rc_context({"svg.hashsalt": figures.SVG_HASHSALT}):
            fig = spec.draw(data)
        _render(fig)
        fig.clear()


def test_gradient_caption_spells_rates_with_the_shared_formatter():
    summary = hand_summary(metrics=("grad_norm", "grad_vanishes"))
    put(summary, 1.0, metric="grad_vanishes", label="softmax(stable=False)")
    put(summary, 0.99999, metric="grad_vanishes", label="softmax", scale=10.0)
    put(summary, 3.3e-5, metric="grad_norm", label="softmax", scale=1.0)
    text = figures.caption("gradient_vs_scale", summary)
    # softmax, normal logits, K = 10, float64: norm 3.3e-05 at scale 1 and 0 at 10; a share
    # of 0.99999 is not "100%" (that means every vector).
    assert "softmax: gradient norm 3.3e-05 at scale 1 and 0 at scale 10" in text
    assert "vanishing share 0% and 99.999%." in text


def test_gradient_caption_quotes_a_median_where_outputs_leave_the_simplex():
    """Linear on signed logits: finite outputs that are not distributions (invalid, not
    non-finite) divide by a sum crossing 0, so the caption quotes the median, not the mean;
    non-finite outputs alone (a naive form's overflow) do not make it do so."""
    metrics = ("grad_norm", "grad_vanishes", "invalid", "nonfinite_output")
    summary = hand_summary(metrics=metrics)
    for scale, mean, median in ((1.0, 4914.0, 67.0), (10.0, 491.4, 6.7)):
        put(summary, mean, metric="grad_norm", label="linear", scale=scale)
        put(summary, median, field="median", metric="grad_norm", label="linear", scale=scale)
    where = {"distribution": "normal", "k": 10, "dtype": "float64"}
    put(summary, 0.25, metric="invalid", label="linear", scale=10.0, **where)
    put(summary, 0.5, metric="invalid", label="linear", scale=1.0, **where)
    put(summary, 0.1, metric="nonfinite_output", label="linear", scale=1.0, **where)
    # the naive form: every invalid output is non-finite
    for metric in ("invalid", "nonfinite_output"):
        put(summary, 0.75, metric=metric, label="softmax(stable=False)", **where)
    text = figures.caption("gradient_vs_scale", summary)
    assert (
        "linear: median gradient norm 67 at scale 1 and 6.7 at scale 10 (the median, drawn "
        "as such: its outputs are not distributions on 40% of vectors" in text
    )
    assert (
        "mean over the measured vectors (at most 20 vectors a cell; the median for linear: below);"
        in text
    )
    assert "4,914" not in text
    data = gradient_vs_scale.prepare(summary)
    assert data.off_simplex == {"linear": 0.4}  # the largest over scales: 0.5 - 0.1
    # the figure draws what the caption quotes: linear's median, without an interval;
    # every other label's mean
    rows = data.drawn_norm()
    drawn = rows.set_index(["label", "x"])
    assert drawn.loc[("linear", 1.0), "mean"] == 67.0
    assert drawn.loc[("linear", 10.0), "mean"] == 6.7
    assert drawn.loc["linear", ["ci_low", "ci_high"]].isna().all(axis=None)
    others = data.norm["label"] != "linear"
    pd.testing.assert_frame_equal(rows[rows["label"] != "linear"], data.norm[others])
    assert data.norm.set_index(["label", "x"]).loc[("linear", 1.0), "mean"] == 4914.0
    # no finite output off the simplex: the mean, as for every other map
    put(summary, 0.0, metric="invalid", label="linear")
    text = figures.caption("gradient_vs_scale", summary)
    assert "linear: gradient norm 4,914 at scale 1 and 491 at scale 10;" in text
    assert "mean over the measured vectors (at most 20 vectors a cell); zeros" in text
    data = gradient_vs_scale.prepare(summary)
    assert data.drawn_norm() is data.norm


def test_captions_say_how_many_vectors_a_mean_rests_on_and_what_an_error_of_one_is():
    """distance_vs_k: the cell's vectors per K (runs of equal counts together);
    gradient_vs_scale: at most how many vectors a cell (the float64 gradient rows);
    accuracy_by_dtype: a median relative error of exactly 1 is an entry flushed to 0."""
    summary = hand_summary(("tv_to_argmax", "grad_norm", "grad_vanishes", "max_rel_error"))
    assert (
        "Each mean rests on the cell's vectors: 200 a cell for K = 2 and 20 for K = 10."
        in figures.caption("distance_vs_k", summary)
    )
    put(summary, 200, field="n", metric="tv_to_argmax", k=10)
    assert "200 a cell for K = 2 to 10." in figures.caption("distance_vs_k", summary)
    assert "mean over the measured vectors (at most 20 vectors a cell" in (  # K = 10
        figures.caption("gradient_vs_scale", summary)
    )
    assert "exactly 1" not in figures.caption("accuracy_by_dtype", summary)
    put(summary, 1.0, field="median", metric="max_rel_error", label="softmax", dtype="float16")
    assert "A relative error of exactly 1 is an output entry flushed to 0" in (
        figures.caption("accuracy_by_dtype", summary)
    )
