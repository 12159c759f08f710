"""Model presets and the arithmetic behind them.

`ModelConfig` is the whole architecture of a LongLM-style T5 (v1.0 flavour: ReLU FFN, tied embeddings).
Presets follow the seed's table; `vocab_size` comes from the corpus (sentencepiece pieces + 100 sentinels,
padded to a multiple of 128). `count_parameters` is exact arithmetic, checked against a real module in
the tests, so the figures for `large` never need the memory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: Sentinels <extra_id_0..99> appended after the sentencepiece vocabulary (T5 style, reversed ids).
EXTRA_IDS = 100
#: The embedding table is padded to a multiple of this (tensor-core friendly; T5 uses 32128 = 251 * 128).
VOCAB_MULTIPLE = 128
#: T5's vocabulary size, which the seed's parameter figures assume.
T5_VOCAB_SIZE = 32128


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the encoder-decoder; field names follow transformers' T5Config."""

    vocab_size: int = T5_VOCAB_SIZE
    d_model: int = 512
    d_ff: int = 2048
    d_kv: int = 64
    num_heads: int = 8
    num_layers: int = 6
    num_decoder_layers: int = 6
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0

    @property
    def inner_dim(self) -> int:
        """Width of the attention projections (num_heads * d_kv)."""
        return self.num_heads * self.d_kv

    def replace(self, **changes) -> "ModelConfig":
        """A copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict of every field (JSON- and torch.save-friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """Inverse of `to_dict`; unknown keys are ignored so configs can grow."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


#: The seed's table (LongLM small/base/large) plus `tiny` for tests and demos. Vocab is set per corpus.
PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(d_model=64, d_ff=256, d_kv=16, num_heads=4, num_layers=2, num_decoder_layers=2),
    "small": ModelConfig(d_model=512, d_ff=2048, d_kv=64, num_heads=8, num_layers=6, num_decoder_layers=6),
    "base": ModelConfig(d_model=768, d_ff=3072, d_kv=64, num_heads=12, num_layers=12, num_decoder_layers=12),
    "large": ModelConfig(d_model=1536, d_ff=3072, d_kv=64, num_heads=12, num_layers=24, num_decoder_layers=32),
}

#: Parameter counts the seed quotes for its presets (with T5's 32128-entry vocabulary).
SEED_PARAMETER_COUNTS = {"small": 60_000_000, "base": 223_000_000, "large": 1_000_000_000}


def padded_vocab_size(n_pieces: int, extra_ids: int = EXTRA_IDS, multiple: int = VOCAB_MULTIPLE) -> int:
    """Embedding rows for `n_pieces` sentencepiece pieces plus `extra_ids` sentinels, rounded up to `multiple`."""
    if n_pieces <= 0:
        raise ValueError(f"n_pieces must be positive, got {n_pieces}")
    total = n_pieces + extra_ids
    return -(-total // multiple) * multiple


def preset(name: str, vocab_size: int | None = None, **overrides) -> ModelConfig:
    """The named preset with `vocab_size` (when given) and any field `overrides` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose from {', '.join(PRESETS)}")
    cfg = PRESETS[name]
    if vocab_size is not None:
        cfg = cfg.replace(vocab_size=int(vocab_size))
    return cfg.replace(**overrides) if overrides else cfg


def count_parameters(cfg: ModelConfig) -> int:
    """Exact number of distinct parameters of `train.model.T5` for `cfg` (tied embeddings counted once)."""
    d, inner, ff = cfg.d_model, cfg.inner_dim, cfg.d_ff
    attention = 4 * d * inner
    ffn = 2 * d * ff
    bias_table = cfg.relative_attention_num_buckets * cfg.num_heads
    encoder_block = attention + ffn + 2 * d
    decoder_block = 2 * attention + ffn + 3 * d
    encoder = cfg.num_layers * encoder_block + bias_table + d
    decoder = cfg.num_decoder_layers * decoder_block + bias_table + d
    return cfg.vocab_size * d + encoder + decoder


def describe_parameters(n: int) -> str:
    """Human form of a parameter count: '60.5M (60,506,624)'."""
    if n >= 1e9:
        short = f"{n / 1e9:.2f}B"
    elif n >= 1e6:
        short = f"{n / 1e6:.1f}M"
    else:
        short = f"{n / 1e3:.1f}K"
    return f"{short} ({n:,})"
