"""Benchmark: cleaning throughput per core, and characters removed per rule on the real corpus.

Run as ``python -m bench.bench_clean``. Figures, all from one run on one core:

* ``clean_mb_per_s`` — UTF-8 input megabytes cleaned per CPU second by one ``Cleaner`` (default
  config) over ../shared/corpus/novels (78 novels, ~45 MB), or over a generated corpus of similar size
  with planted junk when that folder is absent. CPU seconds of this process (time.process_time), so
  other jobs sharing the machine do not deflate the per-core figure; wall-clock MB/s is printed too.
  ``clean_vs_regex_pass`` puts it against a baseline measured on the same texts in the same run:
  one ``regex`` whitespace-collapsing pass, so the figure reads "cleaning costs as much as N plain
  regex passes" and is comparable across machines.
* ``filter_mb_per_s`` — the quality filters alone on the cleaned texts.
* ``chars_removed`` / ``hits`` — per rule, summed over the corpus; ``removed_share`` — all removed
  characters / input characters; ``filtered`` — documents the default filters reject (the real
  novels should all be kept).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import regex

from transforms.charsets import GB2312_LEVEL1

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "novels"
GENERATED_MB = 45


def _generated_corpus(target_mb: int = GENERATED_MB, seed: int = 5) -> dict[str, str]:
    """Deterministic novel-like documents (~target_mb MB in all) with the junk the cleaner removes."""
    rng = np.random.Generator(np.random.PCG64(seed))
    han = np.array(list(GB2312_LEVEL1), dtype=object)
    punct = ["，", "。", "！", "？", "；", "：“", "”"]
    junk = [
        "www.example.com", "&nbsp;", "&times;", "\ufeff", "\u200b", "\ue000", "\ufffd", "□【左“鱼”右“便”】",
        "[1]", "本书来自www.xxx.com免费txt小说下载站", "**", " ", "ｗｗｗ．ｘｘｘ．ｃｏｍ",
    ]
    docs: dict[str, str] = {}
    size, i = 0, 0
    while size < target_mb * 1_000_000:
        paras = []
        for _ in range(int(rng.integers(200, 600))):
            cuts = np.cumsum(rng.integers(4, 16, 40))
            chars = "".join(han[rng.integers(0, len(han), int(cuts[-1]))])
            pieces = [chars[a:b] for a, b in zip(np.concatenate(([0], cuts[:-1])), cuts)]
            n_sentences = int(rng.integers(2, 20))
            body = "".join(p + punct[int(k)] for p, k in zip(pieces[:n_sentences], rng.integers(0, len(punct), 40)))
            if rng.random() < 0.2:
                k = int(rng.integers(len(body)))
                body = body[:k] + junk[int(rng.integers(len(junk)))] + body[k:]
            paras.append("\u3000\u3000" + body + "。")
            if rng.random() < 0.02:
                paras.append(f"----- Page {int(rng.integers(1, 999))} -----")
        text = f"第{i + 1}章 标题\n\n" + "\n\n".join(paras) + "\n"
        docs[f"generated-{i:03d}"] = text
        size += len(text.encode("utf-8"))
        i += 1
    return docs


def load_corpus() -> tuple[dict[str, str], str]:
    """(name -> text, description): the real novels (decoded as ingest does) or a generated corpus."""
    if not CORPUS.is_dir():
        return _generated_corpus(), f"generated (~{GENERATED_MB} MB; {CORPUS} absent)"
    from transforms.ingest.encoding import decode_bytes

    docs = {p.name: decode_bytes(p.read_bytes()).text for p in sorted(CORPUS.glob("*.txt"))}
    return docs, str(CORPUS)


def main() -> dict:
    """Run the benchmark, print the figures, and return them as a dict."""
    from transforms.cleaning.cleaner import Cleaner
    from transforms.cleaning.config import CleanConfig, FilterConfig
    from transforms.cleaning.filters import quality_check

    docs, source = load_corpus()
    total_bytes = sum(len(t.encode("utf-8")) for t in docs.values())
    total_chars = sum(len(t) for t in docs.values())
    cleaner = Cleaner(CleanConfig())
    filter_cfg = FilterConfig()

    ws = regex.compile(r"\s+")
    t0 = time.process_time()
    for text in docs.values():
        ws.sub(" ", text)
    baseline_s = time.process_time() - t0

    hits: Counter = Counter()
    removed: Counter = Counter()
    results = {}
    t0, w0 = time.process_time(), time.perf_counter()
    for name, text in docs.items():
        results[name] = cleaner.clean(text)
    clean_s, clean_wall = time.process_time() - t0, time.perf_counter() - w0
    for r in results.values():
        hits.update(r.hits)
        removed.update(r.removed)

    filtered = {}
    t0 = time.process_time()
    for name, text in docs.items():
        verdict = quality_check(text, results[name], filter_cfg)
        if verdict is not None:
            filtered[name] = verdict.reason
    filter_s = time.process_time() - t0

    figures = {
        "corpus": source,
        "documents": len(docs),
        "input_mb": round(total_bytes / 1e6, 2),
        "clean_cpu_seconds": round(clean_s, 2),
        "clean_mb_per_s": round(total_bytes / 1e6 / clean_s, 2),
        "clean_wall_mb_per_s": round(total_bytes / 1e6 / clean_wall, 2),
        "regex_pass_mb_per_s": round(total_bytes / 1e6 / baseline_s, 1),
        "clean_vs_regex_pass": round(clean_s / baseline_s, 1),
        "filter_mb_per_s": round(total_bytes / 1e6 / filter_s, 2),
        "removed_share": round(sum(removed.values()) / total_chars, 5),
        "chars_removed": {rule: removed[rule] for rule in cleaner.rule_names},
        "hits": {rule: hits[rule] for rule in cleaner.rule_names},
        "filtered": filtered,
    }
    _print(figures)
    return figures


def _print(figures: dict) -> None:
    print(f"corpus: {figures['corpus']} ({figures['documents']} documents, {figures['input_mb']} MB)")
    print(
        f"cleaning: {figures['clean_mb_per_s']} MB/s per core ({figures['clean_wall_mb_per_s']} wall) "
        f"(= {figures['clean_vs_regex_pass']}x the time of one regex pass at {figures['regex_pass_mb_per_s']} MB/s)"
    )
    print(f"filters: {figures['filter_mb_per_s']} MB/s per core")
    print(f"removed: {figures['removed_share']:.3%} of all characters")
    print(f"{'rule':20s} {'hits':>9s} {'chars removed':>14s}")
    for rule, n in figures["chars_removed"].items():
        print(f"{rule:20s} {figures['hits'][rule]:9d} {n:14d}")
    filtered = json.dumps(figures["filtered"], ensure_ascii=False) if figures["filtered"] else "none"
    print(f"filtered documents: {filtered}")


if __name__ == "__main__":
    main()
