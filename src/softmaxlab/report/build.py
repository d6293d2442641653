"""The self-contained HTML report: one page, read top to bottom, that renders offline.

:func:`build_report` gathers the workflow's tables, figures and captions into plain data and
renders ``templates/report.html.j2`` (Jinja2, autoescape on) with ``templates/report.css``
inlined: the question; the answer in plain sentences (results/tables/answer.csv, each
sentence with one number and a link to its claim) with the verdicts at a glance folded
below; how to read the numbers (the independent vectors and their reuse across scales and
formats, the pooling rule, the interval rule); the claims ledger with each claim's
measurements, conditions and detail tables folded under it, the worked example
x = [2, 4, 2, 1], every figure (SVG embedded as a base64 ``data:`` URI, so ids inside
different SVGs never clash) under the title and caption its figure job wrote
(softmaxlab.captions), the pivot tables, a glossary of the methods and metrics (pulled
from the library's docstrings, so the report says what the code does) and the run
manifest.

The page has no JavaScript, no external stylesheet, font or image and no network
reference. Numbers go through softmaxlab.formatting and tables through its one renderer;
everything else the template escapes. The report imports no plotting code. The same
inputs give the same bytes.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import math
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from numbers import Real
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml
from markupsafe import Markup, escape

from softmaxlab import metrics as metrics_module
from softmaxlab import stats as stats_module
from softmaxlab import sweep as sweep_module
from softmaxlab import tables as tables_module
from softmaxlab.captions import Caption, caption_path, read_caption
from softmaxlab.formatting import html_table, number, percent

#: The thread's example vector (claim C1); the worked-example table has one column per entry.
WORKED_X: tuple[float, ...] = (2.0, 4.0, 2.0, 1.0)
#: Decimals of the worked example's probabilities (the thread prints 4).
WORKED_DECIMALS = 4
#: Tables longer than this show their first rows only, with a note giving the full length
#: and the CSV that holds every row (keeps the page small for large sweeps).
MAX_TABLE_ROWS = 250
#: Detail tables with at most this many rows are shown expanded; longer ones start folded.
OPEN_DETAIL_ROWS = 12
#: The columns of the answer table (results/tables/answer.csv, written by the claims job).
ANSWER_COLUMNS: tuple[str, ...] = ("order", "claim", "sentence", "value")
#: Bounds spelled as symbols in the interval rule.
_BOUND_TEXT: dict[float, str] = {math.sqrt(2.0): "\u221a2"}
#: verdict -> CSS class.
VERDICTS: dict[str, str] = {
    "holds": "holds",
    "holds with conditions": "conditional",
    "does not hold": "fails",
}
TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"


# ---------------------------------------------------------------- small helpers


def slug(text) -> str:
    """An HTML id fragment: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def verdict_class(verdict) -> str:
    """CSS class for a verdict: holds / conditional / fails, "unknown" for anything else."""
    return VERDICTS.get(str(verdict).strip().lower(), "unknown")


def badge(verdict) -> Markup:
    """A verdict as a coloured pill."""
    return Markup('<span class="verdict v-{}">{}</span>').format(verdict_class(verdict), verdict)


def claim_of(name: str) -> str | None:
    """The claim id a detail table belongs to: 'C7' and 'C7_thresholds' -> 'C7', else None."""
    match = re.match(r"(C\d+)(?:_|$)", str(name))
    return match.group(1) if match else None


def paragraphs(text: str) -> Markup:
    """Plain (docstring) text as escaped ``<p>`` paragraphs (blank lines separate them);
    ``code`` and :role:`name` become ``<code>``."""
    parts = [" ".join(p.split()) for p in str(text or "").split("\n\n")]
    html = "".join(f"<p>{_rst_inline(str(escape(p)))}</p>" for p in parts if p)
    return Markup(html)


