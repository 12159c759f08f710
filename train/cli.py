"""Command line of the trainer: `train`, `generate` and `export` subcommands.

`longlm train ...` / `longlm generate ...` forward here as main(["train", ...]); the same parser serves
`python -m train ...` and `torchrun --nproc_per_node N -m train --data ...` (DDP; `train` is implied).
Errors end in one line on stderr: exit 2 for a flag naming something unusable, 1 for a failure while
running, 130 for Ctrl-C; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from train.run_dir import UsageError

EPILOG_TRAIN = """\
examples:
  longlm train --data corpus --model tiny --out runs/demo --steps 300 --batch-size 16 --lr 1e-3
  torchrun --nproc_per_node 2 -m train --data corpus --model small --out runs/small   # DDP, same flags
  longlm train --data corpus --model small --out runs/small --resume      # continue from the latest checkpoint
  longlm train --data corpus --model small --out runs/b --resume runs/small   # start from another run's latest
  longlm train --data corpus --init-from LongLM-base --out runs/cont    # continued pretraining (see README)

Reads the examples/{train,validation} shards that DIR/manifest.json lists (never a glob: stale files are
ignored) and DIR/vocab/spiece.model (local or fsspec URL); --resume requires the same corpus version id.
Writes RUN/metrics.jsonl, RUN/checkpoints/step-N/ (every --save-every steps) and, at the end, RUN/hf/
(transformers-loadable T5 + tokenizer). --batch-size is examples per process per micro-batch; the global
batch is batch-size x grad-accum x processes. Without --resume, RUN must be new or empty; a run that fails
before its first checkpoint leaves RUN as it found it.
"""

EPILOG_GENERATE = """\
example:
  longlm generate --model runs/demo/hf "小咕噜对，" --top-p 0.9 --max-length 512
A prompt may contain sentinels, e.g. "小咕噜对，<extra_id_0>", for infilling.
"""


def _common() -> argparse.ArgumentParser:
    """Flags every subcommand takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="on an error, print the traceback (default: one line)")
    return common


def _add_train(sub) -> None:
    from train.options import add_config_arguments

    p = sub.add_parser(
        "train", help="pretrain a T5 on a built corpus", epilog=EPILOG_TRAIN, parents=[_common()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pretrain a LongLM-style T5 on the Parquet example shards of `longlm build`.",
    )
    add_config_arguments(p)


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate", help="sample text from an exported model", epilog=EPILOG_GENERATE, parents=[_common()],
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
    p = sub.add_parser("export", help="write RUN/hf from a checkpoint", parents=[_common()],
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


def _require_path(flag: str, value: str) -> None:
    """UsageError when the local path a flag names does not exist (URLs are left to their readers)."""
    if "://" not in value and not os.path.exists(value):
        raise UsageError(f"{flag} {value}: no such file or folder")


def _train(args) -> int:
    from train.checkpoint import latest_checkpoint
    from train.options import config_from_args
    from train.run_dir import check_out, fresh_run_guard, is_main_process, resolve_resume

    try:
        cfg = config_from_args(args)
    except ValueError as e:
        raise UsageError(str(e)) from e
    _require_path("--data", cfg.data)
    cfg.resume = resolve_resume(cfg.resume)
    if is_main_process():
        check_out(cfg.out, resuming=cfg.resume is not None)
    from train.trainer import run

    try:
        with fresh_run_guard(cfg.out):
            summary = run(cfg)
    except KeyboardInterrupt:
        if args.debug:
            raise
        last = latest_checkpoint(cfg.out) if os.path.isdir(cfg.out) else None
        where = (f"{cfg.out} holds {last.name}; continue with --resume" if last is not None
                 else f"no checkpoint was written, {cfg.out} is left as it was")
        print(f"interrupted: {where}", file=sys.stderr)
        return 130
    return 0 if summary.get("step", 0) >= min(cfg.steps, cfg.stop_at or cfg.steps) else 1


def _generate(args) -> int:
    from train.generate import generate_text

    _require_path("--model", args.model)
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

    _require_path("RUN", args.run)
    if args.checkpoint:
        _require_path("--checkpoint", args.checkpoint)
    run_dir = Path(args.run)
    path = Path(args.checkpoint) if args.checkpoint else latest_checkpoint(run_dir)
    if path is None:
        raise UsageError(f"{run_dir}: no checkpoint (expected {run_dir}/checkpoints/step-N/)")
    payload = load_checkpoint(path)
    vocab = run_dir / "spiece.model"
    out = export_hf(payload["model"], ModelConfig.from_dict(payload["model_config"]),
                    Path(args.out) if args.out else run_dir / "hf", vocab if vocab.is_file() else None,
                    continuation_sentinel=payload.get("conventions", {}).get("continuation_sentinel", 0))
    print(f"exported step {payload['step']} to {out}")
    return 0


def _one_line(error: Exception) -> str:
    """The message of `error` as one line; the type is named when the message alone may not say enough."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (OSError, ValueError)):
        return text
    return f"{type(error).__name__}: {text} (--debug shows the traceback)"


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush stays silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None, prog: str = "longlm") -> int:
    """Run a subcommand (argv[0] is train, generate or export); returns the process exit status."""
    args = build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    command = {"train": _train, "generate": _generate, "export": _export}[args.command]
    try:
        return command(args)
    except BrokenPipeError:  # `... | head`: the reader has all it wanted
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(f"{prog} {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
