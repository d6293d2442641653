"""Gradients and the loss: C3 (hardmax vs softmax: differentiable and trainable), C4
(cross-entropy with linear normalisation) and C14 (the cross-entropy link, softmaxlab.claims.c14).

C3's primary measure is the gradient of the training loss, the NLL -ln p_y, with respect to
the logits (C14's rows nll_grad_norm for a uniformly drawn target, the argmax and the
argmin): for softmax it is p - e_y, which does not vanish while the prediction is wrong.
Its secondary measure, labelled as such, is the output's Jacobian along one random unit
direction (the sweep's grad_norm / grad_vanishes): that is not a loss gradient, and its
fading at large scales says that p stops moving, not that training stops.

C4's verdict reads the sweep (linear's invalid share on signed and non-negative logits)
and the finite-difference check; its conditions also say what C15's training study
measured of linear normalisation with the NLL (the settings where it took no step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import pandas as pd

from softmaxlab.formatting import interval, number, percent
from softmaxlab.metrics import GRAD_VANISHING_THRESHOLD

from . import c14
from .common import (
    CONDITIONAL,
    FAILS,
    HOLDS,
    MAIN_DTYPE,
    RATE_SHARE_TOLERANCE,
    Claim,
    Missing,
    Spec,
    nonnegative_support,
    pool,
    sort_rows,
)
from .data import ClaimData

# --- C3 ----------------------------------------------------------------------------------
# "Zero almost everywhere": hardmax's Jacobian may be non-zero only where the finite-difference
# step crosses a tie, which for continuous logits is a vanishing share; we allow 1% of vectors.
C3_ALMOST_EVERYWHERE = 0.99

# --- C4 ----------------------------------------------------------------------------------
# Central differences in float64 with h = eps^(1/3) max(1, |x|) are accurate to about
# eps^(2/3) ~ 4e-11 times the size of the third derivative and of |CE|; for |x| <= ~30 and
# CE <= ~60 that stays below 1e-8, so 1e-7 separates a wrong gradient from rounding.
C4_FD_TOLERANCE = 1e-7
# The seeded vectors, K and scales of the check: softmaxlab.claim_checks (C4_fd).
C4_FD_COLUMNS = ("k", "scale", "vectors", "max_abs_difference", "max_abs_gradient")


@dataclass(frozen=True)
class C3Result:
    """softmax's pooled NLL gradient norm per scale (C14's ScaleGradient: drawn target,
    argmax, argmin, and the share of infinite NLL), hardmax's share of vanishing Jacobian
    (secondary), softmax's vanishing-Jacobian share range over scales (secondary)."""

    by_scale: tuple[c14.ScaleGradient, ...]
    argmax_vanishing: float
    softmax_jacobian_vanishing: tuple[float, float]
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    @property
    def wrong_gradient_min(self) -> float:
        """The smallest (over scales) mean NLL gradient norm with the target = argmin."""
        return min((s.argmin for s in self.by_scale), default=math.nan)

    @property
    def infinite_max(self) -> float:
        """The largest (over scales) share of vectors whose NLL from p is infinite."""
        return max((s.infinite for s in self.by_scale), default=math.nan)


def measure_c3(data: ClaimData) -> C3Result:
    if data.config["grad_vectors"] == 0:
        raise Missing("grad_vectors is 0 in this config: no gradient was measured")
    try:
        result = data.nll()
    except ValueError as error:
        raise Missing(f"C3 reads softmax's NLL gradient (C14's rows): {error}") from None
    by_scale = result.reference_by_scale
    if not by_scale or all(math.isnan(s.argmin) for s in by_scale):
        raise Missing("C3: softmax's NLL gradient was not measured (no float64 rows)")
    rows = data.rows(
        [("argmax", {}), ("softmax", {})], None, [MAIN_DTYPE], ["grad_norm", "grad_vanishes"], "C3"
    )
    pooled = pool(rows, ["label", "metric", "scale"])
    jac = pooled.pivot_table(index=["label", "scale"], columns="metric", values="mean")
    jac = jac.reindex(columns=["grad_norm", "grad_vanishes"]).reset_index()
    jac = jac.rename(
        columns={"grad_norm": "jacobian_norm_mean", "grad_vanishes": "jacobian_vanishing_rate"}
    )
    overall = pool(rows[rows["metric"] == "grad_vanishes"], ["label"]).set_index("label")
    soft = jac[jac["label"] == "softmax"]["jacobian_vanishing_rate"]
    nll = pd.DataFrame([asdict(s) for s in by_scale]).rename(
        columns={
            "uniform": "nll_grad_norm_drawn_target",
            "argmax": "nll_grad_norm_target_argmax",
            "argmin": "nll_grad_norm_target_argmin",
            "infinite": "nll_infinite_rate",
        }
    )
    return C3Result(
        by_scale=by_scale,
        argmax_vanishing=float(overall["mean"].get("argmax", math.nan)),
        softmax_jacobian_vanishing=(float(soft.min()), float(soft.max()))
        if len(soft)
        else (math.nan, math.nan),
        details={
            "C3_nll_gradient": nll,
            "C3_jacobian_secondary": sort_rows(
                jac, {"label": ["argmax", "softmax"], "scale": None}
            ),
        },
    )


