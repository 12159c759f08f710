"""Benchmark: the whole build, each stage of it, the vocabulary training, parallel and input scaling.

Run as ``python -m bench.bench_pipeline`` (or as part of ``python -m bench``). Corpus: the shared
novels (../shared/corpus/novels) cut into ``groups`` balanced groups of whole novels (4 groups of
~11.7 MB by default); size 1x is the first group, 2x the first two, 4x all four, i.e. the whole
novels folder: every size is distinct text. Without the folder, ``groups`` corpora of
``generated_mb`` each from pipelines.corpus.sample (one seed per group, ~44 MB in all, about the
novels' size). Figures (every one: median of ``repeats`` runs):

* ``vocab`` — sentencepiece training with the default [vocab] config on the segments of the
  ``stage_size`` slice (the sample the build would take), timed alone, and projected linearly to the
  ``sample_segments`` cap; its model is then passed to every build with ``--vocab``, so that the
  build figures exclude vocabulary training.
* ``stages`` — per stage (ingest, clean, dedupe, boilerplate, examples = split + segment + tokenize +
  mask, write) on the ``stage_size`` slice (default 1x): its functions in a plain loop vs the stage
  alone in an in-process FnApiRunner pipeline (bench/stages.py), MB of raw input per CPU second, and
  their ratio; plus what each stage's input weighs pickled and, for the tables, as Python objects.
* ``builds`` — ``longlm build`` as a subprocess at each size and worker setting: "inproc" (FnApiRunner
  in_memory, one worker), "1" / "2" (the default multi_processing runner with 1 / 2 worker
  processes); pipeline seconds (run.json), CPU seconds and peak RSS of the process tree, and the
  runner process's (the `longlm build` process: FnApiRunner control, shuffles, buffers) share.
* ``derived`` — speed-ups between worker settings, time and RSS ratio per size, marginal MB/s
  between the smallest and largest size and the fixed cost per build that implies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    BenchCorpus,
    combine_runs,
    fingerprint,
    generated_corpus,
    med,
    novels_corpus,
    run_measured,
    timed,
)

#: Beam flags per worker setting of the build.
WORKER_FLAGS = {
    "inproc": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "1": ["--direct_running_mode=multi_processing", "--direct_num_workers=1"],
    "2": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    "4": ["--direct_running_mode=multi_processing", "--direct_num_workers=4"],
}
WORKER_COUNT = {"inproc": 1, "1": 1, "2": 2, "4": 4}


@dataclass
class Settings:
    """What to run. Defaults are the full bench (fits 20 minutes on 2 cores with the sub-benches)."""

    repeats: int = 3
    groups: int = 4
    sizes: tuple = (1, 2, 4)
    workers: tuple = ("inproc", "1", "2")
    generated: bool = False
    generated_mb: float = 11.0
    stage_size: int = 1  # groups the per-stage bench and the vocab sample run on (1 = the 1x slice)
    workdir: Path | None = None  # None: a fresh temporary folder, made by run() and removed by the caller
    sections: tuple = ("vocab", "stages", "builds")


def load_corpus(s: Settings) -> BenchCorpus:
    """The novels in balanced groups, or generated groups when absent (or when asked for)."""
    corpus = None if s.generated else novels_corpus(s.groups)
    return corpus or generated_corpus(s.groups, s.generated_mb, s.workdir / "generated")


# ------------------------------------------------------------------------------------------ preparation
def prepare(cfg, corpus: BenchCorpus, size: int = 1) -> dict:
    """Run the plain loops once over the first `size` groups (warm-up) and keep every stage's input."""
    from bench import stages as st
    from transforms.ingest.parse import InputFile

    files = [InputFile(path=str(p), source=p.name) for p in corpus.files(size)]
    ing = st.loop_ingest(cfg, files)
    cl = st.loop_clean(cfg, ing["documents"])
    dd = st.loop_dedupe(cfg, cl["kept"])
    bp = st.loop_boilerplate(cfg, dd["kept"])
    _, segments = st.split_and_segment(cfg, bp["kept"])
    return {
        "raw_mb": corpus.mb(size),
        "files": files,
        "ingest": ing,
        "clean": cl,
        "dedupe": dd,
        "boilerplate": bp,
        "segments": segments,
    }


