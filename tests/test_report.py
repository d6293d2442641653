"""The HTML report from small hand-made inputs: well-formed, complete, escaped, offline."""

from __future__ import annotations

import base64
import html
import math
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sweeps import TINY

from softmaxlab import config as sl_config
from softmaxlab import metrics, report, stats, sweep, tables
from softmaxlab.captions import Caption, caption_path, read_caption, write_caption

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
            "outcomes": [f"outcomes {i}" if i != 4 else np.nan for i in range(1, 14)],
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
        # What the figure job writes next to its figure (softmaxlab.figures.render).
        write_caption(caption_path(path), Caption(f"Title of {name}", caption_text(name)))
    manifest = {
        "seed": SEED,
        "config": {"seed": SEED, "k": [2, 10], "methods": [{"method": "softmax"}]},
        "versions": {"python": "3.11.0", "numpy": "2.0.0"},
        "platform": "Linux x86_64",
        "run_time": {"jobs": 3, "total_job_seconds": 12.5, "longest_job_seconds": 6.25},
        "machines": [MACHINE],
    }
    return dict(
        summary=summary,
        claims=claims,
        claim_details=details,
        worked_example=worked,
        pivots=pivots,
        figures=figures,
        manifest=manifest,
        answer=ANSWER.copy(),
        pooling_rule=POOLING,
    )


# What the claims job writes to results/tables/answer.csv (every field read as text), in
# shuffled rows: the page orders them by `order`. Values are the unrounded numbers, the
# sentences show them as softmaxlab.formatting does. The third names no claim id, the
# fourth a claim the ledger lacks (no link), the fifth a number other than its value.
ANSWER = pd.DataFrame(
    {
        "order": ["2", "1", "3", "5", "4", "6"],
        "claim": ["C5", "C1", "C11", "C14", "C8", "C2"],
        "sentence": [
            "A base is a temperature: base 3 moves the top probability by 0.0371 (C5).",
            "Softmax gives the top score 0.7573 on [2, 4, 2, 1] (C1) & linear <less>.",
            "Maximum entropy under a mean energy gives exp, to within 3.1e-09.",
            "The NLL is convex with gradient p - y for 100% of softmax's vectors (C14).",
            "The max-shift removes float64 overflow, 69.3% of naive vectors at scale 1000 (C8).",
            "Softmax is closer to argmax than linear above scale 2.683 (C2).",
        ],
        "value": ["0.03712345", "0.757313", "3.0999e-09", "1.0", "0.71", "2.68312"],
    }
)
MACHINE = {"platform": "Linux x86_64", "numpy": "2.0.0", "numpy_simd": "X86_V2 X86_V3"}
POOLING = "Cells pool as the n-weighted mean of their means: every vector counts once."


def caption_text(name):
    return f"Caption of {name}: a<b & c>d.\n\nSecond paragraph of {name}."


@pytest.fixture
def page(inputs):
    html_text = report.build_report(**inputs)
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
        assert f"Caption of {name}: a<b & c>d. Second paragraph of {name}." in figure


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
    assert facts["independent logit vectors"] == "7" and facts["cells"] == "2"
    assert facts["vectors x cells (draws reused across scales and formats)"] == "12"
    # Sweep overview from the summary: cells of 5 and 7 vectors of one (distribution, K)
    # (the first 5 and 7 of its stream: 7 independent ones), 2 labels each.
    overview = report.sweep_overview(page_inputs_summary())
    assert (overview["cells"], overview["cell_vectors"], overview["evaluations"]) == (2, 12, 24)
    assert overview["independent"] == 7 and overview["streams"] == [("normal", 2, 7, 2)]


def page_inputs_summary():
    rows = [
        dict(distribution="normal", scale=s, k=2, dtype="float64", label=label, metric=m, n=n)
        for s, n in [(1.0, 5), (10.0, 7)]
        for label in ("softmax", "linear")
        for m in ("overflow", "entropy")
    ]
    return pd.DataFrame(rows)


