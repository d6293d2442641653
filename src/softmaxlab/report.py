"""The self-contained HTML report: one page, read top to bottom, that renders offline.

``build_report`` turns the workflow's tables and figures into a single HTML5 document:
the question, a short answer in numbers built from the claims verdicts, the claims ledger
with one paragraph and the detail tables per claim, the worked example x = [2, 4, 2, 1],
every figure (SVG embedded as a base64 ``data:`` URI, so ids inside different SVGs never
clash), the pivot tables, a glossary of the methods and metrics (pulled from the library's
docstrings, so the report says what the code does) and the run manifest.

The page has no JavaScript, no external stylesheet, font or image and no network
reference; every piece of text from the data goes through ``html.escape``. Nothing in it
is typed in by hand except the question and the prose that frames the sections: every
number comes from the inputs.
"""

from __future__ import annotations

import base64
import html
import importlib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from softmaxlab import metrics as metrics_module
from softmaxlab import stats as stats_module
from softmaxlab import tables as tables_module

#: The thread's example vector (claim C1); the worked-example table has one column per entry.
WORKED_X: tuple[float, ...] = (2.0, 4.0, 2.0, 1.0)
#: Tables longer than this show their first rows only, with a note giving the full length
#: and the CSV that holds every row (keeps the page small for large sweeps).
MAX_TABLE_ROWS = 250
#: Detail tables with at most this many rows are shown expanded; longer ones start folded.
OPEN_DETAIL_ROWS = 12
VERDICTS: dict[str, str] = {
    "holds": "holds",
    "holds with conditions": "conditional",
    "does not hold": "fails",
}

FigureText = Callable[[str, pd.DataFrame], tuple[str, str]]


# ---------------------------------------------------------------- formatting helpers


def esc(value) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def fmt_number(value, digits: int = 4) -> str:
    """A number as a reader wants it: ``digits`` significant figures, no float noise.

    Integers (and integral floats below 1e9) get thousands separators; magnitudes in
    [1e-3, 1e9) are written positionally with ``digits`` significant figures; others in
    scientific notation with at most ``digits`` significant figures (1.2e-07); NaN is
    "NaN", infinities are "inf" / "-inf". Non-numbers are returned as ``str(value)``.
    """
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, Integral):
        return f"{int(value):,}"
    if not isinstance(value, Real):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    a = abs(x)
    if x == round(x) and a < 1e9:
        return f"{int(round(x)):,}"
    if a < 1e-3 or a >= 1e9:
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{exponent}"
    if a >= 1:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(a))))
        text = f"{x:,.{decimals}f}"
    else:
        text = f"{x:.{digits}g}"
        if "e" in text:  # rounding pushed it across a power of ten
            text = f"{float(text):.{digits}g}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_fixed(value, decimals: int = 4) -> str:
    """Floats with a fixed number of decimals (the worked example's 4); others as fmt_number."""
    if isinstance(value, bool | np.bool_ | Integral) or not isinstance(value, Real):
        return fmt_number(value)
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return fmt_number(x)
    return f"{x:.{decimals}f}"


