"""--compile: a compiled tiny T5 trains to the eager losses; without a working compiler the trainer
falls back to eager with a warning (the compiler really fails: CXX names a missing program)."""

import json
import os
import shutil
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch

from train.config import preset
from train.data import StreamConfig, collate
from train.distributed import DistContext
from train.model import build_model
from train.optim import make_optimizer
from train.options import TrainConfig
from train.trainer import train_step

REPO = Path(__file__).resolve().parents[1]


def _batch(vocab=256, rows=4, seed=0) -> dict:
    rng = np.random.Generator(np.random.PCG64(seed))
    pairs = [(np.append(rng.integers(3, vocab, size=12), 1), np.append(rng.integers(3, vocab, size=6), 1))
             for _ in range(rows)]
    return collate(pairs, StreamConfig())


def _losses(compiled: bool, steps: int = 3) -> list[float]:
    from train.compiling import compile_model

    torch.manual_seed(0)
    model = build_model(preset("tiny", vocab_size=256, dropout_rate=0.0), seed=0)
    optimizer = make_optimizer(model, TrainConfig(data="", out="", lr=1e-2))
    if compiled:
        assert compile_model(model, torch.device("cpu"))
    batch, out = _batch(), []
    for _ in range(steps):  # one batch shape: one compilation of forward and backward
        stats = train_step(model, [batch], optimizer, DistContext(), 1.0, nullcontext)
        out.append(float(stats["loss_sum"]) / stats["label_tokens"])
    return out


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler for inductor")
def test_a_compiled_model_trains_to_the_eager_losses_with_the_same_parameter_names():
    torch.set_num_threads(1)
    eager, compiled = _losses(False), _losses(True)
    assert eager[-1] < eager[0]  # it trains
    assert compiled == pytest.approx(eager, rel=1e-4)
    model = build_model(preset("tiny", vocab_size=256), seed=0)
    names = list(model.state_dict())
    model.compile()
    assert list(model.state_dict()) == names  # in place: checkpoints and exports keep their names


def test_without_a_working_compiler_the_trainer_warns_and_trains_eagerly(tmp_path):
    from train.synthetic import make_corpus

    corpus = make_corpus(tmp_path / "corpus", n_train_lines=100, n_val_lines=10, seed=1)
    common = ["-m", "train", "--data", str(corpus), "--model", "tiny", "--steps", "2", "--batch-size", "4",
              "--threads", "1", "--num-workers", "0", "--eval-every", "0", "--log-every", "1", "--no-tensorboard",
              "--no-export", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CXX": str(tmp_path / "no-such-compiler")}
    runs = {}
    for name, extra in (("eager", []), ("compile", ["--compile"])):
        done = subprocess.run([sys.executable, *common, "--out", str(tmp_path / name), *extra], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = done
    assert "--compile: torch.compile cannot run on cpu" in runs["compile"].stderr
    assert "training eagerly" in runs["compile"].stderr and "compiled" not in runs["compile"].stdout
    info = json.loads((tmp_path / "compile" / "config.json").read_text())
    assert info["compiled"] is False and info["train"]["compile"] is True
    losses = {n: [json.loads(line)["loss"] for line in (tmp_path / n / "metrics.jsonl").read_text().splitlines()]
              for n in runs}
    assert losses["compile"] == losses["eager"] and len(losses["eager"]) == 2
