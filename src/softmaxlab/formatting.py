"""The one number formatter and the one HTML table renderer of tables, claims, figures and report.

Numbers (:func:`number`, :func:`percent`, :func:`interval`) are spelled the same way
everywhere a reader sees them:

* a missing value (None or NaN) is ``n/a``; infinities are ``inf`` and ``-inf``;
* zero is ``0`` (also -0.0); integers get thousands separators (``10,000``);
* other floats are rounded to ``digits`` significant digits first, then written
  positionally when the rounded magnitude is in [1e-3, 1e9) (``0.0123``, ``709.8``,
  ``12,346``: digits left of the point are never dropped) and in scientific notation
  otherwise (``1.2e-07``, ``2.5e+12``), without trailing zeros;
* a value near an end of its metric's range (``keep_apart``: 1 for a distance, an
  entropy or a share) gets more digits where ``digits`` would print it as that end
  (0.9996 is ``0.9996``, not ``1``): an end is written only for the end itself;
* rates are percentages with ``digits`` significant digits (``62.5%``); a rate strictly
  between 0 and 1 never reads ``0%`` or ``100%`` (0.99999 is ``99.999%``), so those two
  mean "never" and "always".

:func:`html_table` renders a DataFrame as an escaped ``<table>`` with these numbers; its
result is :class:`markupsafe.Markup`, so a Jinja2 template with autoescape inserts it as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from numbers import Integral, Real

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

__all__ = ["MISSING", "html_table", "interval", "number", "percent"]

#: How a missing value (None, NaN) is written.
MISSING = "n/a"
#: Magnitudes written positionally: [POSITIONAL_MIN, POSITIONAL_MAX); others in e-notation.
POSITIONAL_MIN, POSITIONAL_MAX = 1e-3, 1e9

Formatter = Callable[[object], str]


def _is_number(value) -> bool:
    """Real numbers, numpy's included; bools are not numbers here."""
    if isinstance(value, bool | np.bool_):
        return False
    return isinstance(value, Real | np.number)


def _special(x: float) -> str | None:
    """The spelling of NaN and the infinities, None for finite values."""
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return None


