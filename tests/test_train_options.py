"""train.options: the `train` flags are derived from TrainConfig; every flag of the hand-written parser
still parses to the same value, --help explains every flag, and bad values fail naming the key."""

import dataclasses

import pytest

from train.cli import build_parser, main
from train.options import TrainConfig, config_from_args

#: Every flag (with an example value) the hand-written parser had before the flags were derived.
OLD_FLAGS = {
    "--data": "d", "--out": "o", "--model": "tiny", "--steps": "7", "--resume": "ck", "--init-from": "hf",
    "--stop-at": "3", "--seed": "2", "--no-export": None, "--batch-size": "4", "--grad-accum": "2",
    "--num-workers": "0", "--shuffle-buffer": "64", "--max-input-len": "128", "--max-target-len": "64",
    "--vocab-size": "640", "--optimizer": "adafactor", "--lr": "3e-3", "--schedule": "linear",
    "--warmup-steps": "5", "--min-lr-ratio": "0.2", "--weight-decay": "0.1", "--clip-norm": "0.5",
    "--dropout": "0.0", "--precision": "fp32", "--log-every": "1", "--eval-every": "2", "--eval-batches": "3",
    "--save-every": "4", "--keep-checkpoints": "2", "--no-tensorboard": None, "--peak-tflops": "1.5",
    "--activation-checkpointing": None, "--dist-timeout-s": "60", "--device": "cpu", "--threads": "1",
}
EXPECTED = dict(data="d", out="o", model="tiny", steps=7, resume="ck", init_from="hf", stop_at=3, seed=2,
                export=False, batch_size=4, grad_accum=2, num_workers=0, shuffle_buffer=64, max_input_len=128,
                max_target_len=64, vocab_size=640, optimizer="adafactor", lr=3e-3, schedule="linear",
                warmup_steps=5, min_lr_ratio=0.2, weight_decay=0.1, clip_norm=0.5, dropout=0.0, precision="fp32",
                log_every=1, eval_every=2, eval_batches=3, save_every=4, keep_checkpoints=2, tensorboard=False,
                peak_tflops=1.5, activation_checkpointing=True, dist_timeout_s=60.0, device="cpu", threads=1)


def _parse(argv):
    return config_from_args(build_parser().parse_args(["train", *argv]))


def test_every_flag_of_the_hand_written_parser_still_parses_to_the_same_value():
    argv = []
    for flag, value in OLD_FLAGS.items():
        argv += [flag] if value is None else [flag, value]
    cfg = _parse(argv)
    for key, value in EXPECTED.items():
        assert getattr(cfg, key) == value, key
    assert _parse(["--data", "d", "--out", "o", "--resume"]).resume == "latest"  # bare --resume


def test_defaults_are_the_dataclass_defaults_and_every_field_has_a_flag():
    cfg = _parse(["--data", "d", "--out", "o"])
    assert cfg == TrainConfig(data="d", out="o")
    parser = build_parser()
    train = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    dests = {a.dest for a in train._actions}
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= dests


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + ("no-" if f.default is True else "") + f.name.replace("_", "-")
        assert flag in text, flag
        assert f.metadata["help"].split("(")[0].split()[0] in text, f.name
    assert "--sharding {none,zero1,fsdp}" in text and "--compile" in text


def test_bad_values_fail_naming_the_key(capsys):
    with pytest.raises(ValueError, match="sharding"):
        TrainConfig(data="d", out="o", sharding="zero3")
    with pytest.raises(ValueError, match="sharding: fsdp cannot step torch's Adafactor"):
        TrainConfig(data="d", out="o", sharding="fsdp", optimizer="adafactor")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(data="d", out="o", precision="fp8")
    with pytest.raises(ValueError, match="data"):
        TrainConfig(out="o")
    with pytest.raises(SystemExit):
        main(["train", "--data", "d", "--out", "o", "--steps", "many"])
    assert "--steps" in capsys.readouterr().err
