"""A T5 encoder-decoder in plain torch, numerically equivalent to transformers' T5 (v1.0, ReLU).

Architecture (what the export relies on):
- RMSNorm without bias or mean subtraction, pre-norm residual blocks, no biases anywhere;
- relative position buckets, bidirectional in the encoder and causal in the decoder; each stack's bias
  table lives in its first block's self-attention and is shared by all its blocks; cross-attention has none;
- attention logits are *not* scaled by 1/sqrt(d_kv); the position bias (plus padding/causal masking) is the
  additive mask of `torch.nn.functional.scaled_dot_product_attention`;
- ReLU feed-forward; one embedding table shared by encoder, decoder and LM head, with the decoder output
  rescaled by d_model**-0.5 before the head.

Training skips padding: given the flat positions of the real tokens (`Rows`, made by the collator on the
host), projections, feed-forward, norms and dropout run on the real tokens only, and only attention
scores see the padded (B, T) grid. Real positions compute what the padded model computes there.

Parameter names are our own; `train.export` maps them one-to-one onto transformers' names.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from train.config import ModelConfig

#: Additive mask value for positions that may not be attended to (finite so bf16 never sees inf - inf).
MASK_VALUE = -1e9


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


class Rows(NamedTuple):
    """Where one stack's real tokens sit in its padded (batch, length) grid: `positions` are their flat
    indices (ascending, from the collator, so finding them costs the device no sync). A packed tensor
    holds one row per real token, in that order."""

    positions: torch.Tensor
    batch: int
    length: int

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) packed -> (batch, length, F), zeros at padding."""
        grid = x.new_zeros(self.batch * self.length, x.shape[-1])
        return grid.index_copy(0, self.positions, x).view(self.batch, self.length, -1)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, length, ...) -> (N, ...): the real tokens' rows."""
        return x.reshape(self.batch * self.length, *x.shape[2:]).index_select(0, self.positions)


def _grid(x: torch.Tensor, rows: Rows | None) -> torch.Tensor:
    """`x` on the padded grid: as it is without `rows`, else unpacked."""
    return x if rows is None else rows.pad(x)


