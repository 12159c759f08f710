"""T5 attention masks and kernels: relative position buckets, packed segments, SDPA or FlexAttention.

A stack describes who may attend to whom once per forward, and every layer of the stack shares it:
- `sdpa`: an additive (B or 1, heads, queries, keys) tensor of position bias plus -1e9 where attention is
  not allowed, passed to `scaled_dot_product_attention` (the fallback: CPU training, generation);
- `flex`: a `FlexMask`, i.e. FlexAttention's `BlockMask` (segments, padding, causality: fully masked tiles
  are skipped) plus T5's bias looked up per (head, key position - query position) inside the kernel, so
  no (B, heads, L, L) tensor is ever built. Its forward runs anywhere; its backward needs CUDA (or
  another device torch compiles flex for). Attention-probability dropout is not applied by flex.
With `Segments` (packed rows, see train.packing) attention stays inside a segment, the decoder is causal
within it, and relative positions count from each segment's start; without them a row is one segment.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

#: Additive mask value for positions that may not be attended to (finite so bf16 never sees inf - inf).
MASK_VALUE = -1e9
#: Attention implementations a model can run (see `T5.set_attention`).
BACKENDS = ("sdpa", "flex")


def relative_position_bucket(
    relative_position: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int
) -> torch.Tensor:
    """Map (key - query) offsets to bucket ids in [0, num_buckets), exactly as Mesh TensorFlow / T5 do.

    Half the buckets (per direction when bidirectional) are exact small offsets, the rest grow
    logarithmically up to `max_distance`; causal mode buckets only non-positive offsets (the past).
    """
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        distance = -torch.clamp(relative_position, max=0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    scaled = torch.log(distance.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (scaled * (num_buckets - max_exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(is_small, distance, large)


class Segments(NamedTuple):
    """Packed rows: per slot the segment number (1, 2, ...; 0 = padding) and the position within it."""

    input_segments: torch.Tensor
    input_offsets: torch.Tensor
    target_segments: torch.Tensor
    target_offsets: torch.Tensor


class FlexMask(NamedTuple):
    """What one FlexAttention call needs: the block mask, and optionally T5's bias by relative offset
    (`bias[h, k_pos - q_pos + shift]`) with the query/key positions it is looked up with."""

    block_mask: object
    bias: torch.Tensor | None = None
    q_pos: torch.Tensor | None = None
    k_pos: torch.Tensor | None = None
    shift: int = 0


class BiasSpec(NamedTuple):
    """A stack's relative position bias: its (buckets, heads) table and how offsets are bucketed."""

    table: torch.nn.Embedding
    bidirectional: bool
    num_buckets: int
    max_distance: int

    def buckets(self, relative: torch.Tensor) -> torch.Tensor:
        return relative_position_bucket(relative, self.bidirectional, self.num_buckets, self.max_distance)


def padding_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Additive (B, 1, 1, S) mask from a (B, S) keep-mask (True/1 = real token); None without a mask.

    No host synchronisation (no "is anything padded?" test), so the forward stays capturable by
    torch.compile / CUDA graphs.
    """
    if attention_mask is None:
        return None
    keep = attention_mask.bool()
    zero = torch.zeros((), dtype=torch.float32, device=keep.device)
    return torch.where(keep, zero, MASK_VALUE)[:, None, None, :]


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype scaled_dot_product_attention computes in for activations like `x` (the additive mask must
    have it, or SDPA/autocast casts it again in every layer). Under autocast that is the policy's choice
    (bf16 on CUDA, fp32 on CPU), found once per setting by a tiny probe rather than assumed."""
    device = x.device.type
    try:
        enabled = torch.is_autocast_enabled(device)
    except RuntimeError:  # a device autocast does not know (meta)
        enabled = False
    if not enabled:
        return x.dtype
    return _sdpa_dtype(device, torch.get_autocast_dtype(device), x.dtype)


@functools.lru_cache(maxsize=16)
def _sdpa_dtype(device: str, autocast_dtype: torch.dtype, dtype: torch.dtype) -> torch.dtype:
    with torch.autocast(device, dtype=autocast_dtype), torch.no_grad():
        q = torch.zeros(1, 1, 1, 8, device=device, dtype=autocast_dtype)
        return F.scaled_dot_product_attention(q, q, q).dtype


