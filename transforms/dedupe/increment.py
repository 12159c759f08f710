"""Incremental dedupe: the `signatures/` table every build writes, and deciding new documents against a base chain.

Every build writes one SIGNATURES row per distinct document the dedupe stage compared (kept or
removed): its exact hash, keep-rule Han count, MinHash signature and shingle-set size, its decision
(cluster_id, kept document and that document's Han count, exact hash and signature) and the version
that read it (null: this one). That is everything a later build needs to dedupe against this
version without its raw input.

`longlm build --base OLD` reads OLD's rows (the whole chain's, see below) back as *base members* of
the dedupe graph (:class:`BaseVersion`):

* A new input whose doc_id is a base doc_id (the same text again) never enters the graph: it is a
  duplicate of that base document's kept document (:func:`copy_decision`).
* Every base row that is a duplicate gets an edge to its kept document (:func:`base_edges`), so the
  base's clusters are whole in the graph; new documents are linked to base members by the usual exact
  and MinHash-LSH edges, containment checked on exact shingle sets both ways (a base kept document's
  set is recomputed from its text in the chain's documents/ tables; a base duplicate has no text
  stored, and a pair that needs its exact set is dropped, counted in dedupe.exact_check_missing_set).
* A cluster without new members keeps the base rows as they are. A cluster with new members is
  decided by the usual keep rule over *all* its members (:func:`decide_members`), as a full build
  would: new members get decisions; a base document the chain kept that loses is **superseded**: a
  SUPERSEDED row (its version, the document kept in its place, kind, similarity, containment),
  counted in dedupe.superseded. Base files are never touched; the chain's effective corpus is every
  version's kept documents minus those later versions superseded.
* Base rows pass through to the new version's signatures/ (with their current decision and version),
  so a version built on a base holds the signatures of its whole chain and can itself be a base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.tables import SIGNATURES, SUPERSEDED, make_row
from transforms.dedupe.minhash import estimated_jaccard, sig_from_bytes
from transforms.stats import STATS, stat

#: Tagged outputs of the dedupe stage holding SIGNATURES and SUPERSEDED rows.
SIGS = "signatures"
SUPERSEDES = "superseded"


@dataclass(frozen=True)
class BaseVersion:
    """The base an increment dedupes against: the base's `version_id`, its SIGNATURES files (the rows of
    its whole chain) and the DOCUMENTS files of every version of the chain (the text of the chain's
    kept documents, read for the few that need an exact containment check)."""

    version_id: str
    signatures: tuple[str, ...]
    documents: tuple[str, ...] = ()


def kept_fields(kept: dict) -> dict:
    """The kept-document columns of a SIGNATURES row, from the kept member's summary."""
    return {"kept_doc_id": kept["doc_id"], "kept_han": kept["han"], "kept_exact": kept["exact"],
            "kept_signature": kept["sig"]}


def signature_row(member: dict, cluster_id: str, kept: dict) -> dict:
    """A SIGNATURES row for `member` (a dedupe summary; a base member carries its "version") in cluster
    `cluster_id`; `kept` is kept_fields()."""
    row = {
        "doc_id": member["doc_id"], "exact": member["exact"], "han": int(member["han"]), "size": int(member["size"]),
        "copies": int(member["copies"]), "signature": member["sig"], "cluster_id": cluster_id, **kept,
        "version_id": member.get("version"),
    }
    if row["kept_doc_id"] == row["doc_id"]:
        row["kept_signature"] = None  # its own signature: not stored twice
    return make_row(SIGNATURES, **row)


def base_member(row: dict, base_version_id: str = "") -> dict:
    """A SIGNATURES row of base `base_version_id` as a dedupe summary, with the row itself under "base"
    (its version_id filled in: the row's own, else the base's)."""
    version = row.get("version_id") or base_version_id
    row = make_row(SIGNATURES, **{k: row.get(k) for k in SIGNATURES.schema.names if k != "version_id"},
                   version_id=version)
    return {"doc_id": row["doc_id"], "exact": row["exact"], "han": int(row["han"]), "sig": row["signature"],
            "size": int(row["size"] or 0), "copies": int(row["copies"] or 1), "base": row, "version": version}


