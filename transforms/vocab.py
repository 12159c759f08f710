"""The sentencepiece vocabulary: trained inside the build on one worker, or reused from --vocab PATH.

Layout is T5's: pad 0, EOS 1, unk 2, no BOS, then the learned pieces (byte fallback pieces included);
the 100 sentinels <extra_id_i> are not spm pieces but the ids above them, counting down from the top
(see `transforms.examples.tokenize`), so ``transformers.T5Tokenizer`` given this spiece.model and
``extra_ids=100`` assigns the same ids. Normalization is the identity, extra whitespace is kept and
byte fallback is on, so ``decode(encode(x)) == x`` for cleaned text (the one exception: a literal
U+2581, which sentencepiece reads as a space).

Determinism: the sample is the `sample_segments` segments with the smallest blake2b(seed, doc_id,
segment_index), handed to the trainer in that order; sentencepiece's own RNG is seeded from the
corpus seed, and `num_threads` is a config value: training is byte-for-byte repeatable for a fixed
thread count (tested) but a different thread count gives a (equally valid) different model.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import ClassVar, Iterable

import apache_beam as beam
import sentencepiece as spm
from apache_beam.io.filesystems import FileSystems

from schemas.manifest import file_record
from transforms.atomic_files import write_atomically
from transforms.config_base import StageConfig, knob
from transforms.examples.seeds import stable_int
from transforms.result import StageResult
from transforms.stats import STATS, stat

MODEL_NAME = "spiece.model"
VOCAB_NAME = "spiece.vocab"
#: Longest training sentence in bytes; segments are far shorter (a segment is ~700 characters).
_MAX_SENTENCE_BYTES = 1 << 16


@dataclass(frozen=True)
class VocabConfig(StageConfig):
    """sentencepiece training settings (T5 layout: pad 0, EOS 1, unk 2, no BOS)."""

    section: ClassVar[str] = "vocab"

    model_path: str = knob("", "Reuse this spiece.model instead of training one (the CLI's --vocab PATH)")
    model_type: str = knob("unigram", "sentencepiece model type", choices=("unigram", "bpe"))
    vocab_size: int = knob(32000, "spm pieces (sentinels come on top: T5's 32000 + 100 = 32100 ids)")
    character_coverage: float = knob(0.9995, "Share of characters covered by pieces; the rest use byte fallback")
    byte_fallback: bool = knob(True, "Spell uncovered characters as UTF-8 byte pieces instead of <unk>")
    normalization: str = knob(
        "identity", "sentencepiece normalization rule; identity keeps decode(encode(x)) == x",
        choices=("identity", "nfkc", "nmt_nfkc", "nfkc_cf", "nmt_nfkc_cf"),
    )
    hard_vocab_limit: bool = knob(False, "Fail when the sample cannot support vocab_size (false: fewer pieces)")
    sample_segments: int = knob(50000, "Segments in the training sample (the smallest seeded hashes), one worker")
    num_threads: int = knob(8, "Trainer threads; part of the result (same value => same model)")

    def check(self) -> None:
        self.require(self.vocab_size >= 100, "vocab_size", "must be >= 100")
        self.require(0.9 <= self.character_coverage <= 1.0, "character_coverage", "must be in [0.9, 1]")
        self.require(self.sample_segments >= 1, "sample_segments", "must be >= 1")
        self.require(1 <= self.num_threads <= 256, "num_threads", "must be in [1, 256]")


def trainer_options(cfg: VocabConfig) -> dict:
    """Keyword arguments for ``SentencePieceTrainer.train`` (without input/output)."""
    return {
        "model_type": cfg.model_type,
        "vocab_size": cfg.vocab_size,
        "character_coverage": cfg.character_coverage,
        "byte_fallback": cfg.byte_fallback,
        "normalization_rule_name": cfg.normalization,
        "remove_extra_whitespaces": False,
        "add_dummy_prefix": True,
        "pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1,
        "pad_piece": "<pad>", "eos_piece": "</s>", "unk_piece": "<unk>",
        "hard_vocab_limit": cfg.hard_vocab_limit,
        "num_threads": cfg.num_threads,
        "input_sentence_size": 0,
        "shuffle_input_sentence": False,
        "max_sentence_length": _MAX_SENTENCE_BYTES,
        "minloglevel": 2,
    }


def train_sentencepiece(sentences: Iterable[str], cfg: VocabConfig, model_prefix_dir: str | None = None,
                        seed: int = 0) -> bytes:
    """Train on `sentences` (in the given order) and return the model bytes.

    Deterministic: the same sentences, cfg and seed give byte-identical models (the model is written
    through ``model_writer``: with ``model_prefix`` sentencepiece would record the temp path in the
    proto). When `model_prefix_dir` is given, spiece.model and spiece.vocab are also written there.
    """
    texts = [s for s in sentences if s]
    if not texts:
        raise ValueError("no text to train a sentencepiece vocabulary on")
    spm.set_random_generator_seed(int(seed) % (1 << 32))
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=buf, **trainer_options(cfg))
    model = buf.getvalue()
    if model_prefix_dir:
        os.makedirs(model_prefix_dir, exist_ok=True)
        with open(os.path.join(model_prefix_dir, MODEL_NAME), "wb") as f:
            f.write(model)
        with open(os.path.join(model_prefix_dir, VOCAB_NAME), "wb") as f:
            f.write(vocab_text(model))
    return model


def check_model(model_bytes: bytes) -> spm.SentencePieceProcessor:
    """Load a model and check T5's special ids (pad 0, EOS 1, unk 2, no BOS); raises ValueError."""
    try:
        sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    except Exception as e:  # sentencepiece raises RuntimeError/OSError on a bad proto
        raise ValueError(f"not a sentencepiece model: {e}") from e
    ids = (sp.pad_id(), sp.eos_id(), sp.unk_id(), sp.bos_id())
    if ids != (0, 1, 2, -1):
        raise ValueError(f"spiece.model must have pad=0, eos=1, unk=2, no bos (T5 layout); has pad/eos/unk/bos={ids}")
    return sp


