"""train.trainer / train.checkpoint: it learns, resumes exactly, and survives SIGKILL mid-checkpoint."""

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from train.synthetic import make_corpus
from train.trainer import TrainConfig, lr_factor, run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), n_train_lines=600, n_val_lines=60, seed=5)


def _cfg(corpus, out, **changes) -> TrainConfig:
    base = dict(data=str(corpus), out=str(out), model="tiny", steps=8, batch_size=8, lr=3e-3, threads=1,
                num_workers=0, eval_every=0, save_every=4, log_every=1, tensorboard=False, export=False)
    base.update(changes)
    return TrainConfig(**base)


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def _final_model(run_dir) -> dict:
    return load_checkpoint(latest_checkpoint(run_dir))["model"]


def test_tiny_model_learns_the_sample_corpus(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    summary = run(_cfg(corpus, out, steps=300, batch_size=16, lr=1e-2, log_every=50, eval_every=100,
                       save_every=0, export=True))
    start, end = summary["val_loss_initial"], summary["val_loss"]
    assert end < 0.7 * start, (start, end)
    assert end < math.log(640)  # better than guessing uniformly over the vocabulary
    records = _metrics(out)
    progress = [r for r in records if "loss" in r]
    assert [r["step"] for r in progress] == [50, 100, 150, 200, 250, 300]
    assert all(r["tokens_per_s"] > 0 and r["lr"] > 0 for r in progress)
    assert [r["step"] for r in records if "val_loss" in r] == [0, 100, 200, 300]
    printed = capsys.readouterr().out
    assert "parameters" in printed and "tok/s" in printed and "eta" in printed
    assert (out / "hf" / "model.safetensors").is_file() and (out / "hf" / "spiece.model").is_file()


def test_resume_reaches_the_same_parameters_as_an_uninterrupted_run(corpus, tmp_path):
    # dropout (RNG state), a DataLoader worker (data position) and accumulation all in play
    opts = dict(steps=8, save_every=4, dropout=0.1, num_workers=1, grad_accum=2)
    run(_cfg(corpus, tmp_path / "a", **opts))
    run(_cfg(corpus, tmp_path / "b", stop_at=4, **opts))
    assert latest_checkpoint(tmp_path / "b").name == "step-00000004"
    summary = run(_cfg(corpus, tmp_path / "b", resume="latest", **opts))
    assert summary["start_step"] == 4 and summary["step"] == 8
    a, b = _final_model(tmp_path / "a"), _final_model(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses_a = {r["step"]: r["loss"] for r in _metrics(tmp_path / "a") if "loss" in r}
    steps_b = [r["step"] for r in _metrics(tmp_path / "b") if "loss" in r]
    losses_b = {r["step"]: r["loss"] for r in _metrics(tmp_path / "b") if "loss" in r}
    assert steps_b == list(range(1, 9)) and losses_a == losses_b
    pos_a = load_checkpoint(latest_checkpoint(tmp_path / "a"))["data"]["positions"]
    assert pos_a == load_checkpoint(latest_checkpoint(tmp_path / "b"))["data"]["positions"]
    assert pos_a[0]["consumed"] == 16


def test_resume_refuses_a_different_data_stream(corpus, tmp_path):
    run(_cfg(corpus, tmp_path / "r", steps=4, stop_at=2))
    with pytest.raises(ValueError, match="data stream differs"):
        run(_cfg(corpus, tmp_path / "r", steps=4, batch_size=4, resume="latest"))


def test_resume_refuses_another_corpus_version_with_the_same_file_names(corpus, tmp_path):
    import shutil

    from train.synthetic import write_manifest

    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    run(_cfg(copy, tmp_path / "r", steps=4, stop_at=2))
    before = json.loads((copy / "manifest.json").read_text())["version_id"]
    write_manifest(copy, {"rebuilt": True})  # same shard names, another version
    after = json.loads((copy / "manifest.json").read_text())["version_id"]
    assert before != after
    assert load_checkpoint(latest_checkpoint(tmp_path / "r"))["data"]["fingerprint"]["version_id"] == before
    with pytest.raises(ValueError, match=f"corpus version {before}.*version {after}"):
        run(_cfg(copy, tmp_path / "r", steps=4, resume="latest"))


def test_sigkill_during_a_checkpoint_leaves_the_previous_one_usable(corpus, tmp_path):
    out = tmp_path / "killed"
    opts = dict(steps=6, save_every=2)
    run(_cfg(corpus, out, stop_at=2, **opts))
    # tests/slow_checkpoint.py: the train CLI whose checkpoint sleeps between state.pt and the rename
    command = [sys.executable, str(REPO / "tests" / "slow_checkpoint.py"), "train", "--data", str(corpus), "--out", str(out), "--model", "tiny",
               "--steps", "6", "--batch-size", "8", "--lr", "3e-3", "--threads", "1", "--num-workers", "0",
               "--eval-every", "0", "--save-every", "2", "--log-every", "1", "--no-tensorboard", "--no-export",
               "--resume"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    partial = out / "checkpoints" / f".step-00000004.tmp-{proc.pid}"
    deadline = time.time() + 60
    while not (partial / "state.pt").is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (partial / "state.pt").is_file(), proc.stdout.read().decode()
    assert latest_checkpoint(out).name == "step-00000002"
    assert [p.name for p in list_checkpoints(out)] == ["step-00000002"]
    assert load_checkpoint(latest_checkpoint(out))["step"] == 2
    # the partial checkpoint is ignored; resuming finishes the run exactly like an uninterrupted one
    run(_cfg(corpus, out, resume="latest", **opts))
    run(_cfg(corpus, tmp_path / "whole", **opts))
    a, b = _final_model(out), _final_model(tmp_path / "whole")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not partial.exists()  # cleaned up by the next checkpoint


def test_adafactor_and_schedules(corpus, tmp_path):
    summary = run(_cfg(corpus, tmp_path / "ada", steps=3, optimizer="adafactor", lr=1e-2, schedule="linear"))
    assert summary["step"] == 3 and math.isfinite(summary["train_loss"])
    cfg = TrainConfig(data="", out="", steps=1000, warmup_steps=100, min_lr_ratio=0.1)
    assert lr_factor(50, cfg) == pytest.approx(0.5) and lr_factor(100, cfg) == pytest.approx(1.0)
    assert lr_factor(1000, cfg) == pytest.approx(0.1)
    assert lr_factor(550, cfg) == pytest.approx(0.55)  # cosine midpoint between 1 and 0.1
    linear = TrainConfig(data="", out="", steps=1000, warmup_steps=100, schedule="linear", min_lr_ratio=0.0)
    assert lr_factor(550, linear) == pytest.approx(0.5)
    inv = TrainConfig(data="", out="", steps=1000, warmup_steps=100, schedule="inverse_sqrt")
    assert lr_factor(400, inv) == pytest.approx(0.5)
    assert TrainConfig(data="", out="", steps=50).warmup() == 5


def test_adafactor_defaults_are_t5s_own_and_lr_caps_the_relative_step():
    from train.config import preset
    from train.model import build_model
    from train.optim import make_optimizer

    ada = TrainConfig(data="", out="", steps=1000, warmup_steps=100, optimizer="adafactor")
    assert (ada.lr, ada.schedule, ada.weight_decay) == (1e-2, "constant", 0.0)
    assert [lr_factor(s, ada) for s in (50, 100, 101, 1000)] == [0.5, 1.0, 1.0, 1.0]
    adamw = TrainConfig(data="", out="", steps=1000)
    assert (adamw.lr, adamw.schedule, adamw.weight_decay) == (5e-4, "cosine", 0.01)
    explicit = TrainConfig(data="", out="", optimizer="adafactor", lr=3e-3, schedule="linear")
    assert (explicit.lr, explicit.schedule) == (3e-3, "linear")
    optimizer = make_optimizer(build_model(preset("tiny", vocab_size=256)), ada)
    assert isinstance(optimizer, torch.optim.Adafactor)
    assert {g["lr"] for g in optimizer.param_groups} == {1e-2} and {g["weight_decay"] for g in optimizer.param_groups} == {0.0}
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(data="", out="", optimizer="sgd")


def test_checkpoints_are_pruned_and_temporaries_ignored(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"step": step, "x": torch.ones(2) * step}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]
    stale = tmp_path / "checkpoints" / ".step-00000009.tmp-1"
    stale.mkdir()
    (stale / "state.pt").write_bytes(b"garbage")
    (tmp_path / "checkpoints" / "latest").write_text("step-00000009\n")  # a pointer to something incomplete
    assert latest_checkpoint(tmp_path).name == "step-00000003"
    assert torch.equal(load_checkpoint(latest_checkpoint(tmp_path))["x"], torch.ones(2) * 3)


def test_metrics_log_writes_tensorboard_when_available_and_truncates_on_resume(tmp_path, monkeypatch):
    import types

    from train.metrics import MetricsLog

    calls = []

    class FakeWriter:
        def __init__(self, log_dir):
            calls.append(("init", log_dir))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def close(self):
            calls.append(("close",))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    log = MetricsLog(tmp_path, enabled=True, tensorboard=True, resume_step=None)
    for step in (1, 2, 3):
        log.write({"step": step, "loss": float(step)})
    log.close()
    assert ("loss", 2.0, 2) in calls and calls[0] == ("init", str(tmp_path / "tensorboard")) and calls[-1] == ("close",)
    MetricsLog(tmp_path, enabled=True, tensorboard=False, resume_step=2)  # a resumed run from step 2
    assert [r["step"] for r in _metrics(tmp_path)] == [1, 2]


def test_activation_checkpointing_trains_to_the_same_parameters_and_logs_padding_and_mfu(corpus, tmp_path):
    opts = dict(steps=4, save_every=4, dropout=0.1, peak_tflops=1.0)
    run(_cfg(corpus, tmp_path / "plain", **opts))
    run(_cfg(corpus, tmp_path / "ckpt", activation_checkpointing=True, **opts))
    a, b = _final_model(tmp_path / "plain"), _final_model(tmp_path / "ckpt")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    progress = [r for r in _metrics(tmp_path / "ckpt") if "loss" in r]
    assert all(0.0 < r["padding"] < 1.0 and r["model_tflops"] > 0 for r in progress)
    assert all(r["mfu"] == pytest.approx(r["model_tflops"] / 1.0) for r in progress)