class RMSNorm(nn.Module):
    """T5 layer norm: scale by the root mean square (computed in fp32), no bias, no mean."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Attention(nn.Module):
    """Multi-head attention without scaling or biases; optionally owns the relative position bias table."""

    def __init__(self, cfg: ModelConfig, relative_bias: bool = False, bidirectional: bool = True):
        super().__init__()
        self.num_heads, self.d_kv = cfg.num_heads, cfg.d_kv
        self.dropout = cfg.dropout_rate
        self.bidirectional = bidirectional
        self.num_buckets = cfg.relative_attention_num_buckets
        self.max_distance = cfg.relative_attention_max_distance
        inner = cfg.inner_dim
        self.q = nn.Linear(cfg.d_model, inner, bias=False)
        self.k = nn.Linear(cfg.d_model, inner, bias=False)
        self.v = nn.Linear(cfg.d_model, inner, bias=False)
        self.o = nn.Linear(inner, cfg.d_model, bias=False)
        self.relative_attention_bias = nn.Embedding(self.num_buckets, self.num_heads) if relative_bias else None

    def position_bias(self, query_len: int, key_len: int, offset: int = 0) -> torch.Tensor:
        """Bias of shape (1, heads, query_len, key_len) for queries at positions offset..offset+query_len-1."""
        table = self.relative_attention_bias
        if table is None:
            raise RuntimeError("this attention layer has no relative position bias table")
        device = table.weight.device
        context = torch.arange(query_len, device=device)[:, None] + offset
        memory = torch.arange(key_len, device=device)[None, :]
        buckets = relative_position_bucket(memory - context, self.bidirectional, self.num_buckets, self.max_distance)
        return table(buckets).permute(2, 0, 1).unsqueeze(0)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.d_kv).transpose(1, 2)

    def _project(self, x: torch.Tensor, rows: Rows | None, *layers: nn.Linear) -> tuple[torch.Tensor, ...]:
        """`x` through each of `layers` as one GEMM on the concatenated weights, split into (B, H, T, d_kv)."""
        weight = layers[0].weight if len(layers) == 1 else torch.cat([layer.weight for layer in layers])
        out = _grid(F.linear(x, weight), rows)
        return tuple(self._heads(part) for part in out.chunk(len(layers), dim=-1))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        memory: torch.Tensor | None = None,
        cache: dict | None = None,
        rows: Rows | None = None,
        memory_rows: Rows | None = None,
    ) -> torch.Tensor:
        """Attend from `x` (B, T, d) to itself, or to `memory` (B, S, d) for cross-attention.

        `mask` is additive and broadcastable to (B, heads, T, keys). `cache` (a dict, decoding only) keeps
        self-attention keys/values across calls and cross-attention keys/values after the first call.
        With `rows` (and `memory_rows` for packed memory), `x` is packed (N, d) and so is the result:
        projections run on real tokens only, scores on the padded grid.
        """
        if cache is None:  # training and scoring: one GEMM (and one unpacking) per source
            if memory is None:
                q, k, v = self._project(x, rows, self.q, self.k, self.v)
            else:
                (q,) = self._project(x, rows, self.q)
                k, v = self._project(memory, memory_rows, self.k, self.v)
        else:  # incremental decoding
            q = self._heads(self.q(x))
            if memory is not None and "k" in cache:
                k, v = cache["k"], cache["v"]
            else:
                source = x if memory is None else memory
                k, v = self._heads(self.k(source)), self._heads(self.v(source))
                if memory is None and "k" in cache:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        # `mask` comes cast once per stack to the dtype SDPA computes in (see compute_dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, scale=1.0
        )
        out = out.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)
        return self.o(out if rows is None else rows.pack(out))


class FeedForward(nn.Module):
    """wo(dropout(relu(wi(x))))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.wi = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(F.relu(self.wi(x))))


class EncoderBlock(nn.Module):
    """Pre-norm self-attention then feed-forward, each with a residual connection."""

    def __init__(self, cfg: ModelConfig, relative_bias: bool):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.attn = Attention(cfg, relative_bias=relative_bias, bidirectional=True)
        self.ff_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.ff = FeedForward(cfg)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None, rows: Rows | None = None) -> torch.Tensor:
        h = h + self.dropout(self.attn(self.attn_norm(h), mask, rows=rows))
        return h + self.dropout(self.ff(self.ff_norm(h)))


class DecoderBlock(nn.Module):
    """Pre-norm causal self-attention, cross-attention to the encoder, then feed-forward."""

    def __init__(self, cfg: ModelConfig, relative_bias: bool):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.attn = Attention(cfg, relative_bias=relative_bias, bidirectional=False)
        self.cross_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.cross = Attention(cfg)
        self.ff_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.ff = FeedForward(cfg)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, h, self_mask, memory, cross_mask, cache: dict | None = None, rows: Rows | None = None,
                memory_rows: Rows | None = None) -> torch.Tensor:
        self_cache = cross_cache = None
        if cache is not None:
            self_cache, cross_cache = cache.setdefault("self", {}), cache.setdefault("cross", {})
        h = h + self.dropout(self.attn(self.attn_norm(h), self_mask, cache=self_cache, rows=rows))
        h = h + self.dropout(self.cross(self.cross_norm(h), cross_mask, memory=memory, cache=cross_cache,
                                        rows=rows, memory_rows=memory_rows))
        return h + self.dropout(self.ff(self.ff_norm(h)))


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


def run_blocks(layers, h: torch.Tensor, args: tuple, use_checkpoint: bool) -> torch.Tensor:
    """h through `layers` (each called as layer(h, *args)); with `use_checkpoint` every block's activations
    are recomputed in backward instead of kept (RNG state restored, so dropout draws the same)."""
    for layer in layers:
        if use_checkpoint:
            h = checkpoint(layer, h, *args, use_reentrant=False)
        else:
            h = layer(h, *args)
    return h


