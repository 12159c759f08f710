"""The version id covers what changes bytes: file contents (not paths) and byte-changing versions."""

from __future__ import annotations

import json
import shutil

import pytest

from pipelines.build import fingerprints
from pipelines.build.config import load_config
from pipelines.build.inputs import match_inputs
from pipelines.cli import main
from schemas import manifest as mf

INPUTS = [{"source": "a.txt", "bytes": 3, "sha256": "0" * 64}]


def _id(vocab=None, patterns=None) -> str:
    overrides = {}
    if vocab:
        overrides["vocab"] = {"model_path": str(vocab)}
    if patterns:
        overrides["clean"] = {"patterns_file": str(patterns)}
    return mf.version_id(fingerprints.manifest_config(load_config(None, overrides)), INPUTS)


def test_version_id_changes_when_the_vocab_bytes_change_at_the_same_path(tmp_path):
    vocab = tmp_path / "spiece.model"
    vocab.write_bytes(b"model one")
    first = _id(vocab)
    vocab.write_bytes(b"model two")
    assert _id(vocab) != first
    vocab.write_bytes(b"model one")
    assert _id(vocab) == first
    moved = tmp_path / "elsewhere" / "copy.model"
    moved.parent.mkdir()
    shutil.copy(vocab, moved)
    assert _id(moved) == first  # the path is not part of the id, the bytes are
    assert _id() != first  # training a vocabulary is another build


def test_version_id_follows_the_patterns_file_contents(tmp_path):
    from transforms.cleaning.patterns import read_pattern_text

    packaged = read_pattern_text(None)
    custom = tmp_path / "patterns.toml"
    custom.write_text(packaged, encoding="utf-8")
    assert _id(patterns=custom) == _id()  # same contents as the packaged file
    custom.write_text(packaged + "\n# one more comment\n", encoding="utf-8")
    assert _id(patterns=custom) != _id()


def test_version_id_follows_byte_changing_versions(monkeypatch):
    config = fingerprints.manifest_config(load_config())
    assert set(config["fingerprints"]["versions"]) == {"python-unicodedata", "pyarrow", "numpy", "sentencepiece",
                                                       "opencc", "jieba"}
    before = mf.version_id(config, INPUTS)
    real = fingerprints.installed_versions()
    monkeypatch.setattr(fingerprints, "installed_versions", lambda: {**real, "pyarrow": "0.0.1"})
    after = fingerprints.manifest_config(load_config())
    assert mf.version_id(after, INPUTS) != before
    manifest = {"version_id": "vX", "config": config}
    assert fingerprints.version_drift(manifest) == [f"pyarrow: manifest {real['pyarrow']}, installed 0.0.1"]
    monkeypatch.setattr(fingerprints, "installed_versions", lambda: real)
    assert fingerprints.version_drift(manifest) == []


def test_unreadable_vocab_is_a_config_error_naming_the_key(tmp_path):
    from transforms.config_base import ConfigError

    with pytest.raises(ConfigError, match="vocab.model_path"):
        fingerprints.manifest_config(load_config(None, {"vocab": {"model_path": str(tmp_path / "missing.model")}}))


def test_verify_warns_when_installed_versions_differ(tmp_path, monkeypatch, capsys):
    config = fingerprints.manifest_config(load_config())
    manifest = {"format": 1, "version_id": mf.version_id(config, []), "schema_version": mf.SCHEMA_VERSION, "config": config,
                "inputs": [], "files": [], "counters": {"ingest.records": 0},
                "accounting": mf.accounting(0, {})}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", str(tmp_path)]) == 0
    assert "WARNING" not in capsys.readouterr().out
    real = fingerprints.installed_versions()
    monkeypatch.setattr(fingerprints, "installed_versions", lambda: {**real, "jieba": "9.9"})
    assert main(["verify", str(tmp_path)]) == 0  # a warning, not a failure
    out = capsys.readouterr().out
    assert f"WARNING version drift: jieba: manifest {real['jieba']}, installed 9.9" in out


def test_identical_names_under_two_globs_get_distinct_full_path_sources(tmp_path):
    for d, enc in (("a", "utf-8"), ("b", "gb18030")):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.txt").write_bytes("第一章 同一本书\n正文。".encode(enc))
        (tmp_path / d / f"only-{d}.txt").write_text("另一本书。", encoding="utf-8")
    forward = match_inputs([f"{tmp_path}/a/*", f"{tmp_path}/b/*"]).files
    backward = match_inputs([f"{tmp_path}/b/*", f"{tmp_path}/a/*"]).files
    assert forward == backward
    sources = [f.source for f in forward]
    assert len(set(sources)) == len(sources) == 4
    assert {f"{tmp_path}/a/x.txt", f"{tmp_path}/b/x.txt", "only-a.txt", "only-b.txt"} == set(sources)
