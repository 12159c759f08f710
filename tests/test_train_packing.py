"""Packing: several examples per row give exactly the unpacked examples' summed loss and gradients; the
packer keeps every example once, within the row lengths; packed streams resume exactly."""

import numpy as np
import pytest
import torch

from train.config import preset
from train.data import StreamConfig, collate
from train.model import build_model
from train.packing import collate_packed, pack_batches, packing_for
from train.trainer import summed_loss

VOCAB = 256


def _examples(n, seed=0, max_in=30, max_tg=12):
    rng = np.random.Generator(np.random.PCG64(seed))
    return [(np.append(rng.integers(3, VOCAB, size=int(rng.integers(1, max_in))), 1),
             np.append(rng.integers(3, VOCAB, size=int(rng.integers(1, max_tg))), 1)) for _ in range(n)]


def test_every_example_is_packed_once_within_the_row_lengths():
    examples = _examples(200, seed=1)
    batches = list(pack_batches(iter(examples), rows=4, input_len=64, target_len=24))
    assert all(len(b) == 4 for b in batches[:-1]) and 1 <= len(batches[-1]) <= 4
    packed = [ex for batch in batches for row in batch for ex in row]
    assert sorted(id(a) for a, _ in packed) == sorted(id(a) for a, _ in examples)
    for batch in batches:
        for row in batch:
            assert sum(len(a) for a, _ in row) <= 64 and sum(len(b) for _, b in row) <= 24
    slots = len(batches) * 4 * (64 + 24)
    real = sum(len(a) + len(b) for a, b in examples)
    assert real / slots > 0.7 and len(packed) > 2 * 4 * len(batches)  # rows are filled, several examples each
    again = list(pack_batches(iter(examples), rows=4, input_len=64, target_len=24))
    assert [[[id(a) for a, _ in row] for row in b] for b in again] == [[[id(a) for a, _ in row] for row in b]
                                                                       for b in batches]


def test_collate_packed_marks_segments_and_shifts_targets_per_segment():
    (a1, b1), (a2, b2) = (np.array([5, 6, 1]), np.array([7, 1])), (np.array([8, 1]), np.array([9, 10, 1]))
    batch = collate_packed([[(a1, b1), (a2, b2)]], rows=2, input_len=8, target_len=8, pad_id=0, decoder_start_id=3)
    assert batch["input_ids"][0].tolist() == [5, 6, 1, 8, 1, 0, 0, 0]
    assert batch["input_segments"][0].tolist() == [1, 1, 1, 2, 2, 0, 0, 0]
    assert batch["input_offsets"][0].tolist()[:5] == [0, 1, 2, 0, 1]
    assert batch["labels"][0].tolist() == [7, 1, 9, 10, 1, -100, -100, -100]
    assert batch["decoder_input_ids"][0].tolist()[:5] == [3, 7, 3, 9, 10]
    assert batch["target_offsets"][0].tolist()[:5] == [0, 1, 0, 1, 2]
    assert batch["target_segments"][1].tolist() == [0] * 8 and not batch["attention_mask"][1].any()
    assert batch["examples"] == 2


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_packed_loss_and_gradients_equal_the_sum_over_unpacked_examples(checkpointing):
    torch.set_num_threads(1)
    cfg = preset("tiny", vocab_size=VOCAB, dropout_rate=0.0)
    model = build_model(cfg, seed=3).double().train()
    model.set_activation_checkpointing(checkpointing)
    examples = _examples(9, seed=2)
    (batch,) = pack_batches(iter(examples), rows=3, input_len=96, target_len=40)
    assert max(len(row) for row in batch) > 1  # several examples share a row
    packed = collate_packed(batch, 4, 96, 40, 0, 0)
    loss = summed_loss(model, packed)
    loss.backward()
    packed_grads = _grads(model)
    model.zero_grad(set_to_none=True)
    total = 0.0
    for example in examples:  # each example alone, skipping padding as the unpacked trainer does
        one = summed_loss(model, collate([example], StreamConfig()))
        one.backward()
        total += float(one)
    alone = _grads(model)
    assert float(loss.detach()) == pytest.approx(total, rel=1e-9)
    assert set(alone) == set(packed_grads)
    for name, grad in alone.items():
        assert torch.allclose(packed_grads[name], grad, rtol=1e-7, atol=1e-10), name
    table = "encoder.layers.0.attn.relative_attention_bias.weight"
    assert packed_grads[table].abs().max() > 0  # per-segment positions reach the bias table


def test_packing_auto_is_on_with_cuda_only():
    assert packing_for("auto", torch.device("cuda")) and not packing_for("auto", torch.device("cpu"))
    assert packing_for("on", torch.device("cpu")) and not packing_for("off", torch.device("cuda"))
    with pytest.raises(ValueError, match="packing"):
        packing_for("sometimes", torch.device("cpu"))


def test_packed_training_resumes_exactly_and_counts_examples(tmp_path, capsys):
    import json

    from train.checkpoint import latest_checkpoint, load_checkpoint
    from train.synthetic import make_corpus
    from train.trainer import TrainConfig, run

    corpus = make_corpus(tmp_path / "corpus", n_train_lines=300, n_val_lines=30, seed=5)
    opts = dict(data=str(corpus), model="tiny", steps=6, batch_size=4, lr=3e-3, threads=1, num_workers=1,
                eval_every=3, save_every=3, log_every=1, tensorboard=False, export=False, dropout=0.1,
                packing="on", max_input_len=64, max_target_len=32, packed_input_len=128, packed_target_len=96,
                device="cpu")
    run(TrainConfig(out=str(tmp_path / "a"), **opts))
    run(TrainConfig(out=str(tmp_path / "b"), stop_at=3, **opts))
    summary = run(TrainConfig(out=str(tmp_path / "b"), resume="latest", **opts))
    assert summary["start_step"] == 3
    a, b = (load_checkpoint(latest_checkpoint(tmp_path / name)) for name in "ab")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    (position,) = a["data"]["positions"]
    assert position == b["data"]["positions"][0] and position["consumed"] == 6
    assert position["examples"] > 2 * 4 * 6  # several examples per row, counted
    printed = capsys.readouterr().out
    assert "packing on" in printed and "| pad " in printed
    records = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= r["padding"] < 0.5 for r in records if "padding" in r)
