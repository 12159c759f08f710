"""MinHash signatures of character n-gram shingles, vectorized with numpy.

The signature is datasketch's ``affine32`` scheme, value for value: each 32-bit shingle hash is
pre-mixed with the MurmurHash3 finalizer, then permutation k maps it to ``a_k * h + b_k mod 2**32``
with datasketch's own ``(a, b)`` for (num_perm, seed), and the signature is the minimum per k. So
``to_minhash(sig, seed)`` is a real :class:`datasketch.LeanMinHash` (scheme "affine32"), equal to what
``MinHash(num_perm, seed, hashfunc=int).update_batch(hashes)`` computes, only without a Python loop
over shingles.

Shingles are the n-grams of code points of the key text (see :mod:`transforms.dedupe.keytext`),
hashed to 32 bits with a multiply/xorshift hash evaluated on whole code-point arrays at once. A key
text shorter than n is one shingle; an empty key text has no shingles and the all-max signature.
"""

from __future__ import annotations

import numpy as np

SCHEME = "affine32"
#: The "empty" value of every signature slot (no shingle seen).
MAX_HASH = np.uint32(0xFFFFFFFF)

_U32 = np.uint32
_HASH_SEED = _U32(0x811C9DC5)
_HASH_MUL = _U32(0x9E3779B1)
_HASH_SHIFT = _U32(15)
_FMIX = (_U32(16), _U32(0x85EBCA6B), _U32(13), _U32(0xC2B2AE35), _U32(16))
#: Elements (uint32) of the signature's scratch buffer: permutations per block = this // shingles.
_BLOCK_ELEMENTS = 1 << 18


def permutations(num_perm: int, seed: int) -> np.ndarray:
    """datasketch's affine32 permutation parameters for (num_perm, seed): uint32 array (2, num_perm)."""
    from datasketch import MinHash

    perms = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    return np.ascontiguousarray(perms, dtype=np.uint32)


def code_points(key: str) -> np.ndarray:
    """The code points of `key` as a uint32 array (no copy of the characters one by one)."""
    return np.frombuffer(key.encode("utf-32-le"), dtype="<u4").astype(np.uint32, copy=False)


def shingle_hashes(key: str, ngram: int) -> np.ndarray:
    """32-bit hashes of every character `ngram`-gram of `key`, in position order (repeats kept).

    A key shorter than `ngram` gives one hash (of the whole key); an empty key gives none.
    """
    cps = code_points(key)
    if cps.size == 0:
        return np.empty(0, dtype=np.uint32)
    n = min(ngram, cps.size)
    m = cps.size - n + 1
    h = np.full(m, _HASH_SEED, dtype=np.uint32)
    for j in range(n):
        h ^= cps[j : j + m]
        h *= _HASH_MUL
        h ^= h >> _HASH_SHIFT
    return h


def fmix32(hashes: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, element-wise (datasketch's affine32 pre-mix). Returns a new array."""
    s1, m1, s2, m2, s3 = _FMIX
    h = hashes ^ (hashes >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


def signature(hashes: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """The MinHash signature (uint32, one value per permutation) of the shingle hashes `hashes`.

    `perms` is :func:`permutations`' array. Identical to datasketch affine32 on the same hash values.
    """
    a, b = perms[0], perms[1]
    out = np.full(a.size, MAX_HASH, dtype=np.uint32)
    if hashes.size == 0:
        return out
    x = fmix32(np.asarray(hashes, dtype=np.uint32))
    # Blocks of permutations x all shingles, sized so the scratch buffer stays ~1 MiB (cache
    # resident): few numpy calls for short documents, one pass per permutation for long ones.
    block = max(1, min(a.size, _BLOCK_ELEMENTS // x.size))
    a_col, b_col = a[:, None], b[:, None]
    buf = np.empty((block, x.size), dtype=np.uint32)
    row = x[None, :]
    for start in range(0, a.size, block):
        view = buf[: min(block, a.size - start)]
        np.multiply(a_col[start : start + block], row, out=view)
        np.add(view, b_col[start : start + block], out=view)
        view.min(axis=1, out=out[start : start + block])
    return out


def is_empty(sig: np.ndarray) -> bool:
    """True when `sig` saw no shingle (every slot is MAX_HASH)."""
    return bool(np.all(sig == MAX_HASH))


def unique_hashes(hashes: np.ndarray) -> np.ndarray:
    """The distinct values of `hashes`, sorted (the shingle set, for exact Jaccard and set sizes)."""
    if hashes.size == 0:
        return hashes.astype(np.uint32, copy=True)
    s = np.sort(hashes)
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal slots: datasketch's ``MinHash.jaccard`` estimate for two signatures."""
    return float(np.count_nonzero(sig_a == sig_b)) / float(sig_a.size)


def estimated_containment(jaccard: float, size_small: int, size_large: int) -> float:
    """|S ∩ L| / |S| estimated from a Jaccard estimate and the two set sizes (LSH Ensemble's formula:
    |S ∩ L| = J (|S| + |L|) / (1 + J)). Clipped to [0, 1]; 0.0 when `size_small` is 0."""
    if size_small <= 0:
        return 0.0
    inter = jaccard * (size_small + size_large) / (1.0 + jaccard)
    return max(0.0, min(1.0, inter / size_small))


def sig_to_bytes(sig: np.ndarray) -> bytes:
    """Little-endian bytes of a signature (what travels between Beam workers)."""
    return np.asarray(sig, dtype="<u4").tobytes()


def sig_from_bytes(data: bytes) -> np.ndarray:
    """Inverse of :func:`sig_to_bytes` (a read-only view)."""
    return np.frombuffer(data, dtype="<u4")


def to_minhash(sig: np.ndarray, seed: int):
    """The signature as a :class:`datasketch.LeanMinHash` (scheme "affine32")."""
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=np.asarray(sig, dtype=np.uint32), scheme=SCHEME)
