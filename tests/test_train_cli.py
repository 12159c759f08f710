"""train.cli: subcommands, help, end-to-end train -> generate -> export; train/ never loads Beam."""

import subprocess
import sys
from pathlib import Path

import pytest

from train.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_importing_every_train_module_does_not_load_apache_beam_or_transformers():
    code = (
        "import importlib, pkgutil, sys\n"
        "import train\n"
        "names = [m.name for m in pkgutil.iter_modules(train.__path__)]\n"
        "assert {'model', 'data', 'trainer', 'cli', 'export', 'generate', 'checkpoint'} <= set(names), names\n"
        "for name in names:\n"
        "    importlib.import_module('train.' + name)\n"
        "from train.cli import build_parser\n"
        "build_parser()\n"
        "for banned in ('apache_beam', 'transformers'):\n"
        "    loaded = sorted(m for m in sys.modules if m == banned or m.startswith(banned + '.'))\n"
        "    assert not loaded, loaded\n"
        "print('ok', len(names))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


@pytest.mark.parametrize("command,needles", [
    ("train", ["--data", "--model", "--out", "--steps", "--batch-size", "--lr", "--resume", "--grad-accum",
               "--optimizer", "--eval-every", "--save-every", "torchrun"]),
    ("generate", ["--model", "--top-p", "--max-length", "--seed", "prompt"]),
    ("export", ["RUN", "--checkpoint"]),
])
def test_subcommand_help(command, needles, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for needle in needles:
        assert needle in text, needle


def test_bad_arguments_exit_with_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--model", "tiny"])  # --data and --out missing
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        main(["train", "--data", "d", "--out", "o", "--model", "huge"])
    assert "invalid choice" in capsys.readouterr().err


def test_train_then_generate_then_export(tmp_path, capsys):
    from train.synthetic import make_corpus

    corpus = make_corpus(tmp_path / "corpus", n_train_lines=100, n_val_lines=20, seed=4)
    run_dir = tmp_path / "run"
    status = main(["train", "--data", str(corpus), "--model", "tiny", "--out", str(run_dir), "--steps", "3",
                   "--batch-size", "4", "--threads", "1", "--num-workers", "0", "--eval-every", "3",
                   "--no-tensorboard"])
    assert status == 0
    assert (run_dir / "hf" / "config.json").is_file()
    capsys.readouterr()
    assert main(["generate", "--model", str(run_dir / "hf"), "小咕噜对，", "--seed", "0", "--max-length", "20"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("小咕噜对，")
    assert main(["generate", "--model", str(run_dir), "一丁", "--greedy", "--num-samples", "2", "--max-length", "8"]) == 0
    greedy = capsys.readouterr().out.strip().splitlines()
    assert len(greedy) == 2 and greedy[0] == greedy[1]
    (run_dir / "hf" / "model.safetensors").unlink()
    assert main(["export", str(run_dir)]) == 0
    assert (run_dir / "hf" / "model.safetensors").is_file() and (run_dir / "hf" / "tokenizer.json").is_file()


def test_module_entry_point_takes_the_same_flags_as_longlm_train():
    from train.__main__ import _argv
    from train.cli import build_parser

    flags = ["--data", "corpus", "--out", "run", "--model", "tiny", "--steps", "7", "--lr", "3e-3"]
    implied = build_parser().parse_args(_argv(flags))
    named = build_parser().parse_args(["train", *flags])
    assert vars(implied) == vars(named) and implied.command == "train" and implied.steps == 7
    assert _argv(["export", "run"]) == ["export", "run"]  # other subcommands still reachable
    assert _argv(["train", *flags]) == ["train", *flags]  # the older spelling keeps working
