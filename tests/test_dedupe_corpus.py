"""The dedupe pieces on the real corpus (../shared/corpus; skipped when absent).

Every edition in editions/ must cluster with its counterpart in novels/ when their key-text 5-gram
Jaccard (computed exactly here) is >= 0.85, and no two different novels may merge. The big texts go
through the pure functions (key text, signatures, LSH buckets, verification, components) in plain
Python; one smaller subset goes through the Beam stage.
"""

from __future__ import annotations

import glob
import json
import tempfile
from pathlib import Path

import apache_beam as beam
import pytest

from tests.reference import exact_jaccard, verified_bucket_edges
from transforms.dedupe.components import star_contraction, union_find_components
from transforms.dedupe.config import DedupeConfig
from transforms.dedupe.keytext import han_count, key_text, make_converter
from transforms.dedupe.lsh import Verifier, band_keys, lsh_params
from transforms.dedupe.minhash import (
    permutations,
    shingle_hashes,
    sig_to_bytes,
    signature,
    unique_hashes,
)
from transforms.dedupe.stage import DedupeDocuments

pytestmark = pytest.mark.shared_corpus

CFG = DedupeConfig()
MUST_MERGE = 0.85
#: Other novels in the check, chosen to include same-author series (蔡东藩's 通俗演义) and small books.
OTHERS = ["前汉通俗演义", "后汉通俗演义", "两晋通俗演义", "封神演义", "隋唐演义", "儒林外史", "呐喊", "彷徨", "喜讯", "绝命辞"]


def _read(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc).replace("\r\n", "\n")
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace").replace("\r\n", "\n")


@pytest.fixture(scope="module")
def books(shared_corpus):
    """{name: (title, text)}: the editions, their counterparts and the other novels."""
    out = {}
    for path in sorted((shared_corpus / "editions").glob("*.txt")):
        title = path.stem.split("-", 2)[2]
        out[f"editions/{path.name}"] = (title, _read(path))
        out[f"novels/{title}.txt"] = (title, _read(shared_corpus / "novels" / f"{title}.txt"))
    for title in OTHERS:
        out[f"novels/{title}.txt"] = (title, _read(shared_corpus / "novels" / f"{title}.txt"))
    return out


@pytest.fixture(scope="module")
def shingled(books):
    conv, perms = make_converter(), permutations(CFG.num_perm, CFG.minhash_seed)
    out = {}
    for name, (_, text) in books.items():
        hashes = shingle_hashes(key_text(text, conv), CFG.ngram)
        out[name] = (signature(hashes, perms), unique_hashes(hashes))
    return out


def _clusters(shingled):
    """The stage's near-duplicate step in plain Python: buckets -> verified edges -> components."""
    bands, rows = lsh_params(CFG.threshold, CFG.num_perm, CFG.false_positive_weight, CFG.false_negative_weight)
    buckets = {}
    for name in sorted(shingled):
        sig, uniq = shingled[name]
        for key in band_keys(sig, bands, rows):
            buckets.setdefault(key, []).append((name, sig_to_bytes(sig), int(uniq.size)))
    edges = set()
    for members in buckets.values():
        found, _ = verified_bucket_edges(members, Verifier(CFG.threshold), CFG.max_bucket_size)
        edges.update(found)
    roots, ok = star_contraction(sorted(edges), CFG.max_cc_rounds)
    assert ok and roots == union_find_components(edges)
    return {name: roots.get(name, name) for name in shingled}


def test_editions_merge_with_their_counterparts_and_different_novels_never_merge(books, shingled):
    clusters = _clusters(shingled)
    must = []
    for name in books:
        if name.startswith("editions/"):
            title = books[name][0]
            other = f"novels/{title}.txt"
            j = exact_jaccard(shingled[name][1], shingled[other][1])
            if j >= MUST_MERGE:
                must.append(name)
                assert clusters[name] == clusters[other], (name, j)
    assert len(must) >= 5  # the early OCRs and most print editions are that close
    titles_by_cluster = {}
    for name, root in clusters.items():
        titles_by_cluster.setdefault(root, set()).add(books[name][0])
    assert all(len(titles) == 1 for titles in titles_by_cluster.values()), titles_by_cluster


def _doc(name, text):
    import hashlib

    return {
        "doc_id": hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest(),
        "source": name,
        "locator": "",
        "title": Path(name).stem,
        "char_length": len(text),
        "han_chars": han_count(text),
        "text": text,
    }


def test_beam_stage_on_a_subset(books, shingled):
    names = ["editions/early-ocr-三国演义.txt", "novels/三国演义.txt", "editions/print-pdf-三国演义.txt"]
    names += ["novels/呐喊.txt", "novels/彷徨.txt", "novels/喜讯.txt", "novels/绝命辞.txt"]
    docs = [_doc(n, books[n][1]) for n in names]
    with tempfile.TemporaryDirectory() as out:
        with beam.Pipeline(runner="FnApiRunner") as p:
            res = p | beam.Create(docs) | DedupeDocuments(CFG)
            res.output("kept") | "k" >> beam.Map(lambda d: json.dumps([d["source"], d["cluster_id"], d["cluster_size"]])) | (
                "wk" >> beam.io.WriteToText(out + "/kept")
            )
            res.output("duplicates") | "d" >> beam.Map(json.dumps) | "wd" >> beam.io.WriteToText(out + "/dups")
        kept = [json.loads(x) for f in glob.glob(out + "/kept*") for x in open(f, encoding="utf-8")]
        dups = [json.loads(x) for f in glob.glob(out + "/dups*") for x in open(f, encoding="utf-8")]
    by_source = {d["source"]: d for d in docs}
    sanguo = [n for n in names if "三国演义" in n]
    group = [sanguo[0]] + [n for n in sanguo[1:] if exact_jaccard(shingled[n][1], shingled[sanguo[0]][1]) >= MUST_MERGE]
    winner = min(group, key=lambda n: (-by_source[n]["han_chars"], by_source[n]["doc_id"]))
    assert len(kept) + len(dups) == len(docs)
    assert {s for s, _, _ in kept} & set(group) == {winner}
    assert set(group) - {winner} <= {d["source"] for d in dups} <= set(sanguo)  # no other book removed
    cluster_of = {s: c for s, c, _ in kept} | {d["source"]: d["cluster_id"] for d in dups}
    assert len({cluster_of[n] for n in group}) == 1
    assert len({cluster_of[n] for n in names[3:]}) == 4
