"""Chains of incremental versions (docs/incremental.md): supersession, equality with a full build, one corpus
for every reader (train, files, verify, inspect), on generated collections where the *winners* of clusters
arrive in the second version (so every base duplicate kept alone in V1 must be superseded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.corpus.sample import write_sample_corpus

SMALL_CONFIG = """
[output]
documents_shards = 3
examples_shards = 2
"""
IN_MEMORY = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


def table(out: Path, name: str, subdir: str | None = None) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    prefix = f"{subdir or name}/"
    parts = [out / f["path"] for f in manifest["files"] if f["table"] == name and f["path"].startswith(prefix)]
    return pa.concat_tables([pq.read_table(p) for p in parts]).to_pylist() if parts else []


def kept(out: Path) -> set:
    return {r["doc_id"] for r in table(out, "documents")}


def superseded(out: Path) -> list[dict]:
    return table(out, "superseded")


def build(raw: Path, out: Path, *flags: str) -> int:
    return main(["build", "--input", f"{raw}/*", "--output", str(out), "--quiet", *IN_MEMORY, *flags])


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """full: all files; v1: every file but the kept documents of clusters of 2+ and half of the lone novels;
    v2: those, built on v1."""
    tmp = tmp_path_factory.mktemp("chain")
    write_sample_corpus(str(tmp / "raw"), docs=20, seed=3)
    (tmp / "corpus.toml").write_text(SMALL_CONFIG)
    assert build(tmp / "raw", tmp / "full", "--config", str(tmp / "corpus.toml")) == 0
    winners = {r["source"] for r in table(tmp / "full", "documents") if r["cluster_size"] > 1}
    names = sorted(p.name for p in (tmp / "raw").iterdir())
    alone = [n for n in names if n.endswith(".txt") and n not in winners and n.startswith("novel")]
    second = winners | set(alone[::2])
    for d in ("v1-raw", "v2-raw"):
        (tmp / d).mkdir()
    for n in names:
        shutil.copy(tmp / "raw" / n, tmp / ("v2-raw" if n in second else "v1-raw") / n)
    assert build(tmp / "v1-raw", tmp / "v1", "--config", str(tmp / "corpus.toml")) == 0
    assert build(tmp / "v2-raw", tmp / "v2", "--base", str(tmp / "v1")) == 0
    return tmp


def test_effective_kept_set_equals_the_full_build(chain):
    t = chain
    gone = {r["doc_id"] for r in superseded(t / "v2")}
    assert gone, "nothing superseded: the split planted no cluster winner in v2"
    assert gone <= kept(t / "v1")
    assert (kept(t / "v1") | kept(t / "v2")) - gone == kept(t / "full")


def test_superseded_rows_name_version_winner_and_kind_as_the_full_build_does(chain):
    t = chain
    v1 = json.loads((t / "v1" / "manifest.json").read_text())
    full_dups = {r["doc_id"]: r for r in table(t / "full", "duplicates")}
    for r in superseded(t / "v2"):
        assert r["version_id"] == v1["version_id"]
        assert r["kept_doc_id"] in kept(t / "v2")
        assert (r["kind"], r["kept_doc_id"]) == (full_dups[r["doc_id"]]["kind"], full_dups[r["doc_id"]]["kept_doc_id"])


def test_manifests_count_superseded_and_state_both_identities(chain):
    t = chain
    v2 = json.loads((t / "v2" / "manifest.json").read_text())
    full = json.loads((t / "full" / "manifest.json").read_text())
    rows = len(superseded(t / "v2"))
    assert v2["counters"]["dedupe.superseded"] == rows == v2["accounting"]["superseded"]
    assert v2["accounting"]["holds"]
    acc = v2["chain"]["accounting"]
    assert acc["holds"] and acc["effective_kept"] == full["accounting"]["kept"]
    assert acc["read"] == full["accounting"]["read"]
    assert acc["superseded"] == rows
    v1 = json.loads((t / "v1" / "manifest.json").read_text())
    assert [b["version_id"] for b in v2["chain"]["versions"]] == [v1["version_id"]]
    assert full["chain"] == {"versions": [], "accounting": {**full["chain"]["accounting"], "superseded": 0}}


def test_base_files_are_untouched_and_signatures_carry_the_new_decision(chain):
    t = chain
    v1_rows = {r["doc_id"]: r for r in table(t / "v1", "signatures")}
    v2_rows = {r["doc_id"]: r for r in table(t / "v2", "signatures")}
    v1_id = json.loads((t / "v1" / "manifest.json").read_text())["version_id"]
    assert set(v1_rows) <= set(v2_rows)
    assert all(v2_rows[d]["version_id"] == v1_id for d in v1_rows)
    assert all(r["version_id"] is None for r in v1_rows.values())
    for r in superseded(t / "v2"):
        assert v2_rows[r["doc_id"]]["kept_doc_id"] == r["kept_doc_id"]
    assert main(["verify", str(t / "v1")]) == 0


def test_training_reads_exactly_the_effective_examples(chain):
    from train.corpus import open_corpus
    from train.data import ExampleStream, StreamConfig

    t = chain
    corpus = open_corpus(str(t / "v2"))
    skip = corpus.skip_doc_ids()
    assert skip == {r["doc_id"] for r in superseded(t / "v2")}
    files = corpus.split_files("train")
    assert {Path(f).parent.parent.parent.name for f in files} == {"v1", "v2"}
    manifests = [json.loads((t / v / "manifest.json").read_text()) for v in ("v1", "v2")]
    listed = sum(f["rows"] for m in manifests for f in m["files"] if f["path"].startswith("examples/train/"))
    dropped = sum(1 for v in ("v1", "v2") for r in table(t / v, "examples", "examples/train") if r["doc_id"] in skip)
    assert dropped, "no superseded document had training examples"
    stream = ExampleStream(files, StreamConfig(batch_size=1, shuffle=False), infinite=False, skip_doc_ids=skip)
    assert sum(len(b["input_ids"]) for b in stream) == listed - dropped


def test_files_lists_the_chain_and_duckdb_reads_the_effective_examples(chain, capsys):
    import duckdb

    t = chain
    assert main(["files", str(t / "v2"), "--split", "train"]) == 0
    files = capsys.readouterr().out.split()
    assert {Path(f).parts[-4] for f in files} == {"v1", "v2"}
    assert main(["files", str(t / "v2"), "--table", "superseded"]) == 0
    sup = capsys.readouterr().out.split()
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet({files!r}) WHERE doc_id NOT IN "
                   f"(SELECT doc_id FROM read_parquet({sup!r}))").fetchall()[0][0]
    skip = {r["doc_id"] for r in superseded(t / "v2")}
    expected = sum(1 for v in ("v1", "v2") for r in table(t / v, "examples", "examples/train") if r["doc_id"] not in skip)
    assert n == expected


def test_verify_checks_every_base_of_the_chain(chain, tmp_path, capsys):
    t = chain
    assert main(["verify", str(t / "v2")]) == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copytree(t / "v2", moved / "v2")
    shutil.copytree(t / "v1", moved / "v1")
    capsys.readouterr()
    assert main(["verify", str(moved / "v2")]) == 0  # the base found again beside it (run.json's relative path)
    manifest = json.loads((moved / "v1" / "manifest.json").read_text())
    manifest["counters"]["dedupe.kept"] += 1
    (moved / "v1" / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", str(moved / "v2")]) == 1
    assert "changed since" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# The shared novels + editions, split in two halves (skips without ../shared/corpus)

SHARED_CONFIG = """
[vocab]
vocab_size = 8000
character_coverage = 0.99
sample_segments = 5000
"""


@pytest.fixture(scope="module")
def novels_chain(shared_corpus, tmp_path_factory):
    """full build of novels/ + editions/; v1 = every other file (sorted names), v2 = the rest on v1."""
    tmp = tmp_path_factory.mktemp("novels-chain")
    files = sorted([*(shared_corpus / "novels").glob("*.txt"), *(shared_corpus / "editions").glob("*.txt")])
    for name, part in (("all", files), ("half1", files[::2]), ("half2", files[1::2])):
        (tmp / name).mkdir()
        for f in part:
            (tmp / name / f"{f.parent.name}-{f.name}").symlink_to(f)
    (tmp / "corpus.toml").write_text(SHARED_CONFIG)
    quiet = ("--quiet",)
    assert main(["build", "--input", f"{tmp}/all/*", "--output", str(tmp / "full"), "--config",
                 str(tmp / "corpus.toml"), *quiet]) == 0
    assert main(["build", "--input", f"{tmp}/half1/*", "--output", str(tmp / "v1"), "--config",
                 str(tmp / "corpus.toml"), *quiet]) == 0
    assert main(["build", "--input", f"{tmp}/half2/*", "--output", str(tmp / "v2"), "--base", str(tmp / "v1"),
                 *quiet]) == 0
    return tmp


def test_novels_chain_keeps_as_many_documents_as_the_full_build(novels_chain):
    t = novels_chain
    gone = {r["doc_id"] for r in superseded(t / "v2")}
    effective = (kept(t / "v1") | kept(t / "v2")) - gone
    full = kept(t / "full")
    titles = {r["doc_id"]: r["title"] for v in ("v1", "v2", "full") for r in table(t / v, "documents")}
    print(f"\nchain: v1 kept {len(kept(t / 'v1'))}, v2 kept {len(kept(t / 'v2'))}, superseded {len(gone)} "
          f"({sorted(titles[d] for d in gone)}), effective {len(effective)}; full build kept {len(full)}")
    print(f"only in chain: {sorted(titles[d] for d in effective - full)}; only in full: "
          f"{sorted(titles[d] for d in full - effective)}")
    assert len(effective) == len(full)
    # the same documents: a difference would be another member of one cluster, which the keep rule
    # picks identically here (every cluster's members are compared on the same Han counts)
    assert effective == full
    v2 = json.loads((t / "v2" / "manifest.json").read_text())
    assert v2["chain"]["accounting"]["holds"] and v2["chain"]["accounting"]["effective_kept"] == len(full)


def test_reproduce_of_a_chain_head_replays_the_chain(chain, tmp_path, capsys):
    t = chain
    out = tmp_path / "again"
    assert main(["reproduce", str(t / "v2"), "--output", str(out), "--quiet", *IN_MEMORY]) == 0, capsys.readouterr()
    v1_id = json.loads((t / "v1" / "manifest.json").read_text())["version_id"]
    assert (tmp_path / f"again.{v1_id}" / "manifest.json").read_bytes() == (t / "v1" / "manifest.json").read_bytes()
    assert (out / "manifest.json").read_bytes() == (t / "v2" / "manifest.json").read_bytes()
    assert main(["verify", str(out)]) == 0


def test_inspect_diff_and_report_show_the_chain(chain, tmp_path, capsys):
    t = chain
    v1_id = json.loads((t / "v1" / "manifest.json").read_text())["version_id"]
    assert main(["inspect", str(t / "v2"), "--n", "1"]) == 0
    out = capsys.readouterr().out
    assert "chain of 2 versions" in out and v1_id in out and "effective kept" in out
    assert main(["diff", str(t / "full"), str(t / "v2")]) == 1
    out = capsys.readouterr().out
    assert f"B on {v1_id}" in out and "chain superseded: 0 ->" in out
    assert main(["report", str(t / "v2"), "--output", str(tmp_path / "r"), "--no-charts"]) == 0, capsys.readouterr()
    md = "\n".join(p.read_text() for p in (tmp_path / "r").glob("*.md"))
    assert "Chain (2 versions" in md and v1_id in md


def test_a_third_version_supersedes_documents_of_both_earlier_versions(tmp_path):
    """v1: story A; v2: story B; v3: a collection holding A and B. The collection supersedes A (of v1) and
    B (of v2), as a full build of the three files keeps only the collection."""
    write_sample_corpus(str(tmp_path / "raw"), docs=4, seed=5)
    novels = sorted((tmp_path / "raw").glob("novel*.txt"))[:2]
    a, b = (n.read_text(encoding="utf-8") for n in novels)
    for name, files in (("r1", {"a.txt": a}), ("r2", {"b.txt": b}), ("r3", {"collection.txt": a + "\n\n" + b})):
        (tmp_path / name).mkdir()
        for f, text in files.items():
            (tmp_path / name / f).write_text(text, encoding="utf-8")
    (tmp_path / "all").mkdir()
    for name in ("r1", "r2", "r3"):
        for f in (tmp_path / name).iterdir():
            shutil.copy(f, tmp_path / "all" / f.name)
    assert build(tmp_path / "all", tmp_path / "full") == 0
    assert build(tmp_path / "r1", tmp_path / "v1") == 0
    assert build(tmp_path / "r2", tmp_path / "v2", "--base", str(tmp_path / "v1")) == 0
    assert build(tmp_path / "r3", tmp_path / "v3", "--base", str(tmp_path / "v2")) == 0
    ids = {v: json.loads((tmp_path / v / "manifest.json").read_text())["version_id"] for v in ("v1", "v2", "v3")}
    rows = {r["doc_id"]: r for r in superseded(tmp_path / "v3")}
    assert sorted(r["version_id"] for r in rows.values()) == sorted([ids["v1"], ids["v2"]])
    assert {r["kind"] for r in rows.values()} == {"contained"}
    assert {r["kept_doc_id"] for r in rows.values()} == kept(tmp_path / "v3")
    effective = (kept(tmp_path / "v1") | kept(tmp_path / "v2") | kept(tmp_path / "v3")) - set(rows)
    assert effective == kept(tmp_path / "full") and len(effective) == 1
    v3 = json.loads((tmp_path / "v3" / "manifest.json").read_text())
    assert [v["version_id"] for v in v3["chain"]["versions"]] == [ids["v2"], ids["v1"]]
    assert v3["chain"]["accounting"]["effective_kept"] == 1 and v3["chain"]["accounting"]["holds"]
    assert main(["verify", str(tmp_path / "v3")]) == 0


def test_train_on_the_chain_head_reads_every_version_and_skips_superseded_documents(chain, tmp_path, monkeypatch):
    import train.trainer
    from train.data import ExampleStream

    seen = []

    def recording(files, *args, **kwargs):
        seen.append((list(files), kwargs.get("skip_doc_ids")))
        return ExampleStream(files, *args, **kwargs)

    monkeypatch.setattr(train.trainer, "ExampleStream", recording)
    t = chain
    status = main(["train", "--data", str(t / "v2"), "--model", "tiny", "--out", str(tmp_path / "run"), "--steps", "2",
                   "--batch-size", "4", "--threads", "1", "--num-workers", "0", "--no-tensorboard"])
    assert status == 0
    files, skip = seen[0]
    assert {Path(f).parts[-4] for f in files} == {"v1", "v2"}
    assert skip == {r["doc_id"] for r in superseded(t / "v2")} and skip


def test_a_chain_head_without_its_base_is_refused_in_one_line(chain, tmp_path, capsys):
    t = chain
    shutil.copytree(t / "v2", tmp_path / "v2")  # the base left behind
    assert main(["verify", str(tmp_path / "v2")]) == 1
    assert "MISMATCH chain:" in capsys.readouterr().out
    assert main(["files", str(tmp_path / "v2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("longlm files:") and len(err.strip().splitlines()) == 1
    assert main(["files", str(tmp_path / "nothing-here")]) == 2
    from train.corpus import open_corpus

    with pytest.raises(FileNotFoundError, match="head of a chain"):
        open_corpus(str(tmp_path / "v2"))