def _rst_inline(escaped: str) -> str:
    escaped = re.sub(r":[a-z]+:`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"``(.+?)``", r"<code>\1</code>", escaped)


def _text(value) -> str:
    """A ledger field as text: empty for NaN/None, numbers formatted."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, Real) and not isinstance(value, bool | np.bool_):
        return number(value)
    return str(value)


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def _docstring(obj) -> str:
    doc = inspect.getdoc(obj) if obj is not None else None
    return inspect.cleandoc(doc) if doc else ""


def _data_uri(path: Path) -> str:
    mime = {
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
    }.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _worked(value) -> str:
    return number(value, decimals=WORKED_DECIMALS)


# ---------------------------------------------------------------- the data of each section


def sweep_overview(summary: pd.DataFrame) -> dict:
    """What the sweep covered, from the tidy summary: cells, vectors, evaluations.

    Uses one metric's rows only (``input_nonfinite`` if present: it is 0/1 for every
    vector, so its ``n`` is the number of vectors of the cell), which keeps this cheap on a
    table of a million rows. A cell is (distribution, scale, K, dtype, compute mode).

    The cells of a (distribution, K) share their draws (the first n of the (distribution,
    K) stream, softmaxlab.sweep.independent_vectors): ``streams`` lists (distribution, K,
    n, cells sharing them) with n the largest cell's, ``independent`` their sum (the
    independent vectors), ``cell_vectors`` the sum over cells (each draw counted once per
    scale and format that reuses it).
    """
    if summary.empty or "metric" not in summary:
        return {}
    present = set(summary["metric"].unique())  # not a Python loop over a million rows
    metric = next(
        (m for m in ("input_nonfinite", "overflow") if m in present), summary["metric"].iloc[0]
    )
    cell_keys = [key for key in sweep_module.CELL_KEYS if key in summary.columns]
    rows = summary.loc[summary["metric"] == metric, [*cell_keys, "label", "n"]]
    per_cell = rows.groupby(cell_keys, sort=False)["n"].max()
    per_stream = per_cell.groupby(level=["distribution", "k"], sort=False).agg(["max", "size"])
    return {
        "distributions": _in_order(rows["distribution"]),
        "scales": sorted(_in_order(rows["scale"])),
        "k": sorted(_in_order(rows["k"])),
        "dtypes": _in_order(rows["dtype"]),
        # (format, compute mode) pairs: float16 and bfloat16 run in two modes by default.
        "modes": len(rows[[key for key in ("dtype", "compute") if key in rows]].drop_duplicates()),
        "labels": _in_order(rows["label"]),
        "cells": len(per_cell),
        "cell_vectors": int(per_cell.sum()),
        "independent": int(per_stream["max"].sum()),
        "streams": [
            (str(distribution), int(k), int(n), int(size))
            for (distribution, k), n, size in zip(
                per_stream.index, per_stream["max"], per_stream["size"], strict=True
            )
        ],
        "evaluations": int(rows["n"].sum()),
        "rows": len(summary),
    }


def _in_order(column: pd.Series) -> list:
    """The distinct values of ``column`` in the order they first appear, as Python values."""
    return column.drop_duplicates().tolist()


def _worked_value(worked_example: pd.DataFrame, label: str) -> float | None:
    """p at the position of max x for one method label of the worked example, if present."""
    column = f"p{int(np.argmax(WORKED_X)) + 1}"
    if "label" not in worked_example or column not in worked_example:
        return None
    match = worked_example.loc[worked_example["label"] == label, column]
    return float(match.iloc[0]) if len(match) else None


def _claim_row(row) -> dict:
    """A ledger row as text fields (empty where the ledger has nothing)."""
    return {
        "claim": str(row.claim),
        "verdict": str(row.verdict),
        "statement": _text(row.statement),
        "measure": _text(getattr(row, "measure", "")),
        "value": _text(getattr(row, "value", "")),
        "conditions": _text(getattr(row, "conditions", "")),
        "outcomes": _text(getattr(row, "outcomes", "")),
    }


def answer_data(claims: pd.DataFrame, worked_example: pd.DataFrame, overview: dict) -> dict:
    """Verdict counts with their claims, the worked example's headline numbers, the sweep's
    size, and every claim that does not simply hold."""
    groups: dict[str, list[str]] = {}
    for row in claims.itertuples(index=False):
        groups.setdefault(str(row.verdict), []).append(str(row.claim))
    order = [v for v in VERDICTS if v in groups] + [v for v in groups if v not in VERDICTS]
    picks = [
        (label, _worked_value(worked_example, label)) for label in ("argmax", "softmax", "linear")
    ]
    return {
        "claims": len(claims),
        "glance": [{"verdict": v, "claims": groups[v]} for v in order],
        "x_text": ", ".join(number(v) for v in WORKED_X),
        "picks": [(label, _worked(value)) for label, value in picks if value is not None],
        "overview": overview,
        "qualified": [
            _claim_row(row)
            for row in claims.itertuples(index=False)
            if verdict_class(row.verdict) != "holds"
        ],
    }


#: Significant digits tried when looking for a value's spelling in its sentence.
_SPELLING_DIGITS = range(8, 0, -1)


def _spellings(value: str) -> list[str]:
    """How a sentence may spell ``value``: as written, and, for a number, as
    softmaxlab.formatting writes it (:func:`number`, then :func:`percent`) with 8 down to
    1 significant digits."""
    try:
        x = float(value)
    except ValueError:
        return [value]
    spelled = [number(x, digits) for digits in _SPELLING_DIGITS]
    spelled += [percent(x, digits) for digits in _SPELLING_DIGITS]
    return list(dict.fromkeys([value, *spelled]))


def value_spelling(sentence: str, value: str) -> str | None:
    """The first of :func:`_spellings` that ``sentence`` holds as a whole number (not
    inside a longer one: 7 is not found in 709.78), or None: then the sentence does not
    show the table's value."""
    for text in _spellings(value.strip()) if value.strip() else []:
        pattern = rf"(?<![\d.,]){re.escape(text)}(?!\d|[.,]\d)"
        if re.search(pattern, sentence):
            return text
    return None


