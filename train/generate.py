"""Sampling from an export directory (RUN/hf) with our own model code: no transformers needed.

Mirrors `model.generate(input_ids, do_sample=True, top_p=0.9, max_length=512)`: the decoder starts from
config.json's decoder_start_token_id, `max_length` counts that start token, generation stops at </s>,
and top-p keeps the smallest set of most likely tokens whose probability reaches p.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from train.export import load_export
from train.model import T5
from train.tokenizer import T5Vocab


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """`logits` with every token outside the top-p nucleus set to -inf (the most likely always stays)."""
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= (1.0 - top_p)
    remove[..., -1] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


@torch.no_grad()
def sample(
    model: T5,
    input_ids: list[int],
    max_length: int = 512,
    top_p: float = 0.9,
    temperature: float = 1.0,
    do_sample: bool = True,
    generator: torch.Generator | None = None,
    vocab_limit: int | None = None,
) -> list[int]:
    """Decoder ids (without the start token, ending with </s> unless cut by `max_length`) for one input.

    Uses a key/value cache, so each new token costs one decoder position. `vocab_limit` forbids ids
    at or above it (the padding rows of the embedding table).
    """
    cfg = model.config
    device = model.shared.weight.device
    memory = model.encode(torch.tensor([input_ids], device=device))
    cache, token, out = model.new_cache(), cfg.decoder_start_token_id, []
    for position in range(max_length - 1):
        step = torch.tensor([[token]], device=device)
        logits = model.decode(step, memory, None, cache, offset=position)[0, -1].float()
        if vocab_limit is not None:
            logits[vocab_limit:] = float("-inf")
        if do_sample:
            logits = top_p_filter(logits / max(temperature, 1e-6), top_p)
            token = int(torch.multinomial(logits.softmax(-1), 1, generator=generator))
        else:
            token = int(logits.argmax())
        out.append(token)
        if token == cfg.eos_token_id:
            break
    return out


def resolve_model_dir(path: str | Path) -> Path:
    """An export directory: `path` itself, or `path`/hf for a run directory."""
    path = Path(path)
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        return path
    if (path / "hf" / "model.safetensors").is_file():
        return path / "hf"
    raise FileNotFoundError(f"{path} is neither an export (config.json + model.safetensors) nor a run with hf/")


def generate_text(
    model_dir: str | Path,
    prompt: str,
    num_samples: int = 1,
    seed: int | None = None,
    device: str = "cpu",
    **options,
) -> list[str]:
    """`num_samples` continuations of `prompt` (which may contain <extra_id_N> sentinels) as text.

    A prompt without a sentinel is a continuation request: the export's continuation sentinel (config.json,
    <extra_id_1> for LongLM-style corpora) is appended, as the model saw in training, and the sentinel
    the model answers with is left out of the text.
    """
    import json

    model_dir = resolve_model_dir(model_dir)
    model = load_export(model_dir, device)
    vocab = T5Vocab(model_dir / "spiece.model")
    sentinel = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("continuation_sentinel")
    strip = None
    if sentinel and "<extra_id_" not in prompt:
        prompt, strip = prompt + sentinel, sentinel
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(8), "little") >> 1)
    ids = vocab.encode(prompt)
    outputs = []
    for _ in range(num_samples):
        out = sample(model, ids, generator=generator, vocab_limit=len(vocab), **options)
        text = vocab.decode(out)
        outputs.append(text.removeprefix(strip) if strip else text)
    return outputs