def _strip(text: str) -> str:
    """Trailing zeros (and a bare point) of a positional number removed."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(
    value, digits: int = 4, *, decimals: int | None = None, keep_apart: tuple[float, ...] = ()
) -> str:
    """A number as a reader wants it: ``digits`` significant digits, no float noise.

    ``decimals`` instead fixes the decimals of floats (``0.1025``, ``1.0000``; the worked
    example's 4). ``keep_apart``: values (the ends of the metric's range) that a different
    value must not print as: it gets more significant digits, up to 17, until it does not
    (``number(0.9996, 3, keep_apart=(1,))`` is ``"0.9996"``). Non-numbers are returned as
    ``str(value)`` (None as ``n/a``).
    """
    text = _number(value, digits, decimals)
    if not keep_apart or not _is_number(value) or decimals is not None:
        return text
    ends = {_number(end, digits, None) for end in keep_apart if float(value) != end}
    while text in ends and digits < 17:
        digits += 1
        text = _number(value, digits, None)
    return text


def _number(value, digits: int, decimals: int | None) -> str:
    """:func:`number` without ``keep_apart``."""
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, Integral | np.integer):
        return f"{int(value):,}"
    if not _is_number(value):
        return str(value)
    x = float(value)
    special = _special(x)
    if special is not None:
        return special
    if decimals is not None:
        return f"{x:.{decimals}f}"
    if x == 0:
        return "0"
    if x == round(x) and abs(x) < POSITIONAL_MAX:
        return f"{int(round(x)):,}"
    scientific = f"{x:.{digits - 1}e}"  # rounded to `digits` significant digits
    magnitude = abs(float(scientific))  # inf where rounding passes the float64 maximum
    if magnitude < POSITIONAL_MIN or magnitude >= POSITIONAL_MAX:
        mantissa, exponent = scientific.split("e")
        return f"{_strip(mantissa)}e{exponent}"
    if magnitude >= 1:
        places = max(0, digits - 1 - math.floor(math.log10(magnitude)))
        return _strip(f"{x:,.{places}f}")
    return _strip(f"{float(scientific):.{digits}g}")


def percent(value, digits: int = 3) -> str:
    """A rate (a fraction) as a percentage: ``0.625 -> "62.5%"``, ``0 -> "0%"``.

    Missing values are ``n/a``. A rate in (0, 1) gets more digits where ``digits`` would
    round it to 100% (0.99999 -> "99.999%"): "100%" means every vector.
    """
    if value is None or not _is_number(value) or math.isnan(float(value)):
        return MISSING
    x = float(value)
    if x == 0:
        return "0%"
    return f"{number(100 * x, digits, keep_apart=(100,))}%"


def interval(low, high, digits: int = 3, *, rate: bool = False) -> str:
    """A range of values, ``"0.12 to 0.5"``; a single value when both ends print the same.

    ``rate``: both ends as percentages (:func:`percent`), else as :func:`number`.
    """
    low_text = percent(low, digits) if rate else number(low, digits)
    high_text = percent(high, digits) if rate else number(high, digits)
    return low_text if low_text == high_text else f"{low_text} to {high_text}"


# ------------------------------------------------------------------ the HTML table renderer


def _header_text(label) -> str:
    """A column or index name: tuples (MultiIndex) joined with " / ", numbers formatted."""
    if isinstance(label, tuple):
        return " / ".join(_header_text(part) for part in label if str(part) != "")
    return "" if label is None else number(label)


def _cell(value, formatter: Formatter) -> Markup:
    """One ``<td>``: numbers right-aligned, missing ones dimmed, exact floats in ``title``."""
    if not _is_number(value):
        cls = ' class="na"' if value is None or value is pd.NA else ""
        return Markup(f"<td{cls}>{escape(formatter(value))}</td>")
    x = float(value)
    cls = "num na" if math.isnan(x) else "num"
    exact = ""
    if math.isfinite(x) and not isinstance(value, Integral | np.integer):
        exact = f' title="{escape(repr(x))}"'
    return Markup(f'<td class="{cls}"{exact}>{escape(formatter(value))}</td>')


def html_table(
    frame: pd.DataFrame,
    *,
    index: bool = False,
    corner: str | None = None,
    formatter: Formatter = number,
    formatters: Mapping[str, Formatter] | None = None,
    cell_html: Callable[[str, object], str | None] | None = None,
    caption: str | None = None,
    footer: str | None = None,
    classes: str = "data",
    max_rows: int | None = None,
    source: str | None = None,
    empty: str = "no rows",
) -> Markup:
    """A DataFrame as an escaped HTML table in a horizontally scrolling ``div.table-wrap``.

    ``index``: the index as row headers (``<th scope="row">``) under the index names, or
    under ``corner`` when given. ``formatters`` maps column names to their own formatter
    (default ``formatter``); ``cell_html(column, value)`` may return a complete ``<td>``
    for special cells (it must escape what it inserts). Every finite float cell carries its
    exact value in a ``title`` attribute. ``caption`` and ``footer`` (a ``<tfoot>`` row)
    are plain text. A frame longer than ``max_rows`` shows its first ``max_rows`` rows
    and a note naming ``source`` (where every row is); an empty one says ``empty``.
    """
    formatters = dict(formatters or {})
    shown = frame if max_rows is None else frame.iloc[:max_rows]
    head = []
    if index:
        names = [corner] if corner is not None else list(frame.index.names)
        head += [f'<th scope="col">{escape(_header_text(name))}</th>' for name in names]
    head += [f'<th scope="col">{escape(_header_text(column))}</th>' for column in frame.columns]
    width = len(head)
    rows = []
    for key, row in zip(shown.index, shown.itertuples(index=False, name=None), strict=True):
        cells = []
        if index:
            keys = key if isinstance(key, tuple) else (key,)
            cells += [f'<th scope="row">{escape(number(k))}</th>' for k in keys]
        for column, value in zip(frame.columns, row, strict=True):
            special = cell_html(column, value) if cell_html else None
            if special is not None:
                cells.append(special)
            else:
                cells.append(_cell(value, formatters.get(column, formatter)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{width}" class="na">{escape(empty)}</td></tr>')
    parts = [f'<div class="table-wrap"><table class="{escape(classes)}">']
    if caption:
        parts.append(f"<caption>{escape(caption)}</caption>")
    parts.append(f"<thead><tr>{''.join(head)}</tr></thead>")
    parts.append(f"<tbody>{''.join(rows)}</tbody>")
    if footer:
        parts.append(f'<tfoot><tr><td colspan="{width}">{escape(footer)}</td></tr></tfoot>')
    parts.append("</table></div>")
    if max_rows is not None and len(frame) > max_rows:
        where = f"; every row is in {escape(source)}" if source else ""
        parts.append(
            f'<p class="note">Showing the first {max_rows:,} of {len(frame):,} rows{where}.</p>'
        )
    return Markup("".join(parts))
