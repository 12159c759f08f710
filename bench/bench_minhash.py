"""Benchmark: the project's numpy MinHash vs datasketch, and the dedupe stage end to end.

Run as ``python -m bench.bench_minhash``. Everything is measured in one run on the same machine and
printed as ratios against datasketch measured on the same documents and the same shingles:

* signatures/s — the project's ``shingle_hashes`` + ``signature`` from the key text, vs datasketch
  2.x ``MinHash(scheme="affine32").update_batch`` given the same character 5-grams (utf-8 bytes,
  its default sha1 hash; permutations shared so its per-object setup is not counted). Two ratios:
  ``ratio_vs_update_batch`` times datasketch's update_batch alone on pre-built shingle lists (the
  conservative figure, target >= 30x); ``ratio_vs_datasketch_pipeline`` also times building the
  shingle list, as a datasketch user must.
* accuracy — mean absolute error of estimated vs exact Jaccard (exact = Python sets of the same
  5-gram strings) over document pairs with planted edits, for both, averaged over several seeds.
  Both are the same estimator (identical permutations; only the shingle hash function differs), so
  the difference is sampling noise: it is printed with its paired standard error.
* stage MB/s per core — ``DedupeDocuments`` on the FnApiRunner with one worker over a corpus with
  planted duplicates (input UTF-8 megabytes / wall seconds), and the per-document summarize work
  (exact hash + key text + signature) alone.

Documents are chunks of the real novels in ../shared/corpus when present, generated text otherwise.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "novels"
NUM_PERM, NGRAM = 128, 5


def _generated_texts(n_docs: int, chars: int, seed: int = 11) -> list[str]:
    rng = np.random.default_rng(seed)
    words = []
    for _ in range(3000):
        words.append("".join(chr(int(c)) for c in rng.integers(0x4E00, 0x4E00 + 2500, int(rng.integers(1, 4)))))
    p = 1.0 / np.arange(1, len(words) + 1)
    p /= p.sum()
    texts = []
    for _ in range(n_docs):
        picks = rng.choice(len(words), chars // 2, p=p)
        body = "".join(words[i] for i in picks)[:chars]
        texts.append("\n".join(body[i : i + 200] + "。" for i in range(0, len(body), 200)))
    return texts


def load_texts(n_docs: int = 60, chars: int = 30_000) -> list[str]:
    """`n_docs` documents of about `chars` characters: chunks of real novels, or generated text."""
    if not CORPUS.is_dir():
        return _generated_texts(n_docs, chars)
    texts = []
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_bytes().decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
        texts += [text[i : i + chars] for i in range(0, len(text) - chars + 1, chars)][:2]
        if len(texts) >= n_docs:
            break
    return texts[:n_docs]


def _datasketch_minhash(perms, seed):
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=seed, permutations=perms, scheme="affine32")


def _grams(key: str) -> list[bytes]:
    return [key[i : i + NGRAM].encode("utf-8") for i in range(max(1, len(key) - NGRAM + 1))]


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_signatures(keys: list[str], seed: int = 1, repeats: int = 3) -> dict:
    """Signatures/s of both implementations on the same key texts. Per document, the two are timed
    back to back (best of `repeats` each), so a busy machine slows both alike."""
    from transforms.dedupe.minhash import permutations, shingle_hashes, signature

    perms = permutations(NUM_PERM, seed)
    ours = ds_batch = ds_pipeline = 0.0
    shingles = 0
    for key in keys:
        grams = _grams(key)
        shingles += len(grams)
        ours += _best(lambda: signature(shingle_hashes(key, NGRAM), perms), repeats)
        ds_batch += _best(lambda: _datasketch_minhash(perms, seed).update_batch(grams), repeats)
        ds_pipeline += _best(lambda: _datasketch_minhash(perms, seed).update_batch(_grams(key)), repeats)
    n = len(keys)
    return {
        "documents": n,
        "shingles": shingles,
        "project_signatures_per_s": n / ours,
        "datasketch_update_batch_signatures_per_s": n / ds_batch,
        "datasketch_pipeline_signatures_per_s": n / ds_pipeline,
        "project_ns_per_shingle": ours / shingles * 1e9,
        "datasketch_update_batch_ns_per_shingle": ds_batch / shingles * 1e9,
        "ratio_vs_update_batch": ds_batch / ours,
        "ratio_vs_datasketch_pipeline": ds_pipeline / ours,
    }


def _mutate(text: str, rate: float, rng) -> str:
    chars = list(text)
    for i in np.flatnonzero(rng.random(len(chars)) < rate):
        chars[i] = chr(int(rng.integers(0x4E00, 0x9FA5)))
    return "".join(chars)


def bench_accuracy(keys: list[str], seeds=(1, 2, 3, 4), pairs: int = 60) -> dict:
    """MAE of estimated vs exact 5-gram Jaccard for both implementations, on the same pairs."""
    from transforms.dedupe.minhash import estimated_jaccard, permutations, shingle_hashes, signature

    rng = np.random.default_rng(5)
    rates = (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3)
    cases = []
    for i in range(pairs):
        a = keys[i % len(keys)][:8000]
        b = _mutate(a, rates[i % len(rates)], rng) if i % 10 else keys[(i + 1) % len(keys)][:8000]
        sa, sb = set(_grams(a)), set(_grams(b))
        cases.append((a, b, len(sa & sb) / len(sa | sb)))
    err_ours, err_ds = [], []
    for seed in seeds:
        perms = permutations(NUM_PERM, seed)
        for a, b, exact in cases:
            sig_a, sig_b = signature(shingle_hashes(a, NGRAM), perms), signature(shingle_hashes(b, NGRAM), perms)
            est = estimated_jaccard(sig_a, sig_b)
            ma, mb = _datasketch_minhash(perms, seed), _datasketch_minhash(perms, seed)
            ma.update_batch(_grams(a))
            mb.update_batch(_grams(b))
            err_ours.append(abs(est - exact))
            err_ds.append(abs(ma.jaccard(mb) - exact))
    diff = np.asarray(err_ours) - np.asarray(err_ds)
    se = float(diff.std(ddof=1) / np.sqrt(diff.size))
    return {
        "accuracy_estimates": int(diff.size),
        "mae_project": float(np.mean(err_ours)),
        "mae_datasketch": float(np.mean(err_ds)),
        "mae_difference": float(diff.mean()),
        "mae_difference_stderr": se,
        "mae_not_worse": bool(diff.mean() <= 2 * se),
    }


def _stage_docs(texts: list[str]) -> list[dict]:
    from transforms.dedupe.keytext import han_count
    from transforms.ingest.parse import doc_id_of

    rng = np.random.default_rng(3)
    docs = []
    for i, text in enumerate(texts):
        variants = [text] + ([_mutate(text, 0.003, rng)] if i % 3 == 0 else [])
        for j, t in enumerate(variants):
            docs.append(
                {
                    "doc_id": doc_id_of(t),
                    "source": f"bench/{i}-{j}",
                    "locator": "",
                    "title": f"{i}",
                    "char_length": len(t),
                    "han_chars": han_count(t),
                    "text": t,
                }
            )
    return docs


def _write_docs(docs: list[dict], directory: str) -> list[str]:
    paths = []
    for i, doc in enumerate(docs):
        path = f"{directory}/{i:05d}.json"
        Path(path).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def _load_doc(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _time_stage(paths: list[str]) -> float:
    """Wall seconds of DedupeDocuments (defaults) over the documents in `paths`, one worker. The
    documents are read inside the pipeline: beam.Create of megabytes of text would dominate."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.dedupe.config import DedupeConfig
    from transforms.dedupe.stage import DedupeDocuments

    t0 = time.perf_counter()
    with beam.Pipeline(runner="FnApiRunner", options=PipelineOptions(flags=[], direct_num_workers=1)) as p:
        docs = p | beam.Create(paths) | beam.Reshuffle() | beam.Map(_load_doc)
        res = docs | DedupeDocuments(DedupeConfig())
        _ = res.main | "CountKept" >> beam.combiners.Count.Globally()
    return time.perf_counter() - t0


