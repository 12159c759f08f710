"""Hugging Face export of a trained model: RUN/hf/ loadable by transformers' T5 classes.

Writes config.json (model_type t5, pad/eos/decoder_start ids), generation_config.json,
model.safetensors (transformers' parameter names, tied weights stored once as `shared.weight`),
and the tokenizer: spiece.model, tokenizer.json, tokenizer_config.json (extra_ids=100) and
special_tokens_map.json. The directory is written beside the target and renamed into place.
`load_export` reads it back into `train.model.T5` without transformers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import torch

from train.config import ModelConfig
from train.model import T5

_BLOCK = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.([a-z_]+)\.(.+)$")
_SUBLAYERS = {
    "encoder": {
        "attn_norm": "layer.0.layer_norm",
        "attn": "layer.0.SelfAttention",
        "ff_norm": "layer.1.layer_norm",
        "ff": "layer.1.DenseReluDense",
    },
    "decoder": {
        "attn_norm": "layer.0.layer_norm",
        "attn": "layer.0.SelfAttention",
        "cross_norm": "layer.1.layer_norm",
        "cross": "layer.1.EncDecAttention",
        "ff_norm": "layer.2.layer_norm",
        "ff": "layer.2.DenseReluDense",
    },
}
#: Keys transformers may also store for the tied embedding; they duplicate `shared.weight`.
_TIED_ALIASES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")


def hf_name(name: str) -> str:
    """transformers' name of our parameter `name` (e.g. encoder.layers.0.attn.q.weight ->
    encoder.block.0.layer.0.SelfAttention.q.weight)."""
    match = _BLOCK.match(name)
    if match:
        stack, index, sub, rest = match.groups()
        if sub not in _SUBLAYERS[stack]:
            raise KeyError(f"no transformers name for parameter {name!r}")
        return f"{stack}.block.{index}.{_SUBLAYERS[stack][sub]}.{rest}"
    if name.endswith("final_norm.weight"):
        return name.replace("final_norm", "final_layer_norm")
    if name == "shared.weight":
        return name
    raise KeyError(f"no transformers name for parameter {name!r}")


def to_hf_state_dict(state_dict: dict, dtype: torch.dtype = torch.float32) -> dict:
    """Our state dict renamed to transformers' names, as contiguous CPU tensors of `dtype`."""
    return {hf_name(k): v.detach().to("cpu", dtype).contiguous() for k, v in state_dict.items()}


def from_hf_state_dict(hf_state: dict, cfg: ModelConfig) -> dict:
    """Inverse of `to_hf_state_dict` for a model of `cfg`; tied-embedding aliases are dropped."""
    with torch.device("meta"):
        names = {hf_name(k): k for k in T5(cfg).state_dict()}
    out, unknown = {}, []
    for key, value in hf_state.items():
        if key in names:
            out[names[key]] = value
        elif key not in _TIED_ALIASES:
            unknown.append(key)
    missing = sorted(set(names.values()) - set(out))
    if unknown or missing:
        raise KeyError(f"export does not match the config: missing {missing[:5]}, unexpected {unknown[:5]}")
    return out


def hf_config(cfg: ModelConfig) -> dict:
    """config.json for transformers' T5ForConditionalGeneration (relu FFN, tied, rescaled head)."""
    return {
        "architectures": ["T5ForConditionalGeneration"],
        "model_type": "t5",
        "vocab_size": cfg.vocab_size,
        "d_model": cfg.d_model,
        "d_ff": cfg.d_ff,
        "d_kv": cfg.d_kv,
        "num_heads": cfg.num_heads,
        "num_layers": cfg.num_layers,
        "num_decoder_layers": cfg.num_decoder_layers,
        "relative_attention_num_buckets": cfg.relative_attention_num_buckets,
        "relative_attention_max_distance": cfg.relative_attention_max_distance,
        "dropout_rate": cfg.dropout_rate,
        "layer_norm_epsilon": cfg.layer_norm_epsilon,
        "initializer_factor": 1.0,
        "feed_forward_proj": "relu",
        "is_encoder_decoder": True,
        "tie_word_embeddings": True,
        "use_cache": True,
        "pad_token_id": cfg.pad_token_id,
        "eos_token_id": cfg.eos_token_id,
        "decoder_start_token_id": cfg.decoder_start_token_id,
        "torch_dtype": "float32",
    }


def config_from_hf(values: dict) -> ModelConfig:
    """ModelConfig from a T5 config.json (ours or a compatible relu T5)."""
    if values.get("model_type") != "t5":
        raise ValueError(f"not a T5 config (model_type={values.get('model_type')!r})")
    if values.get("feed_forward_proj", "relu") != "relu":
        raise ValueError("only the ReLU (T5 v1.0) feed-forward is supported")
    cfg = ModelConfig.from_dict(values)
    if values.get("num_decoder_layers") is None:
        cfg = cfg.replace(num_decoder_layers=cfg.num_layers)
    return cfg


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_tokenizer_files(out_dir: Path, vocab_file: Path, model_max_length: int = 512) -> None:
    """spiece.model, tokenizer.json, tokenizer_config.json and special_tokens_map.json into `out_dir`."""
    from train.tokenizer import T5Vocab

    vocab = T5Vocab(vocab_file)
    shutil.copyfile(vocab_file, out_dir / "spiece.model")
    _write_json(out_dir / "tokenizer.json", vocab.tokenizer_json())
    _write_json(out_dir / "tokenizer_config.json", vocab.tokenizer_config(model_max_length))
    _write_json(out_dir / "special_tokens_map.json", vocab.special_tokens_map())


def export_hf(
    state_dict: dict,
    cfg: ModelConfig,
    out_dir: str | Path,
    vocab_file: str | Path | None = None,
    dtype: torch.dtype = torch.float32,
    continuation_sentinel: int = 0,
) -> Path:
    """Write the export of (`state_dict`, `cfg`) to `out_dir`, replacing it atomically; returns the path.

    Without `vocab_file` only the model files are written (no tokenizer). config.json and
    generation_config.json carry the decoder start id and `continuation_sentinel` ("<extra_id_N>": a
    prompt ending with it asks for a continuation, as in LongLM's own generation snippet).
    """
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(to_hf_state_dict(state_dict, dtype), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    config = hf_config(cfg)
    config["torch_dtype"] = str(dtype).removeprefix("torch.")
    sentinel = f"<extra_id_{int(continuation_sentinel)}>"
    config["continuation_sentinel"] = sentinel
    _write_json(tmp / "config.json", config)
    generation = {
        "decoder_start_token_id": cfg.decoder_start_token_id,
        "eos_token_id": cfg.eos_token_id,
        "pad_token_id": cfg.pad_token_id,
        "continuation_sentinel": sentinel,
    }
    _write_json(tmp / "generation_config.json", generation)
    if vocab_file is not None:
        write_tokenizer_files(tmp, Path(vocab_file))
    # safetensors creates its file owner-only (0600); give it the mode open() gave config.json (the umask's).
    os.chmod(tmp / "model.safetensors", stat.S_IMODE((tmp / "config.json").stat().st_mode))
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return out_dir


def load_export(model_dir: str | Path, device: str | torch.device = "cpu") -> T5:
    """`train.model.T5` (fp32, eval mode) loaded from an export directory written by `export_hf`."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    cfg = config_from_hf(json.loads((model_dir / "config.json").read_text(encoding="utf-8")))
    state = {k: v.float() for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    model = T5(cfg)
    model.load_state_dict(from_hf_state_dict(state, cfg))
    return model.to(device).eval()
