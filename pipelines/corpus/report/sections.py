"""Report sections about documents: overview tiles, the accounting funnel, document-level
distributions (length, cleaning, duplicate clusters) and provenance."""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from pipelines.corpus.report.charts import Charts, Panel
from pipelines.corpus.report.data import CorpusData
from pipelines.corpus.report.doc import NOT_BUILT, Code, Figure, Heading, Para, Section, Table, compact, num, pct
from pipelines.corpus.report.measure import cluster_sizes, funnel, summarize
from pipelines.corpus.trail import first_rejects

MAX_INPUT_ROWS = 50
MAX_PROBLEMS = 25
#: Rejected inputs listed by name in the funnel section (the rest are in rejects/).
MAX_REJECTS_LISTED = 20


class Context:
    """What every section builder gets: the corpus data and a chart maker (None: tables only)."""

    def __init__(self, data: CorpusData, charts: Charts | None, verify_report=None):
        self.data, self.charts, self.verify_report = data, charts, verify_report

    def figure(self, name: str, alt: str, draw: Callable[[Charts], bytes], caption: str = "") -> Figure | None:
        if self.charts is None:
            return None
        return Figure(name, draw(self.charts), alt, caption)


def summary_table(series: list[tuple[str, np.ndarray | None]], caption: str = "", unit: str = "") -> Table:
    rows = []
    for label, values in series:
        s = summarize(values)
        rows.append([label] + (["0", "–", "–", "–", "–", "–"] if s is None else
                               [num(s.count), num(s.minimum), num(s.median), num(s.mean), num(s.p90), num(s.maximum)]))
    head = [h if h in ("", "n") else f"{h} {unit}".strip() for h in ("", "n", "min", "median", "mean", "p90", "max")]
    return Table(head, rows, caption)


def tiles(ctx: Context) -> list[tuple[str, str, str]]:
    """The key figures shown large at the top: (label, value, tone)."""
    m = ctx.data.corpus.manifest
    acc = m.get("accounting") or {}
    kept_chars = ctx.data.length("char_length")
    if kept_chars is None:
        kept_chars = ctx.data.length("raw_char_length")
    items = [("version", ctx.data.corpus.version_id, "id"),
             ("documents read", compact(acc.get("read")), ""),
             (f"documents kept ({pct(acc.get('kept'), acc.get('read'))})", compact(acc.get("kept")), ""),
             ("characters kept", compact(int(kept_chars.sum())) if kept_chars is not None else "–", "")]
    ex = ctx.data.examples
    items.append(("examples (train / validation)",
                  " / ".join(compact(ex[s].total) if s in ex else "–" for s in ("train", "validation")),
                  "" if ex else "missing"))
    v = ctx.data.vocab
    items.append(("vocabulary", compact(v.size) if v else "not built", "" if v else "missing"))
    vr = ctx.verify_report
    if vr is None:
        items.append(("longlm verify", "skipped", "missing"))
    else:
        items.append(("longlm verify", "OK" if vr.ok else f"FAILED ({len(vr.problems)})", "ok" if vr.ok else "bad"))
    return items


def funnel_section(ctx: Context) -> Section:
    d, m = ctx.data, ctx.data.corpus.manifest
    sec = Section("funnel", "Accounting funnel")
    acc = m.get("accounting") or {}
    holds = acc.get("holds")
    sec.add(Para(f"read {num(acc.get('read'))} = kept {num(acc.get('kept'))} + rejected {num(acc.get('rejected'))}"
                 f" + filtered {num(acc.get('filtered'))} + duplicates {num(acc.get('duplicates'))}"
                 f" = {num(acc.get('sum'))}: the identity {'holds' if holds else 'FAILS'}.", "ok" if holds else "bad"))
    tables = {name: getattr(d, name) for name in ("documents", "rejects", "filtered", "duplicates")}
    rows = funnel(m, *(t.table if t is not None else None for t in tables.values()))
    sec.add(ctx.figure("funnel.png", "accounting funnel in documents and characters",
                       lambda c: c.funnel(rows),
                       "Each bar is a share of what was read. Rejected records were never decoded, so they have "
                       "no characters."))
    read_docs = rows[0].documents
    read_chars = rows[0].chars
    sec.add(Table(["stage", "documents", "% of read", "characters", "% of read chars"],
                  [[r.label, num(r.documents), pct(r.documents, read_docs), num(r.chars), pct(r.chars, read_chars)]
                   for r in rows]))
    sec.add(Para("Characters: kept and filtered documents after cleaning, duplicates by their recorded length, "
                 "cleaning's removal as raw minus cleaned length of kept and filtered documents; "
                 "read = the sum of those.", "muted"))
    if tables["rejects"] is not None and acc.get("rejected"):
        shown = first_rejects(ctx.data.corpus.root, MAX_REJECTS_LISTED)
        sec.add(Heading(f"Rejected inputs ({num(len(shown))} of {num(acc.get('rejected'))}; all in rejects/)"))
        sec.add(Table(["source", "locator", "reason"], [[r["source"], r["locator"] or "–", r["reason"]] for r in shown]))
    absent = [name for name, t in tables.items() if t is None]
    for name in absent:
        sec.missing(f"{name}/")
    if tables["documents"] is not None and d.length("char_length") is None:
        sec.add(Para("documents.char_length is empty (cleaning: not built), so kept characters are counted "
                     "before cleaning.", "missing"))
    sec.status = "partly built" if absent else ""
    return sec