class Encoder(nn.Module):
    """Stack of encoder blocks; the first block's self-attention owns the shared position bias."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.layers = nn.ModuleList(EncoderBlock(cfg, relative_bias=i == 0) for i in range(cfg.num_layers))
        self.final_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.dropout = nn.Dropout(cfg.dropout_rate)
        self.activation_checkpointing = False

    def forward(self, embeds: torch.Tensor, attention_mask: torch.Tensor | None = None,
                rows: Rows | None = None) -> torch.Tensor:
        """Encoder output for `embeds` (B, S, d), or for packed `embeds` (N, d) with their `rows`."""
        length = embeds.shape[1] if rows is None else rows.length
        mask = self.layers[0].attn.position_bias(length, length)
        pad = padding_mask(attention_mask)
        if pad is not None:
            mask = mask + pad
        # cast once for the whole stack: every layer then shares this one (B, H, T, T) tensor in backward
        mask = mask.to(compute_dtype(embeds))
        h = self.dropout(embeds)
        h = run_blocks(self.layers, h, (mask, rows), self.activation_checkpointing and self.training)
        return self.dropout(self.final_norm(h))


class Decoder(nn.Module):
    """Stack of decoder blocks with a causal, shared position bias in the first block."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.layers = nn.ModuleList(DecoderBlock(cfg, relative_bias=i == 0) for i in range(cfg.num_decoder_layers))
        self.final_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.dropout = nn.Dropout(cfg.dropout_rate)
        self.activation_checkpointing = False

    def forward(self, embeds, memory, memory_mask=None, cache: list | None = None, offset: int = 0,
                rows: Rows | None = None, memory_rows: Rows | None = None) -> torch.Tensor:
        """Decode `embeds` (B, T, d) at positions offset.. given encoder output `memory` (B, S, d); with
        `rows` / `memory_rows` the embeddings / memory are packed (training and scoring, no cache)."""
        length = embeds.shape[1] if rows is None else rows.length
        mask = self.layers[0].attn.position_bias(length, offset + length, offset)
        if length > 1:
            query = torch.arange(length, device=mask.device)[:, None] + offset
            future = torch.arange(offset + length, device=mask.device)[None, :] > query
            mask = mask.masked_fill(future, MASK_VALUE)
        cross_mask = padding_mask(memory_mask)
        dtype = compute_dtype(embeds)  # cast once per stack, not once per layer
        mask = mask.to(dtype)
        cross_mask = None if cross_mask is None else cross_mask.to(dtype)
        h = self.dropout(embeds)
        if cache is None:
            return self.dropout(self.final_norm(
                run_blocks(self.layers, h, (mask, memory, cross_mask, None, rows, memory_rows),
                           self.activation_checkpointing and self.training)
            ))
        for i, layer in enumerate(self.layers):
            h = layer(h, mask, memory, cross_mask, cache[i])
        return self.dropout(self.final_norm(h))


