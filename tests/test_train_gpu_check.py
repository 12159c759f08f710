"""bench/gpu_check.sh --smoke: the GPU check's code paths on CPU (torchrun -m train --compile --packing on,
stop, resume, export, generate; the bench table with transformers) end to end, in about a minute."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_gpu_check_smoke_runs_every_part_on_cpu(tmp_path):
    pytest.importorskip("transformers")
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--smoke", "--out", str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "failed parts: none" in out and "resumed from" in out and "exported" in out
    assert "trainer: to step 8 | compiled" in out and "packing True" in out
    assert (tmp_path / "run" / "hf" / "model.safetensors").is_file()
    row = next(line for line in out.splitlines() if line.startswith("tiny "))
    assert row.split()[-1] == "ok" and row.split()[-2].endswith("x")  # ours/hf measured


def test_gpu_check_refuses_unknown_arguments():
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--fast"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "unknown argument --fast" in done.stderr