def documents_section(ctx: Context) -> Section:
    """Document lengths, characters removed per cleaning rule, duplicate cluster sizes."""
    d = ctx.data
    sec = Section("documents", "Documents: length, cleaning, duplicates")
    raw, clean = d.length("raw_char_length"), d.length("char_length")
    sec.add(Heading("Document length (characters), kept documents"))
    if raw is None:
        sec.missing("documents/")
    else:
        series = [("before cleaning", raw)] + ([("after cleaning", clean)] if clean is not None else [])
        sec.add(ctx.figure("doc_length.png", "document length before and after cleaning", lambda c: c.panels(
            [Panel("Document length", "characters", series, log_x=True)], cols=1)))
        sec.add(summary_table(series, unit=""))
        if clean is None:
            sec.missing("length after cleaning (char_length)")
    _cleaning_rules(ctx, sec)
    _duplicate_clusters(ctx, sec)
    missing = any(isinstance(b, Para) and b.tone == "missing" for b in sec.blocks)
    sec.status = NOT_BUILT if raw is None else ("partly built" if missing else "")
    return sec


def _cleaning_rules(ctx: Context, sec: Section) -> None:
    counters = ctx.data.corpus.counters
    prefix = "clean.chars_removed."
    rules = sorted(((k[len(prefix):], int(v)) for k, v in counters.items() if k.startswith(prefix)),
                   key=lambda kv: (-kv[1], kv[0]))
    sec.add(Heading("Characters removed per cleaning rule"))
    if not rules:
        sec.missing("cleaning counters (clean.chars_removed.*)")
        return
    raw = ctx.data.length("raw_char_length")
    total_raw = int(raw.sum()) if raw is not None else None
    sec.add(ctx.figure("cleaning_rules.png", "characters removed per cleaning rule",
                       lambda c: c.bars("Characters removed per rule", [r for r, _ in rules], [v for _, v in rules],
                                        "characters removed")))
    sec.add(Table(["rule", "characters removed", "% of kept documents' raw characters"],
                  [[r, num(v), pct(v, total_raw, 2)] for r, v in rules]))
    other = {k: v for k, v in counters.items() if k.startswith("clean.") and not k.startswith(prefix)}
    if other:
        sec.add(Table(["counter", "value"], [[k, num(v)] for k, v in sorted(other.items())], "other cleaning counters"))


def _duplicate_clusters(ctx: Context, sec: Section) -> None:
    sec.add(Heading("Duplicate clusters"))
    dups = ctx.data.duplicates
    counters = {k: v for k, v in ctx.data.corpus.counters.items() if k.startswith("dedupe.")}
    if dups is None:
        sec.missing("duplicates/")
    else:
        kept = int((ctx.data.corpus.manifest.get("accounting") or {}).get("kept", 0))
        sizes = cluster_sizes(dups.table, kept)
        multi = {k: v for k, v in sizes.items() if k > 1}
        if multi:
            sec.add(ctx.figure("duplicate_clusters.png", "duplicate cluster sizes", lambda c: c.bars(
                "Clusters by size (documents in the cluster, kept one included)",
                [f"size {k}" for k in multi], list(multi.values()), "clusters", color="#8e5bb5")))
        else:
            sec.add(Para("No duplicates were found: every kept document is alone in its cluster.", "muted"))
        sec.add(Table(["cluster size", "clusters", "documents"],
                      [[num(k), num(v), num(k * v)] for k, v in sizes.items()]))
    if counters:
        sec.add(Table(["counter", "value"], [[k, num(v)] for k, v in sorted(counters.items())], "dedupe counters"))


