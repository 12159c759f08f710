"""Filters judge content, not layout: real novels in the layouts they arrive in are never filtered.

Each novel and second edition of ../shared/corpus is fed, through the pure functions a build runs
(ingest's decode_bytes -> Cleaner -> quality_check -> segment_document; no Beam, so this stays at
about a minute on one core), in three forms that together cover every layout accident:

* ``one_line``: all whitespace removed, one line (scraped texts whose paragraph breaks were lost);
* ``wrapped``: that line hard-wrapped at a width of 20-40 characters (drawn per novel from a seeded
  hash), CRLF line ends, encoded in GB18030;
* ``traditional``: the one line converted to traditional characters (OpenCC s2t), UTF-8.

0 of them may be filtered. The sample corpus's planted junk must still be caught (its recall is
printed and must be 1.0), and none of its real documents filtered.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from transforms.cleaning.cleaner import Cleaner
from transforms.cleaning.config import CleanConfig, FilterConfig
from transforms.cleaning.filters import quality_check
from transforms.cleaning.headings import is_chapter_heading
from transforms.examples.config import ExamplesConfig
from transforms.ingest.encoding import decode_bytes
from transforms.segment import CLOSERS, TERMINALS, SegmentConfig, segment_document

_WS = re.compile(r"\s+")
#: A 第X回/章 heading line (the kind segmentation also finds inside a line), optionally after 正文/上卷.
_HUI_ZHANG = re.compile(r"\s*(?:正文|[上中下]卷)?\s*第[0-9零〇一二三四五六七八九十百千两]+[回章]")


def wrap_width(name: str) -> int:
    """A width in [20, 40] drawn from a stable hash of the file name."""
    return 20 + hashlib.blake2b(name.encode(), digest_size=2).digest()[0] % 21


def layouts(name: str, text: str, s2t) -> dict[str, bytes]:
    """The three layout variants of a novel's text, as the bytes a source would deliver."""
    one = _WS.sub("", text)
    w = wrap_width(name)
    wrapped = "\r\n".join(one[i : i + w] for i in range(0, len(one), w))
    return {
        "one_line": one.encode("utf-8"),
        "wrapped": wrapped.encode("gb18030"),
        "traditional": s2t.convert(one).encode("utf-8"),
    }


@pytest.fixture(scope="module")
def verdicts(shared_corpus: Path) -> dict[tuple[str, str], tuple]:
    """(novel, layout) -> (filter verdict or None, segments, inline headings found, heading lines of the original)."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    cleaner, filter_cfg, seg_cfg = Cleaner(CleanConfig()), FilterConfig(), SegmentConfig()
    budget = seg_cfg.budget_chars(ExamplesConfig())
    out = {}
    paths = sorted((shared_corpus / "novels").glob("*.txt")) + sorted((shared_corpus / "editions").glob("*.txt"))
    for path in paths:
        name = f"{path.parent.name}/{path.name}"
        original = decode_bytes(path.read_bytes()).text
        heading_lines = sum(is_chapter_heading(line) and _HUI_ZHANG.match(line) is not None for line in original.split("\n"))
        for layout, data in layouts(name, original, s2t).items():
            raw = decode_bytes(data).text
            result = cleaner.clean(raw)
            verdict = quality_check(raw, result, filter_cfg)
            segments, counts = segment_document({"doc_id": name, "text": result.text}, budget, seg_cfg)
            out[(name, layout)] = (verdict, segments, counts["headings"], heading_lines)
    return out


pytestmark = pytest.mark.shared_corpus


def test_every_layout_of_every_real_novel_is_kept(verdicts):
    assert len(verdicts) == 3 * 85
    filtered = {key: v for key, (v, *_) in verdicts.items() if v is not None}
    assert filtered == {}, f"{len(filtered)} real novels filtered: {filtered}"


def test_line_less_novels_are_segmented_on_sentences_within_budget(verdicts):
    budget = SegmentConfig().budget_chars(ExamplesConfig())
    for (name, layout), (_, segments, *_rest) in verdicts.items():
        assert segments, (name, layout)
        assert max(len(s["text"]) for s in segments) <= budget, (name, layout)
        ends = sum(s["text"][-1] in TERMINALS + CLOSERS for s in segments)
        assert ends >= 0.8 * len(segments), (name, layout, ends, len(segments))  # cut at sentence ends


def test_chapter_headings_inside_the_one_line_still_cut_segments(verdicts, capsys):
    """As one line, the novels with 第X回/章 heading lines keep most of them as segment boundaries. A
    heading glued to a chapter end that lost its full stop (玉梨魂: ……而己第二章夜哭) is not at a
    sentence start and is not found: cutting there would also cut prose such as 翻到第二章."""
    found = lines = novels = 0
    for (_name, layout), (_, _segments, n_found, heading_lines) in verdicts.items():
        if layout != "one_line" or heading_lines < 10:
            continue
        novels += 1
        found += min(n_found, heading_lines)
        lines += heading_lines
    with capsys.disabled():
        print(f"\none-line novels: {found}/{lines} 第X回/章 headings found as section starts in {novels} novels")
    assert novels >= 10
    assert found >= 0.8 * lines


def test_planted_junk_of_the_sample_corpus_is_still_caught(capsys):
    from pipelines.corpus.sample import generate

    files, truth = generate()
    cleaner, cfg = Cleaner(CleanConfig()), FilterConfig()
    caught, kept_real = [], []
    for name, data in sorted(files.items()):
        if not name.endswith(".txt") or name in truth.bad_inputs:
            continue
        raw = decode_bytes(data).text
        verdict = quality_check(raw, cleaner.clean(raw), cfg)
        if name in truth.junk:
            caught.append(verdict is not None)
        elif verdict is not None:
            kept_real.append((name, verdict.reason))
    recall = sum(caught) / len(caught)
    with capsys.disabled():
        print(f"\nplanted junk recall: {sum(caught)}/{len(caught)} = {recall:.2f}")
    assert len(caught) == len(truth.junk) >= 4
    assert recall == 1.0
    assert kept_real == []
