"""Incremental dedupe: the `signatures/` table every build writes, and deciding new documents against a base.

Every build writes one SIGNATURES row per distinct document the dedupe stage compared (kept or
removed): its exact hash, keep-rule Han count, MinHash signature and shingle-set size, and its
decision (cluster_id, kept document and that document's Han count, exact hash and signature). That is
everything a later build needs to dedupe against this version without its raw input.

`longlm build --base OLD` reads OLD's rows back as *base members* of the dedupe graph:

* A new input whose doc_id is a base doc_id (the same text again) never enters the graph: it is a
  duplicate of that base document's kept document (:func:`copy_decision`).
* Other new documents are linked to base members by the usual exact and MinHash-LSH edges. A cluster
  without base members is decided by the usual keep rule. In a cluster with base members every new
  document is a duplicate whose kept document is the base's (:func:`attach_to_base`): base decisions
  never change. If the cluster holds several base clusters (a new document similar to two base
  documents the base kept apart), the new documents join the base cluster whose kept document sorts
  first under the keep rule (counted: dedupe.base_bridges); a new document that would outrank the base's
  kept document is still its duplicate (counted: dedupe.base_outranked).
* Base rows pass through to the new version's signatures/ unchanged, so a version built on a base
  holds the signatures of its whole lineage and can itself be a base.
"""

from __future__ import annotations

from typing import Callable

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.tables import SIGNATURES, make_row
from transforms.dedupe.minhash import estimated_jaccard, sig_from_bytes
from transforms.stats import STATS, stat

#: Tagged output of the dedupe stage holding SIGNATURES rows.
SIGS = "signatures"


def kept_fields(kept: dict) -> dict:
    """The kept-document columns of a SIGNATURES row, from the kept member's summary."""
    return {"kept_doc_id": kept["doc_id"], "kept_han": kept["han"], "kept_exact": kept["exact"],
            "kept_signature": kept["sig"]}


def signature_row(member: dict, cluster_id: str, kept: dict) -> dict:
    """A SIGNATURES row for `member` (a dedupe summary) in cluster `cluster_id`; `kept` is kept_fields()."""
    row = {
        "doc_id": member["doc_id"], "exact": member["exact"], "han": int(member["han"]), "size": int(member["size"]),
        "copies": int(member["copies"]), "signature": member["sig"], "cluster_id": cluster_id, **kept,
    }
    if row["kept_doc_id"] == row["doc_id"]:
        row["kept_signature"] = None  # its own signature: not stored twice
    return make_row(SIGNATURES, **row)


def base_member(row: dict) -> dict:
    """A SIGNATURES row of the base as a dedupe summary, with the row itself under "base"."""
    return {"doc_id": row["doc_id"], "exact": row["exact"], "han": int(row["han"]), "sig": row["signature"],
            "size": int(row["size"] or 0), "copies": int(row["copies"] or 1), "base": row}


def _target_of(row: dict) -> dict:
    """(cluster_id + kept fields) of a base row's decision, with the kept signature filled in."""
    sig = row["kept_signature"] if row["kept_signature"] is not None else (
        row["signature"] if row["kept_doc_id"] == row["doc_id"] else None)
    return {"cluster_id": row["cluster_id"], "kept_doc_id": row["kept_doc_id"], "kept_han": int(row["kept_han"]),
            "kept_exact": row["kept_exact"], "kept_signature": sig}


def _removed_decision(member: dict, target: dict) -> dict:
    """Decision for a new `member` that is a duplicate of base target `target`."""
    decision = {"cluster_id": target["cluster_id"], "cluster_size": None, "kept_doc_id": target["kept_doc_id"]}
    if member["exact"] == target["kept_exact"]:
        return dict(decision, kind="exact", similarity=1.0)
    sim = None
    if member["sig"] is not None and target["kept_signature"] is not None:
        sim = estimated_jaccard(sig_from_bytes(member["sig"]), sig_from_bytes(target["kept_signature"]))
    return dict(decision, kind="near", similarity=sim)


def copy_decision(member: dict, base_row: dict) -> dict:
    """Decision for new inputs whose doc_id is base row `base_row`'s (the same text as a base document)."""
    return _removed_decision(member, _target_of(base_row))


