"""Exact duplicates: documents whose normalized text hashes equal collapse to one.

Two steps, both keyed groupings of small summaries (never of documents):

1. By doc_id: several inputs with one doc_id (the same decoded text ingested twice) collapse into
   one member that remembers how many copies it stands for.
2. By exact hash (only when exact dedupe is on): distinct doc_ids with one normalized text are
   linked to the group's smallest doc_id by "exact" edges, and only that representative goes on to
   MinHash-LSH. The edges join the near edges in the connected-components step, so exact and near
   duplicates end in one cluster under one keep rule.
"""

from __future__ import annotations

from typing import Iterable

import apache_beam as beam

from transforms.stats import STATS, stat

EDGES = "exact_edges"


def collapse_copies(summaries: Iterable[dict]) -> dict:
    """One summary for inputs sharing a doc_id: the one with the smallest exact hash (deterministic),
    with "copies" = the sum of their copies and "first" = the smallest of their copy keys."""
    summaries = list(summaries)
    first = dict(min(summaries, key=lambda s: s["exact"]))
    first["copies"] = sum(s["copies"] for s in summaries)
    keys = [tuple(s["first"]) for s in summaries if s.get("first") is not None]
    first["first"] = min(keys) if keys else None  # the input that takes the decision (stage._Apply)
    return first


def link_exact(members: Iterable[dict]) -> tuple[dict, list[tuple[str, str]]]:
    """(representative, edges) of one exact-hash group: the smallest doc_id, and (doc_id, it) for
    every other member."""
    members = sorted(members, key=lambda m: m["doc_id"])
    rep = members[0]
    return rep, [(m["doc_id"], rep["doc_id"]) for m in members[1:]]


def _collapse(element):
    _, summaries = element
    yield collapse_copies(summaries)


class _LinkExact(beam.DoFn):
    def process(self, element):
        _, members = element
        rep, edges = link_exact(members)
        yield rep
        for e in edges:
            yield beam.pvalue.TaggedOutput(EDGES, e)
        if edges:
            yield stat("dedupe.exact_groups")


class ExactDuplicates(beam.PTransform):
    """PCollection[(doc_id, summary)] -> (members: one summary per doc_id, representatives that go on
    to LSH, exact edges, stats). With `link` off, every member is a representative and there are no
    edges."""

    def __init__(self, link: bool):
        super().__init__()
        self.link = link

    def expand(self, keyed_summaries):
        members = (
            keyed_summaries
            | "GroupCopies" >> beam.GroupByKey()
            | "CollapseCopies" >> beam.FlatMap(_collapse)
        )
        if not self.link:
            none = members.pipeline | "NoExactEdges" >> beam.Create([])
            return members, members, none, members.pipeline | "NoExactStats" >> beam.Create([])
        linked = (
            members
            | "ByExactHash" >> beam.Map(lambda m: (m["exact"], m))
            | "GroupExact" >> beam.GroupByKey()
            | "LinkExact" >> beam.ParDo(_LinkExact()).with_outputs(EDGES, STATS, main="reps")
        )
        return members, linked.reps, linked[EDGES], linked[STATS]
