"""Beam wrapper: segments -> example rows, split into train/validation outputs, plus counters.

Usage (the model is the single-element PCollection of spiece.model bytes that `TrainVocab` returns;
it reaches the DoFn as an AsSingleton side input)::

    ex = segments | "Examples" >> MakeExamples(cfg.examples, cfg.seed, model=model_bytes)  # a StageResult
    ex.train, ex.validation   # main and side output: EXAMPLES rows (dicts with exactly the EXAMPLES columns)
    ex.stats                  # ("examples.<counter>", n)
    ex.dead_letters           # segments that raised (their document is rejected by the build)

Side inputs cannot be read in ``DoFn.setup``, so the sentencepiece processor is built on the first
element a DoFn instance sees and kept for the instance's life (once per worker thread); jieba's
dictionary (~65 MB) is loaded in ``setup`` through ``apache_beam.utils.shared.Shared``, so all DoFn
instances of a worker process share one copy.

Counters (sum over the corpus): examples.segments, .skipped_short, .truncated_segments,
.truncated_tokens, .infilling, .infilling_tokens, .masked_tokens, .noise_spans, .span_merges,
.continuation, .continuation_tokens, .continuation_sentence_splits, .continuation_fallback_splits,
.rows.train, .rows.validation. Realized mask ratio = masked_tokens / infilling_tokens; mean span
length = masked_tokens / noise_spans.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.utils.shared import Shared

from transforms.dead_letters import DEAD_LETTERS, guarded
from transforms.examples.build import segment_examples
from transforms.examples.config import ExamplesConfig
from transforms.examples.tokenize import SpmTokenizer
from transforms.examples.words import JiebaIndex
from transforms.result import StageResult, main_of
from transforms.stats import STATS, BundleCounts

VALIDATION = "validation"


class _MakeExamplesFn(beam.DoFn):
    def __init__(self, cfg: ExamplesConfig, seed: int):
        self._cfg, self._seed = cfg, int(seed)
        self._tok = None
        self._jieba = None
        self._shared_jieba = Shared()
        self._counts = BundleCounts()

    def setup(self):
        self._jieba = self._shared_jieba.acquire(JiebaIndex) if self._cfg.snap_to_words else None

    def start_bundle(self):
        self._counts = BundleCounts()

    @guarded("examples")
    def process(self, segment, model_bytes: bytes):
        if self._tok is None:
            self._tok = SpmTokenizer(model_bytes, self._cfg.num_sentinels)
        rows, counts = segment_examples(segment, self._tok, self._jieba, self._cfg, self._seed)
        self._counts.add({f"examples.{name}": value for name, value in counts.items()})
        for split, row in rows:
            yield beam.pvalue.TaggedOutput(VALIDATION, row) if split == VALIDATION else row

    def finish_bundle(self):
        yield from self._counts.flush()


class MakeExamples(beam.PTransform):
    """Segment dicts -> StageResult: main ``train``, side ``validation``, stats, dead letters.

    `model`: the one-element PCollection of spiece.model bytes (or the vocab stage's StageResult)."""

    def __init__(self, cfg: ExamplesConfig, seed: int, model):
        super().__init__()
        self._cfg, self._seed, self._model = cfg, seed, model

    def expand(self, segments):
        fn = _MakeExamplesFn(self._cfg, self._seed)
        out = segments | "MakeExamples" >> beam.ParDo(fn, beam.pvalue.AsSingleton(main_of(self._model))).with_outputs(
            VALIDATION, STATS, DEAD_LETTERS, main="train"
        )
        return StageResult(out.train, "train", side={VALIDATION: out[VALIDATION]}, stats=out[STATS],
                           dead_letters=out[DEAD_LETTERS])