def _sentence_html(sentence: str, value: str, claim: str, linked: bool) -> Markup:
    """One answer sentence as Markup: escaped, its value in ``<strong>`` where the sentence
    shows it (:func:`value_spelling`), its claim id a link to the claim's section (the
    first mention, or added in parentheses before the closing full stop when the sentence
    does not name it; plain text when ``linked`` is False, i.e. the ledger has no such
    claim)."""
    html = str(escape(sentence))
    spelled = value_spelling(sentence, value)
    if spelled is not None:
        shown = str(escape(spelled))
        pattern = rf"(?<![\d.,]){re.escape(shown)}(?!\d|[.,]\d)"
        strong = f'<strong class="value">{shown}</strong>'
        html = re.sub(pattern, lambda _: strong, html, count=1)
    claim_html = str(escape(claim))
    link = f'<a href="#claim-{escape(slug(claim))}">{claim_html}</a>' if linked else claim_html
    mention = re.compile(rf"(?<![\w-]){re.escape(claim_html)}(?![\w-])")
    if mention.search(html):
        html = mention.sub(lambda _: link, html, count=1)
    else:  # before the closing full stop, if any
        body, stop = (html[:-1], html[-1]) if html.endswith((".", "!", "?")) else (html, "")
        html = f"{body} ({link}){stop}"
    return Markup(html)


def answer_sentences(answer: pd.DataFrame | None, claim_ids) -> list[dict]:
    """The answer table (ANSWER_COLUMNS: order, claim, sentence, value; every field as
    text) as sentences in ``order``, each with its claim and its HTML (:func:`_sentence_html`).
    ``claim_ids``: the ledger's claims (the ones that can be linked). None or an empty
    table gives no sentences; a missing column or an order that is not an integer raises
    ValueError naming it."""
    if answer is None or answer.empty:
        return []
    missing = [column for column in ANSWER_COLUMNS if column not in answer]
    if missing:
        raise ValueError(
            f"answer table lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join(ANSWER_COLUMNS)}"
        )
    rows = []
    for row in answer.itertuples(index=False):
        try:
            order = int(str(row.order).strip())
        except ValueError:
            raise ValueError(f"answer table: order {row.order!r} is not an integer") from None
        claim, value = _text(row.claim), _text(row.value)
        html = _sentence_html(_text(row.sentence), value, claim, claim in claim_ids)
        rows.append({"order": order, "claim": claim, "value": value, "html": html})
    return sorted(rows, key=lambda item: item["order"])


def _bound(value: float) -> str:
    return _BOUND_TEXT.get(value, number(value))


