"""Stages survive retries: transient failures injected into every DoFn still give byte-identical output.

`faults.maybe_fail` (tests/faults.py) is the test-only hook (inert unless LONGLM_FAULT_RATE is set);
`faults.RetryingFnApiRunner` is the FnApiRunner plus bundle retries (Beam's own FnApiRunner fails
the job on the first error). Neither ships in the package. Here every DoFn the build uses is wrapped so that
it may fail before processing an element and again after processing it (after its side effects,
such as a shard file written, and before its outputs count), whether or not the stage itself
calls the hook yet.
"""

from __future__ import annotations

import functools
from pathlib import Path

import apache_beam as beam
import faults
import pytest
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.core import CallableWrapperDoFn
from faults import RetryingFnApiRunner

from pipelines.cli import main
from pipelines.corpus.sample import write_sample_corpus

SMALL_CONFIG = """
[output]
documents_shards = 3
examples_shards = 2
"""
OUR_PACKAGES = ("transforms", "pipelines", "schemas")


@pytest.fixture
def no_faults(monkeypatch):
    for name in (faults.ENV_RATE, faults.ENV_SEED, faults.ENV_SITES, faults.ENV_BUDGET):
        monkeypatch.delenv(name, raising=False)
    faults.reset()
    yield monkeypatch
    faults.reset()


def _fail_pattern(keys, site="s"):
    """Which keys fail on their first attempt, and whether a second attempt of each failure passes."""
    failed = []
    for key in keys:
        try:
            faults.maybe_fail(site, key)
        except faults.TransientFault:
            failed.append(key)
    for key in failed:
        faults.maybe_fail(site, key)  # the retry must pass
    return failed


def test_hook_is_inert_by_default(no_faults):
    for i in range(2000):
        faults.maybe_fail("anything", i)
    assert faults.active_plan() is None
    assert faults.injected() == [] and faults.attempted_sites() == set()


def test_rate_zero_is_off(no_faults):
    no_faults.setenv(faults.ENV_RATE, "0")
    assert _fail_pattern(range(500)) == []


def test_failures_follow_the_rate_and_repeat_exactly(no_faults):
    no_faults.setenv(faults.ENV_RATE, "0.3")
    no_faults.setenv(faults.ENV_BUDGET, "100000")
    first = _fail_pattern(range(2000))
    assert 0.25 * 2000 < len(first) < 0.35 * 2000
    assert [k for _, k, a in faults.injected()] and all(a == 1 for _, _, a in faults.injected())
    again = _fail_pattern(range(2000))
    assert again == []  # every key has passed once: it never fails again in this process
    faults.reset()
    assert _fail_pattern(range(2000)) == first  # deterministic per attempt
    no_faults.setenv(faults.ENV_SEED, "1")
    faults.reset()
    assert _fail_pattern(range(2000)) != first


def test_budget_and_sites_bound_the_failures(no_faults):
    no_faults.setenv(faults.ENV_RATE, "1")
    no_faults.setenv(faults.ENV_BUDGET, "3")
    no_faults.setenv(faults.ENV_SITES, "write*,manifest")
    assert len(_fail_pattern(range(50), "write:shard")) == 3
    assert len(_fail_pattern(range(50), "manifest")) == 3
    assert _fail_pattern(range(50), "ingest") == []
    assert faults.attempted_sites() == {"write:shard", "manifest"}


class _Flaky(beam.DoFn):
    def process(self, x):
        faults.maybe_fail("flaky", x)
        yield x * 2


class _Broken(beam.DoFn):
    def process(self, x):
        raise ValueError("permanent")


def test_retrying_runner_retries_failed_bundles(no_faults):
    no_faults.setenv(faults.ENV_RATE, "0.5")
    no_faults.setenv(faults.ENV_BUDGET, "5")
    with beam.Pipeline(runner=RetryingFnApiRunner()) as p:
        assert_that(p | beam.Create(range(40)) | beam.ParDo(_Flaky()), equal_to([2 * i for i in range(40)]))
    assert len(faults.injected()) == 5


