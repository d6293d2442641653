"""Claim C14: the pooling rule, every verdict from synthetic summary rows, the text's
numbers, and one end-to-end run on real per-vector measurements (softmaxlab.nll)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from softmaxlab import check_params, label, nll, register_method, unregister_method
from softmaxlab.claims import c14 as claim_c14
from softmaxlab.claims import gradients
from softmaxlab.claims.c14 import CONDITIONAL, FAILS, HOLDS
from softmaxlab.sampling import logits, sample_z
from softmaxlab.stats import summarize

# A passing softmax: every check 0, gradients by target.
SOFTMAX_OK = {
    "nll": 1.5,
    "nll_infinite": 0.0,
    "nll_undefined": 0.0,
    "nll_grad_norm": 0.9,
    "nll_grad_max": 0.8,
    "nll_grad_norm_argmax": 0.3,
    "nll_grad_norm_argmin": 1.2,
    "nll_grad_over_one": 0.0,
    "nll_convexity_break": 0.0,
}
CLEAN = dict(SOFTMAX_OK)  # an alternative without a loss
GROUPS = [("normal", 0.1), ("normal", 10.0), ("positive", 0.1), ("positive", 10.0)]


def _rows(cells: dict[tuple[str, str, float], dict[str, float]], n: int = 100) -> pd.DataFrame:
    """Summary rows (one K and format) from {(label, distribution, scale): {metric: mean}};
    a metric missing from a cell's dict is not written."""
    rows = []
    for (lab, distribution, scale), means in cells.items():
        for metric, mean in means.items():
            rows.append(
                {
                    "distribution": distribution,
                    "scale": scale,
                    "k": 10,
                    "dtype": "float64",
                    "method": lab.split("(")[0],
                    "label": lab,
                    "metric": metric,
                    "n": n,
                    "mean": mean,
                    "q95": mean,
                }
            )
    return pd.DataFrame(rows)


def _summary(alternatives: dict[str, dict[tuple[str, float], dict]], softmax=None):
    """softmax (passing unless given) in every group, and alternatives per group."""
    cells = {("softmax", d, s): dict(softmax or SOFTMAX_OK) for d, s in GROUPS}
    for lab, per_group in alternatives.items():
        for (d, s), means in per_group.items():
            cells[(lab, d, s)] = means
    return _rows(cells)


def _everywhere(means: dict) -> dict:
    return {group: dict(means) for group in GROUPS}


def test_pool_is_the_n_weighted_mean_of_cell_means():
    frame = pd.DataFrame(
        {
            "g": ["a", "a", "a", "b"],
            "n": [10, 30, 0, 5],
            "mean": [0.0, 1.0, 7.0, np.nan],
        }
    )
    pooled = claim_c14.pool(frame, ["g"])
    assert pooled["g"].tolist() == ["a"]  # b has no defined mean
    assert pooled["mean"].iloc[0] == 0.75 and pooled["n"].iloc[0] == 40


def test_measure_pools_over_cells_by_n():
    rows = _rows(
        {
            ("softmax", "normal", 1.0): SOFTMAX_OK,
            ("linear", "normal", 1.0): {**CLEAN, "nll_undefined": 0.2},
            ("linear", "normal", 2.0): {**CLEAN, "nll_undefined": 0.6},
        }
    )
    rows.loc[(rows["label"] == "linear") & (rows["scale"] == 2.0), "n"] = 300
    result = claim_c14.measure_c14(rows)
    linear = result.of("linear")
    assert linear.undefined == pytest.approx((100 * 0.2 + 300 * 0.6) / 400)
    assert linear.vectors == 400 and linear.role == "alternative"
    assert result.reference.role == "reference"
    assert linear.failing_groups == (("normal", 1.0), ("normal", 2.0))
    assert linear.failures == ("undefined",)


def test_counts_say_the_scales_reuse_the_same_vectors():
    # softmax in 2 distributions x 2 scales, 100 vectors a cell: 400 (vector, scale)
    # evaluations of 200 independent vectors (one more K adds its own 100)
    result = claim_c14.measure_c14(_summary({}))
    assert result.reference.vectors == 400 and result.independent_vectors == 200
    text = claim_c14.value(result)
    assert "NLL undefined for 0% of 400 vectors" in text
    assert "every scale reuses the same 200 independent vectors" in text
    other_k = _summary({}).assign(k=30)
    assert claim_c14.measure_c14(pd.concat([_summary({}), other_k])).independent_vectors == 400


