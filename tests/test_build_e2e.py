"""End-to-end builds of the generated sample corpus through `longlm build`."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.corpus.sample import write_sample_corpus
from pipelines.corpus.verify import verify

SMALL_CONFIG = """
[output]
documents_shards = 3
examples_shards = 2
"""


def build(raw: Path, out: Path, tmp: Path, *beam_flags: str, config: str = SMALL_CONFIG) -> int:
    cfg = tmp / "corpus.toml"
    cfg.write_text(config)
    return main(["build", "--input", f"{raw}/*", "--output", str(out), "--config", str(cfg), *beam_flags])


def table(out: Path, name: str):
    import pyarrow as pa

    parts = sorted((out / name).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts])


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sample")
    truth = write_sample_corpus(str(tmp / "raw"), docs=20, seed=3)
    rc = build(tmp / "raw", tmp / "out", tmp, "--direct_running_mode=in_memory", "--direct_num_workers=1")
    assert rc == 0
    return tmp, truth


def test_manifest_accounting_identity_holds(sample):
    tmp, truth = sample
    manifest = json.loads((tmp / "out" / "manifest.json").read_text())
    acc = manifest["accounting"]
    assert acc["holds"] and acc["read"] == acc["kept"] + acc["rejected"] + acc["filtered"] + acc["duplicates"]
    # every planted record was read: unique + junk + exact copies + near/far variants + bad inputs
    n_planted = len(truth.texts) + sum(len(g) - 2 for g in truth.exact_groups) + len(truth.bad_inputs)
    assert acc["read"] == n_planted
    assert manifest["counters"]["ingest.files"] == len(list((tmp / "raw").iterdir()))


def test_bad_inputs_are_rejected_with_their_reasons(sample):
    tmp, truth = sample
    rejects = table(tmp / "out", "rejects").to_pylist()
    got = {(r["source"] + (f"#{r['locator']}" if r["locator"] else "")): r["reason"] for r in rejects}
    assert got == truth.bad_inputs
    assert all(r["detail"] for r in rejects)


def test_encodings_are_recorded(sample):
    tmp, _ = sample
    docs = {r["source"]: r["encoding"] for r in table(tmp / "out", "documents").select(["source", "encoding"]).to_pylist()}
    assert docs["gb18030-novel.txt"] == "gb18030"
    assert docs["big5-novel.txt"] == "big5"
    assert docs["utf16-novel.txt"] == "utf-16-le"
    assert docs["bom-novel.txt"] == "utf-8-sig"


def test_verify_passes_on_a_fresh_build(sample):
    tmp, _ = sample
    report = verify(str(tmp / "out"))
    assert report.ok, report.problems
    assert report.checked_files == len(json.loads((tmp / "out" / "manifest.json").read_text())["files"])


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_verify_catches_a_flipped_byte(sample, tmp_path):
    tmp, _ = sample
    out = _copy(tmp / "out", tmp_path / "flip")
    victim = sorted((out / "documents").glob("*.parquet"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    report = verify(str(out))
    assert not report.ok
    assert any(victim.name in p and "sha256" in p for p in report.problems)
    assert main(["verify", str(out)]) == 1


def test_verify_catches_a_deleted_row(sample, tmp_path):
    tmp, _ = sample
    out = _copy(tmp / "out", tmp_path / "del")
    victim = max((out / "documents").glob("*.parquet"), key=lambda p: pq.read_metadata(p).num_rows)
    t = pq.read_table(victim)
    pq.write_table(t.slice(1), victim, compression="zstd")
    report = verify(str(out))
    assert not report.ok
    assert any("rows, manifest says" in p for p in report.problems)
    assert any("accounting identity fails" in p for p in report.problems)


def test_rebuild_with_other_worker_settings_is_byte_identical(sample, tmp_path):
    tmp, _ = sample
    rc = build(tmp / "raw", tmp_path / "again", tmp_path, "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    assert rc == 0
    first = {p.relative_to(tmp / "out"): p.read_bytes() for p in (tmp / "out").rglob("*") if p.is_file() and p.name != "run.json"}
    second = {p.relative_to(tmp_path / "again"): p.read_bytes() for p in (tmp_path / "again").rglob("*") if p.is_file() and p.name != "run.json"}
    assert sorted(first) == sorted(second)
    for rel in first:
        assert first[rel] == second[rel], rel


def test_existing_build_is_not_overwritten_without_flag(sample, tmp_path):
    tmp, _ = sample
    assert build(tmp / "raw", tmp / "out", tmp_path) == 2


def _doc_name(row: dict) -> str:
    """The generator's name for a document: source, plus '#line N' / '#row N' inside JSONL/Parquet."""
    locator = (row["locator"] or "").split(" id=")[0]
    return row["source"] + (f"#{locator}" if locator else "")


