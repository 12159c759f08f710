"""`python tests/slow_checkpoint.py ARGS...`: the trainer CLI (`python -m train ARGS...`) with one change:
after a checkpoint's state.pt is written, the save sleeps 60 s before its rename, so a test can
SIGKILL the process in the middle of a checkpoint. Test scaffolding only: the package has no hook.
"""

import runpy
import sys
import time

import train.checkpoint as checkpoint

_write_file = checkpoint._write_file


def _slow_write_file(path, write):
    _write_file(path, write)
    if path.name == checkpoint.STATE_FILE:
        time.sleep(60)


checkpoint._write_file = _slow_write_file
sys.argv = ["python -m train", *sys.argv[1:]]
runpy.run_module("train", run_name="__main__")
