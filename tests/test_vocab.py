"""sentencepiece vocabulary: T5 layout, identity round trip, determinism, TrainVocab / --vocab reuse,
and ids identical to transformers' T5Tokenizer given the same spiece.model."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import apache_beam as beam
import pytest
import sentencepiece as spm

from tests.conftest import SHARED_CORPUS
from transforms.examples.config import ExamplesConfig
from transforms.examples.tokenize import SpmTokenizer
from transforms.segment import SegmentConfig, segment_document
from transforms.vocab import (
    MODEL_NAME,
    VOCAB_NAME,
    TrainVocab,
    VocabConfig,
    check_model,
    read_model,
    train_sentencepiece,
    vocab_text,
)

CORPUS = SHARED_CORPUS
_CHARS = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间知世什两次使身者被高已亲其进此话常与活正感见明问力理点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许先口由死安写性马光白或住难望教命花结乐色更拉东神记处让母父应直字场平报友关放至张认接告入笑内英军候民岁往何度山觉路带万男边风解叫任金快原吃妈变通师立象数四失满战远格士音轻目条呢"
SMALL = VocabConfig(vocab_size=1000, character_coverage=0.9995, num_threads=2, sample_segments=2000)


def synthetic_segments(seed: int, count: int) -> list[dict]:
    """Segments of Chinese-like text, with a few rare characters (byte fallback) and ASCII words."""
    rng = random.Random(seed)
    words = ["".join(rng.choice(_CHARS) for _ in range(rng.choice((1, 2, 2, 3)))) for _ in range(800)]
    segs = []
    for i in range(count):
        parts = []
        for _ in range(rng.randint(5, 20)):
            parts.append("".join(rng.choice(words) for _ in range(rng.randint(3, 10))))
            parts.append(rng.choice("，。！？；"))
            if rng.random() < 0.02:
                parts.append(rng.choice(["鱻", "龘", "靐", "𠀀", "Beam", "T5 "]))
        segs.append({"doc_id": f"{i % 7:032x}", "segment_index": i, "split": "train", "text": "".join(parts)})
    return segs


@pytest.fixture(scope="module")
def segments():
    return synthetic_segments(1, 1500)


@pytest.fixture(scope="module")
def trained(segments, tmp_path_factory):
    directory = tmp_path_factory.mktemp("spm")
    model = train_sentencepiece((s["text"] for s in segments), SMALL, str(directory), seed=3)
    return model, directory


def test_t5_special_ids_and_sentinel_layout(trained):
    model, _ = trained
    sp = check_model(model)
    assert (sp.pad_id(), sp.eos_id(), sp.unk_id(), sp.bos_id()) == (0, 1, 2, -1)
    assert [sp.id_to_piece(i) for i in range(3)] == ["<pad>", "</s>", "<unk>"]
    assert sp.get_piece_size() == SMALL.vocab_size
    tok = SpmTokenizer(model, 100)
    assert tok.vocab_size == SMALL.vocab_size + 100
    assert tok.sentinel(0) == SMALL.vocab_size + 99 and tok.sentinel(99) == SMALL.vocab_size
    assert all(sp.is_byte(i) for i in range(3, 3 + 256))  # byte fallback pieces follow the specials


def test_identity_normalization_round_trips_cleaned_text(trained):
    model, _ = trained
    sp = spm.SentencePieceProcessor(model_proto=model)
    samples = [
        "话说天下大势，分久必合，合久必分。",
        "他说：“你好！”  她笑了……\n第二段　全角空格",
        " 前导空格与结尾空格 ",
        "ＡＢＣ全角字母１２３与 ASCII text, 42.",
        "生僻字鱻龘靐𠀀与表情😀",
        "\ttab\tand\n\nblank lines\n",
    ]
    for text in samples:
        assert sp.decode(sp.encode(text)) == text


def test_training_is_deterministic(trained, segments, tmp_path):
    model, directory = trained
    again = train_sentencepiece((s["text"] for s in segments), SMALL, str(tmp_path), seed=3)
    assert again == model
    assert (directory / MODEL_NAME).read_bytes() == model
    assert (directory / VOCAB_NAME).read_bytes() == vocab_text(model)
    assert str(directory).encode() not in model  # no temp path recorded in the proto


def test_vocab_text_matches_the_file_sentencepiece_writes(segments, tmp_path):
    prefix = tmp_path / "native"
    spm.SentencePieceTrainer.train(sentence_iterator=iter([s["text"] for s in segments[:300]]),
                                   model_prefix=str(prefix), vocab_size=800, minloglevel=2, byte_fallback=True)
    native = (tmp_path / "native.model").read_bytes()
    assert vocab_text(native) == (tmp_path / "native.vocab").read_bytes()


def test_check_model_rejects_non_t5_layouts(segments, tmp_path):
    prefix = tmp_path / "plain"
    spm.SentencePieceTrainer.train(sentence_iterator=iter([s["text"] for s in segments[:300]]),
                                   model_prefix=str(prefix), vocab_size=600, minloglevel=2)
    with pytest.raises(ValueError, match="pad=0"):
        check_model((tmp_path / "plain.model").read_bytes())
    with pytest.raises(ValueError, match="not a sentencepiece model"):
        check_model(b"definitely not a model")


def _train_vocab(segments, cfg, seed, out):
    with beam.Pipeline(runner="FnApiRunner") as p:
        model = p | beam.Create(segments) | TrainVocab(cfg, seed, str(out))
        model.main | beam.Map(lambda m: (Path(out) / "returned.model").write_bytes(m))


def test_train_vocab_transform_writes_files_and_reuses_a_model(segments, tmp_path):
    cfg = dataclasses.replace(SMALL, sample_segments=600)
    out1 = tmp_path / "a"
    _train_vocab(segments, cfg, 9, out1)
    model = (out1 / "vocab" / MODEL_NAME).read_bytes()
    assert (out1 / "returned.model").read_bytes() == model
    assert (out1 / "vocab" / VOCAB_NAME).read_bytes() == vocab_text(model)
    assert not list((out1 / "vocab").glob("*.tmp"))
    # the sample is the 600 smallest hashes, in hash order: training on it directly gives the same model
    from transforms.vocab import sample_key

    sample = sorted(segments, key=lambda s: sample_key(9, s))[:600]
    assert train_sentencepiece((s["text"] for s in sample), cfg, str(tmp_path / "direct"), 9) == model
    # bundle order does not matter
    out2 = tmp_path / "b"
    _train_vocab(list(reversed(segments)), cfg, 9, out2)
    assert (out2 / "vocab" / MODEL_NAME).read_bytes() == model
    # --vocab PATH: read, checked and copied, no training
    out3 = tmp_path / "c"
    reuse = dataclasses.replace(cfg, model_path=str(out1 / "vocab" / MODEL_NAME), vocab_size=12345)
    _train_vocab(segments[:3], reuse, 1, out3)
    assert (out3 / "vocab" / MODEL_NAME).read_bytes() == model
    assert read_model(str(out3 / "vocab" / MODEL_NAME)) == model


def _hf_t5_tokenizer(model: bytes, tmp_path: Path, monkeypatch):
    """transformers.T5Tokenizer loaded from a directory holding spiece.model, as from_pretrained does.

    In this environment sentencepiece's bundled protobuf module needs a newer protobuf runtime than
    apache-beam allows, so transformers is pointed at its own copy of the same sentencepiece_model.proto.
    """
    transformers = pytest.importorskip("transformers")
    import transformers.convert_slow_tokenizer as cst
    from transformers.utils import sentencepiece_model_pb2_new

    try:
        cst.import_protobuf()
    except Exception:
        monkeypatch.setattr(cst, "import_protobuf", lambda *a, **k: sentencepiece_model_pb2_new)
    directory = tmp_path / "hf"
    directory.mkdir()
    (directory / "spiece.model").write_bytes(model)
    return transformers.T5Tokenizer.from_pretrained(str(directory), extra_ids=100)


def _collapse_byte_runs(ids: list[int], sp) -> list[int]:
    """ids with every run of byte-fallback pieces replaced by one <unk> (what byte_fallback=False gives)."""
    out: list[int] = []
    for t in ids:
        if sp.is_byte(t):
            if not out or out[-1] != 2:
                out.append(2)
        else:
            out.append(t)
    return out


def _sampled_segments(fallback: list[dict]) -> list[dict]:
    novels = CORPUS / "novels"
    if not novels.is_dir():
        return random.Random(0).sample(fallback, 100)
    cfg, ex = SegmentConfig(), ExamplesConfig()
    segs = []
    for i, path in enumerate(sorted(novels.glob("*.txt"))[::8]):
        text = path.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")[:60000]
        segs += segment_document({"doc_id": f"{i:032x}", "text": text}, cfg.budget_chars(ex), cfg)[0]
    return random.Random(0).sample(segs, 100)


@pytest.fixture(scope="module")
def sampled(segments, tmp_path_factory):
    """(100 sampled segment texts, a 4000-piece model trained on them and the synthetic segments)."""
    texts = [s["text"] for s in _sampled_segments(segments)]
    cfg = dataclasses.replace(SMALL, vocab_size=4000, character_coverage=0.995)
    model = train_sentencepiece(texts * 3 + [s["text"] for s in segments], cfg, None, 1)
    return texts, model


def test_round_trip_on_cleaned_novel_text(sampled):
    texts, model = sampled
    sp = spm.SentencePieceProcessor(model_proto=model)
    raw = texts
    novels = CORPUS / "novels"
    if novels.is_dir():  # whole stretches of novels, line breaks and indentation included
        raw = [p.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")[:20000]
               for p in sorted(novels.glob("*.txt"))[::10]]
    for text in raw:
        assert sp.decode(sp.encode(text)) == text


def test_ids_identical_to_transformers_t5_tokenizer(sampled, tmp_path, monkeypatch):
    texts, model = sampled
    tok = SpmTokenizer(model, 100)
    sp = tok.sp
    hf = _hf_t5_tokenizer(model, tmp_path, monkeypatch)
    assert len(hf) == tok.vocab_size
    assert hf.convert_tokens_to_ids([f"<extra_id_{i}>" for i in range(100)]) == [tok.sentinel(i) for i in range(100)]
    assert (hf.pad_token_id, hf.eos_token_id, hf.unk_token_id) == (0, 1, 2)
    ours = [tok.encode_ids(t) + [tok.eos_id] for t in texts]
    theirs = [hf(t)["input_ids"] for t in texts]
    with_bytes = sum(any(sp.is_byte(i) for i in ids) for ids in ours)
    assert with_bytes > 0  # the sample exercises byte fallback
    for mine, hf_ids in zip(ours, theirs):
        if not any(sp.is_byte(i) for i in mine):
            assert hf_ids == mine
        else:  # transformers 5's T5Tokenizer builds its Unigram with byte_fallback=False
            assert hf_ids == _collapse_byte_runs(mine, sp)
    # the same tokenizer with byte fallback switched on in its backend gives our ids everywhere
    from tokenizers.models import Unigram

    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    pieces += [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]
    hf.backend_tokenizer.model = Unigram(pieces, unk_id=2, byte_fallback=True)
    assert [hf(t)["input_ids"] for t in texts] == ours


def test_sample_prefilter_keeps_the_exact_smallest_keys_and_about_twice_the_sample():
    from transforms.vocab import sample_key, sample_threshold

    segments = [{"doc_id": f"d{i // 7}", "segment_index": i % 7} for i in range(20000)]
    keys = sorted(sample_key(3, s) for s in segments)
    assert sample_threshold(len(keys), 10000) == 1 << 64  # small corpus: everything passes
    bound = sample_threshold(len(keys), 500)
    passed = [k for k in keys if k[0] < bound]
    assert 500 <= len(passed) <= 1500  # ~2x the sample travels, not the corpus
    assert passed[:500] == keys[:500]