def stage_inputs(prepared: dict, examples: dict) -> dict[str, dict[str, list]]:
    """Stage name -> {input name: elements}, for both the loop and (pickled) the pipeline."""
    return {
        "ingest": {"files": prepared["files"]},
        "clean": {"docs": prepared["ingest"]["documents"]},
        "dedupe": {"docs": prepared["clean"]["kept"]},
        "boilerplate": {"docs": prepared["dedupe"]["kept"]},
        "examples": {"docs": prepared["boilerplate"]["kept"]},
        "write": {
            "documents": examples["documents"],
            "examples_train": examples["train"],
            "examples_validation": examples["validation"],
            "rejects": prepared["ingest"]["rejects"],
            "filtered": prepared["clean"]["filtered"],
            "duplicates": prepared["dedupe"]["duplicates"],
        },
    }


# ------------------------------------------------------------------------------------------ vocab
def bench_vocab(cfg, segments: list[dict], repeats: int) -> tuple[bytes, dict]:
    """Train the vocabulary as the build would (default [vocab] config, its sample rule) `repeats`
    times. Returns (model bytes, combined figures). The model must come out identical every time."""
    from transforms.vocab import _train_on_sample, sample_key

    vcfg = cfg.vocab
    sample = sorted(segments, key=lambda seg: sample_key(cfg.seed, seg))[: vcfg.sample_segments]
    sample = [(None, seg["text"]) for seg in sample]
    chars = sum(len(t) for _, t in sample)
    runs, model = [], None
    for _ in range(repeats):
        t = timed(_train_on_sample, sample, vcfg, cfg.seed)
        if model is not None and t.result != model:
            raise RuntimeError("vocab training is not deterministic: two runs gave different models")
        model = t.result
        full = vcfg.sample_segments / len(sample)  # the sample grows with the corpus up to this cap
        runs.append({
            "seconds": t.wall_s,
            "cpu_s": t.cpu_s,
            "chars_per_s": chars / t.wall_s,
            "projected_seconds_at_cap": t.wall_s * max(1.0, full),
        })
    info = {"sample_segments": len(sample), "sample_chars": chars, "vocab_size": vcfg.vocab_size,
            "num_threads": vcfg.num_threads, "sample_segments_cap": vcfg.sample_segments}
    return model, {**info, **combine_runs(runs)}


# ------------------------------------------------------------------------------------------ stages
def bench_stages(cfg, inputs: dict, model: bytes, raw_mb: float, repeats: int, workdir: Path) -> dict:
    """Per stage: plain loop vs the stage alone in an in-process pipeline; plus all stages summed."""
    from bench import stages as st

    sources = {name: {k: st.write_pickles(v, workdir / "inputs" / name / k) for k, v in ins.items()}
               for name, ins in inputs.items()}
    pickled = {name: {k: sum(os.path.getsize(f) for f in files) / 1e6 for k, files in srcs.items()}
               for name, srcs in sources.items()}
    decoded = {k: st.decoded_mb(paths) for k, paths in sources["write"].items()}
    extras = {"examples": model, "write": str(workdir / "write_out")}
    per_stage: dict[str, list] = {s.name: [] for s in st.STAGES}
    totals = []
    for _ in range(repeats):
        loop_cpu = pipe_cpu = 0.0
        for stage in st.STAGES:
            r = st.run_stage(stage, cfg, inputs[stage.name], sources[stage.name], extras.get(stage.name), raw_mb)
            per_stage[stage.name].append(r)
            loop_cpu += r["loop_cpu_s"]
            pipe_cpu += r["pipeline_cpu_s"]
        totals.append({"loop_cpu_s": loop_cpu, "pipeline_cpu_s": pipe_cpu, "loop_mb_per_cpu_s": raw_mb / loop_cpu,
                       "pipeline_mb_per_cpu_s": raw_mb / pipe_cpu, "beam_overhead": pipe_cpu / loop_cpu})
    out = {name: combine_runs(runs) for name, runs in per_stage.items()}
    out["all_stages"] = combine_runs(totals)
    out["raw_mb"] = raw_mb
    out["pickled_input_mb"] = pickled  # what each stage's input weighs serialized (a proxy for shuffle bytes)
    out["decoded_write_input_mb"] = decoded  # the tables' rows as Python objects (what a shard writer holds)
    return out


