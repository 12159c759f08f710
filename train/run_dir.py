"""What `train --out RUN` and `--resume` name, checked before anything is written, and the clean-up of a
fresh run that fails before its first checkpoint.

- `--resume` alone continues RUN from its latest checkpoint; `--resume X` accepts a checkpoint folder
  (X/state.pt), a run folder (its latest checkpoint) or a run's checkpoints/ folder.
- Without `--resume`, RUN must be new or empty: a used run (its metrics.jsonl, checkpoints) is never mixed
  with a second run's.
- A fresh run that fails or is interrupted before saving a checkpoint leaves RUN as it found it.
Only the main process (torchrun's RANK 0, or a plain process) checks and cleans up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from train.checkpoint import STATE_FILE, checkpoint_root, latest_checkpoint, list_checkpoints


class UsageError(ValueError):
    """A flag names something unusable (exit status 2, before anything is written)."""


def is_main_process() -> bool:
    """True in a plain process and in rank 0 of a torchrun job (RANK is set by torchrun)."""
    return os.environ.get("RANK", "0") == "0"


def _is_local(path: str) -> bool:
    return "://" not in path


def resolve_resume(value: str | None) -> str | None:
    """`--resume`'s value as the trainer takes it: None, "latest" (RUN's own) or a checkpoint folder.

    Raises UsageError when `value` is neither a checkpoint nor a folder holding one."""
    if value is None or value == "latest" or not _is_local(value):
        return value
    path = Path(value)
    if (path / STATE_FILE).is_file():
        return str(path)
    runs = [path, path.parent] if path.name == checkpoint_root(path.parent).name else [path]
    for run in runs:  # a run folder, or its checkpoints/ folder
        if (found := latest_checkpoint(run)) is not None:
            return str(found)
    if not path.exists():
        raise UsageError(f"--resume {value}: no such checkpoint or run folder")
    raise UsageError(f"--resume {value}: holds no checkpoint (expected a run folder with checkpoints/step-N/ "
                     f"or a checkpoint folder with {STATE_FILE})")


def describe_run(run: Path) -> str:
    """What a used run folder holds, for messages ("2 checkpoints (latest step-00000020), metrics.jsonl")."""
    parts = []
    checkpoints = list_checkpoints(run)
    if checkpoints:
        parts.append(f"{len(checkpoints)} checkpoint{'s' * (len(checkpoints) != 1)} (latest {checkpoints[-1].name})")
    parts += [name for name in ("metrics.jsonl", "hf") if (run / name).exists()]
    if not parts:
        entries = sorted(p.name for p in run.iterdir())
        parts.append(f"{len(entries)} entr{'ies' if len(entries) != 1 else 'y'}: {', '.join(entries[:3])}"
                     + (", ..." if len(entries) > 3 else ""))
    return ", ".join(parts)


def check_out(out: str, resuming: bool) -> None:
    """Refuse (UsageError) to start a new run in a folder that is not new or empty."""
    if resuming or not _is_local(out):
        return
    run = Path(out)
    if run.exists() and not run.is_dir():
        raise UsageError(f"--out {out}: is a file, not a run folder")
    if run.is_dir() and any(run.iterdir()):
        raise UsageError(f"--out {out}: already holds a run ({describe_run(run)}); pass --resume to continue "
                         "it, or choose a new --out")


@contextlib.contextmanager
def fresh_run_guard(out: str) -> Iterator[None]:
    """Around a run into `out`: if `out` was new or empty and the run ends in an exception (Ctrl-C
    included) before any checkpoint exists, remove what the run wrote there; the exception propagates."""
    run = Path(out)
    fresh = _is_local(out) and is_main_process() and (not run.exists() or (run.is_dir() and not any(run.iterdir())))
    created = not run.exists()
    try:
        yield
    except BaseException:
        if fresh and run.is_dir() and not list_checkpoints(run):
            if created:
                shutil.rmtree(run, ignore_errors=True)
            else:
                for entry in run.iterdir():
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        raise
