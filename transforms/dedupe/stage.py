"""The dedupe stage as one Beam transform: exact + near-duplicate clusters, keep rule, boilerplate.

Graph (no step gathers all documents or all signatures on one worker):

1. Summarize each document: exact hash, key text -> shingles -> MinHash signature (numpy), Han count.
2. Group summaries by doc_id (copies of one text collapse), then by exact hash: exact edges to
   the group's smallest doc_id, one representative per group goes on (:mod:`.exact`).
3. LSH: band keys -> GroupByKey -> verified candidate edges (:mod:`.lsh`). Pairs that need their exact
   shingle sets get them recomputed for those documents only (`_CandidateSets`), so no other
   document's set goes through a shuffle.
4. Connected components over exact + near edges, distributed (:mod:`.components`).
5. Group member summaries by cluster; keep rule: most Han characters, ties -> smallest doc_id. Every
   member also becomes a SIGNATURES row; with a base version, base members join the graph, and a base
   document that loses to a new one is superseded (:mod:`.increment`).
6. Apply the decisions to the documents, looked up by doc_id in a multimap side input (ids travel,
   text does not): kept documents (cluster_id, cluster_size) and
   duplicates rows (kind exact/near/contained, cluster_id, kept_doc_id, estimated similarity with the
   kept document, containment in it: exact when the pair was checked on its shingle sets).
7. Cross-document boilerplate lines on the kept documents (:mod:`.boilerplate`).
"""

from __future__ import annotations

import functools

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.tables import DUPLICATES, make_row
from transforms.dedupe.boilerplate import RemoveBoilerplate
from transforms.dedupe.components import ConnectedComponents
from transforms.dedupe.config import BoilerplateConfig, DedupeConfig
from transforms.dedupe.exact import ExactDuplicates
from transforms.dedupe.increment import SIGS, SUPERSEDES, BaseVersion, WithBase, decide_members
from transforms.dedupe.keytext import exact_hash, han_count, key_text, make_converter, nfkc
from transforms.dedupe.lsh import CandidateEdges
from transforms.dedupe.minhash import (
    estimated_containment,
    estimated_jaccard,
    permutations,
    shingle_hashes,
    sig_from_bytes,
    sig_to_bytes,
    signature,
    unique_hashes,
)
from transforms.result import StageResult
from transforms.stats import STATS, stat

SETS = "sets"


def shingle_set(text: str, converter, ngram: int):
    """Sorted unique shingle hashes of a document's key text (uint32), the set exact checks compare."""
    return unique_hashes(shingle_hashes(key_text(nfkc(text), converter), ngram))


class _CandidateSets(beam.DoFn):
    """document -> the document (main) and, for one in a pair to check exactly (`needed`: a multimap side
    input of their doc_ids), (doc_id, shingle set bytes) on SETS. Recomputing the few sets needed keeps
    every other document's set out of the shuffles. The documents pass through so that this stage is
    their one reader here: the local FnApiRunner holds a stage's output watermark until every
    reader of its input has run, and _Apply (which waits on these sets) reads them after it."""

    def __init__(self, cfg: DedupeConfig):
        self.cfg = cfg

    def setup(self):
        self.converter = make_converter()

    def process(self, doc, needed):
        if list(needed[doc["doc_id"]]):
            uniq = shingle_set(doc["text"], self.converter, self.cfg.ngram)
            yield beam.pvalue.TaggedOutput(SETS, (doc["doc_id"], uniq.astype("<u4").tobytes()))
        yield doc


class _SetsOnDemand:
    """The `sets_for` of :class:`CandidateEdges`: applies `_CandidateSets` to the documents and keeps its
    pass-through of them in `.docs`, which every later reader of the documents must use instead. With a
    base, the base chain's kept documents in pairs to check get their sets from their stored text."""

    def __init__(self, docs, cfg: DedupeConfig, base: BaseVersion | None = None):
        self.docs, self._cfg, self._base = docs, cfg, base
        self.stats = []

    def __call__(self, ids):
        needed = beam.pvalue.AsMultiMap(ids | "NeededSets" >> beam.Map(lambda doc_id: (doc_id, None)))
        out = self.docs | "CandidateSets" >> beam.ParDo(_CandidateSets(self._cfg), needed).with_outputs(
            SETS, main="docs")
        self.docs = out.docs
        if self._base is None or not self._base.documents:
            return out[SETS]
        base = (
            self.docs.pipeline
            | "BaseDocumentFiles" >> beam.Create(sorted(self._base.documents))
            | "BaseSets" >> beam.ParDo(_BaseSets(self._cfg), needed).with_outputs(STATS, main="sets")
        )
        self.stats.append(base[STATS])
        return (out[SETS], base.sets) | "NewAndBaseSets" >> beam.Flatten()