def provenance_section(ctx: Context) -> Section:
    c = ctx.data.corpus
    m = c.manifest
    sec = Section("provenance", "Provenance")
    sec.add(Table(["", ""], [
        ["version id", c.version_id], ["schema version", str(m.get("schema_version", "–"))],
        ["manifest format", str(m.get("format", "–"))], ["corpus name", str(c.config.get("name", "–"))],
        ["seed", str(c.config.get("seed", "–"))], ["directory", c.root]]))
    _chain_blocks(c.root, sec)
    _verify_blocks(ctx, sec)
    inputs = m.get("inputs") or []
    sec.add(Heading(f"Inputs ({num(len(inputs))} files, {num(sum(int(i.get('bytes', 0)) for i in inputs))} bytes)"))
    sec.add(Para("patterns: " + ", ".join(m.get("input_patterns") or ["–"]), "muted"))
    sec.add(Table(["source", "bytes", "sha256"], [[i.get("source", ""), num(i.get("bytes")), str(i.get("sha256", ""))]
                                                  for i in inputs[:MAX_INPUT_ROWS]]))
    if len(inputs) > MAX_INPUT_ROWS:
        sec.add(Para(f"… and {num(len(inputs) - MAX_INPUT_ROWS)} more (all are listed in manifest.json).", "muted"))
    packages = [[k, str(v)] for k, v in (m.get("packages") or {}).items()]
    sec.add(Heading("Packages"), Table(["package", "version"], packages))
    if c.run_info:
        sec.add(Heading("Run (run.json: not part of the version)"),
                Table(["", ""], [[k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)]
                                 for k, v in sorted(c.run_info.items())]))
    sec.add(Heading("Config"), Code(json.dumps(c.config, indent=2, sort_keys=True, ensure_ascii=False)))
    return sec


def _chain_blocks(root: str, sec: Section) -> None:
    """The versions of the chain this version heads (docs/incremental.md); nothing for a full build."""
    from pipelines.corpus.manifest import read_chain
    from transforms.config_base import ConfigError

    try:
        versions = read_chain(root)
    except ConfigError as e:
        sec.add(Heading("Chain"), Para(f"cannot follow the chain: {e}", "bad"))
        return
    if len(versions) == 1:
        return
    sec.add(Heading(f"Chain ({len(versions)} versions, this one first)"))
    sec.add(Table(["version", "directory", "read", "kept", "supersedes"], [
        [v.version_id, v.root, num(v.manifest["accounting"]["read"]), num(v.manifest["accounting"]["kept"]),
         num(v.manifest["accounting"].get("superseded", 0))] for v in versions]))
    acc = (versions[0].manifest.get("chain") or {}).get("accounting") or {}
    if acc:
        sec.add(Para("chain: read {} = effective kept {} + superseded {} + rejected {} + filtered {} + duplicates {}"
                     .format(*(num(acc.get(k, 0)) for k in ("read", "effective_kept", "superseded", "rejected",
                                                            "filtered", "duplicates"))),
                     "ok" if acc.get("holds") else "bad"))


def _verify_blocks(ctx: Context, sec: Section) -> None:
    vr = ctx.verify_report
    sec.add(Heading("longlm verify"))
    if vr is None:
        sec.add(Para("Not run for this report (--skip-verify).", "missing"))
        return
    if vr.ok:
        sec.add(Para(f"OK: {num(vr.checked_files)} files re-hashed, {num(vr.checked_rows)} rows re-counted, "
                     "accounting identity and version id re-checked.", "ok"))
        return
    sec.add(Para(f"FAILED: {len(vr.problems)} problems ({num(vr.checked_files)} files, "
                 f"{num(vr.checked_rows)} rows checked).", "bad"))
    sec.add(Table(["problem"], [[p] for p in vr.problems[:MAX_PROBLEMS]]))
    if len(vr.problems) > MAX_PROBLEMS:
        sec.add(Para(f"… and {len(vr.problems) - MAX_PROBLEMS} more; run `longlm verify` for all.", "muted"))
