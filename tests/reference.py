"""Reference implementations the tests check the package against: slow, obvious versions of what the
package does fast, and inverses the package never needs (it only writes examples, never reads them back)."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pyarrow as pa

from transforms.dedupe.lsh import Verifier, classified_bucket_edges
from transforms.examples.masking import Span


def exact_jaccard(set_a: np.ndarray, set_b: np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of two sorted unique hash arrays (0.0 when both are empty)."""
    if set_a.size == 0 and set_b.size == 0:
        return 0.0
    inter = np.intersect1d(set_a, set_b, assume_unique=True).size
    return inter / float(set_a.size + set_b.size - inter)


def verified_bucket_edges(
    members: Iterable[tuple[str, bytes, int]], verifier: Verifier, max_bucket_size: int
) -> tuple[list[tuple[str, str]], int]:
    """Edges (a, b) with a < b that pass the signature estimates (sure or to check), and pairs checked."""
    sure, check, checked = classified_bucket_edges(members, verifier, max_bucket_size)
    return sorted(sure + check), checked


def spans_to_mask(spans: list[Span], n: int) -> np.ndarray:
    """Boolean noise mask of length n."""
    mask = np.zeros(n, dtype=bool)
    for s, e in spans:
        mask[s:e] = True
    return mask


def restore_infilling(input_ids: list[int], target_ids: list[int], is_sentinel) -> list[int]:
    """Put the target's spans back into the input's sentinel slots; drop the EOS. Inverse of infilling_ids."""
    spans: dict[int, list[int]] = {}
    current = None
    for t in target_ids[:-1]:
        if is_sentinel(t):
            current = t
            spans[current] = []
        elif current is not None:
            spans[current].append(t)
    out: list[int] = []
    for t in input_ids[:-1]:
        out.extend(spans[t] if is_sentinel(t) else [t])
    return out


def unpack_rows(packed: Iterable[bytes | None]) -> Iterable[dict]:
    """The rows of `pack_rows` batches, one batch decoded at a time (None entries skipped)."""
    for blob in packed:
        if blob is None:
            continue
        for batch in pa.ipc.open_stream(blob):
            yield from batch.to_pylist()
