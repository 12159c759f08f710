"""LSH banding and bucket verification."""

import numpy as np
import pytest
from datasketch import MinHashLSH

from tests.reference import verified_bucket_edges
from transforms.dedupe.lsh import (
    Verifier,
    band_keys,
    bucket_pairs,
    containment_jaccard_floor,
    lsh_params,
)
from transforms.dedupe.minhash import sig_to_bytes


@pytest.mark.parametrize("threshold,weights", [(0.8, (0.5, 0.5)), (0.7, (0.3, 0.7)), (0.9, (0.2, 0.8))])
def test_lsh_params_are_datasketchs_choice(threshold, weights):
    lsh = MinHashLSH(threshold=threshold, num_perm=128, weights=weights)
    assert lsh_params(threshold, 128, *weights) == (lsh.b, lsh.r)


def test_band_keys_change_only_where_the_signature_changes():
    sig = np.arange(120, dtype=np.uint32)
    other = sig.copy()
    other[25] += 1  # band 2 of 12 rows x 10 bands
    ka, kb = band_keys(sig, 10, 12), band_keys(other, 10, 12)
    assert len(ka) == 10 and len(set(ka)) == 10
    assert [i for i in range(10) if ka[i] != kb[i]] == [2]
    assert band_keys(sig, 10, 12, b"c") != ka  # namespaces never share buckets


def test_bucket_pairs_all_pairs_or_star_when_large():
    members = [(f"d{i}",) for i in range(5)]
    assert len(list(bucket_pairs(members, 10))) == 10
    star = list(bucket_pairs(members, 3))
    assert star == [(members[0], m) for m in members[1:]]


def _sig(values):
    return sig_to_bytes(np.asarray(values, dtype=np.uint32))


def test_verified_bucket_edges_keep_pairs_at_or_above_threshold():
    base = np.arange(100, dtype=np.uint32)
    close = base.copy()
    close[:15] += 1000  # 85 of 100 slots equal
    far = base.copy()
    far[:30] += 2000  # 70 equal with base and with close
    members = [("b", _sig(close), 10), ("a", _sig(base), 10), ("c", _sig(far), 10), ("a", _sig(base), 10)]
    edges, checked = verified_bucket_edges(members, Verifier(threshold=0.8), max_bucket_size=100)
    assert checked == 3  # duplicates of one doc_id in a bucket count once
    assert edges == [("a", "b")]


def test_containment_verifier_accepts_a_short_edition_inside_a_long_one():
    # |S| = 100 inside |L| = 400 -> Jaccard 0.25, containment 1.0
    v = Verifier(threshold=0.8, containment=True, containment_threshold=0.8)
    j, c = v.estimate(np.zeros(4, np.uint32), np.array([0, 1, 1, 1], np.uint32), 100, 400)
    assert j == 0.25 and c == pytest.approx(1.0)
    assert v.passes(j, c)
    assert not Verifier(threshold=0.8).passes(j, c)
    assert v.passes_exact(np.arange(100, dtype=np.uint32), np.arange(400, dtype=np.uint32))
    assert not v.passes_exact(np.arange(100, dtype=np.uint32), np.arange(50, 450, dtype=np.uint32))


def test_containment_floor_is_the_jaccard_of_the_extreme_case():
    small, large = 200, 1000  # ratio 0.2, 80% of the small set inside the large one
    inter = 160
    assert containment_jaccard_floor(0.8, 0.2) == pytest.approx(inter / (small + large - inter))


def _candidate_edges(reps, cfg, out):
    import glob
    import json

    import apache_beam as beam

    from transforms.dedupe.lsh import CandidateEdges

    with beam.Pipeline(runner="FnApiRunner") as p:
        result = p | beam.Create(reps) | CandidateEdges(cfg)
        result.edges | "E" >> beam.Map(json.dumps) | "WE" >> beam.io.WriteToText(str(out / "edges"))
        result.stats | "S" >> beam.Map(json.dumps) | "WS" >> beam.io.WriteToText(str(out / "stats"))
    read = lambda name: [tuple(json.loads(x)) for f in glob.glob(str(out / name) + "*") for x in open(f)]
    return sorted(read("edges")), read("stats")


def test_large_buckets_are_starred_around_their_head_without_a_group(tmp_path):
    import dataclasses

    from transforms.dedupe.config import DedupeConfig
    from transforms.dedupe.minhash import permutations, sig_to_bytes, signature

    cfg = DedupeConfig(containment=False)
    sig = sig_to_bytes(signature(np.arange(200, dtype=np.uint32), permutations(cfg.num_perm, cfg.minhash_seed)))
    ids = [f"{i:032x}" for i in (7, 3, 9, 1, 5, 8)]
    reps = [(doc_id, sig, 200) for doc_id in ids]  # identical signatures: every band key is one bucket of 6
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    small_edges, _ = _candidate_edges(reps, cfg, tmp_path / "a")
    assert len(small_edges) == 15  # all pairs
    large_edges, stats = _candidate_edges(reps, dataclasses.replace(cfg, max_bucket_size=3), tmp_path / "b")
    head = min(ids)
    assert large_edges == sorted((head, other) for other in ids if other != head)
    names = [name for name, _ in stats]
    assert names.count("dedupe.large_buckets") >= 1
