"""One segment -> its example rows (EXAMPLES columns) and counters. Pure; the Beam wrapper is `transform.py`.

Per segment, with every random choice seeded from (corpus seed, doc_id, segment_index, purpose):

1. Tokenize. If the segment has more tokens than the raw budget (T5 arithmetic; the segmenter only
   estimated it in characters) keep the longest prefix that ends at a sentence end and fits, or, when
   no sentence end lies in the budget's second half, the longest prefix that fits at a character
   boundary. Counted as examples.truncated_segments / examples.truncated_tokens.
2. Task: "both", or infilling with probability infilling_fraction from a hash of the segment id.
3. Infilling: draw noise spans (masking.py), move both edges of each span to a neighbouring token
   boundary that is a character boundary and, with snap_to_words, a jieba word boundary (words.py;
   unbiased randomized rounding, so the mask ratio stays on target), merge spans that then touch, and
   merge the closest pairs while the input would exceed input_length or use more sentinels than there
   are. Input = kept tokens with one sentinel per span + EOS; target =
   sentinel, span, ..., final sentinel, EOS.
4. Continuation: split at a sentence end drawn uniformly among those in [continuation_min,
   continuation_max] of the tokens (a uniform character boundary there when there is none); input =
   front + <extra_id_N> + EOS, target = <extra_id_N> + back + EOS (N = continuation_sentinel, 1 as in
   LongLM's released data).
"""

from __future__ import annotations

import math

import numpy as np

from schemas.tables import EXAMPLES, make_row
from transforms.examples.config import CONTINUATION, INFILLING, ExamplesConfig
from transforms.examples.masking import fit_spans, infilling_ids, random_spans
from transforms.examples.seeds import rng_for, unit_float
from transforms.examples.tokenize import Encoded, SpmTokenizer
from transforms.examples.words import JiebaIndex, WordBoundaries, snap_spans
from transforms.segment import sentence_boundaries


def example_id(doc_id: str, segment_index: int, task: str) -> str:
    return f"{doc_id}-{segment_index:06d}-{task}"


def choose_tasks(cfg: ExamplesConfig, seed: int, doc_id: str, segment_index: int) -> list[str]:
    """The task(s) of a segment: both, or one drawn from a seeded hash by infilling_fraction."""
    if cfg.task_mix == "both":
        return [INFILLING, CONTINUATION]
    u = unit_float(seed, doc_id, segment_index, "task")
    return [INFILLING if u < cfg.infilling_fraction else CONTINUATION]


