"""`longlm`: build, inspect and verify LongLM pretraining corpora; train and sample models.

Subcommands register themselves from small modules (`register(subparsers)` + `run(args) -> int`),
so `longlm --help` lists them all without importing torch. `train`, `generate` and `export` hand their
arguments to `train.cli` (the commands of `python -m train`), which only then imports torch.

Every mistake ends in one line: a flag that is neither the command's nor a Beam pipeline option exits 2
before anything runs; an error exits 1 without a traceback (`--debug` shows it); Ctrl-C exits 130 and
a reader that closes the pipe early (`| head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
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
    "pipelines.cli.decontam_check",
)
#: Subcommands whose arguments belong to train.cli (torch is imported only when they run).
TRAIN_COMMANDS = {
    "train": "pretrain a T5 model on a built corpus (torch; `longlm train --help`)",
    "generate": "sample text from an exported model with top-p (`longlm generate --help`)",
    "export": "write RUN/hf from a run's checkpoint (`longlm export --help`)",
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longlm",
        description="Turn raw Chinese novels into a reproducible LongLM (T5) pretraining corpus with Apache Beam, "
        "and train a model on it. Typical use: `longlm init-config > corpus.toml`, "
        "`longlm build --input 'novels/*.txt' --output out/ --config corpus.toml`, `longlm verify out/`.",
    )
    parser.add_argument("--debug", action="store_true", help="on an error, print the traceback instead of one line")
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


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def check_beam_flags(sub: argparse.ArgumentParser, extra: list[str]) -> None:
    """Exit 2 (sub.error) on the first argument of `extra` that is neither a flag of `sub` nor a Beam
    pipeline option, suggesting the closest of our flags first, then of Beam's."""
    from pipelines.launch.options import beam_flag_names, unknown_beam_flags

    unknown = unknown_beam_flags(extra)
    if not unknown:
        return
    first = next((a for a in unknown if a.startswith("-")), unknown[0])
    name = first.split("=", 1)[0]
    if not name.startswith("-"):
        sub.error(f"unexpected argument {first!r}")
    ours = [s for a in sub._actions for s in a.option_strings if s.startswith("--")]
    guess = difflib.get_close_matches(name, ours, n=1) or difflib.get_close_matches(name, beam_flag_names(), n=1)
    sub.error(f"unknown flag {name}: neither a flag of {sub.prog} nor a Beam pipeline option"
              + (f"; did you mean {guess[0]}?" if guess else ""))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, (OSError, ValueError)) else f"{type(error).__name__}: {text}"


def _quiet_stdout() -> None:
    """After a broken pipe: stdout goes to /dev/null, so the interpreter's last flush stays silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _run(argv: list[str], debug: bool) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    sub = _subparser(parser, args.command)
    if extra and not getattr(args, "accepts_extra", False):
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        check_beam_flags(sub, extra)
    args.extra = extra
    try:
        return int(args.func(args) or 0)
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as e:
        if debug:
            raise
        print(f"{sub.prog}: error: {_one_line(e)} (--debug shows the traceback)", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.getLogger().addFilter(_QuietBeamImport())
    # Users want our progress lines; Beam's own INFO chatter (worker start/stop) stays hidden.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("longlm").setLevel(logging.INFO)
    if argv and argv[0] in TRAIN_COMMANDS:
        from train.cli import main as train_main

        return train_main(argv)
    debug = "--debug" in argv
    try:
        return _run([a for a in argv if a != "--debug"], debug)
    except BrokenPipeError:  # `longlm inspect out/ | head`: the reader has what it wanted
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        if debug:
            raise
        print("longlm: interrupted", file=sys.stderr)
        return 130