def test_planted_duplicates_precision_and_recall(sample):
    """Pairs of documents put in one cluster vs the generator's planted exact and near duplicates."""
    from itertools import combinations

    from pipelines.corpus.sample import key_text_jaccard

    tmp, truth = sample
    cluster_of = {}
    for row in table(tmp / "out", "documents").select(["source", "locator", "cluster_id"]).to_pylist():
        cluster_of[_doc_name(row)] = row["cluster_id"]
    for row in table(tmp / "out", "duplicates").to_pylist():
        cluster_of[_doc_name(row)] = row["cluster_id"]
    members: dict[str, list[str]] = {}
    for name, cluster in cluster_of.items():
        members.setdefault(cluster, []).append(name)
    predicted = {frozenset(p) for names in members.values() for p in combinations(sorted(names), 2)}
    linked = {frozenset(p) for group in truth.exact_groups for p in combinations(group, 2)}
    # near pairs count as duplicates when their exact key-text Jaccard reaches the default threshold
    linked |= {frozenset((a, b)) for a, b, j in truth.near_pairs if j >= 0.8}
    assert all(key_text_jaccard(truth.texts[a], truth.texts[b]) < 0.8 for a, b, _ in truth.far_pairs)
    # far rewrites replace 60% of the paragraphs by one short sentence each, so most of a rewrite is
    # verbatim base text: by the containment contract (dedupe.containment_threshold 0.6 of a set at
    # most 0.9 of the other's) those are duplicates too; the rest must stay apart
    contained = {frozenset((a, b)) for a, b, _ in truth.far_pairs if _contained(truth.texts[a], truth.texts[b])}
    linked |= contained
    expected = _transitive_pairs(linked)  # clusters are connected components
    assert expected, "the sample corpus must plant duplicates"
    hits = len(predicted & expected)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(expected)
    assert precision >= 0.99, sorted(map(sorted, predicted - expected))
    assert recall >= 0.97, sorted(map(sorted, expected - predicted))


def _contained(a: str, b: str, n: int = 5, threshold: float = 0.6, max_ratio: float = 0.9) -> bool:
    """Ground truth of containment: the smaller n-gram set has >= threshold of itself in the larger."""
    def grams(text: str) -> set[str]:
        t = "".join(ch for ch in text if ch.isalnum())
        return {t[i:i + n] for i in range(max(0, len(t) - n + 1))}

    small, large = sorted((grams(a), grams(b)), key=len)
    return len(small) <= max_ratio * len(large) and len(small & large) >= threshold * len(small)


def _transitive_pairs(pairs: set) -> set:
    """Every pair inside the connected components of `pairs`."""
    from itertools import combinations

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for pair in pairs:
        a, b = sorted(pair)
        parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    return {frozenset(p) for g in groups.values() for p in combinations(sorted(g), 2)}


def test_junk_is_filtered_and_nothing_else(sample):
    tmp, truth = sample
    filtered = table(tmp / "out", "filtered").to_pylist()
    assert sorted(_doc_name(r) for r in filtered) == sorted(truth.junk)
    assert all(r["reason"] and r["value"] is not None for r in filtered)


def test_examples_meet_the_masking_contract(sample):
    tmp, _ = sample
    manifest = json.loads((tmp / "out" / "manifest.json").read_text())
    c, ex_cfg = manifest["counters"], manifest["config"]["examples"]
    ratio = c["examples.masked_tokens"] / c["examples.infilling_tokens"]
    assert abs(ratio - ex_cfg["noise_density"]) <= 0.005
    mean_span = c["examples.masked_tokens"] / c["examples.noise_spans"]
    import math

    lam = ex_cfg["mean_span"]
    expected_mean = lam + math.exp(-lam)  # E[max(1, Poisson(lam))]
    assert abs(mean_span - expected_mean) <= 0.3
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tmp / "out" / "vocab" / "spiece.model"))
    vocab_total = sp.get_piece_size() + ex_cfg["num_sentinels"]
    rows = 0
    for split in ("train", "validation"):
        t = table(tmp / "out", f"examples/{split}")
        rows += t.num_rows
        for r in t.select(["task", "input_ids", "target_ids"]).to_pylist():
            assert len(r["input_ids"]) <= ex_cfg["input_length"]
            assert r["input_ids"][-1] == 1 and r["target_ids"][-1] == 1  # EOS
            assert all(0 <= i < vocab_total for i in r["input_ids"] + r["target_ids"])
    assert rows == c["examples.rows.train"] + c.get("examples.rows.validation", 0) > 0
    assert table(tmp / "out", "examples/validation").num_rows > 0