def verdict_c3(r: C3Result) -> str:
    if not r.argmax_vanishing >= C3_ALMOST_EVERYWHERE:
        return FAILS
    if not r.wrong_gradient_min >= GRAD_VANISHING_THRESHOLD:
        return FAILS
    return CONDITIONAL if r.infinite_max > RATE_SHARE_TOLERANCE else HOLDS


def value_c3(r: C3Result) -> str:
    low, high = r.by_scale[0], r.by_scale[-1]
    return (
        f"primary, the NLL gradient of softmax (p - y), mean norm from scale "
        f"{number(low.scale)} to {number(high.scale)}: target = argmin (wrong prediction) "
        f"{number(low.argmin, 3)} -> {number(high.argmin, 3)} (smallest "
        f"{number(r.wrong_gradient_min, 3)}), drawn target {number(low.uniform, 3)} -> "
        f"{number(high.uniform, 3)}{high.measured_on()}, target = argmax "
        f"{number(low.argmax, 3)} -> "
        f"{number(high.argmax, 3)}; secondary, the output's Jacobian along one random "
        f"direction (not a loss gradient): below {GRAD_VANISHING_THRESHOLD:g} for "
        f"{percent(r.argmax_vanishing)} of hardmax's vectors and "
        f"{interval(*r.softmax_jacobian_vanishing, rate=True)} of softmax's per scale"
    )


def conditions_c3(r: C3Result) -> str:
    if not r.argmax_vanishing >= C3_ALMOST_EVERYWHERE:
        return f"hardmax's Jacobian is non-zero for {percent(1 - r.argmax_vanishing)} of vectors"
    if not r.wrong_gradient_min >= GRAD_VANISHING_THRESHOLD:
        return "softmax's NLL gradient vanishes although the prediction is wrong"
    if verdict_c3(r) == CONDITIONAL:
        return (
            "the NLL must be computed as x_y - logsumexp(x) (log-softmax): from p itself it is "
            f"infinite for up to {percent(r.infinite_max)} of vectors per scale, where p_y "
            "underflows in float64; the gradient p - y stays finite and does not vanish while "
            "the prediction is wrong"
        )
    return (
        "softmax's NLL gradient p - y stays away from 0 while the prediction is wrong, at "
        "every measured scale; it fades only where the prediction is right"
    )


SPEC_C3 = Spec(
    "C3",
    "argmax (hardmax) is not differentiable; softmax gives every class some probability, "
    "so it is differentiable and trainable.",
    f"Primary: the gradient of the NLL -ln p_y with respect to the logits (C14's rows, "
    f"{MAIN_DTYPE}; target drawn uniformly, = argmax, = argmin), pooled per scale. "
    "Secondary: the output's Jacobian along one random direction (central differences), "
    f"share of vectors below {GRAD_VANISHING_THRESHOLD:g}.",
    verdict_c3,
    value_c3,
    conditions_c3,
    outcomes=(
        "does not hold when hardmax's directional derivative is below "
        f"{GRAD_VANISHING_THRESHOLD:g} on fewer than {C3_ALMOST_EVERYWHERE:.0%} of its "
        "vectors, or when softmax's NLL gradient with a wrong prediction (target = argmin) "
        "has a mean norm below it at some scale; with conditions when the NLL computed from p "
        "is infinite on some vector; holds otherwise. Set by algebra: hardmax is piecewise "
        "constant and ||p - e_argmin|| >= 1 - 1/K >= 1/2, so both tests pass; measured: "
        "where p_y underflows float64, the condition."
    ),
)


def claim_c3(data: ClaimData) -> Claim:
    return SPEC_C3.measured(measure_c3, data)


