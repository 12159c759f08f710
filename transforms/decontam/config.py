"""Configuration of the decontaminate stage: which evaluation files, and how overlap is matched and removed.

Defaults were chosen by measurement (bench/bench_decontam.py; figures in bench/README.md, "Decontamination").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from transforms.config_base import StageConfig, knob

#: Text-like fields of .json/.jsonl objects (and .parquet columns) read by default: LOT and STORAL's names.
DEFAULT_TEXT_FIELDS = ["text", "story", "target", "source", "context", "plot"]


@dataclass(frozen=True)
class DecontaminateConfig(StageConfig):
    """Removal of evaluation-set text (LOT, STORAL, any user set) from the corpus. See docs/decontamination.md."""

    section: ClassVar[str] = "decontaminate"

    files: list[str] = knob(
        [], "Globs of evaluation files (.source/.target/.txt one item per line, .json, .jsonl, .parquet); empty = the "
        "stage does not run. `longlm build --decontaminate GLOB` adds to it"
    )
    ngram: int = knob(10, "Characters per n-gram of the key text (NFKC, simplified, lower case, letters/digits/Han only)")
    min_item_ngrams: int = knob(
        24, "An evaluation item with fewer distinct n-grams than this is too short to match on its own (outlines, "
        "keyword lists, titles, single sentences) and is skipped (counted)"
    )
    min_matched_ngrams: int = knob(
        16, "An item matches a document when at least this many of its distinct n-grams occur in it..."
    )
    min_coverage: float = knob(
        0.5, "...and, each at its first occurrence, they cover at least this share of the item's key characters"
    )
    unit_coverage: float = knob(
        0.5, "A unit (a sentence; a line without sentence ends) is part of the match when at least this share of its "
        "key characters lies inside the matched n-grams"
    )
    gap_chars: int = knob(
        60, "Units between two matched ones are removed with them while their key characters add up to at most this "
        "(a sentence an item masks out, a line an edit broke)"
    )
    margin_lines: int = knob(
        0, "Short units (at most short_unit_chars key characters: a story's title, '（完）') right before and after a "
        "removed stretch are removed with it, at most this many on each side"
    )
    short_unit_chars: int = knob(16, "Key characters of a unit at most which it is 'short' for margin_lines")
    min_region_ngrams: int = knob(
        8, "A stretch of matched units is removed only when it holds at least this many of the item's n-grams (a "
        "common phrase elsewhere in the novel stays)"
    )
    min_region_share: float = knob(
        0.2, "...and at least this share of the item's distinct n-grams (a sentence of the story quoted elsewhere "
        "stays)"
    )
    max_unit_chars: int = knob(
        2000, "A sentence longer than this (text without punctuation) is cut into units of this length"
    )
    min_remaining_chars: int = knob(
        100, "A document left with fewer non-space characters than this is filtered with reason 'contaminated'"
    )
    text_fields: list[str] = knob(
        list(DEFAULT_TEXT_FIELDS), "Fields of .json/.jsonl objects and columns of .parquet files read as item text "
        "(a list of strings counts as separate segments)"
    )
    max_json_bytes: int = knob(
        256 * 2**20, "A .json file (parsed whole) larger than this is refused; use .jsonl or .parquet for larger sets"
    )
    max_items: int = knob(
        2_000_000, "Most evaluation items the index may hold (the index is a side input held by every worker)"
    )

    def check(self) -> None:
        self.require(all(isinstance(f, str) and f for f in self.files), "files", "must be non-empty strings")
        self.require(4 <= self.ngram <= 64, "ngram", "must be in [4, 64]")
        self.require(self.min_item_ngrams >= 1, "min_item_ngrams", "must be >= 1")
        self.require(1 <= self.min_matched_ngrams <= self.min_item_ngrams, "min_matched_ngrams",
                     "must be in [1, min_item_ngrams]")
        for name in ("min_coverage", "unit_coverage", "min_region_share"):
            self.require(0.0 < getattr(self, name) <= 1.0, name, "must be in (0, 1]")
        for name in ("gap_chars", "margin_lines", "short_unit_chars", "min_remaining_chars"):
            self.require(getattr(self, name) >= 0, name, "must be >= 0")
        self.require(1 <= self.min_region_ngrams <= self.min_matched_ngrams, "min_region_ngrams",
                     "must be in [1, min_matched_ngrams]")
        self.require(self.max_unit_chars >= 100, "max_unit_chars", "must be >= 100")
        self.require(len(self.text_fields) >= 1 and all(self.text_fields), "text_fields", "must name at least one field")
        self.require(self.max_json_bytes >= 1, "max_json_bytes", "must be >= 1")
        self.require(self.max_items >= 1, "max_items", "must be >= 1")

    @property
    def enabled(self) -> bool:
        return bool(self.files)
