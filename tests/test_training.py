"""The training study (C15): data, losses, optimisers, metrics, the study's tables and the
verdict. Oracles: hand-computed optimiser steps, finite differences, the sparsemax loss's
closed form (Martins & Astudillo 2016), the normal CDF for a two-class mixture, and
scikit-learn's multinomial logistic regression on the same digits split."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from builtin_maps import METHODS
from scipy.stats import norm
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from training_results import comparison as _comparison
from training_results import with_check

from softmaxlab import normalize
from softmaxlab.captions import read_caption
from softmaxlab.claims import CONDITIONAL, FAILS, HOLDS
from softmaxlab.config import ConfigError, method_specs, validate
from softmaxlab.formatting import percent
from softmaxlab.sweep import write_csv
from softmaxlab.training import data as tdata
from softmaxlab.training import figure, job, losses, optim, publish, study
from softmaxlab.training import verdict as tverdict
from softmaxlab.training.evaluation import accuracy, ece, predictions

SEED = 20261124


def _specs(*entries):
    return method_specs({"methods": [dict(entry) for entry in entries]})


# --- optimisers -------------------------------------------------------------------------------


def test_gradient_descent_step_by_hand():
    w = np.array([[1.0, -2.0]], dtype=np.float32)
    opt = optim.make_optimizer("gd", [0.1])
    opt.step([w], [np.array([[0.5, -1.0]])], np.array([True]))
    np.testing.assert_allclose(w, [[0.95, -1.9]], rtol=1e-7)
    assert w.dtype == np.float32


def test_adam_two_steps_by_hand():
    """Kingma & Ba's Algorithm 1 worked by hand for two steps (lr 0.1, default betas):
    step 1 moves each weight by lr * sign(g); step 2 with g = (0.25, 1.0):
    m = (0.07, 0.01), v = (0.00031225, 0.001999), m_hat = m / 0.19, v_hat = v / 0.001999,
    so the steps are 0.1 * 0.368421 / 0.395225 = 0.0932184 and 0.1 * 0.0526316 / 1."""
    w = np.array([[1.0, -2.0]], dtype=np.float32)
    opt = optim.make_optimizer("adam", [0.1])
    opt.step([w], [np.array([[0.5, -1.0]])], np.array([True]))
    np.testing.assert_allclose(w, [[0.9, -1.9]], rtol=1e-6)
    opt.step([w], [np.array([[0.25, 1.0]])], np.array([True]))
    np.testing.assert_allclose(w, [[0.9 - 0.0932184, -1.9 - 0.00526316]], rtol=1e-5)


def test_frozen_runs_do_not_move():
    w = np.ones((2, 3), dtype=np.float32)
    for name in optim.OPTIMIZERS:
        opt = optim.make_optimizer(name, [0.5, 0.5])
        before = w.copy()
        opt.step([w], [np.full((2, 3), np.nan)], np.array([False, True]))
        np.testing.assert_array_equal(w[0], before[0])
        assert np.isnan(w[1]).all()
        w = np.ones((2, 3), dtype=np.float32)


def test_unknown_optimizer_names_choices():
    with pytest.raises(ValueError, match="valid optimizers: gd, adam"):
        optim.make_optimizer("sgd", [0.1])


# --- losses ---------------------------------------------------------------------------------


def test_nll_gradient_via_vjp_is_p_minus_y_for_softmax():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 5)) * 3
    y = rng.integers(5, size=7)
    p = normalize(x, "softmax")
    grad = losses.nll_grad(x, p, y, "softmax", {"temperature": 1.0, "base": math.e, "stable": True})
    np.testing.assert_allclose(grad, p - np.eye(5)[y], atol=1e-12)


@pytest.mark.parametrize(
    "method, params",
    [("stablemax", {}), ("softplus", {}), ("taylor", {"order": 2}), ("entmax15", {})],
)
def test_nll_gradient_matches_finite_differences(method, params):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 6)) * 0.3  # entmax15 keeps full support at this scale
    y = rng.integers(6, size=4)
    p = normalize(x, method, **params)
    grad = losses.nll_grad(x, p, y, method, params)
    h = 1e-6
    for j in range(6):
        e = np.zeros(6)
        e[j] = h
        up = losses.nll(normalize(x + e, method, **params), y)
        down = losses.nll(normalize(x - e, method, **params), y)
        np.testing.assert_allclose(grad[:, j], (up - down) / (2 * h), rtol=1e-5, atol=1e-8)


def test_nll_is_inf_or_nan_where_p_y_is_not_positive():
    p = np.array([[0.0, 1.0], [-0.5, 1.5], [np.nan, np.nan], [0.25, 0.75]])
    values = losses.nll(p, np.array([0, 0, 0, 1]))
    assert values[0] == np.inf
    assert np.isnan(values[1]) and np.isnan(values[2])
    assert values[3] == pytest.approx(-math.log(0.75))


@pytest.mark.parametrize(
    "method, params", [("sparsemax", {}), ("entmax15", {}), ("entmax", {"alpha": 1.25})]
)
def test_fenchel_young_gradient_is_p_minus_y_by_finite_differences(method, params):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 6))
    y = rng.integers(6, size=5)
    alpha = losses.tsallis_alpha(method, params)

    def loss(z):
        return losses.fenchel_young(z, normalize(z, method, **params), y, alpha)

    grad = losses.fenchel_young_grad(normalize(x, method, **params), y)
    h = 1e-6
    for j in range(6):
        e = np.zeros(6)
        e[j] = h
        numeric = (loss(x + e) - loss(x - e)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, atol=1e-6)
    assert np.all(loss(x) >= -1e-12)


def test_sparsemax_loss_matches_martins_astudillo_closed_form():
    """L(z; k) = -z_k + 1/2 sum_{j in S} (z_j^2 - tau^2) + 1/2 (Martins & Astudillo 2016,
    eq. 17), with tau = z_j - p_j on the support S."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 5)) * 2
    y = rng.integers(5, size=6)
    p = normalize(x, "sparsemax")
    for row in range(6):
        support = p[row] > 0
        tau = np.mean(x[row, support] - p[row, support])
        expected = -x[row, y[row]] + 0.5 * np.sum(x[row, support] ** 2 - tau**2) + 0.5
        got = losses.fenchel_young(x[row], p[row], y[row], 2.0)
        assert got == pytest.approx(expected, abs=1e-12)


def test_fenchel_young_is_zero_at_the_target():
    x = np.array([[10.0, 0.0, 0.0]])
    p = normalize(x, "sparsemax")
    assert losses.fenchel_young(x, p, np.array([0]), 2.0)[0] == pytest.approx(0.0, abs=1e-12)


def test_fenchel_young_only_for_sparse_maps():
    with pytest.raises(ValueError, match="methods with one: sparsemax, entmax15, entmax"):
        losses.tsallis_alpha("softmax", {})
    with pytest.raises(ValueError, match="valid losses: nll, fenchel_young"):
        losses.loss_and_grad("hinge", np.zeros((1, 2)), np.zeros((1, 2)), [0], "softmax", {})


# --- evaluation -----------------------------------------------------------------------------


def test_ece_on_constructed_predictions():
    """Confidences 0.95 (right), 0.95 (wrong), 0.65, 0.65 (both right): bins (14/15, 1] and
    (9/15, 10/15] hold two rows each; ECE = 1/2 |0.5 - 0.95| + 1/2 |1 - 0.65| = 0.4."""
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.35, 0.65], [0.65, 0.35]])
    y = np.array([0, 1, 1, 0])
    assert ece(p, y) == pytest.approx(0.4, abs=1e-12)
    assert accuracy(p, y) == pytest.approx(0.75)


def test_ece_of_stacked_runs_and_non_finite_rows():
    calibrated = np.array([[0.5, 0.5], [0.5, 0.5]])  # conf 0.5, accuracy 1/2 (first wins ties)
    broken = np.array([[np.nan, 0.5], [0.5, 0.5]])
    values = ece(np.stack([calibrated, broken]), np.array([0, 1]))
    assert values[0] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(values[1])
    np.testing.assert_array_equal(predictions(broken), [-1, 0])


# --- data -----------------------------------------------------------------------------------


