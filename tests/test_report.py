"""The HTML report from small hand-made inputs: well-formed, complete, escaped, offline."""

from __future__ import annotations

import base64
import html
import math
import re
import types
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from softmaxlab import metrics, report, tables

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
X = np.array([2.0, 4.0, 2.0, 1.0])
VERDICTS = ["holds", "holds with conditions", "does not hold"]
NASTY = "<script>alert('x')</script> & a<b"
SEED = 424242


class Page(HTMLParser):
    """Checks tag balance while parsing and records ids, the text under each id, img/href."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.errors: list[str] = []
        self.text_by_id: dict[str, list[str]] = {}
        self.ids: list[str] = []
        self.images: list[dict] = []
        self.hrefs: list[str] = []
        self.tags: dict[str, int] = {}
        self.rows: list[list[str]] = []  # table rows (td/th text) of the worked example
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "img":
            self.images.append(attrs)
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if tag in VOID:
            return
        element_id = attrs.get("id")
        if element_id is not None:
            self.ids.append(element_id)
            self.text_by_id[element_id] = []
        self.stack.append((tag, element_id))
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        for _, element_id in self.stack:
            if element_id is not None:
                self.text_by_id[element_id].append(data)
        if self._cell is not None:
            self._cell.append(data)

    def text(self, element_id: str) -> str:
        return " ".join("".join(self.text_by_id[element_id]).split())


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, parser.stack
    return parser


def softmax_oracle(x):
    """exp(x) / sum exp(x) by the textbook formula, in Python floats (no library code)."""
    e = [math.exp(v) for v in x]
    return [v / sum(e) for v in e]


SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{w}pt" height="40pt" viewBox="0 0 {w} 40">'
    '<defs><clipPath id="p0"><rect width="{w}" height="40"/></clipPath></defs>'
    '<rect id="bg" width="{w}" height="40" fill="#{c}"/></svg>'
)


@pytest.fixture
def inputs(tmp_path):
    rows = []
    for distribution, scale, k, n in [("normal", 1.0, 2, 5), ("normal", 10.0, 2, 7)]:
        for label, method in [("softmax", "softmax"), ("linear", "linear")]:
            for metric in ("overflow", "tv_to_argmax"):
                rows.append(
                    dict(
                        distribution=distribution,
                        scale=scale,
                        k=k,
                        dtype="float64",
                        method=method,
                        label=label,
                        metric=metric,
                        n=n,
                        mean=0.25,
                        std=0.1,
                        ci_low=0.2,
                        ci_high=0.3,
                        q05=0.1,
                        median=0.25,
                        q95=0.4,
                    )
                )
    summary = pd.DataFrame(rows)
    claims = pd.DataFrame(
        {
            "claim": [f"C{i}" for i in range(1, 14)],
            "statement": [f"statement of claim {i}" for i in range(1, 14)],
            "measure": [f"measure {i}" for i in range(1, 14)],
            "value": [f"value {i}" for i in range(1, 14)],
            "verdict": [VERDICTS[i % 3] for i in range(13)],
            "conditions": [f"conditions {i}" if i % 2 else np.nan for i in range(1, 14)],
        }
    )
    claims.loc[3, "statement"] = NASTY
    soft = softmax_oracle(X)
    lin = list(X / X.sum())
    worked = pd.DataFrame(
        {
            "method": ["argmax", "linear", "softmax"],
            "label": ["argmax", "linear", "softmax"],
            **{f"p{i + 1}": [float(i == 1), lin[i], soft[i]] for i in range(4)},
            "tv_to_argmax": [0.0, 1 - lin[1], 1 - soft[1]],
        }
    )
    details = {
        "C7_thresholds": pd.DataFrame({"base": [math.e, 100.0], "threshold": [709.78, 154.13]}),
        "C12": pd.DataFrame({"n": [10, 100], "rel_error": [0.0123, 0.000456]}),
        "C1_extra": pd.DataFrame({"what": ["x & y"], "n": [3]}),
        "misc": pd.DataFrame({"note": ["an orphan table"]}),
    }
    pivots = {
        # A registered pivot (softmaxlab.tables.PIVOTS: title, description, rates as %)...
        "overflow_rate": pd.DataFrame(
            {"float64": [0.0, 0.5], "float16": [0.25, 1.0]},
            index=pd.Index(["softmax", "softmax(stable=False)"], name="label"),
        ),
        # ... and one the registry does not know, shown under its name.
        "extra_pivot": pd.DataFrame({"0.1": [0.123456]}, index=pd.Index(["linear"], name="label")),
    }
    figures = {}
    for name, width, colour in [("distance", 60, "ff0000"), ("overflow", 80, "00ff00")]:
        path = tmp_path / f"{name}.svg"
        path.write_text(SVG.format(w=width, c=colour))
        figures[name] = path
    manifest = {
        "seed": SEED,
        "config": {"seed": SEED, "k": [2, 10], "methods": [{"method": "softmax"}]},
        "versions": {"python": "3.11.0", "numpy": "2.0.0"},
        "platform": "Linux x86_64",
        "run_time": {"jobs": 3, "total_job_seconds": 12.5, "longest_job_seconds": 6.25},
    }
    return dict(
        summary=summary,
        claims=claims,
        claim_details=details,
        worked_example=worked,
        pivots=pivots,
        figures=figures,
        manifest=manifest,
    )


def figure_text(name, summary):
    return f"Title of {name}", f"Caption of {name} over {len(summary)} rows: a<b & c>d"


@pytest.fixture
def page(inputs):
    html_text = report.build_report(**inputs, figure_text=figure_text)
    return html_text, parse(html_text)


def test_well_formed_with_main_structure(page):
    text, parsed = page
    assert text.startswith("<!DOCTYPE html>")
    for tag in ("html", "head", "body", "main", "nav", "table", "title", "style"):
        assert parsed.tags.get(tag, 0) >= 1, tag
    assert len(parsed.ids) == len(set(parsed.ids)), "duplicate ids"
    for section in (
        "answer",
        "claims",
        "worked-example",
        "figures",
        "tables",
        "glossary",
        "manifest",
        "appendix",
    ):
        assert section in parsed.ids
    # Every table-of-contents link and cross-reference lands on an element of the page.
    internal = [h[1:] for h in parsed.hrefs if h.startswith("#")]
    assert internal and set(internal) <= set(parsed.ids)


def test_every_claim_with_its_verdict(page, inputs):
    _, parsed = page
    for claim, verdict in zip(inputs["claims"]["claim"], inputs["claims"]["verdict"], strict=True):
        section = parsed.text(f"claim-{claim}")
        assert section.startswith(f"{claim} {verdict}")
    ledger = [r for r in parsed.rows if r and re.fullmatch(r"C\d+", r[0])]
    assert [(r[0], r[1]) for r in ledger] == list(
        zip(inputs["claims"]["claim"], inputs["claims"]["verdict"], strict=True)
    )
    answer = parsed.text("answer")
    assert "13 claims" in answer
    # Verdicts cycle holds / holds with conditions / does not hold: 5, 4, 4 claims.
    glance = {r[0]: (r[1], r[2]) for r in parsed.rows if r and r[0] in VERDICTS}
    assert glance == {
        "holds": ("5", "C1 C4 C7 C10 C13"),
        "holds with conditions": ("4", "C2 C5 C8 C11"),
        "does not hold": ("4", "C3 C6 C9 C12"),
    }
    # The claims that do not simply hold are listed with their conditions; C1 is not.
    assert "conditions 5" in answer and "statement of claim 1 " not in answer + " "


def test_detail_tables_sit_under_their_claim(page):
    _, parsed = page
    assert "C7_thresholds" in parsed.text("claim-C7")
    assert "709.8" in parsed.text("claim-C7") and "154.1" in parsed.text("claim-C7")
    # 'C12' belongs to C12, not to C1; 'C1_extra' to C1.
    assert "rel_error" in parsed.text("claim-C12") and "rel_error" not in parsed.text("claim-C1")
    assert "C1_extra" in parsed.text("claim-C1") and "x & y" in parsed.text("claim-C1")
    assert "an orphan table" in parsed.text("appendix")
    assert "an orphan table" not in parsed.text("claims")


def test_every_figure_embedded_byte_for_byte(page, inputs):
    _, parsed = page
    images = [i for i in parsed.images if i["src"].startswith("data:image/svg+xml;base64,")]
    assert len(images) == len(parsed.images) == len(inputs["figures"])
    for image, (name, path) in zip(images, inputs["figures"].items(), strict=True):
        assert base64.b64decode(image["src"].split(",", 1)[1]) == path.read_bytes()
        assert f"Title of {name}" in image["alt"]
        figure = parsed.text(f"fig-{name}")
        assert f"Title of {name}" in figure
        assert f"Caption of {name} over {len(inputs['summary'])} rows: a<b & c>d" in figure


def test_worked_example_to_four_decimals(page):
    _, parsed = page
    rows = {
        r[1]: r[2:6] for r in parsed.rows if len(r) >= 6 and r[0] in {"argmax", "linear", "softmax"}
    }
    # The thread's numbers (claim C1), and the exact linear ones: 2/9, 4/9, 1/9.
    assert rows["softmax"] == ["0.1025", "0.7573", "0.1025", "0.0377"]
    assert rows["linear"] == ["0.2222", "0.4444", "0.2222", "0.1111"]
    assert rows["argmax"] == ["0.0000", "1.0000", "0.0000", "0.0000"]
    # Extra columns are shown too: 1 - softmax p2 = 0.2427.
    assert "0.2427" in parsed.text("worked-example")
    assert "0.7573" in parsed.text("answer")


def test_manifest_seed_config_versions_and_run_time(page):
    _, parsed = page
    manifest = parsed.text("manifest")
    facts = {r[0]: r[1] for r in parsed.rows if len(r) == 2}
    assert facts["seed"] == str(SEED)  # as typed, no thousands separators
    assert f"seed: {SEED}" in manifest and "k: [2, 10]" in manifest
    assert facts["numpy"] == "2.0.0" and facts["platform"] == "Linux x86_64"
    assert facts["sweep job time, total (s)"] == "12.5"
    assert facts["sweep job time, longest (s)"] == "6.25"
    assert facts["logit vectors"] == "12" and facts["cells"] == "2"
    # Sweep overview from the summary: cells of 5 and 7 vectors, 2 labels each.
    overview = report.sweep_overview(page_inputs_summary())
    assert (overview["cells"], overview["vectors"], overview["evaluations"]) == (2, 12, 24)


def page_inputs_summary():
    rows = [
        dict(distribution="normal", scale=s, k=2, dtype="float64", label=label, metric=m, n=n)
        for s, n in [(1.0, 5), (10.0, 7)]
        for label in ("softmax", "linear")
        for m in ("overflow", "entropy")
    ]
    return pd.DataFrame(rows)


def test_offline_no_scripts_no_external_references(page):
    text, parsed = page
    assert parsed.tags.get("script", 0) == 0 and parsed.tags.get("link", 0) == 0
    for href in parsed.hrefs:
        assert href.startswith("#"), href
    for image in parsed.images:
        assert image["src"].startswith("data:"), image["src"][:40]
    # No URL anywhere in markup or CSS except the SVG namespace inside the base64 payloads.
    assert not re.search(r"https?://", text)
    assert "@import" not in text and "url(" not in text


def test_text_is_escaped(page):
    text, parsed = page
    assert NASTY not in text and "<script>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; a&lt;b" in text
    assert NASTY in parsed.text("claim-C4")
    assert "a&lt;b &amp; c&gt;d" in text


def test_pivots_with_their_titles(page):
    _, parsed = page
    section = parsed.text("table-overflow_rate")
    assert section.startswith(tables.PIVOTS["overflow_rate"].title)
    rows = {r[0]: r[1:] for r in parsed.rows if r and r[0].startswith("softmax")}
    assert rows["softmax(stable=False)"] == ["50%", "100%"] and rows["softmax"] == ["0%", "25%"]
    assert parsed.text("table-extra_pivot").startswith("extra_pivot")
    assert "0.1235" in parsed.text("table-extra_pivot")


def test_glossary_has_every_metric_and_method_of_the_run(page):
    _, parsed = page
    for metric in metrics.METRICS:
        assert f"metric-{metric}" in parsed.ids
    glossary = parsed.text("glossary")
    for metric in ("tv_to_argmax", "overflow", "invalid"):
        assert html.unescape(html.escape(metrics.DEFINITIONS[metric])) in glossary
    for method in ("softmax", "linear", "argmax"):
        assert f"method-{method}" in parsed.ids
    assert "method-sparsemax" not in parsed.ids  # not in this run


def test_default_figure_text_comes_from_softmaxlab_figures(inputs, monkeypatch):
    fake = types.ModuleType("softmaxlab.figures")
    fake.title = lambda name: f"T[{name}]"
    fake.caption = lambda name, summary: f"C[{name}, {summary['n'].sum()}]"
    monkeypatch.setitem(__import__("sys").modules, "softmaxlab.figures", fake)
    parsed = parse(report.build_report(**inputs))
    # n summed over the hand-made summary: (5 + 7) * 2 labels * 2 metrics = 48.
    assert "T[distance]" in parsed.text("fig-distance")
    assert "C[overflow, 48]" in parsed.text("fig-overflow")


def test_empty_optional_parts_still_build(inputs):
    inputs.update(claim_details={}, pivots={}, figures={})
    parsed = parse(report.build_report(**inputs, figure_text=figure_text))
    assert "appendix" not in parsed.ids
    assert "No figures" in parsed.text("figures")


def test_long_tables_are_cut_with_a_note():
    frame = pd.DataFrame({"i": range(report.MAX_TABLE_ROWS + 5)})
    text = report.table_html(frame, source="results/x.csv")
    parsed = Page()
    parsed.feed(text)
    assert len(parsed.rows) == report.MAX_TABLE_ROWS + 1  # header + shown rows
    assert parsed.rows[-1] == [str(report.MAX_TABLE_ROWS - 1)]
    assert f"first {report.MAX_TABLE_ROWS} of {report.MAX_TABLE_ROWS + 5} rows" in text
    assert "results/x.csv" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.757305, "0.7573"),
        (709.782712893384, "709.8"),
        (154.13, "154.1"),
        (1e-7, "1e-07"),
        (0.000999995, "1e-03"),
        (0.00099994, "9.999e-04"),
        (0.0123, "0.0123"),
        (0.5, "0.5"),
        (10000, "10,000"),
        (1000.0, "1,000"),
        (12345.678, "12,346"),
        (2.5e12, "2.5e+12"),
        (1.23456e-7, "1.235e-07"),
        (-0.25, "-0.25"),
        (float("nan"), "NaN"),
        (float("inf"), "inf"),
        (-float("inf"), "-inf"),
        (np.float32(0.1), "0.1"),
        (True, "True"),
        ("text", "text"),
    ],
)
def test_fmt_number(value, expected):
    assert report.fmt_number(value) == expected


@pytest.mark.parametrize(
    ("name", "claim"),
    [("C1", "C1"), ("C12_stirling", "C12"), ("C7_thresholds", "C7"), ("C1x", None), ("misc", None)],
)
def test_claim_of(name, claim):
    assert report.claim_of(name) == claim