def slug(text: str) -> str:
    """An HTML id fragment: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def _cell(value, formatter: Callable) -> str:
    numeric = isinstance(value, Real) and not isinstance(value, bool | np.bool_)
    cls = ' class="num"' if numeric else ""
    if value is None or (numeric and math.isnan(float(value))):
        cls = ' class="num na"'
    return f"<td{cls}>{esc(formatter(value))}</td>"


def _header_text(label) -> str:
    if isinstance(label, tuple):
        return " / ".join(str(part) for part in label if str(part) != "")
    return str(label)


def table_html(
    frame: pd.DataFrame,
    *,
    index: bool = False,
    formatter: Callable = fmt_number,
    formatters: Mapping[str, Callable] | None = None,
    max_rows: int = MAX_TABLE_ROWS,
    source: str | None = None,
    cell_html: Callable[[str, object], str | None] | None = None,
    classes: str = "data",
) -> str:
    """A DataFrame as an escaped HTML table in a horizontally scrolling box.

    ``formatters`` maps column names to their own formatter; ``cell_html(column, value)``
    may return a complete ``<td>`` for special cells (it must escape what it inserts).
    Longer frames than ``max_rows`` show their first ``max_rows`` rows and say so,
    naming ``source`` (where every row is) when given.
    """
    formatters = dict(formatters or {})
    shown = frame.iloc[:max_rows]
    head = []
    if index:
        names = [n if n is not None else "" for n in frame.index.names]
        head += [f'<th scope="col">{esc(_header_text(n))}</th>' for n in names]
    head += [f'<th scope="col">{esc(_header_text(c))}</th>' for c in frame.columns]
    rows = []
    for key, row in zip(shown.index, shown.itertuples(index=False, name=None), strict=True):
        cells = []
        if index:
            keys = key if isinstance(key, tuple) else (key,)
            cells += [f'<th scope="row">{esc(fmt_number(k))}</th>' for k in keys]
        for column, value in zip(frame.columns, row, strict=True):
            special = cell_html(column, value) if cell_html else None
            if special is not None:
                cells.append(special)
            else:
                cells.append(_cell(value, formatters.get(column, formatter)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = ""
    if len(frame) > max_rows:
        where = f"; every row is in {esc(source)}" if source else ""
        note = f'<p class="note">Showing the first {max_rows:,} of {len(frame):,} rows{where}.</p>'
    return (
        f'<div class="table-wrap"><table class="{esc(classes)}">'
        f"<thead><tr>{''.join(head)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}"
    )


def verdict_class(verdict) -> str:
    """CSS class for a verdict: holds / conditional / fails, "unknown" for anything else."""
    return VERDICTS.get(str(verdict).strip().lower(), "unknown")


def verdict_badge(verdict) -> str:
    return f'<span class="verdict v-{verdict_class(verdict)}">{esc(verdict)}</span>'


def _text(value) -> str:
    """Escaped text of a ledger field; empty for NaN/None, numbers formatted."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, Real) and not isinstance(value, bool | np.bool_):
        return esc(fmt_number(value))
    return esc(value)


def claim_of(name: str) -> str | None:
    """The claim id a detail table belongs to: 'C7' and 'C7_thresholds' -> 'C7', else None."""
    match = re.match(r"(C\d+)(?:_|$)", str(name))
    return match.group(1) if match else None


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ").strip()


def _docstring(obj) -> str:
    doc = inspect.getdoc(obj) if obj is not None else None
    return inspect.cleandoc(doc) if doc else ""


def _paragraphs(text: str) -> str:
    """Plain docstring text as escaped paragraphs (blank lines separate them)."""
    parts = [p.replace("\n", " ").strip() for p in text.split("\n\n")]
    return "".join(f"<p>{_rst_inline(esc(p))}</p>" for p in parts if p)


