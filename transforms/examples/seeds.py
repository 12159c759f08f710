"""Per-segment randomness: every random choice is seeded from (corpus seed, doc_id, segment index, purpose).

No global RNG, no Python `hash()`: a 128-bit stable hash (:mod:`schemas.hashing`) of the ids seeds a PCG64 generator, so an example
depends only on its own segment and the corpus seed, whatever the runner, worker count or order.
"""

from __future__ import annotations

import numpy as np

from schemas.hashing import stable_hash


def stable_int(seed: int, *parts: object) -> int:
    """A 64-bit integer determined by the seed and the parts (strings/ints), stable across processes."""
    return stable_hash(int(seed), *parts, bits=64, digest_bits=128)


def unit_float(seed: int, *parts: object) -> float:
    """A number in [0, 1) determined by the seed and the parts (53 bits of :func:`stable_int`)."""
    return (stable_int(seed, *parts) >> 11) / float(1 << 53)


def rng_for(seed: int, *parts: object) -> np.random.Generator:
    """A numpy Generator (PCG64) seeded from the seed and the parts: the only source of randomness here."""
    return np.random.Generator(np.random.PCG64(stable_hash(int(seed), *parts, bits=128)))
