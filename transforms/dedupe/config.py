"""Configuration of the dedupe stage: exact + near-duplicate documents, and cross-document boilerplate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from transforms.config_base import StageConfig, knob


@dataclass(frozen=True)
class DedupeConfig(StageConfig):
    """Exact and near-duplicate (MinHash-LSH) document removal. See transforms/dedupe/README.md."""

    section: ClassVar[str] = "dedupe"

    exact: bool = knob(
        True, "Collapse documents whose normalized text (NFKC, trimmed lines, no blank lines) hashes equal"
    )
    near: bool = knob(
        True, "Collapse near-duplicates found by MinHash-LSH on the key text (simplified, letters/digits/Han)"
    )
    threshold: float = knob(
        0.8, "Jaccard similarity of key-text shingle sets at or above which two documents are duplicates"
    )
    num_perm: int = knob(128, "MinHash permutations (signature length)")
    ngram: int = knob(5, "Shingle size in characters of the key text")
    minhash_seed: int = knob(1, "Seed of the MinHash permutations (datasketch affine32 scheme)")
    false_positive_weight: float = knob(0.1, "Weight of false positives when choosing LSH bands x rows (datasketch)")
    false_negative_weight: float = knob(0.9, "Weight of false negatives when choosing LSH bands x rows (datasketch)")
    verify_exact_jaccard: bool = knob(
        False, "Confirm candidate pairs with the exact Jaccard of their shingle sets instead of the MinHash estimate"
    )
    exact_verify_slack: float = knob(
        0.1, "With verify_exact_jaccard: candidates whose estimate is within this of the threshold get the exact check"
    )
    containment: bool = knob(
        True, "Also merge a document mostly contained in a longer one (a partial upload, an excerpt, a story inside "
        "a collection): kind 'contained' in duplicates/, the longer one is kept"
    )
    containment_threshold: float = knob(
        0.6, "Share of the shorter document's shingles found in the longer one at or above which it is 'contained' "
        "(measured values: bench/README.md, 'Figures moved from code')",
    )
    containment_min_ratio: float = knob(
        0.2, "Containment mode: smallest size ratio (smaller/larger shingle set) the extra LSH bands are tuned for"
    )
    containment_max_ratio: float = knob(
        0.9, "Containment mode: only a document whose shingle set is at most this share of the other's can be "
        "'contained'; documents of about equal size are judged by Jaccard alone (two full editions are not partial "
        "uploads of each other)"
    )
    containment_verify_slack: float = knob(
        0.2, "Containment mode: candidate pairs whose signature-estimated containment is within this of the threshold "
        "are checked on their exact shingle sets, which then decide (128 permutations estimate it to ~+-0.1)"
    )
    max_bucket_size: int = knob(
        1000, "LSH buckets with more members check each only against the bucket's smallest doc_id, without ever grouping the bucket (counted)"
    )
    max_cc_rounds: int = knob(
        8, "Rounds of large-star/small-star connected components unrolled in the graph; components still"
        " unconverged after them (chains longer than ~2^rounds) are finished exactly by a union-find over just their edges"
    )

    def check(self) -> None:
        self.require(0.0 < self.threshold < 1.0, "threshold", "must be in (0, 1)")
        self.require(8 <= self.num_perm <= 1024, "num_perm", "must be in [8, 1024]")
        self.require(1 <= self.ngram <= 32, "ngram", "must be in [1, 32]")
        self.require(0 <= self.minhash_seed < 2**32, "minhash_seed", "must be in [0, 2**32)")
        for name in ("false_positive_weight", "false_negative_weight"):
            self.require(0.0 <= getattr(self, name) <= 1.0, name, "must be in [0, 1]")
        total = self.false_positive_weight + self.false_negative_weight
        self.require(abs(total - 1.0) < 1e-9, "false_negative_weight", "weights must sum to 1")
        self.require(0.0 <= self.exact_verify_slack < self.threshold, "exact_verify_slack", "must be in [0, threshold)")
        self.require(0.0 < self.containment_threshold < 1.0, "containment_threshold", "must be in (0, 1)")
        self.require(0.0 < self.containment_min_ratio <= 1.0, "containment_min_ratio", "must be in (0, 1]")
        self.require(
            self.containment_min_ratio < self.containment_max_ratio <= 1.0, "containment_max_ratio",
            "must be in (containment_min_ratio, 1]",
        )
        self.require(
            0.0 <= self.containment_verify_slack < self.containment_threshold, "containment_verify_slack",
            "must be in [0, containment_threshold)",
        )
        self.require(self.max_bucket_size >= 2, "max_bucket_size", "must be >= 2")
        self.require(1 <= self.max_cc_rounds <= 64, "max_cc_rounds", "must be in [1, 64]")


@dataclass(frozen=True)
class BoilerplateConfig(StageConfig):
    """Removal of lines that recur across many distinct (already deduplicated) documents."""

    section: ClassVar[str] = "boilerplate"

    enabled: bool = knob(True, "Remove cross-document boilerplate lines (site ads, '本章完', navigation text)")
    min_docs: int = knob(5, "A normalized line found in at least this many distinct documents is boilerplate")
    min_doc_fraction: float = knob(
        0.001, "...and in at least this share of all documents: the threshold is max(min_docs, fraction x documents),"
        " so a large corpus does not strip lines that merely recur by chance"
    )
    max_removed_fraction: float = knob(
        0.5, "A document whose boilerplate lines would exceed this share of its characters keeps them all"
        " (counted as boilerplate.docs_capped): stripping most of a text is a judgment for the filters"
    )
    min_line_chars: int = knob(
        3, "Lines with fewer letters/digits/Han characters than this are never counted or removed"
    )
    max_line_chars: int = knob(
        200, "Lines longer than this (after normalization) are story text, never boilerplate"
    )
    protect_dialogue: bool = knob(
        True, "Never treat a line that is one quoted utterance (“…”, 「…」) as boilerplate: short replies recur naturally"
    )

    def check(self) -> None:
        self.require(self.min_docs >= 2, "min_docs", "must be >= 2")
        self.require(0.0 <= self.min_doc_fraction < 1.0, "min_doc_fraction", "must be in [0, 1)")
        self.require(0.0 < self.max_removed_fraction <= 1.0, "max_removed_fraction", "must be in (0, 1]")
        self.require(self.min_line_chars >= 1, "min_line_chars", "must be >= 1")
        self.require(self.max_line_chars >= self.min_line_chars, "max_line_chars", "must be >= min_line_chars")
