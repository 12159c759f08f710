"""Training throughput of train.model.T5 vs transformers' T5ForConditionalGeneration, in one run.

`python -m bench.bench_train [--preset small] [--threads N] ...`; `main()` returns the figures as a dict
and prints them. Both models get the same config, weights, batch (bucketed, dynamically padded, as the
trainer makes them), dtype (fp32 on CPU), thread count and optimizer (torch AdamW); steps alternate
between the two so machine noise hits both alike. Tokens/s counts non-pad input + target tokens of a
full training step (forward, backward, optimizer). On a GPU it also reports bf16 MFU of small, base and large
(bench.gpu_train); without one it says the GPU part was skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

import torch

from bench import gpu_train
from bench.gpu_train import hf_twin, make_batch
from train.config import T5_VOCAB_SIZE, count_parameters, preset
from train.export import hf_config
from train.model import build_model
from train.trainer import summed_loss


def step_functions(ours, theirs, batch: dict, autocast) -> dict:
    """name -> callable doing one full training step (forward, backward, AdamW) on `batch`."""
    labels = batch["labels"]
    n_labels = int((labels != -100).sum())
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-4)
    opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=1e-4)

    def ours_step():
        with autocast():
            loss = summed_loss(ours, batch) / n_labels
        loss.backward()
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def theirs_step():
        with autocast():
            out = theirs(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                decoder_input_ids=batch["decoder_input_ids"], labels=labels, use_cache=False,
            )
        out.loss.backward()
        opt_theirs.step()
        opt_theirs.zero_grad(set_to_none=True)

    return {"ours": ours_step, "transformers": theirs_step}


@torch.no_grad()
def loss_difference(ours, theirs, batch: dict) -> float:
    """|mean token loss of ours - of transformers'| on `batch` in eval mode (proves equal computation)."""
    ours.eval(), theirs.eval()
    labels = batch["labels"]
    a = ours(batch["input_ids"], batch["decoder_input_ids"], batch["attention_mask"], labels) / (labels != -100).sum()
    b = theirs(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
               decoder_input_ids=batch["decoder_input_ids"], labels=labels).loss
    ours.train(), theirs.train()
    return abs(float(a) - float(b))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(steps: dict, tokens: int, rounds: int, per_round: int, device: torch.device) -> dict:
    """Per step function: median tokens per wall second and per process-CPU second (the latter is robust
    to other load on a shared machine); rounds interleave the functions, after one warm-up step each."""
    for fn in steps.values():
        fn()
    wall: dict = {name: [] for name in steps}
    cpu: dict = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            _sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                fn()
            _sync(device)
            wall[name].append(tokens * per_round / (time.perf_counter() - start))
            cpu[name].append(tokens * per_round / max(1e-9, time.process_time() - start_cpu))
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in steps}


def bench_cpu(args) -> dict:
    """Our T5 vs transformers' on CPU in fp32: tokens/s of each and the ratio."""
    torch.set_num_threads(args.threads)
    cfg = preset(args.preset, vocab_size=args.vocab, dropout_rate=0.1)
    ours = build_model(cfg, seed=0).train()
    theirs = hf_twin(ours, cfg).train()
    batch = make_batch(cfg, args.batch_size, args.src_len, args.tgt_len)
    tokens = int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum())
    difference = loss_difference(ours, theirs, batch)
    rates = measure(step_functions(ours, theirs, batch, contextlib.nullcontext), tokens, args.rounds,
                    args.steps, torch.device("cpu"))
    (ours_wall, ours_cpu), (theirs_wall, theirs_cpu) = rates["ours"], rates["transformers"]
    return {
        "cpu_preset": args.preset,
        "cpu_parameters": count_parameters(cfg),
        "cpu_threads": args.threads,
        "cpu_batch": list(batch["input_ids"].shape) + [batch["labels"].shape[1]],
        "cpu_tokens_per_step": tokens,
        "cpu_initial_loss_difference": difference,
        "cpu_load_average": os.getloadavg()[0],
        "cpu_ours_tokens_per_s": ours_wall,
        "cpu_transformers_tokens_per_s": theirs_wall,
        "cpu_speed_ratio_ours_vs_transformers": ours_wall / theirs_wall,
        "cpu_ours_tokens_per_cpu_s": ours_cpu,
        "cpu_transformers_tokens_per_cpu_s": theirs_cpu,
        "cpu_time_ratio_ours_vs_transformers": ours_cpu / theirs_cpu,
    }


