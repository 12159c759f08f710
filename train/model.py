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

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from train.attention import (
    BACKENDS,
    MASK_VALUE,
    BiasSpec,
    FlexMask,
    Segments,
    compute_dtype,
    flex_attend,
    flex_mask,
    padding_mask,
    positions_like,
    relative_position_bucket,
    sdpa_backends,
    sdpa_segment_mask,
)
from train.config import ModelConfig
from train.loss import linear_cross_entropy


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
        self.flex_compiled = False  # FlexAttention masks run the compiled kernel (set by T5.set_attention)

    def bias_spec(self) -> BiasSpec:
        """This layer's bias table and bucketing (for the stack's shared mask)."""
        return BiasSpec(self.relative_attention_bias, self.bidirectional, self.num_buckets, self.max_distance)

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

        `mask` is additive and broadcastable to (B, heads, T, keys), or a `FlexMask` (train.attention). `cache` (a dict, decoding only) keeps
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
        if isinstance(mask, FlexMask):
            out = flex_attend(q, k, v, mask, self.flex_compiled)
        else:  # `mask` comes cast once per stack to the dtype SDPA computes in (see compute_dtype)
            with sdpa_backends(q.device):
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
        self.attention = "sdpa"  # or "flex" (see T5.set_attention)

    def forward(self, embeds: torch.Tensor, attention_mask: torch.Tensor | None = None,
                rows: Rows | None = None, segments: Segments | None = None) -> torch.Tensor:
        """Encoder output for `embeds` (B, S, d), or for packed `embeds` (N, d) with their `rows`;
        `segments` (packed examples) keep attention within each example."""
        mask = self.self_mask(embeds, attention_mask, rows, segments)
        h = self.dropout(embeds)
        h = run_blocks(self.layers, h, (mask, rows), self.activation_checkpointing and self.training)
        return self.dropout(self.final_norm(h))

    def self_mask(self, embeds, attention_mask, rows: Rows | None, segments: Segments | None):
        """The stack's one self-attention mask (see train.attention), cast once for every layer."""
        length = embeds.shape[1] if rows is None else rows.length
        attn = self.layers[0].attn
        if segments is not None or self.attention == "flex":
            if segments is not None:
                seg, pos = segments.input_segments, segments.input_offsets
            else:
                seg = attention_mask.int() if attention_mask is not None else _ones(embeds, rows, length)
                pos = positions_like(seg)
            build = flex_mask if self.attention == "flex" else sdpa_segment_mask
            mask = build(seg, seg, False, attn.bias_spec(), pos, pos)
            return mask if isinstance(mask, FlexMask) else mask.to(compute_dtype(embeds))
        mask = attn.position_bias(length, length)
        pad = padding_mask(attention_mask)
        if pad is not None:
            mask = mask + pad
        # cast once for the whole stack: every layer then shares this one (B, H, T, T) tensor in backward
        return mask.to(compute_dtype(embeds))


def _ones(embeds: torch.Tensor, rows: Rows | None, length: int) -> torch.Tensor:
    """(B, length) ones: every slot is one segment's (no padding)."""
    batch = embeds.shape[0] if rows is None else rows.batch
    return torch.ones(batch, length, dtype=torch.int32, device=embeds.device)


