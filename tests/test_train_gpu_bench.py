"""bench.gpu_train: skips cleanly without CUDA; its CPU smoke mode runs the same measuring code end to end
(figures are printed, never asserted beyond being produced)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.gpu_train import COLUMNS, example_lengths, format_table, main

REPO = Path(__file__).resolve().parents[1]
SMOKE = ["--device", "cpu", "--dtype", "float32", "--presets", "tiny", "--steps", "2", "--rows", "2",
         "--input-len", "64", "--target-len", "32", "--max-input-len", "32", "--max-target-len", "16",
         "--vocab", "640", "--batches", "2"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: the skip path does not apply")
def test_without_cuda_the_gpu_bench_says_so_and_exits_0():
    done = subprocess.run([sys.executable, "-m", "bench.gpu_train", "--budget-s", "5"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("skipped: no CUDA device")
    assert "skipped" in main(["--device", "cuda"])


def test_cpu_smoke_run_measures_every_column(capsys):
    pytest.importorskip("transformers")
    torch.set_num_threads(1)
    result = main([*SMOKE, "--peak-tflops", "1.0", "--activation-checkpointing", "--transformers"])
    (row,) = result["rows"]
    assert row["status"] == "ok" and row["steps"] >= 1, row
    assert row["tokens/s"] > 0 and row["peak mem GB"] >= 0 and row["TFLOP/s"] > 0 and 0 <= row["pad"] < 1
    assert row["MFU"] == pytest.approx(row["TFLOP/s"] / 1.0)
    assert row["hf tokens/s"] > 0 and row["ours/hf"] == pytest.approx(row["tokens/s"] / row["hf tokens/s"])
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("preset"))
    assert header.split() == ["preset", "params", "batch", "tokens/step", "pad", "tokens/s", "peak", "mem", "GB",
                              "TFLOP/s", "MFU", "hf", "tokens/s", "ours/hf", "status"]
    assert "tiny" in printed and "activation checkpointing on" in printed


def test_unpacked_batches_hold_the_same_examples():
    torch.set_num_threads(1)
    packed = main([*SMOKE, "--steps", "1"])["rows"][0]
    padded = main([*SMOKE, "--steps", "1", "--packing", "off"])["rows"][0]
    assert packed["tokens/step"] == padded["tokens/step"] and padded["pad"] > packed["pad"]


def test_lengths_come_from_the_corpus_shards(tmp_path):
    from train.synthetic import make_corpus

    corpus = make_corpus(tmp_path / "corpus", n_train_lines=80, n_val_lines=8, seed=1)
    lengths = example_lengths(str(corpus), 50, 512, 512, seed=0)
    assert len(lengths) == 50 and all(a > 0 and b > 0 for a, b in lengths)
    assert max(a for a, _ in lengths) < 200  # the corpus's short lines, not the built-in spread
    assert example_lengths(str(corpus), 50, 512, 512, seed=0) == lengths


def test_budget_skips_presets_not_started_in_time(capsys):
    result = main([*SMOKE, "--presets", "tiny,small", "--budget-s", "0"])
    assert [r["status"] for r in result["rows"]] == ["skipped: time budget"] * 2
    assert "skipped: time budget" in capsys.readouterr().out


def test_table_aligns_and_marks_missing_cells():
    text = format_table([{"preset": "large", "params": 993_000_000, "MFU": 0.412, "status": "ok"}])
    header, line = text.splitlines()
    assert line.split()[:2] == ["large", "993.0M"] and "41.2%" in line and "-" in line.split()
    assert header.index("MFU") == line.index("41.2%") and len(COLUMNS) == 12