# ------------------------------------------------------------------------------------------ builds
def build_once(input_glob: str, output: Path, model_path: Path, workers: str) -> dict:
    """One `longlm build` subprocess (vocab reused); figures from run.json, the manifest and the tree."""
    if output.exists():
        shutil.rmtree(output)
    cmd = [sys.executable, "-m", "pipelines.cli", "build", "--input", input_glob, "--output", str(output),
           "--vocab", str(model_path), *WORKER_FLAGS[workers]]
    m = run_measured(cmd)
    if m["returncode"] != 0:
        raise RuntimeError(f"build failed ({' '.join(cmd)}):\n{m['output_tail']}")
    run_info = json.loads((output / "run.json").read_text())
    manifest = json.loads((output / "manifest.json").read_text())
    mb = sum(i["bytes"] for i in manifest["inputs"]) / 1e6
    seconds = run_info["seconds"]
    n = WORKER_COUNT[workers]
    return {
        "input_mb": mb,
        "seconds": seconds,
        "process_wall_s": m["wall_s"],
        "cpu_s": m["cpu_s"],
        "peak_tree_rss_mb": m["peak_tree_rss_mb"],
        "peak_process_rss_mb": m["peak_process_rss_mb"],
        "runner_rss_mb": m["peak_root_rss_mb"],
        "runner_cpu_share": m["root_cpu_s"] / m["cpu_s"] if m["cpu_s"] else None,
        "mb_per_s": mb / seconds,
        "mb_per_s_per_core": mb / seconds / n,
        "mb_per_cpu_s": mb / m["cpu_s"],
        "load_1min": os.getloadavg()[0],
        "kept_documents": manifest["accounting"]["kept"],
        "read_documents": manifest["accounting"]["read"],
    }


def build_configs(s: Settings) -> list[tuple[int, str]]:
    """(size, workers) pairs: every worker setting at the smallest size, the most workers at each size."""
    most = max(s.workers, key=lambda w: (WORKER_COUNT[w], w != "inproc"))
    configs = [(min(s.sizes), w) for w in s.workers]
    configs += [(k, most) for k in sorted(s.sizes) if k != min(s.sizes)]
    return configs


def derived(runs: dict[tuple[int, str], dict], s: Settings) -> dict:
    """Per-repeat comparisons between configs (speed-ups, scaling ratios, marginal rate)."""
    small = min(s.sizes)
    most = max(s.workers, key=lambda w: (WORKER_COUNT[w], w != "inproc"))
    out: dict = {}
    for w in s.workers:
        if w != most:
            out[f"speedup_{most}_vs_{w}"] = runs[(small, w)]["seconds"] / runs[(small, most)]["seconds"]
    base = runs[(small, most)]
    for k in sorted(s.sizes):
        r = runs[(k, most)]
        size_ratio = r["input_mb"] / base["input_mb"]
        out[f"{k}x_time_ratio"] = r["seconds"] / base["seconds"]
        out[f"{k}x_size_ratio"] = size_ratio
        out[f"{k}x_time_per_size"] = r["seconds"] / base["seconds"] / size_ratio
        out[f"{k}x_rss_ratio"] = r["peak_tree_rss_mb"] / base["peak_tree_rss_mb"]
    big = runs[(max(s.sizes), most)]
    if max(s.sizes) != small and big["seconds"] > base["seconds"]:
        marginal = (big["input_mb"] - base["input_mb"]) / (big["seconds"] - base["seconds"])
        out["marginal_mb_per_s"] = marginal
        out["marginal_mb_per_s_per_core"] = marginal / WORKER_COUNT[most]
        out["fixed_seconds"] = base["seconds"] - base["input_mb"] / marginal
    return out


