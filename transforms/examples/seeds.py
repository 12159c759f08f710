"""Per-segment randomness: every random choice is seeded from (corpus seed, doc_id, segment index, purpose).

No global RNG, no Python `hash()`: a blake2b digest of the ids seeds a PCG64 generator, so an example
depends only on its own segment and the corpus seed, whatever the runner, worker count or order.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _digest(seed: int, *parts: object) -> bytes:
    key = "\x1f".join([str(int(seed))] + [str(p) for p in parts])
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()


def stable_int(seed: int, *parts: object) -> int:
    """A 64-bit integer determined by the seed and the parts (strings/ints), stable across processes."""
    return int.from_bytes(_digest(seed, *parts)[:8], "big")


def unit_float(seed: int, *parts: object) -> float:
    """A number in [0, 1) determined by the seed and the parts (53 bits of a blake2b digest)."""
    return (stable_int(seed, *parts) >> 11) / float(1 << 53)


def rng_for(seed: int, *parts: object) -> np.random.Generator:
    """A numpy Generator (PCG64) seeded from the seed and the parts: the only source of randomness here."""
    return np.random.Generator(np.random.PCG64(int.from_bytes(_digest(seed, *parts), "big")))
