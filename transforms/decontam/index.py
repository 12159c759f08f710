"""The evaluation side as one compact, picklable object: every (n-gram hash, item) pair in sorted numpy arrays.

Memory is ~12 bytes per distinct n-gram of each item plus a bit table (64-128 bits per pair, at most 64
MB, built on each worker) that rejects most document n-grams before any binary search: an eval set of 100k stories of 300 characters is ~30M
pairs, ~0.4 GB. Item ordinals follow (file, index) order, so the index is the same whatever order its
parts arrive in. Pure data + pure functions; the Beam side (a CombineFn) is in :mod:`.stage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Bits of the pre-filter table per (hash, item) pair: ~1.5% of absent n-grams pass to the binary search.
_BITS_PER_PAIR = 64
#: At most 2**29 bits (64 MB) of pre-filter, whatever the eval set's size.
_MAX_BITS_LOG2 = 29
_BIT_SHIFT = np.uint64(3)
_BIT_MASK = np.uint64(7)


@dataclass
class EvalIndex:
    """Sorted (hash, item) pairs of all usable items, and per item its file, index and distinct n-gram count."""

    ngram: int
    hashes: np.ndarray  # uint64, sorted (ties: by item)
    items: np.ndarray  # uint32 item ordinal of each hash
    item_ngrams: np.ndarray  # uint32 distinct n-grams per item ordinal
    item_chars: np.ndarray  # uint32 key characters per item ordinal (segments of at least n)
    item_head: tuple[str, ...]  # first key characters of each item (ItemKey.head)
    item_tail: tuple[str, ...]  # last key characters of each item (ItemKey.tail)
    item_file: np.ndarray  # uint32 index into files
    item_index: np.ndarray  # int64 index of the item inside its file
    files: tuple[str, ...]
    _bits: np.ndarray | None = field(default=None, repr=False, compare=False)
    _bits_log2: int = field(default=0, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.item_ngrams.size)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_bits"] = None  # rebuilt on first use: never shipped
        return state

    def describe(self, item: int) -> tuple[str, int]:
        """(file name, index in the file) of item ordinal `item`."""
        return self.files[int(self.item_file[item])], int(self.item_index[item])

    def _bit_table(self) -> tuple[np.ndarray, int]:
        if self._bits is None:
            log2 = int(np.clip(np.ceil(np.log2(max(1, self.hashes.size) * _BITS_PER_PAIR)), 16, _MAX_BITS_LOG2))
            slots = (self.hashes >> np.uint64(64 - log2)).astype(np.uint64)
            bits = np.zeros(1 << max(0, log2 - 3), dtype=np.uint8)
            np.bitwise_or.at(bits, (slots >> _BIT_SHIFT).astype(np.int64),
                             (np.uint8(1) << (slots & _BIT_MASK).astype(np.uint8)))
            self._bits, self._bits_log2 = bits, log2
        return self._bits, self._bits_log2

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `hashes`, item ordinals) of every hit: one pair per (position, item containing that n-gram)."""
        if hashes.size == 0 or self.hashes.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.uint32)
        bits, log2 = self._bit_table()
        slots = hashes >> np.uint64(64 - log2)
        maybe = (bits[(slots >> _BIT_SHIFT).astype(np.int64)] >> (slots & _BIT_MASK).astype(np.uint8)) & 1
        cand = np.flatnonzero(maybe)
        if cand.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.uint32)
        lo = np.searchsorted(self.hashes, hashes[cand], "left")
        hi = np.searchsorted(self.hashes, hashes[cand], "right")
        counts = hi - lo
        hit = counts > 0
        cand, lo, counts = cand[hit], lo[hit], counts[hit]
        if cand.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.uint32)
        positions = np.repeat(cand, counts)
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        return positions, self.items[starts + np.arange(positions.size)]


def build_index(entries, ngram: int) -> EvalIndex:
    """The index of `entries`: (file, index, ItemKey) for every usable item, in any order."""
    entries = sorted(entries, key=lambda e: (e[0], e[1]))
    files = tuple(sorted({e[0] for e in entries}))
    file_no = {name: i for i, name in enumerate(files)}
    sizes = np.array([e[2].hashes.size for e in entries], dtype=np.int64)
    hashes = np.concatenate([e[2].hashes for e in entries]) if entries else np.empty(0, np.uint64)
    items = np.repeat(np.arange(len(entries), dtype=np.uint32), sizes)
    order = np.lexsort((items, hashes))
    return EvalIndex(
        ngram=ngram,
        hashes=hashes[order],
        items=items[order],
        item_ngrams=sizes.astype(np.uint32),
        item_chars=np.array([e[2].chars for e in entries], dtype=np.uint32),
        item_head=tuple(e[2].head for e in entries),
        item_tail=tuple(e[2].tail for e in entries),
        item_file=np.array([file_no[e[0]] for e in entries], dtype=np.uint32),
        item_index=np.array([e[1] for e in entries], dtype=np.int64),
        files=files,
    )
