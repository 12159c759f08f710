"""Each build stage twice: its pure functions in a plain Python loop, and its Beam transform alone.

The Beam side is the build's own wiring: a bench stage names the entries of ``pipelines.build.stages.STAGES``
it runs, applied by the build's stage walker (``pipelines.build.assembler.run_stages``), and the write bench
takes its tables from the same list, so nothing here wires a stage a second time.

Both sides do the same work on the same pre-materialized inputs (the loop of the previous stage
produces them) and must produce the same number of rows, which :func:`run_stage` checks. The loop is
what a plain single-process script would run, heavy objects included (Cleaner, OpenCC, jieba,
sentencepiece are built inside the timed call, as the DoFns build them in ``setup``).

Stages (as the issue names them): ingest, clean (normalize + quality filters), dedupe (exact +
MinHash-LSH, boilerplate off), boilerplate (cross-document lines), examples (split + segment +
tokenize + mask), write (the Parquet shard writer for documents, examples and the side tables).

The pipeline side runs on the FnApiRunner in-process (one worker, so its CPU time is this
process's) and reads its input from pickled shards; the same pipeline without the stage (read +
sink only) is timed right before it and subtracted, so the figure is the stage's own cost inside Beam.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import apache_beam as beam

from bench.common import timed

IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
#: The tables the write bench writes (as pipelines.build.stages.STAGES declares them), by "directory" with _ for /.
WRITE_TABLES = ("documents", "examples_train", "examples_validation", "rejects", "filtered", "duplicates")


# ------------------------------------------------------------------------------------------ plain loops
def loop_ingest(cfg, files: list) -> dict:
    """Read each file (transforms.ingest.parse.InputFile), sha256 it (as ingest does for the manifest), parse it."""
    from transforms.ingest.parse import parse_source

    docs, rejects = [], []
    for item in files:
        raw = Path(item.path).read_bytes()
        hashlib.sha256(raw).hexdigest()
        for kind, row in parse_source(item.source, raw, cfg.ingest):
            (docs if kind == "doc" else rejects).append(row)
    return {"documents": docs, "rejects": rejects}


def loop_clean(cfg, docs: list[dict]) -> dict:
    """Cleaner.clean + quality_check + han_count per document (transforms.cleaning.stage's work)."""
    from transforms.cleaning.cleaner import Cleaner
    from transforms.cleaning.filters import quality_check
    from transforms.cleaning.stage import filtered_row
    from transforms.documents import with_text

    cleaner = Cleaner(cfg.clean)
    kept, filtered = [], []
    for doc in docs:
        raw = doc.get("text") or ""
        result = cleaner.clean(raw)
        verdict = quality_check(raw, result, cfg.filter)
        if verdict is not None:
            filtered.append(filtered_row(doc, verdict, result.text))
            continue
        kept.append(with_text(doc, result.text))
    return {"kept": kept, "filtered": filtered}


def _summaries(cfg, docs: list[dict]) -> list[dict]:
    from transforms.dedupe.keytext import exact_hash, han_count, key_text, make_converter, nfkc
    from transforms.dedupe.minhash import permutations, shingle_hashes, sig_to_bytes, signature, unique_hashes

    converter, perms = make_converter(), permutations(cfg.num_perm, cfg.minhash_seed)
    out = []
    for doc in docs:
        text, han = doc["text"], doc.get("han_chars")
        normalized = nfkc(text)
        s = {"doc_id": doc["doc_id"], "exact": exact_hash(normalized), "sig": None, "size": 0, "copies": 1,
             "han": han_count(text) if han is None else int(han)}
        if cfg.near:
            hashes = shingle_hashes(key_text(normalized, converter), cfg.ngram)
            if hashes.size:
                s["sig"], s["size"] = sig_to_bytes(signature(hashes, perms)), int(hashes.size)
                if cfg.containment or cfg.verify_exact_jaccard:  # as the stage: distinct sizes, exact sets
                    s["set"] = unique_hashes(hashes)
                    s["size"] = int(s["set"].size)
        out.append(s)
    return out


def _near_edges(cfg, reps: list[dict]) -> list[tuple[str, str]]:
    from transforms.dedupe.lsh import CONTAINMENT_NS, JACCARD_NS, CandidateEdges, band_keys, classified_bucket_edges
    from transforms.dedupe.minhash import sig_from_bytes

    lsh = CandidateEdges(cfg)  # only for its bands, rows and verifier: the same choice the stage makes
    buckets = defaultdict(list)
    sets = {}
    for r in reps:
        if r["sig"] is not None:
            sig = sig_from_bytes(r["sig"])
            keys = band_keys(sig, lsh.bands, lsh.rows, JACCARD_NS)
            if lsh.c_bands:
                keys += band_keys(sig, lsh.c_bands, lsh.c_rows, CONTAINMENT_NS)
            for key in keys:
                buckets[key].append((r["doc_id"], r["sig"], r["size"]))
            sets[r["doc_id"]] = r.get("set")
    edges, check = set(), set()
    for members in buckets.values():
        if len(members) > 1:
            sure, to_check, _ = classified_bucket_edges(members, lsh.verifier, cfg.max_bucket_size)
            edges.update(sure)
            check.update(to_check)
    edges.update((a, b) for a, b in check if sets[a] is None or lsh.verifier.passes_exact(sets[a], sets[b]))
    return sorted(edges)


def loop_dedupe(cfg, docs: list[dict]) -> dict:
    """transforms.dedupe without Beam: summaries, exact groups, LSH buckets, union-find, keep rule."""
    from transforms.dedupe.components import union_find_components
    from transforms.dedupe.exact import collapse_copies, link_exact
    from transforms.dedupe.stage import _copy_order, decide_cluster, duplicate_row

    dcfg = cfg.dedupe
    by_id = defaultdict(list)
    for s in _summaries(dcfg, docs):
        by_id[s["doc_id"]].append(s)
    members = [collapse_copies(group) for group in by_id.values()]
    reps, edges = members, []
    if dcfg.exact:
        by_hash = defaultdict(list)
        for m in members:
            by_hash[m["exact"]].append(m)
        reps = []
        for group in by_hash.values():
            rep, group_edges = link_exact(group)
            reps.append(rep)
            edges += group_edges
    if dcfg.near:
        edges += _near_edges(dcfg, reps)
    roots = union_find_components(edges)
    clusters = defaultdict(list)
    for m in members:
        clusters[roots.get(m["doc_id"], m["doc_id"])].append(m)
    decisions = dict(d for cid, ms in clusters.items() for d in decide_cluster(cid, ms, dcfg))
    docs_by_id = defaultdict(list)
    for doc in docs:
        docs_by_id[doc["doc_id"]].append(doc)
    kept, duplicates = [], []
    for doc_id, copies in docs_by_id.items():
        decision = decisions[doc_id]
        first, *rest = sorted(copies, key=_copy_order)
        if decision["kind"] is None:
            kept.append(dict(first, cluster_id=decision["cluster_id"], cluster_size=decision["cluster_size"],
                             boilerplate_lines_removed=0))
        else:
            duplicates.append(duplicate_row(first, decision, decision["kind"], decision["similarity"],
                                            decision.get("containment")))
        duplicates += [duplicate_row(c, decision, "exact", 1.0, 1.0) for c in rest]
    return {"kept": kept, "duplicates": duplicates}


def loop_boilerplate(cfg, docs: list[dict]) -> dict:
    """Count eligible lines per document, find the frequent ones, remove them."""
    from transforms.dedupe.boilerplate import _load_heading_test, doc_line_keys, remove_lines
    from transforms.documents import with_text

    bcfg, is_heading = cfg.boilerplate, _load_heading_test()
    counts: Counter = Counter()
    for doc in docs:
        counts.update(doc_line_keys(doc["text"], bcfg, is_heading))
    patterns = {key for key, n in counts.items() if n >= bcfg.min_docs}
    out = []
    for doc in docs:
        text, removed = remove_lines(doc["text"], patterns, bcfg, is_heading)
        row = dict(doc, boilerplate_lines_removed=removed)
        out.append(with_text(row, text) if removed else row)
    return {"kept": out}


def split_and_segment(cfg, docs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(documents with `split` set, their segments): transforms.splits + transforms.segment."""
    from transforms.segment import segment_document
    from transforms.splits import split_key, split_of

    smallest = min((split_key(cfg.seed, d["doc_id"]) for d in docs), default=None)
    fraction = cfg.examples.validation_fraction
    split_docs = [dict(d, split=split_of(cfg.seed, d["doc_id"], fraction, smallest)) for d in docs]
    budget = cfg.segment.budget_chars(cfg.examples)
    segments = [s for d in split_docs for s in segment_document(d, budget, cfg.segment)[0]]
    return split_docs, segments


def loop_examples(cfg, docs: list[dict], model: bytes) -> dict:
    """Split + segment + tokenize + mask: documents -> EXAMPLES rows per split."""
    from transforms.examples.build import segment_examples
    from transforms.examples.tokenize import SpmTokenizer
    from transforms.examples.words import JiebaIndex

    ecfg = cfg.examples
    tok = SpmTokenizer(model, ecfg.num_sentinels)
    jieba_index = JiebaIndex() if ecfg.snap_to_words else None
    split_docs, segments = split_and_segment(cfg, docs)
    rows = {"train": [], "validation": []}
    for seg in segments:
        for split, row in segment_examples(seg, tok, jieba_index, ecfg, cfg.seed)[0]:
            rows[split].append(row)
    return {"documents": split_docs, "train": rows["train"], "validation": rows["validation"]}


def _table_specs(cfg) -> dict:
    """name -> (spec, shards, subdir, row group size) of the WRITE_TABLES, as pipelines.build.stages.STAGES declares
    them. Shard counts 0 (derived from the input size at launch) are measured with 8, as before auto-sizing."""
    from pipelines.build.stages import STAGES

    o = cfg.output
    tables = {t.directory.replace("/", "_"): t for s in STAGES for t in s.tables}
    return {name: (t.spec, getattr(o, t.shards) or 8, t.subdir, getattr(o, t.row_group) if t.row_group else 1024)
            for name, t in ((name, tables[name]) for name in WRITE_TABLES)}


def loop_write(cfg, tables: dict[str, list[dict]], out_dir: str) -> dict:
    """transforms.shard_writer without Beam: shard by key hash, sort, encode zstd Parquet, write atomically."""
    from apache_beam.io.filesystems import FileSystems

    from transforms.atomic_files import write_atomically
    from transforms.shard_writer import shard_name, shard_of, sort_rows, table_bytes

    files: dict[str, list] = {}
    for name, (spec, n, subdir, row_group) in _table_specs(cfg).items():
        files[name] = []
        shards = defaultdict(list)
        for row in tables[name]:
            shards[shard_of(row[spec.key], n)].append(row)
        directory = FileSystems.join(out_dir, subdir or spec.name)
        for index in range(n):
            data = table_bytes(sort_rows(shards[index], spec.key), spec, row_group)
            write_atomically(FileSystems.join(directory, shard_name(index, n)), data)
            files[name].append({"shard": index, "bytes": len(data)})
    return files


# ------------------------------------------------------------------------------------------ pipelines
def pipe_build(names: tuple[str, ...], cfg, pcolls: dict, model: bytes | None = None) -> dict:
    """Apply the build's stages `names` (pipelines.build.stages.STAGES, wired by its own walker) to the one input
    PCollection; the vocab stage's model is `model` (a Create). Returns every main and side output by name."""
    from pipelines.build.assembler import Context, run_stages
    from pipelines.build.stages import STAGES
    from transforms.result import StageResult

    (source,) = pcolls.values()
    ctx = Context(cfg, "", None)
    if model is not None:
        ctx.results["Vocab"] = StageResult(source.pipeline | "Model" >> beam.Create([model]), "model")
    run_stages(source, [s for s in STAGES if s.name in names], ctx)
    outputs = {}
    for result in ctx.results.values():
        outputs.update({result.main_name: result.main, **result.side})
    return outputs


def pipe_boilerplate(cfg, pcolls: dict, extra) -> dict:
    from transforms.dedupe.boilerplate import RemoveBoilerplate

    kept, _ = pcolls["docs"] | "Boilerplate" >> RemoveBoilerplate(cfg.boilerplate)
    return {"kept": kept}


def pipe_write(cfg, pcolls: dict, out_dir: str) -> dict:
    from transforms.shard_writer import WriteTable

    files = {}
    for name, (spec, n, subdir, row_group) in _table_specs(cfg).items():
        files[name] = pcolls[name] | f"Write_{name}" >> WriteTable(spec, out_dir, n, subdir, row_group)
    return files


# ------------------------------------------------------------------------------------------ running
def write_pickles(elements: list, directory: Path, shards: int = 16) -> list[str]:
    """Pickle `elements` into up to `shards` files of consecutive elements; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    n = max(1, min(shards, len(elements)))
    paths = []
    for i in range(n):
        path = directory / f"part-{i:03d}.pkl"
        path.write_bytes(pickle.dumps(elements[i * len(elements) // n : (i + 1) * len(elements) // n], protocol=5))
        paths.append(str(path))
    return paths


def decoded_mb(paths: list[str]) -> float:
    """MB of Python objects the pickled elements in `paths` become when loaded (tracemalloc over the
    largest file, scaled by pickled size): what a worker holds when it groups them in memory."""
    if not paths:
        return 0.0
    sizes = {p: os.path.getsize(p) for p in paths}
    probe = max(paths, key=lambda p: sizes[p])
    tracemalloc.start()
    try:
        data = _load(probe)
        held = tracemalloc.get_traced_memory()[0]
        del data
    finally:
        tracemalloc.stop()
    return held * sum(sizes.values()) / max(sizes[probe], 1) / 1e6


def _load(path: str):
    with open(path, "rb") as f:
        return pickle.load(f)


class _Count(beam.DoFn):
    """Sink: counts the elements of one output in the Beam metric bench/<name>."""

    def __init__(self, name: str):
        self._name = name

    def setup(self):
        self._counter = beam.metrics.Metrics.counter("bench", self._name)

    def process(self, element):
        self._counter.inc()


def run_pipeline(sources: dict[str, list[str]], build: Callable | None, keep=None) -> tuple[object, dict[str, int]]:
    """Time one in-process FnApiRunner pipeline: read pickled `sources`, apply `build(pcolls)` (None:
    nothing), and count every output (those named in `keep`, when given). Returns (Timed, {name: count})."""
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    def go():
        p = beam.Pipeline(options=PipelineOptions(IN_PROCESS))
        pcolls = {name: p | f"Paths_{name}" >> beam.Create(paths) | f"Load_{name}" >> beam.FlatMap(_load)
                  for name, paths in sources.items()}
        outputs = build(pcolls) if build else pcolls
        for name, pc in outputs.items():
            if keep is not None and build is not None and name not in keep:
                continue
            _ = pc | f"Sink_{name}" >> beam.ParDo(_Count(name))
        result = p.run()
        result.wait_until_finish()
        return result

    t = timed(go)
    counters = t.result.metrics().query(MetricsFilter().with_namespace("bench"))["counters"]
    counts = {name: 0 for name in sources}
    counts.update({c.key.metric.name: int(c.committed or c.attempted or 0) for c in counters})
    return t, counts


@dataclass
class Stage:
    """A bench stage: its loop (cfg, inputs, extra) -> outputs, and its pipeline: the build stages it runs
    (`build`, with `cfg_for` applied to the config) or, for work that is no build stage, a builder."""

    name: str
    loop: Callable
    build: tuple[str, ...] = ()
    pipeline: Callable | None = None
    cfg_for: Callable = lambda cfg: cfg  # noqa: E731 - the config the build stages run with

    def pipe(self, cfg, pcolls: dict, extra) -> dict:
        if self.pipeline is not None:
            return self.pipeline(cfg, pcolls, extra)
        return pipe_build(self.build, self.cfg_for(cfg), pcolls, extra if "Examples" in self.build else None)


STAGES = [
    Stage("ingest", lambda cfg, x, extra: loop_ingest(cfg, x["files"]), ("Ingest",)),
    Stage("clean", lambda cfg, x, extra: loop_clean(cfg, x["docs"]), ("Clean",)),
    Stage("dedupe", lambda cfg, x, extra: loop_dedupe(cfg, x["docs"]), ("Dedupe",),
          cfg_for=lambda cfg: cfg.replace("boilerplate", enabled=False)),
    Stage("boilerplate", lambda cfg, x, extra: loop_boilerplate(cfg, x["docs"]), pipeline=pipe_boilerplate),
    Stage("examples", lambda cfg, x, extra: loop_examples(cfg, x["docs"], extra), ("Split", "Segment", "Examples")),
    Stage("write", lambda cfg, x, extra: loop_write(cfg, x, extra), pipeline=pipe_write),
]


def run_stage(stage: Stage, cfg, inputs: dict[str, list], sources: dict[str, list[str]], extra, raw_mb: float) -> dict:
    """One repeat of one stage: plain loop, pipeline without the stage, pipeline with it (back to back).

    Figures: loop / pipeline CPU and wall seconds, MB of raw input per CPU second for both, and
    ``beam_overhead`` = pipeline stage CPU seconds / loop CPU seconds. Raises when the two disagree on
    the number of rows of any output.
    """
    loop = timed(stage.loop, cfg, inputs, extra)
    base, _ = run_pipeline(sources, None)
    with_stage, counts = run_pipeline(sources, lambda pcolls: stage.pipe(cfg, pcolls, extra), keep=set(loop.result))
    expected = {name: len(rows) for name, rows in loop.result.items()}
    got = {name: counts.get(name, 0) for name in expected}
    if got != expected:
        raise RuntimeError(f"stage {stage.name}: pipeline rows {got} != plain loop rows {expected}")
    extra_figures = {}
    if stage.name == "write":  # Parquet MB per table: sizes the output shards in the scale plan
        extra_figures["parquet_mb"] = {t: sum(f["bytes"] for f in files) / 1e6 for t, files in loop.result.items()}
    cpu = max(with_stage.cpu_s - base.cpu_s, 1e-6)
    wall = max(with_stage.wall_s - base.wall_s, 1e-6)
    return {
        "loop_cpu_s": loop.cpu_s,
        "loop_wall_s": loop.wall_s,
        "pipeline_cpu_s": cpu,
        "pipeline_wall_s": wall,
        "read_baseline_cpu_s": base.cpu_s,
        "loop_mb_per_cpu_s": raw_mb / max(loop.cpu_s, 1e-6),
        "pipeline_mb_per_cpu_s": raw_mb / cpu,
        "beam_overhead": cpu / max(loop.cpu_s, 1e-6),
        "beam_overhead_wall": wall / max(loop.wall_s, 1e-6),
        "rows": expected,
        **extra_figures,
    }
