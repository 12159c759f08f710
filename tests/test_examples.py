"""Pretraining examples: T5 length arithmetic, noise spans, jieba snapping, infilling/continuation rows,
corpus-level acceptance (round trip, mask ratio, span length, lengths, sentinels) and MakeExamples."""

from __future__ import annotations

import math
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from schemas.tables import EXAMPLES
from tests.conftest import SHARED_CORPUS
from tests.reference import restore_infilling, spans_to_mask
from transforms.examples.build import continuation_split, keep_length, segment_examples
from transforms.examples.config import ExamplesConfig
from transforms.examples.masking import (
    infilling_ids,
    poisson_spans,
    t5_uniform_spans,
)
from transforms.examples.seeds import rng_for
from transforms.examples.tokenize import SpmTokenizer
from transforms.examples.transform import MakeExamples
from transforms.examples.words import JiebaIndex, WordBoundaries, full_pass_boundaries, is_han, snap_spans
from transforms.lengths import compute_input_and_target_lengths, corrupted_lengths
from transforms.segment import SegmentConfig, segment_document
from transforms.vocab import VocabConfig, train_sentencepiece

CORPUS = SHARED_CORPUS
_CHARS = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间知世什两次使身者被高已亲其进此话常与活正感见明问力理点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许先口由死安写性马光白或住难望教命花结乐色更拉东神记处让母父应直字场平报友关放至张认接告入笑内英军候民岁往何度山觉路带万男边风解叫任金快原吃妈变通师立象数四失满战远格士音轻目条呢"
#: E[max(1, X)] for X ~ Poisson(3): 3 + P(X = 0) = 3 + e^-3.
POISSON3_CLIPPED_MEAN = 3.0 + math.exp(-3.0)
SEED = 20240101


def _synthetic_docs(n_docs: int) -> list[dict]:
    rng = random.Random(5)
    words = ["".join(rng.choice(_CHARS) for _ in range(rng.choice((1, 2, 2, 3)))) for _ in range(900)]
    docs = []
    for d in range(n_docs):
        paragraphs = []
        for _ in range(120):
            sentences = []
            for _ in range(rng.randint(1, 5)):
                clauses = ["".join(rng.choice(words) for _ in range(rng.randint(2, 7))) for _ in range(rng.randint(1, 4))]
                sentences.append("，".join(clauses) + rng.choice("。。！？；") + ("鱻" if rng.random() < 0.01 else ""))
            paragraphs.append("".join(sentences))
        docs.append({"doc_id": f"{d:032x}", "text": "\n".join(paragraphs), "split": "train"})
    return docs


def _corpus_docs() -> list[dict]:
    novels = CORPUS / "novels"
    if not novels.is_dir():
        return _synthetic_docs(6)
    docs = []
    for i, path in enumerate(sorted(novels.glob("*.txt"))[::9]):
        text = path.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")
        docs.append({"doc_id": f"{i:032x}", "text": text[3000:73000], "split": "train"})
    return docs


@pytest.fixture(scope="module")
def corpus():
    """(segments, SpmTokenizer, JiebaIndex): a few novels (or synthetic text) with a small trained vocab."""
    docs = _corpus_docs()
    docs[-1]["split"] = "validation"
    seg_cfg, ex_cfg = SegmentConfig(chars_per_token=1.0), ExamplesConfig()
    segments = []
    for d in docs:
        segments += segment_document(d, seg_cfg.budget_chars(ex_cfg), seg_cfg)[0]
    vocab = VocabConfig(vocab_size=5000, character_coverage=0.995, num_threads=2)
    model = train_sentencepiece((s["text"] for s in segments[::2]), vocab, None, SEED)
    return segments, SpmTokenizer(model, 100), JiebaIndex(), model


# ---------------------------------------------------------------- length arithmetic


def test_t5_length_arithmetic():
    assert compute_input_and_target_lengths(512, 0.15, 3.0) == (568, 114)  # T5's published figures
    for length, density, mean in [(512, 0.15, 3.0), (1024, 0.15, 3.0), (256, 0.3, 5.0), (128, 0.1, 2.0)]:
        raw, target = compute_input_and_target_lengths(length, density, mean)
        noise = round(raw * density)
        spans = round(noise / mean)
        assert raw - noise + spans + 1 <= length < (raw + 1) - round((raw + 1) * density) + round(round((raw + 1) * density) / mean) + 1
        assert target == noise + spans + 1
        assert corrupted_lengths(raw, density, mean) == (raw - noise + spans + 1, target)


