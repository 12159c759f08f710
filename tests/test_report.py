"""`longlm report` on a synthetic corpus whose every table is written here, so each number the report
shows can be checked against how the corpus was made (not against what the report code computes)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.corpus.report import Options, ReportError, make_report, write_report
from pipelines.corpus.report.doc import NOT_BUILT, Figure, Para, Sample, Table
from pipelines.corpus.report.load import pick_row_groups
from schemas import manifest as mf
from schemas.tables import DOCUMENTS, DUPLICATES, EXAMPLES, FILTERED, REJECTS
from transforms.shard_writer import sort_rows, table_bytes

COMMON = ("的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于"
          "心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回")
RARE = "饕餮魑魅魍魉"
EVIL = "<script>alert(1)</script>.txt"
SEGMENT = 64  # content tokens per example segment
GAP = 4  # unmasked tokens between masked spans
SPAN_CYCLE = (1, 2, 3, 4, 5)


@dataclass
class Truth:
    """What the synthetic corpus holds, computed while making it."""

    n_pieces: int = 0
    model: bytes = b""
    kept_raw: int = 0
    kept_chars: int = 0
    rejects: Counter = field(default_factory=Counter)
    filtered: list = field(default_factory=list)  # (reason, chars, raw chars)
    duplicates: list = field(default_factory=list)  # (kind, cluster_id, chars)
    masked: int = 0
    unmasked: int = 0
    spans: list = field(default_factory=list)
    examples: Counter = field(default_factory=Counter)  # split -> rows
    token_counts: Counter = field(default_factory=Counter)


def _texts(seed: int, docs: int) -> list[str]:
    rng = np.random.Generator(np.random.PCG64(seed))

    def para() -> str:
        s = "".join(rng.choice(list(COMMON), int(rng.integers(20, 60))))
        return s + (str(rng.choice(list(RARE))) if rng.random() < 0.3 else "") + "。"

    return ["\n".join(para() for _ in range(int(rng.integers(20, 40)))) for _ in range(docs)]


def _train_vocab(texts: list[str]) -> bytes:
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([line for t in texts for line in t.split("\n")]), model_writer=buf, vocab_size=500,
        model_type="unigram", byte_fallback=True, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        character_coverage=0.995, minloglevel=2, num_threads=1, hard_vocab_limit=False)
    return buf.getvalue()


def _infilling(seg: list[int], n: int, eos: int, truth: Truth) -> tuple[list[int], list[int]]:
    """Mask spans of lengths 1,2,3,4,5,1,... separated by GAP kept tokens, T5 style."""
    inp, tgt, pos, k = seg[:2], [], 2, 0
    while pos + SPAN_CYCLE[k % 5] + GAP <= len(seg):
        length = SPAN_CYCLE[k % 5]
        sentinel = n + 99 - k
        inp += [sentinel] + seg[pos + length: pos + length + GAP]
        tgt += [sentinel] + seg[pos: pos + length]
        truth.spans.append(length)
        truth.masked += length
        pos, k = pos + length + GAP, k + 1
    inp += seg[pos:]
    truth.unmasked += len(seg) - sum(SPAN_CYCLE[i % 5] for i in range(k))
    return inp + [eos], tgt + [n + 99 - k, eos]


def _examples(docs: list[dict], sp, truth: Truth) -> dict[str, list[dict]]:
    n, eos = truth.n_pieces, sp.eos_id()
    out: dict[str, list[dict]] = {"train": [], "validation": []}
    for i, doc in enumerate(docs):
        split = "validation" if i % 4 == 3 else "train"
        ids = sp.encode(doc["text"])
        for s in range(len(ids) // SEGMENT):
            seg = ids[s * SEGMENT:(s + 1) * SEGMENT]
            truth.token_counts.update(seg)
            s0 = n + 99  # continuation as transforms.examples writes it: front + <extra_id_0> + EOS
            pairs = {"infilling": _infilling(seg, n, eos, truth),
                     "continuation": (seg[: SEGMENT // 2] + [s0, eos], [s0] + seg[SEGMENT // 2:] + [eos])}
            for task, (inp, tgt) in pairs.items():
                out[split].append({"example_id": f"{doc['doc_id']}-{s:06d}-{task}", "task": task, "input_ids": inp,
                                   "target_ids": tgt, "doc_id": doc["doc_id"], "segment_index": s})
            truth.examples[split] += 2
    return out


def _write(root: Path, rel: str, data: bytes, table: str | None, records: list) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    rows = pq.read_metadata(path).num_rows if table else None
    records.append({"path": rel, "table": table, "rows": rows, "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()})


def _shards(root: Path, subdir: str, spec, rows: list[dict], n: int, records: list, group: int = 8) -> None:
    for k in range(n):
        part = sort_rows(rows[k::n], spec.key)
        _write(root, f"{subdir}/part-{k:05d}-of-{n:05d}.parquet", table_bytes(part, spec, group), spec.name, records)


def make_corpus(root: Path, *, docs: int = 8, seed: int = 5, noise: float = 0.15, mean_span: float = 3.0) -> Truth:
    """Write a complete corpus (every table, vocab, manifest that verifies) and return its truth."""
    import sentencepiece as spm

    truth, records = Truth(), []
    texts = _texts(seed, docs + 4)
    truth.model = _train_vocab(texts)
    sp = spm.SentencePieceProcessor(model_proto=truth.model)
    truth.n_pieces = sp.get_piece_size()
    kept = []
    for i, text in enumerate(texts[:docs]):
        doc_id = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        kept.append({"doc_id": doc_id, "source": f"n{i}.txt", "locator": "", "title": f"n{i}", "encoding": "utf-8",
                     "byte_length": len(text.encode()), "raw_char_length": len(text) + 3 * i + 1,
                     "char_length": len(text), "han_chars": len(text), "cluster_id": doc_id, "cluster_size": 1, "boilerplate_lines_removed": 0,
                     "split": "validation" if i % 4 == 3 else "train", "text": text})
        truth.kept_raw += len(text) + 3 * i + 1
        truth.kept_chars += len(text)
    rejects = [{"record_id": f"r{k}", "source": src, "locator": "", "reason": reason, "detail": "d", "byte_length": 5}
               for k, (src, reason) in enumerate([("a.bin", "binary"), ("e1.txt", "empty"), ("e2.txt", "empty")])]
    truth.rejects = Counter(r["reason"] for r in rejects)
    filtered = [{"doc_id": f"f{k}", "source": f"f{k}.txt", "title": "t", "reason": reason, "value": 0.1,
                 "threshold": 0.5, "char_length": chars, "raw_char_length": chars + 10} for k, (reason, chars) in
                enumerate([("min_length", 12), ("han_ratio", 900)])]
    truth.filtered = [(f["reason"], f["char_length"], f["raw_char_length"]) for f in filtered]
    dups = [{"doc_id": f"d{k}", "source": f"d{k}.txt", "title": "t", "kind": kind, "cluster_id": kept[c]["doc_id"],
             "kept_doc_id": kept[c]["doc_id"], "similarity": 1.0, "char_length": 100 + k}
            for k, (kind, c) in enumerate([("exact", 0), ("near", 0), ("near", 1)])]
    truth.duplicates = [(d["kind"], d["cluster_id"], d["char_length"]) for d in dups]
    _shards(root, "documents", DOCUMENTS, kept, 2, records, group=2)
    _shards(root, "rejects", REJECTS, rejects, 1, records)
    _shards(root, "filtered", FILTERED, filtered, 1, records)
    _shards(root, "duplicates", DUPLICATES, dups, 1, records)
    for split, rows in _examples(kept, sp, truth).items():
        _shards(root, f"examples/{split}", EXAMPLES, rows, 2, records)
    _write(root, "vocab/spiece.model", truth.model, None, records)
    removed = truth.kept_raw - truth.kept_chars + 20
    counters = {mf.READ_COUNTER: docs + 3 + 2 + 3, "ingest.rejected.binary": 1, "ingest.rejected.empty": 2,
                "clean.chars_removed.ads": removed - 7, "clean.chars_removed.fullwidth_space": 7,
                "filter.filtered.min_length": 1, "filter.filtered.han_ratio": 1, "dedupe.exact": 1, "dedupe.near": 2,
                "examples.train": truth.examples["train"], "examples.validation": truth.examples["validation"]}
    config = {"name": "synthetic", "seed": seed,
              "examples": {"noise_density": noise, "mean_span": mean_span, "span_distribution": "poisson"}}
    inputs = [{"source": EVIL, "bytes": 10, "sha256": "0" * 64}, {"source": "n0.txt", "bytes": 99, "sha256": "1" * 64}]
    manifest = mf.build_manifest(config=config, inputs=inputs, files=records, stats=counters,
                                 packages={"sentencepiece": "test"}, input_patterns=["raw/*"])
    (root / mf.MANIFEST_NAME).write_bytes(mf.dumps(manifest))
    return truth


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "corpus"
    truth = make_corpus(root)
    written = write_report(str(root))
    assert not written.errors, written.errors
    return root, truth


@pytest.fixture(scope="module")
def report(corpus):
    root, _ = corpus
    rep, errors = make_report(str(root))
    assert not errors
    return rep


def section(rep, sid):
    return next(s for s in rep.sections if s.id == sid)


def table_with(sec, first_header: str, column: str | None = None) -> Table:
    return next(b for b in sec.blocks if isinstance(b, Table) and b.headers[0] == first_header
                and (column is None or column in b.headers))


def as_int(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_every_section_is_built(corpus, report):
    root, _ = corpus
    assert [s.status for s in report.sections] == [""] * len(report.sections)
    html = (root / "report" / "index.html").read_text()
    assert NOT_BUILT not in html
    names = {p.name for p in (root / "report").glob("*.png")}
    assert names == {"funnel.png", "doc_length.png", "cleaning_rules.png", "duplicate_clusters.png",
                     "token_lengths.png", "masking.png", "pieces.png"}


def test_funnel_counts_documents_and_characters(corpus, report):
    _, truth = corpus
    rows = {r[0]: r for r in table_with(section(report, "funnel"), "stage").rows}
    assert as_int(rows["rejected: empty"][1]) == truth.rejects["empty"] == 2
    assert as_int(rows["rejected: binary"][1]) == 1 and rows["rejected: binary"][3] == "–"
    for reason, chars, _ in truth.filtered:
        assert as_int(rows[f"filtered: {reason}"][1]) == 1 and as_int(rows[f"filtered: {reason}"][3]) == chars
    by_kind = Counter(k for k, _, _ in truth.duplicates)
    for kind, n in by_kind.items():
        assert as_int(rows[f"duplicate: {kind}"][1]) == n
        assert as_int(rows[f"duplicate: {kind}"][3]) == sum(c for k, _, c in truth.duplicates if k == kind)
    removed = truth.kept_raw - truth.kept_chars + sum(raw - c for _, c, raw in truth.filtered)
    assert as_int(rows["removed by cleaning"][3]) == removed
    assert as_int(rows["kept"][3]) == truth.kept_chars
    read_chars = truth.kept_raw + sum(raw for _, _, raw in truth.filtered) + sum(c for _, _, c in truth.duplicates)
    assert as_int(rows["read"][3]) == read_chars
    assert as_int(rows["read"][1]) == 8 + 3 + 2 + 3


def test_cleaning_rules_and_duplicate_clusters(report):
    sec = section(report, "documents")
    rules = {r[0]: as_int(r[1]) for r in table_with(sec, "rule").rows}
    assert rules["fullwidth_space"] == 7 and set(rules) == {"ads", "fullwidth_space"}
    clusters = {as_int(r[0]): as_int(r[1]) for r in table_with(sec, "cluster size").rows}
    # kept doc 0 has two duplicates (size 3), doc 1 one (size 2), the other six are alone
    assert clusters == {1: 6, 2: 1, 3: 1}


def test_losses_per_filter_and_dedupe_kind_with_two_examples(corpus, report):
    _, truth = corpus
    sec = section(report, "losses")
    assert sec.status == ""
    filtered, duplicates = [b for b in sec.blocks if isinstance(b, Table)]
    rows = {r[0]: r for r in filtered.rows}
    for reason, chars, _ in truth.filtered:
        assert as_int(rows[reason][1]) == 1 and as_int(rows[reason][3]) == chars
    assert rows["han_ratio"][5].startswith("f1.txt (t): 0.1 vs threshold 0.5") and rows["han_ratio"][6] == ""
    rows = {r[0]: r for r in duplicates.rows}
    by_kind = Counter(k for k, _, _ in truth.duplicates)
    assert set(rows) == set(by_kind)
    for kind, n in by_kind.items():
        assert as_int(rows[kind][1]) == n
        assert as_int(rows[kind][3]) == sum(c for k, _, c in truth.duplicates if k == kind)
    # two examples, the largest removed document first, naming the kept document
    assert rows["near"][5].startswith("d2.txt (t): kept ") and rows["near"][6].startswith("d1.txt (t): kept ")
    assert "similarity 1" in rows["near"][5]


def test_loss_rows_show_containment_of_contained_duplicates():
    import pyarrow as pa

    from pipelines.corpus.report.losses import loss_rows

    dups = pa.Table.from_pylist([
        {"doc_id": f"p{k}", "source": f"part{k}.txt", "locator": "", "title": "", "kind": "contained",
         "kept_doc_id": "f" * 32, "similarity": 0.33, "containment": c, "char_length": n}
        for k, (c, n) in enumerate([(1.0, 300), (0.68, 500), (0.9, 100)])])
    [row] = loss_rows(None, dups)
    assert (row.group, row.name, row.documents, row.chars) == ("duplicate", "contained", 3, 900)
    assert row.examples == ("part1.txt: kept ffffffffffff…, similarity 0.33, containment 0.68, 500 chars",
                            "part0.txt: kept ffffffffffff…, similarity 0.33, containment 1, 300 chars")


def test_realized_mask_ratio_and_span_lengths(corpus, report):
    _, truth = corpus
    data_rows = {r[0]: r for r in table_with(section(report, "tokens"), "quantity").rows}
    ratio = truth.masked / (truth.masked + truth.unmasked)
    assert float(data_rows["mask ratio (all masked / all content tokens)"][2]) == pytest.approx(ratio, rel=1e-3)
    assert data_rows["mask ratio (all masked / all content tokens)"][1] == "0.15"
    assert float(data_rows["mean span length (tokens)"][2]) == pytest.approx(np.mean(truth.spans), rel=1e-3)


def test_token_stats_match_construction(corpus):
    from pipelines.corpus.report.data import CorpusData
    from pipelines.corpus.report.load import Corpus

    root, truth = corpus
    stats = CorpusData(Corpus(str(root)), Options()).pooled_stats
    assert sorted(stats.spans["infilling"].tolist()) == sorted(truth.spans)
    inf = stats.task == "infilling"
    assert int(stats.target_content[inf].sum()) == truth.masked
    assert int(stats.input_content[inf].sum()) == truth.unmasked
    assert set(stats.segment_len.tolist()) == {SEGMENT}


def test_vocabulary_section(corpus, report):
    import sentencepiece as spm

    _, truth = corpus
    sp = spm.SentencePieceProcessor(model_proto=truth.model)
    sec = section(report, "vocab")
    sizes = {r[0]: r[1] for r in table_with(sec, "", "ids").rows}
    assert as_int(sizes["vocabulary size"]) == sp.get_piece_size() + 100
    n_bytes = sum(bool(re.fullmatch(r"<0x[0-9A-F]{2}>", sp.id_to_piece(i))) for i in range(sp.get_piece_size()))
    assert as_int(sizes["  of which byte fallback"]) == n_bytes == 256
    top = table_with(sec, "rank")
    best_id, best_count = truth.token_counts.most_common(1)[0]
    assert top.rows[0][1] == str(best_id) and as_int(top.rows[0][3]) >= best_count
    per_char = {r[0]: r[1] for r in table_with(sec, "", "value").rows}
    assert 0.2 < float(per_char["tokens per character"]) < 3


def test_decoded_examples_highlight_sentinels(corpus, report):
    import sentencepiece as spm

    root, truth = corpus
    sp = spm.SentencePieceProcessor(model_proto=truth.model)
    samples = [b for b in section(report, "samples").blocks if isinstance(b, Sample)]
    titles = {tuple(s.title.split(" · ")[:2]) for s in samples}
    assert titles == {(split, task) for split in ("train", "validation") for task in ("infilling", "continuation")}
    infill = next(s for s in samples if "infilling" in s.title)
    example_id = infill.title.split(" · ")[2]
    row = next(r for p in (root / "examples").rglob("*.parquet") for r in pq.read_table(p).to_pylist()
               if r["example_id"] == example_id)
    inp = dict(infill.fields)["input"]
    assert inp[0].kind == "text" and inp[0].text == sp.decode(row["input_ids"][:2])
    assert inp[1].kind == "sentinel" and inp[1].text == "<extra_id_0>"
    html = (root / "report" / "index.html").read_text()
    assert '<mark class="s">&lt;extra_id_0&gt;</mark>' in html
    assert "**`<extra_id_0>`**" in (root / "report" / "summary.md").read_text()


def test_html_is_self_contained_and_escaped(corpus, report):
    root, _ = corpus
    html = (root / "report" / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith(("data:image/png;base64,", "#")) for r in refs)
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;.txt" in html
    embedded = [base64.b64decode(r.split(",", 1)[1]) for r in refs if r.startswith("data:")]
    beside = {b.name: (root / "report" / b.name).read_bytes() for b in report.figures()}
    assert sorted(embedded) == sorted(beside.values())
    md = (root / "report" / "summary.md").read_text()
    assert all(f"]({name})" in md for name in beside)


def test_templates_escape_every_text():
    from pipelines.corpus.report.doc import Code, Heading, Report, Section
    from pipelines.corpus.report.render import to_html, to_markdown
    from pipelines.corpus.report.vocab import Part

    evil = '<script>alert("x")</script>'
    evil_md = '\\<script\\>alert("x")\\</script\\>'
    blocks = [Para(evil, "bad"), Heading(evil), Table([evil, "n"], [[evil, "1"]], evil), Code(evil),
              Figure("funnel.png", b"png", evil, evil),
              Sample(evil, [(evil, [Part("text", evil), Part("sentinel", evil)])])]
    rep = Report(f"Corpus report: {evil}", evil, [(evil, evil, "")], [Section("s", evil, blocks, NOT_BUILT)])
    page = to_html(rep)
    assert "<script" not in page and "alert(" in page
    # <title>, h1, subtitle, 2 tile texts, nav link, h2; blocks: 1 + 1 + 3 (table) + 1 + 2 (figure) + 4 (sample)
    assert page.count("&lt;script&gt;") == 7 + 12
    raw = [line for line in to_markdown(rep).splitlines() if "<script>" in line.replace("\\<script\\>", "")]
    assert raw == [evil, f"- {evil_md}: {evil_md}**`{evil}`**"]  # only inside code: the code block, a sentinel


def test_templates_are_package_data():
    from fnmatch import fnmatch

    from pipelines.build.config import tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    templates = sorted((root / "pipelines" / "corpus" / "report" / "templates").iterdir())
    assert templates and all(any(fnmatch(f"templates/{t.name}", p) for p in patterns["pipelines.corpus.report"])
                             for t in templates)


def test_provenance_shows_version_config_inputs_and_verify(corpus, report):
    root, _ = corpus
    manifest = (root / "manifest.json").read_text()
    sec = section(report, "provenance")
    assert table_with(sec, "").rows[0] == ["version id", re.search(r'"version_id": "(\w+)"', manifest).group(1)]
    assert any(isinstance(b, Para) and b.tone == "ok" and b.text.startswith("OK") for b in sec.blocks)
    sources = [r[0] for r in table_with(sec, "source").rows]
    assert EVIL in sources and "n0.txt" in sources
    assert '"noise_density": 0.15' in unescape((root / "report" / "index.html").read_text())


def test_verify_failure_is_reported(corpus, tmp_path):
    root, _ = corpus
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    victim = sorted((bad / "rejects").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:-3] + b"xyz")
    rep, _ = make_report(str(bad), options=Options(charts=False))
    paras = [b for b in section(rep, "provenance").blocks if isinstance(b, Para) and b.tone == "bad"]
    assert paras and paras[0].text.startswith("FAILED")
    assert ("longlm verify", "FAILED (1)", "bad") in rep.tiles or any(
        label == "longlm verify" and tone == "bad" for label, _, tone in rep.tiles)


def test_missing_parts_say_not_built(corpus, tmp_path):
    root, _ = corpus
    part = tmp_path / "part"
    shutil.copytree(root, part, ignore=shutil.ignore_patterns("report"))
    for name in ("examples", "vocab", "filtered", "duplicates"):
        shutil.rmtree(part / name)
    out = part / "report"
    write_report(str(root), output=str(out), options=Options(verify=False))
    (out / "mine.png").write_bytes(b"not a chart of the report")
    assert (out / "masking.png").exists()
    written = write_report(str(part), options=Options(verify=False))
    assert not written.errors
    rep, _ = make_report(str(part), options=Options(charts=False, verify=False))
    status = {s.id: s.status for s in rep.sections}
    assert status == {"funnel": "partly built", "losses": "partly built", "documents": "partly built", "tokens": NOT_BUILT,
                      "vocab": NOT_BUILT, "samples": NOT_BUILT, "provenance": "", "decontamination": ""}
    html = (part / "report" / "index.html").read_text()
    for what in ("examples/: not built", "vocab/spiece.model: not built", "filtered/: not built"):
        assert what in html
    assert not (out / "masking.png").exists() and (out / "mine.png").exists()  # stale chart gone, others kept


def test_sampling_reads_fewer_examples(corpus):
    root, truth = corpus
    rep, _ = make_report(str(root), options=Options(charts=False, verify=False, max_examples=10))
    rows = {r[0]: r for r in table_with(section(rep, "tokens"), "split").rows}
    assert as_int(rows["train"][1]) == truth.examples["train"]
    assert 10 <= as_int(rows["train"][2]) < truth.examples["train"]


def test_span_reference_distributions():
    import math

    from pipelines.corpus.report.measure import span_reference

    ls = np.arange(1, 60)
    label, pmf = span_reference("poisson", 3.0, ls)
    expected = [math.exp(-3) * 3 ** k / math.factorial(k) for k in range(60)]
    assert "Poisson(3)" in label
    assert pmf[0] == pytest.approx(expected[0] + expected[1]) and pmf[2] == pytest.approx(expected[3])
    assert pmf.sum() == pytest.approx(1.0)
    label, pmf = span_reference("t5_uniform", 3.0, ls)
    assert "geometric" in label and pmf.sum() == pytest.approx(1.0)
    assert (pmf * ls).sum() == pytest.approx(3.0)


def test_sentinel_count_follows_config(corpus):
    from pipelines.corpus.report.vocab import Vocab

    _, truth = corpus
    v = Vocab(truth.model, num_sentinels=10)
    n = truth.n_pieces
    assert v.size == n + 10
    assert [p.text for p in v.decode([n + 9, n, 1])] == ["<extra_id_0>", "<extra_id_9>", "</s>"]
    assert v.decode([n + 10])[0].kind == "unknown"


def test_pick_row_groups():
    assert pick_row_groups([5, 5, 5], None) == [0, 1, 2]
    assert pick_row_groups([5, 5, 5], 15) == [0, 1, 2]
    picked = pick_row_groups([10] * 100, 95)
    assert picked[0] == 0 and picked[-1] == 99 and len(picked) == 10
    assert pick_row_groups([], 3) == []


def test_no_charts_and_missing_matplotlib(corpus, tmp_path, monkeypatch, capsys):
    root, _ = corpus
    rep, _ = make_report(str(root), options=Options(charts=False, verify=False))
    assert not rep.figures()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ReportError, match="pip install"):
        make_report(str(root), options=Options(verify=False))
    assert main(["report", str(root), "--output", str(tmp_path / "r")]) == 2
    assert "matplotlib" in capsys.readouterr().err
    assert main(["report", str(root), "--no-charts", "--skip-verify", "--output", str(tmp_path / "r")]) == 0
    assert "<img" not in (tmp_path / "r" / "index.html").read_text()


def test_cli_writes_report_deterministically(corpus, tmp_path, capsys):
    root, _ = corpus
    assert main(["report", str(root), "--output", str(tmp_path / "one")]) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'one' / 'index.html'}" in out
    assert main(["report", str(root), "--output", str(tmp_path / "two")]) == 0
    for name in ("index.html", "summary.md", "funnel.png"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_compare_two_versions(corpus, tmp_path):
    root, truth = corpus
    other = tmp_path / "other"
    make_corpus(other, docs=6, noise=0.3)
    written = write_report(str(root), compare=str(other), output=str(tmp_path / "cmp"), options=Options(verify=False))
    assert not written.errors
    rep, _ = make_report(str(root), compare=str(other), options=Options(verify=False))
    sec = rep.sections[0]
    assert sec.id == "compare"
    config = {r[0]: r[1:] for r in table_with(sec, "key").rows}
    assert config["examples.noise_density"] == ["0.3", "0.15"]
    counts = {r[0]: r[1:] for r in table_with(sec, "count").rows}
    assert counts["accounting.kept"][:3] == ["6", "8", "+2"]
    assert any(isinstance(b, Figure) and b.name == "compare.png" for b in sec.blocks)
    assert (tmp_path / "cmp" / "compare.png").exists()


def test_compare_names_its_direction_by_role_and_shows_config_values_as_written(corpus, tmp_path):
    root, _ = corpus
    other = tmp_path / "other"
    make_corpus(other, docs=6, seed=20240101)
    rep, _ = make_report(str(root), compare=str(other), options=Options(charts=False, verify=False))
    sec = rep.sections[0]
    assert sec.title.startswith(f"Changes from {other} (") and f") to {root} (" in sec.title
    assert "(A)" not in sec.title and "(B)" not in sec.title
    table = table_with(sec, "key")
    assert table.headers == ["key", "--compare", "this report"]
    assert {r[0]: r[1:] for r in table.rows}["seed"] == ["20240101", "5"]  # not 20,240,101


def test_overlaid_histograms_are_outlines_so_the_legend_matches():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from pipelines.corpus.report.charts import Charts, Panel

    ax = Figure().add_subplot()
    rng = np.random.default_rng(0)
    Charts()._hist(ax, Panel("length", "chars", [("raw", rng.normal(10, 2, 200)), ("clean", rng.normal(11, 2, 200))]))
    assert ax.patches and not any(p.get_fill() for p in ax.patches)


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--virtual-time-budget=5000"]
PROBE = ("<script>addEventListener('load',()=>{const i=[...document.images];"
         "document.title='IMAGES '+i.length+' BROKEN '+i.filter(x=>!x.complete||x.naturalWidth===0).length;});</script>")


def test_report_renders_in_headless_chromium(corpus, report, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed")
    root, _ = corpus
    page = root / "report" / "index.html"
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    flags = [chromium, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(flags + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    title = re.search(r"<title>IMAGES (\d+) BROKEN (\d+)</title>", dom.stdout)
    assert title, dom.stderr[-2000:]
    assert int(title.group(1)) == len(report.figures()) and int(title.group(2)) == 0
    shot = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri()],
                   capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 1280