def test_manifest_names_the_sweep_machines(inputs):
    facts = {r[0]: r[1] for r in parse(report.build_report(**inputs)).rows if len(r) == 2}
    assert facts["sweep computed on"] == "Linux x86_64, numpy 2.0.0, numpy SIMD X86_V2 X86_V3"
    # Jobs on two kinds of machine: each named, and the reader told what it may change.
    other = {**MACHINE, "numpy_simd": "X86_V2 X86_V3 X86_V4"}
    inputs["manifest"] = {**inputs["manifest"], "machines": [MACHINE, other]}
    facts = {r[0]: r[1] for r in parse(report.build_report(**inputs)).rows if len(r) == 2}
    assert "sweep computed on" not in facts
    kinds = [key for key in facts if key.startswith("sweep computed on (kind ")]
    assert kinds == [f"sweep computed on (kind {i} of 2; float64 bits may differ)" for i in (1, 2)]
    assert facts[kinds[1]].endswith("numpy SIMD X86_V2 X86_V3 X86_V4")
    # A machine that measured float64's errors against quad says so.
    quad = {**MACHINE, "float64_reference": "IEEE quad (numpy_quaddtype, 113-bit significand)"}
    inputs["manifest"] = {**inputs["manifest"], "machines": [quad]}
    facts = {r[0]: r[1] for r in parse(report.build_report(**inputs)).rows if len(r) == 2}
    assert facts["sweep computed on"] == (
        "Linux x86_64, numpy 2.0.0, numpy SIMD X86_V2 X86_V3, "
        "float64 errors against IEEE quad (numpy_quaddtype, 113-bit significand)"
    )


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
    # markupsafe's spelling of the quote: &#39;
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; a&lt;b" in text
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


def test_caption_files_are_read(inputs, tmp_path):
    # A caption planted next to a figure is what the page shows under it.
    write_caption(
        caption_path(inputs["figures"]["overflow"]),
        Caption("Planted title", "Planted caption <b>not bold</b>.\n\nPlanted second."),
    )
    parsed = parse(report.build_report(**inputs))
    figure = parsed.text("fig-overflow")
    assert figure.startswith("Figure 2. Planted title")
    assert "Planted caption <b>not bold</b>. Planted second." in figure
    assert parsed.text("fig-distance").startswith("Figure 1. Title of distance")
    assert parsed.tags.get("b", 0) == 0  # the caption's text stays text
    # Captions given explicitly win over the files next to the figures.
    other = tmp_path / "elsewhere.caption.md"
    write_caption(other, Caption("Explicit title", "Explicit caption."))
    parsed = parse(report.build_report(**inputs, captions={"distance": other, "overflow": other}))
    assert parsed.text("fig-distance").startswith("Figure 1. Explicit title")
    assert "Planted" not in parsed.text("figures")


