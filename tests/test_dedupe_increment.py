"""Deciding new documents against a base chain's signatures (transforms.dedupe.increment), without Beam."""

from __future__ import annotations

import numpy as np

from transforms.dedupe.increment import base_edges, base_member, copy_decision, decide_members, signature_row
from transforms.dedupe.minhash import sig_to_bytes
from transforms.dedupe.stage import decide_cluster


def summary(doc_id: str, han: int, exact: str | None = None, sig: int = 0) -> dict:
    return {"doc_id": doc_id, "exact": exact or f"x-{doc_id}", "han": han, "size": 10, "copies": 1,
            "sig": sig_to_bytes(np.arange(8, dtype=np.uint32) + sig)}


def base_of(member: dict, kept: dict, cluster_id: str, version: str = "v1") -> dict:
    return base_member(signature_row(member, cluster_id, {"kept_doc_id": kept["doc_id"], "kept_han": kept["han"],
                                                          "kept_exact": kept["exact"], "kept_signature": kept["sig"]}),
                       version)


def test_a_new_document_that_outranks_the_base_kept_one_supersedes_it():
    k = summary("b", han=100)
    decisions, rows, superseded, counters = decide_members("a", [base_of(k, k, "b"), summary("a", han=500)],
                                                           decide_cluster)
    assert [(doc, d["kind"]) for doc, d in decisions] == [("a", None)]
    assert [(r["doc_id"], r["version_id"], r["kept_doc_id"], r["kind"]) for r in superseded] == [("b", "v1", "a", "near")]
    by_id = {r["doc_id"]: r for r in rows}
    assert by_id["b"]["kept_doc_id"] == "a" and by_id["b"]["version_id"] == "v1" and by_id["a"]["version_id"] is None
    assert sorted(counters) == ["dedupe.base_attached", "dedupe.superseded"]


def test_a_new_document_that_loses_is_a_duplicate_of_the_base_one_and_supersedes_nothing():
    k = summary("b", han=100)
    decisions, _, superseded, _ = decide_members("a", [base_of(k, k, "b"), summary("a", han=50)], decide_cluster)
    assert [(doc, d["kept_doc_id"], d["kind"]) for doc, d in decisions] == [("a", "b", "near")]
    assert superseded == []


def test_a_new_document_bridging_two_base_clusters_supersedes_the_weaker_kept_one():
    k1, k2 = summary("k1", han=100), summary("k2", han=300)
    d2 = summary("d2", han=50, sig=3)
    members = [base_of(k1, k1, "k1"), base_of(k2, k2, "d2"), base_of(d2, k2, "d2"), summary("n", han=10, exact=k2["exact"])]
    decisions, rows, superseded, _ = decide_members("d2", members, decide_cluster)
    assert [(doc, d["kept_doc_id"], d["kind"]) for doc, d in decisions] == [("n", "k2", "exact")]
    assert [(r["doc_id"], r["kept_doc_id"]) for r in superseded] == [("k1", "k2")]  # d2 was no kept document
    assert {r["doc_id"]: r["kept_doc_id"] for r in rows} == {"k1": "k2", "k2": "k2", "d2": "k2", "n": "k2"}


def test_a_cluster_of_base_members_only_keeps_their_rows():
    k, d = summary("k", han=100), summary("d", han=200, sig=1)
    members = [base_of(k, k, "k"), base_of(d, k, "k")]  # even where the keep rule would now decide otherwise
    decisions, rows, superseded, counters = decide_members("d", members, decide_cluster)
    assert (decisions, superseded, counters) == ([], [], [])
    assert rows == [m["base"] for m in members]


def test_a_cluster_without_base_members_uses_the_keep_rule_and_writes_a_row_per_member():
    members = [summary("a", han=10), summary("b", han=20, sig=1)]
    decisions, rows, superseded, counters = decide_members("a", members, decide_cluster)
    assert decisions == decide_cluster("a", members) and counters == [] and superseded == []
    by_id = {r["doc_id"]: r for r in rows}
    assert by_id["b"]["kept_signature"] is None and by_id["a"]["kept_doc_id"] == "b"
    assert by_id["a"]["kept_signature"] == members[1]["sig"]


def test_base_duplicates_are_linked_to_their_kept_document_and_keep_an_older_version():
    k, d = summary("k", han=100), summary("d", han=90, sig=1)
    assert base_edges(base_of(d, k, "c")) == [("d", "k")] and base_edges(base_of(k, k, "k")) == []
    older = base_member(dict(base_of(k, k, "k")["base"], version_id="v0"), "v1")
    assert older["version"] == "v0"


def test_a_copy_of_a_base_duplicate_points_at_the_base_kept_document():
    k, d = summary("k", han=100), summary("d", han=90, sig=1)
    row = base_of(d, k, "c")["base"]
    decision = copy_decision(summary("d", han=90, sig=1), row)
    assert decision["kept_doc_id"] == "k" and decision["cluster_id"] == "c" and decision["kind"] == "near"
    assert decision["similarity"] == 0.0  # signatures differ in every slot