def test_segment_token_budget_also_fits_continuation():
    cfg = ExamplesConfig(continuation_max=0.95)
    raw = cfg.max_segment_tokens()
    assert int(raw * 0.95) + 2 <= cfg.input_length
    assert ExamplesConfig().max_segment_tokens() == ExamplesConfig().lengths()[0]


# ---------------------------------------------------------------- noise spans


def _check_spans(spans, n):
    assert spans and all(0 <= s < e <= n for s, e in spans)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # sorted, never touching


def test_poisson_spans_noise_count_and_length_distribution():
    lengths = []
    for i in range(400):
        n = 568
        spans = poisson_spans(n, 0.15, 3.0, rng_for(1, "p", i))
        _check_spans(spans, n)
        assert sum(e - s for s, e in spans) == round(n * 0.15)
        lengths += [e - s for s, e in spans[:-1]]  # the last span is shortened to fit the budget
    assert abs(np.mean(lengths) - POISSON3_CLIPPED_MEAN) < 0.08
    assert min(lengths) >= 1
    # P(length == 1) = P(X=0) + P(X=1) = 4 e^-3 for the clipped Poisson
    assert abs(np.mean(np.asarray(lengths) == 1) - 4 * math.exp(-3)) < 0.03


def test_t5_uniform_spans_follow_random_spans_noise_mask():
    for i in range(100):
        n = 100 + i
        spans = t5_uniform_spans(n, 0.15, 3.0, rng_for(2, "t", i))
        _check_spans(spans, n)
        noise = min(max(round(n * 0.15), 1), n - 1)
        mask = spans_to_mask(spans, n)
        assert mask.sum() == noise
        assert len(spans) == max(round(noise / 3.0), 1)
        assert not mask[0] and mask[-1]  # T5 interleaves kept-first and ends on a noise span


def test_infilling_ids_round_trip_and_format():
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 900, size=300).astype(np.int32)
    spans = poisson_spans(300, 0.15, 3.0, rng_for(3, "x"))
    sentinels = [999 - i for i in range(len(spans) + 1)]
    inp, tgt = infilling_ids(ids, spans, sentinels, eos=1)
    is_sentinel = lambda t: t >= 900  # noqa: E731
    assert restore_infilling(inp, tgt, is_sentinel) == ids.tolist()
    assert [t for t in inp if is_sentinel(t)] == sentinels[: len(spans)]
    assert tgt[0] == sentinels[0] and tgt[-2:] == [sentinels[len(spans)], 1] and inp[-1] == 1
    assert len(inp) == 300 - sum(e - s for s, e in spans) + len(spans) + 1


# ---------------------------------------------------------------- tokens, characters, words


def test_token_offsets_equal_sentencepiece_offset_mapping(corpus):
    segments, tok, _, _ = corpus
    texts = [s["text"] for s in segments[:150]] + ["生僻字鱻龘靐𠀀与 ASCII text 和😀表情", " 前导 空格", "a"]
    for text in texts:
        enc = tok.encode(text)
        slow = tok._encode_slow(text)
        assert enc.ids.tolist() == slow.ids.tolist() == tok.encode_ids(text)
        assert enc.offsets.tolist() == slow.offsets.tolist()
        assert enc.valid.tolist() == slow.valid.tolist()
        assert enc.offsets[-1] == len(text)


def test_is_han_is_jiebas_block_class():
    import jieba

    assert all(is_han(chr(c)) == bool(jieba.re_han_default.fullmatch(chr(c))) for c in range(0x10000))


def test_word_boundaries_near_edges_equal_a_full_jieba_pass(corpus):
    segments, _, jieba_index, _ = corpus
    rng = random.Random(1)
    texts = [s["text"] for s in rng.sample(segments, 40)] + ["abc123中华人民共和国成立了Python3.8版本"]
    for text in texts:
        full = full_pass_boundaries(jieba_index.tokenizer, text)
        words = WordBoundaries(jieba_index, text)
        positions = list(range(len(text) + 1))
        rng.shuffle(positions)  # the answer must not depend on the order of the questions
        assert {p for p in positions if words.is_boundary(p)} == full
        assert words.jieba_chars <= len(text) * 2


