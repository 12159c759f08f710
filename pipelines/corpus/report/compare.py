"""`longlm report NEW --compare OLD`: what changed from version OLD to version NEW, the direction of
`longlm diff OLD NEW`. Columns and titles name the two by role (--compare, this report), not by letter."""

from __future__ import annotations

import json

import numpy as np

from pipelines.corpus.report.charts import Panel
from pipelines.corpus.report.data import CorpusData
from pipelines.corpus.report.doc import Heading, Para, Section, Table, num
from pipelines.corpus.report.measure import diff, flatten
from pipelines.corpus.report.sections import Context

MAX_ROWS = 80


def _value(v, config: bool = False) -> str:
    """A count with separators; a config value as written in the config (a seed stays 20240101)."""
    if v is None:
        return "–"
    if config or isinstance(v, (dict, list, str)):
        return json.dumps(v, ensure_ascii=False)
    return num(v)


def _delta(a, b) -> tuple[str, str]:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool):
        return "–", "–"
    d = a - b
    return (f"{d:+,}" if isinstance(d, int) else f"{d:+.4g}"), (f"{100.0 * d / b:+.1f}%" if b else "–")


def counts(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(name, value in B, value in A) for the accounting terms and every counter; counters only when changed."""
    acc_a, acc_b = a.get("accounting") or {}, b.get("accounting") or {}
    terms = ("read", "kept", "rejected", "filtered", "duplicates")
    rows = [(f"accounting.{k}", acc_b.get(k), acc_a.get(k)) for k in terms]
    ca, cb = a.get("counters") or {}, b.get("counters") or {}
    rows += [(k, vb, va) for k, va, vb in diff(ca, cb)]
    return rows


def inputs_change(a: dict, b: dict) -> dict[str, list[str]]:
    """Input sources added in A, removed from B, and changed (same source, other bytes)."""
    ia = {i["source"]: i.get("sha256") for i in a.get("inputs") or []}
    ib = {i["source"]: i.get("sha256") for i in b.get("inputs") or []}
    return {"added": sorted(set(ia) - set(ib)), "removed": sorted(set(ib) - set(ia)),
            "changed": sorted(s for s in set(ia) & set(ib) if ia[s] != ib[s])}


def compare_section(ctx: Context, other: CorpusData) -> Section:
    a, b = ctx.data.corpus, other.corpus
    old, new = "--compare", "this report"
    sec = Section("compare", f"Changes from {b.root} ({b.version_id}, {old}) to {a.root} ({a.version_id}, {new})")
    sec.add(Table(["", old, new], [["version id", b.version_id, a.version_id], ["directory", b.root, a.root]]))
    if a.version_id == b.version_id:
        sec.add(Para("Same version id: same config, inputs and schema.", "ok"))
    config = diff(flatten(b.config), flatten(a.config))
    sec.add(Heading(f"Config ({len(config)} {'key differs' if len(config) == 1 else 'keys differ'})"))
    if config:
        sec.add(Table(["key", old, new], [[k, _value(vb, True), _value(va, True)] for k, vb, va in config]))
    changes = inputs_change(a.manifest, b.manifest)
    sec.add(Heading("Inputs"), Para("; ".join(f"{k}: {len(v)}" + (f" ({', '.join(v[:5])}{' …' if len(v) > 5 else ''})"
                                                                   if v else "") for k, v in changes.items())))
    rows = counts(a.manifest, b.manifest)
    sec.add(Heading("Counts (accounting, and every counter that changed)"))
    sec.add(Table(["count", old, new, "change", "change %"],
                  [[k, _value(vb), _value(va), *_delta(va, vb)] for k, vb, va in rows[:MAX_ROWS]]))
    packages = diff(b.manifest.get("packages") or {}, a.manifest.get("packages") or {})
    if packages:
        sec.add(Heading("Package versions"),
                Table(["package", old, new], [[k, str(x), str(y)] for k, x, y in packages]))
    panels = _overlays(ctx.data, other)
    if panels:
        sec.add(Heading("Distributions, overlaid (each normalised to its own sample)"))
        sec.add(ctx.figure("compare.png", "distributions of both versions overlaid", lambda c: c.panels(panels)))
    return sec


def _overlays(a: CorpusData, b: CorpusData) -> list[Panel]:
    label_a, label_b = f"{a.corpus.version_id} (this report)", f"{b.corpus.version_id} (--compare)"

    def pair(get):
        va, vb = get(a), get(b)
        return None if va is None and vb is None else [(label_b, _or_empty(vb)), (label_a, _or_empty(va))]

    def doc_len(d):
        clean = d.length("char_length")
        return clean if clean is not None else d.length("raw_char_length")

    def pooled(name):
        def get(d):
            s = d.pooled_stats
            return None if s is None else getattr(s, name)
        return get

    def mask(d):
        s = d.pooled_stats
        return None if s is None or s.input_content is None else s.of("infilling").mask_ratio()

    specs = [("Document length (kept)", "characters", doc_len, True),
             ("Input tokens", "tokens", pooled("input_len"), False),
             ("Target tokens", "tokens", pooled("target_len"), False),
             ("Realized mask ratio (infilling)", "ratio", mask, False)]
    out = []
    for title, xlabel, get, log in specs:
        series = pair(get)
        if series is not None:
            out.append(Panel(title, xlabel, series, log_x=log, density=True,
                             x_range=(0.0, 1.0) if get is mask else None))
    return out


def _or_empty(v):
    return v if v is not None else np.zeros(0)
