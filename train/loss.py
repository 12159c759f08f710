"""The LM head and its cross-entropy in chunks: the (tokens, vocab) fp32 logits never exist in full.

`linear_cross_entropy(h, weight, labels)` = sum over labelled rows of cross_entropy(h @ weight.T, label).
Up to one chunk of rows it is plain autograd; past that, forward walks `h` in chunks: logits of a chunk (in the autocast dtype when autocast is on, else
h's), log-softmax in fp32, loss, and at once the chunk's gradients (softmax - one-hot) for `h` and
`weight`, which backward only scales. Peak extra memory is one chunk's logits instead of all of them
(for 64 x 512 targets and T5's 32k vocabulary: 4.2 GB of fp32 logits plus their gradient otherwise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Logit elements per chunk (rows = this // vocab): 2^26 fp32 values = 256 MB.
CHUNK_ELEMENTS = 1 << 26


def _compute_dtype(h: torch.Tensor) -> torch.dtype:
    device = h.device.type
    try:
        if torch.is_autocast_enabled(device):
            return torch.get_autocast_dtype(device)
    except RuntimeError:  # a device autocast does not know (meta)
        pass
    return h.dtype


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, labels, dtype, chunk_rows):
        w = weight.to(dtype)
        wide = torch.promote_types(h.dtype, torch.float32)  # fp32, or fp64 for fp64 inputs
        grad_h = torch.empty_like(h)
        grad_w = None
        total = torch.zeros((), dtype=wide, device=h.device)
        for start in range(0, h.shape[0], chunk_rows):
            part = h[start:start + chunk_rows].to(dtype)
            target = labels[start:start + chunk_rows]
            logits = (part @ w.t()).to(wide)
            keep = target != -100
            safe = torch.where(keep, target, 0)[:, None]
            log_probs = torch.log_softmax(logits, dim=-1)
            del logits
            total -= torch.where(keep, log_probs.gather(1, safe)[:, 0], 0.0).sum()
            grad = log_probs.exp_()  # softmax, in place of the log-probabilities
            grad.scatter_add_(1, safe, torch.full_like(safe, -1, dtype=grad.dtype))
            grad = grad.masked_fill_(~keep[:, None], 0.0).to(dtype)
            grad_h[start:start + chunk_rows] = grad @ w
            if grad_w is None:  # the chunk's products in `dtype`, summed in `wide`
                grad_w = (grad.t() @ part).to(wide)
            elif dtype == wide:
                grad_w.addmm_(grad.t(), part)
            else:
                grad_w += (grad.t() @ part).to(wide)
        ctx.save_for_backward(grad_h, grad_w.to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out, grad_w * grad_out, None, None, None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of logits `h @ weight.T` (h: (N, d), weight: (vocab, d)) against `labels` (N;
    -100 = ignored), in fp32, without materialising all N x vocab logits (see the module docstring)."""
    rows = max(1, CHUNK_ELEMENTS // weight.shape[0])
    if h.shape[0] <= rows:  # one chunk's worth: plain autograd holds no more than a chunk would (and is faster)
        logits = F.linear(h, weight)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return F.cross_entropy(logits, labels, ignore_index=-100, reduction="sum")
    return _LinearCrossEntropy.apply(h, weight, labels, _compute_dtype(h), rows)
