"""train.loss: the chunked LM-head cross-entropy equals cross_entropy over full logits, loss and gradients."""

import pytest
import torch
import torch.nn.functional as F

import train.loss as loss_module
from train.loss import linear_cross_entropy


@pytest.mark.parametrize("chunk_rows", [7, 1000])  # several chunks with a ragged last one; one plain chunk
def test_chunked_loss_and_gradients_equal_full_logits(monkeypatch, chunk_rows):
    monkeypatch.setattr(loss_module, "CHUNK_ELEMENTS", 37 * chunk_rows)
    torch.manual_seed(0)
    h = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 37, (50,))
    labels[::7] = -100
    (2.5 * linear_cross_entropy(h, w, labels)).backward()  # the upstream gradient scales both
    ours = (h.grad.clone(), w.grad.clone())
    h.grad = w.grad = None
    (2.5 * F.cross_entropy(h @ w.t(), labels, ignore_index=-100, reduction="sum")).backward()
    assert torch.allclose(ours[0], h.grad, atol=1e-12) and torch.allclose(ours[1], w.grad, atol=1e-12)
    assert float(linear_cross_entropy(h, w, labels)) == pytest.approx(
        float(F.cross_entropy(h @ w.t(), labels, ignore_index=-100, reduction="sum")), rel=1e-12)


def test_chunked_loss_under_bf16_autocast_is_close(monkeypatch):
    monkeypatch.setattr(loss_module, "CHUNK_ELEMENTS", 64 * 9)
    torch.manual_seed(1)
    h = torch.randn(40, 32, requires_grad=True)
    w = torch.randn(64, 32, requires_grad=True)
    labels = torch.randint(0, 64, (40,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = linear_cross_entropy(h, w, labels)
    loss.backward()
    reference = F.cross_entropy(h @ w.t(), labels, reduction="sum")
    assert loss.dtype == torch.float32 and float(loss) == pytest.approx(float(reference), rel=2e-2)
    assert w.grad.dtype == torch.float32 and torch.isfinite(h.grad).all()
