"""Pretraining loop: one process, or DDP / ZeRO-1 / FSDP2 under torchrun (gloo on CPU, NCCL on GPU; train.parallel).

The loss of a step is the sum of token losses over the *global* batch (all ranks, all accumulation
micro-batches) divided by its label-token count, so 2 ranks x batch b take the same step as 1 rank x
batch 2b. Checkpoints hold model, optimizer, every rank's RNG state and data position, so a resumed run
retraces the uninterrupted one exactly; the learning rate is a pure function of the step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from train.attention import Segments
from train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from train.compiling import choose_attention, compile_model
from train.config import ModelConfig, count_parameters, describe_parameters, padded_vocab_size, preset
from train.corpus import open_corpus
from train.data import DataPosition, ExampleStream, StreamConfig, plan_units
from train.distributed import DistContext, init_distributed, shutdown_distributed
from train.metrics import PEAK_BF16_TFLOPS, MetricsLog, format_eta, training_flops
from train.model import T5, build_model
from train.optim import lr_factor
from train.options import TrainConfig
from train.packing import packing_for
from train.parallel import Parallel

CHECKPOINT_FORMAT = 1


def autocast_for(precision: str, device: torch.device):
    """Context manager factory for the run's precision: bf16 autocast on GPU by default, fp32 on CPU."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")


#: The batch keys the model takes (see train.model.T5.forward); the collator makes all of them.
_MODEL_KEYS = ("input_ids", "attention_mask", "decoder_input_ids", "labels", "label_positions", "input_positions",
               "target_positions", "input_segments", "input_offsets", "target_segments", "target_offsets")


def _to(batch: dict, device: torch.device) -> dict:
    return {k: batch[k].to(device, non_blocking=True) for k in _MODEL_KEYS if k in batch}


def summed_loss(model, b: dict) -> torch.Tensor:
    """The model's summed token loss on batch `b`, skipping padding where `b` says where it is, and
    keeping packed examples apart where it is packed (train.packing)."""
    segments = None
    if "input_segments" in b:
        segments = Segments(b["input_segments"], b["input_offsets"], b["target_segments"], b["target_offsets"])
    return model(b["input_ids"], b["decoder_input_ids"], b["attention_mask"], b["labels"], b.get("label_positions"),
                 input_positions=b.get("input_positions"), target_positions=b.get("target_positions"),
                 segments=segments)


def _grad_sync(model, sync: bool):
    """Context for one micro-batch's backward: gradients are reduced across ranks only when `sync`."""
    if isinstance(model, DistributedDataParallel):
        return contextlib.nullcontext() if sync else model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(sync)
    return contextlib.nullcontext()


def train_step(model, micro_batches, optimizer, ctx: DistContext, clip_norm: float, autocast) -> dict:
    """One optimizer step over `micro_batches` (this rank's share of the global batch).

    Gradients equal those of mean token loss over the global batch, whatever the split across ranks
    and micro-batches. Returns this rank's loss sum, the global label/input token counts and grad norm.
    """
    counts = torch.tensor(
        [sum(int((b["labels"] != -100).sum()) for b in micro_batches),
         sum(int(b["attention_mask"].sum()) for b in micro_batches),
         sum(b["labels"].numel() + b["input_ids"].numel() for b in micro_batches)],
        dtype=torch.float64,
    )  # counted on the host copies: alone, no device sync at all (several ranks: one small all-reduce)
    batches = [_to(b, ctx.device) for b in micro_batches]
    if ctx.world_size > 1:
        counts = ctx.all_reduce(counts.to(ctx.device)).cpu()
    label_tokens, input_tokens, padded_tokens = counts.tolist()
    scale = ctx.world_size / max(1.0, label_tokens)
    loss_sum = torch.zeros((), dtype=torch.float64, device=ctx.device)
    for i, b in enumerate(batches):
        with _grad_sync(model, i == len(batches) - 1):
            with autocast():
                loss = summed_loss(model, b)
            (loss * scale).backward()
        loss_sum += loss.detach().double()
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(params, clip_norm if clip_norm > 0 else float("inf"))
    if hasattr(norm, "full_tensor"):  # FSDP: a DTensor (already reduced over ranks)
        norm = norm.full_tensor()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss_sum": loss_sum, "label_tokens": label_tokens, "input_tokens": input_tokens,
            "padded_tokens": padded_tokens, "grad_norm": norm}


