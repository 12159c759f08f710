"""The embedded runner cuts a stage's input into bounded bundles: same results, more bundles, same build bytes."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, execution
from apache_beam.testing.util import assert_that, equal_to

from pipelines.corpus.sample import write_sample_corpus
from pipelines.launch import local_runner
from pipelines.launch.local_runner import BoundedBundleFnApiRunner, buffer_parts
from tests.test_build_e2e import build


class _CountBundles(beam.DoFn):
    def __init__(self):
        self._bundles = Metrics.counter("test", "bundles")

    def start_bundle(self):
        self._bundles.inc()

    def process(self, x):
        yield x % 7, x


EXPECTED = [(k, [x for x in range(3000) if x % 7 == k]) for k in range(7)]


def _bundles(runner, *flags: str) -> int:
    """Run the test pipeline on `runner` (its groups checked against EXPECTED); how many bundles counted."""
    p = beam.Pipeline(runner=runner, options=PipelineOptions(list(flags)))
    groups = (p | beam.Create(list(range(3000))) | beam.Reshuffle() | beam.ParDo(_CountBundles())
              | beam.GroupByKey() | beam.MapTuple(lambda k, vs: (k, sorted(vs))))
    assert_that(groups, equal_to(EXPECTED))
    result = p.run()
    result.wait_until_finish()
    return sum(c.committed for c in result.metrics().query(MetricsFilter().with_name("bundles"))["counters"])


def test_list_buffer_parts_follow_the_encoded_bytes():
    buf = execution.ListBuffer(None)
    for _ in range(10):
        buf.append(b"x" * 1000)
    assert buffer_parts(buf, max_bytes=2500, max_values=10**9) == 4
    assert buffer_parts(buf, max_bytes=10**6, max_values=10**9) == 1


def test_small_bundles_give_the_same_groups_as_one_bundle():
    one = _bundles(FnApiRunner())
    many = _bundles(BoundedBundleFnApiRunner(max_bundle_bytes=2048, max_bundle_values=5))
    assert many > one  # the input really was cut into several bundles, and the groups still equal EXPECTED


def test_worker_modes_also_cut_a_stage_into_bounded_bundles():
    # multi_threading takes the same path as multi_processing (two workers, bounded bundles two at a time)
    # without worker processes that could not import this module; test_build_e2e builds with processes.
    flags = ("--direct_running_mode=multi_threading", "--direct_num_workers=2")
    one = _bundles(FnApiRunner(), *flags)  # Beam's parallel manager: one bundle per worker and stage
    many = _bundles(BoundedBundleFnApiRunner(max_bundle_bytes=2048, max_bundle_values=5), *flags)
    assert many > one  # and the groups still equal EXPECTED


def test_build_under_tiny_bundles_is_byte_identical(tmp_path, monkeypatch):
    write_sample_corpus(str(tmp_path / "raw"), docs=12, seed=5)
    assert build(tmp_path / "raw", tmp_path / "one", tmp_path) == 0
    parts = []
    real = local_runner.buffer_parts
    monkeypatch.setattr(local_runner, "buffer_parts", lambda *a: parts.append(real(*a)) or parts[-1])
    monkeypatch.setattr(local_runner, "DEFAULT_MAX_BUNDLE_BYTES", 4096)
    monkeypatch.setattr(local_runner, "DEFAULT_MAX_BUNDLE_VALUES", 4)
    assert build(tmp_path / "raw", tmp_path / "many", tmp_path) == 0
    assert max(parts) > 1

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != "run.json"}
    one, many = files(tmp_path / "one"), files(tmp_path / "many")
    assert sorted(one) == sorted(many)
    for rel in one:
        assert one[rel] == many[rel], rel


def test_progress_counts_grow_while_a_stage_runs_and_add_up_once():
    from pipelines.launch.progress import ProgressFnApiRunner, ProgressTracker

    tracker, seen = ProgressTracker(), []
    real = tracker.part_finished

    def recording(infos):
        real(infos)
        seen.append(tracker.snapshot().counters.get("test.bundles", 0))

    tracker.part_finished = recording
    bundles = _bundles(ProgressFnApiRunner(tracker, max_bundle_bytes=2048, max_bundle_values=5))
    assert len(seen) > 1 and seen == sorted(seen) and seen[0] < bundles  # counted part by part, mid-stage
    assert tracker.snapshot().counters["test.bundles"] == bundles  # the stage's total replaced its parts
