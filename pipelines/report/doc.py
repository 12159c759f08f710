"""The report as data: sections of blocks that both renderers (HTML, Markdown) turn into text.

Sections hold already-formatted strings, so the two renderers say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.report.vocab import Part

NOT_BUILT = "not built"


@dataclass
class Para:
    """A paragraph. tone: "" (plain), "muted", "ok", "bad" or "missing" (a part that was not built)."""

    text: str
    tone: str = ""


@dataclass
class Heading:
    text: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    """A chart: `name` is its file name beside the report ("funnel.png")."""

    name: str
    png: bytes
    alt: str
    caption: str = ""


@dataclass
class Code:
    text: str


@dataclass
class Sample:
    """A decoded example: a title and labelled token sequences (sentinels are parts of kind "sentinel")."""

    title: str
    fields: list[tuple[str, list[Part]]]


@dataclass
class Tiles:
    """Key figures shown large: (label, value, tone)."""

    items: list[tuple[str, str, str]]


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
    title: str
    subtitle: str
    tiles: Tiles
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