def test_the_gradient_by_scale_says_on_how_many_vectors_it_rests():
    # softmax's drawn-target gradient at scale 10 on 40 of its 100 vectors a cell (p_y
    # underflows on the others): the text gives the count, as the mean over survivors
    rows = _summary({})
    survivors = (rows["metric"] == "nll_grad_norm") & (rows["scale"] == 10.0)
    rows.loc[survivors, "n"] = 40
    result = claim_c14.measure_c14(rows)
    low, high = result.reference_by_scale
    assert (low.uniform_n, low.vectors, high.uniform_n, high.vectors) == (200, 200, 80, 200)
    assert low.measured_on() == ""
    assert "(at scale 10 on 80 of 200 vectors: where p_y underflows below 2^-1022" in (
        claim_c14.value(result)
    )


def test_holds_when_an_alternative_loses_it_everywhere():
    result = claim_c14.measure_c14(
        _summary(
            {
                "linear": _everywhere({**CLEAN, "nll_convexity_break": 0.3125}),
                "sparsemax": _everywhere(CLEAN),
            }
        )
    )
    assert claim_c14.verdict(result) == HOLDS
    assert claim_c14.conditions(result).startswith("some alternative loses it in every")
    text = claim_c14.text(result)
    assert "linear: convexity broken on 31.2% of 400 segments" in text
    assert "keep it where measured: sparsemax" in text
    assert "0% of 400 segments" in text  # softmax's break count
    assert "target = argmax 0.3 -> 0.3" in text
    assert "95% quantile of ||p - y|| 0.9" in text


def test_holds_with_conditions_when_losses_are_confined():
    per_group = {group: dict(CLEAN) for group in GROUPS}
    per_group[("normal", 10.0)] = {**CLEAN, "nll_undefined": 0.05}
    per_group[("positive", 10.0)] = {**CLEAN, "nll_convexity_break": 0.01}
    result = claim_c14.measure_c14(_summary({"linear": per_group}))
    assert claim_c14.verdict(result) == CONDITIONAL
    assert claim_c14.conditions(result) == (
        "alternatives lose it only on normal at scale 10 and positive at scale 10; "
        "none does on normal at scale 0.1 and positive at scale 0.1"
    )
    assert result.of("linear").failures == ("undefined", "convexity")


def test_sparse_maps_losing_only_through_an_infinite_nll_are_named_with_their_own_loss():
    """sparsemax's and entmax's NLL is infinite where p_y = 0; their own Fenchel-Young loss
    is convex with gradient p - y: the conditions say so for a map with such a loss whose
    only loss is an infinite NLL, and not for one that also breaks convexity or has none."""
    result = claim_c14.measure_c14(
        _summary(
            {
                "sparsemax": _everywhere({**CLEAN, "nll_infinite": 0.5, "nll_grad_over_one": 0.4}),
                "entmax15": _everywhere({**CLEAN, "nll_infinite": 0.4, "nll_undefined": 0.1}),
                "linear": _everywhere({**CLEAN, "nll_convexity_break": 0.3}),
            }
        )
    )
    assert result.of("sparsemax").failures == ("infinite", "gradient")
    assert claim_c14.conditions(result) == (
        "some alternative loses it in every measured distribution and scale; sparsemax lose "
        "it only through an infinite NLL (p_y = 0 where the output is sparse) and gradient "
        "entries beyond [-1, 1] where it is finite: with their own Fenchel-Young loss "
        "(Blondel, Martins & Niculae 2020) the loss is convex with gradient p - y, as the NLL "
        "is softmax's own Fenchel-Young loss: log-probabilities are the loss matched to "
        "softmax, not to every map"
    )
    only_zero = claim_c14.measure_c14(
        _summary({"sparsemax": _everywhere({**CLEAN, "nll_infinite": 0.5})})
    )
    assert "infinite NLL (p_y = 0 where the output is sparse): with their own" in (
        claim_c14.conditions(only_zero)
    )
    alone = claim_c14.measure_c14(_summary({"linear": _everywhere({**CLEAN, "nll_infinite": 0.2})}))
    assert "Fenchel-Young" not in claim_c14.conditions(alone)  # linear has no such loss here
    # the answer's sentence says it too, only where such a map is among the losses
    assert claim_c14.sparse_only(result) == ["sparsemax"] and not claim_c14.sparse_only(alone)
    sentence, losing = gradients.headline_c14(result)
    assert losing == 3.0
    assert (
        "of the other normalisations measured (softmax's re-parametrisations aside), 3 lose "
        "this somewhere (their loss is undefined, infinite or not convex there, or its "
        "gradient leaves the bounds that p - y keeps, the sparse maps only where their output "
        "is zero or the gradient steep, which their own Fenchel-Young loss avoids) (C14)."
        in sentence
    )
    assert "sparse maps" not in gradients.headline_c14(alone)[0]