def test_a_missing_caption_file_names_it(inputs):
    caption_path(inputs["figures"]["distance"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"distance\.caption\.md"):
        report.build_report(**inputs)


def test_caption_file_round_trip(tmp_path):
    path = caption_path(tmp_path / "nan_heatmap.svg")
    assert path.name == "nan_heatmap.caption.md"
    write_caption(path, Caption("NaN rate  by method", "One\nline.\n\n\n\nTwo & <three>."))
    assert path.read_text() == "# NaN rate by method\n\nOne line.\n\nTwo & <three>.\n"
    back = read_caption(path)
    assert back.title == "NaN rate by method" and back.paragraphs == ["One line.", "Two & <three>."]
    path.write_text("no title line\n")
    with pytest.raises(ValueError, match="starts with '# <title>'"):
        read_caption(path)


def test_page_comes_from_the_template_and_css(inputs, tmp_path):
    text = report.build_report(**inputs)
    templates = Path(report.build.__file__).parent / "templates"
    assert '<meta name="generator" content="softmaxlab.report (templates/report.html.j2)">' in text
    css = (templates / "report.css").read_text().strip()
    assert css in text  # inlined as is, not escaped (it has "nav.toc > ol")
    assert "nav.toc > ol" in css
    # The same inputs give the same bytes.
    assert report.build_report(**inputs) == text
    # A changed copy of the template and stylesheet changes the page accordingly.
    copy = tmp_path / "templates"
    shutil.copytree(templates, copy)
    page = copy / "report.html.j2"
    page.write_text(page.read_text().replace("<main>", "<main><p id=restyled>Restyled</p>", 1))
    (copy / "report.css").write_text(css.replace("--accent: #2556a3", "--accent: #a32525"))
    restyled = report.build_report(**inputs, template_dir=copy)
    assert restyled != text and "<p id=restyled>Restyled</p>" in restyled
    assert "--accent: #a32525" in restyled and "--accent: #2556a3" not in restyled
    parse(restyled)


def test_template_autoescapes_data(inputs):
    # Autoescape is on: text from the data never becomes markup, wherever it lands.
    inputs["claims"].loc[0, "conditions"] = "<img src=x onerror=alert(1)>"
    inputs["manifest"]["versions"]["<b>pkg</b>"] = "1 & 2"
    text = report.build_report(**inputs)
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "<b>pkg</b>" not in text and "&lt;b&gt;pkg&lt;/b&gt;" in text and "1 &amp; 2" in text


def test_report_imports_no_plotting_code():
    code = (
        "import sys; import softmaxlab.report; "
        "bad = sorted(m for m in ('matplotlib', 'seaborn', 'softmaxlab.figures') "
        "if m in sys.modules); print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", result.stdout


def test_empty_optional_parts_still_build(inputs):
    inputs.update(claim_details={}, pivots={}, figures={})
    parsed = parse(report.build_report(**inputs))
    assert "appendix" not in parsed.ids
    assert "No figures" in parsed.text("figures")


def test_long_detail_tables_are_cut_with_a_note(inputs):
    long = pd.DataFrame({"i": range(report.MAX_TABLE_ROWS + 5)})
    parsed = parse(report.build_report(**{**inputs, "claim_details": {"C9_long": long}}))
    rows = [r for r in parsed.rows if len(r) == 1 and r[0].replace(",", "").isdigit()]
    assert len(rows) == report.MAX_TABLE_ROWS and rows[-1] == [str(report.MAX_TABLE_ROWS - 1)]
    section = parsed.text("claim-C9")
    assert f"first {report.MAX_TABLE_ROWS} of {report.MAX_TABLE_ROWS + 5} rows" in section
    assert "results/tables/claim_details/claim_C9_long.csv" in section


@pytest.mark.parametrize(
    ("name", "claim"),
    [("C1", "C1"), ("C12_stirling", "C12"), ("C7_thresholds", "C7"), ("C1x", None), ("misc", None)],
)
def test_claim_of(name, claim):
    assert report.claim_of(name) == claim


def _answer_items(text: str) -> dict[int, str]:
    """order -> the inner HTML of each sentence of the answer."""
    return {int(o): html_ for o, html_ in re.findall(r'<li id="answer-(\d+)">(.*?)</li>', text)}


def test_the_answer_opens_the_report_in_order_with_links(page):
    text, parsed = page
    sections = [i for i in parsed.ids if i in ("answer", "reading", "claims", "worked-example")]
    assert sections == ["answer", "reading", "claims", "worked-example"]
    assert text.index('id="answer"') < text.index('id="claims"')
    items = _answer_items(text)
    assert sorted(items) == list(items) == [1, 2, 3, 4, 5, 6]  # by `order`, not row order
    by_order = ANSWER.assign(order=ANSWER["order"].astype(int)).set_index("order")
    for order, inner in items.items():
        row = by_order.loc[order]
        plain = " ".join(html.unescape(re.sub(r"<[^>]+>", "", inner)).split())
        expected = row["sentence"] if row["claim"] in row["sentence"] else None
        if expected is None:  # a sentence that does not name its claim gets it added
            expected = f"{row['sentence'][:-1]} ({row['claim']})."
        assert plain == expected
        links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', inner)
        if row["claim"] == "C14":  # not in the ledger: named, not linked
            assert links == []
        else:
            assert links == [(f"claim-{row['claim']}", row["claim"])]
            assert f"claim-{row['claim']}" in parsed.ids
    # The first sentence is escaped, not markup.
    assert "&amp; linear &lt;less&gt;." in items[1]


def test_each_answer_number_is_the_tables_value(page):
    """The number a sentence shows is its row's value, as the formatter spells it (the
    digits the sentence chose); a sentence showing another number highlights nothing."""
    text, _ = page
    shown = {1: "0.7573", 2: "0.0371", 3: "3.1e-09", 4: None, 5: "100%", 6: "2.683"}
    for order, inner in _answer_items(text).items():
        strong = re.findall(r'<strong class="value">([^<]*)</strong>', inner)
        assert strong == ([] if shown[order] is None else [shown[order]])
    # Whole numbers only: 7 is not in 709.78 or 0.7, 0.7 is not in 0.71 but is in "0.7,".
    assert report.build.value_spelling("overflows past 709.78 in 0.71 of vectors", "7.0") is None
    assert report.build.value_spelling("7 of them", "7.0") == "7"
    assert report.build.value_spelling("a share of 0.7, measured", "0.7") == "0.7"
    assert report.build.value_spelling("66.7% of cells", "0.6666666666666666") == "66.7%"


def test_dense_details_are_folded_not_deleted(page, inputs):
    text, parsed = page
    # Each claim: heading, verdict and statement in view; measure, value, conditions and
    # detail tables inside a closed <details>.
    for claim in inputs["claims"]["claim"]:
        assert f'<details class="claim-details" id="claim-details-{claim}">' in text
        folded = parsed.text(f"claim-details-{claim}")
        number = claim[1:]
        assert f"measure {number}" in folded and f"value {number}" in folded
        # what each verdict requires, where the ledger says it
        assert (f"Outcomes. outcomes {number}" in folded) == (number != "4"), folded
    assert "709.8" in parsed.text("claim-details-C7")  # C7_thresholds, inside the fold
    assert "statement of claim 2" in parsed.text("claim-C2")
    assert "statement of claim 2" not in parsed.text("claim-details-C2")
    # The verdicts at a glance stay in the answer section, folded below the sentences.
    assert re.search(r'<details class="glance">\s*<summary>All 13 verdicts at a glance', text)
    assert "13 claims" in parsed.text("answer")


def test_without_an_answer_table_the_glance_is_open(inputs):
    text = report.build_report(**{**inputs, "answer": None})
    parsed = parse(text)
    assert '<li id="answer-' not in text
    assert '<details class="glance" open>' in text
    assert "no answer table" in parsed.text("answer")


def test_a_malformed_answer_table_is_named(inputs):
    with pytest.raises(ValueError, match="answer table lacks column.* value; expected order"):
        report.build_report(**{**inputs, "answer": ANSWER.drop(columns="value")})
    bad = ANSWER.assign(order=["2", "1", "three", "5", "4", "6"])
    with pytest.raises(ValueError, match="answer table: order 'three' is not an integer"):
        report.build_report(**{**inputs, "answer": bad})


def test_reading_states_the_interval_and_pooling_rules_once(page, inputs):
    text, parsed = page
    reading = parsed.text("reading")
    rule = report.build.interval_rule()
    assert html.unescape(text).count(rule) == 1 and rule in reading
    # The metrics named per range follow METRIC_RANGES (the list, in METRICS order).
    assert (
        "(the rates, tv_to_argmax, normalized_entropy, max_prob and support_fraction in "
        "[0, 1]; l2_to_argmax in [0, \u221a2])" in rule
    )
    assert rule.startswith(f"Each interval is a {round(100 * stats.CONFIDENCE)}% interval")
    assert "Student t interval clipped at 0" in rule
    assert "Every interval lies within its metric's range." in rule
    assert "no interval where its mean lies outside the range" in rule
    assert "tests/test_coverage.py" in reading
    assert text.count(POOLING) == 1 and POOLING in reading
    without = parse(report.build_report(**{**inputs, "pooling_rule": None}))
    assert "reading-pooling" not in without.ids and POOLING not in without.text("reading")


def _bare_inputs(summary: pd.DataFrame, config) -> dict:
    """build_report's inputs with the sweep's summary and config and nothing else of note:
    one claim, no details, pivots or figures (the reading section's tests)."""
    return {
        "summary": summary,
        "claims": pd.DataFrame({"claim": ["C1"], "statement": ["s"], "verdict": ["holds"]}),
        "claim_details": {},
        "worked_example": pd.DataFrame({"method": ["softmax"], "label": ["softmax"]}),
        "pivots": {},
        "figures": {},
        "manifest": {"config": config},
    }


def test_independent_vectors_counted_from_the_config():
    """The page counts the distinct draws per (distribution, K), not the cells' vectors:
    sum over (distribution, K) of clip(elements // K, min, max), the draws every scale and
    format of that (distribution, K) reuses (common random numbers)."""
    config = sl_config.validate(TINY)
    summary = sweep.run_cells(config, sweep.cells(config))
    v = config["vectors"]
    per_stream = {k: int(np.clip(v["elements"] // k, v["min"], v["max"])) for k in config["k"]}
    independent = len(config["distributions"]) * sum(per_stream.values())
    assert independent == sum(sweep.independent_vectors(config).values())
    # every scale and every (format, compute mode) pair reuses the draws
    modes = sum(len(sweep.compute_modes(config, dtype)) for dtype in config["dtypes"])
    reuse = len(config["scales"]) * modes
    gradient = len(config["distributions"]) * sum(
        min(config["grad_vectors"], n) for n in per_stream.values()
    )
    inputs = _bare_inputs(summary, config)
    text = report.build_report(**inputs)
    parsed = parse(text)
    reading = parsed.text("reading")
    assert f"holds {independent:,} independent logit vectors" in reading
    assert f"not the {independent * reuse:,} vectors counted once per cell" in reading
    assert f"{gradient:,} vectors in all" in reading
    rows = {(r[0], r[1]): r[2:] for r in parsed.rows if r and r[0] in config["distributions"]}
    assert rows == {
        (d, str(k)): [str(n), str(reuse), str(min(config["grad_vectors"], n))]
        for d in config["distributions"]
        for k, n in per_stream.items()
    }
    facts = {r[0]: r[1] for r in parsed.rows if len(r) == 2}
    assert facts["independent logit vectors"] == f"{independent:,}"
    assert f"{independent:,} independent logit vectors" in parsed.text("answer")
    assert "sampled logit vectors" not in text  # the old statement that overstated the data
    assert "with replacement" not in reading  # no empirical distribution here


def test_empirical_draws_are_said_to_repeat_rows(tmp_path):
    """An empirical distribution's vectors are drawn with replacement from its file's rows:
    the reading section names it and says a row can recur (the default digits file has 450
    rows, drawn 1,000 times)."""
    path = tmp_path / "rows.npy"
    np.save(path, np.random.default_rng(3).standard_normal((6, 4)))
    config = sl_config.validate(
        {
            **TINY,
            "distributions": {
                **TINY["distributions"],
                "mine": {"family": "empirical", "path": str(path)},
            },
        }
    )
    summary = sweep.run_cells(config, sweep.cells(config))
    inputs = _bare_inputs(summary, config)
    reading = parse(report.build_report(**inputs)).text("reading")
    assert "vectors (mine) are independent draws with replacement from its file's rows" in reading
