"""The decontaminate stage as one Beam transform: evaluation items -> one index (side input) -> documents.

    r = docs | DecontaminateDocuments(cfg, eval_files)   # a transforms.result.StageResult
    r.kept             # documents, text without the stretches holding evaluation text (unchanged dicts otherwise)
    r.decontaminated   # DECONTAMINATED rows: one per removed stretch
    r.filtered         # FILTERED rows, reason "contaminated": documents left shorter than min_remaining_chars
    r.stats            # decontaminate.docs_in / docs_changed / docs_filtered / removals / chars_removed /
                       # item_matches; decontaminate.eval_items / eval_items_used / eval_items_too_short / eval_ngrams
    r.dead_letters     # documents that raised (they become rejects)

The evaluation side is bounded: every file is read by one DoFn call (items stream, each item's n-gram set
is computed there), and a CombineFn gathers the sets into one :class:`EvalIndex` that every worker gets as
a singleton side input. `eval_files` are `transforms.ingest.InputFile`s (path, recorded name).
"""

from __future__ import annotations

import apache_beam as beam

from transforms.cleaning.chars import nonspace_count
from transforms.dead_letters import DEAD_LETTERS, guarded
from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.evalset import item_entries
from transforms.decontam.index import EvalIndex, build_index
from transforms.decontam.match import decontaminate
from transforms.decontam.rows import CONTAMINATED, contaminated_row, removal_rows
from transforms.dedupe.keytext import make_converter
from transforms.documents import with_text
from transforms.result import StageResult
from transforms.stats import STATS, stat

DECONTAMINATED_TAG = "decontaminated"
FILTERED_TAG = "filtered"


class _ItemSets(beam.DoFn):
    """InputFile -> (file name, item index, ItemKey) for every item long enough to match."""

    def __init__(self, cfg: DecontaminateConfig):
        self.cfg = cfg

    def setup(self):
        self.converter = make_converter()

    def process(self, eval_file):
        for name, index, key in item_entries(eval_file, self.cfg, self.converter):
            yield stat("decontaminate.eval_items")
            if key is None:
                yield stat("decontaminate.eval_items_too_short")
                continue
            yield stat("decontaminate.eval_items_used")
            yield stat("decontaminate.eval_ngrams", int(key.hashes.size))
            yield (name, index, key)


class BuildIndex(beam.CombineFn):
    """(file, index, ItemKey) entries -> one EvalIndex (the same whatever the order or grouping of entries)."""

    def __init__(self, ngram: int, max_items: int):
        self.ngram, self.max_items = ngram, max_items

    def create_accumulator(self):
        return []

    def add_input(self, acc, entry):
        acc.append(entry)
        self._check(acc)
        return acc

    def merge_accumulators(self, accs):
        merged = [e for acc in accs for e in acc]
        self._check(merged)
        return merged

    def extract_output(self, acc) -> EvalIndex:
        return build_index(acc, self.ngram)

    def _check(self, acc):
        if len(acc) > self.max_items:
            raise ValueError(f"more than decontaminate.max_items ({self.max_items}) evaluation items")


class ReadEvalIndex(beam.PTransform):
    """PCollection of InputFile -> (PCollection of one EvalIndex, stats)."""

    def __init__(self, cfg: DecontaminateConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, files):
        out = files | "ItemSets" >> beam.ParDo(_ItemSets(self.cfg)).with_outputs(STATS, main="entries")
        index = out.entries | "BuildIndex" >> beam.CombineGlobally(BuildIndex(self.cfg.ngram, self.cfg.max_items))
        return index, out[STATS]


class _Decontaminate(beam.DoFn):
    """document (+ the EvalIndex side input) -> the document, decontaminated or filtered, and its removal rows."""

    def __init__(self, cfg: DecontaminateConfig):
        self.cfg = cfg

    def setup(self):
        self.converter = make_converter()

    @guarded("decontaminate")
    def process(self, doc, index: EvalIndex):
        cfg = self.cfg
        yield stat("decontaminate.docs_in")
        result = decontaminate(doc["text"], index, cfg, self.converter)
        if result.items_matched:
            yield stat("decontaminate.item_matches", len(result.items_matched))
        if not result.removals:
            yield doc
            return
        remaining = nonspace_count(result.text)
        filtered = remaining < cfg.min_remaining_chars
        yield stat("decontaminate.docs_changed")
        yield stat("decontaminate.removals", len(result.removals))
        yield stat("decontaminate.chars_removed", result.chars_removed)
        for row in removal_rows(doc, result, index, filtered):
            yield beam.pvalue.TaggedOutput(DECONTAMINATED_TAG, row)
        if filtered:
            yield stat("decontaminate.docs_filtered")
            yield stat(f"filter.filtered.{CONTAMINATED}")
            yield beam.pvalue.TaggedOutput(FILTERED_TAG, contaminated_row(doc, remaining, cfg.min_remaining_chars))
            return
        yield with_text(doc, result.text)


class DecontaminateDocuments(beam.PTransform):
    """Documents -> StageResult: main `kept`, side `decontaminated` and `filtered`, stats, dead letters."""

    def __init__(self, cfg: DecontaminateConfig, eval_files, label: str | None = None):
        super().__init__(label)
        cfg.validate()
        self.cfg = cfg
        self.eval_files = sorted(eval_files, key=lambda f: (f.source, f.path))

    def expand(self, docs):
        files = docs.pipeline | "EvalFiles" >> beam.Create(self.eval_files)
        index, eval_stats = files | "EvalIndex" >> ReadEvalIndex(self.cfg)
        out = docs | "Decontaminate" >> beam.ParDo(
            _Decontaminate(self.cfg), beam.pvalue.AsSingleton(index)
        ).with_outputs(DECONTAMINATED_TAG, FILTERED_TAG, STATS, DEAD_LETTERS, main="kept")
        stats = (eval_stats, out[STATS]) | "FlattenStats" >> beam.Flatten()
        return StageResult(out.kept, "kept", side={DECONTAMINATED_TAG: out[DECONTAMINATED_TAG],
                                                   FILTERED_TAG: out[FILTERED_TAG]},
                           stats=stats, dead_letters=out[DEAD_LETTERS])