def test_snap_spans_is_unbiased_and_lands_on_allowed_boundaries():
    allowed = set(range(0, 101, 5))
    is_edge = allowed.__contains__
    spans = [(2, 4), (12, 19), (31, 32), (48, 55), (77, 78)]
    masked, outcomes = [], set()
    for i in range(4000):
        snapped = snap_spans(spans, is_edge, 100, rng_for(4, "snap", i))
        assert all(s in allowed and e in allowed and s < e for s, e in snapped)
        assert all(a[1] < b[0] for a, b in zip(snapped, snapped[1:]))
        masked.append(sum(e - s for s, e in snapped))
        outcomes |= {sp for sp in snapped if 30 <= sp[0] < 40}
    assert abs(np.mean(masked) - sum(e - s for s, e in spans)) < 0.3  # randomized rounding keeps the length
    assert outcomes == {(30, 35)}  # a span inside one word becomes that word (or nothing)
    assert snap_spans([(5, 10), (20, 40)], is_edge, 100, rng_for(4, "x")) == [(5, 10), (20, 40)]
    # nothing survives -> the first span is widened to the allowed boundaries around it
    assert snap_spans([(31, 32)], lambda t: t in (0, 30, 35, 100), 100, np.random.default_rng(0)) in ([(30, 35)],)


# ---------------------------------------------------------------- per segment and corpus level


def _span_ranges(inp, tgt, tok):
    """Token ranges of the masked spans in the original ids, from an infilling example."""
    lengths = {}
    current = None
    for t in tgt[:-1]:
        if tok.is_sentinel(t):
            current = t
            lengths[t] = 0
        else:
            lengths[current] += 1
    ranges, pos = [], 0
    for t in inp[:-1]:
        if tok.is_sentinel(t):
            ranges.append((pos, pos + lengths[t]))
            pos += lengths[t]
        else:
            pos += 1
    return ranges


def test_corpus_acceptance(corpus):
    segments, tok, jieba_index, _ = corpus
    cfg = ExamplesConfig(task_mix="both")
    masked = total = spans = 0
    budget = cfg.max_segment_tokens()
    for seg in segments:
        rows, _ = segment_examples(seg, tok, jieba_index, cfg, SEED)
        full_ids = tok.encode_ids(seg["text"])
        assert {r["task"] for _, r in rows} == {"infilling", "continuation"}
        for split, row in rows:
            assert split == seg["split"]
            assert row["example_id"] == f"{seg['doc_id']}-{seg['segment_index']:06d}-{row['task']}"
            inp, tgt = row["input_ids"], row["target_ids"]
            assert len(inp) <= cfg.input_length and inp[-1] == tok.eos_id and tgt[-1] == tok.eos_id
            assert all(0 <= t < tok.vocab_size for t in inp + tgt)
            if row["task"] == "infilling":
                restored = restore_infilling(inp, tgt, tok.is_sentinel)
                sentinel_ids = [t for t in inp + tgt if tok.is_sentinel(t)]
                assert all(tok.vocab_size - 100 <= t for t in sentinel_ids)
                ranges = _span_ranges(inp, tgt, tok)
                masked += sum(e - s for s, e in ranges)
                spans += len(ranges)
                total += len(restored)
                enc = tok.encode(seg["text"])
                full = full_pass_boundaries(jieba_index.tokenizer, seg["text"])
                for s, e in ranges:  # edges are character and word boundaries
                    for t in (s, e):
                        assert t == len(restored) or (enc.valid[t] and int(enc.offsets[t]) in full)
            else:
                restored = inp[:-2] + tgt[1:-1]
                k = len(inp) - 2
                n = len(restored)
                assert math.ceil(0.25 * n) <= k <= math.floor(0.75 * n)
            assert restored == full_ids[: len(restored)]
            assert len(restored) == len(full_ids) or len(full_ids) > budget
    assert abs(masked / total - 0.15) <= 0.005
    assert abs(masked / spans - POISSON3_CLIPPED_MEAN) <= 0.3


def test_examples_are_deterministic_and_seeded(corpus):
    segments, tok, jieba_index, model = corpus
    cfg = ExamplesConfig(task_mix="both")
    fresh_tok, fresh_jieba = SpmTokenizer(model, 100), JiebaIndex()
    for seg in segments[:40]:
        a = segment_examples(seg, tok, jieba_index, cfg, SEED)
        assert segment_examples(dict(seg), fresh_tok, fresh_jieba, cfg, SEED) == a
    differs = sum(segment_examples(s, tok, jieba_index, cfg, SEED)[0] != segment_examples(s, tok, jieba_index, cfg, 1)[0]
                  for s in segments[:40])
    assert differs >= 35


def test_task_mix_ratio_is_seeded_per_segment(corpus):
    segments, tok, jieba_index, _ = corpus
    cfg = ExamplesConfig(infilling_fraction=0.3)
    tasks = [segment_examples(s, tok, jieba_index, cfg, SEED)[0][0][1]["task"] for s in segments]
    share = tasks.count("infilling") / len(tasks)
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / len(tasks))


