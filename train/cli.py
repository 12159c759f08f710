"""Command line of the trainer: `train`, `generate` and `export` subcommands.

`longlm train ...` / `longlm generate ...` forward here as main(["train", ...]); the same parser serves
`python -m train ...` and `torchrun --nproc_per_node N -m train --data ...` (DDP; `train` is implied).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from train.config import PRESETS

EPILOG_TRAIN = """\
examples:
  longlm train --data corpus --model tiny --out runs/demo --steps 300 --batch-size 16 --lr 1e-3
  torchrun --nproc_per_node 2 -m train --data corpus --model small --out runs/small   # DDP, same flags
  longlm train --data corpus --model small --out runs/small --resume      # continue from the latest checkpoint
  longlm train --data corpus --init-from LongLM-base --out runs/cont    # continued pretraining (see README)

Reads the examples/{train,validation} shards that DIR/manifest.json lists (never a glob: stale files are
ignored) and DIR/vocab/spiece.model (local or fsspec URL); --resume requires the same corpus version id.
Writes RUN/metrics.jsonl, RUN/checkpoints/step-N/ (every --save-every steps) and, at the end, RUN/hf/
(transformers-loadable T5 + tokenizer). --batch-size is examples per process per micro-batch; the global
batch is batch-size x grad-accum x processes.
"""

EPILOG_GENERATE = """\
example:
  longlm generate --model runs/demo/hf "小咕噜对，" --top-p 0.9 --max-length 512
A prompt may contain sentinels, e.g. "小咕噜对，<extra_id_0>", for infilling.
"""


def _defaults():
    from train.trainer import TrainConfig

    return {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}


def _add_train(sub) -> None:
    d = _defaults()
    p = sub.add_parser(
        "train", help="pretrain a T5 on a built corpus", epilog=EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pretrain a LongLM-style T5 on the Parquet example shards of `longlm build`.",
    )
    g = p.add_argument_group("run")
    g.add_argument("--data", required=True, metavar="DIR", help="corpus directory written by `longlm build`")
    g.add_argument("--out", required=True, metavar="RUN", help="run directory (checkpoints, metrics, hf export)")
    g.add_argument("--model", default=d["model"], choices=sorted(PRESETS), help="model preset (default %(default)s)")
    g.add_argument("--steps", type=int, default=d["steps"], help="optimizer steps in total (default %(default)s)")
    g.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CKPT",
                   help="continue from RUN's latest checkpoint (or the given checkpoint directory)")
    g.add_argument("--init-from", default=None, metavar="DIR",
                   help="start from the weights of a Hugging Face T5 directory (a released LongLM checkpoint or "
                        "an export: config.json + model.safetensors or pytorch_model.bin); its architecture "
                        "replaces --model, its vocabulary must be the corpus's")
    g.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                   help="checkpoint and stop at this step (the schedule still spans --steps)")
    g.add_argument("--seed", type=int, default=d["seed"], help="initialisation and data-order seed")
    g.add_argument("--no-export", dest="export", action="store_false", help="do not write RUN/hf at the end")
    g = p.add_argument_group("batching and data")
    g.add_argument("--batch-size", type=int, default=d["batch_size"], help="examples per process per micro-batch")
    g.add_argument("--grad-accum", type=int, default=d["grad_accum"], help="micro-batches per optimizer step")
    g.add_argument("--num-workers", type=int, default=d["num_workers"], help="DataLoader workers per process")
    g.add_argument("--shuffle-buffer", type=int, default=d["shuffle_buffer"], help="rows held for shuffling")
    g.add_argument("--max-input-len", type=int, default=d["max_input_len"], help="truncate inputs to this")
    g.add_argument("--max-target-len", type=int, default=d["max_target_len"], help="truncate targets to this")
    g.add_argument("--vocab-size", type=int, default=None, help="embedding rows when DIR has no vocab/spiece.model")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", default=d["optimizer"], choices=["adamw", "adafactor"],
                   help="adamw (default) or torch's Adafactor (T5's optimizer; factored, less memory)")
    g.add_argument("--lr", type=float, default=None,
                   help="peak learning rate; for adafactor the cap on its relative step "
                        "(default: adamw 5e-4, adafactor 1e-2)")
    g.add_argument("--schedule", default=None, choices=["cosine", "linear", "inverse_sqrt", "constant"],
                   help="decay after warmup (default: adamw cosine, adafactor constant as in T5)")
    g.add_argument("--warmup-steps", type=int, default=None, help="linear warmup (default min(1000, steps/10))")
    g.add_argument("--min-lr-ratio", type=float, default=d["min_lr_ratio"], help="final lr / peak for cosine/linear")
    g.add_argument("--weight-decay", type=float, default=None,
                   help="decoupled weight decay on matrices (default: adamw 0.01, adafactor 0)")
    g.add_argument("--clip-norm", type=float, default=d["clip_norm"], help="gradient clipping norm (0: off)")
    g.add_argument("--dropout", type=float, default=None, help="dropout rate (default: the preset's 0.1)")
    g.add_argument("--precision", default=d["precision"], choices=["auto", "fp32", "bf16"],
                   help="auto = bf16 autocast on GPU, fp32 on CPU")
    g = p.add_argument_group("logging and checkpoints")
    g.add_argument("--log-every", type=int, default=d["log_every"], help="steps between progress lines")
    g.add_argument("--eval-every", type=int, default=d["eval_every"], help="steps between validations (0: off)")
    g.add_argument("--eval-batches", type=int, default=d["eval_batches"], help="validation batches per process (0: all)")
    g.add_argument("--save-every", type=int, default=d["save_every"], help="steps between checkpoints (0: end only)")
    g.add_argument("--keep-checkpoints", type=int, default=d["keep_checkpoints"], help="checkpoints kept")
    g.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", help="skip TensorBoard logs")
    g.add_argument("--peak-tflops", type=float, default=None,
                   help="peak TFLOP/s of one device, for the MFU in progress lines (known GPUs: automatic)")
    g = p.add_argument_group("hardware and memory")
    g.add_argument("--activation-checkpointing", action="store_true",
                   help="recompute each block's activations in backward (less memory, ~30%% more compute)")
    g.add_argument("--dist-timeout-s", type=float, default=d["dist_timeout_s"],
                   help="seconds a collective may wait for the other ranks before the job fails")
    g.add_argument("--device", default=d["device"], choices=["auto", "cpu", "cuda"])
    g.add_argument("--threads", type=int, default=None, help="torch intra-op threads per process")


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate", help="sample text from an exported model", epilog=EPILOG_GENERATE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Top-p sampling from RUN/hf with the trainer's own model code (transformers not needed).",
    )
    p.add_argument("prompt", nargs="+", help="prompt text (several are sampled one after another)")
    p.add_argument("--model", required=True, metavar="DIR", help="export directory (RUN/hf) or run directory")
    p.add_argument("--max-length", type=int, default=512, help="decoder length including the start token")
    p.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling mass (default %(default)s)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--greedy", action="store_true", help="argmax decoding instead of sampling")
    p.add_argument("--num-samples", type=int, default=1, help="samples per prompt")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default: random)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write RUN/hf from a checkpoint",
                       description="Export a checkpoint as a transformers-loadable T5 directory.")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--checkpoint", default=None, help="checkpoint directory (default: RUN's latest)")
    p.add_argument("--out", default=None, help="output directory (default RUN/hf)")


#: Subcommands of this parser (python -m train implies `train` when none is named).
COMMANDS = ("train", "generate", "export")


def build_parser(prog: str = "longlm") -> argparse.ArgumentParser:
    """The argument parser with the train, generate and export subcommands."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Train and sample LongLM-style T5 models on a built corpus."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,generate,export}")
    _add_train(sub)
    _add_generate(sub)
    _add_export(sub)
    return parser


