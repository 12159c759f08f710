"""schemas.hashing.stable_hash is the one hash; every call site must keep the values it had before.

Each test writes a call site's historical formula with hashlib directly and compares it with the call
site (which now goes through stable_hash) on a few inputs: ids, seeds, shard and bucket keys are
part of the output format, so any difference would change output bytes.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from schemas.hashing import stable_digest, stable_hash, stable_hex

TEXTS = ["", "a", "三国演义", "第一回 宴桃园豪杰三结义\n话说天下大势", "x\x00y", "𠀀emoji🙂", "  spaced  "]


def _b2(data: bytes, size: int) -> bytes:
    return hashlib.blake2b(data, digest_size=size).digest()


@pytest.mark.parametrize("text", TEXTS)
def test_doc_and_record_ids(text):
    from transforms.ingest.parse import doc_id_of
    from transforms.rejects import record_id_of

    assert doc_id_of(text) == hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
    other = text[::-1] + "#3"
    assert record_id_of(text, other) == hashlib.blake2b(f"{text}\x00{other}".encode("utf-8"), digest_size=16).hexdigest()


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_seeds(seed):
    from transforms.examples.seeds import rng_for, stable_int, unit_float

    for parts in [("split", "abc"), ("vocab", "三国", 17), ("mask", 0, 1.5, True), ()]:
        key = "\x1f".join([str(int(seed))] + [str(p) for p in parts]).encode("utf-8")
        digest = _b2(key, 16)
        assert stable_int(seed, *parts) == int.from_bytes(digest[:8], "big")
        assert unit_float(seed, *parts) == (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)
        expected = np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big"))).integers(0, 1 << 62, 4)
        assert rng_for(seed, *parts).integers(0, 1 << 62, 4).tolist() == expected.tolist()


@pytest.mark.parametrize("text", TEXTS)
def test_shard_exact_and_line_keys(text):
    from transforms.dedupe.boilerplate import line_key
    from transforms.dedupe.keytext import exact_hash, exact_text
    from transforms.shard_writer import shard_of

    for n in (1, 3, 64):
        assert shard_of(text, n) == int.from_bytes(_b2(text.encode("utf-8"), 8), "big") % n
    assert exact_hash(text) == hashlib.blake2b(exact_text(text).encode("utf-8"), digest_size=16).hexdigest()
    assert line_key(text) == _b2(text.encode("utf-8"), 8)


def test_band_keys():
    from transforms.dedupe.lsh import JACCARD_NS, band_keys

    sig = (np.arange(40, dtype=np.uint64) * 2654435761 % (1 << 32)).astype(np.uint32)
    keys = band_keys(sig, 5, 8, JACCARD_NS)
    data = np.asarray(sig, dtype="<u4")
    assert keys == [JACCARD_NS + i.to_bytes(2, "big") + _b2(data[i * 8 : (i + 1) * 8].tobytes(), 8) for i in range(5)]


def test_train_seed_and_synthetic_ids():
    from train.data import derive_seed

    for parts in [(0,), (7, "epoch", 3), ("a/b", 1.5)]:
        expected = int.from_bytes(_b2("/".join(map(str, parts)).encode(), 8), "little")
        assert derive_seed(*parts) == expected


def test_sample_corpus_rng():
    from pipelines.corpus.sample import _rng

    for seed, parts in [(7, ("novel", 3)), (0, ())]:
        digest = _b2(repr((seed,) + parts).encode(), 8)
        expected = np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big"))).integers(0, 1000, 5)
        assert _rng(seed, *parts).integers(0, 1000, 5).tolist() == expected.tolist()


def test_diff_digests():
    from pipelines.corpus.diff import _digest

    for value in [None, 1, "三国", [1, 2], {"b": 1, "a": "x"}]:
        data = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
        assert _digest(value) == _b2(data, 8)


def test_stable_hash_conventions():
    assert stable_digest("a", "b", bits=128) == _b2(b"a\x1fb", 16)
    assert stable_digest(b"\x00\xff", "é", 3, sep=b"|") == _b2(b"\x00\xff|\xc3\xa9|3", 8)
    assert stable_hash("k") == int.from_bytes(_b2(b"k", 8), "big")
    assert stable_hash("k", bits=64, digest_bits=128) == int.from_bytes(_b2(b"k", 16)[:8], "big")
    assert stable_hash("k", byteorder="little") == int.from_bytes(_b2(b"k", 8), "little")
    assert stable_hex("k", bits=128) == hashlib.blake2b(b"k", digest_size=16).hexdigest()
    with pytest.raises(ValueError):
        stable_digest("k", bits=12)
