"""`longlm`: build, inspect and verify LongLM pretraining corpora; train and sample models.

Subcommands register themselves from small modules (`register(subparsers)` + `run(args) -> int`),
so `longlm --help` lists them all without importing torch. `train` and `generate` hand their
arguments to `train.cli`, which only then imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys


class _QuietBeamImport(logging.Filter):
    """Beam's GCP module logs a warning about apitools on import when the gcp extra is absent."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


#: Modules that each add one subcommand.
COMMAND_MODULES = (
    "pipelines.cli.build",
    "pipelines.cli.admin",
    "pipelines.cli.clean",
    "pipelines.cli.inspect",
    "pipelines.cli.report",
    "pipelines.cli.reproduce",
    "pipelines.cli.diff",
    "pipelines.cli.package",
    "pipelines.cli.files",
)
#: Subcommands whose arguments belong to train.cli (torch is imported only when they run).
TRAIN_COMMANDS = {
    "train": "pretrain a T5 model on a built corpus (torch; `longlm train --help`)",
    "generate": "sample text from an exported model with top-p (`longlm generate --help`)",
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longlm",
        description="Turn raw Chinese novels into a reproducible LongLM (T5) pretraining corpus with Apache Beam, "
        "and train a model on it. Typical use: `longlm init-config > corpus.toml`, "
        "`longlm build --input 'novels/*.txt' --output out/ --config corpus.toml`, `longlm verify out/`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    for name, help_text in TRAIN_COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.getLogger().addFilter(_QuietBeamImport())
    # Users want our progress lines; Beam's own INFO chatter (worker start/stop) stays hidden.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("longlm").setLevel(logging.INFO)
    if argv and argv[0] in TRAIN_COMMANDS:
        from train.cli import main as train_main

        return train_main(argv)
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    return int(args.func(args) or 0)
