"""GPU training throughput of the trainer's own step on packed, real-shaped batches, against transformers.

`python -m bench.gpu_train [--presets small,base,large] [--data CORPUS] [--rows 64] [--compile]
[--attention flex|sdpa] [--packing on|off] [--transformers] [--check-flex] [--budget-s 300]` runs
`train.trainer.train_step` (forward, backward, clipping, fused AdamW) on one device and prints one table row
per preset: real tokens per step and per second, padding, peak memory, model TFLOP/s and MFU (real
tokens only: `train.metrics.training_flops` / the device's dense bf16 peak), and with `--transformers`
the tokens/s of transformers' T5ForConditionalGeneration (same config and weights) on the *same
examples*, padded as one batch. Example lengths are drawn from CORPUS's train shards (else from a
built-in spread like theirs), token ids at random; packed rows hold `--input-len` / `--target-len` slots.
`--check-flex` first compares FlexAttention's and SDPA's loss and gradients with an fp32 SDPA reference
(needs CUDA for flex's backward). transformers may take a step's examples in micro-batches (`--hf-micro-batch`).
Without CUDA it says so and exits 0; `--device cpu --dtype float32 --presets tiny` is a smoke run of the
same code paths (the tests use it). Figures go to bench/README.md, not code.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time

import numpy as np
import torch

from train.attention import Segments
from train.config import T5_VOCAB_SIZE, ModelConfig, count_parameters, preset
from train.data import StreamConfig, collate
from train.distributed import DistContext
from train.export import hf_config, to_hf_state_dict
from train.metrics import PEAK_BF16_TFLOPS, training_flops
from train.model import build_model
from train.optim import make_optimizer
from train.options import TrainConfig
from train.packing import collate_packed, pack_batches
from train.trainer import train_step

COLUMNS = ("preset", "params", "batch", "tokens/step", "pad", "tokens/s", "peak mem GB", "TFLOP/s", "MFU",
           "hf tokens/s", "ours/hf", "status")


def make_batch(cfg: ModelConfig, batch: int, src_len: int, tgt_len: int, seed: int = 0) -> dict:
    """A padded batch of random ids with lengths uniform in [len/2, len] (as bucketed shards give)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    rows = []
    for _ in range(batch):
        a = rng.integers(3, min(cfg.vocab_size, 32000), size=int(rng.integers(src_len // 2, src_len + 1)))
        b = rng.integers(3, min(cfg.vocab_size, 32000), size=int(rng.integers(tgt_len // 2, tgt_len + 1)))
        rows.append((np.append(a, 1), np.append(b, 1)))
    return collate(rows, StreamConfig(pad_to_multiple=8))


def hf_twin(model, cfg: ModelConfig):
    """transformers' T5ForConditionalGeneration with the same config and weights as `model` (built on its device)."""
    from transformers import T5Config, T5ForConditionalGeneration

    with torch.device(next(model.parameters()).device):
        twin = T5ForConditionalGeneration(T5Config(**hf_config(cfg)))
    result = twin.load_state_dict(to_hf_state_dict(model.state_dict()), strict=False)
    tied = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"}
    if result.unexpected_keys or not set(result.missing_keys) <= tied:
        raise RuntimeError(f"weight names differ: {result.unexpected_keys} {result.missing_keys}")
    twin.tie_weights()
    return twin.to(next(model.parameters()).device)


def example_lengths(data: str | None, count: int, max_input: int, max_target: int, seed: int) -> list[tuple]:
    """`count` (input, target) lengths: drawn from DATA's train shards when given, else from a spread like
    theirs (inputs mostly 120-500 tokens, targets 15-90% of the input)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    if data:
        from train.corpus import open_corpus
        from train.data import open_parquet

        pairs: list = []
        for path in open_corpus(data).split_files("train"):
            pf = open_parquet(path)
            for group in range(pf.metadata.num_row_groups):
                table = pf.read_row_group(group, columns=["input_ids", "target_ids"])
                inputs = np.diff(table.column("input_ids").combine_chunks().offsets.to_numpy())
                targets = np.diff(table.column("target_ids").combine_chunks().offsets.to_numpy())
                pairs += [(int(a), int(b)) for a, b in zip(inputs, targets) if a and b]
                if len(pairs) >= 4 * count:
                    break
        chosen = rng.choice(len(pairs), size=count)
        return [(min(pairs[i][0], max_input), min(pairs[i][1], max_target)) for i in chosen]
    inputs = np.clip(rng.normal(0.62, 0.22, size=count) * max_input, 16, max_input).astype(int)
    targets = np.clip(inputs * rng.uniform(0.15, 0.9, size=count), 4, max_target).astype(int)
    return list(zip(inputs.tolist(), targets.tolist()))


def packed_batches(cfg: ModelConfig, args, count: int) -> list[tuple[dict, list]]:
    """`count` packed batches of `--rows` rows (each with the examples it holds), or with --packing off
    bucketed-style padded batches of the same number of examples."""
    rng = np.random.Generator(np.random.PCG64(args.seed))
    lengths = example_lengths(args.data, count * args.rows * 6, args.max_input_len, args.max_target_len, args.seed)
    high = min(cfg.vocab_size, 32000)
    examples = iter([(np.append(rng.integers(3, high, size=a - 1), 1), np.append(rng.integers(3, high, size=b - 1), 1))
                     for a, b in lengths])
    out = []
    for group in pack_batches(examples, args.rows, args.input_len, args.target_len):
        if len(group) < args.rows or len(out) == count:
            break
        flat = [ex for row in group for ex in row]
        if args.packing == "on":
            batch = collate_packed(group, args.rows, args.input_len, args.target_len, 0, 0)
        else:
            batch = collate(flat, StreamConfig(pad_to_multiple=8))
        out.append((batch, flat))
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_gb(device: torch.device, rss_before_kb: int) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb) / 2**20  # growth of peak RSS


def _timed(step, batches: list, steps: int, device: torch.device, deadline: float, warmup: int = 2) -> tuple[int, float]:
    """(steps run, seconds) of `step(batch)` over `batches` in turn, after `warmup` untimed steps."""
    for i in range(warmup):
        step(batches[i % len(batches)])
    _sync(device)
    start = time.perf_counter()
    done = 0
    while done < steps:
        step(batches[done % len(batches)])
        done += 1
        if done % 5 == 0 and time.perf_counter() > deadline:
            break
    _sync(device)
    return done, time.perf_counter() - start


def _autocast(args, device):
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if args.dtype == "bf16" else contextlib.nullcontext


def measure_preset(name: str, args, device: torch.device, deadline: float) -> dict:
    """One preset: our step (and transformers' on the same examples), warm-up steps untimed."""
    cfg = preset(name, vocab_size=args.vocab, dropout_rate=args.dropout)
    row = {"preset": name, "params": count_parameters(cfg), "batch": f"{args.rows}x{args.input_len}/{args.target_len}"}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batches = packed_batches(cfg, args, args.batches)
    if not batches:
        row["status"] = "no full batch: too few examples"
        return row
    real = [float(b["attention_mask"].sum() + (b["labels"] != -100).sum()) for b, _ in batches]
    slots = [float(b["input_ids"].numel() + b["labels"].numel()) for b, _ in batches]
    row["tokens/step"], row["pad"] = sum(real) / len(real), 1 - sum(real) / sum(slots)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model = build_model(cfg, seed=0, device=device).train()
    model.set_activation_checkpointing(args.activation_checkpointing)
    if args.compile:
        from train.compiling import compile_model

        row["compiled"] = compile_model(model, device)
    model.set_attention(args.attention, compiled=args.attention == "flex" and device.type == "cuda")
    optimizer = make_optimizer(model, TrainConfig(data="", out="", lr=1e-4))
    on_device = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()} for b, _ in batches]
    ctx, autocast = DistContext(device=device), _autocast(args, device)
    try:
        steps, seconds = _timed(lambda b: train_step(model, [b], optimizer, ctx, 1.0, autocast), on_device,
                                args.steps, device, deadline)
    except torch.OutOfMemoryError:
        row.update(status="out of memory (fewer --rows or --activation-checkpointing)")
        return row
    finally:
        row["peak mem GB"] = _peak_memory_gb(device, rss_before)
    inputs = sum(float(b["attention_mask"].sum()) for b, _ in batches) / len(batches)
    labels = sum(float((b["labels"] != -100).sum()) for b, _ in batches) / len(batches)
    tflops = training_flops(model, inputs, labels) * steps / seconds / 1e12
    peak = args.peak_tflops or (next((v for k, v in PEAK_BF16_TFLOPS.items() if k in torch.cuda.get_device_name(device)),
                                     None) if device.type == "cuda" else None)
    row.update({"tokens/s": row["tokens/step"] * steps / seconds, "TFLOP/s": tflops,
                "MFU": tflops / peak if peak else None, "steps": steps, "status": "ok"})
    if args.transformers:
        optimizer, on_device = None, None  # room for the twin and its optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()
        hf = measure_transformers(model, cfg, [examples for _, examples in batches], args, device, deadline)
        row.update(hf)
        if hf.get("hf tokens/s"):
            row["ours/hf"] = row["tokens/s"] / hf["hf tokens/s"]
    return row


def measure_transformers(model, cfg: ModelConfig, groups: list, args, device: torch.device, deadline: float) -> dict:
    """transformers' T5 (our weights) trained on the same examples, each group padded as one batch."""
    try:
        twin = hf_twin(model, cfg).train()
    except ImportError:
        return {"hf status": "transformers not installed"}
    keys = ("input_ids", "attention_mask", "decoder_input_ids", "labels")
    size = args.hf_micro_batch or max(len(group) for group in groups)
    steps_of = [[collate(group[i:i + size], StreamConfig(pad_to_multiple=8)) for i in range(0, len(group), size)]
                for group in groups]  # one optimizer step per group, in micro-batches of `size` examples
    real = sum(float(b["attention_mask"].sum() + (b["labels"] != -100).sum()) for micro in steps_of for b in micro)
    real /= len(steps_of)
    on_device = [[{**{k: b[k].to(device) for k in keys}, "labelled": float((b["labels"] != -100).sum())} for b in micro]
                 for micro in steps_of]  # labelled tokens counted on the host copies: no sync in the step
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-4, fused=fused)
    autocast = _autocast(args, device)

    def step(micro):
        total = sum(b["labelled"] for b in micro)
        for b in micro:
            with autocast():
                loss = twin(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                            decoder_input_ids=b["decoder_input_ids"], labels=b["labels"], use_cache=False).loss
            (loss * (b["labelled"] / total)).backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    try:
        steps, seconds = _timed(step, on_device, max(2, args.steps // 2), device, deadline, warmup=1)
    except torch.OutOfMemoryError:
        return {"hf status": "out of memory"}
    return {"hf tokens/s": real * steps / seconds}


def check_flex(device: torch.device, dtype: str) -> dict:
    """FlexAttention vs SDPA on one packed batch of `small` (dropout 0), both against an fp32 SDPA reference
    (TF32 off): relative error of the loss and of every parameter's gradient (the worst one, and the two
    bias tables') for flex and for SDPA in `dtype`, and for flex in fp32."""
    cfg = preset("small", vocab_size=T5_VOCAB_SIZE, dropout_rate=0.0)
    args = argparse.Namespace(seed=1, data=None, rows=8, max_input_len=512, max_target_len=512, input_len=1024,
                              target_len=512, packing="on")
    (batch, _), = packed_batches(cfg, args, 1)
    b = {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}
    segments = Segments(b["input_segments"], b["input_offsets"], b["target_segments"], b["target_offsets"])
    model = build_model(cfg, seed=0, device=device).train()
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False

    def run(backend: str, precision: str):
        model.set_attention(backend, compiled=backend == "flex" and device.type == "cuda")
        model.zero_grad(set_to_none=True)
        with _autocast(argparse.Namespace(dtype=precision), device)():
            loss = model(b["input_ids"], b["decoder_input_ids"], b["attention_mask"], b["labels"], segments=segments)
        loss.backward()
        return loss.detach().double(), {n: p.grad.double() for n, p in model.named_parameters()}

    try:
        ref_loss, ref = run("sdpa", "float32")
        runs = {"flex fp32": run("flex", "float32"), f"flex {dtype}": run("flex", dtype),
                f"sdpa {dtype}": run("sdpa", dtype)}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    tables = {"enc bias": "encoder.layers.0.attn.relative_attention_bias.weight",
              "dec bias": "decoder.layers.0.attn.relative_attention_bias.weight"}
    out = {}
    for name, (loss, grads) in runs.items():
        rel = {n: float((grads[n] - ref[n]).norm() / ref[n].norm().clamp(min=1e-30)) for n in ref}
        worst = max(rel, key=rel.get)
        out[name] = {"loss": float((loss - ref_loss).abs() / ref_loss.abs()), "worst grad": rel[worst],
                     "worst": worst, **{k: rel[v] for k, v in tables.items()}}
    return out


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned text table (missing or None cells: '-')."""
    def cell(row, key):
        value = row.get(key)
        if value is None:
            return "-"
        if key == "params":
            return f"{value / 1e6:.1f}M"
        if key in ("MFU", "pad"):
            return f"{value:.1%}"
        if key == "ours/hf":
            return f"{value:.2f}x"
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        return str(value)

    cells = [list(COLUMNS)] + [[cell(r, k) for k in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.gpu_train", description=__doc__.split("\n")[0])
    p.add_argument("--presets", default="small,base,large", help="comma-separated presets (default %(default)s)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per preset after two warm-ups (default %(default)s)")
    p.add_argument("--budget-s", type=float, default=300.0,
                   help="wall-clock budget in seconds; presets not started by then are skipped (default %(default)s)")
    p.add_argument("--rows", type=int, default=64, help="packed rows per step (default %(default)s)")
    p.add_argument("--input-len", type=int, default=1024, help="input slots per packed row (default %(default)s)")
    p.add_argument("--target-len", type=int, default=512, help="target slots per packed row (default %(default)s)")
    p.add_argument("--max-input-len", type=int, default=512, help="longest example input (default %(default)s)")
    p.add_argument("--max-target-len", type=int, default=512, help="longest example target (default %(default)s)")
    p.add_argument("--batches", type=int, default=4, help="distinct batches stepped in turn (default %(default)s)")
    p.add_argument("--data", default=None, help="corpus whose train shards give the example lengths")
    p.add_argument("--packing", default="on", choices=["on", "off"],
                   help="off: the same examples as padded batches (default %(default)s)")
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "flex"], help="attention kernel (default %(default)s)")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout rate (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for lengths and ids (default %(default)s)")
    p.add_argument("--vocab", type=int, default=T5_VOCAB_SIZE, help="vocabulary size (default T5's %(default)s)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                   help="auto/cuda: the first GPU, skipped without one; cpu: a smoke run")
    p.add_argument("--dtype", default="bf16", choices=["bf16", "float32"], help="bf16 autocast or plain float32")
    p.add_argument("--activation-checkpointing", action="store_true", help="recompute blocks in backward")
    p.add_argument("--compile", action="store_true", help="torch.compile the blocks (as train --compile)")
    p.add_argument("--transformers", action="store_true", help="also transformers' T5 on the same examples")
    p.add_argument("--hf-micro-batch", type=int, default=None,
                   help="transformers: examples per micro-batch of its step (default: all of a step's at once)")
    p.add_argument("--check-flex", action="store_true", help="first compare flex's loss and gradients with SDPA's")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak TFLOP/s, if not a known GPU")
    return p.parse_args(argv)


def _device(name: str) -> tuple[torch.device | None, str | None]:
    """The device to measure on, or None and why it is skipped."""
    if name == "cpu":
        return torch.device("cpu"), None
    if not torch.cuda.is_available():
        return None, "skipped: no CUDA device (a smoke run of the same code: --device cpu --dtype float32 --presets tiny)"
    return torch.device("cuda", 0), None


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
    result: dict = {"device": name}
    if args.check_flex:
        result["flex_check"] = check_flex(device, args.dtype)
        print("relative error against fp32 SDPA (small, one packed batch of 8 x 1024/512, dropout 0):")
        for name, errors in result["flex_check"].items():
            print(f"  {name:<10} " + " | ".join(f"{k} {v:.2e}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in errors.items()), flush=True)
    rows = []
    for preset_name in [p for p in args.presets.split(",") if p]:
        if time.perf_counter() >= deadline:
            rows.append({"preset": preset_name, "status": "skipped: time budget"})
            continue
        try:
            rows.append(measure_preset(preset_name, args, device, deadline))
        except Exception as error:  # one preset's failure (a compiler error, say) must not hide the others'
            rows.append({"preset": preset_name, "status": f"failed: {type(error).__name__}: {str(error)[:200]}"})
        print(f"{preset_name}: {rows[-1]}", flush=True)
        torch._dynamo.reset()
    print(f"device {name} | {args.dtype} | packing {args.packing} | attention {args.attention} | activation "
          f"checkpointing {'on' if args.activation_checkpointing else 'off'} | compile {'on' if args.compile else 'off'}"
          f" | {time.perf_counter() - started:.0f} s")
    print(format_table(rows))
    result["rows"] = rows
    return result


if __name__ == "__main__":
    main()
