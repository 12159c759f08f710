"""How one model's training state is spread over the processes of a job: DDP, ZeRO-1 or FSDP2.

`Parallel(model, cfg, ctx)` wraps the model and builds the optimizer for `cfg.sharding`:
- none: every rank holds model, gradients and optimizer state; gradients all-reduced by DDP;
- zero1: as DDP, but the optimizer state (AdamW: 2x the weights) is split across ranks by
  `ZeroRedundancyOptimizer`; each rank steps its share and broadcasts the updated weights;
- fsdp: FSDP2 `fully_shard` per T5 block (see `fsdp_plan`): parameters, gradients and optimizer state
  are split; a block's weights are all-gathered only while it runs.
Checkpoints and exports stay *full* and sharding-agnostic: `full_model_state` / `full_optimizer_state`
(collectives) give rank 0 the state dicts a single process would have (optimizer state keyed by index, as
`torch.optim` writes it), and the `load_*` methods take them on every rank, so a run may resume under
another --sharding or process count's worth of memory. One process: sharding is a no-op.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from train.distributed import DistContext
from train.optim import make_optimizer, optimizer_class, param_groups


def fsdp_plan(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules to `fully_shard`, in order (children before parents). Each stack's position-bias table
    is its own small unit first: the stack computes the bias *before* its first block runs, so it cannot
    live in block 0's unit. Then every block; the root last (tied embedding + final norms), so the tied
    embedding is gathered once for the embedding lookups and the LM head."""
    plan: list[tuple[str, nn.Module]] = []
    for name in ("encoder", "decoder"):
        stack = getattr(model, name)
        plan.append((f"{name}.layers.0.attn.relative_attention_bias", stack.layers[0].attn.relative_attention_bias))
        plan += [(f"{name}.layers.{i}", block) for i, block in enumerate(stack.layers)]
    plan.append(("", model))
    return plan


def _fully_shard():
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError as error:  # torch < 2.6
        raise RuntimeError(f"sharding: fsdp needs torch.distributed.fsdp.fully_shard (FSDP2), which torch "
                           f"{torch.__version__} lacks; use --sharding zero1 or upgrade torch") from error
    return fully_shard


class Parallel:
    """The model as the training step calls it (`wrapped`), its optimizer, and full-state access."""

    def __init__(self, model: nn.Module, cfg, ctx: DistContext):
        self.ctx, self.model = ctx, model
        self.kind = cfg.sharding if ctx.world_size > 1 else "none"
        self.wrapped: nn.Module = model
        if self.kind == "fsdp":
            from torch.distributed.device_mesh import init_device_mesh

            fully_shard = _fully_shard()
            mesh = init_device_mesh(ctx.device.type, (ctx.world_size,))
            for _, module in fsdp_plan(model):
                fully_shard(module, mesh=mesh)
            cls, defaults = optimizer_class(model, cfg)
            if defaults.pop("fused", False):
                defaults["foreach"] = True  # sharded (DTensor) parameters: the foreach path
            self.optimizer = cls(param_groups(model, cfg), **defaults)
            return
        if ctx.world_size > 1:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(model, device_ids=ids)  # T5 has no buffers to sync
        if self.kind == "zero1":
            from torch.distributed.optim import ZeroRedundancyOptimizer

            cls, defaults = optimizer_class(model, cfg)
            self.optimizer = ZeroRedundancyOptimizer(param_groups(model, cfg), optimizer_class=cls, **defaults)
        else:
            self.optimizer = make_optimizer(model, cfg)

    def set_lr(self, lr: float) -> None:
        """Learning rate of every parameter group (ZeRO-1 passes it on to its shard at the step)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def close(self) -> None:
        """Drop the DDP wrapper (it holds the process group); no collectives."""
        self.wrapped = self.model

    # -- full states (collectives: every rank calls them) -------------------------------------------------

    def full_model_state(self) -> dict | None:
        """The model's full state dict on rank 0 (on CPU for fsdp), None on other ranks."""
        if self.kind == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            state = get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
            return state if self.ctx.main else None
        return self.model.state_dict() if self.ctx.main else None

    def full_optimizer_state(self) -> dict | None:
        """The optimizer's full state dict on rank 0, keyed by parameter index as a single process's
        `torch.optim` optimizer writes it; None on other ranks."""
        if self.kind == "zero1":
            self.optimizer.consolidate_state_dict(to=0)
            return self.optimizer.state_dict() if self.ctx.main else None
        if self.kind == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            state = get_optimizer_state_dict(self.model, self.optimizer, options=options)
            return _by_index(state, self._names()) if self.ctx.main else None
        return self.optimizer.state_dict() if self.ctx.main else None

    def load_model_state(self, state: dict) -> None:
        """Load a full model state dict (every rank passes the same one)."""
        if self.kind == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

            set_model_state_dict(self.model, state, options=StateDictOptions(full_state_dict=True))
        else:
            self.model.load_state_dict(state)

    def load_optimizer_state(self, state: dict) -> None:
        """Load a full, index-keyed optimizer state dict (every rank passes the same one)."""
        if self.kind == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            options = StateDictOptions(full_state_dict=True)
            set_optimizer_state_dict(self.model, self.optimizer, _by_name(state, self._names()), options=options)
        else:
            self.optimizer.load_state_dict(state)

    def _names(self) -> list[str]:
        """Parameter names in the optimizer's index order."""
        names = {id(p): n for n, p in self.model.named_parameters()}
        return [names[id(p)] for group in self.optimizer.param_groups for p in group["params"]]


def _by_index(state: dict, names: list[str]) -> dict:
    """A name-keyed optimizer state dict (torch.distributed.checkpoint's form) keyed by index instead."""
    index = {name: i for i, name in enumerate(names)}
    return {"state": {index[k]: v for k, v in state["state"].items()},
            "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in state["param_groups"]]}


def _by_name(state: dict, names: list[str]) -> dict:
    """Inverse of `_by_index`."""
    return {"state": {names[int(k)]: v for k, v in state["state"].items()},
            "param_groups": [{**g, "params": [names[int(i)] for i in g["params"]]} for g in state["param_groups"]]}
