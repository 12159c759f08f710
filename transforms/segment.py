"""Segmentation: documents -> sentences -> segments of consecutive sentences that fit one example.

Budget. A segment must become an infilling input of at most `examples.input_length` ids. T5's
arithmetic (:func:`transforms.lengths.segment_token_budget`, as ``ExamplesConfig.max_segment_tokens``) gives the raw token budget (568 at 512 /
0.15 / 3). Segments are cut before the vocabulary exists, so they are packed to a *character*
budget, ``max_segment_tokens * segment.chars_per_token``; the token budget is then enforced exactly
at example time (`transforms.examples`: a segment that tokenizes longer is cut at its last sentence
end that fits, counted as ``examples.truncated_*``). With the default 1.25 chars/token and a 32k
unigram vocabulary on novels (~1.4 chars/token on average) about 2% of segments need that cut.

Rules. Line breaks end sentences; within a line, sentences end at 。！？!?…； plus any closing quotes
or brackets after them (」』”’"'）)); a sentence longer than the cap (default: the budget, which only
matters for scans with little punctuation) is cut at its last soft break (，、：space) before the cap,
else at the cap. Sentences are packed greedily and never split unless one alone exceeds the budget.
Chapter headings (:func:`transforms.cleaning.headings.is_chapter_heading`) are hard boundaries: a
heading always starts a new segment; so does a sentence opening with 第X回/章 inside a line, the only
trace of a heading in a novel scraped as one line. A document without line breaks is thus split on
sentence punctuation and on its chapters like any other. Whitespace runs inside a line become one space, lines are
stripped and paragraphs are joined with ``segment.paragraph_break`` (default one space), so a
segment has no leading, trailing, doubled or non-ASCII whitespace: the form in which sentencepiece
and Hugging Face's whitespace-splitting T5Tokenizer give identical ids.

Segment ids are stable: (doc_id, segment_index), the index counting kept segments in document order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterable, NamedTuple

import apache_beam as beam

from transforms.cleaning.chars import SENTENCE_END, normalized_lines
from transforms.cleaning.headings import INLINE_HEADING, MAX_HEADING_CHARS, is_chapter_heading
from transforms.config_base import StageConfig, knob
from transforms.dead_letters import DEAD_LETTERS, guarded
from transforms.lengths import segment_token_budget
from transforms.result import StageResult
from transforms.stats import STATS, stat

if TYPE_CHECKING:  # the examples package imports this module (sentence_boundaries), never the reverse
    from transforms.examples.config import ExamplesConfig

#: Characters that end a sentence: the sentence ends plus ；.
TERMINALS = SENTENCE_END + "；"
#: Closing quotes/brackets that stay with the sentence they follow when they come right after a terminal.
CLOSERS = "」』”’\"'）)"
#: Soft breaks where an over-long sentence is preferably cut (the cut goes after them).
SOFT_BREAKS = "，、：:,; "

#: segment.paragraph_break values and the string each puts between paragraphs.
PARAGRAPH_BREAKS = {"space": " ", "none": "", "newline": "\n"}

_T = re.escape(TERMINALS)
_C = re.escape(CLOSERS)
_SENTENCE = re.compile(rf"[^{_T}\n]*[{_T}]+[{_C}]*|[^{_T}\n]+|\n")


@dataclass(frozen=True)
class SegmentConfig(StageConfig):
    """How documents are cut into segments (one segment = one example's text)."""

    section: ClassVar[str] = "segment"

    chars_per_token: float = knob(
        1.25,
        "Characters per token assumed when packing (32k unigram on novels: mean ~1.4, 1st percentile ~1.17); "
        "the char budget is examples' raw token budget times this, the token budget is enforced at example time",
    )
    paragraph_break: str = knob(
        "space", "What joins paragraphs inside a segment; newline keeps line breaks, but Hugging Face's "
        "T5Tokenizer drops them (its ids then differ from ours)", choices=tuple(PARAGRAPH_BREAKS),
    )
    max_sentence_chars: int = knob(0, "Cut longer sentences (unpunctuated scans) at a soft break; 0 = the char budget")
    min_segment_chars: int = knob(16, "Drop (and count) segments shorter than this, e.g. a heading followed by a heading")

    def check(self) -> None:
        self.require(0.2 <= self.chars_per_token <= 10.0, "chars_per_token", "must be in [0.2, 10]")
        self.require(self.max_sentence_chars >= 0, "max_sentence_chars", "must be >= 0")
        self.require(self.min_segment_chars >= 1, "min_segment_chars", "must be >= 1")

    @property
    def paragraph_separator(self) -> str:
        """The string paragraph_break names."""
        return PARAGRAPH_BREAKS[self.paragraph_break]

    def budget_chars(self, examples: ExamplesConfig) -> int:
        """The character budget of a segment for these example settings."""
        tokens = segment_token_budget(examples.input_length, examples.noise_density, examples.mean_span,
                                      examples.continuation_max)
        return max(8, int(tokens * self.chars_per_token))


class Sentence(NamedTuple):
    """A unit for packing: its text, whether it starts a paragraph, whether it starts a section (heading)."""

    text: str
    new_paragraph: bool = False
    new_section: bool = False


def cut_long(sentence: str, cap: int) -> list[str]:
    """Pieces of `sentence`, each at most `cap` chars, concatenating back to it.

    Each cut goes after the last soft break (，、：, ; space) in the second half of the window, else
    exactly at the cap. Linear in len(sentence): each window is searched in place (str.rfind with
    bounds), never copied off the rest of the sentence.
    """
    pieces = []
    pos, end = 0, len(sentence)
    while end - pos > cap:
        limit = pos + cap
        cut = max(sentence.rfind(ch, pos, limit) for ch in SOFT_BREAKS) + 1 - pos
        if cut <= cap // 2:
            cut = cap
        pieces.append(sentence[pos : pos + cut])
        pos += cut
    if pos < end:
        pieces.append(sentence[pos:])
    return pieces


def split_sentences(text: str, max_chars: int = 0) -> list[str]:
    """The sentences of `text` in order.

    Lines are normalized (:func:`normalize_line`) and empty lines dropped; within a line a sentence
    ends after a run of TERMINALS plus any CLOSERS right after them; a line with no terminal is one
    sentence; with `max_chars` > 0 longer sentences are cut by :func:`cut_long`. For every line,
    ``"".join`` of its sentences equals the normalized line.
    """
    out: list[str] = []
    for line in normalized_lines(text):
        for m in _SENTENCE.finditer(line):
            s = m.group()
            out.extend(cut_long(s, max_chars) if max_chars and len(s) > max_chars else [s])
    return out


def sentence_boundaries(text: str) -> list[int]:
    """Char offsets (0 < p < len(text)) where a sentence of `text` ends and the next begins.

    Same rules as :func:`split_sentences` on text that is already normalized (a segment's text); a
    line break also ends a sentence (the offset is that of the break).
    """
    ends = {m.start() if m.group() == "\n" else m.end() for m in _SENTENCE.finditer(text)}
    return sorted(p for p in ends if 0 < p < len(text))


def document_sentences(text: str, max_chars: int) -> tuple[list[Sentence], int]:
    """(packing units of a document's text, number of headings). A heading line is one unit with new_section;
    inside a line, a sentence opening with 第X回/章 starts a section too (line-less documents)."""
    units: list[Sentence] = []
    headings = 0
    for line in normalized_lines(text):
        if not line:
            continue
        if len(line) <= MAX_HEADING_CHARS and is_chapter_heading(line):
            units.append(Sentence(line, True, True))
            headings += 1
            continue
        for i, m in enumerate(_SENTENCE.finditer(line)):
            s = m.group()
            pieces = cut_long(s, max_chars) if max_chars and len(s) > max_chars else [s]
            section = INLINE_HEADING.match(s) is not None
            headings += section
            units.extend(Sentence(p, (i == 0 or section) and j == 0, section and j == 0) for j, p in enumerate(pieces))
    return units, headings


def pack_segments(units: Iterable[Sentence], budget: int, separator: str = " ") -> list[str]:
    """Greedily pack consecutive sentences into segments of at most `budget` chars.

    A sentence never straddles two segments unless it alone is longer than the budget (it is then cut
    by :func:`cut_long`); a unit with new_section always starts a new segment; paragraphs are joined with
    `separator`. Segment texts are stripped; empty ones are not returned.
    """
    segments: list[str] = []
    cur: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal cur, size
        text = "".join(cur).strip()
        if text:
            segments.append(text)
        cur, size = [], 0

    for unit in units:
        pieces = cut_long(unit.text, budget) if len(unit.text) > budget else [unit.text]
        for j, piece in enumerate(pieces):
            if unit.new_section and j == 0 and cur:
                flush()
            sep = separator if (cur and unit.new_paragraph and j == 0) else ""
            if cur and size + len(sep) + len(piece) > budget:
                flush()
                sep = ""
            cur.append(sep + piece)
            size += len(sep) + len(piece)
    if cur:
        flush()
    return segments


def segment_document(doc: dict, budget: int, cfg: SegmentConfig) -> tuple[list[dict], dict[str, int]]:
    """(segment dicts {doc_id, segment_index, split, text}, counters) of one document dict."""
    units, headings = document_sentences(doc["text"] or "", cfg.max_sentence_chars or budget)
    counts = {"headings": headings, "dropped_short": 0, "dropped_short_chars": 0}
    out = []
    for text in pack_segments(units, budget, cfg.paragraph_separator):
        if len(text) < cfg.min_segment_chars:
            counts["dropped_short"] += 1
            counts["dropped_short_chars"] += len(text)
            continue
        out.append({"doc_id": doc["doc_id"], "segment_index": len(out), "split": doc.get("split") or "train",
                    "text": text})
    return out, counts


class _SegmentFn(beam.DoFn):
    def __init__(self, cfg: SegmentConfig, budget: int):
        self._cfg, self._budget = cfg, budget

    @guarded("segment")
    def process(self, doc):
        segments, counts = segment_document(doc, self._budget, self._cfg)
        yield stat("segment.documents")
        if not segments:
            yield stat("segment.documents_without_segments")
        yield stat("segment.segments", len(segments))
        yield stat("segment.chars", sum(len(s["text"]) for s in segments))
        for name, value in counts.items():
            if value:
                yield stat(f"segment.{name}", value)
        yield from segments


class SegmentDocuments(beam.PTransform):
    """Document dicts (with `split` set) -> segment dicts {doc_id, segment_index, split, text}.

    Returns a StageResult: main ``segments``, stats, dead letters.
    """

    def __init__(self, segment_cfg: SegmentConfig, examples_cfg: ExamplesConfig):
        super().__init__()
        self._cfg = segment_cfg
        self._budget = segment_cfg.budget_chars(examples_cfg)

    def expand(self, docs):
        out = docs | "Segment" >> beam.ParDo(_SegmentFn(self._cfg, self._budget)).with_outputs(
            STATS, DEAD_LETTERS, main="segments")
        return StageResult(out.segments, "segments", stats=out[STATS], dead_letters=out[DEAD_LETTERS])