def interval_rule() -> str:
    """The summary's interval rule in words (softmaxlab.stats), with the metrics of each
    finite range read from softmaxlab.metrics.METRIC_RANGES."""
    ranges = metrics_module.METRIC_RANGES
    finite: dict[tuple[float, float], list[str]] = {}
    for metric in metrics_module.METRICS:
        if metric in metrics_module.RATE_METRICS or not np.isfinite(ranges[metric]).all():
            continue
        finite.setdefault(ranges[metric], []).append(metric)
    rate_range = {ranges[m] for m in metrics_module.RATE_METRICS}
    groups = []
    for (low, high), names in finite.items():
        names = (["the rates"] if rate_range == {(low, high)} else []) + names
        listed = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
        groups.append(f"{listed} in [{_bound(low)}, {_bound(high)}]")
    unbounded_lows = {ranges[m][0] for m in metrics_module.METRICS if not np.isfinite(ranges[m][1])}
    clip = f"at {_bound(unbounded_lows.pop())}" if len(unbounded_lows) == 1 else "to its range"
    return (
        f"Each interval is a {number(100 * stats_module.CONFIDENCE)}% interval for the "
        f"cell's mean. For metrics with a finite natural range [a, b] ({'; '.join(groups)}) "
        "it is the Wilson score interval on the rescaled mean, which does not rely on "
        "normality because a variable in [a, b] has variance at most (b - \u03bc)(\u03bc - a) "
        "(Bhatia & Davis 2000); for the rates this is the usual binomial Wilson interval. "
        f"Metrics without an upper bound get the Student t interval clipped {clip}. Every "
        "interval lies within its metric's range. A column whose own observations leave "
        "the range (linear normalisation's max_prob > 1; a normalized entropy rounded "
        "above 1, 1.76 for the uniform vector over K = 1000 in float8_e4m3fn, whose "
        "entries all round up to 2^-9) gets no interval where its mean lies outside the "
        "range, which no interval on the range could hold, nor, for a metric bounded at "
        "both ends, where the method's outputs are not distributions (linear's on signed "
        "logits, whose values have no bound); its mean and quantiles are still given."
    )


def vectors_data(overview: dict, config: Mapping) -> dict:
    """The independent vectors: their total, and per (distribution, K) a table of the
    vectors drawn, the cells (scales x formats) that reuse them and, when the config has
    grad_vectors, the first ones the gradient and NLL metrics use; the empirical
    distributions among them (drawn with replacement from a file's rows)."""
    if not overview:
        return {}
    grad_vectors = config.get("grad_vectors")
    columns = {
        "distribution": [d for d, _, _, _ in overview["streams"]],
        "K": [k for _, k, _, _ in overview["streams"]],
        "vectors drawn": [n for _, _, n, _ in overview["streams"]],
        "cells reusing them": [cells for _, _, _, cells in overview["streams"]],
    }
    if isinstance(grad_vectors, int) and not isinstance(grad_vectors, bool):
        columns["gradient vectors"] = [min(grad_vectors, n) for n in columns["vectors drawn"]]
    table = pd.DataFrame(columns)
    empirical = [
        name
        for name, spec in config.get("distributions", {}).items()
        if spec.get("family") == "empirical" and name in set(columns["distribution"])
    ]
    return {
        "independent": overview["independent"],
        "empirical": empirical,
        "streams": len(overview["streams"]),
        "cell_vectors": overview["cell_vectors"],
        "cells": overview["cells"],
        "gradient": int(sum(columns["gradient vectors"]))
        if "gradient vectors" in columns
        else None,
        "table": html_table(table, max_rows=MAX_TABLE_ROWS),
    }


def reading_data(overview: dict, config: Mapping, pooling_rule: str | None) -> dict:
    """The "how to read the numbers" section: vectors, pooling rule, interval rule."""
    return {
        "vectors": vectors_data(overview, config),
        "pooling_rule": pooling_rule or "",
        "interval_rule": interval_rule(),
    }


def _detail(name: str, table: pd.DataFrame) -> dict:
    return {
        "name": name,
        "rows": len(table),
        "open": len(table) <= OPEN_DETAIL_ROWS,
        "table": html_table(
            table,
            max_rows=MAX_TABLE_ROWS,
            source=f"results/tables/claim_details/claim_{name}.csv",
        ),
    }


