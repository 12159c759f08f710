"""Progress lines while a build runs: the running stage, documents and MB done, and a rate.

Source: the Beam metrics counters every stage increments (:func:`transforms.stats.stat`), the same
ones the Dataflow / Flink UIs show. Two ways to read them while the job runs:

* Local default runner: Beam's FnApiRunner runs the whole job inside `Pipeline.run()` and has no
  result to poll until it ends, so :class:`ProgressFnApiRunner` (the same runner) adds up each
  finished bundle's user counters and remembers the fused stage that is running.
* Runners whose `run()` returns at once (portable, Flink, Spark): `PipelineResult.metrics()` is
  polled (:func:`result_snapshot`). Dataflow shows the counters in its UI; nothing is polled there.

A :class:`ProgressReporter` thread turns snapshots into one log line every `interval` seconds. The
counts move when a bundle finishes (the local runner cuts a stage's input into bounded bundles), so a
long stage shows its name and the time spent in it between two counts. Progress never changes
what is built: it only reads counters.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from apache_beam.metrics import monitoring_infos

from pipelines.launch.local_runner import BoundedBundleFnApiRunner

LOG = logging.getLogger("longlm.progress")

#: Seconds between two progress lines.
DEFAULT_INTERVAL = 5.0
#: (counter, label) of the documents each stage has handled, in pipeline order.
DOC_COUNTERS = (
    ("ingest.records", "read"),
    ("clean.docs_in", "cleaned"),
    ("dedupe.input_docs", "deduped"),
    ("segment.documents", "segmented"),
)
BYTES_COUNTER = "ingest.bytes"


def interval_seconds(text: str) -> float:
    """argparse type of --progress-every: seconds > 0."""
    import argparse

    try:
        value = float(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from e
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0 (use --quiet for no progress lines)")
    return value


@dataclass
class Snapshot:
    """What a progress line reports: counters so far, the running stage, stages done of all."""

    counters: dict = field(default_factory=dict)
    stage: str = ""
    stage_started: float = 0.0
    stages_done: int = 0
    stages_total: int = 0


def stage_label(transform_names) -> str:
    """Readable name of a fused stage from its transforms' full labels: the distinct top-level labels
    in order ("Ingest/Read", "Clean/Run" -> "Ingest+Clean"), Beam's internal ref_/fused names dropped."""
    tops: list[str] = []
    for name in transform_names:
        top = name.split("/", 1)[0]
        if top and not top.startswith(("ref_", "fn/", "external_")) and top not in tops:
            tops.append(top)
    return "+".join(tops[:4]) + ("+..." if len(tops) > 4 else "")


