"""The embedded local runner: Beam's FnApiRunner with each stage's input fed as bounded bundles.

In-process, the FnApiRunner runs a stage as one bundle holding all of the stage's input: the input is
copied into the in-memory data channel, and the whole output sits in the channel and again in the
runner's buffer before the next stage reads it. The transient memory of a stage is then a few times
its data, so the process would grow with the corpus. :class:`BoundedBundleFnApiRunner` cuts a stage's
input into parts of about `max_bundle_bytes` encoded bytes (a grouped input: groups of keys holding
about `max_bundle_values` values) and runs them one after another, so only one part's copies are in
flight; after each stage it hands freed heap pages back to the OS (glibc's `malloc_trim`). What waits
between stages moves to a temporary file past a few MB (:mod:`pipelines.launch.spill_buffers`), so the
process no longer holds the corpus text while later stages run.

Bundling is the runner's choice in Beam's model, so outputs cannot depend on it: every stage of the
build is written to give the same bytes whatever the bundles (a test builds under tiny bundles and
compares every byte with the default). Stateful stages and stages with timers keep one bundle (Beam
itself never splits a stateful stage, and a timer must fire in the bundle that set it). The
worker-process modes (`--direct_running_mode=multi_processing`) get the same bounded bundles, as many
in flight as there are workers.
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor

from apache_beam.metrics import monitoring_infos
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.runners.portability.fn_api_runner.fn_runner import BundleManager, FnApiRunner, ParallelBundleManager

from pipelines.launch.spill_buffers import DEFAULT_SPILL_BYTES, SpillingBuffers, held_bytes

#: Encoded input bytes per bundle: small next to a local machine's memory, large enough that a stage
#: runs as few bundles (each costs a round of bundle setup and finish).
DEFAULT_MAX_BUNDLE_BYTES = 16 << 20
#: Values of a grouped input per bundle. A GroupByKey's values are held decoded, so they are counted, not
#: sized, and one value may stand for much work (a reshuffled file piece becomes megabytes of documents).
DEFAULT_MAX_BUNDLE_VALUES = 64
#: At most this many bundles per stage: the per-bundle cost stays bounded on stages of many tiny keys.
MAX_PARTS = 512


def buffer_parts(buffer, max_bytes: int, max_values: int) -> int:
    """How many bundles `buffer` (a runner input buffer) should be cut into: 1 when it is small."""
    if isinstance(buffer, execution.ListBuffer):
        return min(MAX_PARTS, max(1, math.ceil(held_bytes(buffer._inputs) / max_bytes)))  # noqa: SLF001
    if isinstance(buffer, execution.GroupingBuffer):
        table = buffer._table  # noqa: SLF001 - Beam exposes no size; the keys are what a part splits
        values = sum(len(v) for v in table.values())
        return max(1, min(len(table), MAX_PARTS, math.ceil(values / max_values)))
    return 1


class BoundedBundleManager(BundleManager):
    """Runs one stage's input as bundles of bounded size (module docstring): one after another
    in-process, `num_workers` in flight in the worker-process modes (Beam's ParallelBundleManager
    sends each worker a whole 1/num_workers of the input, held in the runner's outgoing and the
    worker's incoming data channel at once). `on_part` gets each bundle's InstructionResponse as it
    finishes (progress while a stage runs)."""

    def __init__(self, bundle_context_manager, progress_frequency, cache_token_generator, *,
                 max_bundle_bytes: int, max_bundle_values: int, on_part=None):
        super().__init__(bundle_context_manager, progress_frequency, cache_token_generator=cache_token_generator)
        self._max_bytes, self._max_values = max_bundle_bytes, max_bundle_values
        self._workers = bundle_context_manager.num_workers
        self._on_part = on_part or (lambda result: None)

    def process_bundle(self, inputs, expected_outputs, fired_timers, expected_output_timers, dry_run=False):
        parts = max([self._workers] + [buffer_parts(b, self._max_bytes, self._max_values) for b in inputs.values()])
        if parts == 1 or fired_timers or expected_output_timers:  # timers: as Beam runs them
            plain = BundleManager if self._workers == 1 else ParallelBundleManager
            return plain(self.bundle_context_manager, self._progress_frequency,
                         cache_token_generator=self._cache_token_generator).process_bundle(
                inputs, expected_outputs, fired_timers, expected_output_timers, dry_run)
        split_inputs = {name: buffer.partition(parts) for name, buffer in inputs.items()}
        # A grouped buffer partitioned before keeps its first partition: count the pieces actually returned.
        part_maps = [{name: pieces[ix] if ix < len(pieces) else [] for name, pieces in split_inputs.items()}
                     for ix in range(max(len(pieces) for pieces in split_inputs.values()))]

        def execute(part):
            done = BundleManager(self.bundle_context_manager, self._progress_frequency,
                                 cache_token_generator=self._cache_token_generator).process_bundle(
                part, expected_outputs, {}, expected_output_timers, dry_run)
            self._on_part(done[0])
            return done

        merged, splits = None, []
        with ThreadPoolExecutor(max_workers=self._workers) as executor:
            for result, split in (map(execute, part_maps) if self._workers == 1 else executor.map(execute, part_maps)):
                splits += split
                merged = result if merged is None else _merge(merged, result)
        return merged, splits


def _merge(a, b):
    """One InstructionResponse with the monitoring infos of both: the merge Beam's ParallelBundleManager
    does inline in its process_bundle (it has no function of its own to call)."""
    return beam_fn_api_pb2.InstructionResponse(
        process_bundle=beam_fn_api_pb2.ProcessBundleResponse(
            monitoring_infos=monitoring_infos.consolidate(
                itertools.chain(a.process_bundle.monitoring_infos, b.process_bundle.monitoring_infos))),
        error=b.error or a.error)


class BoundedBundleFnApiRunner(FnApiRunner):
    """FnApiRunner whose stages run as bounded bundles and whose buffers between stages spill to a
    temporary file past `spill_bytes` (:mod:`pipelines.launch.spill_buffers`), in every mode."""

    def __init__(self, max_bundle_bytes: int | None = None, max_bundle_values: int | None = None,
                 spill_bytes: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self._max_bundle_bytes = max_bundle_bytes or DEFAULT_MAX_BUNDLE_BYTES
        self._max_bundle_values = max_bundle_values or DEFAULT_MAX_BUNDLE_VALUES
        self._spill_bytes = spill_bytes or DEFAULT_SPILL_BYTES
        self._trim = _libc_trim()

    def _execute_bundle(self, runner_execution_context, bundle_context_manager, bundle_input):
        if not isinstance(runner_execution_context.pcoll_buffers, SpillingBuffers):  # this run's own map
            runner_execution_context.pcoll_buffers = SpillingBuffers(runner_execution_context.pcoll_buffers,
                                                                     self._spill_bytes)
        result = super()._execute_bundle(runner_execution_context, bundle_context_manager, bundle_input)
        if self._trim is not None:
            self._trim(0)
        return result

    def _get_bundle_manager(self, bundle_context_manager):
        if bundle_context_manager.stage.is_stateful():
            return super()._get_bundle_manager(bundle_context_manager)
        return BoundedBundleManager(
            bundle_context_manager, self._progress_frequency,
            cache_token_generator=FnApiRunner.get_cache_token_generator(static=False),
            max_bundle_bytes=self._max_bundle_bytes, max_bundle_values=self._max_bundle_values,
            on_part=self._part_finished)

    def _part_finished(self, result) -> None:
        """Called with each bounded bundle's InstructionResponse as it finishes (a hook for progress)."""


def _libc_trim():
    """glibc's malloc_trim, or None elsewhere: hands freed heap pages back to the OS."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
