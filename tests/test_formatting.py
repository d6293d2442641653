"""The one number formatter and the one HTML table renderer (softmaxlab.formatting)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from softmaxlab.formatting import MISSING, html_table, interval, number, percent


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (0.0, "0"),
        (-0.0, "0"),
        (-0.25, "-0.25"),
        (-12345.678, "-12,346"),
        (float("inf"), "inf"),
        (-float("inf"), "-inf"),
        (float("nan"), "n/a"),
        (np.float64("nan"), "n/a"),
        (None, "n/a"),
        (pd.NA, "n/a"),
        (1e-300, "1e-300"),
        (5e-324, "4.941e-324"),  # the smallest subnormal
        (1.7976931348623157e308, "1.798e+308"),  # rounding it to 4 digits overflows float64
        (-np.finfo(np.float64).max, "-1.798e+308"),
        (0.99995, "1"),  # rounds up across a power of ten: no "1.000"
        (9.9995, "9.999"),  # binary 9.99949999...: rounds down
        (99.96, "99.96"),
        (999.96, "1,000"),
        (0.000999995, "0.001"),  # rounded first, then written positionally
        (0.00099994, "9.999e-04"),
        (0.757305, "0.7573"),
        (709.782712893384, "709.8"),
        (0.0123, "0.0123"),
        (10000, "10,000"),
        (1000.0, "1,000"),
        (12345.678, "12,346"),  # digits left of the point are never dropped
        (2.5e12, "2.5e+12"),
        (999999999.7, "1e+09"),
        (1.23456e-7, "1.235e-07"),
        (np.float32(0.1), "0.1"),
        (np.int64(-7), "-7"),
        (True, "True"),
        ("text", "text"),
    ],
)
def test_number_edge_values(value, expected):
    assert number(value) == expected


def test_number_digits_and_decimals():
    assert number(1 / 3, 2) == "0.33" and number(2 / 3, 1) == "0.7"
    assert number(154.1304, 4) == "154.1" and number(154.1304, 6) == "154.13"
    assert number(0.1025, decimals=4) == "0.1025" and number(1.0, decimals=4) == "1.0000"
    assert number(float("nan"), decimals=4) == MISSING
    with pytest.raises(ValueError, match="digits"):
        number(1.5, 0)


@given(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).filter(lambda x: x != 0),
    st.integers(min_value=1, max_value=6),
)
def test_number_keeps_the_value_to_its_digits(x, digits):
    """Reading the text back gives x rounded to ``digits`` significant digits (decimal's
    half-even rounding of the exact binary value is the oracle) or, for numbers shown as
    integers (below 1e9), x rounded to an integer."""
    text = number(x, digits)
    back = Decimal(text.replace(",", ""))
    exact = Decimal(x)
    if abs(x) < 1e9 and (abs(x) >= 10**digits or x == round(x)):
        assert back == exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN), text
    else:
        quantum = Decimal(1).scaleb(exact.adjusted() - digits + 1)
        expected = exact.quantize(quantum, rounding=ROUND_HALF_EVEN)
        # Rounding may carry into the next power of ten (0.99995 -> 1.000 -> "1").
        assert back == expected, (x, digits, text)


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.9996, 3, "0.9996"),  # 3 digits would print 1: one more
        (0.99953602, 3, "0.9995"),
        (0.99999, 2, "0.99999"),
        (1.0004, 3, "1.0004"),  # from above too
        (1 - 2**-53, 3, "0.9999999999999999"),  # the float below 1: 16 digits
        (1.0, 3, "1"),  # the end itself
        (1, 3, "1"),
        (0.995, 3, "0.995"),  # not near enough to change
        (0.5, 2, "0.5"),
        (float("nan"), 3, MISSING),
        (float("inf"), 3, "inf"),
    ],
)
def test_number_keeps_a_value_apart_from_its_range_end(value, digits, expected):
    assert number(value, digits, keep_apart=(1,)) == expected


@given(
    st.floats(min_value=0, max_value=2, allow_nan=False).filter(lambda x: x != 1),
    st.integers(min_value=1, max_value=6),
)
def test_number_kept_apart_never_prints_the_end_and_keeps_the_value(x, digits):
    """A value other than the end never reads as the end (17 significant digits tell every
    float64 from every other), and the text is the value at its own number of digits."""
    text = number(x, digits, keep_apart=(1,))
    assert text != "1"
    assert text in {number(x, more) for more in range(digits, 18)}
    if number(x, digits) != "1":
        assert text == number(x, digits)  # only a value that would read 1 changes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0%"),
        (0.0, "0%"),
        (1, "100%"),
        (0.625, "62.5%"),
        (1 / 3, "33.3%"),
        (0.25, "25%"),
        (1e-9, "1e-07%"),
        (0.00012345, "0.0123%"),
        (0.99995, "99.995%"),  # a rate below 1 never reads 100%
        (0.9999999, "99.99999%"),
        (0.9995, "99.95%"),
        (0.999, "99.9%"),
        (float("nan"), "n/a"),
        (None, "n/a"),
        (float("inf"), "inf%"),
    ],
)
def test_percent_edge_values(value, expected):
    assert percent(value) == expected


def test_interval():
    assert interval(0.1234, 0.5) == "0.123 to 0.5"
    assert interval(0.0, 0.25, rate=True) == "0% to 25%"
    assert interval(0.5, 0.5, rate=True) == "50%"  # one value when both ends print the same
    assert interval(-1.5, float("inf")) == "-1.5 to inf"
    assert interval(float("nan"), 2) == "n/a to 2"


class Cells(HTMLParser):
    """Text of every th/td cell, and the attributes of each td."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells, self.attrs, self._open = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self._open = True
            self.cells.append("")
            if tag == "td":
                self.attrs.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._open = False

    def handle_data(self, data):
        if self._open:
            self.cells[-1] += data


