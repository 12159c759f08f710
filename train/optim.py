"""Optimizers and learning-rate schedules of the trainer (AdamW or torch's Adafactor)."""

from __future__ import annotations

import math

import torch

#: What lr, schedule and weight decay mean per optimizer when not given. AdamW: a peak step size with
#: cosine decay. torch's Adafactor takes `lr` as the cap on its *relative* step (min(lr, 1/sqrt(t)) x
#: RMS of the parameter), so T5's own recipe is lr 1e-2, constant after warmup, no weight decay.
OPTIMIZER_DEFAULTS = {
    "adamw": {"lr": 5e-4, "schedule": "cosine", "weight_decay": 0.01},
    "adafactor": {"lr": 1e-2, "schedule": "constant", "weight_decay": 0.0},
}


def lr_factor(step: int, cfg) -> float:
    """Multiplier of cfg.lr for optimizer step `step` (1-based): linear warmup, then the decay schedule."""
    warmup, total = cfg.warmup(), max(1, cfg.steps)
    if warmup and step <= warmup:
        return step / warmup
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "inverse_sqrt":
        return math.sqrt(max(1, warmup) / step)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if cfg.schedule == "linear":
        shape = 1.0 - progress
    elif cfg.schedule == "cosine":
        shape = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r}")
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * shape


def param_groups(model: "torch.nn.Module", cfg) -> list[dict]:
    """Decay on matrices; none on norms and position-bias tables (named_parameters order)."""
    decay, plain = [], []
    for name, param in model.named_parameters():
        (plain if param.dim() < 2 or "relative_attention_bias" in name else decay).append(param)
    return [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}]


def optimizer_class(model: "torch.nn.Module", cfg) -> tuple[type, dict]:
    """The optimizer class for cfg.optimizer and its constructor defaults (lr, betas, fused on GPU)."""
    if cfg.optimizer == "adamw":
        fused = next(model.parameters()).is_cuda
        return torch.optim.AdamW, {"lr": cfg.lr, "betas": (cfg.adam_beta1, cfg.adam_beta2), "fused": fused}
    if cfg.optimizer == "adafactor":
        return torch.optim.Adafactor, {"lr": cfg.lr}
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def make_optimizer(model: "torch.nn.Module", cfg) -> torch.optim.Optimizer:
    """AdamW (decay on matrices, none on norms and position-bias tables) or torch's Adafactor."""
    cls, defaults = optimizer_class(model, cfg)
    return cls(param_groups(model, cfg), **defaults)