def base_edges(member: dict) -> list[tuple[str, str]]:
    """The graph edge of a base member that was a duplicate: to its kept document (base clusters stay whole)."""
    row = member["base"]
    return [(row["doc_id"], row["kept_doc_id"])] if row["kept_doc_id"] != row["doc_id"] else []


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


def superseded_row(member: dict, decision: dict) -> dict:
    """A SUPERSEDED row: base member `member`, kept by its version, loses to `decision`'s kept document."""
    return make_row(SUPERSEDED, doc_id=member["doc_id"], version_id=member["version"],
                    kept_doc_id=decision["kept_doc_id"], kind=decision["kind"], cluster_id=decision["cluster_id"],
                    similarity=decision.get("similarity"), containment=decision.get("containment"))


def decide_members(cluster_id: str, members: list[dict], decide_cluster: Callable) -> tuple[list, list, list, list]:
    """(decisions for new members, SIGNATURES rows for all members, SUPERSEDED rows, counter names) of one cluster.

    `decide_cluster(cluster_id, members)` is the usual keep rule. A cluster of base members only keeps
    their rows; any other cluster is decided over all its members, and a base member its version
    kept that is not the winner is superseded."""
    base = [m for m in members if m.get("base")]
    new = [m for m in members if not m.get("base")]
    if not new:
        return [], [m["base"] for m in base], [], []
    decisions = decide_cluster(cluster_id, members)
    by_id = {m["doc_id"]: m for m in members}
    kept_id = next(doc_id for doc_id, d in decisions if d["kind"] is None)
    kept = kept_fields(by_id[kept_id])
    rows = [signature_row(by_id[doc_id], cluster_id, kept) for doc_id, _ in decisions]
    new_ids = {m["doc_id"] for m in new}
    superseded = []
    counters = ["dedupe.base_attached"] * len(new) if base else []
    for doc_id, d in decisions:
        m = by_id[doc_id]
        if m.get("base") and d["kind"] is not None and m["base"]["kept_doc_id"] == doc_id:
            superseded.append(superseded_row(m, d))
            counters.append("dedupe.superseded")
    return [(doc_id, d) for doc_id, d in decisions if doc_id in new_ids], rows, superseded, counters


class _ReadSignatureFile(beam.DoFn):
    """A SIGNATURES Parquet path -> (doc_id, base member) and, on EDGES, the base duplicates' edges;
    one row group at a time."""

    def __init__(self, base_version_id: str):
        self.base_version_id = base_version_id

    def process(self, path: str):
        with FileSystems.open(path, compression_type="uncompressed") as f:
            pf = pq.ParquetFile(f)
            for i in range(pf.num_row_groups):
                for row in pf.read_row_group(i).to_pylist():
                    member = base_member(row, self.base_version_id)
                    yield row["doc_id"], member
                    for edge in base_edges(member):
                        yield beam.pvalue.TaggedOutput(EDGES, edge)
                    yield stat("dedupe.base_members")


#: Tagged output of :class:`_ReadSignatureFile` holding the base duplicates' edges.
EDGES = "base_edges"


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
    """(doc_id, new summary) -> (graph members keyed by doc_id: new + base, known decisions, base edges, stats).

    `base` names the base's SIGNATURES files (listed from its manifest at launch)."""

    def __init__(self, base: BaseVersion):
        super().__init__()
        self.base = base

    def expand(self, keyed_new):
        read = (
            keyed_new.pipeline
            | "BaseSignatureFiles" >> beam.Create(sorted(self.base.signatures))
            | "ReadBaseSignatures" >> beam.ParDo(_ReadSignatureFile(self.base.version_id)).with_outputs(
                EDGES, STATS, main="members")
        )
        split = (
            {"new": keyed_new, "base": read.members}
            | "JoinBase" >> beam.CoGroupByKey()
            | "SplitKnown" >> beam.ParDo(_SplitKnown()).with_outputs("known", STATS, main="members")
        )
        stats = (read[STATS], split[STATS]) | "FlattenBaseStats" >> beam.Flatten()
        return split.members, split.known, read[EDGES], stats
