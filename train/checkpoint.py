"""Atomic training checkpoints under RUN/checkpoints/.

A checkpoint is a directory step-<8 digits>/ holding state.pt (everything needed to continue: model,
optimizer, schedule, RNG states of every rank, data positions) and meta.json. It is written as a hidden
temporary directory, flushed, then renamed into place; only then is RUN/checkpoints/latest (a one-line
file) replaced, also by rename. A process killed at any moment therefore leaves `latest` naming the
previous complete checkpoint; leftovers are temporary directories that are ignored and cleaned later.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import torch

STATE_FILE = "state.pt"
META_FILE = "meta.json"
LATEST = "latest"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def checkpoint_root(run_dir: str | Path) -> Path:
    """RUN/checkpoints."""
    return Path(run_dir) / "checkpoints"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, write) -> None:
    with open(path, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def _write_latest(root: Path, name: str) -> None:
    tmp = root / f".{LATEST}.tmp-{os.getpid()}"
    _write_file(tmp, lambda h: h.write((name + "\n").encode()))
    os.replace(tmp, root / LATEST)
    _fsync_dir(root)


def save_checkpoint(run_dir: str | Path, step: int, payload: dict, keep: int = 3) -> Path:
    """Write `payload` as checkpoint `step` atomically, point `latest` at it, keep the newest `keep`."""
    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _write_file(tmp / STATE_FILE, lambda h: torch.save(payload, h))
    meta = {"step": step, "time": time.time(), "files": [STATE_FILE]}
    _write_file(tmp / META_FILE, lambda h: h.write(json.dumps(meta).encode()))
    _fsync_dir(tmp)
    final = root / name
    if final.exists():
        stale = root / f".{name}.old-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(tmp, final)
    _fsync_dir(root)
    _write_latest(root, name)
    prune(root, keep)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint directories (with state.pt and meta.json), oldest first."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / META_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint `latest` names if it is complete, else the newest complete one, else None."""
    root = checkpoint_root(run_dir)
    pointer = root / LATEST
    if pointer.is_file():
        candidate = root / pointer.read_text().strip()
        if (candidate / META_FILE).is_file() and (candidate / STATE_FILE).is_file():
            return candidate
    complete = list_checkpoints(run_dir)
    return complete[-1] if complete else None


def prune(root: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints (never the one `latest` names) and stale temporaries."""
    pointer = root / LATEST
    current = pointer.read_text().strip() if pointer.is_file() else None
    steps = sorted(p for p in root.iterdir() if _STEP_DIR.match(p.name))
    for path in steps[: max(0, len(steps) - max(1, keep))]:
        if path.name != current:
            shutil.rmtree(path, ignore_errors=True)
    for path in root.iterdir():
        if path.name.startswith(".") and ".tmp-" in path.name and not path.name.endswith(f"-{os.getpid()}"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The payload saved in checkpoint directory `path`, memory-mapped (tensors are paged in as they are
    copied into the model and optimizer, so a 1B-parameter state never sits in RAM twice)."""
    return torch.load(Path(path) / STATE_FILE, map_location=map_location, weights_only=True, mmap=True)