def bench_gpu(args) -> dict:
    """bf16 tokens/s, peak memory and MFU of small, base and large on the first GPU, measured by
    bench.gpu_train (skipped without CUDA)."""
    if not torch.cuda.is_available():
        return {"gpu": "skipped: no CUDA device"}
    argv = ["--rows", str(args.gpu_batch), "--steps", str(args.gpu_steps), "--budget-s", str(args.gpu_budget_s)]
    if args.peak_tflops:
        argv += ["--peak-tflops", str(args.peak_tflops)]
    result = gpu_train.main(argv)
    out: dict = {"gpu": result["device"]}
    for row in result["rows"]:
        size = row["preset"]
        out[f"gpu_{size}_tokens_per_s"] = row.get("tokens/s")
        out[f"gpu_{size}_tflops"] = row.get("TFLOP/s")
        out[f"gpu_{size}_mfu"] = row.get("MFU")
        out[f"gpu_{size}_peak_mem_gb"] = row.get("peak mem GB")
        out[f"gpu_{size}_status"] = row.get("status")
    return out


def one_config(preset_name: str, impl: str, checkpointing: bool, args) -> dict:
    """tokens/s and peak RSS of one (preset, implementation, activation checkpointing) in this process."""
    torch.set_num_threads(args.threads)
    if impl == "transformers":
        import transformers  # noqa: F401  (imported before the baseline: its import is not the model's memory)
    base_kb = _peak_rss_kb()  # not ru_maxrss: a child started by exec inherits its parent's
    cfg = preset(preset_name, vocab_size=args.vocab, dropout_rate=0.1)
    batch = make_batch(cfg, args.batch_size, args.src_len, args.tgt_len)
    tokens = int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum())
    if impl == "transformers":
        from transformers import T5Config, T5ForConditionalGeneration

        model = T5ForConditionalGeneration(T5Config(**hf_config(cfg))).train()  # only one model in memory
        if checkpointing:
            model.gradient_checkpointing_enable()
        step = step_functions(build_model(preset("tiny", vocab_size=256)), model, batch, contextlib.nullcontext)
        fn = step["transformers"]
    else:
        ours = build_model(cfg, seed=0).train()
        ours.set_activation_checkpointing(checkpointing)
        fn = step_functions(ours, build_model(preset("tiny", vocab_size=256)), batch, contextlib.nullcontext)["ours"]
    rate = measure({"x": fn}, tokens, args.rounds, args.steps, torch.device("cpu"))["x"][0]
    peak_kb = _peak_rss_kb()
    return {"preset": preset_name, "impl": impl, "checkpointing": checkpointing, "tokens_per_s": rate,
            "peak_rss_mb": (peak_kb - base_kb) / 1024, "batch": list(batch["input_ids"].shape) + [batch["labels"].shape[1]]}


def bench_memory(args) -> dict:
    """Every (preset, ours/transformers, checkpointing off/on) in a fresh subprocess, so each peak RSS is
    its own: the growth of the process's peak RSS over its size after imports = model + AdamW state + the
    activations of one step."""
    import json
    import subprocess
    import sys

    out: dict = {}
    for name in args.memory_presets.split(","):
        for impl in ("ours", "transformers"):
            for ckpt in (False, True):
                command = [sys.executable, "-m", "bench.bench_train", "--one", f"{name}:{impl}:{int(ckpt)}",
                           "--threads", str(args.threads), "--rounds", str(args.rounds), "--steps", str(args.steps),
                           "--batch-size", str(args.batch_size), "--src-len", str(args.src_len),
                           "--tgt-len", str(args.tgt_len), "--vocab", str(args.vocab)]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                key = f"mem_{name}_{impl}{'_ckpt' if ckpt else ''}"
                out[f"{key}_tokens_per_s"] = r["tokens_per_s"]
                out[f"{key}_peak_rss_mb"] = r["peak_rss_mb"]
        for ckpt in ("", "_ckpt"):
            out[f"mem_{name}{ckpt}_speed_ratio"] = (out[f"mem_{name}_ours{ckpt}_tokens_per_s"]
                                                   / out[f"mem_{name}_transformers{ckpt}_tokens_per_s"])
    return out


