"""Render a Report with the package's Jinja2 templates: templates/report.html.j2 (one self-contained
page, charts as data URIs, every text autoescaped, no scripts, nothing fetched) and
templates/summary.md.j2 (Markdown, charts referenced as the PNG files beside it).

Deterministic: the same Report gives the same bytes.
"""

from __future__ import annotations

import base64
import re

import jinja2

from pipelines.corpus.report.doc import Report, Table

_NUMERIC = re.compile(r"^[-+−]?[\d,.]+(%|e[-+]?\d+)?$|^–$|^[-+]?[\d,.]+ \(.*\)$")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def numeric_columns(t: Table) -> list[bool]:
    """Per column: every non-empty cell is a short number (right-aligned in HTML)."""
    return [bool(t.rows) and all(len(str(r[i])) <= 24 and _NUMERIC.match(str(r[i]))
                                 for r in t.rows if i < len(r) and str(r[i]) != "")
            for i in range(max([len(t.headers)] + [len(r) for r in t.rows]))]


def md_escape(text: object) -> str:
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ↵ ")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipelines.corpus.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html.j2"]), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters.update(b64=lambda data: base64.b64encode(data).decode("ascii"), numeric_columns=numeric_columns,
                       md=md_escape)
    return env


def to_html(report: Report) -> str:
    return _environment().get_template("report.html.j2").render(report=report)


def to_markdown(report: Report) -> str:
    return _environment().get_template("summary.md.j2").render(report=report).rstrip("\n") + "\n"