def bench_builds(corpus: BenchCorpus, model_path: Path, s: Settings) -> dict:
    """Every (size, workers) build `s.repeats` times, interleaved so load changes hit all alike."""
    configs = build_configs(s)
    globs = {k: corpus.materialize(k, s.workdir / f"input-{k}x") for k in sorted(set(k for k, _ in configs))}
    per_config: dict = {c: [] for c in configs}
    comparisons = []
    for _ in range(s.repeats):
        this = {}
        for k, w in configs:
            this[(k, w)] = build_once(globs[k], s.workdir / f"build-{k}x-{w}", model_path, w)
            per_config[(k, w)].append(this[(k, w)])
        comparisons.append(derived(this, s))
    out = {f"{k}x_workers_{w}": combine_runs(runs) for (k, w), runs in per_config.items()}
    out["derived"] = combine_runs(comparisons)
    out["sizes_mb"] = {f"{k}x": corpus.mb(k) for k in sorted(s.sizes)}
    out["slices"] = {f"{k}x": fingerprint(corpus.files(k)) for k in sorted(s.sizes)}
    most = max(s.workers, key=lambda w: (WORKER_COUNT[w], w != "inproc"))
    out["largest"] = f"{max(s.sizes)}x_workers_{most}"
    return out


# ------------------------------------------------------------------------------------------ all
def run(s: Settings, cfg=None) -> dict:
    """Everything in `s.sections`; returns the figures (corpus, vocab, stages, builds)."""
    from pipelines.build.config import load_config

    cfg = cfg or load_config(None)
    if s.workdir is None:
        s.workdir = Path(tempfile.mkdtemp(prefix="longlm-bench-"))
    s.workdir.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(s)
    figures: dict = {"corpus": corpus.description, "sizes_mb": {f"{k}x": corpus.mb(k) for k in sorted(s.sizes)},
                     "repeats": s.repeats}
    prepared = prepare(cfg, corpus, s.stage_size)
    model, figures["vocab"] = bench_vocab(cfg, prepared["segments"], s.repeats if "vocab" in s.sections else 1)
    model_path = s.workdir / "spiece.model"
    model_path.write_bytes(model)
    if "stages" in s.sections:
        from bench.stages import loop_examples

        examples = loop_examples(cfg, prepared["boilerplate"]["kept"], model)
        inputs = stage_inputs(prepared, examples)
        figures["stages"] = bench_stages(cfg, inputs, model, prepared["raw_mb"], s.repeats, s.workdir)
        figures["stages"]["slice"] = f"{s.stage_size}x"
        del examples, inputs
    del prepared  # the builds run in subprocesses; free this process's copy of the corpus first
    if "builds" in s.sections:
        figures["builds"] = bench_builds(corpus, model_path, s)
    return figures


def whole_build(figures: dict) -> dict:
    """The headline: the largest build with the most workers (MB/s per core, wall and CPU based)."""
    b = figures.get("builds") or {}
    key = b.get("largest")
    if not key:
        return {}
    return {"config": key, "input_mb": med(b, key, "input_mb"), "seconds": med(b, key, "seconds"),
            "mb_per_s_per_core": med(b, key, "mb_per_s_per_core"), "mb_per_cpu_s": med(b, key, "mb_per_cpu_s")}


def parse_args(argv=None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m bench.bench_pipeline", description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--groups", type=int, default=4, help="the novels are cut into this many equal groups; 1x = one")
    p.add_argument("--sizes", default="1,2,4", help="input sizes in groups (comma-separated)")
    p.add_argument("--workers", default="inproc,1,2", help="worker settings: inproc, 1, 2, 4 (comma-separated)")
    p.add_argument("--generated", action="store_true", help="use a generated corpus even when the novels exist")
    p.add_argument("--generated-mb", type=float, default=11.0, help="size of one generated group (MB)")
    p.add_argument("--sections", default="vocab,stages,builds")
    p.add_argument("--stage-size", type=int, default=1, help="groups the stage bench and vocab sample use")
    a = p.parse_args(argv)
    return Settings(repeats=a.repeats, groups=a.groups, sizes=tuple(int(x) for x in a.sizes.split(",")),
                    workers=tuple(a.workers.split(",")), generated=a.generated, generated_mb=a.generated_mb,
                    sections=tuple(a.sections.split(",")), stage_size=a.stage_size)


def main(argv=None) -> dict:
    s = parse_args([] if argv is None else argv)
    try:
        figures = run(s)
    finally:
        if s.workdir:
            shutil.rmtree(s.workdir, ignore_errors=True)
    print(json.dumps(figures, indent=1, ensure_ascii=False, default=str))
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