def sdpa_backends(device: torch.device):
    """Context pinning SDPA's CUDA kernels to memory-efficient attention (math as the fallback): it takes an
    additive bias with gradient; cuDNN's kernel, which torch may otherwise pick on Hopper, has given NaN
    gradients at some lengths and wants no fp32 mask. A no-op elsewhere."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def _allowed(q_seg: torch.Tensor, k_seg: torch.Tensor, causal: bool) -> torch.Tensor:
    """(B, Lq, Lk) bool: same segment, key not padding, and (causal) key not after the query."""
    ok = (q_seg[:, :, None] == k_seg[:, None, :]) & (k_seg[:, None, :] > 0)
    if causal:
        ok = ok & torch.ones(q_seg.shape[1], k_seg.shape[1], dtype=torch.bool, device=ok.device).tril()
    return ok


def sdpa_segment_mask(q_seg, k_seg, causal: bool, bias: BiasSpec | None = None, q_pos=None, k_pos=None):
    """The additive (B, heads or 1, Lq, Lk) SDPA mask of packed rows (fp32; cast it once per stack)."""
    allowed = _allowed(q_seg, k_seg, causal)[:, None]
    if bias is None:
        zero = torch.zeros((), dtype=torch.float32, device=allowed.device)
        return torch.where(allowed, zero, MASK_VALUE)
    grid = bias.table(bias.buckets(k_pos[:, None, :] - q_pos[:, :, None])).permute(0, 3, 1, 2)
    return grid.masked_fill(~allowed, MASK_VALUE)


def flex_mask(q_seg, k_seg, causal: bool, bias: BiasSpec | None = None, q_pos=None, k_pos=None) -> FlexMask:
    """A `FlexMask` for queries/keys with segment ids `q_seg`/`k_seg` (B, L; 0 = padding) and, with `bias`,
    positions `q_pos`/`k_pos` (B, L) within their segments."""
    from torch.nn.attention.flex_attention import create_block_mask

    q_seg, k_seg = q_seg.to(torch.int32), k_seg.to(torch.int32)

    def mask_mod(b, h, q, kv):
        ok = (q_seg[b, q] == k_seg[b, kv]) & (k_seg[b, kv] > 0)
        return ok & (kv <= q) if causal else ok

    batch, q_len, k_len = q_seg.shape[0], q_seg.shape[1], k_seg.shape[1]
    block_mask = create_block_mask(mask_mod, batch, None, q_len, k_len, device=q_seg.device)
    if bias is None:
        return FlexMask(block_mask)
    relative = torch.arange(-(q_len - 1), k_len, device=q_seg.device)
    table = bias.table(bias.buckets(relative)).t().contiguous()  # (heads, q_len + k_len - 1)
    return FlexMask(block_mask, table, q_pos.to(torch.int32), k_pos.to(torch.int32), q_len - 1)


def _flex_call(q, k, v, mask: FlexMask):
    from torch.nn.attention.flex_attention import flex_attention

    score_mod = None
    if mask.bias is not None:
        bias, q_pos, k_pos, shift = mask.bias, mask.q_pos, mask.k_pos, mask.shift

        def score_mod(score, b, h, q_idx, kv_idx):
            return score + bias[h, k_pos[b, kv_idx] - q_pos[b, q_idx] + shift]

    return flex_attention(q, k, v, score_mod=score_mod, block_mask=mask.block_mask, scale=1.0)


@functools.lru_cache(maxsize=1)
def _compiled_flex():
    return torch.compile(_flex_call)


def flex_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: FlexMask, compiled: bool) -> torch.Tensor:
    """FlexAttention of (B, H, L, d) q/k/v under `mask` without 1/sqrt(d) scaling (T5); `compiled` runs the
    fused kernel (inside an already compiled region the call is traced in place), else flex's eager
    reference (forward only on CPU; materialises scores, for tests)."""
    if compiled and not torch.compiler.is_compiling():
        return _compiled_flex()(q, k, v, mask)
    return _flex_call(q, k, v, mask)


def positions_like(segments: torch.Tensor) -> torch.Tensor:
    """(B, L) positions 0..L-1 of unpacked rows (one segment per row)."""
    return torch.arange(segments.shape[1], device=segments.device).expand(segments.shape)