def _ledger_cell(column, value) -> str | None:
    if column == "verdict":
        return f"<td>{badge(value)}</td>"
    if column == "claim":
        return f'<td><a href="#claim-{escape(slug(value))}">{escape(value)}</a></td>'
    return None


def claims_data(claims: pd.DataFrame, claim_details: Mapping[str, pd.DataFrame]) -> dict:
    """The ledger at a glance, then each claim with its text and its detail tables."""
    order = [c for c in ("claim", "verdict", "statement", "value") if c in claims]
    rows = []
    for row in claims.itertuples(index=False):
        item = _claim_row(row)
        item["details"] = [
            _detail(name, claim_details[name])
            for name in sorted(claim_details, key=_natural_key)
            if claim_of(name) == item["claim"]
        ]
        rows.append(item)
    ledger = html_table(
        claims[order], formatter=_text, cell_html=_ledger_cell, classes="data ledger"
    )
    return {"ledger": ledger, "rows": rows}


def worked_data(worked_example: pd.DataFrame) -> dict:
    """The worked example, floats to 4 decimals."""
    floats = {
        c: _worked for c in worked_example.columns if pd.api.types.is_float_dtype(worked_example[c])
    }
    table = html_table(worked_example, formatters=floats, classes="data worked")
    return {"x_text": ", ".join(number(v) for v in WORKED_X), "table": table}


def figures_data(figures: Mapping[str, str | Path], captions: Mapping[str, Caption]) -> list[dict]:
    """Every figure: its number, title, caption paragraphs and the image as a data URI."""
    out = []
    for index, (name, path) in enumerate(figures.items(), start=1):
        path = Path(path)
        out.append(
            {
                "anchor": f"fig-{slug(name)}",
                "number": index,
                "name": name,
                "title": captions[name].title,
                "paragraphs": captions[name].paragraphs,
                "src": _data_uri(path),
                "file": path.name,
            }
        )
    return out


def pivots_data(
    pivots: Mapping[str, pd.DataFrame], summary: pd.DataFrame | None = None
) -> list[dict]:
    """Each pivot under its title and description from softmaxlab.tables.PIVOTS, rendered by
    tables.to_html (rates as percentages); a pivot unknown to that registry is shown as a
    plain table under its name. With the (headline) ``summary``, each description ends with
    the shares of vectors the table leaves out (softmaxlab.tables.excluded_note)."""
    out = []
    for name, table in pivots.items():
        spec = tables_module.PIVOTS.get(name)
        if spec is None:
            title, description = name, ""
            body = html_table(
                table,
                index=True,
                max_rows=MAX_TABLE_ROWS,
                source=f"results/tables/pivot_{name}.csv",
            )
        else:
            title, description = spec.title, inspect.cleandoc(spec.__doc__ or "")
            if summary is not None and name not in tables_module.EVERY_COMPUTE_MODE:
                description = f"{description} {spec.note(summary, table)}".strip()
            shown = table.copy()
            shown.attrs = {"columns": spec.columns}
            body = Markup(tables_module.to_html(shown, percent=spec.percent, title=""))
        out.append(
            {
                "anchor": f"table-{slug(name)}",
                "name": name,
                "title": title,
                "description": description,
                "table": body,
            }
        )
    return out


def metric_definitions() -> dict[str, str]:
    """metric -> definition, from softmaxlab.metrics.DEFINITIONS (one place for both the
    report and the README)."""
    return {metric: metrics_module.DEFINITIONS[metric] for metric in metrics_module.METRICS}


def _param_text(value) -> str:
    if isinstance(value, float) and value == math.e:
        return "e"
    return str(value)


def glossary_data(method_names: list[str]) -> dict:
    """Methods (defaults and docstring) and metrics (definitions) of this run."""
    methods_module = importlib.import_module("softmaxlab.methods")
    methods = []
    for name in method_names:
        try:
            defaults = methods_module.method_defaults(name)
            doc = inspect.cleandoc(methods_module.method_doc(name) or "")
        except ValueError:  # a name in the data that this version of the library lacks
            defaults, doc = {}, ""
        params = ", ".join(f"{key}={_param_text(value)}" for key, value in defaults.items())
        methods.append({"name": name, "params": params, "doc": doc})
    definitions = list(metric_definitions().items())
    metric_items = []
    for index, (metric, text) in enumerate(definitions):
        following = definitions[index + 1][1] if index + 1 < len(definitions) else None
        metric_items.append(
            {
                "name": metric,
                "rate": metric in metrics_module.RATE_METRICS,
                "doc": None if text == following else text,
            }
        )
    return {
        "methods": methods,
        "metrics": metric_items,
        "metrics_doc": _docstring(metrics_module),
        "stats_doc": _docstring(stats_module),
    }


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


