"""Quality filters on cleaned documents: each failure has a reason code, the measured value and the threshold.

Checks run in a fixed order and the first failure is the verdict: min_length, removed_ratio,
han_ratio, common_han_ratio, mean_line_length, punctuation_rate, dup_line_fraction,
top_ngram_repetition. Filters judge content, not layout: a document without line structure (one
800k-character line: a scraped novel whose paragraph breaks were stripped) is kept when it reads as
prose, and segmentation splits it on sentence punctuation. The measures:

- min_length: non-space characters of the cleaned text.
- removed_ratio: 1 - non-space characters after cleaning / before (whitespace changes don't count).
- han_ratio: Han characters / non-space characters.
- common_han_ratio: Han characters among the common ones (GB2312 level 1 or Big5 level 1, see
  chars.COMMON_HAN) / Han characters. Random characters from the CJK block fail it; real prose,
  simplified or traditional, passes with a wide margin.
- mean_line_length: mean length of the non-empty lines (stripped), too short (a list of words, a
  table of contents). Long lines alone never filter a document.
- punctuation_rate: punctuation marks (，。！？；：、 quotes, brackets, …, ASCII ,.!?;:) / non-space
  characters, checked only when the mean line is longer than max_mean_line_length: a minified,
  binary or garbage dump has no line breaks *and* no punctuation, a line-less novel has both Han
  prose and its commas.
- dup_line_fraction: non-empty lines equal to an earlier line / non-empty lines (Gopher's
  duplicate-line fraction, without blank lines, which would count as duplicates in a
  double-spaced text).
- top_ngram_repetition: for each n, (n x occurrences of the most frequent character n-gram) /
  non-space characters, capped at 1 (Gopher's top n-gram character fraction; n-grams run over
  the non-space characters, since Chinese has no spaces between words).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import regex

from transforms.cleaning.chars import COMMON_HAN, han_count, nonspace_count
from transforms.cleaning.cleaner import CleanResult
from transforms.cleaning.config import FilterConfig

__all__ = [
    "FilterVerdict", "quality_check", "han_count", "top_ngram_fraction", "dup_line_fraction", "punctuation_rate",
]

MIN_LENGTH = "min_length"
REMOVED_RATIO = "removed_ratio"
HAN_RATIO = "han_ratio"
COMMON_HAN_RATIO = "common_han_ratio"
MEAN_LINE_LENGTH = "mean_line_length"
PUNCTUATION_RATE = "punctuation_rate"
DUP_LINE_FRACTION = "dup_line_fraction"
TOP_NGRAM_REPETITION = "top_ngram_repetition"
#: Every reason code quality_check can return (plus the cleaner's own, e.g. "traditional").
REASONS = (
    MIN_LENGTH, REMOVED_RATIO, HAN_RATIO, COMMON_HAN_RATIO, MEAN_LINE_LENGTH, PUNCTUATION_RATE, DUP_LINE_FRACTION,
    TOP_NGRAM_REPETITION,
)


@dataclass(frozen=True)
class FilterVerdict:
    """Why a document is filtered: reason code, the measured value, the threshold it was compared with."""

    reason: str
    value: float
    threshold: float


_WHITESPACE_RUN = regex.compile(r"\s+")


def _codepoints_without_space(text: str) -> np.ndarray:
    compact = _WHITESPACE_RUN.sub("", text)
    return np.frombuffer(compact.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _ngram_keys(cps: np.ndarray, n: int) -> np.ndarray:
    """One uint64 per n-gram: exact (21 bits per code point) up to n=3, a 64-bit hash beyond."""
    m = len(cps) - n + 1
    if n <= 3:
        key = cps[:m].copy()
        for k in range(1, n):
            key = (key << np.uint64(21)) | cps[k : k + m]
        return key
    key = cps[:m] * np.uint64(0x9E3779B97F4A7C15)
    for k in range(1, n):
        key = (key ^ cps[k : k + m]) * np.uint64(0x100000001B3)
    return key


def _max_count(keys: np.ndarray) -> int:
    """Count of the most frequent key. (Sort-based: numpy 2.x's np.unique is ~10x slower on uint64.)"""
    s = np.sort(keys)
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    return int(np.diff(np.append(starts, len(s))).max())


def _max_count_upper_bound(keys: np.ndarray) -> int:
    """An upper bound of the most frequent key's count in O(n): counts of 2^20 hash buckets."""
    bucket = (keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(44)
    return int(np.bincount(bucket.astype(np.intp)).max())


def top_ngram_fraction(text: str, n: int) -> float:
    """Share of non-space characters covered by the most frequent character n-gram, capped at 1.

    n-grams of up to 3 characters are compared exactly; longer ones by a 64-bit hash (a collision
    could only raise the count, and at 64 bits it does not happen in practice).
    """
    cps = _codepoints_without_space(text)
    if n < 1 or len(cps) < n:
        return 0.0
    return min(1.0, n * _max_count(_ngram_keys(cps, n)) / len(cps))


def _top_ngram_over(cps: np.ndarray, n: int, limit: float) -> float | None:
    """top_ngram_fraction when it exceeds `limit`, else None (cheap bucket bound first)."""
    total = len(cps)
    if total < n:
        return None
    keys = _ngram_keys(cps, n)
    if n * _max_count_upper_bound(keys) / total <= limit:
        return None
    frac = min(1.0, n * _max_count(keys) / total)
    return frac if frac > limit else None


_COMMON_TABLE = np.zeros(0x10000, dtype=bool)  # a constant lookup table, frozen below
_COMMON_TABLE[[ord(c) for c in COMMON_HAN]] = True
_COMMON_TABLE.flags.writeable = False


def common_han_count(cps: np.ndarray) -> int:
    """How many code points of `cps` are common Han characters (chars.COMMON_HAN, all in the BMP)."""
    bmp = cps[cps < 0x10000]
    return int(np.count_nonzero(_COMMON_TABLE[bmp.astype(np.intp)]))


#: Punctuation counted by punctuation_rate: Chinese sentence and clause marks, quotes, brackets,
#: ellipsis and dashes, and their ASCII forms.
PUNCTUATION = "，。！？；：、“”‘’「」『』（）《》〈〉【】…—·,.!?;:\"'()"
_PUNCT_TABLE = np.zeros(0x10000, dtype=bool)  # a constant lookup table, frozen below
_PUNCT_TABLE[[ord(c) for c in PUNCTUATION]] = True
_PUNCT_TABLE.flags.writeable = False


def punctuation_rate(cps: np.ndarray) -> float:
    """Share of the code points `cps` (non-space characters) that are PUNCTUATION (0.0 when empty)."""
    if cps.size == 0:
        return 0.0
    bmp = cps[cps < 0x10000]
    return int(np.count_nonzero(_PUNCT_TABLE[bmp.astype(np.intp)])) / cps.size


def _lines(text: str) -> list[str]:
    return [s for s in (line.strip() for line in text.split("\n")) if s]


def dup_line_fraction(lines: list[str]) -> float:
    """Share of (non-empty, stripped) lines that repeat an earlier line."""
    if not lines:
        return 0.0
    return sum(c - 1 for c in Counter(lines).values()) / len(lines)


def quality_check(raw_text: str, result: CleanResult, cfg: FilterConfig) -> FilterVerdict | None:
    """The first filter the cleaned document fails, or None when it passes all of them.

    `raw_text` is the text before cleaning (for removed_ratio). A document the cleaner itself
    dropped (result.dropped_reason, e.g. traditional='drop') is reported with that reason.
    """
    if result.dropped_reason:
        return FilterVerdict(result.dropped_reason, float(result.dropped_value), float(result.dropped_threshold))
    text = result.text
    chars = nonspace_count(text)
    if chars < cfg.min_chars or chars == 0:
        return FilterVerdict(MIN_LENGTH, float(chars), float(cfg.min_chars))
    raw_chars = nonspace_count(raw_text)
    removed = 1.0 - chars / raw_chars if raw_chars else 0.0
    if removed > cfg.max_removed_ratio:
        return FilterVerdict(REMOVED_RATIO, removed, cfg.max_removed_ratio)
    han = han_count(text)
    han_ratio = han / chars
    if han_ratio < cfg.min_han_ratio:
        return FilterVerdict(HAN_RATIO, han_ratio, cfg.min_han_ratio)
    cps = _codepoints_without_space(text)
    common = common_han_count(cps) / han if han else 1.0  # no Han at all: han_ratio's business
    if common < cfg.min_common_han_ratio:
        return FilterVerdict(COMMON_HAN_RATIO, common, cfg.min_common_han_ratio)
    lines = _lines(text)
    mean_len = sum(map(len, lines)) / len(lines)
    if mean_len < cfg.min_mean_line_length:
        return FilterVerdict(MEAN_LINE_LENGTH, mean_len, cfg.min_mean_line_length)
    if cfg.max_mean_line_length and mean_len > cfg.max_mean_line_length:
        rate = punctuation_rate(cps)  # no line structure: judge the content instead
        if rate < cfg.min_punctuation_rate:
            return FilterVerdict(PUNCTUATION_RATE, rate, cfg.min_punctuation_rate)
    dup = dup_line_fraction(lines)
    if dup > cfg.max_dup_line_fraction:
        return FilterVerdict(DUP_LINE_FRACTION, dup, cfg.max_dup_line_fraction)
    for n, limit in zip(cfg.top_ngram_sizes, cfg.top_ngram_fractions):
        frac = _top_ngram_over(cps, n, limit)
        if frac is not None:
            return FilterVerdict(TOP_NGRAM_REPETITION, frac, limit)
    return None
