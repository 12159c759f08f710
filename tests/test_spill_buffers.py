"""The runner's buffers spill to disk past a size and read back exactly what a plain buffer holds."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import coders
from apache_beam.coders.coder_impl import create_OutputStream
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, window
from apache_beam.utils import windowed_value

from pipelines.launch import local_runner
from pipelines.launch.local_runner import BoundedBundleFnApiRunner
from pipelines.launch.spill_buffers import (
    SpilledChunks,
    SpillingBuffers,
    SpillingGroupingBuffer,
    SpillingListBuffer,
    held_bytes,
)

KV = coders.WindowedValueCoder(coders.TupleCoder([coders.StrUtf8Coder(), coders.BytesCoder()]),
                               coders.GlobalWindowCoder())
GROUPED = coders.WindowedValueCoder(
    coders.TupleCoder([coders.StrUtf8Coder(), coders.IterableCoder(coders.BytesCoder())]),
    coders.GlobalWindowCoder())


def _chunks(n=40):
    return [bytes([i % 251]) * (100 + 37 * i) for i in range(n)]


def _encoded(pairs) -> bytes:
    out = create_OutputStream()
    for key, value in pairs:
        KV.get_impl().encode_to_stream(windowed_value.WindowedValue((key, value), 0, (window.GlobalWindow(),)), out,
                                       True)
    return out.get()


def _pairs(n=300):
    return [(f"k{i % 7}", f"value {i} ".encode() * (1 + i % 5)) for i in range(n)]


def _grouped(buffer, n: int) -> list[list]:
    """Each part of `buffer.partition(n)` decoded to sorted (key, values) pairs."""
    parts = []
    for part in buffer.partition(n):
        groups = []
        for data in part:
            stream = execution.create_InputStream(data)
            while stream.size() > 0:
                key, values = GROUPED.get_impl().decode_from_stream(stream, True).value
                groups.append((key, list(values)))
        parts.append(sorted(groups))
    return parts


def test_list_buffer_spills_past_its_limit_and_reads_back_the_same_chunks():
    plain, spilling = execution.ListBuffer(None), SpillingListBuffer(None, spill_bytes=1000)
    for chunk in _chunks():
        plain.append(chunk)
        spilling.append(chunk)
    assert isinstance(spilling._inputs, SpilledChunks)  # noqa: SLF001 - it really went to disk
    assert list(spilling) == list(plain)
    assert held_bytes(spilling._inputs) == sum(map(len, _chunks()))  # noqa: SLF001
    assert [list(p) for p in spilling.partition(3)] == [list(p) for p in plain.partition(3)]
    copy = spilling.copy()
    spilling.clear()
    assert list(copy) == list(plain)  # a copy outlives the buffer it came from


def test_list_buffer_under_its_limit_stays_in_memory_and_extend_spills_when_it_grows():
    small = SpillingListBuffer(None, spill_bytes=10**6)
    for chunk in _chunks(5):
        small.append(chunk)
    assert isinstance(small._inputs, list)  # noqa: SLF001
    big = SpillingListBuffer(None, spill_bytes=1000)
    for chunk in _chunks():
        big.append(chunk)
    small._spill_bytes = 2000  # noqa: SLF001
    small.extend(big)
    assert isinstance(small._inputs, SpilledChunks)  # noqa: SLF001
    assert list(small) == _chunks(5) + _chunks()


def _grouping(cls, **kwargs):
    return cls(KV, GROUPED, core.Windowing(window.GlobalWindows()), **kwargs)


def test_grouping_buffer_spills_and_groups_the_same_values():
    plain, spilling = _grouping(execution.GroupingBuffer), _grouping(SpillingGroupingBuffer, spill_bytes=500)
    pairs = _pairs()
    for start in range(0, len(pairs), 25):
        data = _encoded(pairs[start:start + 25])
        plain.append(data)
        spilling.append(data)
    assert spilling._file is not None  # noqa: SLF001
    assert _grouped(spilling, 3) == _grouped(plain, 3)


def test_grouping_buffers_merge_whichever_of_them_spilled():
    pairs = _pairs()
    for first_limit, second_limit in ((500, 10**9), (10**9, 500), (500, 500)):
        first = _grouping(SpillingGroupingBuffer, spill_bytes=first_limit)
        second = _grouping(SpillingGroupingBuffer, spill_bytes=second_limit)
        first.append(_encoded(pairs[:150]))
        second.append(_encoded(pairs[150:]))
        first.extend(second)
        assert _grouped(first, 1) == _grouped(_grouping_of(pairs), 1), (first_limit, second_limit)


def _grouping_of(pairs):
    buffer = _grouping(execution.GroupingBuffer)
    buffer.append(_encoded(pairs))
    return buffer


def test_buffer_map_makes_the_runners_buffers_spilling_ones():
    buffers = SpillingBuffers({}, spill_bytes=123)
    buffers[b"a"] = execution.ListBuffer(None)
    buffers[b"b"] = _grouping(execution.GroupingBuffer)
    assert isinstance(buffers[b"a"], SpillingListBuffer) and buffers[b"a"]._spill_bytes == 123  # noqa: SLF001
    assert isinstance(buffers[b"b"], SpillingGroupingBuffer)


def test_pipeline_with_tiny_spill_limit_gives_the_same_groups():
    p = beam.Pipeline(runner=BoundedBundleFnApiRunner(spill_bytes=256, max_bundle_bytes=4096, max_bundle_values=5))
    groups = (p | beam.Create(list(range(3000))) | beam.Reshuffle() | beam.Map(lambda x: (x % 7, x))
              | beam.GroupByKey() | beam.MapTuple(lambda k, vs: (k, sorted(vs))))
    assert_that(groups, equal_to([(k, [x for x in range(3000) if x % 7 == k]) for k in range(7)]))
    p.run().wait_until_finish()


def test_build_with_every_buffer_spilled_is_byte_identical(tmp_path, monkeypatch):
    from pipelines.corpus.sample import write_sample_corpus
    from tests.test_build_e2e import build

    write_sample_corpus(str(tmp_path / "raw"), docs=12, seed=5)
    assert build(tmp_path / "raw", tmp_path / "memory", tmp_path) == 0
    spilled = []
    real = SpilledChunks.of
    monkeypatch.setattr(SpilledChunks, "of", classmethod(lambda cls, chunks: spilled.append(1) or real(chunks)))
    monkeypatch.setattr(local_runner, "DEFAULT_SPILL_BYTES", 1)
    assert build(tmp_path / "raw", tmp_path / "disk", tmp_path) == 0
    assert spilled  # buffers really went to disk

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != "run.json"}
    memory, disk = files(tmp_path / "memory"), files(tmp_path / "disk")
    assert sorted(memory) == sorted(disk)
    for rel in memory:
        assert memory[rel] == disk[rel], rel
