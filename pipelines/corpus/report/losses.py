"""Report section "Losses": per filter reason and per dedupe kind, how many documents and characters a
corpus version lost, with two examples each, so a person can judge the losses at a glance.

The examples are the two largest documents of each group (most characters first, ties by doc_id):
the losses that matter most, and a deterministic choice. A filtered example shows its measured value
against the threshold; a duplicate shows the kept document and its similarity/containment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import pyarrow as pa

from pipelines.corpus.report.doc import Heading, Para, Section, Table, num, pct
from pipelines.corpus.report.measure import funnel

FILTERED_COLUMNS = ["doc_id", "source", "locator", "title", "reason", "value", "threshold", "char_length"]
DUPLICATE_COLUMNS = ["doc_id", "source", "locator", "title", "kind", "kept_doc_id", "similarity", "containment",
                     "char_length"]
EXAMPLES_PER_GROUP = 2


@dataclass(frozen=True)
class LossRow:
    """One filter reason or dedupe kind: documents, characters and example descriptions."""

    group: str  # "filtered" or "duplicate"
    name: str  # reason code or kind
    documents: int
    chars: int
    examples: tuple[str, ...]


def _where(row: dict) -> str:
    source = row.get("source") or "?"
    locator = row.get("locator") or ""
    title = row.get("title") or ""
    place = f"{source} {locator}".strip()
    return f"{place} ({title})" if title and title != PurePosixPath(source).stem else place


def _fmt(x) -> str:
    return "–" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))


def _filtered_example(row: dict) -> str:
    return (f"{_where(row)}: {_fmt(row.get('value'))} vs threshold {_fmt(row.get('threshold'))}, "
            f"{num(row.get('char_length'))} chars")


def _duplicate_example(row: dict) -> str:
    kept = (row.get("kept_doc_id") or "?")[:12]
    measures = f"similarity {_fmt(row.get('similarity'))}"
    if row.get("containment") is not None:
        measures += f", containment {_fmt(row.get('containment'))}"
    return f"{_where(row)}: kept {kept}…, {measures}, {num(row.get('char_length'))} chars"


def loss_rows(filtered: pa.Table | None, duplicates: pa.Table | None) -> list[LossRow]:
    """LossRows of every filter reason, then every dedupe kind, each group sorted by name."""
    out = []
    for group, table, key, describe in (("filtered", filtered, "reason", _filtered_example),
                                        ("duplicate", duplicates, "kind", _duplicate_example)):
        if table is None or table.num_rows == 0 or key not in table.column_names:
            continue
        by: dict[str, list[dict]] = {}
        for row in table.to_pylist():
            by.setdefault(str(row.get(key)), []).append(row)
        for name in sorted(by):
            rows = by[name]
            chars = sum(int(r.get("char_length") or 0) for r in rows)
            biggest = sorted(rows, key=lambda r: (-int(r.get("char_length") or 0), str(r.get("doc_id"))))
            out.append(LossRow(group, name, len(rows), chars,
                               tuple(describe(r) for r in biggest[:EXAMPLES_PER_GROUP])))
    return out


def losses_section(ctx) -> Section:
    """Tables of what each filter and each dedupe kind removed, with two examples each."""
    sec = Section("losses", "Losses per filter and dedupe kind")
    corpus = ctx.data.corpus
    filtered = corpus.read("filtered", FILTERED_COLUMNS)
    duplicates = corpus.read("duplicates", DUPLICATE_COLUMNS)
    rows = loss_rows(filtered.table if filtered else None, duplicates.table if duplicates else None)
    read = int((corpus.manifest.get("accounting") or {}).get("read", 0))
    d = ctx.data
    tables = [t.table if t is not None else None for t in (d.documents, d.rejects, d.filtered, d.duplicates)]
    read_chars = funnel(corpus.manifest, *tables)[0].chars  # the funnel's "read" characters
    for group, title, note in (
        ("filtered", "Filtered, per reason", "characters after cleaning; example: measured value vs threshold"),
        ("duplicate", "Duplicates, per kind", "characters of the removed document; example: the kept document's id "
                                              "and the similarity (Jaccard) / containment with it"),
    ):
        sec.add(Heading(title))
        part = [r for r in rows if r.group == group]
        table = filtered if group == "filtered" else duplicates
        if table is None:
            sec.missing(f"{'filtered' if group == 'filtered' else 'duplicates'}/")
            continue
        if not part:
            sec.add(Para("None.", "muted"))
            continue
        sec.add(Table(["", "documents", "% of read", "characters", "% of read chars", "example 1", "example 2"],
                      [[r.name, num(r.documents), pct(r.documents, read), num(r.chars), pct(r.chars, read_chars),
                        *(list(r.examples) + ["", ""])[:EXAMPLES_PER_GROUP]] for r in part], note))
    sec.status = "partly built" if filtered is None or duplicates is None else ""
    return sec