class _BaseSets(beam.DoFn):
    """A DOCUMENTS Parquet path of the base chain -> (doc_id, shingle set bytes) of its documents in `needed`
    (a multimap side input of doc_ids), one row group at a time; text is read only for row groups holding one.
    The set comes from the stored text, which lacks the boilerplate lines its build removed (docs/incremental.md)."""

    def __init__(self, cfg: DedupeConfig):
        self.cfg = cfg

    def setup(self):
        self.converter = make_converter()

    def process(self, path: str, needed):
        with FileSystems.open(path, compression_type="uncompressed") as f:
            pf = pq.ParquetFile(f)
            for i in range(pf.num_row_groups):
                ids = pf.read_row_group(i, columns=["doc_id"]).column("doc_id").to_pylist()
                wanted = [j for j, doc_id in enumerate(ids) if list(needed[doc_id])]
                if not wanted:
                    continue
                texts = pf.read_row_group(i, columns=["text"]).column("text")
                for j in wanted:
                    uniq = shingle_set(texts[j].as_py(), self.converter, self.cfg.ngram)
                    yield ids[j], uniq.astype("<u4").tobytes()
                    yield stat("dedupe.base_sets")


class _Summarize(beam.DoFn):
    """document -> (doc_id, summary).

    summary: doc_id, exact (hash), han (keep-rule Han count), sig (signature bytes, None without
    key text or with near dedupe off), size (shingle count; distinct when containment or exact
    checks need it), copies (1), first (the document's copy key; the smallest among inputs that
    share the doc_id after collapsing: that input takes the cluster decision, the others are exact copies).
    """

    def __init__(self, cfg: DedupeConfig):
        self.cfg = cfg

    def setup(self):
        self.converter = make_converter()
        self.perms = permutations(self.cfg.num_perm, self.cfg.minhash_seed)

    def process(self, doc):
        cfg, text = self.cfg, doc["text"]
        han = doc.get("han_chars")
        normalized = nfkc(text)  # once: exact_hash and key_text skip NFKC on normalized text
        summary = {
            "doc_id": doc["doc_id"],
            "exact": exact_hash(normalized),
            "han": han_count(text) if han is None else int(han),
            "sig": None,
            "size": 0,
            "copies": 1,
            "first": _copy_order(doc),
        }
        if cfg.near:
            hashes = shingle_hashes(key_text(normalized, self.converter), cfg.ngram)
            if hashes.size == 0:
                yield stat("dedupe.near_skipped_empty")
            else:
                summary["sig"] = sig_to_bytes(signature(hashes, self.perms))
                summary["size"] = int(hashes.size)
                if cfg.containment or cfg.verify_exact_jaccard:
                    summary["size"] = int(unique_hashes(hashes).size)
        yield stat("dedupe.input_docs")
        yield (summary["doc_id"], summary)


def keep_order(member: dict) -> tuple:
    """Sort key of the keep rule: most Han characters first, then smallest doc_id."""
    return (-member["han"], member["doc_id"])


def decide_cluster(
    cluster_id: str, members: list[dict], cfg: DedupeConfig | None = None
) -> list[tuple[str, dict]]:
    """(doc_id, decision) for every member of one cluster. The kept member's decision has kind None;
    others: kind "exact" when their exact hash equals the kept one's (similarity 1.0, containment
    1.0), else "near" with the signature-estimated Jaccard against the kept document, or, in
    containment mode, "contained" when that Jaccard is below `cfg.threshold`, the member's shingle
    set is at most `cfg.containment_max_ratio` of the kept one's and its estimated containment in it is at least
    `cfg.containment_threshold` (a partial upload, an excerpt). Near and contained decisions carry the
    estimated containment (None without containment mode); _Apply replaces it by the exact value
    when the pair was checked exactly."""
    cfg = cfg or DedupeConfig()
    members = sorted(members, key=keep_order)
    kept = members[0]
    size = sum(m["copies"] for m in members)
    out = []
    for m in members:
        decision = {"cluster_id": cluster_id, "cluster_size": size, "kept_doc_id": kept["doc_id"], "first": m.get("first")}
        if m is kept:
            decision.update(kind=None, similarity=None, containment=None)
        elif m["exact"] == kept["exact"]:
            decision.update(kind="exact", similarity=1.0, containment=1.0)
        else:
            sim = contained = None
            if m["sig"] is not None and kept["sig"] is not None:
                sim = estimated_jaccard(sig_from_bytes(m["sig"]), sig_from_bytes(kept["sig"]))
                if cfg.containment and m["size"] and kept["size"]:
                    contained = estimated_containment(sim, m["size"], kept["size"])  # m's share found in kept
            kind = "near"
            smaller = m["size"] <= cfg.containment_max_ratio * kept["size"]
            if cfg.containment and sim is not None and sim < cfg.threshold and smaller:
                kind = "contained" if contained >= cfg.containment_threshold - cfg.containment_verify_slack else "near"
            decision.update(kind=kind, similarity=sim, containment=contained)
        out.append((m["doc_id"], decision))
    return out


