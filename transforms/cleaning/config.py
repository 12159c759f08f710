"""Knobs of the cleaning stage ([clean]) and of the quality filters ([filter]).

Every cleaning rule can be switched off; the defaults are what a LongLM corpus should use. Each
filter threshold's doc line names where its default comes from: FineWeb-2's per-language config for
Chinese (github.com/huggingface/fineweb-2, configs/cmn_Hani.yml), Gopher (Rae et al. 2021, "Scaling
Language Models", appendix A, table A1), or a measurement of real novels with the default cleaning
(the figures are in bench/README.md, "Figures moved from code").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from transforms.config_base import StageConfig, knob


@dataclass(frozen=True)
class CleanConfig(StageConfig):
    """Normalization and junk removal, applied rule by rule in a fixed order."""

    section: ClassVar[str] = "clean"

    unicode_nfc: bool = knob(True, "Normalize to Unicode NFC")
    strip_invisible: bool = knob(
        True, "Remove BOM, zero-width, bidi, variation-selector and control characters; CR -> LF"
    )
    fullwidth_ascii: bool = knob(
        True, "Full-width letters, digits and U+3000 to half-width (Chinese punctuation keeps its full width)"
    )
    traditional: str = knob(
        "convert",
        "Traditional Chinese: convert to simplified with OpenCC t2s, keep as is, or drop documents that are "
        "traditional",
        choices=("convert", "keep", "drop"),
    )
    traditional_drop_ratio: float = knob(
        0.1,
        "With traditional='drop': share of Han characters OpenCC t2s would change at which a document counts as "
        "traditional (between what traditional and mixed simplified novels measure: bench/README.md)",
    )
    html: bool = knob(
        True, "Remove HTML tags, scripts, comments and e-mail-obfuscation debris (<br>/<p> become line breaks)"
    )
    entities: bool = knob(True, "Decode HTML entities (&times; -> ×, &nbsp; -> space); unknown entities are removed")
    emails: bool = knob(True, "Remove e-mail addresses")
    urls: bool = knob(True, "Remove URLs and bare web domains (www.xxx.com inserted mid-sentence), with their brackets")
    watermarks: bool = knob(
        True, "Remove site watermarks and ads listed in the patterns file (inline, ad lines, banners)"
    )
    credits: bool = knob(
        True, "Remove source credit and ad sentences listed in the patterns file ([credits]: 某某书屋：整理校对, "
        "本书由…整理, 更多精彩…请访问…, …首发…, 本章未完…), as whole lines or whole sentences"
    )
    watermark_max_line_chars: int = knob(
        80, "An ad keyword removes its whole line only when the line has at most this many characters"
    )
    banner_scan_lines: int = knob(
        20, "Licence/download banners are looked for in this many first and last non-empty lines"
    )
    patterns_file: str = knob(
        "", "TOML file of junk patterns (empty: the packaged transforms/cleaning/patterns.toml)"
    )
    glyph_debris: bool = knob(
        True, "Remove private-use characters, U+FFFD, □/〓 placeholders with their glyph descriptions (□【左“鱼”右“便”】) "
        "and ASCII ? standing for a character lost in encoding (推倒?翻)"
    )
    footnotes: bool = knob(True, "Remove footnote markers: [1], 〔2〕, 【3】, ①-⑳, ⑴-⒇, (注1)")
    censor_masks: str = knob(
        "drop",
        "Runs of 2+ asterisks next to Chinese text mask censored or unreadable characters (玉梨魂, early OCR "
        "editions): 'drop' removes the mask, 'keep' leaves it",
        choices=("drop", "keep"),
    )
    page_markers: bool = knob(
        True, "Remove page markers (----- Page 12 -----, 第12页, - 12 -) and bare page numbers inside wrapped text"
    )
    separators: bool = knob(True, "Replace decorative separator lines (-----, ====, ※※※, * * *) by a blank line")
    split_headings: bool = knob(
        True, "Put a chapter heading glued after a sentence end (……了。第二回 xxx) on its own line"
    )
    rejoin_wraps: bool = knob(True, "Re-join hard-wrapped lines (a line that ends mid-sentence continues on the next)")
    wrap_min_chars: int = knob(
        16, "A line ending mid-sentence is joined with the next only when it has at least this many characters"
    )
    cjk_punctuation: bool = knob(True, "ASCII , ? ! : ; . ( ) between Chinese characters become ，？！：；。（）")
    fullstop: bool = knob(True, "Full-width ． used as a full stop after Chinese text becomes 。")
    cjk_spaces: bool = knob(
        True, "Remove spaces next to Chinese characters (LongLM deletes all spaces); headings keep one space"
    )
    strip_indentation: bool = knob(True, "Remove leading and trailing whitespace of every line (paragraph indentation)")
    blank_lines: str = knob(
        "collapse",
        "Blank lines: 'collapse' runs into one blank line, 'remove' all of them, or 'keep' them",
        choices=("collapse", "remove", "keep"),
    )

    def check(self) -> None:
        self.require(0.0 < self.traditional_drop_ratio <= 1.0, "traditional_drop_ratio", "must be in (0, 1]")
        self.require(self.watermark_max_line_chars >= 1, "watermark_max_line_chars", "must be >= 1")
        self.require(self.banner_scan_lines >= 0, "banner_scan_lines", "must be >= 0")
        self.require(self.wrap_min_chars >= 1, "wrap_min_chars", "must be >= 1")


@dataclass(frozen=True)
class FilterConfig(StageConfig):
    """Quality filters on cleaned documents: a document failing one goes to filtered/ with its reason."""

    section: ClassVar[str] = "filter"

    min_chars: int = knob(
        100,
        "min_length: fewest non-space characters after cleaning. Gopher keeps documents of >= 50 words; at ~1.6 "
        "characters per jieba word that is 80 Chinese characters, rounded up",
    )
    max_removed_ratio: float = knob(
        0.5,
        "removed_ratio: largest share of non-space characters cleaning may remove before the document counts as "
        "mostly junk (not in Gopher/FineWeb, which filter raw text; far above what real novels lose: "
        "bench/README.md)",
    )
    min_han_ratio: float = knob(
        0.5,
        "han_ratio: smallest share of Han characters among non-space characters. FineWeb-2 cmn_Hani requires "
        "73.5% of words to contain a letter (max_non_alpha_words_ratio 0.735); counted per character, punctuation "
        "lowers the share, so the default sits below what novels measure (bench/README.md)",
    )
    min_common_han_ratio: float = knob(
        0.7,
        "common_han_ratio: smallest share of Han characters that are common ones (GB2312 or Big5 level 1). Plays "
        "the part of FineWeb-2's stop-word check (cmn_Hani stopwords 的/了/是...) for text without words: random "
        "CJK characters fail it, novels in either script pass with a wide margin (bench/README.md)",
    )
    min_mean_line_length: float = knob(
        9.0,
        "mean_line_length: smallest mean non-empty line length in characters. FineWeb-2 cmn_Hani allows at most "
        "0.178 line breaks per word (new_line_ratio), i.e. >= 5.6 words or ~9 characters per line",
    )
    max_mean_line_length: float = knob(
        10000.0,
        "Mean line length above which a document has no usable line structure and must pass punctuation_rate "
        "instead (0: never check). Layout alone never filters: a scraped novel may come as one line; the default "
        "sits above a whole chapter on one line (bench/README.md)",
    )
    min_punctuation_rate: float = knob(
        0.02,
        "punctuation_rate: for a document past max_mean_line_length, the smallest share of punctuation marks among "
        "non-space characters (a minified, binary or garbage dump has none); a novel that lost its full stops "
        "keeps its commas (bench/README.md)",
    )
    max_dup_line_fraction: float = knob(
        0.287,
        "dup_line_fraction: largest share of non-empty lines that repeat an earlier line. FineWeb-2 cmn_Hani "
        "dup_line_frac 0.287 (Gopher: 0.30)",
    )
    top_ngram_sizes: list[int] = knob(
        [2, 3, 4],
        "top_ngram_repetition: n-gram sizes checked (Gopher's top 2/3/4-gram character fraction). N-grams are of "
        "characters here; FineWeb-2 counts jieba words, so the same thresholds are more lenient on Chinese",
    )
    top_ngram_fractions: list[float] = knob(
        [0.256, 0.201, 0.171],
        "top_ngram_repetition: largest share of characters covered by the most frequent n-gram, per size in "
        "top_ngram_sizes. FineWeb-2 cmn_Hani top_n_grams (Gopher: 0.20/0.18/0.16)",
    )

    def check(self) -> None:
        self.require(self.min_chars >= 0, "min_chars", "must be >= 0")
        self.require(0.0 < self.max_removed_ratio <= 1.0, "max_removed_ratio", "must be in (0, 1]")
        self.require(0.0 <= self.min_han_ratio <= 1.0, "min_han_ratio", "must be in [0, 1]")
        self.require(0.0 <= self.min_common_han_ratio <= 1.0, "min_common_han_ratio", "must be in [0, 1]")
        self.require(self.min_mean_line_length >= 0, "min_mean_line_length", "must be >= 0")
        self.require(
            self.max_mean_line_length == 0 or self.max_mean_line_length > self.min_mean_line_length,
            "max_mean_line_length",
            "must be 0 (off) or greater than min_mean_line_length",
        )
        self.require(0.0 <= self.min_punctuation_rate <= 1.0, "min_punctuation_rate", "must be in [0, 1]")
        self.require(0.0 < self.max_dup_line_fraction <= 1.0, "max_dup_line_fraction", "must be in (0, 1]")
        self.require(
            len(self.top_ngram_sizes) == len(self.top_ngram_fractions),
            "top_ngram_fractions",
            "must have one fraction per entry of top_ngram_sizes",
        )
        self.require(all(1 <= n <= 10 for n in self.top_ngram_sizes), "top_ngram_sizes", "sizes must be in 1..10")
        self.require(all(0.0 < f <= 1.0 for f in self.top_ngram_fractions), "top_ngram_fractions", "must be in (0, 1]")