def _train(args) -> int:
    from train.trainer import TrainConfig, run

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    summary = run(cfg)
    return 0 if summary.get("step", 0) >= min(cfg.steps, cfg.stop_at or cfg.steps) else 1


def _generate(args) -> int:
    from train.generate import generate_text

    options = {"max_length": args.max_length, "top_p": args.top_p, "temperature": args.temperature,
               "do_sample": not args.greedy}
    for prompt in args.prompt:
        for text in generate_text(args.model, prompt, args.num_samples, args.seed, args.device, **options):
            print(f"{prompt}{text}" if "<extra_id_" not in prompt else text, flush=True)
    return 0


def _export(args) -> int:
    from pathlib import Path

    from train.checkpoint import latest_checkpoint, load_checkpoint
    from train.config import ModelConfig
    from train.export import export_hf

    run_dir = Path(args.run)
    path = Path(args.checkpoint) if args.checkpoint else latest_checkpoint(run_dir)
    if path is None:
        print(f"no checkpoint in {run_dir}", file=sys.stderr)
        return 1
    payload = load_checkpoint(path)
    vocab = run_dir / "spiece.model"
    out = export_hf(payload["model"], ModelConfig.from_dict(payload["model_config"]),
                    Path(args.out) if args.out else run_dir / "hf", vocab if vocab.is_file() else None,
                    continuation_sentinel=payload.get("conventions", {}).get("continuation_sentinel", 0))
    print(f"exported step {payload['step']} to {out}")
    return 0


def main(argv: list[str] | None = None, prog: str = "longlm") -> int:
    """Run a subcommand (argv[0] is train, generate or export); returns the process exit status."""
    args = build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    return {"train": _train, "generate": _generate, "export": _export}[args.command](args)