def _rst_inline(escaped: str) -> str:
    """Docstring markup in already escaped text: ``code`` and :role:`name` become <code>."""
    escaped = re.sub(r":[a-z]+:`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"``(.+?)``", r"<code>\1</code>", escaped)


# ---------------------------------------------------------------- sections


def sweep_overview(summary: pd.DataFrame) -> dict:
    """What the sweep covered, from the tidy summary: cells, vectors, evaluations.

    Uses one metric's rows only (``overflow`` if present: it is 0/1 for every vector, so
    its ``n`` is the number of vectors of the cell), which keeps this cheap on a table of
    a million rows.
    """
    if summary.empty or "metric" not in summary:
        return {}
    metric = "overflow" if (summary["metric"] == "overflow").any() else summary["metric"].iloc[0]
    rows = summary.loc[
        summary["metric"] == metric, ["distribution", "scale", "k", "dtype", "label", "n"]
    ]
    cell_keys = ["distribution", "scale", "k", "dtype"]
    per_cell = rows.groupby(cell_keys, sort=False)["n"].max()
    return {
        "distributions": list(dict.fromkeys(rows["distribution"])),
        "scales": sorted(set(rows["scale"])),
        "k": sorted(set(rows["k"])),
        "dtypes": list(dict.fromkeys(rows["dtype"])),
        "labels": list(dict.fromkeys(rows["label"])),
        "cells": len(per_cell),
        "vectors": int(per_cell.sum()),
        "evaluations": int(rows["n"].sum()),
        "rows": len(summary),
    }


def _worked_value(worked_example: pd.DataFrame, label: str) -> float | None:
    """p at the position of max x for one method label of the worked example, if present."""
    column = f"p{int(np.argmax(WORKED_X)) + 1}"
    if "label" not in worked_example or column not in worked_example:
        return None
    match = worked_example.loc[worked_example["label"] == label, column]
    return float(match.iloc[0]) if len(match) else None


def answer_section(claims: pd.DataFrame, worked_example: pd.DataFrame, overview: dict) -> str:
    """Verdict counts with links, the worked example's headline numbers, the sweep's size,
    and every claim that does not simply hold, with its measured value and conditions."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for row in claims.itertuples(index=False):
        groups.setdefault(str(row.verdict), []).append((str(row.claim), verdict_class(row.verdict)))
    known = [v for v in VERDICTS if v in groups]
    order = known + [v for v in groups if v not in VERDICTS]
    glance = "".join(
        f'<tr><td>{verdict_badge(verdict)}</td><td class="num">{len(groups[verdict])}</td>'
        "<td>"
        + " ".join(f'<a href="#claim-{slug(c)}">{esc(c)}</a>' for c, _ in groups[verdict])
        + "</td></tr>"
        for verdict in order
    )
    lines = [
        f"<p>The ledger tests <strong>{len(claims)}</strong> claims of the discussion. Each "
        "verdict is decided by code from the measurements, with the tolerances stated in the "
        '<a href="#claims">claims</a> section.</p>',
        f'<div class="table-wrap"><table class="data glance"><thead><tr><th scope="col">verdict'
        '</th><th scope="col">claims</th><th scope="col">which</th></tr></thead>'
        f"<tbody>{glance}</tbody></table></div>",
    ]
    x_text = ", ".join(fmt_number(v) for v in WORKED_X)
    picks = [
        (label, _worked_value(worked_example, label)) for label in ("argmax", "softmax", "linear")
    ]
    picks = [(label, value) for label, value in picks if value is not None]
    if picks:
        said = ", ".join(
            f"<code>{esc(label)}</code> {esc(fmt_fixed(value))}" for label, value in picks
        )
        lines.append(
            f"<p>On the thread's example x = [{x_text}] the largest score receives: {said} "
            '(every method: <a href="#worked-example">worked example</a>).</p>'
        )
    if overview:
        lines.append(
            f"<p>The sweep: {overview['vectors']:,} sampled logit vectors in "
            f"{overview['cells']:,} cells ({_count(overview['distributions'], 'distribution')}"
            f" &times; {_count(overview['scales'], 'scale')} &times; "
            f"{_count(overview['k'], 'value')} of K &times; "
            f"{_count(overview['dtypes'], 'float format')}), each through "
            f"{_count(overview['labels'], 'method variant')}: {overview['evaluations']:,} "
            "normalisations.</p>"
        )
    qualified = [
        row for row in claims.itertuples(index=False) if verdict_class(row.verdict) != "holds"
    ]
    if qualified:
        items = []
        for row in qualified:
            value = _text(getattr(row, "value", ""))
            conditions = _text(getattr(row, "conditions", ""))
            items.append(
                f'<li><a href="#claim-{slug(row.claim)}">{esc(row.claim)}</a> '
                f"{verdict_badge(row.verdict)} {_text(row.statement)}"
                + (
                    f'<span class="sub"><span class="lead">Measured:</span> {value}</span>'
                    if value
                    else ""
                )
                + (
                    f'<span class="sub"><span class="lead">Conditions:</span> {conditions}</span>'
                    if conditions
                    else ""
                )
                + "</li>"
            )
        lines.append(
            "<p>Where the discussion needs qualifying:</p>"
            f'<ul class="answers">{"".join(items)}</ul>'
        )
    return "".join(lines)


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _ledger_cell(column, value) -> str | None:
    if column == "verdict":
        return f"<td>{verdict_badge(value)}</td>"
    if column == "claim":
        return f'<td><a href="#claim-{slug(value)}">{esc(value)}</a></td>'
    return None


def _detail_block(name: str, table: pd.DataFrame) -> str:
    source = f"results/tables/claim_details/claim_{name}.csv"
    opened = " open" if len(table) <= OPEN_DETAIL_ROWS else ""
    return (
        f'<details class="detail" id="detail-{slug(name)}"{opened}>'
        f"<summary>Detail table <code>{esc(name)}</code> ({len(table):,} rows)</summary>"
        f"{table_html(table, source=source)}</details>"
    )


def claims_section(claims: pd.DataFrame, claim_details: Mapping[str, pd.DataFrame]) -> str:
    # The ledger at a glance; what was measured and the conditions follow per claim.
    order = [c for c in ("claim", "verdict", "statement", "value") if c in claims]
    parts = [
        "<p>Each claim of the discussion restated as a measurable hypothesis, the measured "
        "value and the verdict: <em>holds</em>, <em>holds with conditions</em> (true only "
        "in part of the sweep, stated in the conditions) or <em>does not hold</em>. Below "
        "the ledger, each claim with how it was measured, its conditions and the tables "
        "behind it (results/tables/claims.csv and results/tables/claim_details/).</p>",
        table_html(
            claims[order],
            formatter=lambda v: (
                "" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt_number(v)
            ),
            cell_html=_ledger_cell,
            classes="data ledger",
            max_rows=len(claims) + 1,
        ),
    ]
    for row in claims.itertuples(index=False):
        claim = str(row.claim)
        paragraph = [
            f'<section class="claim v-border-{verdict_class(row.verdict)}" '
            f'id="claim-{slug(claim)}">',
            f"<h3>{esc(claim)} {verdict_badge(row.verdict)}</h3>",
            f'<p><span class="lead">Claim.</span> {_text(row.statement)}</p>',
        ]
        measure = _text(getattr(row, "measure", ""))
        value = _text(getattr(row, "value", ""))
        if measure:
            paragraph.append(f'<p><span class="lead">Measure.</span> {measure}</p>')
        if value:
            paragraph.append(
                f'<p><span class="lead">Measured.</span> <strong class="value">{value}</strong></p>'
            )
        conditions = _text(getattr(row, "conditions", ""))
        if conditions:
            paragraph.append(f'<p><span class="lead">Conditions.</span> {conditions}</p>')
        for name in sorted(claim_details, key=_natural_key):
            if claim_of(name) == claim:
                paragraph.append(_detail_block(name, claim_details[name]))
        paragraph.append("</section>")
        parts.append("".join(paragraph))
    return "".join(parts)


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def worked_example_section(worked_example: pd.DataFrame) -> str:
    x_text = ", ".join(fmt_number(v) for v in WORKED_X)
    floats = {
        c: fmt_fixed
        for c in worked_example.columns
        if pd.api.types.is_float_dtype(worked_example[c])
    }
    return (
        f"<p>The thread's vector x = [{x_text}] through every configured method, computed in "
        "float64 and shown to 4 decimals; p1..p4 are the probabilities of the four entries "
        "(the largest score is entry 2).</p>"
        + table_html(
            worked_example,
            formatters=floats,
            max_rows=len(worked_example) + 1,
            classes="data worked",
        )
    )


def _data_uri(path: Path) -> str:
    mime = {
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
    }.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _default_figure_text(name: str, summary: pd.DataFrame) -> tuple[str, str]:
    figures_module = importlib.import_module("softmaxlab.figures")
    return figures_module.title(name), figures_module.caption(name, summary)


def figures_section(
    figures: Mapping[str, str | Path], summary: pd.DataFrame, figure_text: FigureText
) -> tuple[str, list[tuple[str, str]]]:
    """Every figure as <figure> with a base64 <img>, its title and caption; and TOC entries."""
    parts, toc = [], []
    for number, (name, path) in enumerate(figures.items(), start=1):
        title, caption = figure_text(name, summary)
        anchor = f"fig-{slug(name)}"
        toc.append((anchor, f"Figure {number}. {title}"))
        parts.append(
            f'<figure id="{anchor}">'
            f"<h3>Figure {number}. {esc(title)}</h3>"
            f'<img src="{_data_uri(Path(path))}" alt="{esc(f"Figure {number}: {title}")}">'
            f"<figcaption>{_paragraphs(str(caption))}"
            f'<p class="note">Source: <code>{esc(Path(path).name)}</code> '
            f"(figure <code>{esc(name)}</code>).</p></figcaption></figure>"
        )
    return "".join(parts), toc


def pivots_section(pivots: Mapping[str, pd.DataFrame]) -> tuple[str, list[tuple[str, str]]]:
    """Each pivot under its title and description from softmaxlab.tables.PIVOTS, rendered by
    tables.to_html (rates as percentages, exact values in each cell's title attribute);
    a pivot unknown to that registry is shown as a plain table under its name."""
    parts, toc = [], []
    for name, table in pivots.items():
        anchor = f"table-{slug(name)}"
        spec = tables_module.PIVOTS.get(name)
        if spec is None:
            title, description = name, ""
            body = table_html(table, index=True, source=f"results/tables/pivot_{name}.csv")
        else:
            title, description = spec.title, inspect.cleandoc(spec.__doc__ or "")
            shown = table.copy()
            shown.attrs = {"columns": spec.columns}
            body = (
                '<div class="table-wrap">'
                + tables_module.to_html(shown, percent=spec.percent, title="")
                + "</div>"
            )
        toc.append((anchor, title))
        parts.append(
            f'<section class="pivot" id="{anchor}"><h3>{esc(title)}</h3>'
            + _paragraphs(description)
            + body
            + f'<p class="note">Table <code>{esc(name)}</code>: results/tables/pivot_'
            f"{esc(name)}.csv.</p></section>"
        )
    return "".join(parts), toc


def metric_definitions() -> dict[str, str]:
    """metric -> definition, from softmaxlab.metrics.DEFINITIONS (one place for both the
    report and the README)."""
    return {metric: metrics_module.DEFINITIONS[metric] for metric in metrics_module.METRICS}


def _param_text(value) -> str:
    if isinstance(value, float) and value == math.e:
        return "e"
    return str(value)


def glossary_section(method_names: list[str]) -> str:
    methods_module = importlib.import_module("softmaxlab.methods")
    method_items = []
    for name in method_names:
        try:
            defaults = methods_module.method_defaults(name)
            doc = inspect.cleandoc(methods_module.method_doc(name) or "")
        except ValueError:  # a name in the data that this version of the library lacks
            defaults, doc = {}, ""
        params = ", ".join(f"{key}={_param_text(value)}" for key, value in defaults.items())
        method_items.append(
            f'<dt id="method-{slug(name)}"><code>{esc(name)}</code>'
            + (f' <span class="params">(defaults: {esc(params)})</span>' if params else "")
            + f"</dt><dd>{_paragraphs(doc)}</dd>"
        )
    # Metrics defined by one shared docstring (underflow and the errors) share one entry.
    metric_items = []
    definitions = list(metric_definitions().items())
    for index, (metric, text) in enumerate(definitions):
        metric_items.append(
            f'<dt id="metric-{slug(metric)}"><code>{esc(metric)}</code>'
            + (
                ' <span class="params">(rate)</span>'
                if metric in metrics_module.RATE_METRICS
                else ""
            )
            + "</dt>"
        )
        following = definitions[index + 1][1] if index + 1 < len(definitions) else None
        if text != following:
            metric_items.append(f"<dd>{_paragraphs(text)}</dd>")
    return (
        '<h3 id="glossary-methods">Methods</h3>'
        "<p>Each method maps a logit vector x to a vector p on the simplex; the label of a "
        "variant spells out the parameters that differ from these defaults.</p>"
        f'<dl class="glossary">{"".join(method_items)}</dl>'
        '<h3 id="glossary-metrics">Metrics</h3>'
        f"{_paragraphs(_docstring(metrics_module))}"
        f'<dl class="glossary">{"".join(metric_items)}</dl>'
        '<h3 id="glossary-statistics">Summaries and intervals</h3>'
        f"{_paragraphs(_docstring(stats_module))}"
    )


def _plain(value):
    """Config values as plain YAML-able Python objects (numpy scalars, tuples, mappings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def manifest_section(manifest: Mapping, overview: dict) -> str:
    run_time = manifest.get("run_time", {}) or {}
    facts = [
        ("seed", None if manifest.get("seed") is None else str(manifest["seed"])),
        ("platform", manifest.get("platform")),
        ("sweep jobs", run_time.get("jobs")),
        ("sweep job time, total (s)", run_time.get("total_job_seconds")),
        ("sweep job time, longest (s)", run_time.get("longest_job_seconds")),
    ]
    if overview:
        facts += [
            ("cells", overview["cells"]),
            ("logit vectors", overview["vectors"]),
            ("normalisations (vectors x methods)", overview["evaluations"]),
            ("summary rows", overview["rows"]),
        ]
    rows = "".join(
        f'<tr><th scope="row">{esc(key)}</th><td class="num">{esc(fmt_number(value))}</td></tr>'
        for key, value in facts
        if value is not None
    )
    versions = manifest.get("versions", {}) or {}
    version_rows = "".join(
        f'<tr><th scope="row">{esc(name)}</th><td>{esc(version)}</td></tr>'
        for name, version in versions.items()
    )
    config_yaml = yaml.safe_dump(
        _plain(manifest.get("config", {})), sort_keys=False, default_flow_style=None, width=88
    )
    return (
        "<p>What this report was made from. With parallel jobs the sweep's wall time lies "
        "between the longest job and the total.</p>"
        f'<div class="table-wrap"><table class="data facts"><tbody>{rows}</tbody></table></div>'
        '<h3 id="manifest-versions">Package versions</h3>'
        f'<div class="table-wrap"><table class="data facts"><tbody>{version_rows}'
        "</tbody></table></div>"
        '<h3 id="manifest-config">Config</h3>'
        f'<pre class="config">{esc(config_yaml)}</pre>'
    )


# ---------------------------------------------------------------- page

CSS = """
:root { --fg: #1d1f23; --muted: #5b6270; --line: #d8dce3; --bg-alt: #f5f7fa;
  --accent: #2556a3; --ok: #1e6b3a; --ok-bg: #dff3e4; --mid: #7a5200; --mid-bg: #fff0c7;
  --bad: #8f1d1d; --bad-bg: #fbdcdc; }
* { box-sizing: border-box; }
html { font-size: 16px; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Noto Sans", "Liberation Sans", sans-serif; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; border-bottom: 3px solid var(--accent); }
h1 { font-size: 2rem; margin: 0 0 .3em; line-height: 1.2; }
h2 { font-size: 1.45rem; margin: 2.2em 0 .6em; padding-bottom: .2em;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.12rem; margin: 1.6em 0 .5em; }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas,
  "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: .9em; }
.question { font-size: 1.1rem; background: var(--bg-alt); border-left: 4px solid var(--accent);
  padding: .8em 1.1em; margin: 1em 0 1.4em; }
.formula { font-family: "Cambria Math", "STIX Two Math", "Latin Modern Math", Georgia, serif;
  white-space: nowrap; }
nav.toc { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px;
  padding: .6em 1.2em; margin: 1.5em 0; }
nav.toc h2 { border: 0; margin: .3em 0; font-size: 1.1rem; }
nav.toc ol { margin: .2em 0; padding-left: 1.2em; list-style: none; }
nav.toc > ol { padding-left: 0; }
nav.toc ol.columns { columns: 2; column-gap: 2em; font-size: .92em; }
nav.toc ol.inline li { display: inline; margin-right: .7em; }
.verdict { display: inline-block; padding: .05em .55em; border-radius: 999px; font-size: .82rem;
  font-weight: 600; white-space: nowrap; vertical-align: .08em; border: 1px solid transparent; }
.v-holds { color: var(--ok); background: var(--ok-bg); border-color: #9fd3ae; }
.v-conditional { color: var(--mid); background: var(--mid-bg); border-color: #e8c770; }
.v-fails { color: var(--bad); background: var(--bad-bg); border-color: #e9a0a0; }
.v-unknown { color: var(--muted); background: #eceef2; border-color: var(--line); }
ul.answers { padding-left: 1.2em; }
ul.answers li { margin: .5em 0; }
ul.answers .sub { display: block; font-size: .92em; margin-left: .2em; }
.value { font-variant-numeric: tabular-nums; }
section.claim { border-left: 4px solid var(--line); padding: .1em 0 .3em 1em; margin: 1.2em 0; }
section.claim h3 { margin-top: .4em; }
section.claim p { margin: .35em 0; }
.v-border-holds { border-left-color: #5bb174; }
.v-border-conditional { border-left-color: #e0b13a; }
.v-border-fails { border-left-color: #d05a5a; }
.lead { font-weight: 600; color: var(--muted); }
.table-wrap { overflow-x: auto; max-width: 100%; margin: .6em 0; }
table.data, table.pivot { border-collapse: collapse; font-size: .86rem;
  font-variant-numeric: tabular-nums; }
table.data th, table.pivot th, table.data td, table.pivot td {
  border: 1px solid var(--line); padding: .25em .55em; vertical-align: top; text-align: left; }
table.data thead th, table.pivot thead th { background: #e9edf3; position: sticky; top: 0; }
table.data tbody tr:nth-child(even), table.pivot tbody tr:nth-child(even) {
  background: var(--bg-alt); }
table.data tbody th, table.pivot tbody th { background: #f0f2f6; font-weight: 600;
  white-space: nowrap; }
table.data td.num, table.pivot td.num { text-align: right; white-space: nowrap; }
table.data td.na, table.pivot td.na { color: #9aa1ad; }
table.ledger { width: 100%; }
table.ledger td:nth-child(2) { white-space: nowrap; }
table.ledger td:nth-child(3) { width: 45%; }
table.facts th { width: 17em; }
details.detail { margin: .6em 0; }
details.detail > summary { cursor: pointer; color: var(--accent); }
figure { margin: 1.6em 0 2.2em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
  background: #fff; }
figcaption { color: var(--fg); font-size: .95rem; margin-top: .4em; }
figcaption p { margin: .3em 0; }
.note { color: var(--muted); font-size: .85rem; }
dl.glossary dt { font-weight: 600; margin-top: .7em; }
dl.glossary dd { margin: .1em 0 0 1.5em; }
dl.glossary dd p { margin: .2em 0; }
.params { font-weight: 400; color: var(--muted); font-size: .9em; }
pre.config { background: var(--bg-alt); border: 1px solid var(--line); padding: .8em 1em;
  overflow-x: auto; line-height: 1.35; }
footer { color: var(--muted); font-size: .85rem; padding-top: 2em; padding-bottom: 3em; }
@media print { nav.toc ol.columns { columns: 1; } details.detail { display: block; } }
"""

QUESTION = (
    "<p>Softmax turns a score vector x into probabilities with "
    '<span class="formula">p<sub>j</sub> = e<sup>x<sub>j</sub></sup> / '
    "&sum;<sub>k</sub> e<sup>x<sub>k</sub></sup></span>. "
    "Why exp, and not the plain normalisation "
    '<span class="formula">p<sub>j</sub> = x<sub>j</sub> / &sum;<sub>k</sub> x<sub>k</sub></span>? '
    "Is there a reason beyond numerics, and why not e<sup>e<sup>e<sup>x</sup></sup></sup>, "
    "or base 3 or 4?</p>"
    '<p class="note">The question comes from a Cross Validated (Stack Exchange) thread. '
    "This report restates each claim made in its answers as a measurable hypothesis, "
    "measures it, and gives a verdict computed from the data.</p>"
)


def _toc(entries: list[tuple[str, str, list[tuple[str, str]]]]) -> str:
    items = []
    for anchor, title, children in entries:
        sub = ""
        if children:
            # Short labels (claim ids) run inline; longer ones (figure titles) in columns.
            inline = all(len(t) <= 4 for _, t in children)
            sub = (
                f'<ol class="{"inline" if inline else "columns"}">'
                + "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in children)
                + "</ol>"
            )
        items.append(f'<li><a href="#{esc(anchor)}">{esc(title)}</a>{sub}</li>')
    return (
        f'<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'
    )


def build_report(
    summary: pd.DataFrame,
    claims: pd.DataFrame,
    claim_details: Mapping[str, pd.DataFrame],
    worked_example: pd.DataFrame,
    pivots: Mapping[str, pd.DataFrame],
    figures: Mapping[str, str | Path],
    manifest: Mapping,
    *,
    figure_text: FigureText | None = None,
    title: str = "Why exp? Softmax and its alternatives, measured",
) -> str:
    """The complete self-contained HTML page (a str), from the workflow's outputs.

    summary: the tidy table (only a few columns of one metric are read here; the whole
    frame is handed to the figure captions). claims: the ledger (claim, statement,
    measure, value, verdict, conditions). claim_details: name -> table; a name starting
    with a claim id ('C7', 'C7_thresholds') is shown under that claim, others in an
    appendix. worked_example: one row per method label for x = [2, 4, 2, 1]. pivots:
    name -> table (index = row labels). figures: name -> SVG (or PNG) path, embedded as
    base64 data URIs. manifest: softmaxlab.manifest.run_manifest's dict.
    figure_text(name, summary) -> (title, caption) defaults to softmaxlab.figures'
    ``title`` and ``caption``.
    """
    if figure_text is None:
        figure_text = _default_figure_text
    claims = claims.reset_index(drop=True)
    overview = sweep_overview(summary)
    figures_html, figure_toc = figures_section(figures, summary, figure_text)
    pivots_html, pivot_toc = pivots_section(pivots)
    claim_ids = {str(c) for c in claims.get("claim", [])}
    orphans = {
        name: table
        for name, table in sorted(claim_details.items(), key=lambda item: _natural_key(item[0]))
        if claim_of(name) not in claim_ids
    }
    method_names = _method_names(summary, worked_example)

    sections: list[tuple[str, str, str, list[tuple[str, str]]]] = [
        ("answer", "The answer in numbers", answer_section(claims, worked_example, overview), []),
        (
            "claims",
            "Claims",
            claims_section(claims, claim_details),
            [(f"claim-{slug(c)}", str(c)) for c in claims.get("claim", [])],
        ),
        ("worked-example", "Worked example", worked_example_section(worked_example), []),
        ("figures", "Figures", figures_html or "<p>No figures in this run.</p>", figure_toc),
        ("tables", "Tables", pivots_html or "<p>No pivot tables in this run.</p>", pivot_toc),
        ("glossary", "Methods and metrics", glossary_section(method_names), []),
    ]
    if orphans:
        sections.append(
            (
                "appendix",
                "Appendix: other detail tables",
                "".join(_detail_block(name, table) for name, table in orphans.items()),
                [],
            )
        )
    sections.append(("manifest", "Run manifest", manifest_section(manifest, overview), []))

    body = "".join(
        f'<section id="{anchor}"><h2>{number}. {esc(heading)}</h2>{content}</section>'
        for number, (anchor, heading, content, _) in enumerate(sections, start=1)
    )
    toc = _toc(
        [
            (anchor, f"{n}. {heading}", kids)
            for n, (anchor, heading, _, kids) in enumerate(sections, start=1)
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1>"
        f'<div class="question">{QUESTION}</div></header>'
        f"<main>{toc}{body}</main>"
        "<footer><p>Generated by softmaxlab.report from the workflow's tables and figures; "
        "self-contained (no scripts, no external resources).</p></footer>"
        "</body></html>\n"
    )


def _method_names(summary: pd.DataFrame, worked_example: pd.DataFrame) -> list[str]:
    """Bare method names present in this run, in softmaxlab.methods() order."""
    present: set[str] = set()
    for frame in (worked_example, summary):
        if "method" in frame:
            present |= set(frame["method"].dropna().astype(str).unique())
    methods_module = importlib.import_module("softmaxlab.methods")
    order = list(methods_module.methods())
    return [m for m in order if m in present] + sorted(present - set(order))