# ------------------------------------------------------------------------------------ C4


def gradient_check(data: ClaimData) -> pd.DataFrame:
    """Max |central FD of CE - (p - y)| per (K, scale) (C4_FD_COLUMNS), from the check the
    workflow ran on seeded float64 vectors (softmaxlab.claim_checks.softmax_ce_gradient_check:
    CE(x) = -ln softmax(x)_y, whose gradient is p - e_y, Bridle 1990)."""
    cells = data.check("C4_fd", "C4")
    table = cells.rename(columns={"n": "vectors"}).loc[:, list(C4_FD_COLUMNS)]
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class C4Result:
    """Linear's pooled invalid share on non-negative logits (largest over distributions) and
    on signed logits (smallest, largest, and pooled over all signed distributions), and the
    largest |finite differences - (p - y)| of softmax's cross-entropy gradient."""

    positive_invalid: float
    signed_invalid_min: float
    signed_invalid_max: float
    signed_invalid: float
    positive: tuple[str, ...]
    signed: tuple[str, ...]
    fd_max: float
    #: C15's study: the settings where linear normalisation was trained with the NLL, and
    #: in how many of them no run took a step (its loss not finite at the initial model:
    #: a linear model's scores are signed); 0 and 0 without the study or that method.
    training_settings: int = 0
    training_never_steps: int = 0
    #: C15's check: the settings where linear normalisation, trained again, took steps
    #: from a positive initial bias (positive scores), its test accuracy there (lowest,
    #: highest) against softmax's in the same settings, and how many still fall short.
    check_stepped: int = 0
    check_accuracy: tuple[float, float] = (math.nan, math.nan)
    check_reference_accuracy: tuple[float, float] = (math.nan, math.nan)
    check_short: int = 0
    #: Every one of those settings started from a positive bias (positive initial scores)
    check_positive: bool = True
    #: The signed share pooled per K, at the smallest and the largest K: (K, share) each.
    #: It grows with K (a vector is invalid when its logits have both signs: at least
    #: 1 - 2^(1-K) of symmetric ones), so the pooled share is the K grid's.
    signed_by_k: tuple[tuple[int, float], ...] = ()
    details: Mapping[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)


def _c4_training(payload: Mapping | None) -> dict:
    """C4Result's training fields: linear normalisation with the NLL in C15's study (its
    verdict JSON): its settings and those where no run took a step; in C15's check, the
    settings where its chosen runs took steps, each from a non-zero bias
    (TrainingResult.stepped_from_centres, as C15's text reads them), their accuracies
    against softmax's and how many fall short. {} without the study."""
    if payload is None:
        return {}
    # Imported here: softmaxlab.training.verdict imports the verdict strings from claims.
    from softmaxlab.training.verdict import from_json

    result = from_json(payload)
    linear = [c for c in result.comparisons if (c.label, c.loss) == ("linear", "nll")]
    fields = {
        "training_settings": len(linear),
        "training_never_steps": sum(c.never_steps for c in linear),
    }
    stepped = result.stepped_from_centres("linear")
    if stepped:
        accuracy = [c.accuracy for c in stepped]
        reference = [c.reference_accuracy for c in stepped]
        fields.update(
            check_stepped=len(stepped),
            check_accuracy=(min(accuracy), max(accuracy)),
            check_reference_accuracy=(min(reference), max(reference)),
            check_short=sum(c.short for c in stepped),
            check_positive=all(c.init_centre > 0 for c in stepped),
        )
    return fields


