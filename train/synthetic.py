"""A small synthetic corpus in the layout `longlm build` writes, for tests, benchmarks and smoke runs.

Text is Chinese-like: a Markov chain over a few dozen Han characters and punctuation with a handful of
likely successors per character, so a model can learn it. The sentencepiece model uses T5 ids
(pad 0, eos 1, unk 2, no bos), byte fallback and identity normalisation, like the pipeline's vocab.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.hashing import stable_hex
from schemas.tables import EXAMPLES, SCHEMA_VERSION, SCHEMA_VERSION_KEY, TABLE_NAME_KEY, make_row
from train.config import EXTRA_IDS


def chinese_like_lines(n_lines: int, seed: int = 0, n_chars: int = 60, min_len: int = 20, max_len: int = 80) -> list[str]:
    """`n_lines` lines drawn from a fixed random Markov chain over `n_chars` Han characters + '，。'."""
    rng = np.random.Generator(np.random.PCG64(seed))
    alphabet = [chr(0x4E00 + i) for i in range(n_chars)] + ["，", "。"]
    successors = rng.integers(0, len(alphabet), size=(len(alphabet), 4))
    weights = np.array([0.55, 0.25, 0.12, 0.08])
    lines = []
    for _ in range(n_lines):
        state = int(rng.integers(len(alphabet)))
        out = []
        for _ in range(int(rng.integers(min_len, max_len + 1))):
            out.append(alphabet[state])
            state = int(successors[state, rng.choice(4, p=weights)])
        lines.append("".join(out))
    return lines


def train_sentencepiece(lines: list[str], out_path: str | Path, vocab_size: int = 500) -> Path:
    """Train a unigram model with T5 special ids on `lines`; write it to `out_path`."""
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buffer, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, byte_fallback=True, normalization_rule_name="identity",
        character_coverage=1.0, num_threads=1, minloglevel=2,
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(buffer.getvalue())
    return out_path


def examples_from_lines(lines: list[str], sp, seed: int = 0) -> list[dict]:
    """EXAMPLES rows: per line one continuation (first part -> rest) and one infilling (masked span) example."""
    rng = np.random.Generator(np.random.PCG64(seed))
    n, eos = sp.get_piece_size(), sp.eos_id()
    sentinel = [n + EXTRA_IDS - 1 - i for i in range(2)]
    rows = []
    for index, line in enumerate(lines):
        ids = sp.encode(line)
        if len(ids) < 6:
            continue
        doc_id = stable_hex(line, bits=128)
        cut = int(rng.integers(2, len(ids) - 2))
        # continuation as the pipeline writes it by default (LongLM): front + <extra_id_1> + EOS -> <extra_id_1> + back
        rows.append(_row(doc_id, index, "continuation", ids[:cut] + [sentinel[1], eos], [sentinel[1]] + ids[cut:] + [eos]))
        a = int(rng.integers(1, len(ids) - 2))
        b = min(len(ids) - 1, a + int(rng.integers(1, 6)))
        source = ids[:a] + [sentinel[0]] + ids[b:] + [eos]
        rows.append(_row(doc_id, index, "infilling", source, [sentinel[0]] + ids[a:b] + [sentinel[1], eos]))
    return rows


def _row(doc_id: str, index: int, task: str, source: list[int], target: list[int]) -> dict:
    return make_row(EXAMPLES, example_id=f"{doc_id}-{index:06d}-{task}", task=task, input_ids=source,
                    target_ids=target, doc_id=doc_id, segment_index=index)


def write_shards(directory: str | Path, rows: list[dict], rows_per_file: int = 200, row_group_size: int = 50) -> list[Path]:
    """Write `rows` as part-00000.parquet, ... with the EXAMPLES schema and its metadata."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metadata = {SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), TABLE_NAME_KEY: EXAMPLES.name.encode()}
    schema = EXAMPLES.schema.with_metadata(metadata)
    paths = []
    for number, start in enumerate(range(0, len(rows), rows_per_file)):
        table = pa.Table.from_pylist(rows[start : start + rows_per_file], schema=schema)
        path = directory / f"part-{number:05d}.parquet"
        pq.write_table(table, path, row_group_size=row_group_size)
        paths.append(path)
    return paths


def write_manifest(root: str | Path, config: dict) -> Path:
    """DIR/manifest.json in the build's format, listing every Parquet shard under DIR/examples and the vocab.

    `config` stands in for the build config: it decides the version id.
    """
    from schemas import manifest as mf

    root = Path(root)
    records = []
    for path in sorted(root.glob(f"{EXAMPLES.name}/*/part-*.parquet")) + sorted(root.glob("vocab/*.model")):
        data = path.read_bytes()
        parquet = path.suffix == ".parquet"
        records.append({
            "path": path.relative_to(root).as_posix(), "table": EXAMPLES.name if parquet else None,
            "rows": pq.ParquetFile(path).metadata.num_rows if parquet else None, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        })
    manifest = mf.build_manifest(config=config, inputs=[], files=records, stats={}, packages={}, input_patterns=[])
    out = root / mf.MANIFEST_NAME
    out.write_bytes(mf.dumps(manifest))
    return out


def make_corpus(root: str | Path, n_train_lines: int = 600, n_val_lines: int = 60, seed: int = 0,
                vocab_size: int = 500, rows_per_file: int = 200, row_group_size: int = 50) -> Path:
    """A complete DIR (vocab/spiece.model, examples/train, examples/validation, manifest.json); returns DIR."""
    import sentencepiece as spm

    root = Path(root)
    lines = chinese_like_lines(n_train_lines + n_val_lines + 400, seed)
    model = train_sentencepiece(lines, root / "vocab" / "spiece.model", vocab_size)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    train, val = lines[:n_train_lines], lines[n_train_lines : n_train_lines + n_val_lines]
    write_shards(root / EXAMPLES.name / "train", examples_from_lines(train, sp, seed), rows_per_file, row_group_size)
    write_shards(root / EXAMPLES.name / "validation", examples_from_lines(val, sp, seed + 1), rows_per_file, row_group_size)
    write_manifest(root, {"examples": {"continuation_sentinel": 1, "decoder_start_id": 1},
                          "synthetic": {"n_train_lines": n_train_lines, "n_val_lines": n_val_lines, "seed": seed,
                                        "vocab_size": vocab_size, "rows_per_file": rows_per_file,
                                        "row_group_size": row_group_size}})
    return root
