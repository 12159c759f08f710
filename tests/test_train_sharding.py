"""--sharding zero1 / fsdp under torchrun with 2 gloo processes: the same losses and weights as plain DDP,
checkpoints that resume (also across sharding modes: they hold full states), and a full HF export."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train.checkpoint import latest_checkpoint, load_checkpoint
from train.config import preset
from train.model import build_model
from train.parallel import _by_index, _by_name, fsdp_plan

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from train.synthetic import make_corpus

    return make_corpus(tmp_path_factory.mktemp("corpus"), n_train_lines=200, n_val_lines=40, seed=3)


def _torchrun(corpus, out, *flags):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "train", "--data", str(corpus), "--out", str(out), "--model", "tiny", "--steps", "4",
               "--batch-size", "4", "--threads", "1", "--num-workers", "0", "--eval-every", "4",
               "--eval-batches", "0", "--save-every", "2", "--log-every", "1", "--no-tensorboard", "--lr", "3e-3",
               "--warmup-steps", "1", "--dropout", "0", *flags]  # compiled dropout draws other masks
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _losses(out) -> dict:
    records = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r.get("loss", r.get("val_loss")) for r in records if "loss" in r or "val_loss" in r}


def _close(a: dict, b: dict, atol=1e-5) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=1e-4) for k in a)


@pytest.fixture(scope="module")
def ddp_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    _torchrun(corpus, out, "--no-export")
    return out


def test_zero1_trains_like_ddp_and_resumes(corpus, ddp_run, tmp_path):
    zero = tmp_path / "zero1"
    printed = _torchrun(corpus, zero, "--sharding", "zero1", "--no-export")
    assert "sharding zero1" in printed
    assert _losses(zero) == pytest.approx(_losses(ddp_run), rel=1e-5)
    assert len(_losses(zero)) == 5  # 4 training losses + the validation loss at step 4 (0 is step 0's)
    final_ddp, final_zero = load_checkpoint(latest_checkpoint(ddp_run)), load_checkpoint(latest_checkpoint(zero))
    assert _close(final_ddp["model"], final_zero["model"])
    # the checkpoint holds the whole optimizer state, as one process writes it
    assert final_zero["optimizer"]["state"].keys() == final_ddp["optimizer"]["state"].keys()
    assert _close(final_zero["optimizer"]["state"][0], final_ddp["optimizer"]["state"][0])
    # resume a ZeRO-1 run from its step-2 checkpoint: the same weights at step 4
    resumed = tmp_path / "resumed"
    _torchrun(corpus, resumed, "--sharding", "zero1", "--no-export", "--resume", str(zero / "checkpoints" / "step-00000002"))
    assert _close(load_checkpoint(latest_checkpoint(resumed))["model"], final_zero["model"], atol=1e-6)
    assert {s: v for s, v in _losses(resumed).items() if s > 2} == pytest.approx(
        {s: v for s, v in _losses(zero).items() if s > 2}, rel=1e-6)


def test_fsdp_trains_like_ddp_resumes_across_modes_and_exports(corpus, ddp_run, tmp_path):
    fsdp = tmp_path / "fsdp"
    printed = _torchrun(corpus, fsdp, "--sharding", "fsdp")
    assert "sharding fsdp" in printed
    assert _losses(fsdp) == pytest.approx(_losses(ddp_run), rel=1e-4)
    final_ddp, final_fsdp = load_checkpoint(latest_checkpoint(ddp_run)), load_checkpoint(latest_checkpoint(fsdp))
    assert _close(final_ddp["model"], final_fsdp["model"], atol=1e-4)
    assert final_fsdp["optimizer"]["state"].keys() == final_ddp["optimizer"]["state"].keys()
    # the export holds the gathered full weights
    from safetensors.torch import load_file

    from train.export import to_hf_state_dict

    exported = load_file(str(fsdp / "hf" / "model.safetensors"))
    expected = to_hf_state_dict(final_fsdp["model"])
    assert all(torch.equal(exported[k], expected[k]) for k in expected if k in exported)
    assert exported["shared.weight"].shape == final_fsdp["model"]["shared.weight"].shape
    # FSDP (with activation checkpointing) resumes the plain DDP run's checkpoint (full states) and
    # reaches DDP's step-4 weights
    resumed = tmp_path / "resumed"
    _torchrun(corpus, resumed, "--sharding", "fsdp", "--activation-checkpointing", "--no-export", "--resume",
              str(ddp_run / "checkpoints" / "step-00000002"))
    assert _close(load_checkpoint(latest_checkpoint(resumed))["model"], final_ddp["model"], atol=1e-4)


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler for inductor")
def test_fsdp_with_compiled_blocks_trains_like_ddp(corpus, ddp_run, tmp_path):
    out = tmp_path / "fsdp-compiled"
    printed = _torchrun(corpus, out, "--sharding", "fsdp", "--compile", "--no-export")
    assert "sharding fsdp | attention sdpa | packing off | compiled" in printed
    assert _losses(out) == pytest.approx(_losses(ddp_run), rel=1e-4)


def test_fsdp_plan_puts_each_bias_table_first_every_block_once_and_the_root_last():
    model = build_model(preset("tiny", vocab_size=256))
    plan = fsdp_plan(model)
    names = [name for name, _ in plan]
    assert names[0] == "encoder.layers.0.attn.relative_attention_bias" and names[-1] == ""
    blocks = [n for n in names if n.count(".") == 2]
    assert blocks == [f"encoder.layers.{i}" for i in range(2)] + [f"decoder.layers.{i}" for i in range(2)]
    assert names.index("decoder.layers.0.attn.relative_attention_bias") < names.index("decoder.layers.0")
    # every parameter is owned by exactly one unit: its innermost planned ancestor; the root keeps the
    # tied embedding and the final norms only
    modules = dict(model.named_modules())
    owned = {}
    for name, _ in model.named_parameters():
        owner = max((n for n in names if n == "" or name.startswith(n + ".")), key=len)
        owned.setdefault(owner, []).append(name)
    assert sorted(owned[""]) == ["decoder.final_norm.weight", "encoder.final_norm.weight", "shared.weight"]
    assert all(modules[n] is m for n, m in plan if n)


def test_optimizer_state_by_index_and_by_name_are_inverse():
    state = {"state": {0: {"step": torch.tensor(1.0)}, 2: {"step": torch.tensor(2.0)}},
             "param_groups": [{"lr": 0.1, "params": [0, 1]}, {"lr": 0.2, "params": [2]}]}
    names = ["a.weight", "b.weight", "c.weight"]
    by_name = _by_name(state, names)
    assert set(by_name["state"]) == {"a.weight", "c.weight"} and by_name["param_groups"][1]["params"] == ["c.weight"]
    assert _by_index(by_name, names) == state


def test_sharding_is_a_no_op_for_one_process(corpus, tmp_path):
    from train.trainer import TrainConfig, run

    opts = dict(data=str(corpus), model="tiny", steps=2, batch_size=4, threads=1, num_workers=0, eval_every=0,
                save_every=2, log_every=1, tensorboard=False, export=False)
    run(TrainConfig(out=str(tmp_path / "a"), **opts))
    run(TrainConfig(out=str(tmp_path / "b"), sharding="zero1", **opts))
    a, b = (load_checkpoint(latest_checkpoint(tmp_path / p))["model"] for p in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def _lockstep_worker(rank: int, port: int, out: str) -> None:
    from contextlib import nullcontext

    import torch.distributed as dist

    from train.distributed import init_distributed, shutdown_distributed
    from train.options import TrainConfig
    from train.parallel import Parallel
    from train.trainer import evaluate

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    model = build_model(preset("tiny", vocab_size=256), seed=0)
    parallel = Parallel(model, TrainConfig(data="", out="", sharding="fsdp"), ctx)
    batches = _eval_batches()
    # rank 1 has no batch at all (the stand-in), then one batch (repeated while rank 0 goes on)
    none = evaluate(parallel.model, batches if rank == 0 else [], ctx, nullcontext, 0, lockstep=True)
    one = evaluate(parallel.model, batches if rank == 0 else batches[:1], ctx, nullcontext, 0, lockstep=True)
    if rank == 0:
        torch.save({"none": none, "one": one}, out)
    del parallel
    dist.barrier()
    shutdown_distributed(ctx)


def _eval_batches() -> list[dict]:
    from train.data import StreamConfig, collate

    gen = torch.Generator().manual_seed(0)
    rows = lambda n: [(torch.randint(3, 256, (n,), generator=gen).tolist() + [1],  # noqa: E731
                       torch.randint(3, 256, (n // 2 + 1,), generator=gen).tolist() + [1]) for _ in range(3)]
    return [collate(rows(n), StreamConfig()) for n in (5, 9, 13)]


def test_fsdp_validation_keeps_ranks_in_lockstep_when_their_shares_differ(tmp_path):
    import socket
    from contextlib import nullcontext

    import torch.multiprocessing as mp

    from train.distributed import DistContext
    from train.trainer import evaluate

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "losses.pt"
    mp.spawn(_lockstep_worker, args=(port, str(out)), nprocs=2, join=True)
    got = torch.load(out)
    model = build_model(preset("tiny", vocab_size=256), seed=0)
    batches = _eval_batches()
    alone = evaluate(model, batches, DistContext(), nullcontext, 0)
    both = evaluate(model, batches + batches[:1], DistContext(), nullcontext, 0)
    assert got["none"] == pytest.approx(alone, rel=1e-5)  # the stand-in counted nothing
    assert got["one"] == pytest.approx(both, rel=1e-5)  # the repeated batch counted once
    assert alone != pytest.approx(both, rel=1e-6)
