"""Start a run from a Hugging Face T5 directory (`longlm train --init-from DIR`): weights only.

DIR holds config.json and model.safetensors or pytorch_model.bin, as the released LongLM checkpoints
(T5 v1.0: ReLU feed-forward, tied embeddings, vocab 32128) and our own exports do. The architecture is
taken from config.json; untied or gated-GELU (T5 v1.1) configs are refused, since `train.model.T5` is
v1.0 only. Tensors load with `weights_only` (no pickled code runs) and `mmap` (no second copy in RAM).
Names map through `train.export`; the tied-embedding aliases and the legacy
`decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight` (older transformers saved a
cross-attention bias table that T5 never uses) are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from train.config import ModelConfig, padded_vocab_size
from train.export import config_from_hf, from_hf_state_dict

#: Keys older transformers versions saved that T5 never reads.
LEGACY_KEYS = ("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",)
SAFETENSORS, PYTORCH_BIN, CONFIG = "model.safetensors", "pytorch_model.bin", "config.json"


def hf_model_config(init_dir: str | Path) -> ModelConfig:
    """The architecture in DIR/config.json, refusing what `train.model.T5` cannot represent."""
    path = Path(init_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"--init-from: {path} not found (expected a Hugging Face T5 directory)")
    values = json.loads(path.read_text(encoding="utf-8"))
    projection = values.get("feed_forward_proj", "relu")
    if projection != "relu":
        raise ValueError(
            f"--init-from {init_dir}: feed_forward_proj={projection!r} (T5 v1.1 / mT5 style); only T5 v1.0 "
            "with a ReLU feed-forward, as LongLM uses, can be continued here"
        )
    if values.get("tie_word_embeddings", True) is False:
        raise ValueError(
            f"--init-from {init_dir}: tie_word_embeddings=false (separate LM head); only tied embeddings, "
            "as LongLM uses, can be continued here"
        )
    return config_from_hf(values)


def read_hf_state(init_dir: str | Path) -> dict:
    """transformers-named tensors of DIR (safetensors preferred, else pytorch_model.bin)."""
    init_dir = Path(init_dir)
    if (init_dir / SAFETENSORS).is_file():
        from safetensors.torch import load_file

        return load_file(str(init_dir / SAFETENSORS))
    if (init_dir / PYTORCH_BIN).is_file():
        return torch.load(init_dir / PYTORCH_BIN, map_location="cpu", weights_only=True, mmap=True)
    raise FileNotFoundError(f"--init-from: neither {SAFETENSORS} nor {PYTORCH_BIN} in {init_dir}")


def check_vocab(init_dir: str | Path, cfg: ModelConfig, corpus_vocab: bytes | None) -> None:
    """Refuse a corpus whose vocabulary is not the checkpoint's (same embedding rows, and same pieces when
    DIR ships its spiece.model): ids would silently mean other words."""
    if corpus_vocab is None:
        return
    import sentencepiece as spm

    corpus = spm.SentencePieceProcessor(model_proto=corpus_vocab)
    rows = padded_vocab_size(corpus.get_piece_size())
    hint = f"rebuild the corpus with `longlm build --vocab {Path(init_dir) / 'spiece.model'}`"
    if rows != cfg.vocab_size:
        raise ValueError(
            f"--init-from {init_dir}: the checkpoint has vocab_size {cfg.vocab_size}, the corpus vocabulary "
            f"{corpus.get_piece_size()} pieces ({rows} embedding rows); {hint}"
        )
    own = Path(init_dir) / "spiece.model"
    if own.is_file():
        theirs = spm.SentencePieceProcessor(model_file=str(own))
        n = theirs.get_piece_size()
        if n != corpus.get_piece_size() or any(theirs.id_to_piece(i) != corpus.id_to_piece(i) for i in range(n)):
            raise ValueError(f"--init-from {init_dir}: its spiece.model differs from the corpus vocabulary; {hint}")


def load_hf_weights(init_dir: str | Path, cfg: ModelConfig) -> dict:
    """Our state dict for a model of `cfg` from DIR's weights (every parameter present, none unknown)."""
    state = {k: v for k, v in read_hf_state(init_dir).items() if k not in LEGACY_KEYS}
    if "shared.weight" not in state:
        alias = next((k for k in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight") if k in state), None)
        if alias is not None:
            state["shared.weight"] = state[alias]
    head, shared = state.get("lm_head.weight"), state.get("shared.weight")
    if head is not None and shared is not None and not torch.equal(head, shared):
        raise ValueError(f"--init-from {init_dir}: lm_head.weight differs from shared.weight (untied head)")
    try:
        ours = from_hf_state_dict(state, cfg)
    except KeyError as exc:
        raise ValueError(f"--init-from {init_dir}: weights do not match its config.json: {exc}") from exc
    return {k: v.float() for k, v in ours.items()}
