"""`longlm report` on corpora built by `longlm build` from the generated sample corpus.

The build grows stage by stage; these tests hold whatever it writes today: numbers must match the
manifest and the shards read back independently, and each absent part must be reported "not built".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.corpus.report import Options, make_report
from pipelines.corpus.report.doc import NOT_BUILT, Table
from pipelines.corpus.sample import write_sample_corpus

BEAM = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


def build(raw: Path, out: Path, config: str) -> None:
    cfg = out.parent / f"{out.name}.toml"
    cfg.write_text(config)
    assert main(["build", "--input", f"{raw}/*", "--output", str(out), "--config", str(cfg), *BEAM]) == 0


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report_build")
    write_sample_corpus(str(tmp / "raw"), docs=12, seed=5)
    build(tmp / "raw", tmp / "a", "[output]\ndocuments_shards = 3\n")
    build(tmp / "raw", tmp / "b", 'name = "other"\n[output]\ndocuments_shards = 2\n')
    return tmp


def rows_of(rep, sid: str, first: str) -> list[list[str]]:
    sec = next(s for s in rep.sections if s.id == sid)
    return next(b for b in sec.blocks if isinstance(b, Table) and b.headers[0] == first).rows


def read_table(root: Path, name: str) -> pa.Table | None:
    parts = sorted((root / name).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None


def test_report_of_a_build_matches_manifest_and_shards(built, capsys):
    root = built / "a"
    assert main(["report", str(root)]) == 0
    assert f"report: {root / 'report' / 'index.html'}" in capsys.readouterr().out
    rep, errors = make_report(str(root), options=Options(charts=False))
    assert not errors
    manifest = json.loads((root / "manifest.json").read_text())
    funnel = {r[0]: r for r in rows_of(rep, "funnel", "stage")}
    assert int(funnel["read"][1]) == manifest["accounting"]["read"]
    assert int(funnel["kept"][1]) == manifest["accounting"]["kept"]
    rejects = Counter(read_table(root, "rejects").column("reason").to_pylist())
    assert {k.removeprefix("rejected: "): int(v[1]) for k, v in funnel.items() if k.startswith("rejected")} == rejects
    listed = rows_of(rep, "funnel", "source")  # the rejected inputs by name, with their reasons
    assert sorted(r[2] for r in listed) == sorted(rejects.elements())
    assert {r[0] for r in listed} == set(read_table(root, "rejects").column("source").to_pylist())
    docs = read_table(root, "documents")
    cleaned = docs.column("char_length").null_count == 0
    kept_chars = docs.column("char_length" if cleaned else "raw_char_length")
    assert int(funnel["kept"][3].replace(",", "")) == sum(kept_chars.to_pylist())
    html = (root / "report" / "index.html").read_text()
    assert "OK:" in html and manifest["version_id"] in html


def test_absent_parts_are_reported_not_built(built):
    root = built / "a"
    rep, errors = make_report(str(root), options=Options(charts=False, verify=False))
    assert not errors
    text = {s.id: " ".join(getattr(b, "text", "") for b in s.blocks) for s in rep.sections}
    status = {s.id: s.status for s in rep.sections}
    checks = (("filtered", "funnel"), ("duplicates", "funnel"), ("examples", "tokens"), ("examples", "samples"))
    for part, sid in checks:
        said = f"{part}/: {NOT_BUILT}" in text[sid]
        assert said == (not (root / part).is_dir()), (part, sid)
    assert (status["vocab"] == NOT_BUILT) == (not (root / "vocab" / "spiece.model").exists())
    if not (root / "examples").is_dir():
        assert status["tokens"] == NOT_BUILT and status["samples"] == NOT_BUILT


def test_compare_two_builds(built, tmp_path):
    a, b = built / "a", built / "b"
    assert main(["report", str(a), "--compare", str(b), "--skip-verify", "--output", str(tmp_path / "cmp")]) == 0
    html = (tmp_path / "cmp" / "index.html").read_text()
    ids = [json.loads((d / "manifest.json").read_text())["version_id"] for d in (a, b)]
    assert ids[0] != ids[1] and all(i in html for i in ids)
    rep, _ = make_report(str(a), compare=str(b), options=Options(charts=False, verify=False))
    config = {r[0]: r[1:] for r in rows_of(rep, "compare", "key")}
    assert config["name"] == ['"other"', '"longlm-corpus"']
    assert config["output.documents_shards"] == ["2", "3"]
    assert re.search(r'<img src="data:image/png;base64,', html)