def test_retrying_runner_gives_up_on_permanent_errors(no_faults):
    class Runner(RetryingFnApiRunner):
        max_attempts = 3

    with pytest.raises(Exception, match="permanent"):
        with beam.Pipeline(runner=Runner()) as p:
            _ = p | beam.Create([1]) | beam.ParDo(_Broken())


# --- the whole build -----------------------------------------------------------------------------


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _faulty(process, site: str):
    """`process` that may fail before the element and again after it (outputs held back until then)."""

    @functools.wraps(process)
    def wrapped(*args, **kwargs):
        element = args[1] if len(args) > 1 else None
        faults.maybe_fail(f"{site}:before", element)
        outputs = list(process(*args, **kwargs) or ())
        faults.maybe_fail(f"{site}:after", element)
        return outputs

    return wrapped


def _ours(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] in OUR_PACKAGES


def instrument_every_dofn(monkeypatch) -> None:
    """Wrap every DoFn class of this project, and every Map/FlatMap of one of its functions."""
    import pipelines.build.stages  # noqa: F401 - imports every stage module the build uses

    for cls in set(_subclasses(beam.DoFn)):
        if _ours(cls) and "process" in vars(cls):
            monkeypatch.setattr(cls, "process", _faulty(vars(cls)["process"], f"{cls.__module__}.{cls.__qualname__}"))
    original_init = CallableWrapperDoFn.__init__

    def init(self, fn, *args, **kwargs):
        original_init(self, fn, *args, **kwargs)
        user_fn = getattr(fn, "_argspec_fn", fn)
        if _ours(user_fn):
            inner, site = self.process, f"{user_fn.__module__}.{getattr(user_fn, '__qualname__', 'fn')}"

            def process(*a, **k):
                faults.maybe_fail(f"{site}:before", a[0] if a else None)
                outputs = list(inner(*a, **k) or ())
                faults.maybe_fail(f"{site}:after", a[0] if a else None)
                return outputs

            self.process = process

    monkeypatch.setattr(CallableWrapperDoFn, "__init__", init)


def _build(raw: Path, out: Path, cfg: Path, *flags: str) -> int:
    return main(["build", "--input", f"{raw}/*", "--output", str(out), "--config", str(cfg), *flags])


def _files(out: Path) -> dict[str, bytes]:
    """Every output file except run.json (wall time, host), by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "run.json"}


@pytest.mark.slow
def test_build_with_transient_failures_in_every_stage_is_byte_identical(no_faults, tmp_path):
    write_sample_corpus(str(tmp_path / "raw"), docs=16, seed=11)
    cfg = tmp_path / "corpus.toml"
    cfg.write_text(SMALL_CONFIG)
    assert _build(tmp_path / "raw", tmp_path / "clean", cfg, "--direct_running_mode=in_memory") == 0
    expected = _files(tmp_path / "clean")

    instrument_every_dofn(no_faults)
    # Every site fails exactly once (rate 1, budget 1 per site): the first element each DoFn sees
    # fails before it is processed and again after, and the bundle is retried each time.
    no_faults.setenv(faults.ENV_RATE, "1")
    no_faults.setenv(faults.ENV_BUDGET, "1")
    rc = _build(tmp_path / "raw", tmp_path / "faulty", cfg, "--runner=faults.RetryingFnApiRunner")
    assert rc == 0
    sites = faults.attempted_sites()
    failed = {site for site, _, _ in faults.injected()}
    assert any("_ReadPiece" in s for s in sites) and any("_WriteShard" in s for s in sites), sites
    assert failed == sites  # every instrumented DoFn failed (before and after its work) and recovered
    assert "transforms.shard_writer._WriteShard:after" in failed  # a shard written, then the worker "died"

    got = _files(tmp_path / "faulty")
    assert sorted(got) == sorted(expected)  # no stray temp files, nothing missing
    for rel in expected:
        assert got[rel] == expected[rel], rel
