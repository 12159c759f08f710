"""Smoke test of the bench machinery (`python -m bench --quick` at a tiny size): it runs end to end and
its results have the promised structure. No timing assertions: speed is what the bench reports."""

from __future__ import annotations

import json

import pytest

from bench import __main__ as bench_main
from bench.bench_pipeline import Settings, build_configs, derived
from bench.common import balanced_groups, combine_runs, med, run_measured


def test_combine_runs_takes_medians_and_keeps_runs():
    runs = [{"a": 3.0, "n": {"b": 1}, "s": "x", "ok": True}, {"a": 1.0, "n": {"b": 5}, "s": "x", "ok": True},
            {"a": 2.0, "n": {"b": 2}, "s": "y", "ok": True}]
    out = combine_runs(runs)
    assert out["a"] == {"median": 2.0, "runs": [3.0, 1.0, 2.0]}
    assert med(out, "n", "b") == 2.0
    assert out["s"] == ["x", "y"] and out["ok"] is True
    assert med(out, "missing") is None


def test_balanced_groups_partition_files_evenly(tmp_path):
    sizes = [900, 700, 500, 400, 300, 200, 100, 100]
    paths = []
    for i, size in enumerate(sizes):
        p = tmp_path / f"f{i}.txt"
        p.write_bytes(b"x" * size)
        paths.append(p)
    groups = balanced_groups(paths, 2)
    assert sorted(p for g in groups for p in g) == sorted(paths)  # a partition: every file exactly once
    totals = [sum(p.stat().st_size for p in g) for g in groups]
    assert abs(totals[0] - totals[1]) <= max(sizes)
    assert balanced_groups(list(reversed(paths)), 2) == groups  # deterministic, order-independent


def test_run_measured_counts_the_child_tree():
    code = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'x = bytearray(50_000_000); sum(range(3_000_000))'])"
    m = run_measured([__import__("sys").executable, "-c", code], interval=0.02)
    assert m["returncode"] == 0
    assert m["cpu_s"] > 0 and m["wall_s"] >= 0
    assert m["peak_tree_rss_mb"] >= m["peak_process_rss_mb"] > 0


def test_derived_scaling_figures_from_build_runs():
    s = Settings(sizes=(1, 2, 4), workers=("inproc", "1", "2"))
    runs = {(1, "inproc"): {"seconds": 12.0}, (1, "1"): {"seconds": 16.0}}
    for k, seconds, rss in ((1, 10.0, 100.0), (2, 16.0, 110.0), (4, 28.0, 150.0)):
        runs[(k, "2")] = {"seconds": seconds, "input_mb": 5.0 * k, "peak_tree_rss_mb": rss}
    d = derived(runs, s)
    assert d["speedup_2_vs_1"] == pytest.approx(16.0 / 10.0)
    assert d["speedup_2_vs_inproc"] == pytest.approx(12.0 / 10.0)
    assert d["4x_time_per_size"] == pytest.approx(28.0 / 10.0 / 4.0)
    assert d["2x_rss_ratio"] == pytest.approx(1.1)
    assert d["marginal_mb_per_s"] == pytest.approx(15.0 / 18.0)  # (20 - 5) MB over (28 - 10) s
    assert d["fixed_seconds"] == pytest.approx(10.0 - 5.0 / (15.0 / 18.0))
    assert build_configs(s) == [(1, "inproc"), (1, "1"), (1, "2"), (2, "2"), (4, "2")]


def test_quick_bench_writes_results_with_every_section(tmp_path, capsys):
    out = tmp_path / "results.json"
    # one tiny in-process build keeps this under 30 s; the multi-process tree is covered above
    results = bench_main.main(["--quick", "--sizes", "1", "--workers", "inproc", "--output", str(out)])
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["machine"]["cores"] >= 1 and written["machine"]["packages"]["apache-beam"]
    p = written["figures"]["pipeline"]
    # vocab: trained once per repeat, figures are {"median", "runs"}
    assert p["vocab"]["seconds"]["median"] > 0 and len(p["vocab"]["seconds"]["runs"]) == 1
    # every stage: loop and pipeline measured (same row counts, checked inside), their ratio reported
    for name in ("ingest", "clean", "dedupe", "boilerplate", "examples", "write"):
        stage = p["stages"][name]
        for key in ("loop_mb_per_cpu_s", "pipeline_mb_per_cpu_s", "beam_overhead"):
            assert stage[key]["median"] > 0
    assert p["stages"]["examples"]["rows"]["train"]["median"] > 0
    builds = p["builds"]
    assert builds["largest"] == "1x_workers_inproc"
    build = builds["1x_workers_inproc"]
    assert build["peak_tree_rss_mb"]["median"] > 0 and build["mb_per_s_per_core"]["median"] > 0
    assert 0 < build["kept_documents"]["median"] <= build["read_documents"]["median"]
    # the printed table holds the whole-build headline and a row per stage; results.json the same rows
    printed = capsys.readouterr().out
    assert "| section | figure | median |" in printed
    assert "whole build" in printed and "total:" in printed
    assert sum("MB/s per core, loop / pipeline" in row["figure"] for row in written["table"]) == 7
    assert len(written["table"]) == len(results["table"])
    assert written["scale_plan"]["rates"]
    # the table, limits and plan can be recomputed from the saved figures alone, identically
    again = bench_main.main(["--from-results", str(out), "--output", str(tmp_path / "again.json")])
    assert again["table"] == written["table"] and again["scale_plan"] == written["scale_plan"]


def test_unknown_section_is_refused():
    with pytest.raises(SystemExit):
        bench_main.parse_args(["--only", "nonsense"])


def test_longline_bench_runs_small_and_reports_growth(capsys):
    from bench import bench_longline

    figures = bench_longline.main(["--mb", "0.4"])
    assert [r["segments"] > 0 for r in figures["runs"]] == [True, True, True]
    assert set(figures["growth_per_doubling"]) == {"rejoin_s", "cut_long_s", "segment_s", "regex_pass_s"}
    assert "growth per doubling" in capsys.readouterr().out
