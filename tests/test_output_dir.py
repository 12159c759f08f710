"""The output directory: no stale file survives a rebuild, verify names what the manifest does not list,
and shard counts left at 0 are derived from the input size, deterministically, and recorded."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from pipelines.build.config import DOCUMENTS_PARQUET_PER_INPUT_BYTE, EXAMPLES_PARQUET_PER_INPUT_BYTE, OutputConfig
from pipelines.build.output_dir import prepare_output
from pipelines.cli import main
from pipelines.corpus.sample import write_sample_corpus
from pipelines.corpus.verify import verify
from transforms.config_base import ConfigError

FLAGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


def _build(raw: Path, out: Path, config: str, *flags: str) -> int:
    cfg = out.parent / f"{out.name}.toml"
    cfg.write_text(config)
    return main(["build", "--input", f"{raw}/*", "--output", str(out), "--config", str(cfg), *FLAGS, *flags])


def _tree(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outdir")
    write_sample_corpus(str(tmp / "raw"), docs=10, seed=5)
    return tmp / "raw"


def test_rebuild_over_a_build_that_died_before_its_manifest_leaves_no_stale_shard(raw, tmp_path):
    out = tmp_path / "out"
    assert _build(raw, out, "[output]\ndocuments_shards = 6\nexamples_shards = 6\n") == 0
    assert sum("-of-00006" in rel for rel in _tree(out)) == 18  # documents + examples/train + examples/validation
    (out / "manifest.json").unlink()  # as if the build had died before writing it
    (out / "documents" / "part-00001-of-00006.parquet.tmp-0123abcd").write_bytes(b"partial")  # a killed attempt
    (out / "_staging-documents").mkdir()  # a writer's staged batch, left by the death
    (out / "_staging-documents" / "00001-0123abcd.arrow").write_bytes(b"batch")

    assert _build(raw, out, "[output]\ndocuments_shards = 2\nexamples_shards = 2\n") == 2  # not empty: refused
    assert _build(raw, out, "[output]\ndocuments_shards = 2\nexamples_shards = 2\n", "--overwrite") == 0
    tree = _tree(out)
    assert [rel for rel in tree if "-of-00006" in rel or ".tmp-" in rel] == []
    assert not (out / "_staging-documents").exists()
    assert sum("-of-00002" in rel for rel in tree) == 6
    report = verify(str(out))
    assert report.ok, report.problems


def test_verify_reports_files_the_manifest_does_not_list(raw, tmp_path):
    out = tmp_path / "out"
    assert _build(raw, out, "[output]\ndocuments_shards = 2\nexamples_shards = 1\n") == 0
    assert verify(str(out)).ok
    (out / "report").mkdir()
    (out / "report" / "index.html").write_text("<html/>")  # `longlm report` output: expected, not listed
    assert verify(str(out)).ok
    shutil.copy(out / "documents" / "part-00000-of-00002.parquet", out / "documents" / "part-00000-of-00009.parquet")
    (out / "examples" / "train" / "part-00000-of-00001.parquet.tmp-feed").write_bytes(b"x")
    problems = verify(str(out)).problems
    assert sorted(p.split(":")[0] for p in problems) == [
        "documents/part-00000-of-00009.parquet", "examples/train/part-00000-of-00001.parquet.tmp-feed"]
    assert all("not in the manifest" in p for p in problems)
    assert main(["verify", str(out)]) == 1


def test_overwrite_never_deletes_entries_no_build_writes(tmp_path):
    out = tmp_path / "out"
    (out / "documents").mkdir(parents=True)
    (out / "documents" / "part-00000-of-00003.parquet").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="notes.txt.*--overwrite would not delete") as refused:
        prepare_output(str(out), overwrite=False)  # not "pass --overwrite", which would be refused next
    assert "pass --overwrite" not in str(refused.value)
    with pytest.raises(ConfigError, match="notes.txt"):
        prepare_output(str(out), overwrite=True)
    assert (out / "notes.txt").exists() and (out / "documents" / "part-00000-of-00003.parquet").exists()
    (out / "notes.txt").unlink()
    assert prepare_output(str(out), overwrite=True) == ["documents/part-00000-of-00003.parquet"]
    assert list(out.iterdir()) == []
    assert prepare_output(str(tmp_path / "missing"), overwrite=False) == []


# --- shard counts derived from the input size ---------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 10**6, 45 * 10**6, 10**9, 120 * 10**9])
@pytest.mark.parametrize("target", [0.05, 128, 192, 256])
def test_derived_shard_counts_keep_shards_at_or_under_the_target(size, target):
    o = OutputConfig(target_shard_mb=target)
    got = o.shards_for(size)
    assert got == o.shards_for(size)
    for name, ratio in (("documents_shards", DOCUMENTS_PARQUET_PER_INPUT_BYTE),
                        ("examples_shards", EXAMPLES_PARQUET_PER_INPUT_BYTE)):
        n = got[name]
        expected_mb = size * ratio / 1e6
        assert n >= 1 and expected_mb / n <= target * (1 + 1e-9)  # no shard above the target ...
        assert n == 1 or expected_mb / (n - 1) > target * (1 - 1e-9)  # ... and no more shards than that needs


def test_configured_shard_counts_are_kept():
    o = OutputConfig(documents_shards=5, examples_shards=0, target_shard_mb=128)
    assert o.shards_for(120 * 10**9)["documents_shards"] == 5
    assert o.shards_for(120 * 10**9)["examples_shards"] == math.ceil(120e9 * EXAMPLES_PARQUET_PER_INPUT_BYTE / 128e6)


def test_resolved_shard_counts_are_recorded_in_the_manifest_config(raw, tmp_path):
    out = tmp_path / "auto"
    assert _build(raw, out, "[output]\ntarget_shard_mb = 0.05\n") == 0  # 50 kB: several shards from ~0.4 MB
    manifest = json.loads((out / "manifest.json").read_text())
    size = sum(p.stat().st_size for p in raw.iterdir())
    assert sum(i["bytes"] for i in manifest["inputs"]) == size
    resolved = OutputConfig(target_shard_mb=0.05).shards_for(size)
    assert manifest["config"]["output"]["documents_shards"] == resolved["documents_shards"] > 1
    assert manifest["config"]["output"]["examples_shards"] == resolved["examples_shards"] > 1
    n = resolved["documents_shards"]
    assert [f["path"] for f in manifest["files"] if f["table"] == "documents"] == [
        f"documents/part-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    # the same resolution again (deterministic), and the explicit counts build the same version
    explicit = tmp_path / "explicit"
    config = f"[output]\ntarget_shard_mb = 0.05\ndocuments_shards = {n}\nexamples_shards = {resolved['examples_shards']}\n"
    assert _build(raw, explicit, config) == 0
    again = json.loads((explicit / "manifest.json").read_text())
    assert again["version_id"] == manifest["version_id"]
    assert (explicit / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


# --- verify in constant memory --------------------------------------------------------------------------------------

def test_verify_hashes_in_chunks_and_counts_rows_from_the_footer(tmp_path, monkeypatch):
    import hashlib
    import random

    from apache_beam.io.filesystems import FileSystems

    from pipelines.corpus import verify as verify_mod
    from schemas.tables import EXAMPLES, SCHEMA_VERSION
    from transforms import atomic_files
    from transforms.shard_writer import write_shard

    rng = random.Random(0)
    rows = [{"example_id": f"e{i:06d}", "task": "infilling", "doc_id": "d", "segment_index": i,
             "input_ids": [rng.randrange(1 << 30) for _ in range(200)], "target_ids": [1]} for i in range(4000)]
    path = str(tmp_path / "big.parquet")
    write_shard(rows, EXAMPLES, path, 256)
    size = (tmp_path / "big.parquet").stat().st_size
    assert size > 2 << 20

    reads: list[int] = []
    real_open = FileSystems.open

    class Counting:
        def __init__(self, f):
            self._f = f

        def read(self, n=-1):
            data = self._f.read(n)
            reads.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    monkeypatch.setattr(FileSystems, "open", staticmethod(lambda *a, **k: Counting(real_open(*a, **k))))
    monkeypatch.setattr(atomic_files, "HASH_CHUNK", 1 << 20)
    digest, n = atomic_files.sha256_of(path)
    assert (digest, n) == (hashlib.sha256((tmp_path / "big.parquet").read_bytes()).hexdigest(), size)
    assert max(reads) <= 1 << 20  # never the whole file at once
    reads.clear()
    assert verify_mod._footer(path) == (4000, SCHEMA_VERSION)
    assert reads and sum(reads) < size // 10  # the footer, not the data pages
