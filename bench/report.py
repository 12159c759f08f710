"""The one table `python -m bench` prints, the limits it names, and the 120 GB scale plan.

Everything here is arithmetic on the figures the benches returned (medians); nothing is measured.
"""

from __future__ import annotations

import math

from bench.common import med

TARGET_MB_PER_S_PER_CORE = 1.0
#: The scale plan: corpus size, Dataflow machine type and its vCPUs (one SDK process per vCPU).
PLAN_CORPUS_MB = 120_000
PLAN_MACHINE, PLAN_VCPUS, PLAN_MEMORY_GB = "n2-highmem-4", 4, 32
PLAN_WALL_HOURS = (1.0, 4.0)
#: Largest shard (rows as Python objects) one SDK process should group, sort and encode.
SHARD_MEMORY_GB = 1.0
STAGE_LABELS = {
    "ingest": "ingest (read, sha256, decode)",
    "clean": "clean (normalize + filters)",
    "dedupe": "dedupe (exact + MinHash-LSH)",
    "boilerplate": "boilerplate lines",
    "examples": "segment+tokenize+mask (+split)",
    "write": "write (Parquet shards)",
}


def _f(x, digits: int = 2, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return f"{x:,.{digits}f}{unit}"


def _pipeline_rows(p: dict) -> list[tuple]:
    rows = []
    b = p.get("builds") or {}
    key = b.get("largest")
    if key:
        per_core = med(b, key, "mb_per_s_per_core")
        rows.append(("whole build (vocab excluded)", f"MB/s per core, {key.replace('_workers_', ', workers ')}"
                     f" ({_f(med(b, key, 'input_mb'), 1)} MB)", _f(per_core),
                     f"target {TARGET_MB_PER_S_PER_CORE:.1f}: {_f(per_core / TARGET_MB_PER_S_PER_CORE)}x of it",
                     f"{_f(med(b, key, 'seconds'), 1)} s; {_f(med(b, key, 'mb_per_cpu_s'))} MB per CPU-s"))
        d = b.get("derived", {})
        if med(d, "marginal_mb_per_s_per_core") is not None:
            rows.append(("whole build", "marginal MB/s per core (1x -> largest)", _f(med(d, "marginal_mb_per_s_per_core")),
                         f"fixed cost {_f(med(d, 'fixed_seconds'), 1)} s per build", "slope of time vs size"))
        for w in ("inproc", "1", "2", "4"):
            cfg = _smallest_build(b, w)
            if cfg and cfg.startswith("1x"):
                rows.append(("parallel scaling", f"1x build, workers {w}: seconds / MB/s per core",
                             f"{_f(med(b, cfg, 'seconds'), 1)} / {_f(med(b, cfg, 'mb_per_s_per_core'))}",
                             f"{_f(med(b, cfg, 'mb_per_cpu_s'))} MB per CPU-s",
                             "one process" if w == "inproc" else
                             f"runner process {_f(100 * (med(b, cfg, 'runner_cpu_share') or 0), 0)}% of the CPU"))
        for name in sorted(k for k in d if k.startswith("speedup_")):
            most, other = name[len("speedup_"):].split("_vs_")
            rows.append(("parallel scaling", f"speed-up: {most} workers vs {other}" + (" (in-process)" if other == "inproc" else ""),
                         _f(med(d, name)) + "x", f"ideal {int(most) / 1:.1f}x" if other != "inproc" else "",
                         "1x slice, same machine, same run"))
        for size in sorted((k for k in b.get("sizes_mb", {})), key=lambda s: int(s[:-1])):
            cfg = f"{size}_workers_{key.rsplit('_', 1)[1]}"
            rows.append(("input scaling", f"{size} ({_f(b['sizes_mb'][size], 1)} MB): seconds / peak tree RSS MB",
                         f"{_f(med(b, cfg, 'seconds'), 1)} / {_f(med(b, cfg, 'peak_tree_rss_mb'), 0)}",
                         f"time/size vs 1x {_f(med(d, f'{size}_time_per_size'))}; RSS vs 1x {_f(med(d, f'{size}_rss_ratio'))}",
                         f"runner process {_f(med(b, cfg, 'runner_rss_mb'), 0)} MB"))
    v = p.get("vocab") or {}
    if v:
        rows.append(("vocab (excluded above)", f"sentencepiece training, {v['sample_segments']} segments, "
                     f"{v['vocab_size']} pieces, {v['num_threads']} threads", _f(med(v, "seconds"), 1) + " s",
                     f"~{_f(med(v, 'projected_seconds_at_cap'), 0)} s at the {v['sample_segments_cap']}-segment cap",
                     "one worker, runs once per corpus version"))
    st = p.get("stages") or {}
    for name, label in STAGE_LABELS.items():
        if name in st:
            rows.append((f"stage, {st.get('slice', '1x')} slice ({_f(st['raw_mb'], 1)} MB)", f"{label}: MB/s per core, loop / pipeline",
                         f"{_f(med(st, name, 'loop_mb_per_cpu_s'))} / {_f(med(st, name, 'pipeline_mb_per_cpu_s'))}",
                         f"Beam overhead {_f(med(st, name, 'beam_overhead'))}x", "CPU s; pipeline = in-process, net of reading"))
    if "all_stages" in st:
        rows.append(("stages, all", "MB/s per core, loop / pipeline",
                     f"{_f(med(st, 'all_stages', 'loop_mb_per_cpu_s'))} / {_f(med(st, 'all_stages', 'pipeline_mb_per_cpu_s'))}",
                     f"Beam overhead {_f(med(st, 'all_stages', 'beam_overhead'))}x", "sum of the stage times above"))
    return rows


def _sub_rows(figures: dict) -> list[tuple]:
    rows = []
    m = figures.get("minhash") or {}
    if m:
        rows.append(("MinHash", "signatures/s: project vs datasketch update_batch", _f(med(m, "ratio_vs_update_batch"), 1) + "x",
                     f"{_f(med(m, 'project_signatures_per_s'), 0)} vs {_f(med(m, 'datasketch_update_batch_signatures_per_s'), 0)} /s",
                     f"{_f(med(m, 'ratio_vs_datasketch_pipeline'), 1)}x incl. datasketch's shingling"))
        rows.append(("MinHash", "Jaccard estimate MAE: project / datasketch",
                     f"{_f(med(m, 'mae_project'), 4)} / {_f(med(m, 'mae_datasketch'), 4)}",
                     f"difference {_f(med(m, 'mae_difference'), 4)} +- {_f(med(m, 'mae_difference_stderr'), 4)}",
                     "same permutations; pairs with planted edits"))
        rows.append(("MinHash", "dedupe stage MB/s per core (bench_minhash, 1 worker)", _f(med(m, "stage_mb_per_s_per_core")),
                     f"{_f(med(m, 'stage_mb_per_s_per_core_without_fixed'))} without fixed cost",
                     f"summarize alone {_f(med(m, 'summarize_mb_per_s_per_core'))}"))
    t = figures.get("train") or {}
    if t:
        rows.append(("trainer", f"T5 {t.get('cpu_preset')} tokens/s: ours vs transformers (CPU fp32, {t.get('cpu_threads')} threads)",
                     _f(t.get("cpu_speed_ratio_ours_vs_transformers")) + "x",
                     f"{_f(t.get('cpu_ours_tokens_per_s'), 0)} vs {_f(t.get('cpu_transformers_tokens_per_s'), 0)} tokens/s",
                     f"per CPU-s {_f(t.get('cpu_time_ratio_ours_vs_transformers'))}x"))
        gpu = t.get("gpu")
        if isinstance(gpu, str) and gpu.startswith("skipped"):
            rows.append(("trainer", "GPU MFU (bf16)", "skipped", gpu, ""))
        elif gpu:
            rows.append(("trainer", f"GPU MFU small / base ({gpu})", f"{_f(t.get('gpu_small_mfu'), 3)} / {_f(t.get('gpu_base_mfu'), 3)}",
                         f"{_f(t.get('gpu_small_tokens_per_s'), 0)} / {_f(t.get('gpu_base_tokens_per_s'), 0)} tokens/s", ""))
    c = figures.get("clean") or {}
    if c:
        rows.append(("cleaning (bench_clean)", f"Cleaner MB/s per core ({_f(med(c, 'input_mb'), 1)} MB)", _f(med(c, "clean_mb_per_s")),
                     f"{_f(med(c, 'clean_vs_regex_pass'), 1)}x one regex pass", f"filters {_f(med(c, 'filter_mb_per_s'))} MB/s"))
    e = figures.get("examples") or {}
    if e:
        rows.append(("examples (bench_examples)", "segment / examples MB/s per core",
                     f"{_f(med(e, 'segment_mb_s'))} / {_f(med(e, 'examples_mb_s'))}",
                     f"jieba near edges {_f(med(e, 'near_edges_vs_full_pass'))}x faster than a full pass",
                     f"spm 8k train {_f(med(e, 'spm_train_s'), 1)} s"))
    return rows


def _scale_rows(figures: dict) -> list[tuple]:
    rows = []
    sc = figures.get("scale") or {}
    for k, r in sorted((sc.get("runs") or {}).items(), key=lambda kv: int(kv[0])):
        rows.append(("scale", f"{k}x build ({_f(r['input_mb'], 0)} MB)", f"{_f(r['seconds'], 1)} s",
                     f"{_f(r['mb_per_s_per_core'])} MB/s per core",
                     f"peak RSS worker {_f(r['peak_worker_rss_mb'], 0)} / runner {_f(r['peak_runner_rss_mb'], 0)} / "
                     f"tree {_f(r['peak_tree_rss_mb'], 0)} MB"))
    if sc.get("runs"):
        top = max(int(k) for k in sc["runs"])
        rows.append(("scale", f"largest worker RSS {top}x / 1x; tree RSS 4x / 1x",
                     f"{_f(sc.get(f'{top}x_worker_rss_ratio'))} / {_f(sc.get('4x_tree_rss_ratio'))}",
                     f"marginal 1x->4x {_f(sc.get('marginal_mb_per_s_per_core_1x_4x'))} MB/s per core",
                     f"vocab training: 1x build {_f((sc.get('vocab') or {}).get('build_with_vocab_training_s'), 0)} s with, "
                     f"{_f((sc.get('vocab') or {}).get('build_without_vocab_training_s'), 0)} s without"))
    st = figures.get("stress") or {}
    if st.get("runs"):
        held = sum(1 for r in st["runs"] if (r.get("accounting") or {}).get("holds"))
        rows.append(("stress", f"{len(st['runs'])} builds in a row", f"{held}/{len(st['runs'])} held",
                     f"{st.get('distinct_manifests')} distinct manifest(s)",
                     f"peak tree RSS {_f(max(r['peak_tree_rss_mb'] for r in st['runs']), 0)} MB"))
    return rows


def table_rows(figures: dict) -> list[tuple]:
    """(section, figure, median, compared with, note) rows, in print order."""
    return _pipeline_rows(figures.get("pipeline") or {}) + _sub_rows(figures) + _scale_rows(figures)


def render_table(rows: list[tuple]) -> str:
    """A Markdown table (prints readably and pastes into README.md)."""
    head = ("section", "figure", "median", "compared with", "note")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _smallest_build(b: dict, workers: str) -> str | None:
    keys = [k for k in b if k.endswith(f"_workers_{workers}") and isinstance(b[k], dict)]
    return min(keys, key=lambda k: int(k.split("x_", 1)[0]), default=None)


def limits(figures: dict) -> list[str]:
    """What holds the whole build back: where the CPU goes, from plain loops to the multi-process
    runner (a waterfall on the 1x slice), then parallel efficiency and memory growth."""
    p = figures.get("pipeline") or {}
    st, b = p.get("stages") or {}, p.get("builds") or {}
    out = []
    if st:
        times = {n: med(st, n, "pipeline_cpu_s") for n in STAGE_LABELS if n in st}
        total = sum(times.values())
        shares = sorted(times.items(), key=lambda kv: -kv[1])
        out.append(f"stage shares of in-pipeline CPU ({st.get('slice', '1x')}): " + ", ".join(f"{n} {t / total:.0%}" for n, t in shares))
    steps = []
    if st:
        at = "" if st.get("slice", "1x") == "1x" else f" ({st['slice']})"
        steps += [(f"stage functions in plain loops{at}", med(st, "all_stages", "loop_mb_per_cpu_s")),
                  (f"the stages alone in Beam, in-process{at}", med(st, "all_stages", "pipeline_mb_per_cpu_s"))]
    for workers, label in (("inproc", "whole build, in-process runner"), ("1", "whole build, 1 worker process"),
                           ("2", "whole build, 2 worker processes")):
        key = _smallest_build(b, workers)
        if key and key.startswith("1x"):
            steps.append((label, med(b, key, "mb_per_cpu_s")))
    if steps:
        out.append("MB per CPU-s on the 1x slice: " + " -> ".join(f"{label} {_f(rate)}" for label, rate in steps))
    key = b.get("largest")
    if key:
        out.append(f"largest build ({key}): {_f(med(b, key, 'mb_per_cpu_s'))} MB per CPU-s; the runner process "
                   f"(FnApiRunner: control, every shuffle and buffered PCollection) used "
                   f"{_f(100 * (med(b, key, 'runner_cpu_share') or 0), 0)}% of the CPU and peaked at "
                   f"{_f(med(b, key, 'runner_rss_mb'), 0)} MB")
        d = b.get("derived") or {}
        speed = [(k, med(d, k)) for k in d if k.startswith("speedup_") and not k.endswith("_inproc")]
        for name, value in speed:
            most = int(name[len("speedup_"):].split("_vs_")[0])
            out.append(f"parallel efficiency: {_f(value / most * 100, 0)}% of ideal with {most} workers "
                       f"(load average during the builds: {_f(med(b, key, 'load_1min'))} on {figures.get('cores', '?')} cores)")
        big = max((k for k in d if k.endswith("x_rss_ratio")), key=lambda k: int(k.split("x_")[0]), default=None)
        small = f"1x_workers_{key.rsplit('_', 1)[1]}"
        if big and big != "1x_rss_ratio" and small in b:
            out.append(f"memory: peak tree RSS at {big.split('_')[0]} input is {_f(med(d, big))}x that at 1x; the "
                       f"runner process went {_f(med(b, small, 'runner_rss_mb'), 0)} -> {_f(med(b, key, 'runner_rss_mb'), 0)} MB, "
                       f"the largest process {_f(med(b, small, 'peak_process_rss_mb'), 0)} -> "
                       f"{_f(med(b, key, 'peak_process_rss_mb'), 0)} MB")
    return out


def scale_plan(figures: dict) -> dict:
    """Core-hours, workers and wall time for PLAN_CORPUS_MB on Dataflow from the measured rates."""
    p = figures.get("pipeline") or {}
    b, v = p.get("builds") or {}, p.get("vocab") or {}
    key = b.get("largest")
    if not key:
        return {}
    cpu, runner_share = med(b, key, "mb_per_cpu_s"), med(b, key, "runner_cpu_share") or 0.0
    rates = {
        "whole build as measured (wall, per core)": med(b, key, "mb_per_s_per_core"),
        "marginal (fixed cost amortized, wall)": med(b, "derived", "marginal_mb_per_s_per_core"),
        "SDK workers' CPU only (shuffles off-box, as on Dataflow)": cpu / (1 - runner_share) if cpu else None,
    }
    plan: dict = {"corpus_mb": PLAN_CORPUS_MB, "machine": PLAN_MACHINE, "vcpus_per_worker": PLAN_VCPUS,
                  "memory_gb_per_worker": PLAN_MEMORY_GB,
                  "vocab_seconds_one_worker": med(v, "projected_seconds_at_cap"), "rates": {}}
    plan["volumes"] = _volumes(p.get("stages") or {})
    for name, rate in rates.items():
        if not rate:
            continue
        core_hours = PLAN_CORPUS_MB / rate / 3600
        plan["rates"][name] = {
            "mb_per_s_per_core": rate,
            "core_hours": core_hours,
            "workers_for_wall_hours": {f"{h:g}h": math.ceil(core_hours / h / PLAN_VCPUS) for h in PLAN_WALL_HOURS},
        }
    return plan


def _volumes(st: dict) -> dict:
    """Output and shuffle sizes at PLAN_CORPUS_MB, scaled from the stage slice, and the shard counts they need."""
    from pipelines.build.config import OutputConfig

    raw, parquet, pickled = st.get("raw_mb"), st.get("write", {}).get("parquet_mb"), st.get("pickled_input_mb")
    if not raw or not parquet or not pickled:
        return {}
    scale = PLAN_CORPUS_MB / raw / 1000  # slice MB -> GB at plan size
    o = OutputConfig(**OutputConfig().shards_for(int(PLAN_CORPUS_MB * 1e6)))  # the defaults, resolved at plan size
    docs_gb = med(parquet, "documents") * scale
    examples_gb = (med(parquet, "examples_train") + med(parquet, "examples_validation")) * scale
    docs_ser = pickled["boilerplate"]["docs"] * scale  # documents as Beam moves them (pickled dicts)
    rows_ser = (pickled["write"]["examples_train"] + pickled["write"]["examples_validation"]) * scale
    decoded = st.get("decoded_write_input_mb") or {}
    docs_mem = decoded.get("documents", 0.0) * scale
    train_mem = decoded.get("examples_train", 0.0) * scale  # the larger split sizes the shards
    rows_mem = train_mem + decoded.get("examples_validation", 0.0) * scale
    return {
        "documents_memory_gb": docs_mem,
        "example_rows_memory_gb": rows_mem,
        "documents_memory_gb_per_shard_at_default": docs_mem / o.documents_shards,
        "examples_train_memory_gb_per_shard_at_default": train_mem / o.examples_shards,
        "documents_parquet_gb": docs_gb,
        "examples_parquet_gb": examples_gb,
        "documents_gb_per_shard_at_default": docs_gb / o.documents_shards,
        "examples_train_gb_per_shard_at_default": med(parquet, "examples_train") * scale / o.examples_shards,
        "default_shards": {"documents": o.documents_shards, "examples": o.examples_shards},
        "serialized_documents_gb": docs_ser,
        "serialized_example_rows_gb": rows_ser,
        # dedupe joins whole documents back to decisions, the documents writer groups them by shard,
        # the examples writers group every row: the three big shuffles
        "shuffle_gb_estimate": 2 * docs_ser + rows_ser,
        # a shard is grouped, sorted and encoded in one SDK process (8 GB each on n2-highmem-4): keep the
        # rows of one shard at <= SHARD_MEMORY_GB as Python objects, and files at <= 1 GB
        "documents_shards_needed": math.ceil(max(docs_gb, docs_mem / SHARD_MEMORY_GB)),
        "examples_shards_needed": math.ceil(max(med(parquet, "examples_train") * scale, train_mem / SHARD_MEMORY_GB)),
    }


def render_plan(plan: dict) -> list[str]:
    if not plan:
        return []
    lines = [f"scale plan: {plan['corpus_mb'] / 1000:.0f} GB on Dataflow {plan['machine']} "
             f"({plan['vcpus_per_worker']} vCPU, one SDK process per vCPU)"]
    for name, r in plan["rates"].items():
        workers = ", ".join(f"{n} workers for {h}" for h, n in r["workers_for_wall_hours"].items())
        lines.append(f"  at {r['mb_per_s_per_core']:.2f} MB/s per core ({name}): {r['core_hours']:.0f} core-hours; {workers}")
    v = plan.get("volumes") or {}
    if v:
        lines.append(f"  output: documents {v['documents_parquet_gb']:.0f} GB, examples {v['examples_parquet_gb']:.0f} GB of "
                     f"Parquet; as Python objects {v['documents_memory_gb']:.0f} / {v['example_rows_memory_gb']:.0f} GB")
        lines.append(f"  at the default shard counts ({v['default_shards']['documents']} documents, "
                     f"{v['default_shards']['examples']} per example split) one shard holds "
                     f"{v['documents_memory_gb_per_shard_at_default']:.0f} / {v['examples_train_memory_gb_per_shard_at_default']:.0f} GB (train) "
                     f"in one SDK process ({PLAN_MEMORY_GB // PLAN_VCPUS} GB each): first bottleneck; set "
                     f"documents_shards >= {v['documents_shards_needed']}, examples_shards >= {v['examples_shards_needed']}")
        lines.append(f"  shuffle: ~{v['shuffle_gb_estimate']:.0f} GB through the three big GroupByKeys (dedupe's document "
                     f"join and the documents writer {v['serialized_documents_gb']:.0f} GB each, the example writers "
                     f"{v['serialized_example_rows_gb']:.0f} GB)")
    if plan.get("vocab_seconds_one_worker"):
        lines.append(f"  + vocab training on one worker: ~{plan['vocab_seconds_one_worker'] / 60:.1f} min "
                     "(sample capped at sample_segments, so independent of corpus size)")
    return lines