@torch.no_grad()
def evaluate(model: T5, stream: ExampleStream | None, ctx: DistContext, autocast, max_batches: int,
             lockstep: bool = False) -> float | None:
    """Mean token loss over (up to `max_batches` per rank of) the validation stream, reduced over ranks.

    `lockstep` (FSDP: every forward is a collective) keeps all ranks calling the model together: a rank
    whose share ran out repeats its last batch (or a 1-token stand-in) and counts nothing, until all are done.
    """
    if stream is None:
        return None
    was_training = model.training
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=ctx.device)
    batches, last = iter(stream), None
    for i in itertools.count():
        batch = next(batches, None) if not (max_batches and i >= max_batches) else None
        if lockstep:
            running = ctx.all_reduce(torch.tensor([float(batch is not None)], device=ctx.device))
            if not running.item():
                break
        elif batch is None:
            break
        b = _to(batch if batch is not None else last or _stand_in(), ctx.device)
        with autocast():
            loss = summed_loss(model, b).double()
        if batch is not None:
            totals[0] += loss
            totals[1] += (b["labels"] != -100).sum()
            last = batch
    model.train(was_training)
    loss, tokens = ctx.all_reduce(totals).tolist()
    return loss / tokens if tokens else None


def _stand_in() -> dict:
    """A one-token batch with no label, for a rank that has no validation batch of its own (lockstep)."""
    one = torch.ones(1, 1, dtype=torch.long)
    return {"input_ids": one, "attention_mask": one, "decoder_input_ids": torch.zeros_like(one),
            "labels": torch.full_like(one, -100)}


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def model_config_for(cfg: TrainConfig, vocab: bytes | None, decoder_start_id: int = 0) -> ModelConfig:
    """Preset + vocabulary (spiece pieces + 100 sentinels padded to 128, or --vocab-size) + dropout override;
    with --init-from, the checkpoint's own architecture (its vocabulary must be the corpus's). The decoder
    start id is the corpus's (its manifest's [examples] decoder_start_id), whatever the checkpoint says."""
    overrides = {"decoder_start_token_id": int(decoder_start_id)}
    if cfg.dropout is not None:
        overrides["dropout_rate"] = cfg.dropout
    if cfg.init_from:
        from train.hf_import import check_vocab, hf_model_config

        model_cfg = hf_model_config(cfg.init_from)
        check_vocab(cfg.init_from, model_cfg, vocab)
        return model_cfg.replace(**overrides)
    if cfg.vocab_size is not None:
        size = cfg.vocab_size
    elif vocab is not None:
        import sentencepiece as spm

        size = padded_vocab_size(spm.SentencePieceProcessor(model_proto=vocab).get_piece_size())
    else:
        raise FileNotFoundError(f"{cfg.data}/vocab/spiece.model not found; pass --vocab-size")
    return preset(cfg.model, vocab_size=size, **overrides)


