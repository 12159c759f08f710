"""Quality filters, datatrove-style: a list of filter objects, each with a `name` (its reason code) and
`check(doc)` returning a FilterVerdict (reason, value, threshold) when the document fails, else None.

Filters run in list order and the first failure is the verdict, so the order is part of the contract:
traditional (only with clean.traditional='drop'; the Cleaner runs it right after its `traditional`
rule and stops cleaning a document it filters), then after cleaning min_length, removed_ratio,
han_ratio, common_han_ratio, mean_line_length, punctuation_rate, dup_line_fraction,
top_ngram_repetition. A filter may rely on the ones before it having passed. Filters judge content,
not layout: a document without line structure (a scraped novel whose paragraph breaks were
stripped) is kept when it reads as prose, and segmentation splits it on sentence punctuation.
The measures (computed once per document, on first use, by Doc):

- traditional: characters OpenCC t2s would change / Han characters, at the cleaner's traditional rule.
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

import operator
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, NamedTuple

import numpy as np
import regex

from transforms.cleaning.chars import COMMON_HAN, han_count, nonspace_count
from transforms.cleaning.config import CleanConfig, FilterConfig

__all__ = [
    "CleanResult", "Doc", "Filter", "FilterVerdict", "Threshold", "cleaning_filters", "dup_line_fraction", "han_count",
    "punctuation_rate", "quality_check", "quality_filters", "top_ngram_fraction",
]

TRADITIONAL = "traditional"
MIN_LENGTH = "min_length"
REMOVED_RATIO = "removed_ratio"
HAN_RATIO = "han_ratio"
COMMON_HAN_RATIO = "common_han_ratio"
MEAN_LINE_LENGTH = "mean_line_length"
PUNCTUATION_RATE = "punctuation_rate"
DUP_LINE_FRACTION = "dup_line_fraction"
TOP_NGRAM_REPETITION = "top_ngram_repetition"
#: Every reason code a filter can return, in the order the filters run.
REASONS = (
    TRADITIONAL, MIN_LENGTH, REMOVED_RATIO, HAN_RATIO, COMMON_HAN_RATIO, MEAN_LINE_LENGTH, PUNCTUATION_RATE,
    DUP_LINE_FRACTION, TOP_NGRAM_REPETITION,
)


class FilterVerdict(NamedTuple):
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
    """Count of the most frequent key. (Sort-based: numpy 2.x's np.unique is slower on uint64, bench/README.md.)"""
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


class Doc:
    """One document as the filters see it: `raw` (before cleaning), `text` (cleaned so far) and the
    cleaning rules' hits; every measure is computed on first use and kept."""

    def __init__(self, raw: str, text: str, hits: dict[str, int] | None = None):
        self.raw, self.text, self.hits = raw, text, hits or {}

    @cached_property
    def chars(self) -> int:
        return nonspace_count(self.text)

    @cached_property
    def han(self) -> int:
        return han_count(self.text)

    @cached_property
    def cps(self) -> np.ndarray:
        return _codepoints_without_space(self.text)

    @cached_property
    def lines(self) -> list[str]:
        return _lines(self.text)

    @cached_property
    def traditional(self) -> float:
        return self.hits.get(TRADITIONAL, 0) / max(1, self.han)

    @cached_property
    def removed_ratio(self) -> float:
        raw_chars = nonspace_count(self.raw)
        return 1.0 - self.chars / raw_chars if raw_chars else 0.0

    @cached_property
    def han_ratio(self) -> float:
        return self.han / self.chars if self.chars else 0.0

    @cached_property
    def common_han_ratio(self) -> float:
        return common_han_count(self.cps) / self.han if self.han else 1.0  # no Han at all: han_ratio's business

    @cached_property
    def mean_line_length(self) -> float:
        return sum(map(len, self.lines)) / len(self.lines) if self.lines else 0.0

    @cached_property
    def dup_line_fraction(self) -> float:
        return dup_line_fraction(self.lines)


class Filter:
    """A quality filter: `name` is its reason code; check() says why `doc` fails, or None.

    after_rule: the cleaning rule right after which the Cleaner runs this filter (None: after cleaning).
    """

    name: str = ""
    after_rule: str | None = None

    def check(self, doc: Doc) -> FilterVerdict | None:
        raise NotImplementedError


class Threshold(Filter):
    """Fails when `fails(measure, threshold)`; the measure is the Doc attribute of the filter's name."""

    def __init__(self, name: str, threshold: float, fails: Callable[[float, float], bool],
                 after_rule: str | None = None):
        self.name, self.threshold, self.fails, self.after_rule = name, threshold, fails, after_rule

    def check(self, doc: Doc) -> FilterVerdict | None:
        value = getattr(doc, self.name)
        if not self.fails(value, self.threshold):
            return None
        return FilterVerdict(self.name, float(value), float(self.threshold))


class MinLength(Filter):
    """Fewer non-space characters than `min_chars`, or none at all."""

    name = MIN_LENGTH

    def __init__(self, min_chars: int):
        self.min_chars = min_chars

    def check(self, doc: Doc) -> FilterVerdict | None:
        if doc.chars < self.min_chars or doc.chars == 0:
            return FilterVerdict(MIN_LENGTH, float(doc.chars), float(self.min_chars))
        return None


class PunctuationRate(Filter):
    """Too little punctuation, judged only for a document without line structure (mean line > max_line)."""

    name = PUNCTUATION_RATE

    def __init__(self, min_rate: float, max_line: float):
        self.min_rate, self.max_line = min_rate, max_line

    def check(self, doc: Doc) -> FilterVerdict | None:
        if not self.max_line or doc.mean_line_length <= self.max_line:
            return None
        rate = punctuation_rate(doc.cps)
        return FilterVerdict(PUNCTUATION_RATE, rate, self.min_rate) if rate < self.min_rate else None


class TopNgramRepetition(Filter):
    """The most frequent character n-gram covers more than its limit, for any configured n."""

    name = TOP_NGRAM_REPETITION

    def __init__(self, sizes: list[int], limits: list[float]):
        self.pairs = list(zip(sizes, limits))

    def check(self, doc: Doc) -> FilterVerdict | None:
        for n, limit in self.pairs:
            frac = _top_ngram_over(doc.cps, n, limit)
            if frac is not None:
                return FilterVerdict(TOP_NGRAM_REPETITION, frac, limit)
        return None


def cleaning_filters(cfg: CleanConfig) -> list[Filter]:
    """Filters that run inside the Cleaner (each after its `after_rule`): traditional='drop'."""
    if cfg.traditional != "drop":
        return []
    return [Threshold(TRADITIONAL, cfg.traditional_drop_ratio, operator.ge, after_rule=TRADITIONAL)]


def quality_filters(cfg: FilterConfig) -> list[Filter]:
    """The filters run on the cleaned document, in order."""
    return [
        MinLength(cfg.min_chars),
        Threshold(REMOVED_RATIO, cfg.max_removed_ratio, operator.gt),
        Threshold(HAN_RATIO, cfg.min_han_ratio, operator.lt),
        Threshold(COMMON_HAN_RATIO, cfg.min_common_han_ratio, operator.lt),
        Threshold(MEAN_LINE_LENGTH, cfg.min_mean_line_length, operator.lt),
        PunctuationRate(cfg.min_punctuation_rate, cfg.max_mean_line_length),
        Threshold(DUP_LINE_FRACTION, cfg.max_dup_line_fraction, operator.gt),
        TopNgramRepetition(cfg.top_ngram_sizes, cfg.top_ngram_fractions),
    ]


def first_failure(filters: list[Filter], doc: Doc) -> FilterVerdict | None:
    """The verdict of the first filter `doc` fails, or None."""
    for f in filters:
        verdict = f.check(doc)
        if verdict is not None:
            return verdict
    return None


@dataclass
class CleanResult:
    """What cleaning one text produced.

    text: the cleaned text. hits: rule name -> places the rule changed. removed: rule name -> net
    characters the rule removed (never negative). verdict: None, or why a filter run during cleaning
    (traditional='drop') failed the document; cleaning stopped there.
    """

    text: str
    hits: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    verdict: FilterVerdict | None = None



def quality_check(raw_text: str, result: CleanResult, cfg: FilterConfig) -> FilterVerdict | None:
    """The first filter the cleaned document fails, or None when it passes all of them.

    `raw_text` is the text before cleaning (for removed_ratio). A document a filter inside the Cleaner
    already failed (result.verdict, e.g. traditional='drop') keeps that verdict.
    """
    if result.verdict is not None:
        return result.verdict
    return first_failure(quality_filters(cfg), Doc(raw_text, result.text, result.hits))