def _cluster_of(element):
    doc_id, grouped = element
    roots = list(grouped["root"])
    for member in grouped["member"]:
        yield (roots[0] if roots else doc_id, member)


class _Decide(beam.DoFn):
    """Decisions for a cluster's new members, SIGNATURES rows for all, SUPERSEDED rows for base documents
    that lose to a new one (or, through a new one, to another base document)."""

    def __init__(self, cfg: DedupeConfig):
        self.cfg = cfg

    def process(self, element):
        cluster_id, members = element
        members = list(members)
        decisions, rows, superseded, counters = decide_members(
            cluster_id, members, functools.partial(decide_cluster, cfg=self.cfg))
        if not all(m.get("base") for m in members) and sum(m["copies"] for m in members) > 1:
            yield stat("dedupe.clusters")
        for name in counters:
            yield stat(name)
        for row in rows:
            yield beam.pvalue.TaggedOutput(SIGS, row)
        for row in superseded:
            yield beam.pvalue.TaggedOutput(SUPERSEDES, row)
        yield from decisions


def _measured_superseded(row: dict, measured) -> dict:
    """A SUPERSEDED row with its containment made exact when its pair was checked on exact sets."""
    return dict(row, containment=measured_containment(row, list(measured[row["doc_id"]])))


def duplicate_row(doc: dict, decision: dict, kind: str, similarity, containment=None) -> dict:
    """A DUPLICATES row for removed document `doc`."""
    return make_row(
        DUPLICATES, doc_id=doc["doc_id"], source=doc.get("source"), locator=doc.get("locator"),
        title=doc.get("title"), kind=kind, cluster_id=decision["cluster_id"], kept_doc_id=decision["kept_doc_id"],
        similarity=similarity, char_length=doc.get("char_length"), containment=containment,
    )


def _copy_order(doc: dict) -> tuple:
    return (doc.get("source") or "", doc.get("locator") or "", doc.get("title") or "")


def measured_containment(decision: dict, measured) -> float | None:
    """The exact containment of this document in its kept one when the pair was checked exactly
    (`measured`: (longer doc_id, containment) pairs), else the decision's estimate."""
    exact = [c for other, c in measured if other == decision["kept_doc_id"]]
    return exact[0] if exact else decision.get("containment")


class _Apply(beam.DoFn):
    """document -> kept document, or DUPLICATES row; stats. Decisions and exact containments come
    as multimap side inputs keyed by doc_id (looked up per document, never gathered whole), so the
    documents' text is not shuffled here. Of several inputs with one doc_id, the one whose copy key
    (`_copy_order`) is the decision's `first` takes the decision; the others are exact copies."""

    def process(self, doc, decisions, measured):
        doc_id = doc["doc_id"]
        found = list(decisions[doc_id])  # a lazily fetched iterable beyond ~100 keys
        if len(found) != 1:
            raise RuntimeError(f"dedupe: {len(found)} decisions for document {doc_id}")
        decision = found[0]
        if decision.get("first") is not None and _copy_order(doc) != tuple(decision["first"]):
            yield self._removed(doc, decision, "exact", 1.0, 1.0)
            yield stat("dedupe.exact_removed")
        elif decision["kind"] is None:
            yield dict(doc, cluster_id=decision["cluster_id"], cluster_size=decision["cluster_size"])
            yield stat("dedupe.kept")
        else:
            contained = measured_containment(decision, list(measured[doc_id]))
            yield self._removed(doc, decision, decision["kind"], decision["similarity"], contained)
            yield stat(f"dedupe.{decision['kind']}_removed")

    @staticmethod
    def _removed(doc, decision, kind, similarity, containment):
        return beam.pvalue.TaggedOutput("duplicates", duplicate_row(doc, decision, kind, similarity, containment))


