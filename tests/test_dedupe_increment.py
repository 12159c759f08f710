"""Deciding new documents against a base version's signatures (transforms.dedupe.increment), without Beam."""

from __future__ import annotations

import numpy as np

from transforms.dedupe.increment import attach_to_base, base_member, copy_decision, decide_members, signature_row
from transforms.dedupe.minhash import sig_to_bytes
from transforms.dedupe.stage import decide_cluster


def summary(doc_id: str, han: int, exact: str | None = None, sig: int = 0) -> dict:
    return {"doc_id": doc_id, "exact": exact or f"x-{doc_id}", "han": han, "size": 10, "copies": 1,
            "sig": sig_to_bytes(np.arange(8, dtype=np.uint32) + sig)}


def base_of(member: dict, kept: dict, cluster_id: str) -> dict:
    return base_member(signature_row(member, cluster_id, {"kept_doc_id": kept["doc_id"], "kept_han": kept["han"],
                                                          "kept_exact": kept["exact"], "kept_signature": kept["sig"]}))


def test_a_new_document_that_outranks_the_base_kept_one_is_still_its_duplicate():
    k = summary("b", han=100)
    base = [base_of(k, k, "b")]
    decisions, rows, counters = attach_to_base([summary("a", han=500, sig=0)], base)
    assert decisions == [("a", {"cluster_id": "b", "cluster_size": None, "kept_doc_id": "b", "kind": "near",
                                "similarity": 1.0, "first": None})]
    assert rows[0]["kept_doc_id"] == "b" and rows[0]["cluster_id"] == "b"
    assert sorted(counters) == ["dedupe.base_attached", "dedupe.base_outranked"]


def test_a_new_document_bridging_two_base_clusters_joins_the_one_whose_kept_document_sorts_first():
    k1, k2 = summary("k1", han=100), summary("k2", han=300)
    d2 = summary("d2", han=50, sig=3)
    members = [base_of(k1, k1, "k1"), base_of(d2, k2, "d2"), summary("n", han=10, exact=k2["exact"])]
    decisions, rows, counters = decide_members("k1", members, decide_cluster)
    assert [(doc, d["kept_doc_id"], d["cluster_id"], d["kind"]) for doc, d in decisions] == [("n", "k2", "d2", "exact")]
    assert "dedupe.base_bridges" in counters
    base_rows = [m["base"] for m in members[:2]]
    assert rows[:2] == base_rows  # base rows pass through unchanged


def test_a_cluster_without_base_members_uses_the_keep_rule_and_writes_a_row_per_member():
    members = [summary("a", han=10), summary("b", han=20, sig=1)]
    decisions, rows, counters = decide_members("a", members, decide_cluster)
    assert decisions == decide_cluster("a", members) and counters == []
    by_id = {r["doc_id"]: r for r in rows}
    assert by_id["b"]["kept_signature"] is None and by_id["a"]["kept_doc_id"] == "b"
    assert by_id["a"]["kept_signature"] == members[1]["sig"]


def test_a_copy_of_a_base_duplicate_points_at_the_base_kept_document():
    k, d = summary("k", han=100), summary("d", han=90, sig=1)
    row = base_of(d, k, "c")["base"]
    decision = copy_decision(summary("d", han=90, sig=1), row)
    assert decision["kept_doc_id"] == "k" and decision["cluster_id"] == "c" and decision["kind"] == "near"
    assert decision["similarity"] == 0.0  # signatures differ in every slot
