"""The FnApiRunner's multi-process mode loses elements at stage hand-offs at a few hundred MB (bench/README.md,
"Performance diary"): the reproduction, kept runnable but skipped by default (each build takes minutes).

    LONGLM_STRESS=1 .venv/bin/python -m pytest -q tests/test_runner_data_loss.py

Both tests build 8 band-permuted copies of the shared novels (374 MB) three times. The default local
runner must hold the accounting identity with one manifest hash; multi_processing with 2 workers is
expected to fail the identity in some run (xfail, not strict: a lucky series passes).
"""

import os

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("LONGLM_STRESS") != "1", reason="stress reproduction: set LONGLM_STRESS=1")


def _stress(tmp_path, flags):
    from bench import bench_scale

    return bench_scale.stress(3, 8, tmp_path, flags)


def test_default_local_runner_holds_the_identity_at_374_mb(tmp_path, shared_corpus):
    result = _stress(tmp_path, [])
    assert result["ok"], [r["accounting"] for r in result["runs"]]


@pytest.mark.xfail(reason="Beam 2.77 FnApiRunner multi_processing drops elements at stage hand-offs", strict=False)
def test_multi_processing_holds_the_identity_at_374_mb(tmp_path, shared_corpus):
    result = _stress(tmp_path, ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert result["ok"], [r["accounting"] for r in result["runs"]]
