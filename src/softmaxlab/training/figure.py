"""The training study's figure: loss curves at each method's best learning rate.

``prepare(table, curves, check, check_curves) -> Data``, ``draw(data) -> Figure``,
``caption(data) -> str``, in the style of :mod:`softmaxlab.figures` (whose look and helpers
it uses). Rows are the data sets, columns the method families of
:data:`softmaxlab.figures.data.FAMILIES`; each line is one method's training loss (mean
over seeds) against the step, at that method's best learning rate
(:func:`softmaxlab.training.study.best_runs`: among the rates without a diverged seed where
there is one, highest mean validation accuracy, then lowest validation NLL), in float32
with Adam. One label per method (its default parameters, as the other figures); the NLL
solid, the Fenchel-Young loss of the sparse maps dashed in the same colour; softmax
repeated grey and dashed in the other families. A map whose loss was not finite at the
study's initial model never trained there; where C15's check trained it (``prepare``'s
``check`` and ``check_curves``: a positive initial bias, for the maps a shift of the
logits changes), its chosen run is drawn dotted in its colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from softmaxlab.figures.data import REFERENCE, family_groups, join_list, representatives
from softmaxlab.figures.style import (
    MARKERS,
    empty_figure,
    legend_above,
    log_axis,
    new_figure,
    palette,
)
from softmaxlab.formatting import number, percent
from softmaxlab.training.study import best_runs

TITLE = "Training loss curves at each method's best learning rate"
DTYPE, OPTIMIZER = "float32", "adam"  # the slice drawn


@dataclass(frozen=True)
class Data:
    """Mean-over-seeds training-loss curves (columns dataset, label, loss, step, loss_mean)
    at the best rates (``best``: one row per dataset, label and loss) and, per line, the
    first step at which a seed's loss was non-finite (``stops``); the same for C15's check
    (``checked``, ``checked_best``, ``checked_stops``): its chosen runs of the drawn maps
    whose loss was not finite at the study's initial model and that took steps there."""

    curves: pd.DataFrame
    best: pd.DataFrame
    stops: dict
    datasets: list[str]
    labels: list[str]
    checked: pd.DataFrame = field(default_factory=pd.DataFrame)
    checked_best: pd.DataFrame = field(default_factory=pd.DataFrame)
    checked_stops: dict = field(default_factory=dict)


def _slice(best: pd.DataFrame) -> pd.DataFrame:
    """The rows of best_runs' table that the figure draws: float32 with Adam."""
    return best[(best["dtype"] == DTYPE) & (best["optimizer"] == OPTIMIZER)]


def _line_keys(frame: pd.DataFrame) -> list[tuple]:
    """The (data set, label, loss) of each row of ``frame``: the key of its line."""
    return list(zip(frame["dataset"], frame["label"], frame["loss"], strict=True))


