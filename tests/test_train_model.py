"""train.model / train.config: architecture facts, parameter counts, incremental decoding."""

import math

import pytest
import torch

from train.config import (
    PRESETS,
    SEED_PARAMETER_COUNTS,
    T5_VOCAB_SIZE,
    count_parameters,
    padded_vocab_size,
    preset,
)
from train.model import T5, build_model, relative_position_bucket


@pytest.mark.parametrize("name", ["small", "base", "large"])
def test_parameter_counts_match_the_seed_within_two_percent(name):
    cfg = preset(name, vocab_size=T5_VOCAB_SIZE)
    with torch.device("meta"):  # no memory, even for `large`
        model = T5(cfg)
    real = sum(p.numel() for p in model.parameters())
    assert real == count_parameters(cfg)
    assert abs(real - SEED_PARAMETER_COUNTS[name]) / SEED_PARAMETER_COUNTS[name] < 0.02


def test_parameter_count_by_hand_for_small():
    # 32128*512 embedding; encoder 6 x (4*512*512 + 2*512*2048 + 2*512); decoder 6 x (8*512*512 + 2*512*2048 + 3*512);
    # two 32x8 bias tables; two final norms.
    expected = 32128 * 512 + 6 * (4 * 512 * 512 + 2 * 512 * 2048 + 1024) + 6 * (8 * 512 * 512 + 2 * 512 * 2048 + 1536)
    expected += 2 * 32 * 8 + 2 * 512
    assert count_parameters(preset("small")) == expected == 60_506_624


def test_presets_follow_the_seed_table():
    table = {"small": (512, 2048, 64, 8, 6, 6), "base": (768, 3072, 64, 12, 12, 12), "large": (1536, 3072, 64, 12, 24, 32)}
    for name, dims in table.items():
        c = PRESETS[name]
        assert (c.d_model, c.d_ff, c.d_kv, c.num_heads, c.num_layers, c.num_decoder_layers) == dims
    assert "tiny" in PRESETS


def test_vocab_is_pieces_plus_sentinels_padded_to_128():
    assert padded_vocab_size(500) == 640
    assert padded_vocab_size(32000) == 32128
    assert padded_vocab_size(28) == 128
    assert padded_vocab_size(157) == 384  # 257 -> 384


def test_no_biases_and_one_shared_bias_table_per_stack():
    model = build_model(preset("tiny", vocab_size=256))
    names = [n for n, _ in model.named_parameters()]
    tables = [n for n in names if "relative_attention_bias" in n]
    assert tables == ["encoder.layers.0.attn.relative_attention_bias.weight",
                      "decoder.layers.0.attn.relative_attention_bias.weight"]
    assert not any(n.endswith(".bias") for n in names)
    assert all(not isinstance(m, torch.nn.Linear) or m.bias is None for m in model.modules())


def test_relative_buckets_match_transformers():
    from transformers.models.t5.modeling_t5 import T5Attention

    rel = torch.arange(-300, 300)[None, :] - torch.arange(0, 40)[:, None]
    for bidirectional in (True, False):
        ours = relative_position_bucket(rel, bidirectional, 32, 128)
        theirs = T5Attention._relative_position_bucket(rel, bidirectional, 32, 128)
        assert torch.equal(ours, theirs)
    # causal buckets never distinguish future positions
    causal = relative_position_bucket(torch.arange(1, 50), False, 32, 128)
    assert (causal == 0).all()


