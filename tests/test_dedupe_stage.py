"""The dedupe stage end to end on generated documents with planted duplicates of known similarity.

Ground truth is computed here, independently of the code under test: the exact Jaccard of the
5-gram sets of the key texts (Python sets of strings). Pairs at or above the threshold are
duplicate edges; the true clusters are their connected components (so a chain A~B~C~D is one
cluster even where A and D are not similar). The stage's clusters are compared pair by pair.
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import random
import tempfile
import unicodedata

import apache_beam as beam
import numpy as np
import opencc
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from schemas.tables import DUPLICATES
from transforms.dedupe.config import BoilerplateConfig, DedupeConfig
from transforms.dedupe.keytext import key_text, make_converter
from transforms.dedupe.stage import DedupeDocuments

THRESHOLD = DedupeConfig().threshold
NGRAM = DedupeConfig().ngram


# ---------------------------------------------------------------- generated corpus


def _vocab(rng, n=4000):
    words = set()
    while len(words) < n:
        size = int(rng.choice([1, 2, 2, 2, 3, 3, 4]))
        words.add("".join(chr(int(c)) for c in rng.integers(0x4E00, 0x4E00 + 2500, size)))
    return sorted(words)


def _base_text(rng, words, n_chars):
    p = 1.0 / np.arange(1, len(words) + 1)
    p /= p.sum()
    lines, total = [], 0
    while total < n_chars:
        sentences = []
        for _ in range(int(rng.integers(2, 6))):
            picks = rng.choice(len(words), int(rng.integers(6, 20)), p=p)
            sentences.append("".join(words[i] for i in picks) + "，。！？"[int(rng.integers(4))])
        line = "".join(sentences)
        lines.append(line)
        total += len(line)
    return "\n".join(lines)


def _edit(rng, text, rate):
    """Random substitutions, insertions and deletions of Han characters at `rate` per character."""
    out = []
    for ch, r, op in zip(text, rng.random(len(text)), rng.integers(0, 3, len(text))):
        if ch == "\n" or r >= rate:
            out.append(ch)
        elif op == 0:
            out.append(chr(int(rng.integers(0x4E00, 0x9FA5))))
        elif op == 1:
            out.append(ch + chr(int(rng.integers(0x4E00, 0x9FA5))))
    return "".join(out)


def _edition_noise(text):
    """Re-punctuated and hard-wrapped every 36 characters (a PDF extraction)."""
    flat = text.replace("，", ",").replace("。", ". ").replace("\n", "")
    return "\n".join(flat[i : i + 36] for i in range(0, len(flat), 36))


def _han(text):
    return sum(1 for ch in text if unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH"))


def _doc(text, source):
    return {
        "doc_id": hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest(),
        "source": source,
        "locator": "",
        "title": source.split("/")[0],
        "char_length": len(text),
        "han_chars": _han(text),
        "text": text,
    }


def planted_corpus(seed=7, families=36):
    """Documents: per family a base text and variants (near duplicates at 0.1-1% edits, distant
    edits at 5-10%, edition noise, traditional script, an exact copy, a whitespace-only copy), plus
    one chain family where each variant edits the previous one."""
    rng = np.random.default_rng(seed)
    s2t = opencc.OpenCC("s2t")
    words = _vocab(rng)
    docs = []
    for f in range(families):
        base = _base_text(rng, words, int(rng.integers(2000, 5000)))
        docs.append(_doc(base, f"f{f}/base"))
        for v in range(int(rng.integers(0, 5))):
            kind = ["near", "far", "noise", "trad", "copy", "spaces"][int(rng.integers(6))]
            if kind == "near":
                text = _edit(rng, base, float(rng.choice([0.001, 0.003, 0.005, 0.01])))
            elif kind == "far":
                text = _edit(rng, base, float(rng.choice([0.05, 0.07, 0.1])))
            elif kind == "noise":
                text = _edition_noise(base)
            elif kind == "trad":
                text = s2t.convert(base)
            elif kind == "copy":
                text = base  # same text, same doc_id, another source
            else:
                text = base.replace("\n", " \n\n ")
            docs.append(_doc(text, f"f{f}/{kind}{v}"))
    prev = _base_text(rng, words, 4000)
    docs.append(_doc(prev, "chain/0"))
    for i in range(1, 5):
        prev = _edit(rng, prev, 0.01)
        docs.append(_doc(prev, f"chain/{i}"))
    return docs


# ---------------------------------------------------------------- ground truth


def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def truth(docs, conv):
    """(true clusters as {doc_id: label}, {(a, b): exact Jaccard} for every pair of distinct doc_ids)."""
    ids = sorted({d["doc_id"] for d in docs})
    text = {d["doc_id"]: d["text"] for d in docs}
    sets = {}
    for i in ids:
        k = key_text(text[i], conv)
        sets[i] = {k[j : j + NGRAM] for j in range(max(1, len(k) - NGRAM + 1))}
    jac, parent = {}, {i: i for i in ids}
    for a, b in itertools.combinations(ids, 2):
        inter = len(sets[a] & sets[b])
        if inter:
            jac[(a, b)] = inter / (len(sets[a]) + len(sets[b]) - inter)
            if jac[(a, b)] >= THRESHOLD:
                parent[_find(parent, a)] = _find(parent, b)
    return {i: _find(parent, i) for i in ids}, jac


def same_cluster_pairs(labels):
    by = {}
    for doc, label in labels.items():
        by.setdefault(label, []).append(doc)
    return {tuple(sorted(p)) for members in by.values() for p in itertools.combinations(sorted(members), 2)}


# ---------------------------------------------------------------- running the stage


def run_stage(docs, cfg=None, bcfg=None, workers=1):
    """(kept, duplicates, stats) of DedupeDocuments on `docs`, each a sorted list of JSON lines."""
    opts = PipelineOptions(flags=[], direct_num_workers=workers, direct_running_mode="multi_threading")
    with tempfile.TemporaryDirectory() as out:
        with beam.Pipeline(runner="FnApiRunner", options=opts) as p:
            res = p | beam.Create(docs) | DedupeDocuments(cfg or DedupeConfig(), bcfg or BoilerplateConfig())
            for name, pcoll in (("kept", res.main), ("duplicates", res.output("duplicates")), ("stats", res.stats)):
                (
                    pcoll
                    | f"J{name}" >> beam.Map(lambda x: json.dumps(x, ensure_ascii=False, sort_keys=True))
                    | f"W{name}" >> beam.io.WriteToText(f"{out}/{name}")
                )

        def read(name):
            return sorted(line for f in glob.glob(f"{out}/{name}*") for line in open(f, encoding="utf-8"))

        return read("kept"), read("duplicates"), read("stats")


@pytest.fixture(scope="module")
def conv():
    return make_converter()


@pytest.fixture(scope="module")
def corpus():
    return planted_corpus()


@pytest.fixture(scope="module")
def result(corpus):
    kept, dups, stats = run_stage(corpus)
    totals = {}
    for name, n in map(json.loads, stats):
        totals[name] = totals.get(name, 0) + n
    return [json.loads(x) for x in kept], [json.loads(x) for x in dups], totals


# ---------------------------------------------------------------- tests


def test_generator_puts_no_pair_on_the_threshold(corpus, conv):
    """Sanity of the fixture: no pair that would join two true clusters sits in [0.74, 0.86], where a
    128-permutation estimate is a coin flip; the scores below measure the stage, not estimator noise."""
    labels, jac = truth(corpus, conv)
    borderline = [p for p, j in jac.items() if 0.74 <= j <= 0.86 and labels[p[0]] != labels[p[1]]]
    assert borderline == []
    assert len(same_cluster_pairs(labels)) > 60  # plenty of planted duplicates


def test_planted_duplicates_pair_precision_and_recall(corpus, conv, result):
    kept, dups, _ = result
    labels, _ = truth(corpus, conv)
    predicted = {d["doc_id"]: d["cluster_id"] for d in kept}
    predicted.update({d["doc_id"]: d["cluster_id"] for d in dups})
    assert set(predicted) == set(labels)
    pred_pairs, true_pairs = same_cluster_pairs(predicted), same_cluster_pairs(labels)
    hits = len(pred_pairs & true_pairs)
    precision, recall = hits / len(pred_pairs), hits / len(true_pairs)
    assert precision >= 0.99, (precision, recall)
    assert recall >= 0.97, (precision, recall)


def test_chain_of_edits_is_one_cluster_although_its_ends_are_not_similar(corpus, conv, result):
    kept, dups, _ = result
    chain = sorted((d for d in corpus if d["source"].startswith("chain/")), key=lambda d: d["source"])
    _, jac = truth(chain, conv)
    ends = tuple(sorted((chain[0]["doc_id"], chain[-1]["doc_id"])))
    assert jac.get(ends, 0.0) < THRESHOLD  # the ends alone would not merge
    cluster = {d["doc_id"]: d["cluster_id"] for d in kept + dups}
    assert len({cluster[d["doc_id"]] for d in chain}) == 1


def test_every_document_is_kept_or_reported_with_the_keep_rule(corpus, result):
    kept, dups, stats = result
    assert len(kept) + len(dups) == len(corpus)  # nothing dropped silently
    assert stats["dedupe.exact_removed"] + stats["dedupe.near_removed"] == len(dups)
    assert stats["dedupe.kept"] == len(kept) and stats["dedupe.input_docs"] == len(corpus)
    by_id = {d["doc_id"]: d for d in corpus}
    clusters = {}
    for d in kept + dups:
        clusters.setdefault(d["cluster_id"], set()).add(d["doc_id"])
    kept_by_cluster = {d["cluster_id"]: d for d in kept}
    assert len(kept_by_cluster) == len(kept) == len(clusters)
    for cid, members in clusters.items():
        winner = min(members, key=lambda i: (-by_id[i]["han_chars"], i))
        k = kept_by_cluster[cid]
        assert k["doc_id"] == winner
        assert cid == min(members)  # cluster_id: the smallest doc_id of the cluster
        assert k["cluster_size"] == sum(1 for d in corpus if d["doc_id"] in members)
    assert stats["dedupe.clusters"] == sum(1 for k in kept if k["cluster_size"] > 1)


def test_duplicate_rows_point_at_the_kept_document_with_its_similarity(corpus, conv, result):
    kept, dups, _ = result
    kept_of = {d["cluster_id"]: d["doc_id"] for d in kept}
    text = {d["doc_id"]: d["text"] for d in corpus}
    kinds = set()
    for row in dups:
        assert set(row) == set(DUPLICATES.schema.names)
        assert row["kept_doc_id"] == kept_of[row["cluster_id"]]
        kinds.add(row["kind"])
        if row["kind"] == "exact":
            assert row["similarity"] == 1.0
            continue
        ka, kb = key_text(text[row["doc_id"]], conv), key_text(text[row["kept_doc_id"]], conv)
        sa = {ka[i : i + NGRAM] for i in range(len(ka) - NGRAM + 1)}
        sb = {kb[i : i + NGRAM] for i in range(len(kb) - NGRAM + 1)}
        exact = len(sa & sb) / len(sa | sb)
        assert abs(row["similarity"] - exact) < 0.15
    assert kinds == {"exact", "near"}
    sources = {row["source"].split("/")[1][:4] for row in dups if row["kind"] == "exact"}
    assert {"copy", "spac"} <= sources  # same doc_id twice, and whitespace-only differences


def test_kept_documents_carry_the_stage_fields(result):
    kept, _, _ = result
    for d in kept:
        assert d["boilerplate_lines_removed"] == 0  # no line here recurs in 5 distinct documents
        assert d["char_length"] == len(d["text"]) and d["han_chars"] == _han(d["text"])
        assert isinstance(d["cluster_size"], int) and d["cluster_size"] >= 1


def test_output_does_not_depend_on_input_order_or_worker_count(corpus):
    subset = [d for d in corpus if d["source"].split("/")[0] in {"f0", "f1", "f2", "f3", "f4", "chain"}]
    shuffled = subset[:]
    random.Random(3).shuffle(shuffled)
    cfg = DedupeConfig(max_cc_rounds=6)
    assert run_stage(subset, cfg) == run_stage(shuffled, cfg, workers=2)


def test_decisions_looked_up_key_by_key_give_the_bulk_read_result(corpus, monkeypatch):
    """Beyond ~100 keys the SDK fetches multimap side inputs one key at a time (lazy iterables)."""
    from apache_beam.runners.worker import bundle_processor

    subset = [d for d in corpus if d["source"].split("/")[0] in {"f0", "f1", "chain"}]
    copy = dict(subset[0], source="zz/copy.txt")  # same text, same doc_id, another input
    docs = subset + [copy]
    bulk = run_stage(docs)
    monkeypatch.setattr(bundle_processor.StateBackedSideInputMap, "_BULK_READ_LIMIT", 0)
    assert run_stage(docs) == bulk
    dups = [json.loads(x) for x in bulk[1]]
    same_id = [r for r in dups if r["doc_id"] == copy["doc_id"]]
    kept_ids = [json.loads(x)["doc_id"] for x in bulk[0]]
    # every input with that doc_id is accounted once; at most one takes the cluster decision, the rest are exact copies
    assert len(same_id) + kept_ids.count(copy["doc_id"]) == sum(d["doc_id"] == copy["doc_id"] for d in docs)
    assert sum(r["kind"] == "exact" and r["similarity"] == 1.0 for r in same_id) >= len(same_id) - 1
    assert any(r["source"] == "zz/copy.txt" and r["kind"] == "exact" for r in same_id)