def vocab_text(model_bytes: bytes) -> bytes:
    """The .vocab file sentencepiece writes for a model: one "piece<TAB>score" line per piece."""
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    lines = [f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.get_piece_size())]
    return "".join(lines).encode("utf-8")


def sample_key(seed: int, segment: dict) -> tuple[int, str, int]:
    """Sort key of a segment for the training sample: (hash of (seed, doc_id, index), doc_id, index)."""
    doc_id, index = segment["doc_id"], int(segment["segment_index"])
    return stable_int(seed, "vocab", doc_id, index), doc_id, index


#: The pre-filter lets through about this many times the sample, so the exact smallest keys survive it.
SAMPLE_MARGIN = 2.0


def sample_threshold(total: int, sample_segments: int, margin: float = SAMPLE_MARGIN) -> int:
    """Hash bound of the pre-filter: keys below it are about `margin` x `sample_segments` of `total`.

    Every segment passes when the corpus holds at most margin x sample_segments segments. The sample is
    the exact smallest `sample_segments` keys whenever at least that many pass, which fails with
    probability below exp(-sample_segments / 4) (a binomial tail); either way it is a function of the
    data alone, so builds stay reproducible.
    """
    if total <= margin * sample_segments:
        return 1 << 64
    return min(1 << 64, int(margin * sample_segments / total * float(1 << 64)))


def read_model(path: str) -> bytes:
    """Bytes of a spiece.model at any FileSystems path, checked (:func:`check_model`)."""
    with FileSystems.open(path) as f:
        data = f.read()
    check_model(data)
    return data


#: Directory of the vocabulary files under the output root.
VOCAB_DIR = "vocab"


def write_vocab(model_bytes: bytes, output_dir: str) -> list[dict]:
    """Write output_dir/vocab/spiece.model and spiece.vocab (temp name + rename). Returns their manifest
    file records (path relative to output_dir, bytes, sha256 of the bytes written)."""
    records = []
    for name, data in ((MODEL_NAME, model_bytes), (VOCAB_NAME, vocab_text(model_bytes))):
        relative = f"{VOCAB_DIR}/{name}"
        write_atomically(FileSystems.join(output_dir, relative), data)  # FileSystems.create makes parent dirs
        records.append(file_record(relative, data))
    return records


class _WriteVocab(beam.DoFn):
    """model bytes -> the same bytes (main), after writing the files; their file records on "files" and
    the count of pieces as counter ``vocab.pieces`` (it can fall short of ``vocab_size`` on a small corpus).
    Empty bytes (no document kept, nothing to train on) write nothing."""

    def __init__(self, output_dir: str):
        self._out = output_dir

    def process(self, model_bytes: bytes):
        if model_bytes:
            for record in write_vocab(model_bytes, self._out):
                yield beam.pvalue.TaggedOutput("files", record)
            yield stat("vocab.pieces", spm.SentencePieceProcessor(model_proto=model_bytes).get_piece_size())
        yield model_bytes


def _train_on_sample(sample: list, cfg: VocabConfig, seed: int) -> bytes:
    if not sample:  # no document was kept: no vocabulary (the build reports "nothing to build")
        return b""
    model = train_sentencepiece((text for _, text in sample), cfg, None, seed)
    check_model(model)
    return model


class TrainVocab(beam.PTransform):
    """Segments -> StageResult: main ``model``, a one-element PCollection of the spiece.model bytes (emitted
    after output_dir/vocab/ is written; empty bytes and no files when no segment reached it), ``files``, the
    file records of vocab/spiece.model and .vocab, and stats (``vocab.pieces``).

    Trains on the `sample_segments` segments with the smallest seeded hash, or, when cfg.model_path is
    set, reads that model instead (segments unused). Bounded gather: segments are first counted, and only
    those whose hash falls below :func:`sample_threshold` (~2x the sample) travel to the Top combine, so
    the one worker that trains receives about twice the sample whatever the corpus size.
    """

    def __init__(self, cfg: VocabConfig, seed: int, output_dir: str):
        super().__init__()
        self._cfg, self._seed, self._out = cfg, int(seed), output_dir

    def expand(self, segments):
        cfg, seed = self._cfg, self._seed
        if cfg.model_path:
            model = (
                segments.pipeline
                | "ModelPath" >> beam.Create([cfg.model_path])
                | "ReadModel" >> beam.Map(read_model)
            )
        else:
            keyed = segments | "SampleKey" >> beam.Map(lambda s: (sample_key(seed, s), s["text"]))
            total = keyed | "CountSegments" >> beam.combiners.Count.Globally()
            bound = total | "SampleBound" >> beam.Map(sample_threshold, cfg.sample_segments)
            model = (
                keyed
                | "BelowBound" >> beam.Filter(lambda kv, b: kv[0][0] < b, beam.pvalue.AsSingleton(bound))
                | "Sample" >> beam.combiners.Top.Smallest(cfg.sample_segments)
                | "TrainSpm" >> beam.Map(_train_on_sample, cfg, seed)
            )
        written = model | "WriteVocab" >> beam.ParDo(_WriteVocab(self._out)).with_outputs("files", STATS, main="model")
        return StageResult(written.model, "model", stats=written[STATS], files=written.files)
