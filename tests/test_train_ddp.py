"""Distributed training: 2 gloo ranks x batch b == 1 process x batch 2b; torchrun -m train runs DDP."""

import json
import os
import socket
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from train.config import preset
from train.data import StreamConfig, collate
from train.distributed import DistContext, init_distributed
from train.model import build_model
from train.optim import lr_factor, make_optimizer
from train.options import TrainConfig
from train.trainer import train_step

REPO = Path(__file__).resolve().parents[1]
VOCAB, PER_RANK, STEPS = 256, 4, 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _global_batches() -> list[list]:
    """STEPS global batches of 2 * PER_RANK rows with uneven lengths (ranks see different token counts)."""
    rng = np.random.Generator(np.random.PCG64(42))
    batches = []
    for _ in range(STEPS):
        rows = []
        for _ in range(2 * PER_RANK):
            a = rng.integers(3, VOCAB, size=int(rng.integers(3, 30)))
            b = rng.integers(3, VOCAB, size=int(rng.integers(2, 20)))
            rows.append((np.append(a, 1), np.append(b, 1)))
        batches.append(rows)
    return batches


def _replica(ctx: DistContext, rows_of, micro: int = 1) -> dict:
    """Train STEPS steps on this rank's rows (rows_of(global rows) -> list), split into `micro` micro-batches."""
    from torch.nn.parallel import DistributedDataParallel

    torch.manual_seed(0)
    cfg = preset("tiny", vocab_size=VOCAB, dropout_rate=0.0)
    tcfg = TrainConfig(data="", out="", steps=STEPS, lr=2e-3, warmup_steps=2, clip_norm=0.5)
    model = build_model(cfg, seed=0)
    wrapped = DistributedDataParallel(model) if ctx.world_size > 1 else model
    optimizer = make_optimizer(model, tcfg)
    stream_cfg = StreamConfig()
    for step, rows in enumerate(_global_batches(), start=1):
        mine = rows_of(rows)
        size = len(mine) // micro
        batches = [collate(mine[i * size : (i + 1) * size], stream_cfg) for i in range(micro)]
        for group in optimizer.param_groups:
            group["lr"] = tcfg.lr * lr_factor(step, tcfg)
        train_step(wrapped, batches, optimizer, ctx, tcfg.clip_norm, nullcontext)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    try:
        state = _replica(ctx, lambda rows: rows[rank * PER_RANK : (rank + 1) * PER_RANK])
        if rank == 0:
            torch.save(state, out)
    finally:
        dist.destroy_process_group()


def _max_difference(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_two_gloo_ranks_equal_one_process_with_double_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    torch.set_num_threads(1)
    single = _replica(DistContext(), lambda rows: rows)
    ddp = torch.load(out, weights_only=True)
    initial = build_model(preset("tiny", vocab_size=VOCAB, dropout_rate=0.0), seed=0).state_dict()
    assert _max_difference(single, initial) > 1e-3  # training moved the weights
    assert _max_difference(single, ddp) < 1e-5


def test_gradient_accumulation_equals_one_big_batch():
    torch.set_num_threads(1)
    whole = _replica(DistContext(), lambda rows: rows, micro=1)
    accumulated = _replica(DistContext(), lambda rows: rows, micro=2)
    assert _max_difference(whole, accumulated) < 1e-5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from train.synthetic import make_corpus

    return make_corpus(tmp_path_factory.mktemp("corpus"), n_train_lines=200, n_val_lines=40, seed=2)


def test_torchrun_module_entry_point_trains_with_two_processes(corpus, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "train", "--data", str(corpus), "--out", str(out), "--model", "tiny", "--steps", "4",
               "--batch-size", "4", "--threads", "1", "--num-workers", "0", "--eval-every", "2", "--save-every", "2",
               "--log-every", "1", "--no-tensorboard"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 process(es)" in done.stdout
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]  # rank 0 logs, once per step
    from train.checkpoint import latest_checkpoint, load_checkpoint

    payload = load_checkpoint(latest_checkpoint(out))
    positions = payload["data"]["positions"]
    assert len(positions) == 2 and all(p["consumed"] == 4 for p in positions)
    assert set(positions[0]["shards"]) == {"0"} and set(positions[1]["shards"]) == {"1"}  # disjoint readers
    assert (out / "hf" / "model.safetensors").is_file()
