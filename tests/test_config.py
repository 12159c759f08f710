import subprocess
import sys

import pytest

from pipelines.build.config import config_from_dict, load_config, render_default_config, tomllib
from transforms.config_base import ConfigError


def test_defaults_validate_and_fingerprint_is_stable():
    a, b = load_config(None), load_config(None)
    assert a.to_dict() == b.to_dict()
    assert a.fingerprint() == b.fingerprint()


def test_init_config_output_parses_back_to_the_defaults():
    text = render_default_config()
    parsed = tomllib.loads(text)
    assert config_from_dict(parsed).to_dict() == load_config(None).to_dict()
    # every key carries a comment line above it
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), line


@pytest.mark.parametrize(
    "data, key",
    [
        ({"bogus": 1}, "bogus"),
        ({"ingest": {"nope": 1}}, "ingest.nope"),
        ({"nosuchtable": {"a": 1}}, "nosuchtable"),
        ({"ingest": {"max_replacement_ratio": "high"}}, "ingest.max_replacement_ratio"),
        ({"ingest": {"max_replacement_ratio": 1.5}}, "ingest.max_replacement_ratio"),
        ({"output": {"documents_shards": -1}}, "output.documents_shards"),
        ({"output": {"target_shard_mb": 0}}, "output.target_shard_mb"),
        ({"output": {"target_shard_mb": "big"}}, "output.target_shard_mb"),
        ({"seed": "x"}, "seed"),
        ({"output": {"examples_shards": True}}, "output.examples_shards"),
    ],
)
def test_bad_values_raise_naming_the_key(data, key):
    with pytest.raises(ConfigError) as e:
        config_from_dict(data)
    assert e.value.key == key
    assert f"'{key}'" in str(e.value)


def test_changed_config_changes_fingerprint():
    assert config_from_dict({"seed": 1}).fingerprint() != config_from_dict({"seed": 2}).fingerprint()


def test_build_exits_2_naming_the_key_on_bad_config(tmp_path):
    cfg = tmp_path / "corpus.toml"
    cfg.write_text("[output]\ndocuments_shards = -3\n")
    src = tmp_path / "a.txt"
    src.write_text("正文。" * 50)
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "build", "--input", str(src), "--output", str(tmp_path / "out"),
         "--config", str(cfg)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "output.documents_shards" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_build_exits_2_when_an_input_matches_nothing(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "build", "--input", str(tmp_path / "none*.txt"),
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and "matched no files" in proc.stderr
