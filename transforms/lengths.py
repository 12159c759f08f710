"""T5's length arithmetic for span corruption: how many raw tokens fit a given encoder input length.

Span corruption shortens a sequence: `n` raw tokens lose their ~n*density noise tokens and gain one
sentinel per noise span plus EOS. T5 (`t5.data.preprocessors.random_spans_helper`) inverts that to
find the longest raw length whose corrupted input still fits; at input_length 512, density 0.15 and
mean span 3 that is 568 raw tokens -> 512 input ids and 114 target ids. Everything here is computed
from the configured values; nothing is hard-coded.

Shared by `transforms.segment` (a segment's budget) and `transforms.examples` (its config), so that
neither package imports the other for it.
"""

from __future__ import annotations

import functools


def corrupted_lengths(tokens_length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """(input ids, target ids), EOS included, of span-corrupting `tokens_length` raw tokens the T5 way.

    noise = round(n * density); spans = round(noise / mean_span); input = n - noise + spans + 1;
    target = noise + spans + 1 (each span is preceded by its sentinel; one final sentinel would make
    it +2, T5's estimate counts EOS only, and so do we for the budget).
    """
    num_noise = int(round(tokens_length * noise_density))
    num_nonnoise = tokens_length - num_noise
    num_spans = int(round(num_noise / mean_span))
    return num_nonnoise + num_spans + 1, num_noise + num_spans + 1


def compute_input_and_target_lengths(
    inputs_length: int, noise_density: float, mean_noise_span_length: float
) -> tuple[int, int]:
    """(raw tokens length, targets length) such that corrupting that many tokens gives <= inputs_length ids.

    Same contract as T5's `random_spans_helper` / HF's `compute_input_and_target_lengths`: the largest
    raw length whose corrupted input (EOS included) does not exceed `inputs_length`.
    """
    if inputs_length < 2:
        raise ValueError("inputs_length must be >= 2")
    tokens_length = inputs_length
    while corrupted_lengths(tokens_length + 1, noise_density, mean_noise_span_length)[0] <= inputs_length:
        tokens_length += 1
    _, targets_length = corrupted_lengths(tokens_length, noise_density, mean_noise_span_length)
    if noise_density == 0.5 and targets_length > inputs_length:  # T5's tweak for the 50% setting
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


@functools.lru_cache(maxsize=64)
def t5_lengths(input_length: int, density: float, mean_span: float) -> tuple[int, int]:
    """Cached :func:`compute_input_and_target_lengths`."""
    return compute_input_and_target_lengths(input_length, density, mean_span)


@functools.lru_cache(maxsize=64)
def segment_token_budget(input_length: int, density: float, mean_span: float, continuation_max: float) -> int:
    """Raw tokens of a segment: T5's raw length for `input_length`, lowered until a continuation input
    (front <= continuation_max of the segment, + sentinel + EOS) fits too."""
    raw, _ = t5_lengths(input_length, density, mean_span)
    while raw > 2 and int(raw * continuation_max) + 2 > input_length:
        raw -= 1
    return raw


def expected_noise(tokens: int, density: float, mean_span: float) -> tuple[int, int]:
    """(noise tokens, noise spans) T5's arithmetic expects for a segment of `tokens` tokens."""
    num_noise = int(round(tokens * density))
    return num_noise, int(round(num_noise / mean_span))
