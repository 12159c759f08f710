"""`python -m train --data ...` and `torchrun --nproc_per_node N -m train --data ...` (DDP).

The flags are those of `longlm train`; `generate` and `export` (and the older `-m train train ...`)
still work when named as the first argument.
"""

import sys

from train.cli import COMMANDS, main


def _argv(args: list[str]) -> list[str]:
    """`args` with the `train` subcommand put in front unless a subcommand (or top-level help) leads."""
    if args and (args[0] in COMMANDS or args[0] in ("-h", "--help")):
        return args
    return ["train", *args]


if __name__ == "__main__":
    sys.exit(main(_argv(sys.argv[1:]), prog="python -m train"))
