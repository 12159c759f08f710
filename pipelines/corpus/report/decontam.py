"""Report section "Decontamination": what a build with `--decontaminate` removed, per evaluation file and per
novel, from the decontaminated/ table and the manifest's counters (a build without an eval set says so)."""

from __future__ import annotations

from collections import defaultdict

from pipelines.corpus.report.doc import Para, Section, Table, num, pct

COLUMNS = ["doc_id", "source", "eval_file", "item_index", "chars_removed", "doc_filtered"]
MAX_ROWS = 25
#: Rows of decontaminated/ read (sampled by row group beyond): a table of removals, small even at scale.
MAX_READ = 200_000


def decontamination_section(ctx) -> Section:
    sec = Section("decontamination", "Decontamination")
    m = ctx.data.corpus.manifest
    c = m.get("counters") or {}
    files = (((m.get("config") or {}).get("fingerprints") or {}).get("eval_set") or {}).get("files")
    if "decontaminate.docs_in" not in c:
        sec.add(Para("Built without an evaluation set (longlm build --decontaminate GLOB): nothing was checked. "
                     "longlm decontam-check audits this corpus without rebuilding it.", "muted"))
        return sec  # an optional step not asked for: the corpus is complete without it
    sec.add(Para(
        f"{num(c.get('decontaminate.eval_items_used', 0))} evaluation items indexed from {num(len(files or []))} "
        f"files ({num(c.get('decontaminate.eval_items_too_short', 0))} too short to match on their own); "
        f"{num(c.get('decontaminate.docs_changed', 0))} of {num(c['decontaminate.docs_in'])} documents lost "
        f"{num(c.get('decontaminate.chars_removed', 0))} characters in {num(c.get('decontaminate.removals', 0))} "
        f"stretches; {num(c.get('decontaminate.docs_filtered', 0))} were left too short (filtered: contaminated)."))
    table = ctx.data.corpus.read("decontaminated", COLUMNS, MAX_READ)
    if table is None or table.total == 0:
        sec.add(Para("No evaluation text was found in the corpus.", "ok"))
        return sec
    rows = table.table.to_pylist()
    per_file: dict = defaultdict(lambda: [set(), 0, 0])
    per_doc: dict = defaultdict(lambda: [0, 0, False])
    for r in rows:
        f = per_file[r["eval_file"]]
        f[0].add(r["item_index"])
        f[1] += 1
        f[2] += r["chars_removed"] or 0
        d = per_doc[r["source"] or r["doc_id"]]
        d[0] += 1
        d[1] += r["chars_removed"] or 0
        d[2] = d[2] or bool(r["doc_filtered"])
    total = sum(v[2] for v in per_file.values())
    sec.add(Table(["evaluation file", "items matched", "stretches removed", "characters removed", "share"],
                  [[name, num(len(v[0])), num(v[1]), num(v[2]), pct(v[2], total)]
                   for name, v in sorted(per_file.items())],
                  "Items matched: distinct items attributed a removed stretch (the item with most hits in it)."))
    docs = sorted(per_doc.items(), key=lambda kv: (-kv[1][1], kv[0]))
    sec.add(Table(["novel", "stretches", "characters removed", "filtered"],
                  [[name, num(v[0]), num(v[1]), "yes" if v[2] else ""] for name, v in docs[:MAX_ROWS]],
                  f"The {min(MAX_ROWS, len(docs))} novels that lost most, of {len(docs)}."))
    if table.is_sample:
        sec.add(Para(f"Read {num(table.sampled)} of {num(table.total)} rows.", "muted"))
    return sec