def _manual_attention_logits(model: T5, ids: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
    """Straight-line re-implementation (einsum + softmax, no SDPA) of the documented architecture."""
    cfg = model.config

    def norm(layer, x):
        return layer.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg.layer_norm_epsilon)

    def attend(att, x, mem, bias):
        b, t, _ = x.shape
        q = att.q(x).view(b, t, cfg.num_heads, cfg.d_kv)
        k = att.k(mem).view(b, mem.shape[1], cfg.num_heads, cfg.d_kv)
        v = att.v(mem).view(b, mem.shape[1], cfg.num_heads, cfg.d_kv)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) + bias  # no 1/sqrt(d_kv)
        return att.o(torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).reshape(b, t, -1))

    h = model.shared(ids)
    bias = model.encoder.layers[0].attn.position_bias(ids.shape[1], ids.shape[1])
    for layer in model.encoder.layers:
        h = h + attend(layer.attn, norm(layer.attn_norm, h), norm(layer.attn_norm, h), bias)
        h = h + layer.ff.wo(torch.relu(layer.ff.wi(norm(layer.ff_norm, h))))
    memory = norm(model.encoder.final_norm, h)
    t = dec.shape[1]
    causal = torch.full((t, t), float("-inf")).triu(1)
    bias = model.decoder.layers[0].attn.position_bias(t, t) + causal
    h = model.shared(dec)
    for layer in model.decoder.layers:
        x = norm(layer.attn_norm, h)
        h = h + attend(layer.attn, x, x, bias)
        h = h + attend(layer.cross, norm(layer.cross_norm, h), memory, 0.0)
        h = h + layer.ff.wo(torch.relu(layer.ff.wi(norm(layer.ff_norm, h))))
    h = norm(model.decoder.final_norm, h) * cfg.d_model**-0.5
    return h @ model.shared.weight.T


def test_forward_matches_a_straight_line_reference():
    model = build_model(preset("tiny", vocab_size=256, dropout_rate=0.0), seed=3).eval()
    g = torch.Generator().manual_seed(0)
    ids, dec = torch.randint(0, 256, (2, 19), generator=g), torch.randint(0, 256, (2, 11), generator=g)
    with torch.no_grad():
        assert torch.allclose(model(ids, dec), _manual_attention_logits(model, ids, dec), atol=1e-4)


def test_padding_does_not_change_real_positions():
    model = build_model(preset("tiny", vocab_size=256, dropout_rate=0.0), seed=1).eval()
    g = torch.Generator().manual_seed(1)
    ids, dec = torch.randint(3, 256, (1, 9), generator=g), torch.randint(3, 256, (1, 6), generator=g)
    padded = torch.cat([ids, torch.zeros(1, 7, dtype=torch.long)], 1)
    mask = padded != 0
    mask[0, :9] = True
    with torch.no_grad():
        assert torch.allclose(model(ids, dec), model(padded, dec, mask), atol=1e-5)


def test_loss_with_labels_equals_cross_entropy_of_logits():
    model = build_model(preset("tiny", vocab_size=256, dropout_rate=0.0), seed=2).eval()
    g = torch.Generator().manual_seed(2)
    ids, dec = torch.randint(3, 256, (3, 8), generator=g), torch.randint(3, 256, (3, 5), generator=g)
    labels = torch.randint(3, 256, (3, 5), generator=g)
    labels[1, 3:] = -100
    with torch.no_grad():
        logits = model(ids, dec)
        expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), labels.reshape(-1), reduction="sum")
        assert torch.allclose(model(ids, dec, labels=labels), expected, rtol=1e-5)


def test_cached_incremental_decoding_equals_full_decoding():
    model = build_model(preset("tiny", vocab_size=256, dropout_rate=0.0), seed=4).eval()
    g = torch.Generator().manual_seed(4)
    ids, dec = torch.randint(3, 256, (1, 12), generator=g), torch.randint(3, 256, (1, 140), generator=g)
    with torch.no_grad():
        memory = model.encode(ids)
        full = model.decode(dec, memory)
        cache = model.new_cache()
        steps = [model.decode(dec[:, i : i + 1], memory, None, cache, offset=i) for i in range(dec.shape[1])]
    assert torch.allclose(full, torch.cat(steps, 1), atol=1e-4)


def test_initialisation_is_seeded_and_t5_scaled():
    cfg = preset("tiny", vocab_size=256)
    a, b, c = build_model(cfg, seed=5), build_model(cfg, seed=5), build_model(cfg, seed=6)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.shared.weight, c.shared.weight)
    q = a.encoder.layers[0].attn.q.weight
    assert abs(q.std().item() - (cfg.d_model * cfg.d_kv) ** -0.5) < 0.2 * (cfg.d_model * cfg.d_kv) ** -0.5
    assert abs(a.shared.weight.std().item() - 1.0) < 0.1
    assert math.isclose(a.encoder.final_norm.weight.mean().item(), 1.0)
