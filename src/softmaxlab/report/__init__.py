"""The self-contained HTML report (see :mod:`softmaxlab.report.build`).

A Jinja2 template and a CSS file (``templates/``, shipped as package data) render the
workflow's tables, figures and the captions the figure jobs wrote; no plotting code is
imported.
"""

from softmaxlab.report.build import (
    ANSWER_COLUMNS,
    MAX_TABLE_ROWS,
    OPEN_DETAIL_ROWS,
    TEMPLATE,
    WORKED_X,
    answer_sentences,
    build_report,
    claim_of,
    environment,
    interval_rule,
    metric_definitions,
    slug,
    stylesheet,
    sweep_overview,
    verdict_class,
)

__all__ = [
    "ANSWER_COLUMNS",
    "MAX_TABLE_ROWS",
    "OPEN_DETAIL_ROWS",
    "TEMPLATE",
    "WORKED_X",
    "answer_sentences",
    "build_report",
    "claim_of",
    "environment",
    "interval_rule",
    "metric_definitions",
    "slug",
    "stylesheet",
    "sweep_overview",
    "verdict_class",
]