def test_digits_split_is_stratified_standardised_and_seeded():
    a = tdata.digits(SEED)
    b = tdata.digits(SEED)
    # 1,797 images: 450 test (25%), of the other 1,347 270 validation (20%) and 1,077 train
    assert a.x_train.shape == (1077, 64) and a.x_validation.shape == (270, 64)
    assert a.x_test.shape == (450, 64)
    assert a.x_train.dtype == a.x_validation.dtype == np.float32
    np.testing.assert_array_equal(a.x_train, b.x_train)
    counts = {
        part: np.bincount(getattr(a, f"y_{part}"), minlength=10)
        for part in ("train", "validation", "test")
    }
    total = sum(counts.values())
    np.testing.assert_array_equal(total, np.bincount(load_digits().target))
    # stratified: within one image per class of each share
    np.testing.assert_allclose(counts["test"] / total, 0.25, atol=1 / 170)
    rest = counts["train"] + counts["validation"]
    np.testing.assert_allclose(counts["validation"] / rest, 0.2, atol=1 / 130)
    varying = a.x_train.std(axis=0) > 0
    np.testing.assert_allclose(a.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(a.x_train.std(axis=0)[varying], 1, atol=1e-4)
    assert not np.array_equal(tdata.digits(SEED + 1).y_test, a.y_test)


def test_two_class_mixture_bayes_accuracy_is_the_normal_cdf():
    """Two unit-variance classes at distance s ||u1 - u2||: Bayes accuracy Phi(distance / 2)."""
    spec = tdata.Mixture(n_classes=2, n_features=3, separation=1.5)
    means = tdata.mixture_means(SEED, spec)
    exact = norm.cdf(np.linalg.norm(means[0] - means[1]) / 2)
    assert tdata.bayes_accuracy(SEED, spec) == pytest.approx(exact, abs=0.005)


def test_separation_knob_raises_bayes_accuracy_monotonically():
    values = [
        tdata.bayes_accuracy(SEED, tdata.Mixture(separation=s), n=50_000)
        for s in (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
    ]
    assert values[0] == pytest.approx(0.2, abs=0.01)  # no separation: chance, K = 5
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] > 0.99


def test_mixture_is_seeded_and_balanced():
    a = tdata.mixture(SEED)
    np.testing.assert_array_equal(a.x_test, tdata.mixture(SEED).x_test)
    assert np.bincount(a.y_train).tolist() == [tdata.Mixture().n_train // 5] * 5
    with pytest.raises(ValueError, match="mixture.separation must be a number >= 0"):
        tdata.Mixture(separation=-1.0)
    with pytest.raises(ValueError, match="valid datasets: digits, mixture"):
        tdata.load("iris", SEED)


# --- the study ------------------------------------------------------------------------------

# widen 0: the grid alone, so that the tests can count its runs (the widening has its own)
SMALL = study.StudyConfig(
    steps=6,
    seeds=2,
    learning_rates={"gd": (0.1, 1.0), "adam": (0.01, 0.1)},
    datasets=("mixture",),
    mixture=tdata.Mixture(n_train=100, n_test=100),
    widen=0,
)


@pytest.fixture(scope="module")
def small_result():
    specs = _specs(
        {"method": "argmax"},
        {"method": "linear"},
        {"method": "softmax"},
        {"method": "sparsemax"},
        {"method": "gumbel_softmax"},
    )
    return study.run_study(specs, SMALL, SEED)


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode()


def test_table_columns_rows_and_plain_read_csv(small_result):
    table = small_result.table
    assert tuple(table.columns) == study.COLUMNS
    # 4 labels-with-loss pairs + sparsemax's Fenchel-Young, 2 formats, 2 x 2 rates, 2 seeds
    assert len(table) == 6 * 2 * 4 * 2
    back = pd.read_csv(io.BytesIO(_csv(table)))
    assert back["diverged"].dtype == bool
    assert back["label"].notna().all() and back["loss"].notna().all()
    assert set(back["loss"]) == {"nll", "fenchel_young"}
    pd.testing.assert_series_equal(
        back["steps_to_90pct"], table["steps_to_90pct"].astype(float), check_names=False
    )


def test_the_study_widens_each_grid_where_its_choice_is_at_an_edge():
    """Every (group, optimiser) of a real study: the rates trained are its grid and then
    decades beyond it, one side at a time; each widening step was taken because the choice
    among the rates trained before it was at their edge, and the widening stopped because
    the choice came inside, or after ``widen`` steps, or because no run stepped."""
    cfg = dataclasses.replace(SMALL, widen=2, learning_rates={"gd": (1.0,), "adam": (0.1,)})
    specs = _specs({"method": "softmax"}, {"method": "linear"}, {"method": "spherical"})
    result = study.run_study(specs, cfg, SEED)
    table = result.table
    keys = ["dataset", "label", "loss", "dtype", "optimizer"]
    widened = 0
    for key, rows in table.groupby(keys, sort=False):
        grid = cfg.learning_rates[key[-1]]
        order = list(dict.fromkeys(rows["learning_rate"]))  # in the order trained
        assert order[: len(grid)] == list(grid) and len(order) <= len(grid) + cfg.widen
        for step, rate in enumerate(order[len(grid) :]):
            before = rows[rows["learning_rate"].isin(order[: len(grid) + step])]
            chosen = study.best_runs(before)["learning_rate"].iloc[0]
            low, high = min(before["learning_rate"]), max(before["learning_rate"])
            assert rate == pytest.approx(low / 10 if chosen == low else high * 10, rel=1e-15)
            assert chosen in (low, high) and (before["steps"] > 0).any()
        if len(order) < len(grid) + cfg.widen:  # stopped: inside, or nothing stepped
            edges = study.chosen_at_edge(rows)
            assert not edges["at_edge"].iloc[0]
        widened += len(order) > len(grid)
    assert widened  # a one-rate grid is its own edge: every group that steps is widened
    assert (table[table["label"] == "linear"]["steps"] == 0).all()  # not widened
    assert set(table[table["label"] == "linear"]["learning_rate"]) == {1.0, 0.1}
    # every run is in the curves and in the test points
    assert len(result.test_correct) == len(table)
    runs = result.curves[["label", "loss", "dtype", "optimizer", "learning_rate", "seed"]]
    assert len(runs.drop_duplicates()) == len(table)
    # the job counts the groups and those widened
    edges = study.chosen_at_edge(table)
    assert job._edges(table, cfg.learning_rates) == (
        table.groupby(keys).ngroups,
        widened,
        int(edges["at_edge"].sum()),
    )


def test_test_correct_is_each_runs_test_accuracy(small_result):
    table = small_result.table
    assert len(small_result.test_correct) == len(table)
    for _, row in table.iterrows():
        correct = small_result.test_correct[tuple(row[k] for k in study.RUN_KEYS)]
        assert correct.shape == (100,) and correct.mean() == row["test_accuracy"]


def test_argmax_and_linear_are_reported_as_diverged_at_step_0(small_result):
    table = small_result.table
    for label in ("argmax", "linear"):
        rows = table[table["label"] == label]
        assert rows["diverged"].all()
        assert (rows["steps"] == 0).all()
        assert not np.isfinite(rows["train_nll"]).any()
    softmax = table[table["label"] == "softmax"]
    assert (softmax["steps"] == SMALL.steps).all()
    assert np.isfinite(softmax["train_nll"]).all()


def test_gumbel_softmax_predicts_without_noise(small_result):
    """Its noise is training's: at step 0 (the initial model, the same weights) its
    test columns are softmax's to the bit, and its predicting map is
    softmax whatever tau; every other map predicts with itself."""
    curves = small_result.curves
    keys = ["dataset", "dtype", "optimizer", "learning_rate", "seed"]
    start = curves[curves["step"] == 0].set_index(keys)
    gumbel = start[start["label"] == "gumbel_softmax"][["test_accuracy", "test_nll"]]
    softmax = start[start["label"] == "softmax"][["test_accuracy", "test_nll"]]
    assert len(gumbel) == len(softmax) > 0
    pd.testing.assert_frame_equal(gumbel.sort_index(), softmax.sort_index())
    noisy = study.Group("mixture", "gumbel_softmax", {"tau": 0.5, "seed": 3}, "g", "nll", "float32")
    assert study.predicting_map(noisy) == ("softmax", {})
    sparse = study.Group("mixture", "entmax", {"alpha": 1.5}, "e", "nll", "float32")
    assert study.predicting_map(sparse) == ("entmax", {"alpha": 1.5})


def test_curves_stop_at_the_divergence_step(small_result):
    curves = small_result.curves
    assert tuple(curves.columns) == study.CURVE_COLUMNS
    linear = curves[curves["label"] == "linear"]
    assert (linear["step"] == 0).all() and linear["train_loss"].isna().all()
    softmax = curves[(curves["label"] == "softmax") & (curves["seed"] == 0)]
    assert softmax.groupby(["dtype", "optimizer", "learning_rate"])["step"].max().eq(6).all()


def test_steps_to_90pct_is_the_first_step_reaching_it(small_result):
    table, curves = small_result.table, small_result.curves
    reached = table.dropna(subset=["steps_to_90pct"])
    assert not reached.empty
    keys = ["label", "loss", "dtype", "optimizer", "learning_rate", "seed"]
    for _, row in reached.head(5).iterrows():
        mask = np.logical_and.reduce([curves[k] == row[k] for k in keys])
        run = curves[mask].sort_values("step")
        first = run[run["test_accuracy"] >= study.ACCURACY_TARGET]["step"]
        # the curves keep every step of a 6-step run, so the first logged one is the first
        assert int(first.iloc[0]) == int(row["steps_to_90pct"])


def test_same_seed_same_bytes(small_result):
    specs = _specs({"method": "softmax"}, {"method": "sparsemax"}, {"method": "gumbel_softmax"})
    again = study.run_study(specs, SMALL, SEED)
    first = small_result.table[small_result.table["label"].isin(again.table["label"])]
    assert _csv(first.reset_index(drop=True)) == _csv(again.table)
    assert _csv(study.run_study(specs, SMALL, SEED).curves) == _csv(again.curves)


def test_study_config_errors_name_key_and_choices():
    with pytest.raises(ValueError, match=r"training.dtypes: 'float16' is not allowed; valid"):
        study.StudyConfig(dtypes=("float16",))
    with pytest.raises(ValueError, match="training.steps must be an integer >= 1"):
        study.StudyConfig(steps=0)
    with pytest.raises(ValueError, match="training: unknown key 'epochs'; allowed keys"):
        study.StudyConfig.from_mapping({"epochs": 3})
    cfg = study.StudyConfig.from_mapping({"learning_rates": {"gd": [0.5]}, "steps": 3})
    assert cfg.learning_rates["gd"] == (0.5,) and cfg.steps == 3


def test_softmax_on_digits_matches_logistic_regression():
    """The oracle: softmax's NLL run on digits (the setting and learning rate chosen on the
    validation part) reaches the test accuracy of scikit-learn's multinomial logistic
    regression (lbfgs, C chosen on the validation part, written out here) on the same
    parts and standardisation, within two binomial standard errors."""
    cfg = study.StudyConfig(datasets=("digits",), dtypes=("float32",))
    result = study.run_study(_specs({"method": "softmax"}), cfg, SEED)
    best = study.best_runs(result.table)
    chosen = best.loc[best["validation_accuracy"].idxmax(), "test_accuracy"]
    digits = tdata.digits(SEED)
    models = [
        LogisticRegression(C=c, max_iter=5000).fit(digits.x_train, digits.y_train)
        for c in (0.01, 0.1, 1.0, 10.0, 100.0)
    ]
    scores = [m.score(digits.x_validation, digits.y_validation) for m in models]
    reference = models[int(np.argmax(scores))].score(digits.x_test, digits.y_test)
    assert result.logistic_regression["digits"] == reference
    tolerance = 2 * math.sqrt(reference * (1 - reference) / len(digits.y_test))
    assert abs(chosen - reference) <= tolerance, (chosen, reference, tolerance)
    logits = result.digits_softmax_test_logits
    assert logits.shape == (450, 10) and logits.dtype == np.float64
    assert accuracy(logits, digits.y_test) == pytest.approx(chosen, abs=tolerance)


def _run_rows(rates, validation, validation_nll, test, setting=("float32", "adam")):
    """Study rows of softmax on digits, two seeds per learning rate with these means."""
    rows = []
    for rate, val, vnll, tst in zip(rates, validation, validation_nll, test, strict=True):
        for seed, offset in ((0, -0.01), (1, 0.01)):
            rows.append(
                {
                    "dataset": "digits",
                    "method": "softmax",
                    "label": "softmax",
                    "loss": "nll",
                    "dtype": setting[0],
                    "optimizer": setting[1],
                    "init_scale": 0.01,
                    "init_centre": 0.0,
                    "learning_rate": rate,
                    "seed": seed,
                    "steps": 25,
                    "train_nll": 0.1,
                    "validation_nll": vnll,
                    "validation_accuracy": val + offset,
                    "test_nll": 0.2,
                    "test_accuracy": tst + offset,
                    "ece": 0.01,
                    "diverged": False,
                    "steps_to_90pct": 3,
                }
            )
    return rows


def test_best_runs_chooses_on_the_validation_part_not_the_test_part():
    # rate 1.0 has the best test accuracy, rate 0.1 the best validation accuracy
    table = pd.DataFrame(
        _run_rows([0.01, 0.1, 1.0], [0.90, 0.95, 0.93], [0.3] * 3, [0.9, 0.91, 0.99])
    )
    best = study.best_runs(table)
    assert len(best) == 1 and best["learning_rate"].iloc[0] == 0.1
    assert best["test_accuracy"].iloc[0] == pytest.approx(0.91)
    assert best["validation_accuracy"].iloc[0] == pytest.approx(0.95)
    # a tie on validation accuracy goes to the lower validation NLL (inf counts as worst)
    tied = pd.DataFrame(_run_rows([0.01, 0.1], [0.95, 0.95], [np.inf, 0.4], [0.99, 0.9]))
    assert study.best_runs(tied)["learning_rate"].iloc[0] == 0.1
    # C15's reference accuracy: the test accuracy in the setting with the best validation
    rows = _run_rows([0.1], [0.97], [0.3], [0.90]) + _run_rows(
        [0.1], [0.95], [0.3], [0.99], setting=("bfloat16", "adam")
    )
    table = pd.concat([pd.DataFrame(rows), _linear_rows()], ignore_index=True)
    result = tverdict.measure(table, _test_correct(table))
    assert result.reference_digits_accuracy == pytest.approx(0.90)
    # settings tied on validation accuracy: the lower validation NLL decides, not the order
    rows = _run_rows([0.1], [0.95], [0.3], [0.90]) + _run_rows(
        [0.1], [0.95], [0.2], [0.99], setting=("bfloat16", "adam")
    )
    table = pd.concat([pd.DataFrame(rows), _linear_rows()], ignore_index=True)
    result = tverdict.measure(table, _test_correct(table))
    assert result.reference_digits_accuracy == pytest.approx(0.99)


def test_best_runs_passes_over_a_rate_whose_runs_blow_up():
    """A rate with a diverged seed is chosen only where every rate has one: the run frozen
    before its blow-up may score well on validation, but it is not a rate one keeps."""
    rows = _run_rows([0.01, 0.1, 1.0], [0.90, 0.96, 0.95], [0.3] * 3, [0.91, 0.97, 0.94])
    for row in rows:
        row["diverged"] = row["learning_rate"] == 0.1 and row["seed"] == 1
    best = study.best_runs(pd.DataFrame(rows)).iloc[0]
    assert best["learning_rate"] == 1.0 and best["diverged"] == 0.0
    assert best["diverged_share"] == pytest.approx(1 / 6)
    # every rate has a diverged seed: the best validation accuracy among them all
    for row in rows:
        row["diverged"] = row["seed"] == 1
    best = study.best_runs(pd.DataFrame(rows)).iloc[0]
    assert best["learning_rate"] == 0.1 and best["diverged"] == 0.5


def _test_correct(table: pd.DataFrame, points: int = 100) -> dict:
    """StudyResult.test_correct for a made-up table: each run right on its first
    test_accuracy x ``points`` test points."""
    return {
        tuple(row[k] for k in study.RUN_KEYS): np.arange(points)
        < round(row["test_accuracy"] * points)
        for _, row in table.iterrows()
    }


def _linear_rows() -> pd.DataFrame:
    """One alternative for measure (which needs one): linear, as _run_rows's softmax."""
    frame = pd.DataFrame(_run_rows([0.1], [0.5], [1.0], [0.5]))
    return frame.assign(method="linear", label="linear")


# --- the verdict ----------------------------------------------------------------------------


def test_verdict_reaches_each_outcome():
    short = _comparison("linear", 0.1, trains=False)
    behind = _comparison("spherical", 0.80)
    level = _comparison("taylor", 0.94)
    assert tverdict.verdict(tverdict.TrainingResult((short, behind))) == HOLDS
    assert tverdict.verdict(tverdict.TrainingResult((short, level))) == CONDITIONAL
    assert tverdict.verdict(tverdict.TrainingResult((level,))) == FAILS
    with pytest.raises(ValueError, match="needs at least one alternative"):
        tverdict.verdict(tverdict.TrainingResult(()))


def test_verdict_test_edges():
    # 5 points where only the reference is right: the exact p is 2^-5 = 0.031 <= 0.05; with
    # 4 it is 2^-4 = 0.0625: not told apart (a 4-point gap at n = 100)
    assert _comparison("a", 0.90).p_short == pytest.approx(2.0**-5, rel=1e-12)
    assert _comparison("a", 0.90).short and not _comparison("a", 0.91).short
    assert _comparison("a", 1.0).ahead and not _comparison("a", 0.99).ahead
    at_alpha = replace(_comparison("a", 0.91), p_short_holm=tverdict.ALPHA)
    assert at_alpha.short  # the adjusted p at the level rejects
    assert not replace(at_alpha, p_short_holm=np.nextafter(tverdict.ALPHA, 1)).short
    # whether a map trains is reported, not judged: the accuracy its frozen model reached is
    not_training = replace(_comparison("a", 0.94), trains=False)
    assert not not_training.short and replace(_comparison("a", 0.5), trains=False).short
    untrained_reference = replace(_comparison("a", 0.5), reference_trains=False)
    assert untrained_reference.short and not untrained_reference.ahead
    diverging = replace(untrained_reference, trains=False)
    assert "-45 points, every run diverges" == tverdict._gap(diverging)
    assert "-45 points, takes no step" == tverdict._gap(replace(diverging, never_steps=True))


def _family_table(gaps: dict) -> tuple[pd.DataFrame, dict]:
    """Digits rows of softmax and linear in four settings (one rate, two seeds) and their
    test points: in each setting softmax is right on 90 of 100 points, linear on 90 - gap."""
    settings = [(d, o) for d in ("float32", "bfloat16") for o in ("gd", "adam")]
    rows, correct = [], {}
    for setting, gap in zip(settings, gaps["linear"], strict=True):
        for label, right in (("softmax", 90), ("linear", 90 - gap)):
            for seed in (0, 1):
                row = {
                    **_run_rows([0.1], [0.9], [0.3], [right / 100], setting=setting)[seed],
                    "method": label,
                    "label": label,
                    "test_accuracy": right / 100,
                }
                rows.append(row)
                correct[tuple(row[k] for k in study.RUN_KEYS)] = np.arange(100) < right
    return pd.DataFrame(rows), correct


def test_measure_pairs_the_test_points_and_adjusts_over_the_settings():
    # 7 points worse in one setting, for both seeds (d = 2 each): alone p = 2^-7 (the seven
    # points' signs decide), adjusted by Holm over the 4 settings: 4 x 2^-7 <= 0.05
    table, correct = _family_table({"linear": [7, 0, 0, 0]})
    result = tverdict.measure(table, correct)
    first = result.comparisons[0]
    assert first.differences == (0, 0, 93, 0, 7)
    assert first.p_short == pytest.approx(2.0**-7, rel=1e-12)
    assert first.p_short_holm == pytest.approx(4 * 2.0**-7, rel=1e-12)
    assert first.short and [c.short for c in result.comparisons[1:]] == [False] * 3
    # the accuracy gap is the differences' mean over seeds and points
    for c in result.comparisons:
        mean = sum((j - 2) * k for j, k in enumerate(c.differences)) / (2 * 100)
        assert c.reference_accuracy - c.accuracy == pytest.approx(mean, abs=1e-15)
    # 6 points: 2^-6 = 0.016 alone, but 4 x 2^-6 = 0.0625 over the family: not told apart
    table, correct = _family_table({"linear": [6, 0, 0, 0]})
    first = tverdict.measure(table, correct).comparisons[0]
    assert first.p_short < tverdict.ALPHA < first.p_short_holm and not first.short


def _started(table: pd.DataFrame, correct: dict, label: str, centre: float, gaps, best: bool):
    """``label``'s rows of a _family_table moved to the start (0.01, ``centre``), their
    validation accuracy raised where ``best`` (the validation part prefers this start), and
    its test points for ``gaps`` (softmax right on 90 of 100, the label on 90 - gap)."""
    rows = table[table["label"] == label].assign(init_centre=centre)
    rows = rows.assign(
        validation_accuracy=rows["validation_accuracy"] + (0.05 if best else 0.0),
        test_accuracy=(90 - np.repeat(gaps, 2)) / 100,
    )
    out = {}
    for (_, row), gap in zip(rows.iterrows(), np.repeat(gaps, 2), strict=True):
        out[tuple(row[k] for k in study.RUN_KEYS)] = np.arange(100) < 90 - gap
    return rows, out


@pytest.mark.parametrize(
    ("chosen_gaps", "other_gaps", "short"),
    [
        # short from the start the validation part chose, not from the other: not counted
        ([9, 0, 0, 0], [0, 0, 0, 0], [False] * 4),
        # short from both starts: counted, at the largest of the two p-values
        ([9, 0, 0, 0], [8, 0, 0, 0], [True, False, False, False]),
        # short only from the start not chosen: not counted either
        ([0, 0, 0, 0], [9, 9, 9, 9], [False] * 4),
    ],
)
def test_the_check_counts_a_shortfall_only_from_every_start(chosen_gaps, other_gaps, short):
    """Oracle: the exact sign-flip p of a gap of g points on 100 (both seeds worse on the
    same g points: p = 2^-g, Holm over 4 settings: 4 x 2^-g at most). The check's
    comparison quotes the start the validation part chose; its p is the larger of the two
    starts' (an intersection-union test)."""
    table, correct = _family_table({"linear": [0, 0, 0, 0]})
    chosen, chosen_correct = _started(table, correct, "linear", 1.0, chosen_gaps, best=True)
    other, other_correct = _started(table, correct, "linear", 0.0, other_gaps, best=False)
    softmax = table[table["label"] == "softmax"]
    both = pd.concat([softmax, chosen, other], ignore_index=True)
    correct = {**correct, **chosen_correct, **other_correct}
    result = tverdict.measure_every_start(both, correct)
    assert [c.short for c in result.comparisons] == short
    assert [c.init_centre for c in result.comparisons] == [1.0] * 4  # the chosen start
    assert [c.accuracy for c in result.comparisons] == [(90 - g) / 100 for g in chosen_gaps]
    least = [min(a, b) for a, b in zip(chosen_gaps, other_gaps, strict=True)]
    assert [c.p_short_holm for c in result.comparisons] == pytest.approx(
        [min(1.0, 4 * 2.0**-g) for g in least], rel=1e-12
    )
    # the raw p too, which jointly's Holm over every comparison adjusts
    assert [c.p_short for c in result.comparisons] == pytest.approx(
        [2.0**-g for g in least], rel=1e-12
    )
    assert [c.short for c in tverdict.jointly(result).comparisons] == short
    # measure alone judges the chosen start's runs
    alone = tverdict.measure(both, correct)
    assert [c.short for c in alone.comparisons] == [4 * 2.0**-g <= 0.05 for g in chosen_gaps]


def test_the_check_grid_adds_rates_a_decade_apart_below_each_grid():
    cfg = study.StudyConfig()
    grid = cfg.checking()
    assert grid.steps == cfg.check_steps == 100
    assert grid.learning_rates == {"gd": (0.01, 0.1, 1.0, 10.0), "adam": (0.001, 0.01, 0.1, 1.0)}
    two = dataclasses.replace(cfg, learning_rates={"gd": (0.5, 0.2), "adam": (1.0,)})
    two = dataclasses.replace(two, check_rates_below=2).checking()
    assert two.learning_rates["gd"] == pytest.approx((0.002, 0.02, 0.2, 0.5), rel=1e-15)
    assert two.learning_rates["adam"] == pytest.approx((0.01, 0.1, 1.0), rel=1e-15)
    none = dataclasses.replace(cfg, check_rates_below=0).checking()
    assert none.learning_rates == {k: tuple(v) for k, v in cfg.learning_rates.items()}
    with pytest.raises(ValueError, match="check_steps is 0: there is no check"):
        dataclasses.replace(cfg, check_steps=0).checking()
    for bad in (-1, 1.5, "1"):
        with pytest.raises(ValueError, match="training.check_rates_below must be an integer"):
            study.StudyConfig(check_rates_below=bad)
    with pytest.raises(ConfigError, match="check_rates_below"):
        validate({"training": {"check_rates_below": -1}})


def test_the_check_grid_adds_initial_scales_and_the_study_has_one():
    cfg = study.StudyConfig()
    assert cfg.init_scales() == (0.01,)
    assert cfg.checking().init_scales() == (0.01, 0.0001)
    # the study's own scale is not trained twice; none more: the study's alone
    same = dataclasses.replace(cfg, check_init_scales=(0.01, 0.001)).checking()
    assert same.init_scales() == (0.01, 0.001)
    assert dataclasses.replace(cfg, check_init_scales=()).checking().init_scales() == (0.01,)
    for bad in ((0.0,), (-1e-3,), (math.inf,), (True,), ("1e-4",)):
        with pytest.raises(ValueError, match="training.check_init_scales must be numbers > 0"):
            study.StudyConfig(check_init_scales=bad)
    with pytest.raises(ValueError, match="training.init_scale must be a number > 0"):
        study.StudyConfig(init_scale=0.0)
    with pytest.raises(ConfigError, match="check_init_scales"):
        validate({"training": {"check_init_scales": [0]}})
    with pytest.raises(ValueError, match="unknown key 'grid_init_scales'"):
        study.StudyConfig.from_mapping({"grid_init_scales": [0.1]})
    assert study.StudyConfig.from_mapping({"check_init_scales": [1e-3]}).check_init_scales == (
        1e-3,
    )


def test_the_check_grid_adds_initial_biases_and_the_study_has_none():
    cfg = study.StudyConfig()
    assert cfg.init_centres() == (0.0,)
    assert cfg.checking().init_centres() == (0.0, 1.0)
    # 0 is not trained twice; none more: 0 alone
    assert dataclasses.replace(cfg, check_init_centres=(0, 5)).checking().init_centres() == (
        0.0,
        5.0,
    )
    assert dataclasses.replace(cfg, check_init_centres=()).checking().init_centres() == (0.0,)
    for bad in ((math.inf,), (math.nan,), (True,), ("1",)):
        with pytest.raises(ValueError, match="training.check_init_centres must be finite"):
            study.StudyConfig(check_init_centres=bad)
    with pytest.raises(ConfigError, match="check_init_centres"):
        validate({"training": {"check_init_centres": ["one"]}})
    with pytest.raises(ValueError, match="unknown key 'grid_init_centres'"):
        study.StudyConfig.from_mapping({"grid_init_centres": [1.0]})
    assert study.StudyConfig.from_mapping({"check_init_centres": [2]}).check_init_centres == (2,)
    assert validate({})["training"]["check_init_centres"] == [1.0]


def test_initial_weights_add_the_centre_to_the_bias_alone():
    digits = tdata.load("digits", SEED)
    w0, b0 = study.initial_weights(SEED, digits, 2, 0.01)
    w1, b1 = study.initial_weights(SEED, digits, 2, 0.01, 1.0)
    assert np.array_equal(w0, w1) and b1.dtype == np.float32
    assert np.array_equal(b1, b0 + np.float32(1.0))
    # the same draws as before the centre existed: N(0, scale^2) from the seed's stream
    rng = study.stream(SEED, "training", "init", "digits", 1)
    draws = (0.01 * rng.standard_normal((digits.n_features + 1, digits.n_classes))).astype(
        np.float32
    )
    assert np.array_equal(b0[1], draws[-1]) and np.array_equal(w0[1], draws[:-1])


@pytest.mark.parametrize(("method", "params"), METHODS, ids=str)
def test_shift_invariant_says_which_maps_a_common_shift_leaves_alone(method, params):
    """Oracle: the maps themselves, in float64 on random vectors of [-2, 1] shifted by 0.75
    (exact in binary: the shifted logits are the logits plus 0.75, rounded once). A map
    called invariant gives the same output within rounding with any parameters; every other
    map, with its default parameters, moves some entry by more than 1e-3 (on the rows where
    both outputs are finite: relu's all-negative rows are 0/0). Some parameters make a
    map constant, and so invariant (taylor of order 0): shift_invariant need not say so."""
    rng = np.random.default_rng(11)
    x = rng.uniform(-2.0, 1.0, size=(500, 6))

    def moved(params):
        change = np.abs(normalize(x + 0.75, method, **params) - normalize(x, method, **params))
        finite = np.isfinite(change).all(axis=-1)
        assert finite.mean() > 0.5
        return np.max(change[finite])

    if study.shift_invariant(method):
        assert moved(params) < 1e-9
    else:
        assert moved({}) > 1e-3


def test_every_built_in_map_is_classified_by_shift_invariance():
    from softmaxlab.methods import methods, plugin

    built_in = {name for name in methods() if plugin(name) is None}
    assert built_in == {method for method, _ in METHODS}


def _short_check(**changes) -> study.StudyConfig:
    """A check of 3 steps at one rate and one seed, digits, float32, gradient descent, no
    widening: the starts (initial scales and biases) are what a test varies."""
    return study.StudyConfig(
        **{
            "steps": 3,
            "seeds": 1,
            "learning_rates": {"gd": (0.1,), "adam": (0.1,)},
            "dtypes": ("float32",),
            "optimizers": ("gd",),
            "datasets": ("digits",),
            "check_steps": 3,
            "check_rates_below": 0,
            "widen": 0,
            **changes,
        }
    )


def test_the_check_trains_linear_from_positive_logits_and_softmax_from_zero_alone():
    # With the NLL, linear normalisation's loss on digits is undefined from weights centred
    # at 0 (some training image's target score is negative): none of those runs takes a
    # step. From a bias of 1 every score starts near 1 > 0: its runs train, and the
    # check's choice on the validation part is one of them. Softmax, invariant to the
    # shift, is trained from 0 alone.
    specs = _specs({"method": "softmax"}, {"method": "linear"})
    cfg = _short_check(check_init_scales=())
    settings = [("digits", "linear", "nll", "float32", "gd")]
    table, _, _ = study.recheck(specs, cfg, SEED, settings, tverdict.REFERENCE)
    runs = table[table["label"] == "linear"].set_index("init_centre")
    assert sorted(runs.index) == [0.0, 1.0]
    assert runs.loc[0.0, "steps"] == 0 and math.isnan(runs.loc[0.0, "train_nll"])
    assert runs.loc[1.0, "steps"] == 3 and runs.loc[1.0, "validation_accuracy"] > 0.5
    best = study.best_runs(table).set_index("label")
    assert best.loc["linear", "init_centre"] == 1.0
    assert set(table.loc[table["label"] == "softmax", "init_centre"]) == {0.0}


def test_the_initial_scale_decides_whether_entmax15_takes_a_step_and_the_check_chooses_it():
    # With the NLL, entmax15's loss on digits is infinite at the study's initial scale 0.01
    # (some training image's target gets probability 0) and finite at 1e-4, where the
    # logits spread by about 1e-4 |x|: its runs from 0.01 never step, those from 1e-4 train,
    # and the check's choice on the validation part is a run from 1e-4.
    specs = _specs({"method": "softmax"}, {"method": "entmax15"})
    cfg = _short_check()
    settings = [("digits", "entmax15", "nll", "float32", "gd")]
    table, _, _ = study.recheck(specs, cfg, SEED, settings, tverdict.REFERENCE)
    runs = table[table["label"] == "entmax15"].set_index("init_scale")
    assert runs.loc[0.01, "steps"] == 0 and runs.loc[0.01, "train_nll"] == math.inf
    assert runs.loc[0.0001, "steps"] == 3 and runs.loc[0.0001, "validation_accuracy"] > 0.8
    best = study.best_runs(table).set_index("label")
    assert best.loc["entmax15", "init_scale"] == 0.0001
    # softmax trains from either; its choice is made the same way
    assert (table.loc[table["label"] == "softmax", "steps"] == 3).all()


def test_recheck_trains_the_settings_and_the_reference_longer(small_result):
    specs = _specs({"method": "softmax"}, {"method": "linear"}, {"method": "sparsemax"})
    cfg = dataclasses.replace(SMALL, check_steps=9, widen=0)
    settings = [("mixture", "sparsemax", "fenchel_young", "float32", "adam")]
    table, correct, curves = study.recheck(specs, cfg, SEED, settings, tverdict.REFERENCE)
    groups = set(table[["label", "loss", "dtype", "optimizer"]].itertuples(index=False, name=None))
    assert groups == {
        ("sparsemax", "fenchel_young", "float32", "adam"),
        ("softmax", "nll", "float32", "adam"),
    }
    # every learning rate of the grid and one a decade below its smallest, from both
    # initial scales, every seed, 9 steps unless it stopped early
    rates = sorted(table["learning_rate"].unique())
    assert rates == pytest.approx([0.001, *SMALL.learning_rates["adam"]], rel=1e-15)
    assert sorted(table["init_scale"].unique()) == [0.0001, 0.01]
    assert len(table) == 2 * 2 * (len(SMALL.learning_rates["adam"]) + 1) * SMALL.seeds
    assert table["steps"].max() == 9 and tuple(table.columns) == study.COLUMNS
    for _, row in table.iterrows():
        assert correct[tuple(row[k] for k in study.RUN_KEYS)].mean() == row["test_accuracy"]
    # the check's curves: every run's, as the study keeps them (step 0, the logged steps
    # of 9, its last step), its last one its table row's
    assert tuple(curves.columns) == study.CURVE_COLUMNS
    keys = list(study.RUN_KEYS)
    last = curves.groupby(keys)["step"].agg(["min", "max"])
    assert len(last) == len(table) and set(last["min"]) == {0}
    steps = table.set_index(keys)["steps"]
    assert (last["max"] == steps.reindex(last.index)).all()
    assert set(curves["step"]) <= {*study.curve_steps(9)}
    # the study's own runs at 6 steps are not what it returns
    six = small_result.table
    ran = six[
        (six["label"] == "softmax") & (six["dtype"] == "float32") & (six["optimizer"] == "adam")
    ]
    again = table[table["label"] == "softmax"]
    assert set(ran["steps"]) == {6} and set(again["steps"]) == {9}


class _FakeRuns:
    """Runs of one group whose validation accuracy is a known function of the rate."""

    def __init__(self, group, cfg, accuracy_at, steps):
        (self.optimizer,) = cfg.optimizers
        self.rates = cfg.learning_rates[self.optimizer]
        self.group, self.accuracy_at, self.steps = group, accuracy_at, steps

    def rows(self):
        keys = {
            "dataset": self.group.dataset,
            "method": self.group.method,
            "label": self.group.label,
            "loss": self.group.loss,
            "dtype": self.group.dtype,
        }
        return [
            {
                **keys,
                "optimizer": self.optimizer,
                "init_scale": 0.01,
                "init_centre": 0.0,
                "learning_rate": rate,
                "seed": seed,
                "steps": self.steps,
                "train_nll": 0.1,
                "validation_nll": 0.1,
                "validation_accuracy": self.accuracy_at(rate),
                "test_nll": 0.1,
                "test_accuracy": self.accuracy_at(rate),
                "ece": 0.0,
                "diverged": False,
                "steps_to_90pct": None,
            }
            for rate in self.rates
            for seed in (0, 1)
        ]

    def curve_rows(self, total_steps):
        return []

    def test_correct(self):
        return {
            (
                self.group.dataset,
                self.group.label,
                self.group.loss,
                self.group.dtype,
                self.optimizer,
                0.01,
                rate,
                seed,
            ): np.ones(4, dtype=bool)
            for rate in self.rates
            for seed in (0, 1)
        }


def _recheck_spherical(monkeypatch, fake_train_group, widen):
    """study.recheck of spherical's (and softmax's) mixture float32 gd setting on the gd grid
    (0.1, 1, 10), widened up to ``widen`` times, with ``fake_train_group`` training."""
    monkeypatch.setattr(study, "train_group", fake_train_group)
    monkeypatch.setattr(study, "load", lambda dataset, seed, mixture: None)
    specs = _specs({"method": "softmax"}, {"method": "spherical"})
    cfg = dataclasses.replace(
        SMALL,
        check_steps=9,
        check_rates_below=0,
        widen=widen,
        learning_rates={"gd": (0.1, 1.0, 10.0), "adam": (0.01,)},
    )
    settings = [("mixture", "spherical", "nll", "float32", "gd")]
    return study.recheck(specs, cfg, SEED, settings, tverdict.REFERENCE)


@pytest.mark.parametrize(
    ("best", "steps", "widen", "trained", "at_edge"),
    [
        (1.0, 6, 2, (0.1, 1.0, 10.0), False),  # inside the grid: not widened
        (0.1, 6, 2, (0.01, 0.1, 1.0, 10.0), False),  # at the edge: a decade below is worse
        (0.01, 6, 2, (0.001, 0.01, 0.1, 1.0, 10.0), False),  # two decades, then inside
        (0.001, 6, 2, (0.001, 0.01, 0.1, 1.0, 10.0), True),  # the last decade: at the edge
        (100.0, 6, 2, (0.1, 1.0, 10.0, 100.0, 1000.0), False),  # upwards the same way
        (0.1, 6, 0, (0.1, 1.0, 10.0), True),  # widen 0: the grid alone
        (0.01, 0, 2, (0.1, 1.0, 10.0), False),  # no run steps: no rate changes a thing
    ],
)
def test_rewidens_the_grid_where_the_choice_is_at_its_edge(
    monkeypatch, best, steps, widen, trained, at_edge
):
    # validation accuracy peaks at ``best`` (a decade apart: 1 - 0.1 |log10 rate/best|)
    def accuracy_at(rate):
        return 1.0 - 0.1 * abs(math.log10(rate / best)) if steps else 0.2

    calls = []

    def fake_train_group(group, data, cfg, seed):
        calls.append(cfg.learning_rates[cfg.optimizers[0]])
        return _FakeRuns(group, cfg, accuracy_at, steps)

    table, correct, _ = _recheck_spherical(monkeypatch, fake_train_group, widen)
    for label in ("spherical", "softmax"):  # the reference's group is widened the same way
        rates = table.loc[table["label"] == label, "learning_rate"]
        assert tuple(sorted(set(rates))) == pytest.approx(trained, rel=1e-12)
    # each group's grid once (both grids first: the rounds of widening ask chosen_at_edge
    # once for every group), then one rate per group and widening step
    assert calls[:2] == [(0.1, 1.0, 10.0)] * 2 and len(calls) == 2 * (1 + len(trained) - 3)
    assert all(len(c) == 1 for c in calls[2:])
    assert len(correct) == len(table)
    edges = study.chosen_at_edge(table)
    assert list(edges["at_edge"]) == [at_edge, at_edge]
    assert job._edges(table, {"gd": (0.1, 1.0, 10.0)}) == (2, 2 * (len(trained) > 3), 2 * at_edge)


def test_groups_widened_together_train_what_each_would_alone(monkeypatch):
    """_widened asks chosen_at_edge once per round for every group still widening: each
    group trains the rates, in the order, it trains when widened alone, and the rounds are
    the widest group's (2 here), not one call per group and round."""
    bests = {"spherical": 0.001, "softmax": 1.0, "sigmoid": 100.0}  # below, inside, above

    def fake_train_group(group, data, cfg, seed):
        best = bests[group.label]
        return _FakeRuns(group, cfg, lambda rate: 1.0 - 0.1 * abs(math.log10(rate / best)), 6)

    asked = []

    def counted(table, real=study.chosen_at_edge):
        asked.append(len(table))
        return real(table)

    monkeypatch.setattr(study, "train_group", fake_train_group)
    monkeypatch.setattr(study, "chosen_at_edge", counted)
    cfg = dataclasses.replace(
        SMALL, widen=2, optimizers=("gd",), learning_rates={"gd": (0.1, 1.0, 10.0)}
    )
    jobs = [(study.Group("mixture", name, {}, name, "nll", "float32"), None, cfg) for name in bests]

    def rates(batch):
        return [row["learning_rate"] for runs in batch for row in runs.rows()]

    together = study._widened(jobs, SEED)
    assert asked == [3 * 3 * 2, 2 * 4 * 2]  # every group, then the two still at an edge
    alone = [study._widened([one], SEED)[0] for one in jobs]
    assert [rates(batch) for batch in together] == [rates(batch) for batch in alone]
    assert [sorted(set(rates(batch))) for batch in together] == [
        pytest.approx([0.001, 0.01, 0.1, 1.0, 10.0], rel=1e-12),
        [0.1, 1.0, 10.0],
        pytest.approx([0.1, 1.0, 10.0, 100.0, 1000.0], rel=1e-12),
    ]


@pytest.mark.parametrize(
    ("accuracy", "trained"),
    [
        ({}, (0.1, 1.0, 10.0)),  # flat (softmax at base 1): every rate ties, none widened
        ({0.1: 0.9, 1.0: 0.9}, (0.1, 1.0, 10.0)),  # the edge ties with its neighbour
        ({0.1: 0.95, 1.0: 0.9, 10.0: 0.9}, (0.01, 0.1, 1.0, 10.0)),  # a tie below the top
    ],
)
def test_a_choice_the_tie_break_makes_is_not_at_an_edge(monkeypatch, accuracy, trained):
    """A group whose chosen rate ties with another on everything best_runs compares takes
    the smallest by the tie-break: the runs do not point beyond the grid, so it is neither
    widened nor counted at an edge. A tie below the chosen rate changes nothing."""

    def fake_train_group(group, data, cfg, seed):
        return _FakeRuns(group, cfg, lambda rate: accuracy.get(rate, 0.5), 6)

    table, _, _ = _recheck_spherical(monkeypatch, fake_train_group, widen=2)
    rates = table.loc[table["label"] == "spherical", "learning_rate"]
    assert tuple(sorted(set(rates))) == pytest.approx(trained, rel=1e-12)
    edges = study.chosen_at_edge(table)
    assert list(edges["chosen"]) == [0.1, 0.1]  # the smallest, by the tie-break or not
    assert not edges["at_edge"].any()


def test_measure_says_which_chosen_rates_are_at_the_grids_edge():
    # softmax's validation accuracy peaks at the grid's top (10), linear's inside it (1)
    rates = [0.1, 1.0, 10.0]
    softmax = _run_rows(rates, [0.90, 0.92, 0.94], [0.3] * 3, [0.9] * 3)
    linear = pd.DataFrame(_run_rows(rates, [0.80, 0.85, 0.82], [0.4] * 3, [0.8] * 3))
    table = pd.concat(
        [pd.DataFrame(softmax), linear.assign(method="linear", label="linear")],
        ignore_index=True,
    )
    result = tverdict.measure(table, _test_correct(table))
    (c,) = result.comparisons
    assert (c.learning_rate, c.at_edge) == (1.0, False)
    assert (c.reference_learning_rate, c.reference_at_edge) == (10.0, True)
    assert (
        "Softmax's chosen learning rate is the smallest or largest trained in 1 of its 1 "
        "settings (digits float32 adam: 10): a better rate beyond it" in tverdict.text(result)
    )
    assert tverdict.from_json(tverdict.to_json(result)) == result
    frame = tverdict.comparisons_frame(result.comparisons)
    assert list(frame[["learning_rate", "at_edge", "reference_at_edge"]].iloc[0]) == [
        1.0,
        False,
        True,
    ]
    # peaks inside the grid for both: nothing at an edge, no sentence
    inside = table.assign(validation_accuracy=np.where(table["learning_rate"] == 1.0, 0.95, 0.9))
    result = tverdict.measure(inside, _test_correct(inside))
    assert not result.comparisons[0].reference_at_edge
    assert "Softmax's chosen learning rate" not in tverdict.text(result)


def test_check_text_conditions_and_json():
    base = tverdict.TrainingResult(
        (
            _comparison("spherical", 0.80),
            _comparison("taylor", 0.88),
            _comparison("relu", 0.5, trains=False),
        ),
        untrainable=("relu",),
    )
    # every shortfall is checked, relu's too: it may train at a smaller rate
    assert tverdict.needs_check(base) == [
        ("digits", "spherical", "nll", "float32", "adam"),
        ("digits", "taylor", "nll", "float32", "adam"),
        ("digits", "relu", "nll", "float32", "adam"),
    ]
    checked = with_check(
        base,
        [
            _comparison("spherical", 0.81),
            _comparison("taylor", 0.94),
            _comparison("relu", 0.5, trains=False),
        ],
        check_learning_rates={"gd": (0.01, 0.1), "adam": (0.001, 0.01)},
    )
    assert checked.rechecked() == (["spherical", "relu"], ["taylor"])
    text = tverdict.text(checked)
    grid = "with 100 steps instead of 25 and learning rates down to 0.01 (gd) and 0.001 (adam)"
    assert f"Trained again {grid}, where an alternative fell short" in text
    assert "(3 settings, 3 alternatives), 2 of the 3 shortfalls remain" in text
    # the study's count leads, and says that the verdict's comes after the check
    assert (
        f"each alternative's settings), before the check below trains them again: "
        f"{len(checked.counted())} as the verdict counts them, after it." in text
    )
    assert "before the check" not in tverdict.text(base)
    assert "not told apart from softmax in any setting: taylor" in text
    assert "No learning rate trains relu in any setting (nor on the check's grid)" in text
    conditions = tverdict.conditions(checked)
    assert f"falls short of softmax, even {grid}: spherical (1/1 settings, worst: -14 points" in (
        conditions
    )  # the check's gap (0.81 against 0.95), not the study's (0.80)
    assert "short with 25 steps, not told apart from softmax with the check's: taylor" in (
        conditions
    )
    assert "Trained again" not in tverdict.text(base)
    assert "No learning rate trains relu in any setting:" in tverdict.text(base)
    # a statement about weights centred at 0, which the check does not move
    assert "or the gradient is zero, from initial weights centred at 0 (the check varies" in (
        tverdict.text(base)
    )
    back = tverdict.from_json(tverdict.to_json(checked))
    assert back == checked and tverdict.to_json(back) == tverdict.to_json(checked)
    assert "widened" not in text  # a result without the widening's fields says nothing of it
    scaled = replace(checked, check_init_scales=(0.01, 0.0001))
    initial = "from initial weights of scale 0.01 and 1e-04 (the scale chosen on the validation"
    assert f"Trained again {grid}, {initial} part with the rate)" in tverdict.text(scaled)
    assert f"falls short of softmax, even {grid}, {initial}" in tverdict.conditions(scaled)
    back = tverdict.from_json(tverdict.to_json(scaled))
    assert back.check_init_scales == (0.01, 0.0001) and back == scaled
    widened = replace(checked, widen=2, check_groups=6, check_widened=2)
    text = tverdict.text(widened)
    wider = f"{grid}, widened by up to 2 decades where the chosen rate was the smallest or largest"
    assert f"Trained again {wider} trained, where an alternative fell short" in text
    assert f"falls short of softmax, even {wider} trained: spherical" in (
        tverdict.conditions(widened)
    )
    assert (
        "Of the 6 groups trained again (the alternatives' settings and softmax's), 2 were "
        "widened beyond the check's grid; every remaining shortfall's alternative chose a "
        "rate inside those trained." in text
    )
    # a remaining shortfall at the edge is named; a closed one (taylor) or softmax's is not
    edge = {"at_edge": True, "learning_rate": 0.001}
    widened = replace(
        widened,
        check=(
            replace(widened.check[0], **edge),
            replace(widened.check[1], **edge),
            replace(widened.check[2], reference_at_edge=True),
        ),
    )
    assert (
        "2 were widened beyond the check's grid; in 1 of the 2 remaining shortfalls the "
        "alternative still chose the smallest or largest rate trained, so a better rate may "
        "lie beyond it: spherical on digits float32 adam: 0.001." in tverdict.text(widened)
    )
    assert tverdict.from_json(tverdict.to_json(widened)) == widened
    # the study's own widening, in one sentence, only where it was configured
    study_wide = replace(widened, groups=288, widened=109, at_edge=18)
    assert (
        "Each grid of learning rates was widened a decade at a time, up to 2, where the rate "
        "chosen was the smallest or largest trained: 109 of the 288 groups (data set x map x "
        "loss x format x optimiser); 18 still chose the smallest or largest rate trained"
        in tverdict.text(study_wide)
    )
    assert "Each grid" not in tverdict.text(replace(study_wide, widen=0))
    assert tverdict.from_json(tverdict.to_json(study_wide)) == study_wide
    # relu trains on the check's grid and is not told apart there: its shortfall closes
    trains = replace(checked, check=(*checked.check[:2], _comparison("relu", 0.95)))
    assert not trains.persists(base.comparisons[2]) and trains.rechecked()[1] == ["taylor", "relu"]
    assert "No learning rate trains" not in tverdict.text(trains)
    assert tverdict.verdict(trains) == CONDITIONAL  # spherical still short


def test_the_text_says_what_the_checks_initial_biases_changed():
    """From a bias of 1 the check's choice is quoted: how often it was chosen, and how the
    maps that never stepped in the study train from it (their accuracy against softmax's,
    how many still fall short, how many diverge). A map that trains from no start is said
    to be untrainable whatever the bias only where a shift cannot change it."""
    idle = [
        replace(_comparison(label, 0.1, trains=False), never_steps=True, dataset=dataset)
        for label in ("linear", "argmax")
        for dataset in ("digits", "mixture")
    ]
    base = tverdict.TrainingResult(tuple(idle), untrainable=("linear", "argmax"))
    again = [
        replace(_comparison("linear", 0.86, reference=0.98), init_centre=1.0),
        replace(
            _comparison("linear", 0.92, reference=0.917, trains=False),
            init_centre=1.0,
            dataset="mixture",
        ),
        idle[2],
        idle[3],
    ]
    checked = with_check(base, again, check_init_centres=(0.0, 1.0))
    text = tverdict.text(checked)
    assert (
        "The check's runs from an initial bias of 1 were chosen in 2 of its 4 settings; from "
        "it, the maps that took no step from weights centred at 0 take steps (their scores "
        "start positive): linear, test accuracy 86% to 92% (softmax's 91.7% to 98%), short in "
        "1 of 2 settings, every run diverging (its loss not finite or above its start) in 1."
        in text
    )
    assert (
        "No learning rate trains argmax in any setting (nor on the check's grid): the NLL is "
        "infinite or undefined (a target probability of zero or below) or the gradient is "
        "zero, whatever the initial bias (each is invariant to a common shift of the logits)."
        in text
    )
    assert "initial biases of 0 and 1 (every logit starts near it; chosen the same way)" in text
    # linear from bias 0 only in the check: not quoted; untrainable, and a shift might matter
    flat = with_check(base, [idle[0], idle[1], idle[2], idle[3]], check_init_centres=(0.0, 1.0))
    text = tverdict.text(flat)
    assert "The check's runs from an initial bias of 1 were chosen in 0 of its 4 settings." in (
        text
    )
    assert (
        "No learning rate trains linear, argmax in any setting (nor on the check's grid): "
        "the NLL is infinite or undefined (a target probability of zero or below) or the "
        "gradient is zero, from initial biases of 0 and those of the check." in text
    )
    # a label this process cannot read (an unloaded plugin) is not called invariant
    plugin = replace(idle[2], label="nopkg.nomod:fn")
    odd = with_check(
        replace(base, untrainable=("nopkg.nomod:fn",)), [plugin], check_init_centres=(0.0, 1.0)
    )
    assert "gradient is zero, from initial biases of 0 and those of the check." in (
        tverdict.text(odd)
    )
    # a negative bias: the scores do not start positive
    below = with_check(
        base,
        [replace(a, init_centre=-1.0) if a.init_centre else a for a in again],
        check_init_centres=(0.0, -1.0),
    )
    assert "take steps: linear, test accuracy" in tverdict.text(below)
    # no biases in the check: neither sentence, and the caveat of weights centred at 0
    plain = with_check(base, again)
    assert "initial bias" not in tverdict.text(plain)
    assert "from initial weights centred at 0 (the check varies their scale, not their" in (
        tverdict.text(with_check(base, idle))
    )
    back = tverdict.from_json(tverdict.to_json(checked))
    assert back == checked and back.check_init_centres == (0.0, 1.0)


def test_the_check_controls_itself_with_softmaxs_reparametrisations():
    """A re-parametrisation of softmax told apart from it is trained again too: where the
    check closes it, the check absorbs what the set-up made; the text says how many stay."""
    scaled = _comparison("softmax(base=100)", 0.80)
    base = tverdict.TrainingResult((_comparison("relu", 0.5),), exp_family=(scaled,))
    assert tverdict.needs_check(base) == [
        ("digits", "relu", "nll", "float32", "adam"),
        ("digits", "softmax(base=100)", "nll", "float32", "adam"),
    ]
    checked = with_check(
        base,
        [_comparison("relu", 0.5, trains=False)],
        check_exp_family=(_comparison("softmax(base=100)", 0.95),),
    )
    text = tverdict.text(checked)
    assert (
        "The check's control, softmax's re-parametrisations told apart from it trained again "
        "the same way: 0 of 1 still told apart; not told apart in any setting: "
        "softmax(base=100)." in text
    )
    assert tverdict.from_json(tverdict.to_json(checked)) == checked
    still = replace(checked, check_exp_family=(scaled,))
    assert "1 of 1 still told apart (softmax(base=100))." in tverdict.text(still)
    # what no set-up absorbs is named: base 1 and Gumbel's noise
    constant = _comparison("softmax(base=1, stable=False)", 0.1)
    noisy = _comparison("gumbel_softmax", 0.9)
    named = replace(checked, check_exp_family=(constant, noisy))
    assert (
        "2 of 2 still told apart (softmax(base=1, stable=False): base 1, a constant output; "
        "gumbel_softmax: noise in every training step)." in tverdict.text(named)
    )
    # the count split: relu trained (it has steps), then never stepping on the check's grid
    assert checked.never_stepping() == []
    assert (
        "Of the 1 alternatives counted as falling short, 1 are trained and end less "
        "accurate (relu)." in text
    )
    idle = replace(
        checked, check=(replace(_comparison("relu", 0.5, trains=False), never_steps=True),)
    )
    assert idle.never_stepping() == ["relu"]
    assert (
        "Of the 1 alternatives counted as falling short, 1 never take a step where they fall "
        "short (their loss is not finite at the initial model in every run, so they are "
        "scored as that model: relu)." in tverdict.text(idle)
    )
    assert tverdict.from_json(tverdict.to_json(idle)) == idle


def test_holm_over_the_whole_claim_is_reported_beside_the_count():
    """Two alternatives 5 points worse on 100 points: 2^-5 each, short alone (each its own
    family), but 2 x 2^-5 = 0.0625 with Holm over both at once."""
    result = tverdict.TrainingResult((_comparison("a", 0.90), _comparison("b", 0.90)))
    assert result.counted() == ["a", "b"]
    joint = tverdict.jointly(result)
    assert [c.p_short_holm for c in joint.comparisons] == pytest.approx([2 * 2.0**-5] * 2)
    assert joint.counted() == [] and tverdict.verdict(joint) == FAILS
    assert (
        "Holm over all 2 comparisons at once instead of over each alternative's settings "
        "(family-wise control over the whole claim) counts 0 of the 2 alternatives as falling "
        "short, against 2 with the per-alternative rule." in tverdict.text(result)
    )
    # one far worse: 2^-50 x 2 still short, the other 2^-5 alone at its step: short too
    far = replace(result, comparisons=(_comparison("a", 0.45), _comparison("b", 0.90)))
    assert tverdict.jointly(far).counted() == ["a", "b"]


def test_a_naive_form_short_where_its_stable_form_is_not_is_numerics():
    """iterated_exp (stable=False) is the map iterated_exp(stable=True) computes, with its
    overflow: its shortfall counts only where the stable form's persists too."""
    assert tverdict.stable_label("iterated_exp(depth=3)") == "iterated_exp(depth=3, stable=True)"
    assert tverdict.stable_label("softmax(base=2, stable=False)") == "softmax(base=2)"
    assert tverdict.stable_label("iterated_exp(stable=True)") is None
    assert tverdict.stable_label("sigmoid") is None
    naive = _comparison("iterated_exp", 0.5, trains=False)
    level = tverdict.TrainingResult((naive, _comparison("iterated_exp(stable=True)", 0.95)))
    assert naive.short and level.persists(naive) and not level.counts(naive)
    assert level.counted() == [] and level.numerics_only() == ["iterated_exp"]
    assert tverdict.verdict(level) == FAILS
    assert "iterated_exp fall short only where their stable forms" in tverdict.text(level)
    assert "overflow (numerics, set aside): iterated_exp" in tverdict.conditions(level)
    # the stable form short in the same setting: the map's, counted
    short = tverdict.TrainingResult((naive, _comparison("iterated_exp(stable=True)", 0.6)))
    assert short.counts(naive) and short.counted() == ["iterated_exp", "iterated_exp(stable=True)"]
    assert tverdict.verdict(short) == HOLDS and short.numerics_only() == []
    # ... in another setting only: not this one's
    elsewhere = _comparison("iterated_exp(stable=True)", 0.6, optimizer="gd")
    other = tverdict.TrainingResult(
        (naive, _comparison("iterated_exp(stable=True)", 0.95), elsewhere)
    )
    assert not other.counts(naive) and other.stable_form(naive).optimizer == "adam"
    # without its stable form in the study, a naive form is an alternative like any other
    alone = tverdict.TrainingResult((naive,))
    assert alone.stable_form(naive) is None and alone.counts(naive)


def test_measure_text_and_json_round_trip(small_result):
    result = tverdict.measure(
        small_result.table,
        small_result.test_correct,
        mixture_bayes_accuracy=small_result.mixture_bayes_accuracy,
    )
    names = result.alternatives()
    assert "argmax" in names and "linear" in names and "sparsemax (fenchel_young)" in names
    assert all(c.label != "gumbel_softmax" for c in result.comparisons)
    assert {c.label for c in result.exp_family} == {"gumbel_softmax"}
    assert set(result.untrainable) >= {"argmax", "linear"}
    # never_steps: every run of that setting stopped at step 0 (argmax's NLL is infinite at
    # the initial model wherever an image is misclassified), as the table says
    table = small_result.table
    for c in result.comparisons:
        rows = table[
            (table["dataset"] == c.dataset)
            & (table["label"] == c.label)
            & (table["loss"] == c.loss)
            & (table["dtype"] == c.dtype)
            & (table["optimizer"] == c.optimizer)
        ]
        assert c.never_steps == bool((rows["steps"] == 0).all()), c.key
    assert any(c.never_steps for c in result.comparisons if c.label == "argmax")
    assert not any(c.never_steps for c in result.comparisons if c.loss == "fenchel_young")
    text = tverdict.text(result)
    assert "argmax" in text and "Bayes accuracy" in text
    # softmax's quoted accuracy names its setting: the format and optimiser whose best run
    # (by the study's rule) has the best validation accuracy, ties to the lower NLL
    best = study.best_runs(table)
    for dataset, quoted, setting in (
        ("digits", result.reference_digits_accuracy, result.reference_digits_setting),
        ("mixture", result.mixture_accuracy, result.mixture_setting),
    ):
        ref = best[
            (best["dataset"] == dataset) & (best["label"] == "softmax") & (best["loss"] == "nll")
        ]
        if ref.empty:  # a data set the study did not train
            assert setting is None and quoted is None
            continue
        top = ref.sort_values(
            ["validation_accuracy", "validation_nll"], ascending=[False, True], kind="stable"
        ).iloc[0]
        assert setting == (top["dtype"], top["optimizer"])
        assert quoted == top["test_accuracy"]
    if result.reference_digits_setting is not None:
        dtype, optimizer = result.reference_digits_setting
        assert (
            f"on scikit-learn's digits ({dtype}, {optimizer}: the format and optimiser with "
            "softmax's best validation accuracy, and each method's learning rate chosen on a "
            "validation part)" in text
        )
    if result.mixture_setting is not None:
        mixture = f"{percent(result.mixture_accuracy)} ({', '.join(result.mixture_setting)}; "
        assert f"On the Gaussian mixture it reaches {mixture}Bayes accuracy: " in text
    digits = replace(result, reference_digits_accuracy=0.969, reference_digits_setting=("f", "o"))
    assert (
        "reaches a test accuracy of 96.9% on scikit-learn's digits (f, o: the format and "
        "optimiser with softmax's best validation accuracy, and each method's learning rate "
        "chosen on a validation part)" in tverdict.text(digits)
    )
    assert tverdict.from_json(tverdict.to_json(digits)) == digits
    payload = tverdict.to_json(result)
    back = tverdict.from_json(payload)
    assert [(c.name, c.short, c.ahead) for c in back.comparisons] == [
        (c.name, c.short, c.ahead) for c in result.comparisons
    ]
    assert tverdict.verdict(back) == tverdict.verdict(result)
    assert '"claim": "C15"' in payload and tverdict.to_json(back) == payload


# --- config and job -------------------------------------------------------------------------


def test_schema_defaults_are_the_study_defaults():
    config = validate({"methods": [{"method": "softmax"}]})
    assert study.StudyConfig.from_mapping(config["training"]) == study.StudyConfig()


def test_schema_rejects_a_bad_training_key():
    with pytest.raises(ConfigError, match="training.dtypes"):
        validate({"training": {"dtypes": ["float16"]}})


def test_job_writes_every_output_byte_for_byte(tmp_path):
    config = validate(
        {
            "seed": 3,
            "methods": [{"method": "softmax"}, {"method": "linear"}, {"method": "sparsemax"}],
            "training": {
                "steps": 4,
                "seeds": 1,
                "learning_rates": {"gd": [1.0], "adam": [0.1]},
                "dtypes": ["float32"],
                "datasets": ["mixture"],
                "mixture": {"n_train": 60, "n_test": 60},
                "check_steps": 8,
                "widen": 0,
            },
        }
    )
    trained = ("table", "curves", "check", "check_curves", "result", "logits")
    published = ("verdict", "svg", "png", "caption")
    suffix = {"table": ".csv", "curves": ".csv", "check": ".csv", "check_curves": ".csv"}
    suffix.update(result=".json", verdict=".json", logits=".npy")

    def run_both(folder):
        """The training job, then the verdict job on its outputs: every output's path."""
        paths = {n: folder / f"{n}{suffix.get(n, '.' + n)}" for n in trained + published}
        paths["caption"] = folder / "training_curves.caption.md"
        job.run(config, {n: paths[n] for n in trained})
        inputs = ("result", "table", "curves", "check", "check_curves")
        publish.run({n: paths[n] for n in inputs}, paths)
        return paths

    outputs = {run: run_both(tmp_path / run) for run in ("a", "b")}
    for name in trained + published:
        assert outputs["a"][name].read_bytes() == outputs["b"][name].read_bytes(), name
    # the verdict job's typed result is the training job's, read back to the same bytes
    typed = json.loads(outputs["a"]["result"].read_text())["result"]
    assert json.loads(outputs["a"]["verdict"].read_text())["result"] == typed
    table = pd.read_csv(outputs["a"]["table"])
    assert tuple(table.columns) == study.COLUMNS and len(table) == 4 * 2
    payload = json.loads(outputs["a"]["verdict"].read_text())
    assert payload["claim"] == "C15" and payload["verdict"] in (HOLDS, CONDITIONAL, FAILS)
    assert np.load(outputs["a"]["logits"]).shape == (0, 0)  # no digits in this study
    assert read_caption(outputs["a"]["caption"]).title == figure.TITLE
    # linear falls short (its NLL is undefined), so the check ran, on the wider grid
    result = tverdict.from_json(payload)
    assert result.check and result.check_steps == 8
    assert result.check_learning_rates == {"gd": (0.1, 1.0), "adam": (0.01, 0.1)}
    # the check's runs: every compared setting's, softmax's beside it, at 8 steps at most,
    # and the accuracies its comparisons were chosen from
    check = pd.read_csv(outputs["a"]["check"])
    assert tuple(check.columns) == study.COLUMNS and check["steps"].max() <= 8
    settings = set(check[["label", "loss", "dtype", "optimizer"]].itertuples(index=False))
    for c in result.check:
        assert (c.label, c.loss, c.dtype, c.optimizer) in settings
        assert ("softmax", "nll", c.dtype, c.optimizer) in settings
    chosen = study.best_runs(check).set_index(["label", "loss", "dtype", "optimizer"])
    for c in result.check:
        assert chosen.loc[(c.label, c.loss, c.dtype, c.optimizer), "test_accuracy"] == c.accuracy
    # linear never stepped in the study (its NLL is undefined from weights centred at 0);
    # the check trained it from a bias of 1, and the figure draws that run dotted
    curves = pd.read_csv(outputs["a"]["check_curves"])
    assert tuple(curves.columns) == study.CURVE_COLUMNS
    assert len(curves.groupby(list(study.RUN_KEYS))) == len(check)
    text = read_caption(outputs["a"]["caption"]).text
    assert "Dotted: those of them that C15's check trained (up to 8 steps" in text
    assert "linear on mixture from an initial bias of 1 (rate " in text
    # check_steps 0: no check, and the jobs still write the verdict
    config["training"]["check_steps"] = 0
    none = run_both(tmp_path / "none")
    unchecked = tverdict.from_json(none["verdict"].read_text())
    assert unchecked.check == () and unchecked.check_steps is None
    empty = pd.read_csv(none["check"])
    assert tuple(empty.columns) == study.COLUMNS and empty.empty
    assert unchecked.check_learning_rates == {}
    assert "Trained again" not in json.loads(none["verdict"].read_text())["text"]


def _softmax_and_relu(**training) -> dict:
    """A validated config training softmax and relu on a small mixture in float32 (Adam
    at 0.1 and 1.0, gd at 1.0), seed 5, with the ``training`` keys given on top."""
    return validate(
        {
            "seed": 5,
            "methods": [{"method": "softmax"}, {"method": "relu"}],
            "training": {
                "learning_rates": {"gd": [1.0], "adam": [0.1, 1.0]},
                "dtypes": ["float32"],
                "datasets": ["mixture"],
                "mixture": {"n_train": 60, "n_test": 60},
                "widen": 0,
                **training,
            },
        }
    )


def test_the_verdict_job_reads_the_tables_as_the_study_made_them(tmp_path):
    """The figure is drawn from training.csv and training_curves.csv as written and read
    back (publish.read_runs): the slice it draws, its stops and its caption are those of
    the study's own tables, so moving the figure to its own job moved none of its bytes.
    A label that reads as a number stays a name."""
    config = _softmax_and_relu(steps=6, seeds=2, check_steps=0)
    cfg = study.StudyConfig.from_mapping(config["training"])
    made = study.run_study(study.with_reference(method_specs(config)), cfg, 5)
    for name, frame in (("table", made.table), ("curves", made.curves)):
        write_csv(frame, tmp_path / f"{name}.csv")
    read = figure.prepare(
        publish.read_runs(tmp_path / "table.csv"), publish.read_runs(tmp_path / "curves.csv")
    )
    direct = figure.prepare(made.table, made.curves)
    pd.testing.assert_frame_equal(read.curves, direct.curves)
    pd.testing.assert_frame_equal(read.best, direct.best, check_dtype=False)
    assert (read.stops, read.datasets, read.labels) == (
        direct.stops,
        direct.datasets,
        direct.labels,
    )
    assert figure.caption(read) == figure.caption(direct)
    numeric = made.table.assign(label="1e3")
    write_csv(numeric, tmp_path / "numeric.csv")
    assert set(publish.read_runs(tmp_path / "numeric.csv")["label"]) == {"1e3"}


def test_the_figure_draws_the_checks_runs_of_the_maps_that_never_trained():
    """relu's NLL is not finite from weights centred at 0 (signed scores give p_y = 0), so
    it never trains in the study; C15's check trains it from a bias of 1, and the figure
    draws that run (dotted) with its start in the caption. Not drawn: a map that trained in
    the study (softmax), a check run that took no step either, and without a check."""
    config = _softmax_and_relu(steps=4, seeds=1, check_steps=8, optimizers=["adam"])
    cfg = study.StudyConfig.from_mapping(config["training"])
    specs = study.with_reference(method_specs(config))
    made = study.run_study(specs, cfg, 5)
    settings = [("mixture", "relu", "nll", "float32", "adam")]
    checked = study.recheck(specs, cfg, 5, settings, tverdict.REFERENCE)
    data = figure.prepare(made.table, made.curves, checked.table, checked.curves)
    assert data.stops[("mixture", "relu", "nll")] == 0
    assert list(data.checked_best["label"]) == ["relu"]
    assert data.checked_best["init_centre"].iloc[0] == 1.0
    assert set(data.checked["label"]) == {"relu"} and data.checked["step"].max() == 8
    assert "relu on mixture from an initial bias of 1 (rate " in figure.caption(data)
    first = checked.curves["step"] == 0
    idle = checked.curves.assign(train_loss=checked.curves["train_loss"].where(~first))
    assert figure.prepare(made.table, made.curves, checked.table, idle).checked_best.empty
    alone = figure.prepare(made.table, made.curves)
    assert alone.checked.empty and "Dotted" not in figure.caption(alone)


def test_the_reference_and_an_alternative_are_always_trained():
    only_linear = study.with_reference(_specs({"method": "linear"}))
    assert [label for _, _, label in only_linear] == ["softmax", "linear"]
    only_softmax = study.with_reference(_specs({"method": "softmax"}))
    assert [label for _, _, label in only_softmax] == ["softmax", "linear"]
    variant = study.with_reference(_specs({"method": "softmax", "base": 2.0}, {"method": "relu"}))
    assert [label for _, _, label in variant] == ["softmax", "softmax(base=2)", "relu"]


def test_the_curves_caption_tells_a_loss_never_finite_from_one_that_diverged():
    """A line stopped at step 0 had a non-finite loss at the initial model, which no rate
    changes: it never trained, and its rate is a tie's. One stopped later diverged at its
    best rate."""
    best = pd.DataFrame(
        {
            "dataset": ["digits"] * 3,
            "label": ["softmax", "linear", "sigmoid"],
            "loss": ["nll"] * 3,
            "learning_rate": [0.1, 0.01, 1.0],
            "train_nll": [0.05, np.nan, 0.4],
            "test_accuracy": [0.96, 0.1, 0.9],
        }
    )
    stops = {
        ("digits", "softmax", "nll"): None,
        ("digits", "linear", "nll"): 0,
        ("digits", "sigmoid", "nll"): 7,
    }
    data = figure.Data(pd.DataFrame(), best, stops, ["digits"], list(best["label"]))
    text = figure.caption(data)
    assert (
        "Not finite at the initial model (weights centred at 0, so every logit starts near 0) "
        "in at least one data set, so at every rate (they never trained here; the rate chosen "
        "is a tie's): linear. C15's check starts those a common shift of the logits changes "
        "from positive scores too" in text
    )
    assert "during training at their best rate in at least one data set: sigmoid." in text
    calm = figure.Data(pd.DataFrame(), best, dict.fromkeys(stops), ["digits"], [])
    assert "initial model" not in figure.caption(calm) and "Stopped" not in figure.caption(calm)