def bench_stage(texts: list[str]) -> dict:
    """MB/s of DedupeDocuments on one FnApiRunner worker: overall, and without the runner's fixed
    per-stage cost (the wall time of the same graph on two tiny documents, subtracted); plus the
    per-document summarize work (exact hash, key text, signature) alone."""
    from transforms.dedupe.keytext import exact_hash, key_text, make_converter, nfkc
    from transforms.dedupe.minhash import permutations, shingle_hashes, signature

    docs = _stage_docs(texts)
    tiny = _stage_docs([texts[0][:200], texts[1][:200]])
    mb = sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6
    conv, perms = make_converter(), permutations(NUM_PERM, 1)
    t0 = time.perf_counter()
    for d in docs:
        normalized = nfkc(d["text"])
        exact_hash(normalized)
        signature(shingle_hashes(key_text(normalized, conv), NGRAM), perms)
    summarize = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "all").mkdir()
        Path(tmp, "tiny").mkdir()
        t_tiny = _time_stage(_write_docs(tiny, f"{tmp}/tiny"))
        t_all = _time_stage(_write_docs(docs, f"{tmp}/all"))
    return {
        "stage_input_mb": mb,
        "stage_documents": len(docs),
        "stage_seconds": t_all,
        "stage_mb_per_s_per_core": mb / t_all,
        "stage_fixed_seconds": t_tiny,
        "stage_mb_per_s_per_core_without_fixed": mb / max(t_all - t_tiny, 1e-9),
        "summarize_mb_per_s_per_core": mb / summarize,
    }


def main() -> dict:
    """Run every measurement, print the figures (JSON) and return them."""
    from transforms.dedupe.keytext import key_text, make_converter

    texts = load_texts()
    conv = make_converter()
    keys = [key_text(t, conv) for t in texts]
    figures = {"documents_from": "shared corpus" if CORPUS.is_dir() else "generated"}
    figures.update(bench_signatures(keys))
    figures.update(bench_accuracy(keys))
    figures.update(bench_stage(texts))
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    print(
        f"signatures/s: {figures['ratio_vs_update_batch']:.1f}x datasketch update_batch "
        f"({figures['ratio_vs_datasketch_pipeline']:.1f}x with its shingling); "
        f"MAE {figures['mae_project']:.4f} vs datasketch {figures['mae_datasketch']:.4f}; "
        f"stage {figures['stage_mb_per_s_per_core']:.2f} MB/s per core "
        f"({figures['stage_mb_per_s_per_core_without_fixed']:.2f} without the runner's fixed cost)"
    )
    return figures


if __name__ == "__main__":
    main()
