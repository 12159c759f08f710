"""Corpus versions: `longlm reproduce`, `longlm diff`, progress lines, and the shards in DuckDB / datasets."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.corpus.diff import TableDiff, compare_streams
from pipelines.corpus.sample import write_sample_corpus

SMALL_CONFIG = """
[output]
documents_shards = 3
examples_shards = 2
"""
IN_MEMORY = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
CHAPTER = "\n\n第九十九章 归来\n他走了很远的路，终于在一个下雪的傍晚回到了家乡。母亲站在门口，手里提着一盏灯。\n"


def build(raw: Path, out: Path, config: Path, *flags: str) -> int:
    return main(["build", "--input", f"{raw}/*", "--output", str(out), "--config", str(config), "--quiet",
                 *IN_MEMORY, *flags])


def rows(out: Path, subdir: str) -> dict:
    """{key: [row, ...]} of a whole (small) table: the in-memory reference the streaming diff must match."""
    from schemas.tables import TABLES

    manifest = json.loads((out / "manifest.json").read_text())
    files = [f for f in manifest["files"] if f["path"].rsplit("/", 1)[0] == subdir]
    key = TABLES[files[0]["table"]].key
    table = pa.concat_tables([pq.read_table(out / f["path"]) for f in files])
    by_key: dict = {}
    for r in table.to_pylist():
        by_key.setdefault(r[key], []).append(json.dumps(r, sort_keys=True, ensure_ascii=False, default=str))
    return {k: sorted(v) for k, v in by_key.items()}


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("versions")
    write_sample_corpus(str(tmp / "raw"), docs=20, seed=3)
    (tmp / "corpus.toml").write_text(SMALL_CONFIG)
    assert build(tmp / "raw", tmp / "a", tmp / "corpus.toml") == 0
    return tmp


def _a_text_file(raw: Path) -> Path:
    return sorted(p for p in raw.iterdir() if p.name.startswith("novel") and p.suffix == ".txt")[0]


def test_reproduce_unchanged_input_from_another_directory_is_byte_identical(version, capsys):
    moved = version / "moved-raw"
    shutil.copytree(version / "raw", moved)
    rc = main(["reproduce", str(version / "a"), "--input", f"{moved}/*", "--output", str(version / "again"),
               "--quiet", *IN_MEMORY])
    assert rc == 0, capsys.readouterr()
    assert (version / "again" / "manifest.json").read_bytes() == (version / "a" / "manifest.json").read_bytes()
    assert "byte for byte" in capsys.readouterr().out


def test_reproduce_with_an_appended_chapter_names_the_file_and_builds_nothing(version, capsys):
    raw = version / "raw-edited"
    shutil.copytree(version / "raw", raw)
    edited = _a_text_file(raw)
    old_size = edited.stat().st_size
    with edited.open("a", encoding="utf-8") as f:
        f.write(CHAPTER)
    out = version / "not-built"
    rc = main(["reproduce", str(version / "a"), "--input", f"{raw}/*", "--output", str(out), "--quiet", *IN_MEMORY])
    err = capsys.readouterr().err
    assert rc != 0
    assert f"changed: {edited.name}" in err and str(old_size) in err
    assert "nothing was built" in err
    assert not out.exists()


def test_reproduce_names_missing_and_extra_files(version, capsys):
    raw = version / "raw-swapped"
    shutil.copytree(version / "raw", raw)
    gone = _a_text_file(raw)
    gone.unlink()
    (raw / "zz-new.txt").write_text("新的小说。" * 100, encoding="utf-8")
    rc = main(["reproduce", str(version / "a"), "--input", f"{raw}/*", "--output", str(version / "nb2"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"missing: {gone.name}" in err and "extra: zz-new.txt" in err


def test_diff_of_identical_versions_exits_0(version, capsys):
    shutil.copytree(version / "a", version / "a-copy")
    assert main(["diff", str(version / "a"), str(version / "a-copy")]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["diff", str(version / "a"), str(version / "a-copy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["identical"] is True


@pytest.fixture(scope="module")
def changed(version):
    """Version B: one novel gets a chapter, another is removed, documents go into 2 shards instead of 3."""
    raw = version / "raw-b"
    shutil.copytree(version / "raw", raw)
    kept = {json.loads(v[0])["source"] for v in rows(version / "a", "documents").values()}
    novels = sorted(p for p in raw.iterdir() if p.name in kept and p.suffix == ".txt")
    with novels[0].open("a", encoding="utf-8") as f:
        f.write(CHAPTER)
    novels[1].unlink()
    (version / "b.toml").write_text(SMALL_CONFIG.replace("documents_shards = 3", "documents_shards = 2"))
    vocab = version / "a" / "vocab" / "spiece.model"
    assert build(raw, version / "b", version / "b.toml", "--vocab", str(vocab)) == 0
    return novels[0].name, novels[1].name


def test_diff_names_config_inputs_rows_and_counters(version, changed, capsys):
    edited, removed = changed
    rc = main(["diff", str(version / "a"), str(version / "b"), "--json", "--limit", "0"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 1 and d["identical"] is False
    keys = {c["key"] for c in d["config"]}
    assert {"output.documents_shards", "vocab.model_path"} <= keys
    assert [i["source"] for i in d["inputs"]["changed"]] == [edited]
    assert [i["source"] for i in d["inputs"]["removed"]] == [removed]
    assert d["inputs"]["added"] == []
    # every table: the streaming merge join agrees with a plain in-memory comparison
    for name, t in d["tables"].items():
        ra, rb = rows(version / "a", name), rows(version / "b", name)
        assert sorted(t["added_keys"]) == sorted(set(rb) - set(ra)), name
        assert sorted(t["removed_keys"]) == sorted(set(ra) - set(rb)), name
        assert sorted(c["key"] for c in t["changed_keys"]) == sorted(k for k in set(ra) & set(rb) if ra[k] != rb[k])
        assert (t["rows_a"], t["rows_b"]) == (sum(map(len, ra.values())), sum(map(len, rb.values())))
    docs_a = {json.loads(v[0])["source"]: k for k, v in rows(version / "a", "documents").items()}
    assert docs_a[removed] in d["tables"]["documents"]["removed_keys"]
    assert docs_a[edited] in d["tables"]["documents"]["removed_keys"]  # new text, new doc_id
    counters = {c["name"]: (c["a"], c["b"]) for c in d["counters"]}
    assert counters["ingest.files"][0] == counters["ingest.files"][1] + 1


def test_diff_text_output_lists_each_section(version, changed, capsys):
    assert main(["diff", str(version / "a"), str(version / "b"), "--limit", "2"]) == 1
    out = capsys.readouterr().out
    for part in ("config:", "inputs:", "documents:", "examples/train:", "counters (A | B)", changed[1]):
        assert part in out


def test_compare_streams_groups_rows_sharing_a_key():
    def stream(items):
        return iter([(k, d.encode(), (("c", d.encode()),)) for k, d in items])

    diff = TableDiff()
    compare_streams(stream([("a", "1"), ("b", "1"), ("b", "2"), ("c", "1")]),
                    stream([("b", "2"), ("b", "1"), ("c", "9"), ("d", "1")]), diff, limit=0)
    assert (diff.removed_keys, diff.added_keys) == (["a"], ["d"])
    assert [c["key"] for c in diff.changed_keys] == ["c"] and diff.changed_keys[0]["columns"] == ["c"]
    assert (diff.rows_a, diff.rows_b) == (4, 4)


def test_progress_lines_appear_on_a_build_of_a_few_mb(tmp_path, caplog):
    write_sample_corpus(str(tmp_path / "raw"), docs=150, seed=5)
    size_mb = sum(p.stat().st_size for p in (tmp_path / "raw").iterdir()) / 1e6
    assert size_mb > 2
    (tmp_path / "c.toml").write_text(SMALL_CONFIG)
    with caplog.at_level(logging.INFO, logger="longlm.progress"):
        rc = main(["build", "--input", f"{tmp_path}/raw/*", "--output", str(tmp_path / "out"), "--config",
                   str(tmp_path / "c.toml"), "--progress-every", "0.5", *IN_MEMORY])
    assert rc == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "longlm.progress"]
    assert len(lines) >= 3
    assert all("documents read" in line and re.search(r"input [\d.]+ of [\d.]+ MB", line) for line in lines)
    assert any("ingest" in line for line in lines)
    assert not any(re.search(r"\d+/\d+ done|Flatten|ref_", line) for line in lines), lines  # no Beam internals
    read = json.loads((tmp_path / "out" / "manifest.json").read_text())["counters"]["ingest.records"]
    assert any(f"{read:,} documents read" in line and f"of {size_mb:,.1f} MB" in line for line in lines)


def test_quiet_build_prints_no_progress(version, caplog):
    with caplog.at_level(logging.INFO, logger="longlm.progress"):
        rc = main(["build", "--input", f"{version}/raw/*", "--output", str(version / "quiet"), "--config",
                   str(version / "corpus.toml"), "--quiet", "--progress-every", "0.2", *IN_MEMORY])
    assert rc == 0
    assert not [r for r in caplog.records if r.name == "longlm.progress"]


def test_shards_open_in_duckdb_and_datasets(version, tmp_path, monkeypatch):
    duckdb = pytest.importorskip("duckdb")
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = version / "a"
    manifest = json.loads((out / "manifest.json").read_text())
    expected: dict = {}
    for f in manifest["files"]:
        if f["table"]:
            d = f["path"].rsplit("/", 1)[0]
            expected[d] = expected.get(d, 0) + f["rows"]
    con = duckdb.connect()
    for d in ("documents", "examples/train", "examples/validation"):
        n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/{d}/*.parquet')").fetchone()[0]
        assert n == expected[d], d
    sizes = con.execute(f"SELECT sum(len(input_ids)) FROM read_parquet('{out}/examples/train/*.parquet')").fetchone()[0]
    assert sizes > 0
    ds = datasets.load_dataset(
        "parquet",
        data_files={"train": f"{out}/examples/train/*.parquet", "validation": f"{out}/examples/validation/*.parquet"},
        cache_dir=str(tmp_path / "hf"),
    )
    assert ds["train"].num_rows == expected["examples/train"]
    assert ds["validation"].num_rows == expected["examples/validation"]
    assert isinstance(ds["train"][0]["input_ids"], list)
    docs = datasets.load_dataset("parquet", data_files=f"{out}/documents/*.parquet", split="train",
                                 cache_dir=str(tmp_path / "hf"))
    assert docs.num_rows == expected["documents"] == manifest["accounting"]["kept"]


# ---------------------------------------------------------------------------------------------
# Incremental versions: longlm build --base


def _table(out: Path, name: str) -> list[dict]:
    parts = sorted((out / name).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]).to_pylist()


@pytest.fixture(scope="module")
def increment(tmp_path_factory):
    """Full build of the sample corpus, and base + increment builds of a split of its files.

    The increment gets every planted edition and re-upload (duplicates whose kept document is in the
    base, so every new document sorts after the base under the keep rule) and every other novel
    that is alone in its cluster."""
    tmp = tmp_path_factory.mktemp("increment")
    write_sample_corpus(str(tmp / "raw"), docs=20, seed=3)
    (tmp / "corpus.toml").write_text(SMALL_CONFIG)
    assert build(tmp / "raw", tmp / "full", tmp / "corpus.toml") == 0
    kept_sources = {r["source"] for r in _table(tmp / "full", "documents") if r["cluster_size"] > 1}
    names = sorted(p.name for p in (tmp / "raw").iterdir())
    alone = [n for n in names if n.startswith("novel") and n.endswith(".txt") and n not in kept_sources]
    new = {n for n in names if n.startswith(("edition-", "reupload-"))} | set(alone[::2])
    for d in ("base-raw", "new-raw"):
        (tmp / d).mkdir()
    for n in names:
        shutil.copy(tmp / "raw" / n, tmp / ("new-raw" if n in new else "base-raw") / n)
    assert build(tmp / "base-raw", tmp / "base", tmp / "corpus.toml") == 0
    rc = main(["build", "--input", f"{tmp}/new-raw/*", "--output", str(tmp / "v2"), "--base", str(tmp / "base"),
               "--quiet", *IN_MEMORY])
    assert rc == 0
    return tmp


def test_increment_union_equals_the_full_build(increment):
    t = increment
    kept = lambda out: {r["doc_id"] for r in _table(out, "documents")}  # noqa: E731
    assert kept(t / "base") | kept(t / "v2") == kept(t / "full")
    assert not kept(t / "base") & kept(t / "v2")
    dup = lambda out: {(r["doc_id"], r["source"], r["locator"], r["kind"], r["kept_doc_id"])  # noqa: E731
                       for r in _table(out, "duplicates")}
    assert dup(t / "base") | dup(t / "v2") == dup(t / "full")
    assert dup(t / "v2"), "the increment found no duplicate: the split planted none"
    for table, key in (("rejects", "record_id"), ("filtered", "doc_id")):
        ids = lambda out: {r[key] for r in _table(out, table)}  # noqa: E731
        assert ids(t / "base") | ids(t / "v2") == ids(t / "full")


def test_increment_records_its_base_reuses_its_vocab_and_keeps_every_signature(increment):
    t = increment
    base = json.loads((t / "base" / "manifest.json").read_text())
    v2 = json.loads((t / "v2" / "manifest.json").read_text())
    assert v2["config"]["base_version_id"] == base["version_id"]
    assert base["config"]["base_version_id"] == ""
    assert (t / "v2" / "vocab" / "spiece.model").read_bytes() == (t / "base" / "vocab" / "spiece.model").read_bytes()
    assert v2["accounting"]["holds"]
    base_rows = {r["doc_id"]: r for r in _table(t / "base", "signatures")}
    v2_rows = {r["doc_id"]: r for r in _table(t / "v2", "signatures")}
    # no new document outranks a base one here: base decisions stand, rows now name the version that read them;
    # a cluster a new document joined is named by its smallest doc_id, as in a full build
    full_rows = {r["doc_id"]: r for r in _table(t / "full", "signatures")}
    for d, r in base_rows.items():
        assert {**v2_rows[d], "cluster_id": None} == dict(r, version_id=base["version_id"], cluster_id=None)
        assert v2_rows[d]["cluster_id"] in (r["cluster_id"], full_rows[d]["cluster_id"])
    assert v2["accounting"]["superseded"] == 0 and v2["chain"]["accounting"]["holds"]
    assert set(v2_rows) == {r["doc_id"] for r in _table(t / "full", "signatures")}
    for r in _table(t / "v2", "duplicates"):
        assert v2_rows[r["doc_id"]]["kept_doc_id"] == r["kept_doc_id"] if r["doc_id"] in v2_rows else True
        assert r["kept_doc_id"] in {d["doc_id"] for d in _table(t / "base", "documents")}


def test_increment_refuses_its_own_config_and_a_base_without_signatures(increment, tmp_path, capsys):
    t = increment
    rc = main(["build", "--input", f"{t}/new-raw/*", "--output", str(tmp_path / "x"), "--base", str(t / "base"),
               "--config", str(t / "corpus.toml")])
    assert rc == 2 and "--config" in capsys.readouterr().err
    old = tmp_path / "old"
    shutil.copytree(t / "base", old)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["files"] = [f for f in manifest["files"] if f["table"] != "signatures"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    rc = main(["build", "--input", f"{t}/new-raw/*", "--output", str(tmp_path / "y"), "--base", str(old)])
    assert rc == 2 and "signatures" in capsys.readouterr().err


def test_reproduce_an_increment_on_its_base(increment, tmp_path, capsys):
    t = increment
    rc = main(["reproduce", str(t / "v2"), "--base", str(t / "full"), "--output", str(tmp_path / "x"), "--quiet",
               *IN_MEMORY])
    assert rc == 2 and "--base" in capsys.readouterr().err  # not the version it was built on
    rc = main(["reproduce", str(t / "v2"), "--base", str(t / "base"), "--output", str(tmp_path / "r"), "--quiet",
               *IN_MEMORY])
    assert rc == 0, capsys.readouterr()
    assert (tmp_path / "r" / "manifest.json").read_bytes() == (t / "v2" / "manifest.json").read_bytes()


def test_progress_line_names_our_stages_and_shows_mb_per_s_and_an_eta():
    from pipelines.launch.progress import Snapshot, format_line, stage_label

    assert stage_label(["ref_AppliedPTransform_x", "Ingest/Read", "Ingest/Parse", "Clean/Run"]) == "ingest + clean"
    assert stage_label(["Vocab/TrainSpm", "FlattenFiles", "Counters/Sum"]) == "vocab + manifest"  # no Beam internals
    assert stage_label(["WriteExamplesTrain/Shard", "DropExamplesTrainOfFailed/x"]) == "write + rejects"
    before = Snapshot(counters={"ingest.records": 10, "ingest.bytes": 2_000_000})
    after = Snapshot(counters={"ingest.records": 30, "ingest.bytes": 6_000_000, "clean.docs_in": 12},
                     stage="ingest + clean", stages_done=3, stages_total=9)
    line = format_line(after, elapsed=4.0, previous=before, since=2.0, total_bytes=10_000_000)
    assert "ingest + clean (" in line and "3/9" not in line and "docs/s" not in line
    assert "input 6.0 of 10.0 MB (2.00 MB/s)" in line and "eta 0:00:02 to take in the rest" in line
    assert "30 documents read" in line and "cleaned 12" in line
    unknown = format_line(after, elapsed=4.0, previous=None, since=0.0)  # no total, no previous line
    assert "input 6.0 MB (1.50 MB/s)" in unknown and "eta" not in unknown


def test_progress_every_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--input", "x", "--output", "y", "--progress-every", "0"])
    assert "must be > 0" in capsys.readouterr().err
