"""Benchmark: segmentation, tokenization and masking per core; jieba near span edges vs a full pass;
sentencepiece training time on a fixed sample.

Run as ``python -m bench.bench_examples``. One process (= one core), everything measured in the same
run on the same text: chunks of the real novels in ../shared/corpus when present, generated text
otherwise. Figures (``main()`` returns them as a dict and prints them as JSON):

* segment_mb_s — documents -> segments (sentence split + packing), input UTF-8 MB per second.
* examples_per_s / examples_mb_s — segments -> example rows with the default config (tokenize,
  task draw, Poisson spans snapped to jieba words near the edges, continuation split), segment UTF-8
  MB per second; ``pipeline_mb_s`` is segmentation + examples together.
* jieba: ``full_pass_mb_s`` is the baseline (``jieba.Tokenizer.cut(text, HMM=False)`` over every
  segment); ``near_edges_vs_full_pass`` is how many times faster the word-boundary work of the
  infilling examples is when it only looks near span edges (words.WordBoundaries) than when it first
  runs the full pass and then looks the same edges up (same spans, same answers: checked);
  ``jieba_char_share`` is the share of characters the near-edge method hands to jieba.
* spm_train_s — training an 8000-piece unigram model (one thread) on the first segments, up to 1.5M
  characters (``spm_sample_chars``); ``spm_train_chars_per_s`` the same as a rate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "novels"


def _generated_docs(n_docs: int, chars: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    common = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间知世什两次使身者被高已亲其进此话常与活正感见明问力理点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气"
    words = ["".join(rng.choice(list(common), int(rng.integers(1, 4)))) for _ in range(3000)]
    docs = []
    for _ in range(n_docs):
        paragraphs = []
        while sum(map(len, paragraphs)) < chars:
            clauses = ["".join(rng.choice(words, int(rng.integers(2, 6)))) for _ in range(int(rng.integers(2, 6)))]
            paragraphs.append("，".join(clauses) + str(rng.choice(list("。！？"))))
        docs.append("\n".join(paragraphs))
    return docs


def load_docs(n_docs: int = 24, chars: int = 60_000) -> list[dict]:
    """Document dicts: chunks of the real novels (a few per book), or generated text."""
    texts: list[str] = []
    if CORPUS.is_dir():
        for path in sorted(CORPUS.glob("*.txt"))[::3]:
            text = path.read_bytes().decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
            if len(text) >= chars:
                texts.append(text[:chars])
            if len(texts) >= n_docs:
                break
    else:
        texts = _generated_docs(n_docs, chars)
    return [{"doc_id": f"{i:032x}", "text": t, "split": "train"} for i, t in enumerate(texts)]


def _mb(texts) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def bench_segmentation(docs, seg_cfg, ex_cfg) -> tuple[list[dict], float]:
    from transforms.segment import segment_document

    budget = seg_cfg.budget_chars(ex_cfg)
    start = time.perf_counter()
    segments = []
    for doc in docs:
        segments += segment_document(doc, budget, seg_cfg)[0]
    return segments, time.perf_counter() - start


def bench_spm(segments) -> tuple[bytes, dict]:
    from transforms.vocab import VocabConfig, train_sentencepiece

    sample, size = [], 0
    for seg in segments:
        if size >= 1_500_000:
            break
        sample.append(seg["text"])
        size += len(seg["text"])
    cfg = VocabConfig(vocab_size=8000, character_coverage=0.9995, num_threads=1)
    start = time.perf_counter()
    model = train_sentencepiece(sample, cfg, None, seed=1)
    seconds = time.perf_counter() - start
    return model, {"spm_train_s": round(seconds, 2), "spm_sample_chars": size,
                   "spm_train_chars_per_s": round(size / seconds)}


def bench_examples(segments, tok, jieba_index, ex_cfg) -> dict:
    from transforms.examples.build import segment_examples

    start = time.perf_counter()
    rows = 0
    for seg in segments:
        rows += len(segment_examples(seg, tok, jieba_index, ex_cfg, 7)[0])
    seconds = time.perf_counter() - start
    mb = _mb(s["text"] for s in segments)
    return {"examples": rows, "examples_s": seconds, "examples_per_s": round(rows / seconds, 1),
            "examples_mb_s": round(mb / seconds, 3)}


def bench_jieba(segments, tok, jieba_index, ex_cfg) -> dict:
    """Word-boundary work of infilling snapping: near edges vs full pass + lookups (same edges)."""
    from transforms.examples.masking import random_spans
    from transforms.examples.seeds import rng_for
    from transforms.examples.words import WordBoundaries, full_pass_boundaries, snap_spans

    jobs = []
    for i, seg in enumerate(segments):
        enc = tok.encode(seg["text"])
        spans = random_spans(len(enc), ex_cfg.noise_density, ex_cfg.mean_span, ex_cfg.span_distribution,
                             rng_for(1, "bench", i))
        jobs.append((enc, spans, i))

    def run(boundary_of):
        out, start = [], time.perf_counter()
        for enc, spans, i in jobs:
            at = boundary_of(enc.text)
            valid, offsets = enc.valid, enc.offsets
            out.append(snap_spans(spans, lambda t: bool(valid[t]) and at(int(offsets[t])), len(enc),
                                  rng_for(2, "bench", i)))
        return out, time.perf_counter() - start

    near_words: list = []

    def near(text):
        words = WordBoundaries(jieba_index, text)
        near_words.append(words)
        return words.is_boundary

    def full(text):
        return full_pass_boundaries(jieba_index.tokenizer, text).__contains__

    near_spans, near_s = run(near)
    full_spans, full_s = run(full)
    assert near_spans == full_spans, "near-edge and full-pass snapping disagree"
    texts = [enc.text for enc, _, _ in jobs]
    start = time.perf_counter()
    for text in texts:
        full_pass_boundaries(jieba_index.tokenizer, text)
    pass_s = time.perf_counter() - start
    mb = _mb(texts)
    return {
        "full_pass_mb_s": round(mb / pass_s, 3),
        "snap_near_edges_s": round(near_s, 3),
        "snap_full_pass_s": round(full_s, 3),
        "near_edges_vs_full_pass": round(full_s / near_s, 2),
        "jieba_char_share": round(sum(w.jieba_chars for w in near_words) / sum(len(t) for t in texts), 3),
    }


def main() -> dict:
    from transforms.examples.config import ExamplesConfig
    from transforms.examples.tokenize import SpmTokenizer
    from transforms.examples.words import JiebaIndex
    from transforms.segment import SegmentConfig

    docs = load_docs()
    ex_cfg, seg_cfg = ExamplesConfig(), SegmentConfig(chars_per_token=1.1)  # ~1.1 chars/token at 8k pieces
    segments, seg_s = bench_segmentation(docs, seg_cfg, ex_cfg)
    doc_mb = _mb(d["text"] for d in docs)
    model, spm_figures = bench_spm(segments)
    tok, jieba_index = SpmTokenizer(model, ex_cfg.num_sentinels), JiebaIndex()
    examples = bench_examples(segments, tok, jieba_index, ex_cfg)
    figures = {
        "source": "novels" if CORPUS.is_dir() else "generated",
        "documents": len(docs),
        "input_mb": round(doc_mb, 2),
        "segments": len(segments),
        "segment_mb_s": round(doc_mb / seg_s, 2),
        **{k: v for k, v in examples.items() if k != "examples_s"},
        "pipeline_mb_s": round(doc_mb / (seg_s + examples["examples_s"]), 3),
        **bench_jieba(segments, tok, jieba_index, ex_cfg),
        **spm_figures,
    }
    figures["examples_vs_full_jieba_pass"] = round(figures["examples_mb_s"] / figures["full_pass_mb_s"], 2)
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    return figures


if __name__ == "__main__":  # pragma: no cover
    main()