class Trainer:
    """Builds model, optimizer and streams for `cfg` (resuming if asked) and runs `fit()`."""

    def __init__(self, cfg: TrainConfig, ctx: DistContext | None = None):
        self.cfg, self.ctx = cfg, ctx or init_distributed(cfg.device)
        if cfg.attention == "flex" and self.ctx.device.type != "cuda":  # before anything is written
            choose_attention(cfg.attention, self.ctx.device, compiled=False)  # raises, naming the option
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.run_dir = Path(cfg.out)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.corpus = open_corpus(cfg.data)
        vocab = self.corpus.vocab()
        self.vocab_file = self.run_dir / "spiece.model" if vocab is not None else None
        if vocab is not None and self.ctx.main:
            self.vocab_file.write_bytes(vocab)
        self.conventions = self.corpus.conventions()
        self.model_cfg = model_config_for(cfg, vocab, self.conventions["decoder_start_id"])
        resume = self._find_resume()
        payload = load_checkpoint(resume) if resume is not None else None
        torch.manual_seed(cfg.seed * 1000 + self.ctx.rank)
        self.model = build_model(self.model_cfg, seed=cfg.seed, device=self.ctx.device)
        self.model.set_activation_checkpointing(cfg.activation_checkpointing)
        if cfg.init_from and payload is None:
            from train.hf_import import load_hf_weights

            self.model.load_state_dict(load_hf_weights(cfg.init_from, self.model_cfg))
            if self.ctx.main:
                print(f"initialised weights from {cfg.init_from}", flush=True)
        self.step, self.tokens_seen, self.rng_states = 0, 0, None
        self.position = DataPosition()
        self.train_stream, self.val_stream = self._streams()
        if payload is not None:
            self._restore(payload, resume)  # weights into the whole model, before any sharding
        self.parallel = Parallel(self.model, cfg, self.ctx)
        # the module the step calls: the model itself, or its DDP / ZeRO-1 (DDP) / FSDP2 wrapper
        self.optimizer, self.wrapped_model = self.parallel.optimizer, self.parallel.wrapped
        if payload is not None:
            self.parallel.load_optimizer_state(payload["optimizer"])
        del payload
        self.compiled = cfg.compile and compile_model(self.model, self.ctx.device)
        self.attention = choose_attention(cfg.attention, self.ctx.device, bool(self.compiled))
        self.model.set_attention(self.attention, compiled=self.attention == "flex")
        self.log = MetricsLog(self.run_dir, self.ctx.main, cfg.tensorboard, self.step if resume else None)
        self.autocast = autocast_for(cfg.precision, self.ctx.device)

    def _find_resume(self) -> Path | None:
        """The checkpoint to resume, decided by rank 0 and broadcast: every rank loads the same one even if
        a new checkpoint lands, or a shared filesystem shows it late, while the job starts."""
        if not self.cfg.resume:
            return None
        found = None
        if self.ctx.main:
            found = Path(self.cfg.resume) if self.cfg.resume != "latest" else latest_checkpoint(self.run_dir)
            if found is None:
                print(f"no checkpoint in {self.run_dir}; starting from scratch", flush=True)
        found = self.ctx.broadcast(None if found is None else str(found))
        return None if found is None else Path(found)

    def _streams(self) -> tuple[ExampleStream, ExampleStream | None]:
        cfg, ctx = self.cfg, self.ctx
        stream_cfg = StreamConfig(
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            shuffle_buffer=cfg.shuffle_buffer,
            max_input_len=cfg.max_input_len,
            max_target_len=cfg.max_target_len,
            pad_id=self.model_cfg.pad_token_id,
            eos_id=self.model_cfg.eos_token_id,
            decoder_start_id=self.model_cfg.decoder_start_token_id,
            vocab_size=self.model_cfg.vocab_size,
            packing=packing_for(cfg.packing, ctx.device),
            packed_input_len=cfg.packed_input_len,
            packed_target_len=cfg.packed_target_len,
        )
        version = self.corpus.version_id
        train_files = self.corpus.split_files("train")
        if not train_files:
            raise FileNotFoundError(f"{cfg.data}/manifest.json lists no examples/train shards")
        # rank 0 reads every shard footer once and broadcasts the plan (not every rank x every file)
        readers = ctx.world_size * max(1, cfg.num_workers)
        units = ctx.broadcast(plan_units(train_files, readers) if ctx.main else None)
        skip = self.corpus.skip_doc_ids()  # a chain's superseded documents (train/corpus.py)
        train = ExampleStream(train_files, stream_cfg, ctx.rank, ctx.world_size, cfg.num_workers, version_id=version,
                              units=units, skip_doc_ids=skip)
        val_files = self.corpus.split_files("validation")
        val_cfg = dataclasses.replace(stream_cfg, shuffle=False)
        val = (ExampleStream(val_files, val_cfg, ctx.rank, ctx.world_size, 0, infinite=False, version_id=version,
                             skip_doc_ids=skip) if val_files else None)
        return train, val

    def _restore(self, payload: dict, path: Path) -> None:
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: unknown checkpoint format {payload.get('format')}")
        data = payload["data"]
        saved_version = data["fingerprint"].get("version_id")
        if saved_version != self.corpus.version_id:
            raise ValueError(
                f"{path}: data stream differs: the checkpoint was trained on corpus version {saved_version}, "
                f"{self.cfg.data} is version {self.corpus.version_id} (rebuilt or another corpus); "
                "start a new run (or --init-from the export) instead of resuming"
            )
        if ModelConfig.from_dict(payload["model_config"]) != self.model_cfg:
            raise ValueError(f"{path}: checkpoint model config differs from this run's ({self.cfg.model})")
        if data["fingerprint"] != self.train_stream.fingerprint() or len(data["positions"]) != self.ctx.world_size:
            raise ValueError(
                f"{path}: data stream differs (files, batch size, seed, ranks or workers changed); "
                "resume with the same --data, --batch-size, --seed, --num-workers and process count"
            )
        self.model.load_state_dict(payload["model"])
        self.step, self.tokens_seen = int(payload["step"]), int(payload["tokens_seen"])
        self.position = DataPosition.from_state(data["positions"][self.ctx.rank])
        self.train_stream.position = DataPosition.from_state(data["positions"][self.ctx.rank])
        self.rng_states = payload["rng"]
        if self.ctx.main:
            print(f"resumed from {path} at step {self.step}", flush=True)

    def save(self) -> None:
        """Checkpoint the current step (collective: every rank must call it)."""
        positions = self.ctx.gather(self.position.state_dict())
        rngs = self.ctx.gather(_rng_state(self.ctx.device))
        model, optimizer = self.parallel.full_model_state(), self.parallel.full_optimizer_state()
        if self.ctx.main:
            payload = {
                "format": CHECKPOINT_FORMAT,
                "step": self.step,
                "tokens_seen": self.tokens_seen,
                "model_config": self.model_cfg.to_dict(),
                "train_config": dataclasses.asdict(self.cfg),
                "conventions": self.conventions,
                "model": model,
                "optimizer": optimizer,
                "rng": rngs,
                "data": {"fingerprint": self.train_stream.fingerprint(), "positions": positions},
            }
            path = save_checkpoint(self.run_dir, self.step, payload, self.cfg.keep_checkpoints)
            self.log.say(f"saved checkpoint {path}")

    def validate(self) -> float | None:
        """Validation loss now (collective); logged to metrics.jsonl."""
        loss = evaluate(self.model, self.val_stream, self.ctx, self.autocast, self.cfg.eval_batches,
                        lockstep=self.parallel.kind == "fsdp")
        if loss is not None:
            self.log.write({"step": self.step, "val_loss": loss})
            self.log.say(f"step {self.step} | val_loss {loss:.4f}")
        return loss

    def export(self) -> Path | None:
        """Write RUN/hf (collective: the full weights are gathered; rank 0 writes)."""
        state = self.parallel.full_model_state()
        if not self.ctx.main:
            return None
        from train.export import export_hf

        out = export_hf(state, self.model_cfg, self.run_dir / "hf", self.vocab_file,
                        continuation_sentinel=self.conventions["continuation_sentinel"])
        self.log.say(f"exported {out}")
        return out

    def _announce(self) -> None:
        n = self.model.num_parameters()
        assert n == count_parameters(self.model_cfg)
        c = self.model_cfg
        self.log.say(
            f"model {self.cfg.model if not self.cfg.init_from else self.cfg.init_from}: {describe_parameters(n)} parameters | vocab {c.vocab_size} | d_model {c.d_model} "
            f"| layers {c.num_layers}/{c.num_decoder_layers} | {self.ctx.world_size} process(es) on {self.ctx.device}"
            f" | sharding {self.parallel.kind} | attention {self.attention}"
            f" | packing {'on' if self.train_stream.cfg.packing else 'off'}{' | compiled' if self.compiled else ''}"
        )
        if self.ctx.main:
            info = {"model": c.to_dict(), "train": dataclasses.asdict(self.cfg), "parameters": n,
                    "sharding": self.parallel.kind, "compiled": bool(self.compiled), "attention": self.attention,
                    "packing": self.train_stream.cfg.packing,
                    "corpus": {"version_id": self.corpus.version_id, **self.conventions}}
            (self.run_dir / "config.json").write_text(json.dumps(info, indent=2) + "\n")

    def fit(self) -> dict:
        """Train to cfg.steps (or cfg.stop_at), validating, checkpointing and finally exporting."""
        cfg, ctx = self.cfg, self.ctx
        self._announce()
        loader = DataLoader(
            self.train_stream, batch_size=None, num_workers=cfg.num_workers, generator=torch.Generator(),
            pin_memory=ctx.device.type == "cuda", prefetch_factor=4 if cfg.num_workers else None,
        )
        self._batches = batches = iter(loader)
        if self.rng_states is not None:
            _set_rng_state(self.rng_states[ctx.rank], ctx.device)
        target = min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps
        summary = {"start_step": self.step, "val_loss_initial": None, "val_loss": None, "train_loss": None}
        if self.step == 0 and cfg.eval_every:
            summary["val_loss_initial"] = summary["val_loss"] = self.validate()
        window = {"loss": torch.zeros((), dtype=torch.float64, device=ctx.device), "labels": 0.0, "tokens": 0.0,
                  "inputs": 0.0, "padded": 0.0, "time": 0.0}
        started, start_step, last_saved = time.time(), self.step, None
        self.model.train()
        while self.step < target:
            tick = time.time()
            micro = [next(batches) for _ in range(cfg.grad_accum)]
            for batch in micro:
                self.position.advance(batch)
            lr = cfg.lr * lr_factor(self.step + 1, cfg)
            self.parallel.set_lr(lr)
            stats = train_step(self.wrapped_model, micro, self.optimizer, ctx, cfg.clip_norm, self.autocast)
            self.step += 1
            self.tokens_seen += int(stats["label_tokens"] + stats["input_tokens"])
            window["loss"] += stats["loss_sum"]
            window["labels"] += stats["label_tokens"]
            window["tokens"] += stats["label_tokens"] + stats["input_tokens"]
            window["inputs"] += stats["input_tokens"]
            window["padded"] += stats["padded_tokens"]
            window["time"] += time.time() - tick
            if self.step % cfg.log_every == 0 or self.step == target:
                summary["train_loss"] = self._log_progress(window, lr, float(stats["grad_norm"]), started, start_step, target)
            if cfg.eval_every and self.step % cfg.eval_every == 0:
                summary["val_loss"] = self.validate()
            if cfg.save_every and self.step % cfg.save_every == 0:
                self.save()
                last_saved = self.step
        del batches
        self._stop_loader()
        if last_saved != self.step:
            self.save()
        if self.step >= cfg.steps:
            if cfg.eval_every and self.step % cfg.eval_every:
                summary["val_loss"] = self.validate()
            if cfg.export:
                summary["export"] = str(self.export())
        self.log.close()
        summary.update(step=self.step, tokens_seen=self.tokens_seen, parameters=self.model.num_parameters())
        return summary

    def peak_tflops(self) -> float | None:
        """Peak dense TFLOP/s of all processes (for MFU): --peak-tflops per process, else a known GPU's bf16."""
        per_process = self.cfg.peak_tflops
        if per_process is None and self.ctx.device.type == "cuda":
            name = torch.cuda.get_device_name(self.ctx.device)
            per_process = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        return per_process * self.ctx.world_size if per_process else None

    def _stop_loader(self) -> None:
        """Stop the DataLoader's worker processes and pin-memory thread now, not at interpreter exit."""
        batches, self._batches = getattr(self, "_batches", None), None
        if batches is not None and hasattr(batches, "_shutdown_workers"):
            batches._shutdown_workers()

    def close(self) -> None:
        """Release what the run holds (loader workers, log files, the DDP wrapper); no collectives."""
        self._stop_loader()
        self.log.close()
        self.parallel.close()
        self.wrapped_model = self.model

    def _log_progress(self, window: dict, lr: float, grad_norm: float, started: float, start_step: int, target: int):
        loss = float(self.ctx.all_reduce(window["loss"].clone())) / max(1.0, window["labels"])
        seconds = max(1e-9, window["time"])
        rate = window["tokens"] / seconds
        done = self.step - start_step
        eta = (time.time() - started) / max(1, done) * (target - self.step)
        padding = 1.0 - window["tokens"] / max(1.0, window["padded"])
        tflops = training_flops(self.model, window["inputs"], window["labels"]) / seconds / 1e12
        record = {"step": self.step, "loss": loss, "lr": lr, "tokens_per_s": rate, "grad_norm": grad_norm,
                  "tokens_seen": self.tokens_seen, "elapsed_s": time.time() - started, "padding": padding,
                  "model_tflops": tflops}
        peak = self.peak_tflops()
        mfu = f" | mfu {tflops / peak:.1%}" if peak else ""
        if peak:
            record["mfu"] = tflops / peak
        self.log.write(record)
        self.log.say(
            f"step {self.step}/{self.cfg.steps} | loss {loss:.4f} | {rate:,.0f} tok/s | pad {padding:.0%}{mfu} "
            f"| lr {lr:.2e} | grad {grad_norm:.2f} | eta {format_eta(eta)}"
        )
        window["loss"].zero_()
        window["labels"] = window["tokens"] = window["inputs"] = window["padded"] = window["time"] = 0.0
        return loss


def run(cfg: TrainConfig) -> dict:
    """Train per `cfg` in this process (joining a torchrun job if launched by one); returns the summary."""
    ctx = init_distributed(cfg.device, cfg.dist_timeout_s)
    trainer = None
    try:
        trainer = Trainer(cfg, ctx)
        summary = trainer.fit()
    finally:
        if trainer is not None:
            trainer.close()
        del trainer
    shutdown_distributed(ctx)  # only after success: see its docstring for why the order matters
    return summary
