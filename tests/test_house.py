"""One place for each idea: the stage contract, the declarative build, and the shared text helpers."""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys

import apache_beam as beam
import pytest
import regex

from pipelines.build import stages as build
from pipelines.build.config import load_config
from schemas.tables import DOCUMENTS, FILTERED, SIGNATURES, make_row
from transforms.cleaning.chars import _WHITE_SPACE_RUN, han_count, normalize_line, normalized_lines
from transforms.documents import with_text
from transforms.ingest.parse import InputFile
from transforms.result import StageResult


def test_segment_does_not_import_the_examples_package():
    code = "import sys, transforms.segment; print(sorted(m for m in sys.modules if m.startswith('transforms.examples')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_line_whitespace_is_unicode_white_space_on_every_code_point():
    white = regex.compile(r"\s")
    differ = [c for c in map(chr, range(sys.maxunicode + 1)) if bool(_WHITE_SPACE_RUN.match(c)) != bool(white.match(c))]
    assert differ == []
    assert normalize_line(" a \t\u3000 b\u00a0\u2003c  ") == "a b c"


def test_normalized_lines_equal_normalize_line_per_line():
    rng = random.Random(7)
    alphabet = ["a", "中", "。", "\n", "\n", " ", "\t", "\u3000", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1f",
                "\x85", "\u00a0", "\u2028", "\u2029", "\u2003", "\u200b", "\ufeff"]
    texts = ["", "\n", "\n\n", " \n ", "\x1c\n\x1f"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    for text in texts:
        assert normalized_lines(text) == [normalize_line(line) for line in text.split("\n")], repr(text)


def test_one_han_count_and_one_normalize_line():
    from transforms import segment
    from transforms.dedupe import boilerplate, keytext

    assert keytext.han_count is han_count
    assert segment.normalized_lines is normalized_lines and keytext.normalized_lines is normalized_lines
    assert boilerplate.normalize_line is normalize_line
    assert han_count("第1回 三国𠀀abc") == 5


def test_with_text_recomputes_derived_fields():
    doc = {"doc_id": "d", "text": "长长的文字 text", "char_length": 10, "han_chars": 5, "title": "t"}
    out = with_text(doc, "短 x")
    assert out == {"doc_id": "d", "text": "短 x", "char_length": 3, "han_chars": 1, "title": "t"}
    assert doc["text"] == "长长的文字 text"  # a copy


def test_make_row_fills_in_schema_order_and_names_bad_columns():
    row = make_row(FILTERED, reason="min_length", doc_id="d")
    assert list(row) == FILTERED.schema.names and row["reason"] == "min_length" and row["title"] is None
    with pytest.raises(ValueError, match="filtered has no column.*'bogus'"):
        make_row(FILTERED, doc_id="d", bogus=1)
    with pytest.raises(ValueError, match="signatures: column doc_id may not be null"):
        make_row(SIGNATURES, exact="x")


def _assemble(stages, tmp_path):
    cfg = load_config(None).replace("output", documents_shards=1, examples_shards=1)
    p = beam.Pipeline(runner="FnApiRunner")
    build.assemble(p, cfg, [InputFile(str(tmp_path / "a.txt"), "a.txt")], str(tmp_path / "out"), [str(tmp_path / "*")],
                   manifest_config={}, stages=stages)
    return p


def test_every_stage_returns_a_stage_result_and_every_table_is_claimed(tmp_path):
    _assemble(build.STAGES, tmp_path)  # the real build assembles
    dedupe = next(s for s in build.STAGES if s.name == "Dedupe")
    forgetful = tuple(dataclasses.replace(s, tables=s.tables[:1]) if s is dedupe else s for s in build.STAGES)
    with pytest.raises(ValueError, match="Dedupe: side output 'signatures' is neither written"):
        _assemble(forgetful, tmp_path)
    bare = tuple(dataclasses.replace(s, make=lambda x: beam.Map(lambda d: d)) if s.name == "Split" else s
                 for s in build.STAGES)
    with pytest.raises(TypeError, match="stage Split returned PCollection, not a StageResult"):
        _assemble(bare, tmp_path)


def test_stage_result_names_its_outputs():
    r = StageResult("kept-pc", "kept", side={"filtered": "f-pc"}, stats="s-pc", dead_letters="d-pc")
    assert (r.output("kept"), r.output("main"), r.output("filtered"), r.stats, r.dead_letters, r.files) == (
        "kept-pc", "kept-pc", "f-pc", "s-pc", "d-pc", None)
    with pytest.raises(KeyError, match="no output 'nope'"):
        r.output("nope")


def test_the_build_writes_documents_from_the_split_stage():
    split = next(s for s in build.STAGES if s.name == "Split")
    assert [t.spec for t in split.tables] == [DOCUMENTS]


def test_vectorized_char_classes_equal_the_regex_patterns():
    from transforms.cleaning.chars import code_point_table, keep_chars
    from transforms.dedupe.keytext import KEY_CHARS

    han = code_point_table(r"\p{Han}")
    assert han[ord("中")] and han[0x20000] and not han[ord("a")] and not han[ord("，")]
    rng = random.Random(5)
    pool = [chr(c) for c in (0x4E2D, 0x3007, 0x20000, 0x2F800, 0x41, 0x31, 0xFF10, 0x3000, 0xDC00, 0xD800,
                             0x1F600, 0x0301, 0x00E9, 0x10FFFF, 0x0A, 0x2E80, 0x3400)]
    pool += [chr(rng.randrange(0x110000)) for _ in range(200)]
    non_han, non_key = regex.compile(r"[^\p{Han}]+"), regex.compile(r"[^\p{L}\p{N}]+")
    for _ in range(2000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        assert han_count(text) == len(non_han.sub("", text)), ascii(text)
        assert keep_chars(text, KEY_CHARS) == non_key.sub("", text), ascii(text)
