"""Tokenizer quality against the vocabulary sample size and thread count (the vocab barrier, issue 12).

The build trains sentencepiece on one worker from the `sample_segments` segments with the smallest
seeded hash: a serial barrier while the other workers idle. This bench says how much sample the
quality needs. Segments come from the novels through the stages' plain functions; every tenth
document (by seeded hash) is held out. For each sample size the vocabulary is trained with the
default [vocab] config and measured on the held-out segments:

* pieces per character (lower is better: fewer tokens for the same text),
* byte-fallback share (pieces spelled as UTF-8 bytes: characters the vocabulary did not learn),
* unk share (should be 0 with byte fallback on), and the training seconds.

    python -m bench.bench_vocab [--sizes 2000,5000,10000,0] [--threads 2,8]

Size 0 means every training segment. Without ../shared the generated corpus is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

SIZES = (2000, 5000, 10000, 0)


def _segments(groups: int = 4) -> tuple[list[dict], object]:
    import tempfile
    from pathlib import Path

    from bench.bench_pipeline import prepare
    from bench.common import generated_corpus, novels_corpus
    from pipelines.build.config import load_config

    cfg = load_config(None)
    corpus = novels_corpus(groups) or generated_corpus(groups, 11.0, Path(tempfile.mkdtemp(prefix="longlm-vocab-")))
    return prepare(cfg, corpus, size=groups)["segments"], cfg


def quality(model: bytes, texts: list[str]) -> dict:
    """Pieces per character, byte-fallback and unk shares of `model` on `texts`."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model)
    pieces = byte_pieces = unk = chars = 0
    for text in texts:
        ids = sp.encode(text)
        pieces += len(ids)
        byte_pieces += sum(1 for i in ids if sp.is_byte(i))
        unk += sum(1 for i in ids if i == sp.unk_id())
        chars += len(text)
    return {"pieces_per_char": pieces / chars, "byte_fallback_share": byte_pieces / pieces, "unk_share": unk / pieces}


def run(sizes=SIZES, threads=(None,)) -> dict:
    from transforms.examples.seeds import stable_int
    from transforms.vocab import sample_key, train_sentencepiece

    segments, cfg = _segments()
    held = [s for s in segments if stable_int(cfg.seed, "heldout", s["doc_id"]) % 10 == 0]
    pool = sorted((s for s in segments if stable_int(cfg.seed, "heldout", s["doc_id"]) % 10 != 0),
                  key=lambda s: sample_key(cfg.seed, s))
    texts = [s["text"] for s in held]
    rows = []
    for n_threads in threads:
        vcfg = cfg.vocab if n_threads is None else dataclasses.replace(cfg.vocab, num_threads=n_threads)
        for size in sizes:
            sample = pool if size == 0 else pool[:size]
            started = time.perf_counter()
            model = train_sentencepiece((s["text"] for s in sample), vcfg, None, cfg.seed)
            row = {"sample_segments": len(sample), "sample_chars": sum(len(s["text"]) for s in sample),
                   "num_threads": vcfg.num_threads, "train_s": time.perf_counter() - started, **quality(model, texts)}
            rows.append(row)
            print(f"[vocab] {row['sample_segments']:>6} segments ({row['sample_chars'] / 1e6:.1f}M chars), "
                  f"{row['num_threads']} threads: {row['train_s']:.0f} s, {row['pieces_per_char']:.4f} pieces/char, "
                  f"byte fallback {row['byte_fallback_share']:.4%}, unk {row['unk_share']:.4%}", flush=True)
    return {"held_out_segments": len(held), "pool_segments": len(pool), "rows": rows}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.bench_vocab", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="sample sizes in segments (0: all)")
    p.add_argument("--threads", default="", help="thread counts to compare (default: the config's)")
    a = p.parse_args(argv)
    threads = tuple(int(t) for t in a.threads.split(",")) if a.threads else (None,)
    result = run(tuple(int(s) for s in a.sizes.split(",")), threads)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
