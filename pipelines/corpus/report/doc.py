"""What a report is made of: sections of blocks, already formatted as text.

Both templates (templates/report.html.j2 and templates/summary.md.j2) render a block by its `kind`,
so the HTML page and the Markdown summary say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from pipelines.corpus.report.vocab import Part

NOT_BUILT = "not built"


@dataclass
class Para:
    """A paragraph. tone: "" (plain), "muted", "ok", "bad" or "missing" (a part that was not built)."""

    text: str
    tone: str = ""
    kind: ClassVar[str] = "para"


@dataclass
class Heading:
    text: str
    kind: ClassVar[str] = "heading"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""
    kind: ClassVar[str] = "table"


@dataclass
class Figure:
    """A chart: `name` is its file name beside the report ("funnel.png")."""

    name: str
    png: bytes
    alt: str
    caption: str = ""
    kind: ClassVar[str] = "figure"


@dataclass
class Code:
    text: str
    kind: ClassVar[str] = "code"


@dataclass
class Sample:
    """A decoded example: a title and labelled token sequences (sentinels are parts of kind "sentinel")."""

    title: str
    fields: list[tuple[str, list[Part]]]
    kind: ClassVar[str] = "sample"


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)
    status: str = ""  # "" when complete, NOT_BUILT, "partly built" or "error"

    def add(self, *blocks) -> "Section":
        self.blocks.extend(b for b in blocks if b is not None)
        return self

    def missing(self, what: str) -> None:
        """Say that part of this section's input was not built."""
        self.blocks.append(Para(f"{what}: {NOT_BUILT}.", "missing"))


@dataclass
class Report:
    """tiles: key figures shown large, as (label, value, tone)."""

    title: str
    subtitle: str
    tiles: list[tuple[str, str, str]]
    sections: list[Section]

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


def num(value, digits: int = 3) -> str:
    """Human formatting: ints with thousands separators, floats to `digits` significant digits (whole
    numbers with separators from 10**digits up), None as –."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:,.0f}" if abs(value) >= 10 ** digits else f"{value:.{digits}g}"
    return str(value)


def compact(value) -> str:
    """A count for a tile: 9,999 in full, then 12.3k, 4.56M, 7.89B."""
    if value is None:
        return "–"
    n = int(value)
    for size, unit in ((10**9, "B"), (10**6, "M"), (10**4, "k")):
        if abs(n) >= size:
            scaled = n / (size if unit != "k" else 1000)
            return f"{scaled:.3g}{unit}"
    return f"{n:,}"


def pct(part, whole, digits: int = 1) -> str:
    if part is None or not whole:
        return "–"
    return f"{100.0 * part / whole:.{digits}f}%"