class Decoder(nn.Module):
    """Stack of decoder blocks with a causal, shared position bias in the first block."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.layers = nn.ModuleList(DecoderBlock(cfg, relative_bias=i == 0) for i in range(cfg.num_decoder_layers))
        self.final_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.dropout = nn.Dropout(cfg.dropout_rate)
        self.activation_checkpointing = False
        self.attention = "sdpa"  # or "flex" (see T5.set_attention)

    def forward(self, embeds, memory, memory_mask=None, cache: list | None = None, offset: int = 0,
                rows: Rows | None = None, memory_rows: Rows | None = None,
                segments: Segments | None = None) -> torch.Tensor:
        """Decode `embeds` (B, T, d) at positions offset.. given encoder output `memory` (B, S, d); with
        `rows` / `memory_rows` the embeddings / memory are packed (training and scoring, no cache);
        `segments` (packed examples) keep attention within each example."""
        mask, cross_mask = self.masks(embeds, memory, memory_mask, offset, rows, memory_rows, segments,
                                      cache is not None)
        h = self.dropout(embeds)
        if cache is None:
            return self.dropout(self.final_norm(
                run_blocks(self.layers, h, (mask, memory, cross_mask, None, rows, memory_rows),
                           self.activation_checkpointing and self.training)
            ))
        for i, layer in enumerate(self.layers):
            h = layer(h, mask, memory, cross_mask, cache[i])
        return self.dropout(self.final_norm(h))

    def masks(self, embeds, memory, memory_mask, offset: int, rows: Rows | None, memory_rows: Rows | None,
              segments: Segments | None, cached: bool):
        """The stack's causal self-attention mask and its cross-attention mask (train.attention)."""
        length = embeds.shape[1] if rows is None else rows.length
        attn = self.layers[0].attn
        if not cached and (segments is not None or self.attention == "flex"):
            if segments is not None:
                seg, pos = segments.target_segments, segments.target_offsets
                memory_seg = segments.input_segments
            else:
                seg = _ones(embeds, rows, length)
                pos = positions_like(seg)
                memory_seg = (memory_mask.int() if memory_mask is not None
                              else _ones(memory, memory_rows, memory.shape[1] if memory_rows is None
                                         else memory_rows.length))
            build = flex_mask if self.attention == "flex" else sdpa_segment_mask
            mask, cross = build(seg, seg, True, attn.bias_spec(), pos, pos), build(seg, memory_seg, False)
            if isinstance(mask, FlexMask):
                return mask, cross
            dtype = compute_dtype(embeds)
            return mask.to(dtype), cross.to(dtype)
        mask = attn.position_bias(length, offset + length, offset)
        if length > 1:
            query = torch.arange(length, device=mask.device)[:, None] + offset
            future = torch.arange(offset + length, device=mask.device)[None, :] > query
            mask = mask.masked_fill(future, MASK_VALUE)
        cross_mask = padding_mask(memory_mask)
        dtype = compute_dtype(embeds)  # cast once per stack, not once per layer
        return mask.to(dtype), None if cross_mask is None else cross_mask.to(dtype)


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
                input_positions=None, target_positions=None, segments: Segments | None = None):
        """LM logits (B, T, vocab), or with `labels` (B, T; -100 = ignore) the *summed* token cross-entropy.

        `decoder_input_ids` are the targets shifted right (from the decoder start id). `label_positions`
        (flat indices of the labelled positions, made on the host by the collator) restricts the head and
        the loss to them, so padding costs no vocabulary-sized work and no host sync; without it the head
        runs everywhere and padding is ignored by the loss. With `labels`, `input_positions` (the flat
        indices where `attention_mask` is set) and `target_positions` (the decoder's real positions: every
        labelled one and all before it in its row) skip padding in both stacks (see `Rows`). `segments`
        marks several examples packed per row (train.packing): each attends only within itself. The loss
        never builds the (tokens, vocab) logits in full (train.loss).
        """
        if labels is not None and input_positions is not None and target_positions is not None:
            return self._packed_loss(input_ids, decoder_input_ids, attention_mask, labels, input_positions,
                                     target_positions, segments)
        memory = self.encoder(self.shared(input_ids), attention_mask, segments=segments)
        if labels is None:
            return self.lm_head(self.decoder(self.shared(decoder_input_ids), memory, attention_mask,
                                             segments=segments))
        h = self.decoder(self.shared(decoder_input_ids), memory, attention_mask, segments=segments).flatten(0, 1)
        labels = labels.flatten()
        if label_positions is not None:
            h, labels = h.index_select(0, label_positions), labels.index_select(0, label_positions)
        return self.loss(h, labels)

    def loss(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy of the LM head on decoder states `h` (N, d) against `labels` (N; -100 = ignore)."""
        return linear_cross_entropy(h * (self.config.d_model**-0.5), self.shared.weight, labels)

    def _packed_loss(self, input_ids, decoder_input_ids, attention_mask, labels, input_positions, target_positions,
                     segments=None):
        """The summed token cross-entropy computed on real tokens only (see `forward`)."""
        source = Rows(input_positions, input_ids.shape[0], input_ids.shape[1])
        target = Rows(target_positions, decoder_input_ids.shape[0], decoder_input_ids.shape[1])
        memory = self.encoder(self.shared(source.pack(input_ids)), attention_mask, rows=source, segments=segments)
        h = self.decoder(self.shared(target.pack(decoder_input_ids)), memory, attention_mask, rows=target,
                         memory_rows=source, segments=segments)
        return self.loss(h, target.pack(labels))

    def set_attention(self, backend: str, compiled: bool = False) -> None:
        """Attention implementation for training and scoring: "sdpa" (additive bias mask) or "flex"
        (FlexAttention, `compiled` = its fused kernel; see train.attention). Generation always uses sdpa."""
        if backend not in BACKENDS:
            raise ValueError(f"attention must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.encoder.attention = self.decoder.attention = backend
        for module in self.modules():
            if isinstance(module, Attention):
                module.flex_compiled = bool(compiled)

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

