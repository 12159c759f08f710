"""The one stable hash: blake2b of parts joined by a separator. Ids, seeds, shard and bucket keys all use it.

Stable means the same value in every process, on every machine, in every run (never Python's salted
``hash()``). Parts are encoded as UTF-8 text (``str(part)`` for numbers) except bytes, taken as they
are, and joined with `sep`. The values are part of the output format (doc ids, split and sample
choices, shard assignment), so the conventions of the call sites are parameters, not changes:

* ``bits``: the size of the value; ``digest_bits`` (default ``bits``) the blake2b digest size it is
  taken from (blake2b's digest size changes every byte of the digest, so a 64-bit value cut from a
  128-bit digest differs from a 64-bit digest);
* ``sep``: what joins the parts ("\\x1f" unless a call site has used another);
* ``byteorder``: how the digest bytes become an integer.
"""

from __future__ import annotations

import hashlib

#: Separator between parts unless a call site says otherwise (ASCII unit separator).
SEP = "\x1f"


def _encode(part) -> bytes:
    if isinstance(part, (bytes, bytearray, memoryview)):
        return bytes(part)
    return str(part).encode("utf-8")


def stable_digest(*parts, bits: int = 64, sep: str | bytes = SEP) -> bytes:
    """blake2b digest of `bits` // 8 bytes of the encoded `parts` joined by `sep`."""
    if bits % 8 or not 8 <= bits <= 512:
        raise ValueError(f"bits must be a multiple of 8 in [8, 512], got {bits}")
    joiner = sep.encode("utf-8") if isinstance(sep, str) else bytes(sep)
    return hashlib.blake2b(joiner.join(_encode(p) for p in parts), digest_size=bits // 8).digest()


def stable_hash(*parts, bits: int = 64, sep: str | bytes = SEP, digest_bits: int | None = None,
                byteorder: str = "big") -> int:
    """A `bits`-bit integer: the first `bits` // 8 bytes of :func:`stable_digest` (of `digest_bits`)."""
    digest = stable_digest(*parts, bits=digest_bits or bits, sep=sep)
    return int.from_bytes(digest[: bits // 8], byteorder)


def stable_hex(*parts, bits: int = 128, sep: str | bytes = SEP) -> str:
    """:func:`stable_digest` as lower-case hex (ids: doc_id, record_id, exact hashes)."""
    return stable_digest(*parts, bits=bits, sep=sep).hex()