def test_t5_uniform_and_unsnapped_options(corpus):
    segments, tok, jieba_index, _ = corpus
    for cfg in (ExamplesConfig(span_distribution="t5_uniform", task_mix="both"),
                ExamplesConfig(snap_to_words=False, task_mix="both")):
        masked = total = 0
        for seg in segments[:200]:
            rows, counts = segment_examples(seg, tok, jieba_index if cfg.snap_to_words else None, cfg, SEED)
            row = next(r for _, r in rows if r["task"] == "infilling")
            assert restore_infilling(row["input_ids"], row["target_ids"], tok.is_sentinel) == \
                tok.encode_ids(seg["text"])[: counts["infilling_tokens"]]
            masked += counts["masked_tokens"]
            total += counts["infilling_tokens"]
        assert abs(masked / total - 0.15) <= 0.005


def test_short_inputs_and_few_sentinels_are_enforced(corpus):
    segments, tok, jieba_index, _ = corpus
    cfg = ExamplesConfig(input_length=64, num_sentinels=6, noise_density=0.15, mean_span=1.0, task_mix="both")
    merges = 0
    for seg in segments[:60]:
        rows, counts = segment_examples(seg, tok, jieba_index, cfg, SEED)
        merges += counts.get("span_merges", 0)
        for _, row in rows:
            assert len(row["input_ids"]) <= 64
            assert sum(tok.is_sentinel(t) for t in row["target_ids"]) <= 6
    assert merges > 0


def test_over_budget_segments_are_cut_at_a_sentence_end(corpus):
    _, tok, _, _ = corpus
    text = "".join(f"第{i}句话说的是这样一件事情。" for i in range(400))
    enc = tok.encode(text)
    budget = 300
    k = keep_length(enc, budget)
    assert budget // 2 <= k <= budget < len(enc)
    assert text[: int(enc.offsets[k])].endswith("。")
    assert keep_length(tok.encode("短。"), budget) == len(tok.encode("短。"))


def test_continuation_falls_back_to_a_token_position_without_sentence_ends(corpus):
    _, tok, _, _ = corpus
    enc = tok.encode("没有任何标点的一长串文字" * 20)
    k, at_sentence = continuation_split(enc, ExamplesConfig(), rng_for(1, "c"))
    assert not at_sentence and math.ceil(0.25 * len(enc)) <= k <= math.floor(0.75 * len(enc)) and enc.valid[k]


def test_make_examples_transform_matches_pure_function(corpus):
    segments, tok, jieba_index, model = corpus
    cfg = ExamplesConfig()
    sample = segments[:25] + [s for s in segments if s["split"] == "validation"][:10]
    expected = {"train": [], "validation": []}
    totals: dict[str, int] = {}
    for seg in sample:
        rows, counts = segment_examples(seg, tok, jieba_index, cfg, SEED)
        for split, row in rows:
            expected[split].append(row)
        for name, v in counts.items():
            totals[f"examples.{name}"] = totals.get(f"examples.{name}", 0) + v
    assert expected["validation"]
    key = lambda r: (r["example_id"], tuple(r["input_ids"]), tuple(r["target_ids"]), r["task"], r["doc_id"], r["segment_index"])  # noqa: E731
    with beam.Pipeline(runner="FnApiRunner") as p:
        model_pc = p | "Model" >> beam.Create([model])
        ex = p | "Segments" >> beam.Create(sample) | MakeExamples(cfg, SEED, model=model_pc)
        assert_that(ex.output("train") | "KT" >> beam.Map(key), equal_to([key(r) for r in expected["train"]]), label="train")
        assert_that(ex.output("validation") | "KV" >> beam.Map(key), equal_to([key(r) for r in expected["validation"]]),
                    label="validation")
        assert_that(ex.stats | beam.CombinePerKey(sum), equal_to(sorted(totals.items())), label="stats")
    assert set(expected["train"][0]) == set(EXAMPLES.schema.names)


def test_jieba_pairs_hold_every_adjacent_pair_of_every_word(corpus):
    """The one-lookup "not crossed" answer is exact only if no word's inner pair is missing."""
    _, _, jieba_index, _ = corpus
    words = [w for w, count in jieba_index.freq.items() if count and len(w) >= 2]
    assert len(words) > 100_000
    assert all(w[i:i + 2] in jieba_index.pairs for w in words for i in range(len(w) - 1))
    prefixes_only = [w for w, count in jieba_index.freq.items() if not count and len(w) == 2]
    assert all(p in jieba_index.pairs for p in prefixes_only[:1000])  # a prefix's pair is inside its word
