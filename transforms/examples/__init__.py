"""Pretraining examples from segments: text infilling (T5 span corruption) and conditional continuation.

Modules: `config` (ExamplesConfig; T5 length arithmetic is `transforms.lengths`), `seeds` (per-segment RNGs),
`tokenize` (spm + T5 sentinel ids + token offsets), `masking` (noise spans, input/target ids), `words`
(jieba word boundaries near span edges, snapping), `build` (one segment -> rows), `transform`
(MakeExamples, the Beam wrapper). The Beam wrapper is imported lazily so the pure parts load without it.
"""

from transforms.examples.config import CONTINUATION, INFILLING, TASKS, ExamplesConfig
from transforms.lengths import compute_input_and_target_lengths

__all__ = ["CONTINUATION", "INFILLING", "TASKS", "ExamplesConfig", "MakeExamples", "compute_input_and_target_lengths"]


def __getattr__(name):
    if name == "MakeExamples":
        from transforms.examples.transform import MakeExamples

        return MakeExamples
    raise AttributeError(name)