class T5(nn.Module):
    """Encoder-decoder with one shared embedding that is also the (rescaled) LM head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encoder output (B, S, d_model) for `input_ids` (B, S); `attention_mask` marks real tokens."""
        return self.encoder(self.shared(input_ids), attention_mask)

    def lm_head(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from decoder states: the tied embedding applied to h * d_model**-0.5."""
        return F.linear(h * (self.config.d_model**-0.5), self.shared.weight)

    def decode(self, decoder_input_ids, memory, attention_mask=None, cache: list | None = None, offset: int = 0):
        """LM logits (B, T, vocab) for decoder inputs given encoder output `memory` and its mask."""
        return self.lm_head(self.decoder(self.shared(decoder_input_ids), memory, attention_mask, cache, offset))

    def forward(self, input_ids, decoder_input_ids, attention_mask=None, labels=None, label_positions=None,
                input_positions=None, target_positions=None):
        """LM logits (B, T, vocab), or with `labels` (B, T; -100 = ignore) the *summed* token cross-entropy.

        `decoder_input_ids` are the targets shifted right (from the decoder start id). `label_positions`
        (flat indices of the labelled positions, made on the host by the collator) restricts the head and
        the loss to them, so padding costs no vocabulary-sized work and no host sync; without it the head
        runs everywhere and padding is ignored by the loss. With `labels`, `input_positions` (the flat
        indices where `attention_mask` is set) and `target_positions` (the decoder's real positions: every
        labelled one and all before it in its row) skip padding in both stacks (see `Rows`).
        """
        if labels is not None and input_positions is not None and target_positions is not None:
            return self._packed_loss(input_ids, decoder_input_ids, attention_mask, labels, input_positions,
                                     target_positions)
        memory = self.encode(input_ids, attention_mask)
        if labels is None:
            return self.decode(decoder_input_ids, memory, attention_mask)
        h = self.decoder(self.shared(decoder_input_ids), memory, attention_mask)
        if label_positions is None:
            logits = self.lm_head(h).float()
            return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum")
        h = h.flatten(0, 1).index_select(0, label_positions)
        return F.cross_entropy(self.lm_head(h).float(), labels.flatten().index_select(0, label_positions), reduction="sum")

    def _packed_loss(self, input_ids, decoder_input_ids, attention_mask, labels, input_positions, target_positions):
        """The summed token cross-entropy computed on real tokens only (see `forward`)."""
        source = Rows(input_positions, input_ids.shape[0], input_ids.shape[1])
        target = Rows(target_positions, decoder_input_ids.shape[0], decoder_input_ids.shape[1])
        memory = self.encoder(self.shared(source.pack(input_ids)), attention_mask, rows=source)
        h = self.decoder(self.shared(target.pack(decoder_input_ids)), memory, attention_mask, rows=target,
                         memory_rows=source)
        return F.cross_entropy(self.lm_head(h).float(), target.pack(labels), ignore_index=-100, reduction="sum")

    def set_activation_checkpointing(self, enabled: bool) -> None:
        """Recompute each block's activations in backward instead of storing them (training only)."""
        self.encoder.activation_checkpointing = self.decoder.activation_checkpointing = bool(enabled)

    def new_cache(self) -> list:
        """Empty per-layer key/value cache for incremental decoding with `decode(..., cache, offset)`."""
        return [{} for _ in self.decoder.layers]

    def num_parameters(self) -> int:
        """Distinct parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """Mesh-TF/transformers T5 initialisation (factor 1.0), drawn from `generator` for reproducibility."""
        cfg = self.config
        for module in self.modules():
            if isinstance(module, RMSNorm):
                module.weight.fill_(1.0)
            elif isinstance(module, Attention):
                module.q.weight.normal_(0.0, (cfg.d_model * cfg.d_kv) ** -0.5, generator=generator)
                module.k.weight.normal_(0.0, cfg.d_model**-0.5, generator=generator)
                module.v.weight.normal_(0.0, cfg.d_model**-0.5, generator=generator)
                module.o.weight.normal_(0.0, cfg.inner_dim**-0.5, generator=generator)
                if module.relative_attention_bias is not None:
                    module.relative_attention_bias.weight.normal_(0.0, cfg.d_model**-0.5, generator=generator)
            elif isinstance(module, FeedForward):
                module.wi.weight.normal_(0.0, cfg.d_model**-0.5, generator=generator)
                module.wo.weight.normal_(0.0, cfg.d_ff**-0.5, generator=generator)
        self.shared.weight.normal_(0.0, 1.0, generator=generator)


def build_model(cfg: ModelConfig, seed: int = 0, device: torch.device | str | None = None) -> T5:
    """A freshly initialised T5 for `cfg`, identical for the same seed on every process."""
    model = T5(cfg)
    generator = torch.Generator().manual_seed(int(seed))
    model.init_weights(generator)
    return model.to(device) if device is not None else model