@pytest.mark.parametrize(
    "broken, check",
    [
        ({"nll_grad_over_one": 0.01}, "gradient entries in [-1, 1]"),
        ({"nll_convexity_break": 0.002}, "midpoint convexity"),
        ({"nll_undefined": 0.5}, "NLL defined"),
    ],
)
def test_does_not_hold_when_softmax_fails_a_check(broken, check):
    result = claim_c14.measure_c14(
        _summary(
            {"linear": _everywhere({**CLEAN, "nll_convexity_break": 0.3})},
            softmax={**SOFTMAX_OK, **broken},
        )
    )
    assert claim_c14.verdict(result) == FAILS
    assert claim_c14.conditions(result) == f"softmax fails: {check}"


def test_does_not_hold_when_a_check_was_never_measured():
    softmax = {k: v for k, v in SOFTMAX_OK.items() if k != "nll_convexity_break"}
    result = claim_c14.measure_c14(
        _summary({"linear": _everywhere({**CLEAN, "nll_undefined": 0.3})}, softmax=softmax)
    )
    assert result.reference.segments == 0
    assert claim_c14.verdict(result) == FAILS


def test_does_not_hold_when_no_alternative_loses_it():
    result = claim_c14.measure_c14(_summary({"taylor": _everywhere(CLEAN)}))
    assert claim_c14.verdict(result) == FAILS
    assert "no alternative loses" in claim_c14.conditions(result)


def test_infinite_counts_wherever_a_map_has_exact_zeros_and_a_plugins_where_softmax_is_finite():
    """sparsemax's p_y = 0 is a zero of the map: a loss in every group, also where softmax's
    own p_y underflowed (large scales). A plugin's map is not known to have exact zeros:
    its p_y = 0 counts only where softmax's NLL is finite on every vector of the group."""
    softmax_cells = {("softmax", d, s): dict(SOFTMAX_OK) for d, s in GROUPS}
    for d in ("normal", "positive"):
        softmax_cells[("softmax", d, 10.0)]["nll_infinite"] = 0.2
    zeros = {**CLEAN, "nll_infinite": 0.5}
    sparse = {("sparsemax", d, s): dict(zeros) for d, s in GROUPS}
    result = claim_c14.measure_c14(_rows({**softmax_cells, **sparse}))
    assert result.of("sparsemax").exact_zeros
    assert result.of("sparsemax").failing_groups == tuple(sorted(GROUPS))
    assert claim_c14.verdict(result) == HOLDS
    assert "sparsemax: NLL infinite for 50%" in claim_c14.text(result)

    def cut_linear(x):
        return np.maximum(x, 0) / np.sum(np.maximum(x, 0), axis=-1, keepdims=True)

    register_method("c14_probe_plugin", cut_linear)
    try:
        plugin_cells = {("c14_probe_plugin", d, s): dict(zeros) for d, s in GROUPS}
        result = claim_c14.measure_c14(_rows({**softmax_cells, **plugin_cells}))
    finally:
        unregister_method("c14_probe_plugin")
    entry = result.of("c14_probe_plugin")
    assert not entry.exact_zeros and not entry.positive
    assert entry.failing_groups == (("normal", 0.1), ("positive", 0.1))
    assert claim_c14.verdict(result) == CONDITIONAL


