"""`--compile`: torch.compile the model where the compiler can run, else train eagerly and say why.

Inductor needs a C++ compiler on CPU and Triton on CUDA; whether they work is found out by compiling a
one-line probe on the training device (seconds), not assumed. The model is compiled in place
(`nn.Module.compile`), so parameter names, state dicts, checkpoints and exports are unchanged. With
FSDP each block is compiled on its own (FSDP's hooks run around, not inside, the compiled code).
Compiled dropout draws its masks from inductor's own RNG: with dropout > 0 a compiled run is not
step-for-step comparable with an eager one.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def compiler_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot run on `device` here (the probe's error, one line), or None if it can."""
    try:
        probe = torch.compile(lambda x: torch.relu(x) * 2 + 1, fullgraph=True)
        out = probe(torch.arange(4.0, device=device) - 1)
        if out.tolist() != [1.0, 1.0, 3.0, 5.0]:
            return f"the compiled probe computed {out.tolist()}"
    except Exception as error:  # any failure of the toolchain means: do not compile
        text = str(error).strip().splitlines()
        return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
    finally:
        torch._dynamo.reset()
    return None


def compile_model(model: nn.Module, device: torch.device, per_block: bool = False) -> bool:
    """Compile `model` in place (each encoder/decoder block when `per_block`); True if compiled, False
    (with a warning naming the reason) when the compiler cannot run here."""
    problem = compiler_problem(device)
    if problem is not None:
        warnings.warn(f"--compile: torch.compile cannot run on {device.type} here ({problem}); training eagerly",
                      RuntimeWarning, stacklevel=2)
        return False
    if per_block:
        for stack in (model.encoder, model.decoder):
            for block in stack.layers:
                block.compile()
    else:
        model.compile()
    return True