def _machine_facts(machines: list[Mapping]) -> list[tuple[str, str]]:
    """One fact per kind of machine that computed the sweep (softmaxlab.sweep's
    shard_machines): numpy's SIMD decides the last bits of its float64 exp and log, the
    float64 reference (long double or quad) those of float64's error metrics."""
    texts = [
        ", ".join(
            part
            for part in (
                machine.get("platform"),
                machine.get("numpy") and f"numpy {machine['numpy']}",
                machine.get("numpy_simd") and f"numpy SIMD {machine['numpy_simd']}",
                machine.get("float64_reference")
                and f"float64 errors against {machine['float64_reference']}",
            )
            if part
        )
        for machine in machines
    ]
    if len(texts) == 1:
        return [("sweep computed on", texts[0])]
    # Jobs on machines whose numpy runs other exp and log code: a float64 cell's last bits
    # depend on the job that ran it, which the reader must know.
    return [
        (f"sweep computed on (kind {i} of {len(texts)}; float64 bits may differ)", text)
        for i, text in enumerate(texts, start=1)
    ]


def manifest_data(manifest: Mapping, overview: dict) -> dict:
    """Seed, platform, run time and sweep size; package versions; the config as YAML."""
    run_time = manifest.get("run_time", {}) or {}
    facts = [
        ("seed", None if manifest.get("seed") is None else str(manifest["seed"])),
        ("platform", manifest.get("platform")),
        *_machine_facts(manifest.get("machines", [])),
        ("sweep jobs", run_time.get("jobs")),
        ("sweep job time, total (s)", run_time.get("total_job_seconds")),
        ("sweep job time, longest (s)", run_time.get("longest_job_seconds")),
    ]
    if overview:
        facts += [
            ("cells", overview["cells"]),
            ("independent logit vectors", overview["independent"]),
            ("vectors x cells (draws reused across scales and formats)", overview["cell_vectors"]),
            ("normalisations (vectors x cells x methods)", overview["evaluations"]),
            ("summary rows", overview["rows"]),
        ]
    config_yaml = yaml.safe_dump(
        _plain(manifest.get("config", {})), sort_keys=False, default_flow_style=None, width=88
    )
    return {
        "facts": [(key, number(value)) for key, value in facts if value is not None],
        "versions": [(str(k), str(v)) for k, v in (manifest.get("versions", {}) or {}).items()],
        "config_yaml": config_yaml,
    }


def _method_names(summary: pd.DataFrame, worked_example: pd.DataFrame) -> list[str]:
    """Bare method names present in this run, in softmaxlab.methods() order."""
    present: set[str] = set()
    for frame in (worked_example, summary):
        if "method" in frame:
            present |= set(frame["method"].dropna().astype(str).unique())
    methods_module = importlib.import_module("softmaxlab.methods")
    order = list(methods_module.methods())
    return [m for m in order if m in present] + sorted(present - set(order))


# ---------------------------------------------------------------- the page


