"""MinHash signatures: datasketch affine32 compatibility, shingling, estimates vs exact Jaccard."""

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash

from tests.reference import exact_jaccard
from transforms.dedupe.minhash import (
    code_points,
    estimated_containment,
    estimated_jaccard,
    is_empty,
    permutations,
    shingle_hashes,
    sig_from_bytes,
    sig_to_bytes,
    signature,
    to_minhash,
    unique_hashes,
)

RNG = np.random.default_rng(20240501)


def _datasketch_signature(hashes, num_perm, seed):
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=int, scheme="affine32")
    m.update_batch(hashes.tolist())
    return m


def test_permutations_are_datasketchs_affine32_parameters():
    perms = permutations(64, 7)
    ref = MinHash(num_perm=64, seed=7, scheme="affine32").permutations
    assert perms.dtype == np.uint32 and perms.shape == (2, 64)
    assert np.array_equal(perms, ref)
    assert np.all(perms[0] % 2 == 1)


@pytest.mark.parametrize("n", [1, 7, 2048, 2049, 3000, 70_000, 300_000])
def test_signature_equals_datasketch_update_batch_on_the_same_hashes(n):
    hashes = RNG.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    sig = signature(hashes, permutations(128, 3))
    ref = _datasketch_signature(hashes, 128, 3)
    assert np.array_equal(sig, ref.hashvalues)
    lean = to_minhash(sig, 3)
    assert isinstance(lean, LeanMinHash) and lean.scheme == "affine32"
    assert lean.jaccard(ref) == 1.0


def test_signature_of_nothing_is_empty_and_signature_bytes_round_trip():
    perms = permutations(32, 1)
    assert is_empty(signature(np.empty(0, np.uint32), perms))
    sig = signature(np.arange(100, dtype=np.uint32), perms)
    assert not is_empty(sig)
    assert np.array_equal(sig_from_bytes(sig_to_bytes(sig)), sig)


def test_code_points_and_shingle_counts():
    assert code_points("a中𠀀").tolist() == [ord("a"), ord("中"), ord("𠀀")]
    assert shingle_hashes("", 5).size == 0
    assert shingle_hashes("天地", 5).size == 1  # shorter than n: the whole key is one shingle
    assert shingle_hashes("天地玄黄宇宙洪荒", 5).size == 4
    assert shingle_hashes("天地玄黄宇宙洪荒", 1).size == 8


def test_equal_ngrams_hash_equal_and_distinct_ngrams_rarely_collide():
    text = "".join(chr(c) for c in RNG.integers(0x4E00, 0x4E00 + 500, 60_000))
    hashes = shingle_hashes(text, 5)
    grams = [text[i : i + 5] for i in range(len(text) - 4)]
    by_gram = {}
    for g, h in zip(grams, hashes.tolist()):
        assert by_gram.setdefault(g, h) == h
    distinct_grams = len(by_gram)
    distinct_hashes = len(set(by_gram.values()))
    # 32-bit hashes: expected collisions ~ n^2 / 2^33, i.e. well under 5 here.
    assert distinct_grams - distinct_hashes <= 5


def _set_jaccard(a: str, b: str, n: int = 5) -> float:
    sa = {a[i : i + n] for i in range(len(a) - n + 1)}
    sb = {b[i : i + n] for i in range(len(b) - n + 1)}
    return len(sa & sb) / len(sa | sb)


def _mutate(text: str, rate: float, rng) -> str:
    chars = list(text)
    for i in np.flatnonzero(rng.random(len(chars)) < rate):
        chars[i] = chr(int(rng.integers(0x4E00, 0x9FA5)))
    return "".join(chars)


def test_estimated_jaccard_tracks_exact_jaccard_of_the_same_shingles():
    perms = permutations(128, 1)
    base = "".join(chr(c) for c in RNG.integers(0x4E00, 0x4E00 + 3000, 5000))
    errors = []
    for rate in (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.3):
        other = _mutate(base, rate, RNG)
        ha, hb = shingle_hashes(base, 5), shingle_hashes(other, 5)
        exact = _set_jaccard(base, other)
        assert exact_jaccard(unique_hashes(ha), unique_hashes(hb)) == pytest.approx(exact, abs=2e-3)
        est = estimated_jaccard(signature(ha, perms), signature(hb, perms))
        # standard error of a 128-permutation estimate is at most sqrt(0.25 / 128) ~ 0.044
        assert abs(est - exact) < 0.15
        errors.append(abs(est - exact))
    assert np.mean(errors) < 0.05


def test_unique_hashes_is_sorted_distinct():
    x = RNG.integers(0, 50, 1000).astype(np.uint32)
    assert np.array_equal(unique_hashes(x), np.unique(x))
    assert unique_hashes(np.empty(0, np.uint32)).size == 0


def test_estimated_containment_inverts_jaccard_for_nested_sets():
    small, large = set(range(100)), set(range(400))
    j = len(small & large) / len(small | large)
    assert estimated_containment(j, len(small), len(large)) == pytest.approx(1.0)
    half = set(range(50, 150))
    j2 = len(half & set(range(100))) / len(half | set(range(100)))
    assert estimated_containment(j2, 100, 100) == pytest.approx(0.5)
    assert estimated_containment(0.5, 0, 10) == 0.0