def measure_c4(data: ClaimData) -> C4Result:
    dists = {**data.with_support(True), **data.with_support(False)}
    rows = data.rows([("linear", {})], dists, [MAIN_DTYPE], ["invalid", "nan_output"], "C4")
    pooled = pool(rows, ["distribution", "k", "metric"])
    table = pooled.pivot_table(index=["distribution", "k"], columns="metric", values="mean")
    counts = pooled[pooled["metric"] == "invalid"].set_index(["distribution", "k"])["n"]
    # n counts a vector once per scale; every scale of a (distribution, K) reuses the same
    # vectors (and linear's output does not depend on the scale): the distinct ones
    invalid = rows[rows["metric"] == "invalid"]
    distinct = invalid.groupby(["distribution", "k"])["n"].max()
    table = (
        table.reindex(columns=["invalid", "nan_output"])
        .assign(n=counts, independent_vectors=distinct)
        .reset_index()
    )
    table = table.rename(columns={"invalid": "invalid_rate", "nan_output": "nan_rate"})
    support = [
        "non-negative" if nonnegative_support(dists[d]) else "signed" for d in table["distribution"]
    ]
    table.insert(1, "support", support)
    table = sort_rows(table, {"distribution": list(dists), "k": None})
    invalid = rows[rows["metric"] == "invalid"]
    by_dist = pool(invalid, ["distribution"]).set_index("distribution")["mean"]
    pos = tuple(d for d in dists if nonnegative_support(dists[d]) and d in by_dist.index)
    sig = tuple(d for d in dists if not nonnegative_support(dists[d]) and d in by_dist.index)
    signed_rows = invalid[invalid["distribution"].isin(sig)]
    by_k = pool(signed_rows, ["k"]).set_index("k")["mean"].sort_index() if sig else None
    ends = (
        () if by_k is None or by_k.empty else tuple(dict.fromkeys([by_k.index[0], by_k.index[-1]]))
    )
    fd = gradient_check(data)
    return C4Result(
        positive_invalid=float(by_dist[list(pos)].max()) if pos else math.nan,
        signed_invalid_min=float(by_dist[list(sig)].min()) if sig else math.nan,
        signed_invalid_max=float(by_dist[list(sig)].max()) if sig else math.nan,
        signed_invalid=float(pool(signed_rows, ["metric"])["mean"].iloc[0]) if sig else math.nan,
        positive=pos,
        signed=sig,
        fd_max=float(fd["max_abs_difference"].max()),
        **_c4_training(data.training),
        signed_by_k=tuple((int(k), float(by_k[k])) for k in ends),
        details={"C4_linear_invalid": table, "C4_gradient_check": fd},
    )


def _fd_text(r: C4Result) -> str:
    if r.fd_max < C4_FD_TOLERANCE:
        return "with softmax the gradient is exactly p - y (checked by finite differences)"
    return f"the finite-difference check of p - y failed ({number(r.fd_max, 3)})"


def _training_text(r: C4Result) -> str:
    """What C15's study measured of linear normalisation with the NLL, as a clause that
    starts with "; ", or ""."""
    if not r.training_settings:
        return ""
    if r.training_never_steps == 0:
        return f"; in C15's training it took steps in all {r.training_settings} settings"
    out = (
        "; in C15's training (a linear classifier, whose scores are signed) it took no step "
        f"in {r.training_never_steps} of {r.training_settings} settings: the loss was not "
        "finite at the initial model"
    )
    if r.check_stepped:
        start = "positive initial scores" if r.check_positive else "a non-zero initial bias"
        out += (
            f"; from {start} (C15's check) it took steps in "
            f"{r.check_stepped}, to a test accuracy of "
            f"{interval(*r.check_accuracy, rate=True)} against softmax's "
            f"{interval(*r.check_reference_accuracy, rate=True)}, short of it in "
            f"{r.check_short}"
        )
    return out


def verdict_c4(r: C4Result) -> str:
    pos_ok = not r.positive_invalid > RATE_SHARE_TOLERANCE
    sig_ok = not r.signed_invalid_max > RATE_SHARE_TOLERANCE
    if pos_ok and sig_ok:
        return HOLDS if r.fd_max < C4_FD_TOLERANCE else CONDITIONAL
    return CONDITIONAL if pos_ok else FAILS


def _by_k_text(r: C4Result) -> str:
    """ "; per K from 49.2% at K = 2 to 100% at K = 10,000 (...)" or ""."""
    if len(r.signed_by_k) < 2:
        return ""
    (k_low, low), (k_high, high) = r.signed_by_k
    return (
        f"; per K from {percent(low)} at K = {number(k_low)} to {percent(high)} at K = "
        f"{number(k_high)}: a vector with logits of both signs is invalid, so the pooled share "
        "is the K grid's"
    )


def value_c4(r: C4Result) -> str:
    return (
        f"linear gives invalid probabilities for {percent(r.signed_invalid)} of signed vectors "
        "(pooled; per distribution "
        f"{interval(r.signed_invalid_min, r.signed_invalid_max, rate=True)}"
        f": {', '.join(r.signed) or 'none'}{_by_k_text(r)}) and "
        f"{percent(r.positive_invalid)} of non-negative "
        f"ones ({', '.join(r.positive) or 'none'}); softmax dCE/dx = p - y: max |FD - (p - y)| "
        f"= {number(r.fd_max, 3)} (tolerance {C4_FD_TOLERANCE:g})"
    )


