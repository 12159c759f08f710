"""bench.gpu_train: skips cleanly without CUDA; its CPU smoke mode runs the same measuring code end to end
(figures are printed, never asserted beyond being produced)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.gpu_train import COLUMNS, format_table, main

REPO = Path(__file__).resolve().parents[1]
SMOKE = ["--device", "cpu", "--dtype", "float32", "--presets", "tiny", "--steps", "2", "--batch-size", "2",
         "--src-len", "16", "--tgt-len", "8", "--vocab", "640"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: the skip path does not apply")
def test_without_cuda_the_gpu_bench_says_so_and_exits_0():
    done = subprocess.run([sys.executable, "-m", "bench.gpu_train", "--budget-s", "5"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("skipped: no CUDA device")
    assert "skipped" in main(["--device", "cuda"])


def test_cpu_smoke_run_measures_every_column(capsys):
    torch.set_num_threads(1)
    result = main([*SMOKE, "--peak-tflops", "1.0", "--activation-checkpointing"])
    (row,) = result["rows"]
    assert row["status"] == "ok" and row["steps"] >= 1
    assert row["tokens/s"] > 0 and row["peak mem GB"] >= 0 and row["TFLOP/s"] > 0
    assert row["MFU"] == pytest.approx(row["TFLOP/s"] / 1.0)
    printed = capsys.readouterr().out
    assert printed.splitlines()[1].split() == list(COLUMNS[:5]) + ["peak", "mem", "GB"] + list(COLUMNS[6:])
    assert "tiny" in printed and "activation checkpointing on" in printed


def test_budget_skips_presets_not_started_in_time(capsys):
    result = main([*SMOKE, "--presets", "tiny,small", "--budget-s", "0"])
    assert [r["status"] for r in result["rows"]] == ["skipped: time budget"] * 2
    assert "skipped: time budget" in capsys.readouterr().out


def test_table_aligns_and_marks_missing_cells():
    text = format_table([{"preset": "large", "params": 993_000_000, "MFU": 0.412, "status": "ok"}])
    header, line = text.splitlines()
    assert line.split()[:2] == ["large", "993.0M"] and "41.2%" in line and "-" in line.split()
    assert header.index("MFU") == line.index("41.2%")
