"""bench.bench_train runs end to end (figures only; speed itself is never asserted)."""

import pytest

pytest.importorskip("transformers")


def test_bench_train_main_returns_and_prints_its_figures(capsys):
    from bench.bench_train import main

    figures = main(["--preset", "tiny", "--vocab", "640", "--threads", "1", "--rounds", "1", "--steps", "1",
                    "--batch-size", "2", "--src-len", "16", "--tgt-len", "8"])
    assert figures["cpu_initial_loss_difference"] < 1e-4  # both models compute the same thing
    for key in ("cpu_ours_tokens_per_s", "cpu_transformers_tokens_per_s", "cpu_speed_ratio_ours_vs_transformers",
                "cpu_time_ratio_ours_vs_transformers"):
        assert figures[key] > 0
    from train.config import count_parameters, preset

    assert figures["cpu_parameters"] == count_parameters(preset("tiny", vocab_size=640))
    printed = capsys.readouterr().out
    assert "cpu_speed_ratio_ours_vs_transformers" in printed and "gpu" in printed


def test_bench_train_sharding_measures_two_gloo_processes_per_kind():
    from bench.bench_train import bench_sharding, parse_args

    args = parse_args(["--preset", "tiny", "--vocab", "640", "--threads", "1", "--steps", "1", "--batch-size", "2",
                       "--src-len", "16", "--tgt-len", "8", "--sharding", "none,zero1"])
    figures = bench_sharding(args)
    assert set(figures) == {f"dist2_tiny_{kind}_{what}" for kind in ("none", "zero1")
                            for what in ("tokens_per_s", "peak_rss_mb_per_rank")}
    assert all(figures[f"dist2_tiny_{kind}_tokens_per_s"] > 0 for kind in ("none", "zero1"))
