"""Cross-document boilerplate lines: a normalized line found in at least K distinct documents.

Site boilerplate (ads, "本章完", "手机阅读请访问…", navigation text) repeats verbatim across unrelated
books; story text does not. The stage runs on documents that are already deduplicated (otherwise
every line of a re-uploaded novel would look "frequent"). A line is *eligible* — counted and
possibly removed — unless it is a chapter heading (``transforms.cleaning.headings``), has fewer
than ``min_line_chars`` letters/digits/Han characters, is longer than ``max_line_chars`` (a story
paragraph found in several books is a quotation, not site furniture), or (``protect_dialogue``) is
a single quoted utterance. Each eligible line counts once per document; lines whose count reaches
``max(min_docs, min_doc_fraction x documents)`` are removed from every document and the removals are
counted per document. A document whose removable lines exceed ``max_removed_fraction`` of its
characters keeps its text unchanged (counted): boilerplate removal trims furniture, it never guts a text.

Patterns travel to the removal step as a side input of 8-byte line keys (only the frequent lines,
never the documents).
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import apache_beam as beam
import regex

from schemas.hashing import stable_digest
from transforms.cleaning.chars import normalize_line, normalized_lines
from transforms.dedupe.keytext import nfkc
from transforms.documents import with_text
from transforms.stats import STATS, stat

_OPEN_QUOTES = "“「『\"'‘《"
_CLOSE_QUOTES = "”」』\"'’》"

HeadingTest = Callable[[str], bool]


def line_key(normalized: str) -> bytes:
    """8-byte stable hash of a normalized line."""
    return stable_digest(normalized, bits=64)


def is_dialogue(normalized: str) -> bool:
    """True for a line that is one quoted utterance: opens and closes with quote marks."""
    return len(normalized) >= 2 and normalized[0] in _OPEN_QUOTES and normalized[-1] in _CLOSE_QUOTES


@functools.lru_cache(maxsize=8)
def _enough_key_chars(n: int):
    """Pattern matching a line's start through its n-th letter/digit/Han character."""
    return regex.compile(r"(?:[^\p{L}\p{N}]*[\p{L}\p{N}]){%d}" % n)


def _eligible(raw: str, norm: str, cfg, is_heading: HeadingTest) -> bool:
    """May the line (`norm`: its NFKC, whitespace-normalized form) be boilerplate? (module doc)"""
    if not norm or len(norm) > cfg.max_line_chars:
        return False
    if not _enough_key_chars(cfg.min_line_chars).match(norm):
        return False
    if cfg.protect_dialogue and is_dialogue(norm):
        return False
    return not is_heading(raw.strip())


def eligible_key(line: str, cfg, is_heading: HeadingTest) -> bytes | None:
    """The line's key when it may be boilerplate (see module doc), else None."""
    norm = normalize_line(nfkc(line))
    return line_key(norm) if _eligible(line, norm, cfg, is_heading) else None


def _normalized(text: str) -> tuple[list[str], list[str]]:
    """(raw lines, their normalized forms) of `text`, normalizing the text once."""
    raw = text.split("\n")
    norm = normalized_lines(nfkc(text))
    if len(norm) != len(raw):  # NFKC never makes or removes "\n"; kept as a guard
        norm = [normalize_line(nfkc(line)) for line in raw]
    return raw, norm


def line_keys(text: str, cfg, is_heading: HeadingTest) -> list[bytes | None]:
    """:func:`eligible_key` of every line of `text` ("\n"-separated)."""
    raw, norm = _normalized(text)
    return [line_key(n) if _eligible(r, n, cfg, is_heading) else None for r, n in zip(raw, norm)]


def doc_line_keys(text: str, cfg, is_heading: HeadingTest) -> set[bytes]:
    """Distinct eligible line keys of a document (each counts once per document)."""
    return {k for k in line_keys(text, cfg, is_heading) if k is not None}


