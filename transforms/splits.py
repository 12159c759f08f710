"""Train/validation split by document: a seeded hash of doc_id, never by segment, at least one validation doc.

A document goes to validation when its hash value u(seed, doc_id) in [0, 1) is below the validation
fraction, or when it has the smallest hash of the corpus, so there is always at least one validation
document (when some document hashes in, the smallest one is among them anyway). The smallest hash is a
global fact: it is found with a CombineGlobally (Top.Smallest(1)) and read back as a side input, never by
gathering the documents.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.examples.seeds import stable_int
from transforms.result import StageResult

TRAIN = "train"
VALIDATION = "validation"


def split_key(seed: int, doc_id: str) -> tuple[int, str]:
    """The document's sort key: (64-bit hash of (seed, doc_id), doc_id)."""
    return stable_int(seed, "split", doc_id), doc_id


def split_of(seed: int, doc_id: str, validation_fraction: float, smallest: tuple[int, str] | None = None) -> str:
    """"validation" if u(seed, doc_id) < validation_fraction or the doc has the `smallest` key, else "train"."""
    key = split_key(seed, doc_id)
    if key[0] < validation_fraction * float(1 << 64) or (smallest is not None and key == tuple(smallest)):
        return VALIDATION
    return TRAIN


class _Assign(beam.DoFn):
    def __init__(self, fraction: float, seed: int):
        self._fraction, self._seed = fraction, seed

    def process(self, doc, smallest):
        low = tuple(smallest[0]) if smallest else None
        yield dict(doc, split=split_of(self._seed, doc["doc_id"], self._fraction, low))


class AssignSplits(beam.PTransform):
    """Document dicts -> StageResult with main ``documents``: the same dicts (copied) with `split` set to
    "train" or "validation". No counters (the examples stage counts rows per split)."""

    def __init__(self, validation_fraction: float, seed: int):
        super().__init__()
        self._fraction, self._seed = float(validation_fraction), int(seed)

    def expand(self, docs):
        seed = self._seed
        smallest = (
            docs
            | "SplitKey" >> beam.Map(lambda d: split_key(seed, d["doc_id"]))
            | "SmallestKey" >> beam.combiners.Top.Smallest(1)
        )
        split = docs | "AssignSplit" >> beam.ParDo(_Assign(self._fraction, seed), beam.pvalue.AsSingleton(smallest))
        return StageResult(split, "documents")