def _mean_curves(best: pd.DataFrame, curves: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The runs of ``curves`` at each choice of ``best`` (its start and rate), as one
    mean-over-seeds line per (data set, label, loss) over the steps where every seed is
    finite, and the first step where one is not (None: none)."""
    keys = ["dataset", "label", "loss", "init_scale", "init_centre", "learning_rate"]
    chosen = _slice(curves).merge(best[keys], on=keys)
    stops = {}
    rows = []
    for key, runs in chosen.groupby(["dataset", "label", "loss"], sort=False):
        wide = runs.pivot(index="step", columns="seed", values="train_loss").sort_index()
        finite = np.isfinite(wide.to_numpy()).all(axis=1)
        bad = wide.index[~finite]
        stops[key] = int(bad[0]) if len(bad) else None
        kept = wide[finite]
        rows.append(
            pd.DataFrame(
                {
                    "dataset": key[0],
                    "label": key[1],
                    "loss": key[2],
                    "step": kept.index.to_numpy(),
                    "loss_mean": kept.mean(axis=1).to_numpy(),
                }
            )
        )
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()), stops


def prepare(
    table: pd.DataFrame,
    curves: pd.DataFrame,
    check: pd.DataFrame | None = None,
    check_curves: pd.DataFrame | None = None,
) -> Data:
    """The slice the figure draws (float32, Adam, one label per method), and from C15's
    check (its runs ``check`` and their ``check_curves``, None: no check) the chosen runs
    of the maps in it that never trained in the study (some seed's loss not finite at step
    0) and took steps in the check."""
    best = _slice(best_runs(table))
    labels = representatives(best)
    best = best[best["label"].isin(labels)].reset_index(drop=True)
    frame, stops = _mean_curves(best, curves)
    datasets = list(pd.unique(best["dataset"]))
    data = Data(frame, best, stops, datasets, labels)
    if check is None or check.empty or check_curves is None:
        return data
    idle = {key for key, stop in stops.items() if stop == 0}
    again = _slice(best_runs(check))
    again = again[[key in idle for key in _line_keys(again)]]
    checked, checked_stops = _mean_curves(again, check_curves)
    # stepped there: every seed's loss finite at step 0 (a stop at 0 took no step again)
    stepped = {key for key, stop in checked_stops.items() if stop != 0}
    if not stepped:
        return data
    return replace(
        data,
        checked=checked[[key in stepped for key in _line_keys(checked)]].reset_index(drop=True),
        checked_best=again[[key in stepped for key in _line_keys(again)]].reset_index(drop=True),
        checked_stops={key: checked_stops[key] for key in stepped},
    )


def draw(data: Data) -> Figure:
    """Rows = data sets, columns = method families; log-log loss against step (>= 1)."""
    families = family_groups(data.labels)
    if data.curves.empty or not families:
        return empty_figure(TITLE, "no float32 Adam runs in this study")
    fig = new_figure(2.9 * len(data.datasets) + 1.6)
    axes = fig.subplots(len(data.datasets), len(families), sharex=True, sharey=True, squeeze=False)
    lines = pd.concat([data.curves, data.checked], ignore_index=True)  # the axes span both
    shown = lines[(lines["step"] >= 1) & (lines["loss_mean"] > 0)]
    log_axis(axes[0, 0], "x", shown["step"])
    log_axis(axes[0, 0], "y", shown["loss_mean"])
    for j, (family, members) in enumerate(families):
        colours = palette(len(members))
        extra = [REFERENCE] if REFERENCE in data.labels and REFERENCE not in members else []
        handles = {}
        for i, dataset in enumerate(data.datasets):
            ax = axes[i, j]
            for index, label in enumerate([*members, *extra]):
                is_ref = label in extra
                for loss in ("nll", "fenchel_young"):
                    if is_ref and loss != "nll":
                        continue
                    line = _draw_curve(ax, data, dataset, label, loss, index, colours, is_ref)
                    if line is not None:
                        handles.setdefault(line.get_label(), line)
                    if is_ref:
                        continue
                    again = _draw_checked(ax, data, (dataset, label, loss), colours[index])
                    if again is not None:
                        handles.setdefault(again.get_label(), again)
            ax.set_xlabel("step" if i == len(data.datasets) - 1 else "")
            if j == 0:
                ax.set_ylabel(f"{dataset}\ntraining loss (log)")
        axes[0, j].set_title(family, fontweight="bold")
        legend_above(axes[0, j], handles, fontsize=8.5)
    return fig


def _draw_curve(ax, data: Data, dataset, label, loss, index, colours, is_ref):
    """One line (and an x where it stopped); None if there is nothing to draw."""
    rows = data.curves[
        (data.curves["dataset"] == dataset)
        & (data.curves["label"] == label)
        & (data.curves["loss"] == loss)
        & (data.curves["step"] >= 1)
    ]
    stop = data.stops.get((dataset, label, loss))
    if rows.empty and stop is None:
        return None
    name = label if loss == "nll" else f"{label}, Fenchel-Young"
    colour = "0.45" if is_ref else colours[index]
    (line,) = ax.plot(
        rows["step"],
        rows["loss_mean"],
        color=colour,
        marker=None if is_ref else MARKERS[index % len(MARKERS)],
        markersize=3.5,
        linewidth=1.2 if is_ref or loss != "nll" else 1.6,
        linestyle="--" if is_ref or loss != "nll" else "-",
        label=f"{name} (reference)" if is_ref else name,
        zorder=2 if is_ref else 3,
    )
    if stop is not None and not is_ref:
        marker = {"marker": "x", "color": colour, "markersize": 7, "linestyle": "none"}
        if len(rows):  # at the curve's last finite point
            ax.plot([rows["step"].iloc[-1]], [rows["loss_mean"].iloc[-1]], **marker)
        else:  # no step with every seed finite: at step 1 near the top, one row per line
            where = blended_transform_factory(ax.transData, ax.transAxes)
            height = 0.94 - 0.07 * (2 * index + (loss != "nll"))
            ax.plot([1], [height], transform=where, clip_on=False, **marker)
    return line


def _start(row) -> str:
    """Where a check's chosen run started, for a legend or a caption: its initial bias
    where it is not 0, else its initial weights' scale."""
    if row["init_centre"]:
        return f"an initial bias of {number(row['init_centre'])}"
    return f"initial weights of scale {number(row['init_scale'])}"


def _draw_checked(ax, data: Data, key: tuple[str, str, str], colour):
    """C15's check's chosen run of the map ``key`` (data set, label, loss) that never
    trained in the study, dotted in ``colour`` (and an x where a seed's loss stopped being
    finite); None where the check has none."""
    if data.checked.empty:
        return None
    dataset, label, loss = key
    rows = data.checked[
        (data.checked["dataset"] == dataset)
        & (data.checked["label"] == label)
        & (data.checked["loss"] == loss)
        & (data.checked["step"] >= 1)
    ]
    chosen = data.checked_best[
        (data.checked_best["dataset"] == dataset)
        & (data.checked_best["label"] == label)
        & (data.checked_best["loss"] == loss)
    ]
    if rows.empty or chosen.empty:
        return None
    row = chosen.iloc[0]
    start = (
        f"bias {number(row['init_centre'])}"
        if row["init_centre"]
        else f"scale {number(row['init_scale'])}"
    )
    name = label if loss == "nll" else f"{label}, Fenchel-Young"
    (line,) = ax.plot(
        rows["step"],
        rows["loss_mean"],
        linewidth=1.4,
        linestyle=":",
        color=colour,
        label=f"{name}, C15's check ({start})",
        zorder=3,
    )
    if data.checked_stops.get(key) is not None:
        last = (rows["step"].iloc[-1], rows["loss_mean"].iloc[-1])
        marker = {"marker": "x", "markersize": 7, "linestyle": "none", "zorder": 3}
        ax.plot([last[0]], [last[1]], color=colour, **marker)
    return line


def caption(data: Data) -> str:
    """What the figure shows, with the numbers of its slice."""
    if data.best.empty:
        return "No float32 Adam runs in this study: nothing to draw."
    # The loss at step 0 is the initial model's, the same at every rate: a run stopped there
    # never trained, and its rate is only the tie-break's.
    initial = sorted(
        {
            f"{label}" + ("" if loss == "nll" else " (Fenchel-Young)")
            for (_, label, loss), s in data.stops.items()
            if s == 0
        }
    )
    diverged = sorted(
        {
            f"{label}" + ("" if loss == "nll" else " (Fenchel-Young)")
            for (_, label, loss), s in data.stops.items()
            if s is not None and s > 0
        }
    )
    parts = [
        f"Training loss (mean over seeds) against the step for each method's default label, "
        f"in {DTYPE} with Adam, at the learning rate with the best mean validation accuracy "
        f"among those at which no seed diverged, where there is one (ties: lower validation "
        f"NLL; the test part is not used to choose). The NLL is "
        f"solid; the Fenchel-Young loss of the sparse maps dashed (a different quantity "
        f"from the NLL: compare shapes, not levels); softmax is repeated grey and dashed "
        f"in the other families. Steps from 1 on (log "
        f"axes). An x marks where a seed's loss became infinite or NaN: at the curve's last "
        f"point, or, stacked at step 1 near the top of the panel, when some seed's loss was "
        f"not finite even at step 0 (no curve at all).",
    ]
    for dataset in data.datasets:
        rows = data.best[(data.best["dataset"] == dataset) & (data.best["loss"] == "nll")]
        ref = rows[rows["label"] == REFERENCE]
        if not ref.empty:
            r = ref.iloc[0]
            parts.append(
                f"{dataset}: softmax's best rate is {number(r['learning_rate'])} with a final "
                f"train NLL of {number(r['train_nll'], 3)} and a test accuracy of "
                f"{percent(r['test_accuracy'])}."
            )
    if initial:
        parts.append(
            "Not finite at the initial model (weights centred at 0, so every logit starts near "
            "0) in at least one data set, so at every rate (they never trained here; the rate "
            "chosen is a tie's): " + join_list(initial) + ". C15's check starts those a "
            "common shift of the logits changes from positive scores too (its text says how "
            "they train from there)."
        )
    if not data.checked_best.empty:
        runs = []
        for _, r in data.checked_best.iterrows():
            run = (
                f"{r['label']} on {r['dataset']} from {_start(r)} (rate "
                f"{number(r['learning_rate'])}), a test accuracy of {percent(r['test_accuracy'])}"
            )
            stop = data.checked_stops.get((r["dataset"], r["label"], r["loss"]))
            if stop is not None:
                run += f", some seed's loss not finite from step {number(stop)} on (x)"
            runs.append(run)
        parts.append(
            f"Dotted: those of them that C15's check trained (up to "
            f"{number(int(data.checked['step'].max()))} steps, the start and the rate chosen "
            f"on the validation part as above): " + "; ".join(runs) + "."
        )
    if diverged:
        parts.append(
            "Stopped (non-finite loss) during training at their best rate in at least one "
            "data set: " + join_list(diverged) + "."
        )
    return "\n\n".join(parts)
