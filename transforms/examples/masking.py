"""Noise spans for text infilling, and the T5 input/target they give. Pure numpy; no Beam.

A span is ``(start, end)`` in token indices, end exclusive; span lists are sorted, non-empty, and
never overlap or touch (at least one kept token between two spans).

Two span-length distributions:

- ``poisson``: round(n * density) noise tokens (at least 1, at most n-1) are cut into spans whose
  lengths are drawn i.i.d. from max(1, Poisson(mean_span)) until they cover the noise budget (the last
  one is shortened to fit); the kept tokens are spread over the gaps uniformly at random (gaps between
  spans >= 1, before the first / after the last >= 0).
- ``t5_uniform``: T5's ``random_spans_noise_mask``: round(noise / mean_span) spans; noise and kept
  tokens are each split into that many non-empty runs uniformly at random (T5's
  ``_random_segmentation``) and interleaved kept-first, so the sequence ends with a noise span.
"""

from __future__ import annotations

import numpy as np

Span = tuple[int, int]


def num_noise_tokens(n: int, density: float) -> int:
    """round(n * density), clamped to [1, n-1] as T5 does (n >= 2)."""
    return min(max(int(round(n * density)), 1), n - 1)


def _positive_composition(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """`parts` positive integers summing to `total`, uniform over such compositions (T5's random segmentation)."""
    first_in_segment = np.arange(total - 1) < (parts - 1)
    first_in_segment = rng.permutation(first_in_segment)
    segment_id = np.concatenate([[0], np.cumsum(first_in_segment)])
    return np.bincount(segment_id, minlength=parts).astype(np.int64)


def _spans_from_lengths(gaps: np.ndarray, lengths: np.ndarray) -> list[Span]:
    """Spans from interleaved lengths: gaps[0], lengths[0], gaps[1], lengths[1], ..."""
    spans = []
    pos = 0
    for gap, length in zip(gaps.tolist(), lengths.tolist()):
        pos += gap
        spans.append((pos, pos + length))
        pos += length
    return spans


def poisson_span_lengths(num_noise: int, mean_span: float, rng: np.random.Generator) -> np.ndarray:
    """Lengths ~ max(1, Poisson(mean_span)) drawn until they reach num_noise; the last one is cut to fit."""
    drawn: list[np.ndarray] = []
    total = 0
    while total < num_noise:
        k = max(8, int((num_noise - total) / mean_span * 1.5) + 4)
        batch = np.maximum(rng.poisson(mean_span, size=k), 1)
        drawn.append(batch)
        total += int(batch.sum())
    lengths = np.concatenate(drawn)
    cum = np.cumsum(lengths)
    last = int(np.searchsorted(cum, num_noise))  # first index where the running sum reaches num_noise
    lengths = lengths[: last + 1].copy()
    lengths[-1] -= int(cum[last]) - num_noise
    return lengths


def poisson_spans(n: int, density: float, mean_span: float, rng: np.random.Generator) -> list[Span]:
    """Noise spans for `n` tokens with Poisson lengths (see module doc)."""
    num_noise = num_noise_tokens(n, density)
    lengths = poisson_span_lengths(num_noise, mean_span, rng)
    num_keep = n - num_noise
    if len(lengths) - 1 > num_keep:  # too many spans for the kept tokens to separate: fold the tail
        lengths = np.concatenate([lengths[:num_keep], [lengths[num_keep:].sum()]])
    spans = len(lengths)
    gaps = _positive_composition(num_keep + 2, spans + 1, rng)
    gaps[0] -= 1
    gaps[-1] -= 1
    return _spans_from_lengths(gaps[:-1], lengths)


def t5_uniform_spans(n: int, density: float, mean_span: float, rng: np.random.Generator) -> list[Span]:
    """Noise spans for `n` tokens by T5's random_spans_noise_mask algorithm (see module doc)."""
    num_noise = num_noise_tokens(n, density)
    num_keep = n - num_noise
    spans = max(int(round(num_noise / mean_span)), 1)
    spans = min(spans, num_noise, num_keep)
    noise_lengths = _positive_composition(num_noise, spans, rng)
    keep_lengths = _positive_composition(num_keep, spans, rng)
    return _spans_from_lengths(keep_lengths, noise_lengths)


def random_spans(n: int, density: float, mean_span: float, distribution: str, rng) -> list[Span]:
    """Noise spans for `n` >= 2 tokens with the configured distribution ("poisson" or "t5_uniform")."""
    if distribution == "poisson":
        return poisson_spans(n, density, mean_span, rng)
    if distribution == "t5_uniform":
        return t5_uniform_spans(n, density, mean_span, rng)
    raise ValueError(f"unknown span distribution {distribution!r}")


def input_length(n: int, spans: list[Span]) -> int:
    """Encoder ids of the infilling input: kept tokens + one sentinel per span + EOS."""
    return n - sum(e - s for s, e in spans) + len(spans) + 1


def fit_spans(spans: list[Span], n: int, max_input: int, max_spans: int) -> tuple[list[Span], int]:
    """(spans, merges): merge the two spans with the smallest gap (earliest on ties) until the input fits
    `max_input` ids and there are at most `max_spans` spans. Each merge masks the gap's tokens."""
    spans = list(spans)
    merges = 0
    length = input_length(n, spans)
    while len(spans) > 1 and (length > max_input or len(spans) > max_spans):
        gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
        i = int(np.argmin(gaps))
        spans[i : i + 2] = [(spans[i][0], spans[i + 1][1])]
        length -= gaps[i] + 1
        merges += 1
    return spans, merges


def infilling_ids(ids, spans: list[Span], sentinels: list[int], eos: int) -> tuple[list[int], list[int]]:
    """(input, target) ids: input = kept tokens with sentinel i in place of span i, then EOS; target =
    sentinel 0, span 0, sentinel 1, span 1, ..., sentinel len(spans), EOS. `sentinels` has >= len(spans)+1 ids."""
    ids = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    inp: list[int] = []
    tgt: list[int] = []
    prev = 0
    for i, (s, e) in enumerate(spans):
        inp += ids[prev:s]
        inp.append(sentinels[i])
        tgt.append(sentinels[i])
        tgt += ids[s:e]
        prev = e
    inp += ids[prev:]
    inp.append(eos)
    tgt += [sentinels[len(spans)], eos]
    return inp, tgt