def _peak_rss_kb() -> int:
    """This process's peak RSS in kB: VmHWM (Linux; unlike ru_maxrss it is not inherited from the parent
    across fork + exec), else ru_maxrss."""
    try:
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _sharding_worker(rank: int, world: int, port: int, kind: str, args, out: str) -> None:
    """One gloo rank of `bench_sharding`: the trainer's Parallel + train_step for `kind`; writes its figures."""
    import json

    import torch.distributed as dist

    from train.distributed import init_distributed, shutdown_distributed
    from train.options import TrainConfig
    from train.parallel import Parallel
    from train.trainer import train_step

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(args.threads)
    ctx = init_distributed("cpu")
    base_kb = _peak_rss_kb()
    cfg = preset(args.preset, vocab_size=args.vocab, dropout_rate=0.1)
    parallel = Parallel(build_model(cfg, seed=0), TrainConfig(data="", out="", lr=1e-4, sharding=kind), ctx)
    batch = make_batch(cfg, args.batch_size, args.src_len, args.tgt_len, seed=rank)
    tokens = int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum())
    def step():
        train_step(parallel.wrapped, [batch], parallel.optimizer, ctx, 1.0, contextlib.nullcontext)

    step()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    dist.barrier()
    seconds = time.perf_counter() - start
    peak_mb = (_peak_rss_kb() - base_kb) / 1024
    figures = ctx.gather({"tokens": tokens * args.steps, "seconds": seconds, "peak_rss_mb": peak_mb})
    if rank == 0:
        with open(out, "w") as handle:
            json.dump(figures, handle)
    parallel.close()
    parallel = step = None  # drop every reference to the model before the group goes down
    shutdown_distributed(ctx)  # barrier, drop the DDP reducer, then destroy the group (a clean exit)


def bench_sharding(args) -> dict:
    """tokens/s (all ranks) and peak RSS growth per rank of --preset with 2 gloo processes, per --sharding
    kind, each kind in fresh processes (so each peak is its own)."""
    import json
    import socket
    import tempfile

    import torch.multiprocessing as mp

    out: dict = {}
    for kind in args.sharding.split(","):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "figures.json")
            mp.spawn(_sharding_worker, args=(2, port, kind, args, path), nprocs=2, join=True)
            with open(path) as handle:
                ranks = json.load(handle)
        key = f"dist2_{args.preset}_{kind}"
        out[f"{key}_tokens_per_s"] = sum(r["tokens"] for r in ranks) / max(r["seconds"] for r in ranks)
        out[f"{key}_peak_rss_mb_per_rank"] = max(r["peak_rss_mb"] for r in ranks)
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="small", help="model preset for the CPU comparison (default small)")
    p.add_argument("--vocab", type=int, default=T5_VOCAB_SIZE, help="vocabulary size (default T5's 32128)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--src-len", type=int, default=128)
    p.add_argument("--tgt-len", type=int, default=64)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--rounds", type=int, default=3, help="interleaved measuring rounds")
    p.add_argument("--steps", type=int, default=2, help="training steps per round and model")
    p.add_argument("--gpu-batch", type=int, default=16, help="GPU part: packed rows per step (bench.gpu_train)")
    p.add_argument("--gpu-steps", type=int, default=5, help="GPU part: timed steps per preset")
    p.add_argument("--gpu-budget-s", type=float, default=300.0, help="GPU part: time budget in seconds")
    p.add_argument("--peak-tflops", type=float, default=None, help="GPU bf16 peak, if not in the built-in table")
    p.add_argument("--memory", action="store_true",
                   help="also tokens/s and peak RSS per preset x (ours, transformers) x activation checkpointing")
    p.add_argument("--memory-presets", default="small,base", help="presets for --memory (default small,base)")
    p.add_argument("--sharding", default=None, metavar="KINDS",
                   help="also 2 gloo processes of --preset per sharding kind (e.g. none,zero1,fsdp): "
                        "tokens/s and peak RSS per rank")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # PRESET:IMPL:CKPT, used by --memory
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Run the CPU comparison and (when present) the GPU MFU measurement; print and return figures."""
    args = parse_args(argv)
    if args.one:
        import json

        name, impl, ckpt = args.one.split(":")
        result = one_config(name, impl, ckpt == "1", args)
        print(json.dumps(result))
        return result
    figures = {**bench_cpu(args), **bench_gpu(args)}
    if args.memory:
        figures.update(bench_memory(args))
    if args.sharding:
        figures.update(bench_sharding(args))
    for key, value in figures.items():
        if isinstance(value, float):
            print(f"{key}: {value:.3e}" if 0 < abs(value) < 1e-2 else f"{key}: {value:,.3f}")
        else:
            print(f"{key}: {value}")
    return figures


if __name__ == "__main__":
    main()