def doc_threshold(documents: int, cfg) -> int:
    """Distinct documents a line must be found in to count as boilerplate: max(min_docs, fraction x docs)."""
    return max(int(cfg.min_docs), math.ceil(cfg.min_doc_fraction * documents))


def remove_lines(text: str, patterns, cfg, is_heading: HeadingTest) -> tuple[str, int]:
    """(`text` without its eligible lines whose key is in `patterns`, number of lines removed).

    When the removable lines hold more than ``cfg.max_removed_fraction`` of the characters, nothing is
    removed and the count is returned negated (-n), so the caller can count the capped document.
    """
    if not patterns:
        return text, 0
    kept, removed, removed_chars = [], 0, 0
    # Hash first: the key is in `patterns` for few lines, and only those need the eligibility tests.
    for line, norm in zip(*_normalized(text)):
        if norm and line_key(norm) in patterns and _eligible(line, norm, cfg, is_heading):
            removed += 1
            removed_chars += len(line) + 1
        else:
            kept.append(line)
    if not removed:
        return text, 0
    if removed_chars > cfg.max_removed_fraction * max(1, len(text)):
        return text, -removed
    return "\n".join(kept), removed


def _load_heading_test() -> HeadingTest:
    from transforms.cleaning.headings import is_chapter_heading

    return is_chapter_heading


class _LineKeys(beam.DoFn):
    def __init__(self, cfg):
        self.cfg = cfg

    def setup(self):
        self.is_heading = _load_heading_test()

    def process(self, doc):
        for key in sorted(doc_line_keys(doc["text"], self.cfg, self.is_heading)):
            yield (key, 1)


class _RemoveLines(beam.DoFn):
    def __init__(self, cfg):
        self.cfg = cfg

    def setup(self):
        self.is_heading = _load_heading_test()

    def process(self, doc, patterns):
        text, removed = remove_lines(doc["text"], patterns, self.cfg, self.is_heading)
        if removed < 0:
            yield stat("boilerplate.docs_capped")
            removed = 0
        out = dict(doc, boilerplate_lines_removed=removed)
        if removed:
            out = with_text(out, text)
            yield stat("boilerplate.lines_removed", removed)
            yield stat("boilerplate.docs_changed")
        yield out


class RemoveBoilerplate(beam.PTransform):
    """PCollection[document dict] -> (documents with boilerplate_lines_removed set, stats)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def expand(self, docs):
        if not self.cfg.enabled:
            off = docs | "BoilerplateOff" >> beam.Map(lambda d: dict(d, boilerplate_lines_removed=0))
            return off, off.pipeline | "NoBoilerplateStats" >> beam.Create([])
        cfg = self.cfg
        threshold = (
            docs
            | "CountDocs" >> beam.combiners.Count.Globally()
            | "DocThreshold" >> beam.Map(doc_threshold, cfg)
        )
        patterns = (
            docs
            | "LineKeys" >> beam.ParDo(_LineKeys(self.cfg))
            | "DocsPerLine" >> beam.CombinePerKey(sum)
            | "Frequent" >> beam.Filter(lambda kv, k: kv[1] >= k, beam.pvalue.AsSingleton(threshold))
            | "PatternKeys" >> beam.Map(lambda kv: (kv[0], None))
        )
        pattern_stats = patterns | "CountPatterns" >> beam.ParDo(_PatternStatDoFn()).with_outputs(STATS, main="none")
        cleaned = docs | "RemoveLines" >> beam.ParDo(
            _RemoveLines(self.cfg), patterns=beam.pvalue.AsDict(patterns)
        ).with_outputs(STATS, main="docs")
        stats = (cleaned[STATS], pattern_stats[STATS]) | "FlattenBoilerplateStats" >> beam.Flatten()
        return cleaned.docs, stats


class _PatternStatDoFn(beam.DoFn):
    def process(self, element):
        yield stat("boilerplate.patterns")
