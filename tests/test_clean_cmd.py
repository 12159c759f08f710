"""`longlm clean FILE [--config] [--diff]`."""

from __future__ import annotations

import argparse

import pytest

from pipelines.cli import clean as clean_cmd

RAW = (
    "\ufeff　　第一回　宴桃园豪杰三结义\r\n"
    "　　他说:“你好!”www.xxx.com她笑了[1]。\r\n"
    "　　白发渔樵江渚上，惯看秋月春风。一壶浊酒喜相\r\n逢。古今多少事，都付笑谈中。\r\n"
)
CLEAN = "第一回 宴桃园豪杰三结义\n他说：“你好！”她笑了。\n白发渔樵江渚上，惯看秋月春风。一壶浊酒喜相逢。古今多少事，都付笑谈中。\n"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    clean_cmd.register(sub)
    args = parser.parse_args(["clean", *argv])
    return args.func(args)


@pytest.fixture
def raw_file(tmp_path):
    path = tmp_path / "novel.txt"
    path.write_bytes(RAW.encode("utf-8"))
    return path


def test_prints_cleaned_text(raw_file, capsys):
    assert _run([str(raw_file)]) == 0
    assert capsys.readouterr().out == CLEAN


def test_decodes_gb18030_like_ingest(tmp_path, capsys):
    path = tmp_path / "gbk.txt"
    path.write_bytes(RAW.replace("\ufeff", "").encode("gb18030"))
    assert _run([str(path)]) == 0
    assert capsys.readouterr().out == CLEAN


def test_diff_shows_each_rule_with_counts(raw_file, capsys):
    assert _run([str(raw_file), "--diff"]) == 0
    out = capsys.readouterr().out
    assert "=== urls: 1 hits, 11 chars removed" in out
    # by then the fullwidth rule has turned the U+3000 indentation into ASCII spaces
    assert "-  他说:“你好!”www.xxx.com她笑了[1]。" in out
    assert "+  他说:“你好!”她笑了[1]。" in out
    assert "=== footnotes: 1 hits, 3 chars removed" in out
    assert "=== wraps: 1 hits" in out
    assert "=== cjk_punctuation: 2 hits, 0 chars removed" in out
    # rules appear in the order they run
    assert out.index("=== urls") < out.index("=== footnotes") < out.index("=== wraps") < out.index("=== indentation")
    assert "=== filter: min_length" in out  # a 3-line file is below the 100-character minimum


def test_config_file_is_applied(raw_file, tmp_path, capsys):
    cfg = tmp_path / "corpus.toml"
    cfg.write_text("[clean]\nurls = false\nfootnotes = false\n", encoding="utf-8")
    assert _run([str(raw_file), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "www.xxx.com" in out and "[1]" in out


def test_bad_config_exits_2(raw_file, tmp_path, capsys):
    cfg = tmp_path / "corpus.toml"
    cfg.write_text("[clean]\ntraditional = 'sometimes'\n", encoding="utf-8")
    assert _run([str(raw_file), "--config", str(cfg)]) == 2
    assert "clean.traditional" in capsys.readouterr().err


def test_unreadable_or_undecodable_file_exits_1(tmp_path, capsys):
    assert _run([str(tmp_path / "missing.txt")]) == 1
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert _run([str(binary)]) == 1
    assert "not decodable" in capsys.readouterr().err