def test_a_gradient_entry_beyond_one_is_a_loss():
    """softmax's p - e_y has entries in [-1, 1]; an alternative whose NLL gradient leaves it
    (sparsemax's target entry -(1 - 1/|S|)/p_y) loses the property there: driven from
    'does not hold' (no loss) to 'holds with conditions' and 'holds'."""
    none = claim_c14.measure_c14(_summary({"taylor": _everywhere(CLEAN)}))
    assert claim_c14.verdict(none) == FAILS
    per_group = {group: dict(CLEAN) for group in GROUPS}
    per_group[("normal", 10.0)] = {**CLEAN, "nll_grad_over_one": 0.25}
    some = claim_c14.measure_c14(_summary({"taylor": per_group}))
    assert some.of("taylor").failures == ("gradient",)
    assert claim_c14.verdict(some) == CONDITIONAL
    assert "taylor: gradient entries beyond [-1, 1] on 6.25% of 400 vectors" in (
        claim_c14.value(some)
    )
    every = claim_c14.measure_c14(
        _summary({"taylor": _everywhere({**CLEAN, "nll_grad_over_one": 0.25})})
    )
    assert claim_c14.verdict(every) == HOLDS


def test_a_positive_maps_infinite_nll_is_underflow_not_a_loss():
    """iterated exp's and sigmoid's outputs are positive, so their NLL is finite on every
    finite vector, and a p_y of 0 (or 0/0) is float64 underflow, as softmax's: not a loss,
    quoted apart. relu's p_y = 0 (x_y <= 0) is its own: a loss. Driven to each outcome:
    the underflow alone leaves no alternative losing it (does not hold); relu's zeros, or
    a convexity break, do."""
    underflow = _everywhere({**CLEAN, "nll_infinite": 0.25})
    zero_sum = _everywhere({**CLEAN, "nll_undefined": 0.01})  # every term underflowed: 0/0
    alone = claim_c14.measure_c14(
        _summary({"iterated_exp(stable=True)": underflow, "sigmoid": zero_sum})
    )
    entry = alone.of("iterated_exp(stable=True)")
    assert entry.positive and entry.failures == () and entry.failing_groups == ()
    assert alone.of("sigmoid").positive and alone.of("sigmoid").failures == ()
    assert claim_c14.verdict(alone) == FAILS
    assert (
        "Not counted as a loss: the infinite or undefined NLL of maps whose outputs are "
        "positive, whose NLL is finite on every finite vector (p_y underflows to 0 in float64, "
        "as softmax's does, or every term does and p_y is 0/0): iterated_exp(stable=True) "
        "infinite 25%; sigmoid undefined 1%." in claim_c14.value(alone)
    )
    relu = claim_c14.measure_c14(_summary({"relu": underflow}))
    assert not relu.of("relu").positive and relu.of("relu").failures == ("infinite",)
    assert claim_c14.verdict(relu) == HOLDS
    assert "Not counted" not in claim_c14.value(relu)
    breaking = claim_c14.measure_c14(
        _summary(
            {
                "iterated_exp(stable=True)": _everywhere(
                    {**CLEAN, "nll_infinite": 0.25, "nll_convexity_break": 0.1}
                )
            }
        )
    )
    assert breaking.of("iterated_exp(stable=True)").failures == ("convexity",)
    assert claim_c14.verdict(breaking) == HOLDS
    assert "iterated_exp(stable=True): convexity broken on 10% of 400 segments" in (
        claim_c14.value(breaking)
    )


def test_the_log_linear_family_is_reported_not_judged():
    broken = {**SOFTMAX_OK, "nll_undefined": 0.4, "nll_grad_over_one": 1.0}
    result = claim_c14.measure_c14(
        _summary(
            {
                "softmax(stable=False)": _everywhere(broken),
                "iterated_exp(depth=1)": _everywhere(broken),
                "ssmax": _everywhere(broken),
                "iterated_exp": _everywhere({**CLEAN, "nll_convexity_break": 0.2}),
            }
        )
    )
    roles = {entry.label: entry.role for entry in result.labels}
    assert roles == {
        "softmax": "reference",
        "iterated_exp(depth=1)": "log-linear",
        "softmax(stable=False)": "log-linear",
        "ssmax": "log-linear",
        "iterated_exp": "alternative",
    }
    assert claim_c14.verdict(result) == HOLDS
    assert "Same log-linear family (3 labels, not judged)" in claim_c14.text(result)
    # their gradient is softmax's scaled by ln(base)/T: entries beyond 1 are no failure,
    # and the text says whose bound the 1 is
    assert (
        "(3 labels, not judged): no convexity break in any of them; gradient entries beyond "
        "[-1, 1] on up to 100% of vectors (iterated_exp(depth=1)): the family's gradient is "
        "softmax's scaled by ln(base)/T (s ln K for ssmax), so the bound of 1 is base e's at "
        "temperature 1." in claim_c14.value(result)
    )
    calm = claim_c14.measure_c14(
        _summary({"ssmax": _everywhere({**SOFTMAX_OK, "nll_convexity_break": 0.25})})
    )
    assert claim_c14.value(calm).endswith(
        "(1 labels, not judged): largest convexity break rate 25% (ssmax)."
    )