class DedupeDocuments(beam.PTransform):
    """PCollection[cleaned document dict] -> StageResult: main ``kept`` (document dicts, cluster fields and
    boilerplate_lines_removed set), side ``duplicates`` (DUPLICATES rows) and ``signatures`` (SIGNATURES
    rows, :mod:`.base`), stats.

    Stats: dedupe.input_docs, dedupe.kept, dedupe.exact_removed, dedupe.near_removed,
    dedupe.contained_removed, dedupe.clusters (clusters of 2+ documents), dedupe.exact_groups, dedupe.near_edges,
    dedupe.lsh_pair_checks, dedupe.large_buckets, dedupe.near_skipped_empty, dedupe.cc_nodes,
    boilerplate.patterns, boilerplate.lines_removed, boilerplate.docs_changed; with a base: dedupe.base_members,
    dedupe.base_copies, dedupe.base_attached (new documents in clusters with base documents),
    dedupe.base_sets, dedupe.superseded (= rows of ``superseded``).

    `base`: the base chain to dedupe against (:mod:`.increment`); None: none. Side ``superseded``
    (SUPERSEDED rows) is empty without one.
    """

    def __init__(self, dedupe_cfg: DedupeConfig | None = None, boilerplate_cfg: BoilerplateConfig | None = None,
                 base: BaseVersion | None = None):
        super().__init__()
        self.cfg = dedupe_cfg or DedupeConfig()
        self.bcfg = boilerplate_cfg or BoilerplateConfig()
        self.base = base

    def expand(self, docs):
        cfg = self.cfg
        summarized = docs | "Summarize" >> beam.ParDo(_Summarize(cfg)).with_outputs(STATS, main="summaries")
        keyed, stats, known = summarized.summaries, [summarized[STATS]], []
        edge_sets = []
        if self.base is not None:
            keyed, known_decisions, base_edges, base_stats = keyed | "Base" >> WithBase(self.base)
            stats.append(base_stats)
            known.append(known_decisions)
            edge_sets.append(base_edges)
        members, reps, exact_edges, exact_stats = keyed | "Exact" >> ExactDuplicates(cfg.exact)
        stats.append(exact_stats)
        edge_sets.append(exact_edges)
        measured = None  # exact containments of checked pairs, when near dedupe runs
        if cfg.near:
            reps = reps | "SignedReps" >> beam.FlatMap(
                lambda r: [(r["doc_id"], r["sig"], r["size"])] if r["sig"] is not None else []
            )
            on_demand = _SetsOnDemand(docs, cfg, self.base)
            lsh = reps | "NearDuplicates" >> CandidateEdges(cfg, on_demand)
            docs = on_demand.docs  # the pass-through when sets were needed (see _CandidateSets)
            edge_sets.append(lsh.edges)
            stats += [lsh.stats, *on_demand.stats]
            measured = lsh.measured
        edges = tuple(edge_sets) | "AllEdges" >> beam.Flatten()
        roots, cc_stats = edges | "Components" >> ConnectedComponents(cfg.max_cc_rounds)
        stats.append(cc_stats)
        members = members | "MemberById" >> beam.Map(lambda m: (m["doc_id"], m))
        decisions = (
            {"member": members, "root": roots}
            | "JoinRoots" >> beam.CoGroupByKey()
            | "ClusterOf" >> beam.FlatMap(_cluster_of)
            | "GroupClusters" >> beam.GroupByKey()
            | "Decide" >> beam.ParDo(_Decide(cfg)).with_outputs(STATS, SIGS, SUPERSEDES, main="decisions")
        )
        stats.append(decisions[STATS])
        all_decisions = (decisions.decisions, *known) | "AllDecisions" >> beam.Flatten() if known else decisions.decisions
        if measured is None:
            measured = docs.pipeline | "NoMeasured" >> beam.Create([])
        applied = docs | "Apply" >> beam.ParDo(
            _Apply(), beam.pvalue.AsMultiMap(all_decisions), beam.pvalue.AsMultiMap(measured)
        ).with_outputs("duplicates", STATS, main="kept")
        stats.append(applied[STATS])
        kept, bp_stats = applied.kept | "Boilerplate" >> RemoveBoilerplate(self.bcfg)
        stats.append(bp_stats)
        superseded = decisions[SUPERSEDES] | "MeasuredSuperseded" >> beam.Map(
            _measured_superseded, beam.pvalue.AsMultiMap(measured))
        return StageResult(kept, "kept", side={"duplicates": applied.duplicates, "signatures": decisions[SIGS],
                                               SUPERSEDES: superseded},
                           stats=tuple(stats) | "FlattenStats" >> beam.Flatten())
