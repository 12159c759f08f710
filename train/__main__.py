"""`python -m train ...` (and `torchrun --nproc_per_node N -m train train ...` for DDP)."""

import sys

from train.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m train"))
