"""train.export / train.generate: the RUN/hf directory works with transformers and without it."""

import json

import pytest
import torch

pytest.importorskip("transformers")
import sentencepiece as spm  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import T5ForConditionalGeneration, T5Tokenizer  # noqa: E402

from train.config import padded_vocab_size, preset  # noqa: E402
from train.export import export_hf, load_export  # noqa: E402
from train.generate import generate_text, sample, top_p_filter  # noqa: E402
from train.model import build_model  # noqa: E402
from train.synthetic import chinese_like_lines, train_sentencepiece  # noqa: E402
from train.tokenizer import T5Vocab, read_spm_settings  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    lines = chinese_like_lines(1500, seed=11)
    vocab_file = train_sentencepiece(lines, root / "spiece.model", vocab_size=500)
    sp = spm.SentencePieceProcessor(model_file=str(vocab_file))
    cfg = preset("tiny", vocab_size=padded_vocab_size(sp.get_piece_size()), dropout_rate=0.0)
    model = build_model(cfg, seed=7).eval()
    with torch.no_grad():  # make the norms non-trivial so a mis-mapped weight would show
        for param in model.parameters():
            if param.dim() == 1:
                param.mul_(1.0 + 0.2 * torch.randn_like(param))
    out = export_hf(model.state_dict(), cfg, root / "hf", vocab_file)
    return {"dir": out, "model": model, "cfg": cfg, "sp": sp, "lines": lines}


def test_config_json_describes_a_t5(exported):
    config = json.loads((exported["dir"] / "config.json").read_text())
    cfg = exported["cfg"]
    assert config["model_type"] == "t5" and config["feed_forward_proj"] == "relu"
    assert (config["decoder_start_token_id"], config["pad_token_id"], config["eos_token_id"]) == (0, 0, 1)
    assert config["vocab_size"] == cfg.vocab_size == 640
    assert (config["d_model"], config["num_layers"], config["num_heads"]) == (cfg.d_model, cfg.num_layers, cfg.num_heads)
    tok = json.loads((exported["dir"] / "tokenizer_config.json").read_text())
    assert tok["extra_ids"] == 100 and tok["tokenizer_class"] == "T5Tokenizer"
    for name in ("model.safetensors", "spiece.model", "tokenizer.json", "special_tokens_map.json"):
        assert (exported["dir"] / name).is_file()


def test_tied_weights_are_stored_once_under_transformers_names(exported):
    keys = set(load_file(str(exported["dir"] / "model.safetensors")))
    assert "shared.weight" in keys and "lm_head.weight" not in keys
    assert "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight" in keys
    assert "decoder.block.1.layer.1.EncDecAttention.k.weight" in keys
    assert "decoder.block.0.layer.2.DenseReluDense.wi.weight" in keys
    assert "encoder.final_layer_norm.weight" in keys
    assert not any("relative_attention_bias" in k and ".block.1." in k for k in keys)


def test_logits_match_transformers_in_fp32(exported):
    theirs = T5ForConditionalGeneration.from_pretrained(exported["dir"]).eval()
    ours = exported["model"]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 600, (3, 41), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 25:] = 0
    mask[2, 33:] = 0
    dec = torch.randint(3, 600, (3, 150), generator=g)  # past max_distance: exercises the log buckets
    dec[:, 0] = 0
    with torch.no_grad():
        a = ours(ids, dec, mask.bool())
        b = theirs(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    assert a.shape == b.shape
    assert (a - b).abs().max().item() < 1e-4
    assert a.abs().max().item() > 1.0  # not trivially small


def test_load_export_round_trips(exported):
    again = load_export(exported["dir"])
    for (name, a), b in zip(exported["model"].state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


def test_t5_tokenizer_from_pretrained_matches_sentencepiece(exported):
    tok = T5Tokenizer.from_pretrained(exported["dir"])
    sp, n = exported["sp"], exported["sp"].get_piece_size()
    assert len(tok) == n + 100
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert tok.convert_tokens_to_ids("<extra_id_0>") == n + 99
    assert tok.convert_tokens_to_ids("<extra_id_99>") == n
    for line in exported["lines"][:20]:
        assert tok(line).input_ids == sp.encode(line) + [1]
    assert tok.decode(tok(exported["lines"][0]).input_ids, skip_special_tokens=True) == exported["lines"][0]


def test_tokenizer_json_is_exactly_sentencepiece_including_byte_fallback(exported):
    tokenizers = pytest.importorskip("tokenizers")
    fast = tokenizers.Tokenizer.from_file(str(exported["dir"] / "tokenizer.json"))
    sp = exported["sp"]
    samples = exported["lines"][:10] + ["小咕噜对，", " 一丁  七万 ", "abc 123", "一丁<extra_id_3>七"]
    for text in samples:
        ids = fast.encode(text).ids
        if "<extra_id_" not in text:
            assert ids == sp.encode(text) + [1], text
            assert fast.decode(ids) == sp.decode(sp.encode(text)), text
    assert T5Vocab(exported["dir"] / "spiece.model").sentinel_id(3) in fast.encode("一丁<extra_id_3>七").ids
    settings = read_spm_settings((exported["dir"] / "spiece.model").read_bytes())
    assert settings.byte_fallback and settings.precompiled_charsmap == b""


def test_the_seed_snippet_runs_on_the_export(exported):
    tokenizer = T5Tokenizer.from_pretrained(exported["dir"])
    model = T5ForConditionalGeneration.from_pretrained(exported["dir"])
    input_ids = tokenizer(exported["lines"][0][:10], return_tensors="pt").input_ids
    torch.manual_seed(0)
    out = model.generate(input_ids, do_sample=True, top_p=0.9, max_length=512)
    assert out.shape[0] == 1 and 1 < out.shape[1] <= 512
    assert out[0, 0].item() == 0  # decoder_start_token_id from config.json
    assert isinstance(tokenizer.decode(out[0], skip_special_tokens=True), str)


def test_greedy_generation_matches_transformers(exported):
    model = T5ForConditionalGeneration.from_pretrained(exported["dir"]).eval()
    vocab = T5Vocab(exported["dir"] / "spiece.model")
    ids = vocab.encode(exported["lines"][1][:12])
    theirs = model.generate(torch.tensor([ids]), do_sample=False, max_length=40)[0].tolist()
    ours = sample(exported["model"], ids, max_length=40, do_sample=False)
    assert theirs[0] == 0 and theirs[1:] == ours


def test_top_p_filter_matches_transformers():
    from transformers.generation.logits_process import TopPLogitsWarper

    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * 3
    for p in (0.1, 0.5, 0.9):
        expected = TopPLogitsWarper(p)(None, logits.clone())
        assert torch.equal(torch.isinf(top_p_filter(logits, p)), torch.isinf(expected))
        assert (~torch.isinf(top_p_filter(logits, p))).sum(-1).min() >= 1


def test_generate_text_samples_reproducibly_without_transformers(exported):
    first = generate_text(exported["dir"], "小咕噜对，", num_samples=2, seed=3, max_length=30)
    again = generate_text(exported["dir"], "小咕噜对，", num_samples=2, seed=3, max_length=30)
    assert first == again and len(first) == 2 and first[0] != first[1]
    infill = generate_text(exported["dir"], "一丁<extra_id_0>七", seed=1, max_length=10, do_sample=False)
    assert isinstance(infill[0], str)
