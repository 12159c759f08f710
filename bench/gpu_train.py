"""GPU training throughput: bf16 tokens/s, peak memory and MFU of small, base and large, a few steps each.

`python -m bench.gpu_train [--presets small,base,large] [--budget-s 300] [--activation-checkpointing]
[--compile]` runs the trainer's own step (`train.trainer.train_step`: forward, backward, clipping, AdamW)
on one device with T5's 32128 vocabulary and full 512/512 batches, and prints one table row per preset.
Without CUDA it says so and exits 0. `--device cpu --dtype float32 --presets tiny` is a smoke run of the
same code paths (the tests use it). MFU = model FLOPs (`train.metrics.training_flops`) per second / the
device's dense bf16 peak (known GPUs, or --peak-tflops). Figures go to bench/README.md, not code.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time

import torch

from bench.bench_train import make_batch
from train.config import T5_VOCAB_SIZE, count_parameters, preset
from train.distributed import DistContext
from train.metrics import PEAK_BF16_TFLOPS, training_flops
from train.model import build_model
from train.optim import make_optimizer
from train.options import TrainConfig
from train.trainer import train_step

COLUMNS = ("preset", "params", "batch", "tokens/step", "tokens/s", "peak mem GB", "TFLOP/s", "MFU", "status")


def _device(name: str) -> tuple[torch.device | None, str | None]:
    """The device to measure on, or None and why it is skipped."""
    if name == "cpu":
        return torch.device("cpu"), None
    if not torch.cuda.is_available():
        return None, "skipped: no CUDA device (a smoke run of the same code: --device cpu --dtype float32 --presets tiny)"
    return torch.device("cuda", 0), None


def _peak_memory_gb(device: torch.device, rss_before_kb: int) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb) / 2**20  # growth of peak RSS


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_preset(name: str, args, device: torch.device, deadline: float) -> dict:
    """One preset: a warm-up step, then up to --steps timed steps (fewer if the budget would run out)."""
    cfg = preset(name, vocab_size=args.vocab, dropout_rate=0.1)
    row = {"preset": name, "params": count_parameters(cfg), "batch": f"{args.batch_size}x{args.src_len}/{args.tgt_len}"}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model = build_model(cfg, seed=0, device=device).train()
    model.set_activation_checkpointing(args.activation_checkpointing)
    per_token = (training_flops(model, 1.0, 0.0), training_flops(model, 0.0, 1.0))
    if args.compile:
        from train.compiling import compile_model

        row["compiled"] = compile_model(model, device)
    optimizer = make_optimizer(model, TrainConfig(data="", out="", lr=1e-4))
    batch = make_batch(cfg, args.batch_size, args.src_len, args.tgt_len)
    inputs, labels = float(batch["attention_mask"].sum()), float((batch["labels"] != -100).sum())
    row["tokens/step"] = int(inputs + labels)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if args.dtype == "bf16" else contextlib.nullcontext
    ctx = DistContext(device=device)
    try:
        start = time.perf_counter()
        train_step(model, [batch], optimizer, ctx, 1.0, autocast)  # warm-up (and compilation)
        _sync(device)
        per_step = time.perf_counter() - start
        steps = max(1, min(args.steps, int((deadline - time.perf_counter()) / max(per_step, 1e-6))))
        start = time.perf_counter()
        for _ in range(steps):
            train_step(model, [batch], optimizer, ctx, 1.0, autocast)
        _sync(device)
        seconds = time.perf_counter() - start
    except torch.OutOfMemoryError:
        row.update(status="out of memory (try --batch-size smaller or --activation-checkpointing)")
        return row
    finally:
        row["peak mem GB"] = _peak_memory_gb(device, rss_before)
        del model, optimizer
    flops = per_token[0] * inputs + per_token[1] * labels
    tflops = flops * steps / seconds / 1e12
    peak = args.peak_tflops or (next((v for k, v in PEAK_BF16_TFLOPS.items() if k in torch.cuda.get_device_name(device)),
                                     None) if device.type == "cuda" else None)
    row.update({"tokens/s": row["tokens/step"] * steps / seconds, "TFLOP/s": tflops,
                "MFU": tflops / peak if peak else None, "steps": steps, "status": "ok"})
    return row


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned text table (missing or None cells: '-')."""
    def cell(row, key):
        value = row.get(key)
        if value is None:
            return "-"
        if key == "params":
            return f"{value / 1e6:.1f}M"
        if key == "MFU":
            return f"{value:.1%}"
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        return str(value)

    cells = [list(COLUMNS)] + [[cell(r, k) for k in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.gpu_train", description=__doc__.split("\n")[0])
    p.add_argument("--presets", default="small,base,large", help="comma-separated presets (default %(default)s)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per preset after one warm-up (default %(default)s)")
    p.add_argument("--budget-s", type=float, default=300.0,
                   help="wall-clock budget in seconds; presets not started by then are skipped (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=16, help="rows per step (default %(default)s)")
    p.add_argument("--src-len", type=int, default=512, help="longest input (default %(default)s)")
    p.add_argument("--tgt-len", type=int, default=512, help="longest target (default %(default)s)")
    p.add_argument("--vocab", type=int, default=T5_VOCAB_SIZE, help="vocabulary size (default T5's %(default)s)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                   help="auto/cuda: the first GPU, skipped without one; cpu: a smoke run")
    p.add_argument("--dtype", default="bf16", choices=["bf16", "float32"], help="bf16 autocast or plain float32")
    p.add_argument("--activation-checkpointing", action="store_true", help="recompute blocks in backward")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (as train --compile)")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak TFLOP/s, if not a known GPU")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Measure every preset within the budget; print the table and return {"device", "rows"} (or "skipped")."""
    args = parse_args(argv)
    device, why = _device(args.device)
    if device is None:
        print(why)
        return {"skipped": why}
    started = time.perf_counter()
    deadline = started + args.budget_s
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    rows = []
    for preset_name in [p for p in args.presets.split(",") if p]:
        if time.perf_counter() >= deadline:
            rows.append({"preset": preset_name, "status": "skipped: time budget"})
            continue
        rows.append(measure_preset(preset_name, args, device, deadline))
    print(f"device {name} | {args.dtype} | activation checkpointing {'on' if args.activation_checkpointing else 'off'}"
          f" | compile {'on' if args.compile else 'off'} | {time.perf_counter() - started:.0f} s")
    print(format_table(rows))
    return {"device": name, "rows": rows}


if __name__ == "__main__":
    main()
