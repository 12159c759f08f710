"""train/generate/export mistakes: one line and a safe state (issue 28 items 4, 5, 6, 17).

Usage errors exit 2 before anything is written, runtime failures exit 1, both with one line on stderr and
no traceback (--debug shows it); --resume takes a run folder; --out never mixes two runs; a fresh run
that fails leaves nothing behind; the export honours the umask.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from train.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = ["--model", "tiny", "--batch-size", "4", "--threads", "1", "--num-workers", "0", "--eval-every", "0",
        "--no-tensorboard", "--log-every", "1"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from train.synthetic import make_corpus

    return make_corpus(tmp_path_factory.mktemp("c") / "corpus", n_train_lines=80, n_val_lines=10, seed=3)


@pytest.fixture(scope="module")
def used_run(corpus, tmp_path_factory) -> Path:
    """A run stopped at step 2 of 4 with a checkpoint (no export)."""
    run = tmp_path_factory.mktemp("r") / "run"
    assert main(["train", "--data", str(corpus), "--out", str(run), "--steps", "4", "--stop-at", "2", *TINY]) == 0
    assert (run / "checkpoints" / "step-00000002" / "state.pt").is_file()
    return run


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_usage_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "raw"), "--out", str(out), *TINY]) == 2
    assert _one_line(capsys.readouterr().err) == f"longlm train: error: --data {tmp_path / 'raw'}: no such file or folder"
    assert main(["generate", "--model", str(tmp_path / "nosuch" / "hf"), "你好"]) == 2
    assert "--model" in _one_line(capsys.readouterr().err)
    assert main(["export", str(tmp_path)]) == 2
    assert "no checkpoint" in _one_line(capsys.readouterr().err)
    assert main(["train", "--data", str(tmp_path), "--out", str(out), "--sharding", "fsdp", "--optimizer", "adafactor",
                 *TINY]) == 2
    assert _one_line(capsys.readouterr().err).startswith("longlm train: error: sharding: fsdp cannot step")
    assert not out.exists()


def test_runtime_failure_is_one_line_exit_1_and_leaves_no_run(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text("你好")
    out = tmp_path / "run"
    assert main(["train", "--data", str(raw), "--out", str(out), *TINY]) == 1
    assert "manifest.json not found" in _one_line(capsys.readouterr().err)
    assert not out.exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["generate", "--debug", "--model", str(tmp_path), "你好"])


def test_python_m_train_prints_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "train", "--data", str(tmp_path / "raw"), "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert _one_line(done.stderr) == f"python -m train train: error: --data {tmp_path / 'raw'}: no such file or folder"


def test_resume_takes_a_run_folder(corpus, used_run, tmp_path, capsys):
    out = tmp_path / "run2"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--steps", "4", "--resume", str(used_run),
                 "--no-export", *TINY]) == 0
    assert f"resumed from {used_run / 'checkpoints' / 'step-00000002'} at step 2" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [3, 4]
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "run3"), "--steps", "4",
                 "--resume", str(used_run / "checkpoints"), "--no-export", *TINY]) == 0


def test_resume_of_a_folder_without_checkpoints_is_refused_before_writing(corpus, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for value in (tmp_path / "nosuch", empty):
        assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--resume", str(value), *TINY]) == 2
        assert f"--resume {value}:" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_failed_resume_leaves_no_new_run_behind(corpus, used_run, tmp_path, capsys):
    before = _tree(used_run)
    out = tmp_path / "run2"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--steps", "4", "--resume", str(used_run),
                 *TINY[:2], "--batch-size", "8", *TINY[4:]]) == 1
    assert "data stream differs" in _one_line(capsys.readouterr().err)
    assert not out.exists()  # no spiece.model, config.json or metrics.jsonl left behind
    assert _tree(used_run) == before


def test_a_used_run_is_not_mixed_with_a_new_one(corpus, used_run, capsys):
    before = _tree(used_run)
    assert main(["train", "--data", str(corpus), "--out", str(used_run), "--steps", "4", *TINY]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "already holds a run (1 checkpoint (latest step-00000002), metrics.jsonl)" in line
    assert "--resume" in line
    assert _tree(used_run) == before


def test_ctrl_c_before_the_first_checkpoint_leaves_no_run(corpus, tmp_path, capsys, monkeypatch):
    from train import trainer

    def interrupted(self):
        (self.run_dir / "metrics.jsonl").write_text("{}\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.Trainer, "fit", interrupted)
    out = tmp_path / "run"
    out.mkdir()  # an empty folder made beforehand stays, empty
    try:
        status = main(["train", "--data", str(corpus), "--out", str(out), "--steps", "4", *TINY])
    except KeyboardInterrupt:  # escaping, it would stop pytest itself
        pytest.fail("KeyboardInterrupt escaped train.cli.main")
    assert status == 130
    assert _one_line(capsys.readouterr().err).startswith("interrupted: no checkpoint was written")
    assert out.is_dir() and not any(out.iterdir())


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_export_honours_the_umask(umask, tmp_path):
    from train.config import PRESETS
    from train.export import export_hf
    from train.model import build_model

    cfg = PRESETS["tiny"].replace(vocab_size=128)
    previous = os.umask(umask)
    try:
        out = export_hf(build_model(cfg, seed=0).state_dict(), cfg, tmp_path / "hf")
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes["model.safetensors"] == 0o666 & ~umask, modes
    assert set(modes.values()) == {0o666 & ~umask}