def cells(markup: str) -> Cells:
    parser = Cells()
    parser.feed(markup)
    return parser


def test_html_table_escapes_every_text():
    nasty = "<script>alert('x')</script> & \"q\""
    frame = pd.DataFrame(
        {nasty: [nasty, 1.5], "n": [1, 2]},
        index=pd.Index([nasty, "b"], name="<idx>"),
    )
    text = html_table(frame, index=True, caption=nasty, footer=nasty, source=nasty, max_rows=1)
    assert isinstance(text, Markup)
    assert "<script>" not in text and '"q"' not in text
    # header, index, cell, caption, footer and the note naming the source
    assert text.count("&lt;script&gt;") == 6
    assert "&lt;idx&gt;" in text
    parsed = cells(text)
    assert parsed.cells[:3] == ["<idx>", nasty, "n"] and parsed.cells[3:6] == [nasty, nasty, "1"]


def test_html_table_numbers_titles_and_missing_values():
    frame = pd.DataFrame({"x": [1 / 3, float("nan"), 12345.678, 0.0], "k": [1, 2, 3, 4000]})
    parsed = cells(html_table(frame, formatters={"x": lambda v: number(v, 3)}))
    assert parsed.cells == ["x", "k", "0.333", "1", "n/a", "2", "12,346", "3", "0", "4,000"]
    x_cells = parsed.attrs[0::2]
    assert x_cells[0] == {"class": "num", "title": repr(1 / 3)}  # the exact value on hover
    assert x_cells[1] == {"class": "num na"}
    assert parsed.attrs[1] == {"class": "num"}  # integers are exact already


def test_html_table_cut_note_empty_and_special_cells():
    frame = pd.DataFrame({"i": range(7), "v": ["a"] * 7})
    text = html_table(
        frame,
        max_rows=5,
        source="results/x.csv",
        cell_html=lambda column, value: "<td>special</td>" if column == "v" else None,
    )
    parsed = cells(text)
    assert parsed.cells[2:4] == ["0", "special"] and len(parsed.cells) == 2 + 2 * 5
    assert "Showing the first 5 of 7 rows; every row is in results/x.csv." in text
    empty = cells(html_table(frame.iloc[:0], empty="nothing here"))
    assert empty.cells == ["i", "v", "nothing here"] and empty.attrs[-1]["colspan"] == "2"


def test_html_table_multiindex_headers():
    frame = pd.DataFrame([[1.25, 2.5]], columns=pd.MultiIndex.from_tuples([("a", 1), ("a", "")]))
    assert cells(html_table(frame)).cells[:2] == ["a / 1", "a"]
