"""Memory and capture-friendliness of the model: one bias per stack, checkpointing, no host syncs."""

import numpy as np
import torch

from train.config import preset
from train.data import StreamConfig, collate
from train.model import T5, build_model
from train.trainer import summed_loss


def _batch(vocab=256, seed=0):
    rng = np.random.Generator(np.random.PCG64(seed))
    rows = [(np.append(rng.integers(3, vocab, size=int(rng.integers(5, 30))), 1),
             np.append(rng.integers(3, vocab, size=int(rng.integers(3, 20))), 1)) for _ in range(4)]
    return collate(rows, StreamConfig(decoder_start_id=1))


def _loss(model, b):
    return summed_loss(model, b)  # as the trainer calls it: packed rows, labelled positions only


def _padded(b):
    return {k: v for k, v in b.items() if k not in ("input_positions", "target_positions")}


def test_attention_bias_is_cast_once_per_stack_not_per_layer(monkeypatch):
    import train.model as m

    cfg = preset("tiny", vocab_size=256, num_layers=4, num_decoder_layers=4)
    model, b = build_model(cfg, seed=0).train(), _batch()
    real, masks = m.F.scaled_dot_product_attention, []

    def spy(q, k, v, attn_mask=None, **kwargs):
        if attn_mask is not None:  # (the dtype probe of compute_dtype passes none)
            masks.append((attn_mask.untyped_storage().data_ptr(), attn_mask.dtype, attn_mask.shape))
        return real(q, k, v, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(m.F, "scaled_dot_product_attention", spy)
    for autocast in (False, True):
        masks.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = _loss(model, b)
            expected = model.encoder.layers[0].attn.q(torch.zeros(1, cfg.d_model)).dtype
        assert len(masks) == 4 + 2 * 4 and torch.isfinite(loss)
        encoder, decoder_self, cross = masks[:4], masks[4::2], masks[5::2]
        # every layer of a stack gets the very same mask tensor (one (B, H, T, T) copy, cast once)
        for group in (encoder, decoder_self, cross):
            assert len({ptr for ptr, _, _ in group}) == 1, (autocast, group)
        assert {dtype for _, dtype, _ in masks} == {expected if autocast else torch.float32}


def test_activation_checkpointing_gives_the_same_gradients():
    cfg = preset("tiny", vocab_size=256, dropout_rate=0.1)
    b = _batch()
    grads = []
    for enabled in (False, True):
        model = build_model(cfg, seed=0).train()
        model.set_activation_checkpointing(enabled)
        torch.manual_seed(5)  # dropout draws the same masks, recomputation included
        _loss(model, b).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert all(torch.allclose(grads[0][n], grads[1][n], atol=1e-6) for n in grads[0])
    assert max(g.abs().max().item() for g in grads[0].values()) > 0


def test_label_positions_equal_the_ignore_index_loss():
    model, b = build_model(preset("tiny", vocab_size=256, dropout_rate=0.0), seed=1).eval(), _batch(seed=3)
    with torch.no_grad():
        a = _loss(model, b)
        c = model(b["input_ids"], b["decoder_input_ids"], b["attention_mask"], b["labels"])
    assert (b["labels"] == -100).any() and torch.allclose(a, c, rtol=1e-5)


def test_forward_and_backward_have_no_host_sync():
    # meta tensors have no data: any .item()/bool()/nonzero/boolean-mask indexing in the forward raises
    cfg = preset("tiny", vocab_size=256)
    b = _batch()
    with torch.device("meta"):
        model = T5(cfg).train()
    meta = {k: v.to("meta") for k, v in b.items() if torch.is_tensor(v)}
    loss = _loss(model, meta)
    loss.backward()
    assert loss.device.type == "meta" and model.shared.weight.grad is not None


def test_packed_rows_give_the_padded_loss_and_gradients(monkeypatch):
    import train.model as m

    cfg = preset("tiny", vocab_size=256, dropout_rate=0.0)
    b = _batch(seed=3)
    assert not b["attention_mask"].all()  # there is padding to skip
    for checkpointing in (False, True):
        model = build_model(cfg, seed=1).train()
        model.set_activation_checkpointing(checkpointing)
        results = []
        for batch in (_padded(b), b):
            seen = []
            real = m.FeedForward.forward
            monkeypatch.setattr(m.FeedForward, "forward", lambda self, x: seen.append(x.shape[:-1].numel()) or real(self, x))
            model.zero_grad(set_to_none=True)
            loss = _loss(model, batch)
            loss.backward()
            monkeypatch.setattr(m.FeedForward, "forward", real)
            results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}, seen))
        (padded, padded_grads, padded_rows), (packed, packed_grads, packed_rows) = results
        # the packed run computes the feed-forward on the real tokens only ...
        real_tokens = int(b["attention_mask"].sum()), len(b["target_positions"])
        assert set(packed_rows) == set(real_tokens) and min(padded_rows) > max(real_tokens)
        # ... and gives the padded model's loss and gradients
        assert torch.allclose(padded, packed, rtol=1e-6)
        assert all(torch.allclose(padded_grads[n], packed_grads[n], atol=1e-5) for n in padded_grads)