def attach_to_base(new: list[dict], base: list[dict]) -> tuple[list[tuple[str, dict]], list[dict], list[str]]:
    """(decisions for the new members, their SIGNATURES rows, counter names) of a cluster with base members."""
    targets = {}
    for m in base:
        t = _target_of(m["base"])
        targets[(t["cluster_id"], t["kept_doc_id"])] = t
    target = min(targets.values(), key=lambda t: (-t["kept_han"], t["kept_doc_id"]))
    counters = ["dedupe.base_bridges"] if len(targets) > 1 and new else []
    decisions, rows = [], []
    kept = {k: target[k] for k in ("kept_doc_id", "kept_han", "kept_exact", "kept_signature")}
    for m in sorted(new, key=lambda m: m["doc_id"]):
        decisions.append((m["doc_id"], dict(_removed_decision(m, target), first=m.get("first"))))
        rows.append(signature_row(m, target["cluster_id"], kept))
        counters.append("dedupe.base_attached")
        if (-m["han"], m["doc_id"]) < (-target["kept_han"], target["kept_doc_id"]):
            counters.append("dedupe.base_outranked")
    return decisions, rows, counters


def decide_members(cluster_id: str, members: list[dict], decide_cluster: Callable) -> tuple[list, list, list]:
    """(decisions for new members, SIGNATURES rows for all members, counter names) of one cluster.

    `decide_cluster(cluster_id, members)` is the usual keep rule, used when no member is a base member.
    """
    base = [m for m in members if m.get("base")]
    if base:
        new = [m for m in members if not m.get("base")]
        decisions, rows, counters = attach_to_base(new, base)
        return decisions, [m["base"] for m in base] + rows, counters
    decisions = decide_cluster(cluster_id, members)
    by_id = {m["doc_id"]: m for m in members}
    kept_id = next(doc_id for doc_id, d in decisions if d["kind"] is None)
    kept = kept_fields(by_id[kept_id])
    rows = [signature_row(by_id[doc_id], cluster_id, kept) for doc_id, _ in decisions]
    return decisions, rows, []


class _ReadSignatureFile(beam.DoFn):
    """A SIGNATURES Parquet path -> (doc_id, base member), one row group at a time."""

    def process(self, path: str):
        with FileSystems.open(path, compression_type="uncompressed") as f:
            pf = pq.ParquetFile(f)
            for i in range(pf.num_row_groups):
                for row in pf.read_row_group(i).to_pylist():
                    yield row["doc_id"], base_member(row)
                    yield stat("dedupe.base_members")


@beam.typehints.with_output_types(beam.typehints.Tuple[str, beam.typehints.Any])
class _SplitKnown(beam.DoFn):
    """(doc_id, {"new": [summary], "base": [member]}) -> graph members, and decisions for new copies of base docs."""

    def process(self, element):
        doc_id, grouped = element
        base = list(grouped["base"])
        new = list(grouped["new"])
        if not base:
            for s in new:
                yield doc_id, s
            return
        yield doc_id, base[0]
        if new:
            first = min((tuple(s["first"]) for s in new if s.get("first") is not None), default=None)
            decision = dict(copy_decision(new[0], base[0]["base"]), first=first)
            yield beam.pvalue.TaggedOutput("known", (doc_id, decision))
            yield stat("dedupe.base_copies", sum(s["copies"] for s in new))


class WithBase(beam.PTransform):
    """(doc_id, new summary) -> (graph members keyed by doc_id: new + base, known decisions, stats).

    `paths` are the base's SIGNATURES files (listed from its manifest at launch)."""

    def __init__(self, paths: list[str]):
        super().__init__()
        self.paths = sorted(paths)

    def expand(self, keyed_new):
        read = (
            keyed_new.pipeline
            | "BaseSignatureFiles" >> beam.Create(self.paths)
            | "ReadBaseSignatures" >> beam.ParDo(_ReadSignatureFile()).with_outputs(STATS, main="members")
        )
        split = (
            {"new": keyed_new, "base": read.members}
            | "JoinBase" >> beam.CoGroupByKey()
            | "SplitKnown" >> beam.ParDo(_SplitKnown()).with_outputs("known", STATS, main="members")
        )
        stats = (read[STATS], split[STATS]) | "FlattenBaseStats" >> beam.Flatten()
        return split.members, split.known, stats