def test_bad_rows_are_one_clear_error():
    rows = _summary({"linear": _everywhere(CLEAN)})
    with pytest.raises(ValueError, match="needs the label 'softmax'"):
        claim_c14.measure_c14(rows[rows["label"] != "softmax"])
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['q95'\]"):
        claim_c14.measure_c14(rows.drop(columns="q95"))
    with pytest.raises(KeyError, match="no C14 measurement of 'relu'"):
        claim_c14.measure_c14(rows).of("relu")


def _measured_summary(methods, scales, n=64, seed=3) -> pd.DataFrame:
    """Summary rows of the NLL metrics measured on seeded vectors, one cell per
    (distribution, scale), K = 5, float64: what the sweep would write for these cells."""
    names = list(nll.NLL_METRICS)
    is_rate = np.array([name in nll.NLL_RATE_METRICS for name in names])
    low, high = (np.array([nll.NLL_METRIC_RANGES[m][i] for m in names]) for i in (0, 1))
    dists = {"normal": {"family": "normal"}, "positive": {"family": "uniform", "low": 0.0}}
    rows = []
    for distribution, spec in dists.items():
        z = sample_z(seed, distribution, spec, 5, n)
        z_far = nll.partner_z(seed, distribution, spec, 5, n)
        y = nll.draw_targets(seed, distribution, 5, n)
        for scale in scales:
            x, x_far = logits(z, scale, "float64"), logits(z_far, scale, "float64")
            for name, params in methods:
                full = check_params(name, params)
                values = nll.nll_metrics(x, x_far, y, name, full)
                cell = summarize(np.column_stack([values[m] for m in names]), is_rate, low, high)
                for j, metric in enumerate(names):
                    rows.append(
                        {
                            "distribution": distribution,
                            "scale": scale,
                            "k": 5,
                            "dtype": "float64",
                            "method": name,
                            "label": label(name, full),
                            "metric": metric,
                            **{field: cell[field][j] for field in cell},
                        }
                    )
    return pd.DataFrame(rows)


def test_end_to_end_on_measured_vectors():
    methods = [("softmax", {}), ("linear", {}), ("sparsemax", {}), ("ssmax", {})]
    rows = _measured_summary(methods, [0.1, 3.0, 300.0])
    result = claim_c14.measure_c14(rows)
    assert claim_c14.verdict(result) == HOLDS
    ref = result.reference
    assert ref.grad_over_one == 0 and ref.convexity_break == 0 and ref.undefined == 0
    assert ref.segments > 200 and ref.gradients == 2 * 3 * 64
    linear = result.of("linear")
    assert linear.convexity_break > 0.05 and "convexity" in linear.failures
    assert result.of("sparsemax").convexity_break == 0  # convex where finite
    by_scale = result.reference_by_scale
    assert [s.scale for s in by_scale] == [0.1, 3.0, 300.0]
    assert by_scale[-1].argmax < 0.1 * by_scale[0].argmax  # right predictions: fades
    assert by_scale[-1].argmin > 1.0  # the worst class: does not
    # the mean NLL rests on the vectors where it is finite: the others are counted apart;
    # softmax's family's is log-softmax's where p_y underflows, finite: every vector counts
    for entry in result.labels:
        infinite = 0.0 if entry.label in ("softmax", "ssmax") else entry.infinite
        finite = entry.vectors * (1.0 - infinite - entry.undefined)
        assert entry.nll_vectors == pytest.approx(finite, abs=1e-6), entry.label
    assert ref.infinite > 0 and ref.nll_vectors == ref.vectors  # p_y underflows at 300
    sparsemax = result.of("sparsemax")
    assert sparsemax.infinite > 0 and sparsemax.nll_vectors < sparsemax.vectors