class ProgressTracker:
    """Thread-safe running totals of user counters and the running stage (fed by the runner)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._snap = Snapshot()
        self._done: set[str] = set()
        self._partial: dict[str, int] = {}  # counters of the running stage's finished bounded bundles

    @staticmethod
    def _add(into: dict, infos) -> None:
        for mi in infos:
            if mi.urn == monitoring_infos.USER_COUNTER_URN:
                key = f"{mi.labels[monitoring_infos.NAMESPACE_LABEL]}.{mi.labels[monitoring_infos.NAME_LABEL]}"
                into[key] = into.get(key, 0) + int(monitoring_infos.extract_counter_value(mi))

    def part_finished(self, infos) -> None:
        """One bounded bundle of the running stage finished: its counters show until the stage ends."""
        with self._lock:
            self._add(self._partial, infos)

    def stage_started(self, label: str, total: int) -> None:
        with self._lock:
            if self._snap.stage != label:
                self._snap.stage, self._snap.stage_started = label, time.time()
            self._snap.stages_total = total

    def bundle_finished(self, name: str, infos) -> None:
        """Stage `name` finished with the counters `infos` (all its bundles): they replace the partials."""
        with self._lock:
            self._partial = {}
            self._add(self._snap.counters, infos)
            self._done.add(name)
            self._snap.stages_done = len(self._done)

    def snapshot(self) -> Snapshot:
        with self._lock:
            s = self._snap
            counters = dict(s.counters)
            for key, value in self._partial.items():
                counters[key] = counters.get(key, 0) + value
            return Snapshot(counters, s.stage, s.stage_started, s.stages_done, s.stages_total)


class ProgressFnApiRunner(BoundedBundleFnApiRunner):
    """The embedded runner (:mod:`pipelines.launch.local_runner`) that also feeds a :class:`ProgressTracker` after every
    bounded bundle (a stage's counters grow while it runs) and every stage."""

    def __init__(self, tracker: ProgressTracker, **kwargs):
        super().__init__(**kwargs)
        self.tracker = tracker

    def _execute_bundle(self, runner_execution_context, bundle_context_manager, bundle_input):
        stage = bundle_context_manager.stage
        self.tracker.stage_started(stage_label(t.unique_name for t in stage.transforms),
                                   len(runner_execution_context.stages))
        result = super()._execute_bundle(runner_execution_context, bundle_context_manager, bundle_input)
        self.tracker.bundle_finished(stage.name, result.process_bundle.monitoring_infos)
        return result

    def _part_finished(self, result) -> None:
        self.tracker.part_finished(result.process_bundle.monitoring_infos)


def result_snapshot(result) -> Snapshot:
    """Counters (attempted values) of a running job from `PipelineResult.metrics()`."""
    counters: dict[str, int] = {}
    for c in result.metrics().query()["counters"]:
        key = f"{c.key.metric.namespace}.{c.key.metric.name}"
        counters[key] = counters.get(key, 0) + int(c.attempted or c.committed or 0)
    return Snapshot(counters=counters)


def format_line(snap: Snapshot, elapsed: float, previous: Snapshot | None, since: float) -> str:
    """One progress line: elapsed time, running stage, input MB planned, documents per stage, the doc rate."""
    c = snap.counters
    parts = [f"{elapsed:6.0f}s"]
    if snap.stage:
        parts.append(f"stage {snap.stage} ({snap.stages_done}/{snap.stages_total} done, "
                     f"{time.time() - snap.stage_started:.0f}s in it)")
    mb = c.get(BYTES_COUNTER, 0) / 1e6
    # ingest.bytes is counted as files are planned (hashed), documents as pieces are parsed: two numbers
    parts.append(f"input {mb:,.1f} MB planned | read {c.get('ingest.records', 0):,} docs")
    for counter, label in DOC_COUNTERS[1:]:
        if counter in c:
            parts.append(f"{label} {c[counter]:,}")
    moved = _rate(snap, previous, since)
    if moved:
        parts.append(moved)
    return " | ".join(parts)


def _rate(snap: Snapshot, previous: Snapshot | None, since: float) -> str:
    """docs/s of the furthest stage whose document count moved since the previous line."""
    if previous is None or since <= 0:
        return ""
    for counter, label in reversed(DOC_COUNTERS):
        delta = snap.counters.get(counter, 0) - previous.counters.get(counter, 0)
        if delta > 0:
            return f"{delta / since:,.1f} docs/s ({label})"
    return ""


class ProgressReporter:
    """Logs one progress line every `interval` seconds from `source()` (a Snapshot, None: skip) until stopped.

    Use as a context manager around the wait for the job. A failing source is logged once and the
    reporter stops: progress must never fail a build.
    """

    def __init__(self, source, interval: float = DEFAULT_INTERVAL, log: logging.Logger = LOG):
        self._source, self._interval, self._log = source, interval, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="longlm-progress", daemon=True)
        self._started = time.time()

    def __enter__(self):
        self._started = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)

    def _loop(self):
        previous, last = None, self._started
        while not self._stop.wait(self._interval):
            try:
                snap = self._source()
            except Exception as e:  # noqa: BLE001 - progress is best effort
                self._log.info("progress: counters unavailable (%s); no more progress lines", e)
                return
            if snap is None:
                continue
            now = time.time()
            self._log.info("progress %s", format_line(snap, now - self._started, previous, now - last))
            previous, last = snap, now


class Watch:
    """Progress for one build: picks the source for the runner and reports while the job runs.

    `runner` is the runner to build the pipeline with (None: the one the options name). Use:
    ``with watch: result = p.run(); watch.result = result; result.wait_until_finish()``.
    Disabled (a no-op) with `enabled=False` (--quiet) and on Dataflow, whose UI shows the counters.
    """

    def __init__(self, options, enabled: bool = True, interval: float = DEFAULT_INTERVAL):
        from pipelines.launch.options import runner_name

        name = runner_name(options)
        self.enabled = enabled and name != "dataflow"
        self.tracker = ProgressTracker() if self.enabled and name == "fnapi" else None
        # The FnApiRunner named by the options is always the bounded-bundle one, with progress or without.
        self.runner = (ProgressFnApiRunner(self.tracker) if self.tracker
                       else BoundedBundleFnApiRunner() if name == "fnapi" else None)
        self.result = None
        self._reporter = ProgressReporter(self._snapshot, interval) if self.enabled else None

    def _snapshot(self) -> Snapshot | None:
        if self.tracker is not None:
            return self.tracker.snapshot()
        if self.result is None:  # a runner whose run() blocks (DirectRunner...): nothing to read until it ends
            return None
        return result_snapshot(self.result)

    def __enter__(self):
        if self._reporter:
            self._reporter.__enter__()
        return self

    def __exit__(self, *exc):
        if self._reporter:
            self._reporter.__exit__(*exc)
