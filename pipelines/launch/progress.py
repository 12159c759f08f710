"""Progress lines while a build runs: the running stage (by our names), MB of input taken in and the
rate, the time left to take in the rest when the input size is known, and documents per stage.

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
#: Bytes of the input files ingest has taken in (counted per file as it is planned into pieces).
BYTES_READ = "ingest.bytes"
#: Our name for each top-level transform of the build (the stages, their failure handling, the writers).
STAGE_NAMES = {"ListInputs": "ingest", "LaterFailures": "rejects", "RejectFailed": "rejects",
               "CleanFailures": "rejects", "FlattenRejects": "rejects", "FlattenFiles": "manifest",
               "Counters": "manifest", "Manifest": "manifest"}


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


def _our_name(top: str) -> str:
    if top in STAGE_NAMES:
        return STAGE_NAMES[top]
    if top.startswith("Write"):  # WriteDocuments, WriteExamplesTrain -> "write"
        return "write"
    if top.startswith("Drop"):  # DropExamplesTrainOfFailed...: the failure handling of examples
        return "rejects"
    return top.lower()


def stage_label(transform_names) -> str:
    """Our name of a fused stage, from its transforms' full labels: the distinct build stages in order
    ("Ingest/Read", "Clean/Run" -> "ingest + clean"); Beam's internal ref_/fused names dropped."""
    names: list[str] = []
    for full in transform_names:
        top = full.split("/", 1)[0]
        if top and not top.startswith(("ref_", "fn/", "external_")) and _our_name(top) not in names:
            names.append(_our_name(top))
    return " + ".join(names[:4]) + (" + ..." if len(names) > 4 else "")


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


def format_line(snap: Snapshot, elapsed: float, previous: Snapshot | None, since: float,
                total_bytes: int | None = None) -> str:
    """One progress line: elapsed time, running stage, MB of input taken in (of the total, when known) and
    the rate, the time left to take in the rest, documents per stage."""
    c = snap.counters
    parts = [f"{elapsed:6.0f}s"]
    if snap.stage:
        parts.append(f"{snap.stage} ({time.time() - snap.stage_started:.0f}s in it)")
    read = c.get(BYTES_READ, 0)
    rate = _mb_per_s(snap, previous, since, elapsed)
    of = f" of {total_bytes / 1e6:,.1f}" if total_bytes else ""
    done = bool(total_bytes) and read >= total_bytes
    parts.append(f"input {read / 1e6:,.1f}{of} MB ({'all taken in' if done else f'{rate:,.2f} MB/s'})")
    if total_bytes and rate > 0 and not done:
        parts.append(f"eta {_clock((total_bytes - read) / 1e6 / rate)} to take in the rest")
    parts.append(f"{c.get('ingest.records', 0):,} documents read")
    for counter, label in DOC_COUNTERS[1:]:
        if counter in c:
            parts.append(f"{label} {c[counter]:,}")
    return " | ".join(parts)


def _mb_per_s(snap: Snapshot, previous: Snapshot | None, since: float, elapsed: float) -> float:
    """MB/s of input taken in since the previous line, or over the whole run when it did not move."""
    read = snap.counters.get(BYTES_READ, 0)
    if previous is not None and since > 0:
        delta = read - previous.counters.get(BYTES_READ, 0)
        if delta > 0:
            return delta / 1e6 / since
    return read / 1e6 / elapsed if elapsed > 0 else 0.0


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressReporter:
    """Logs one progress line every `interval` seconds from `source()` (a Snapshot, None: skip) until stopped.

    Use as a context manager around the wait for the job. A failing source is logged once and the
    reporter stops: progress must never fail a build.
    """

    def __init__(self, source, interval: float = DEFAULT_INTERVAL, log: logging.Logger = LOG,
                 total_bytes: int | None = None):
        self._source, self._interval, self._log, self._total = source, interval, log, total_bytes
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
            self._log.info("progress %s", format_line(snap, now - self._started, previous, now - last, self._total))
            previous, last = snap, now


class Watch:
    """Progress for one build: picks the source for the runner and reports while the job runs.

    `runner` is the runner to build the pipeline with (None: the one the options name); `total_bytes`, the
    size of the input when known, gives the lines an ETA. Use:
    ``with watch: result = p.run(); watch.result = result; result.wait_until_finish()``.
    Disabled (a no-op) with `enabled=False` (--quiet) and on Dataflow, whose UI shows the counters.
    """

    def __init__(self, options, enabled: bool = True, interval: float = DEFAULT_INTERVAL,
                 total_bytes: int | None = None):
        from pipelines.launch.options import runner_name

        name = runner_name(options)
        self.enabled = enabled and name != "dataflow"
        self.tracker = ProgressTracker() if self.enabled and name == "fnapi" else None
        # The FnApiRunner named by the options is always the bounded-bundle one, with progress or without.
        self.runner = (ProgressFnApiRunner(self.tracker) if self.tracker
                       else BoundedBundleFnApiRunner() if name == "fnapi" else None)
        self.result = None
        self._reporter = ProgressReporter(self._snapshot, interval, total_bytes=total_bytes) if self.enabled else None

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
