"""`--compile`: torch.compile the model's blocks where the compiler can run, else train eagerly and say
why; and which attention implementation a run uses (`--attention`).

Inductor needs a C++ compiler on CPU and Triton on CUDA; whether they work is found out by compiling a
one-line probe on the training device (seconds), not assumed. Each encoder and decoder block is
compiled in place (`nn.Module.compile`), so parameter names, state dicts, checkpoints and exports are
unchanged; all blocks of a stack share one graph (a fixed packed shape: one compilation per stack;
bucketed shapes: dynamic after the first change, so recompiles stay bounded). Masks, embeddings and
the chunked loss stay eager, outside the graphs: they vary per batch and are cheap, and DDP's and
FSDP's hooks run around, not inside, compiled code. Compiled dropout draws its masks from inductor's
own RNG: with dropout > 0 a compiled run is not step-for-step comparable with an eager one.
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


def compile_model(model: nn.Module, device: torch.device) -> bool:
    """Compile every encoder/decoder block of `model` in place; True if compiled, False (with a warning
    naming the reason) when the compiler cannot run here."""
    problem = compiler_problem(device)
    if problem is not None:
        warnings.warn(f"--compile: torch.compile cannot run on {device.type} here ({problem}); training eagerly",
                      RuntimeWarning, stacklevel=2)
        return False
    for stack in (model.encoder, model.decoder):
        for block in stack.layers:
            block.compile()
    return True


def choose_attention(setting: str, device: torch.device, compiled: bool) -> str:
    """"sdpa" or "flex" for `--attention` on `device`. auto: flex on CUDA where torch.compile works (flex
    is fast only as its compiled kernel, and its backward needs one), else sdpa. flex asked for where it
    cannot train raises ValueError naming the option."""
    if setting not in ("auto", "sdpa", "flex"):
        raise ValueError(f"attention: unknown {setting!r}; choose from auto, sdpa, flex")
    if setting == "sdpa":
        return "sdpa"
    problem = f"its backward does not run on {device.type}" if device.type != "cuda" else None
    if problem is None and not compiled:
        problem = compiler_problem(device)
    if problem is None:
        return "flex"
    if setting == "flex":
        from train.run_dir import UsageError  # a flag asks for what this machine cannot do: exit 2

        raise UsageError(f"attention: flex cannot train here ({problem}); use --attention sdpa")
    return "sdpa"