@cache
def environment(template_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment of the report's templates (autoescape on, strict undefined):
    the package's ``templates/``, or ``template_dir`` (a copy to restyle the report)."""
    if template_dir is None:
        loader = jinja2.PackageLoader("softmaxlab.report", "templates")
    else:
        loader = jinja2.FileSystemLoader(template_dir)
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(slug=slug, num=number, paragraphs=paragraphs, verdict_class=verdict_class)
    env.globals.update(badge=badge, count=_count)
    return env


def stylesheet(template_dir: Path | None = None) -> Markup:
    """The report's CSS (``report.css`` beside the template), inlined in a <style> element."""
    if template_dir is None:
        folder = resources.files("softmaxlab.report").joinpath("templates")
    else:
        folder = Path(template_dir)
    css = folder.joinpath(STYLESHEET).read_text("utf-8")
    if "</" in css:
        raise ValueError(f"{STYLESHEET} must not contain '</' (it is inlined in <style>)")
    return Markup(css.strip())


def build_report(
    summary: pd.DataFrame,
    claims: pd.DataFrame,
    claim_details: Mapping[str, pd.DataFrame],
    worked_example: pd.DataFrame,
    pivots: Mapping[str, pd.DataFrame],
    figures: Mapping[str, str | Path],
    manifest: Mapping,
    *,
    captions: Mapping[str, str | Path] | None = None,
    answer: pd.DataFrame | None = None,
    pooling_rule: str | None = None,
    title: str = "Why exp? Softmax and its alternatives, measured",
    template_dir: str | Path | None = None,
) -> str:
    """The complete self-contained HTML page (a str), from the workflow's outputs.

    summary: the tidy table (only a few columns of one metric are read here). claims: the
    ledger (claim, statement, measure, value, verdict, conditions). claim_details: name ->
    table; a name starting with a claim id ('C7', 'C7_thresholds') is shown under that
    claim, others in an appendix. worked_example: one row per method label for
    x = [2, 4, 2, 1]. pivots: name -> table (index = row labels). figures: name -> SVG (or
    PNG) path, embedded as base64 data URIs. captions: name -> caption file (title and
    caption, softmaxlab.captions); by default the file next to each figure.
    manifest: softmaxlab.manifest.run_manifest's dict (its ``config`` gives grad_vectors),
    with ``machines``: softmaxlab.sweep.shard_machines of the sweep's shards.
    answer: the answer table (ANSWER_COLUMNS, every field as text; None: no sentences).
    pooling_rule: how claims pool cells, printed once (softmaxlab.claims' POOLING_RULE).
    template_dir: a folder with ``report.html.j2`` and ``report.css`` to use instead of
    the package's templates.
    """
    template_dir = None if template_dir is None else Path(template_dir)
    claims = claims.reset_index(drop=True)
    overview = sweep_overview(summary)
    caption_files = {
        name: Path(captions[name]) if captions is not None else caption_path(path)
        for name, path in figures.items()
    }
    figure_items = figures_data(
        figures, {name: read_caption(path) for name, path in caption_files.items()}
    )
    headline = sweep_module.headline_rows(summary)
    pivot_items = pivots_data(pivots, headline)
    claim_ids = {str(c) for c in claims.get("claim", [])}
    appendix = [
        _detail(name, claim_details[name])
        for name in sorted(claim_details, key=_natural_key)
        if claim_of(name) not in claim_ids
    ]
    sections = [
        ("answer", "The answer", []),
        ("reading", "How to read the numbers", []),
        ("claims", "Claims", [(f"claim-{slug(c)}", str(c)) for c in claims.get("claim", [])]),
        ("worked-example", "Worked example", []),
        (
            "figures",
            "Figures",
            [(f["anchor"], f"Figure {f['number']}. {f['title']}") for f in figure_items],
        ),
        ("tables", "Tables", [(p["anchor"], p["title"]) for p in pivot_items]),
        ("glossary", "Methods and metrics", []),
        *([("appendix", "Appendix: other detail tables", [])] if appendix else []),
        ("manifest", "Run manifest", []),
    ]
    context = {
        "title": title,
        "css": stylesheet(template_dir),
        "sections": [
            {
                "anchor": anchor,
                "heading": heading,
                "children": children,
                # Short labels (claim ids) run inline; longer ones (figure titles) in columns.
                "inline": all(len(text) <= 4 for _, text in children),
            }
            for anchor, heading, children in sections
        ],
        "answer": {
            **answer_data(claims, worked_example, overview),
            "sentences": answer_sentences(answer, claim_ids),
        },
        "reading": reading_data(overview, manifest.get("config", {}) or {}, pooling_rule),
        "claims": claims_data(claims, claim_details),
        "worked": worked_data(worked_example),
        "figures": figure_items,
        "pivots": pivot_items,
        "glossary": glossary_data(_method_names(summary, worked_example)),
        "appendix": appendix,
        "manifest": manifest_data(manifest, overview),
    }
    return environment(template_dir).get_template(TEMPLATE).render(context)