def keep_length(enc: Encoded, budget: int) -> int:
    """How many tokens of `enc` to keep so that at most `budget` remain (see module doc, step 1)."""
    n = len(enc)
    if n <= budget:
        return n
    ends = set(sentence_boundaries(enc.text))
    at_char = 0
    for k in range(budget, budget // 2 - 1, -1):
        if not enc.valid[k]:
            continue
        at_char = at_char or k
        if int(enc.offsets[k]) in ends:
            return k
    return at_char or budget


def truncated(enc: Encoded, k: int) -> Encoded:
    """The first k tokens of `enc` (boundary k becomes the end)."""
    if k >= len(enc):
        return enc
    valid = enc.valid[: k + 1].copy()
    valid[k] = True
    return Encoded(enc.text[: int(enc.offsets[k])], enc.ids[:k], enc.offsets[: k + 1], valid)


def make_infilling(enc: Encoded, cfg: ExamplesConfig, tok: SpmTokenizer, rng, words: WordBoundaries | None):
    """(input ids, target ids, counters) of the infilling example of a tokenized segment."""
    n = len(enc)
    spans = random_spans(n, cfg.noise_density, cfg.mean_span, cfg.span_distribution, rng)
    valid, offsets = enc.valid, enc.offsets

    if words is None:
        def is_edge(t: int) -> bool:
            return bool(valid[t])
    else:
        def is_edge(t: int) -> bool:
            return bool(valid[t]) and words.is_boundary(int(offsets[t]))

    spans = snap_spans(spans, is_edge, n, rng)
    spans, merges = fit_spans(spans, n, cfg.input_length, cfg.num_sentinels - 1)
    sentinels = [tok.sentinel(i) for i in range(len(spans) + 1)]
    inp, tgt = infilling_ids(enc.ids, spans, sentinels, tok.eos_id)
    counts = {
        "infilling": 1,
        "infilling_tokens": n,
        "masked_tokens": sum(e - s for s, e in spans),
        "noise_spans": len(spans),
        "span_merges": merges,
    }
    return inp, tgt, counts


def continuation_split(enc: Encoded, cfg: ExamplesConfig, rng) -> tuple[int, bool]:
    """(split token index, at a sentence end?) drawn uniformly (see module doc, step 4)."""
    n = len(enc)
    lo = min(max(1, math.ceil(cfg.continuation_min * n)), n - 1)
    hi = max(lo, min(n - 1, math.floor(cfg.continuation_max * n)))
    ends = np.asarray(sentence_boundaries(enc.text), dtype=np.int64)
    ks = np.arange(lo, hi + 1)
    valid = enc.valid[lo : hi + 1]
    at_sentence = ks[valid & np.isin(enc.offsets[lo : hi + 1], ends)]
    if len(at_sentence):
        return int(at_sentence[rng.integers(len(at_sentence))]), True
    candidates = ks[valid] if valid.any() else ks
    return int(candidates[rng.integers(len(candidates))]), False


def make_continuation(enc: Encoded, cfg: ExamplesConfig, tok: SpmTokenizer, rng):
    """(input ids, target ids, counters) of the continuation example of a tokenized segment."""
    k, at_sentence = continuation_split(enc, cfg, rng)
    ids = enc.ids.tolist()
    s0 = tok.sentinel(cfg.continuation_sentinel)
    counts = {
        "continuation": 1,
        "continuation_tokens": len(ids),
        "continuation_sentence_splits" if at_sentence else "continuation_fallback_splits": 1,
    }
    return ids[:k] + [s0, tok.eos_id], [s0] + ids[k:] + [tok.eos_id], counts


def segment_examples(
    segment: dict, tok: SpmTokenizer, jieba_index: JiebaIndex | None, cfg: ExamplesConfig, seed: int
) -> tuple[list[tuple[str, dict]], dict[str, int]]:
    """((split, row) pairs, counters) for one segment dict {doc_id, segment_index, split, text}.

    Rows have exactly the EXAMPLES columns. `jieba_index` is needed when cfg.snap_to_words.
    """
    doc_id, index = segment["doc_id"], int(segment["segment_index"])
    split = segment.get("split") or "train"
    enc = tok.encode(segment["text"])
    counts: dict[str, int] = {"segments": 1}
    budget = cfg.max_segment_tokens()
    k = keep_length(enc, budget)
    if k < len(enc):
        counts["truncated_segments"] = 1
        counts["truncated_tokens"] = len(enc) - k
        enc = truncated(enc, k)
    if len(enc) < cfg.min_tokens:
        counts["skipped_short"] = 1
        return [], counts
    rows = []
    for task in choose_tasks(cfg, seed, doc_id, index):
        if task == INFILLING:
            words = WordBoundaries(jieba_index, enc.text) if cfg.snap_to_words else None
            inp, tgt, c = make_infilling(enc, cfg, tok, rng_for(seed, doc_id, index, INFILLING), words)
        else:
            inp, tgt, c = make_continuation(enc, cfg, tok, rng_for(seed, doc_id, index, CONTINUATION))
        for name, value in c.items():
            counts[name] = counts.get(name, 0) + value
        counts[f"rows.{split}"] = counts.get(f"rows.{split}", 0) + 1
        rows.append((split, make_row(EXAMPLES, example_id=example_id(doc_id, index, task), task=task, input_ids=inp,
                                     target_ids=tgt, doc_id=doc_id, segment_index=index)))
    return rows, counts
