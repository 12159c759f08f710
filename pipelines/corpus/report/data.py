"""One corpus's report inputs, read once and lazily: each table only when a section asks for it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pipelines.corpus.report.load import SPLITS, Corpus, Sampled, column
from pipelines.corpus.report.measure import TokenStats, lookup, token_stats
from pipelines.corpus.report.vocab import EXTRA_IDS, Vocab

EXAMPLE_COLUMNS = ["example_id", "task", "input_ids", "target_ids", "doc_id", "segment_index"]


@dataclass(frozen=True)
class Options:
    """How much to read. Document length columns are always read whole (a few bytes per document);
    examples and document text are sampled by row group."""

    charts: bool = True
    verify: bool = True
    max_examples: int = 20_000  # example rows read per split
    text_docs: int = 32  # documents whose text is read to measure tokens per character
    text_chars: int = 400_000  # characters of that text encoded, spread over those documents
    shown: int = 2  # decoded examples shown per split and task


class CorpusData:
    """Lazily read tables of one corpus. A property is None when its part of the build is absent."""

    def __init__(self, corpus: Corpus, options: Options):
        self.corpus, self.options = corpus, options

    @cached_property
    def documents(self) -> Sampled | None:
        return self.corpus.read("documents", ["raw_char_length", "char_length", "cluster_size", "split"])

    @cached_property
    def rejects(self) -> Sampled | None:
        return self.corpus.read("rejects", ["reason", "byte_length"])

    @cached_property
    def filtered(self) -> Sampled | None:
        return self.corpus.read("filtered", ["reason", "char_length", "raw_char_length"])

    @cached_property
    def duplicates(self) -> Sampled | None:
        return self.corpus.read("duplicates", ["kind", "cluster_id", "char_length"])

    @cached_property
    def vocab(self) -> Vocab | None:
        model = self.corpus.vocab_model
        if model is None:
            return None
        return Vocab(model, lookup(self.corpus.config, "examples", "num_sentinels") or EXTRA_IDS)

    @cached_property
    def examples(self) -> dict[str, Sampled]:
        """Split -> sampled EXAMPLES rows, sorted by example_id; splits not built are left out."""
        out = {}
        for split in SPLITS:
            s = self.corpus.read(f"examples/{split}", EXAMPLE_COLUMNS, self.options.max_examples)
            if s is not None:
                if "example_id" in s.table.column_names and s.sampled:
                    s = Sampled(s.table.sort_by("example_id"), s.total)
                out[split] = s
        return out

    @cached_property
    def token_stats(self) -> dict[str, TokenStats]:
        """Split -> per-example token counts (content counts need the vocabulary)."""
        v = self.vocab
        return {split: token_stats(s.table, v.n_pieces if v else None, v.special_ids if v else ())
                for split, s in self.examples.items() if s.sampled}

    @cached_property
    def pooled_stats(self) -> TokenStats | None:
        """All splits' token counts together."""
        stats = list(self.token_stats.values())
        if not stats:
            return None

        def cat(name):
            parts = [getattr(s, name) for s in stats]
            return None if any(p is None for p in parts) else np.concatenate(parts)

        spans = {}
        for s in stats:
            for task, v in s.spans.items():
                spans[task] = np.concatenate([spans.get(task, np.zeros(0, dtype=np.int64)), v])
        return TokenStats(cat("task"), cat("input_len"), cat("target_len"), cat("input_content"),
                          cat("target_content"), spans)

    def length(self, name: str) -> np.ndarray | None:
        return column(self.documents, name)

    def text_sample(self) -> list[str]:
        """Prefixes of a few kept documents' text, at most options.text_chars characters in all."""
        s = self.corpus.read("documents", ["text"], self.options.text_docs)
        if s is None or not s.sampled:
            return []
        texts = [t for t in s.table.column("text").to_pylist()[: self.options.text_docs] if t]
        if not texts:
            return []
        each = max(1, self.options.text_chars // len(texts))
        return [t[:each] for t in texts]