def conditions_c4(r: C4Result) -> str:
    v = verdict_c4(r)
    if v == HOLDS or (v == CONDITIONAL and not r.signed_invalid_max > RATE_SHARE_TOLERANCE):
        first = "linear was valid on every measured vector"
    elif v == CONDITIONAL:
        first = (
            "cross-entropy needs positive outputs: with linear normalisation only for "
            "positive scores (a zero score gives its class p = 0, an infinite loss); signed "
            "logits give negative entries or entries > 1"
        )
    else:
        first = f"linear is invalid even on non-negative logits ({percent(r.positive_invalid)})"
    return f"{first}{_training_text(r)}; {_fd_text(r)}"


SPEC_C4 = Spec(
    "C4",
    "Cross-entropy does not depend on softmax: it can be used with linear normalisation.",
    f"Share of vectors where linear's output is not a probability vector ({MAIN_DTYPE}), "
    "signed vs non-negative logits, pooled; dCE/dx = p - y for softmax against central "
    "differences on seeded vectors; in C15's training study, the settings where linear "
    "normalisation with the NLL took no step.",
    verdict_c4,
    value_c4,
    conditions_c4,
    outcomes=(
        "holds when linear's output is a probability vector on every measured vector, signed "
        "and non-negative, and softmax's gradient p - y passes the finite-difference check "
        f"(within {C4_FD_TOLERANCE:g}); with conditions when linear is valid on non-negative "
        "logits only, or the check fails; does not hold when linear is invalid on "
        "non-negative logits. Set by algebra once the config has a signed distribution: a "
        "vector with logits of both signs makes linear's output leave [0, 1] (at least "
        "1 - 2^(1-K) of symmetric vectors), so 'with conditions' comes out; measured: how "
        "often, per distribution."
    ),
)


def claim_c4(data: ClaimData) -> Claim:
    return SPEC_C4.measured(measure_c4, data)


# ----------------------------------------------------------------------------------- C14


def headline_c14(r: c14.C14Result) -> tuple[str, float]:
    losing = sum(1 for entry in r.alternatives if entry.failures)
    sparse = (
        ", the sparse maps only where their output is zero or the gradient steep, which "
        "their own Fenchel-Young loss avoids"
        if c14.sparse_only(r)
        else ""
    )
    return (
        "Why exp: the log of a softmax probability is the logit minus log-sum-exp, so the "
        "cross-entropy loss is convex in the logits with gradient p - y: it is the loss "
        "matched to softmax (its Fenchel-Young loss); paired with it, "
        "of the other normalisations measured (softmax's re-parametrisations aside), "
        f"{number(losing)} lose this somewhere (their loss is undefined, infinite or not "
        f"convex there, or its gradient leaves the bounds that p - y keeps{sparse}) (C14).",
        float(losing),
    )


SPEC_C14 = Spec(
    "C14",
    c14.STATEMENT,
    f"Per method ({MAIN_DTYPE}, the sweep's NLL rows): NLL gradient norm (target drawn "
    "uniformly, = argmax, = argmin), share of vectors with an infinite or undefined NLL, "
    "share of seeded segments breaking midpoint convexity; pooled per label and per "
    "(distribution, scale).",
    c14.verdict,
    c14.value,
    c14.conditions,
    headline_c14,
    outcomes=(
        "does not hold when softmax fails one of its checks (entries of p - y in [-1, 1], "
        "midpoint convexity, a defined NLL) or no alternative loses the property (an "
        "undefined NLL, a convexity break, an infinite NLL of its own, a gradient entry "
        "beyond [-1, 1]) anywhere; "
        "holds when some alternative loses it in every measured (distribution, scale); with "
        "conditions otherwise. Set by algebra and the methods configured: softmax's checks "
        "are theorems (the NLL is logsumexp(x) - x_y), and with alternatives such as argmax "
        "(whose NLL is infinite wherever the target is not the largest logit) among the "
        "methods, 'holds' comes out; measured: which alternatives lose it, where, and how "
        "often."
    ),
)


def claim_c14(data: ClaimData) -> Claim:
    if data.config["grad_vectors"] == 0:
        return SPEC_C14.not_measured("grad_vectors is 0 in this config: no NLL was measured")
    try:
        result = data.nll()
    except ValueError as error:
        return SPEC_C14.not_measured(str(error))
    table = pd.DataFrame([asdict(entry) for entry in result.labels])
    return SPEC_C14.row(result, {"C14_by_label": table})
