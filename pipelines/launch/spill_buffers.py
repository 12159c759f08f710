"""The local runner's PCollection buffers, moved to a temporary file once they grow.

Between stages the FnApiRunner keeps every PCollection in its own process: a `ListBuffer` of encoded
chunks, or a `GroupingBuffer` of decoded values per key in front of a GroupByKey. With the corpus text
crossing several stage boundaries, the launching process would grow with the input however small
its bundles. :class:`SpillingBuffers` replaces the runner's buffer map so that each buffer it creates
holds up to `spill_bytes` in memory and appends the rest to an unlinked temporary file (under
``TMPDIR``; the OS page cache, not the process, holds what is hot). Reading a spilled buffer yields
the same encoded bytes in the same order; a spilled group yields one key's group at a time.

What a stage reads is unchanged, so outputs cannot depend on spilling (a test builds with a tiny
`spill_bytes` and compares every byte). Only buffers in the global window spill their groups (the
build uses no other); the worker-process modes spill the same way, since the buffers live in the
launching process there too.
"""

from __future__ import annotations

import tempfile
import threading

from apache_beam.coders.coder_impl import create_InputStream, create_OutputStream
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.transforms import window
from apache_beam.utils import windowed_value

#: Encoded bytes a buffer holds in memory before it moves to disk: small next to a stage's transient
#: memory, large enough that the many small buffers of a build (counters, ids) never touch the disk.
DEFAULT_SPILL_BYTES = 8 << 20


class SpillFile:
    """One unlinked temporary file that spans are appended to and read back from; closed when dropped."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()
        self._lock = threading.Lock()  # the worker-process modes read parts from several threads
        self._end = 0

    def write(self, data: bytes) -> tuple[int, int]:
        with self._lock:
            self._file.seek(self._end)
            self._file.write(data)
            span = (self._end, len(data))
            self._end += len(data)
        return span

    def read(self, span: tuple[int, int]) -> bytes:
        with self._lock:
            self._file.seek(span[0])
            return self._file.read(span[1])

    def __del__(self):
        self._file.close()


class SpilledChunks:
    """A ListBuffer's chunks on a :class:`SpillFile`: supports what ListBuffer does with its list
    (append, extend, len, iteration, slicing), so the buffer's own code runs unchanged."""

    def __init__(self, file: SpillFile, spans: list[tuple[int, int]] | None = None):
        self.file, self.spans = file, spans if spans is not None else []
        self.nbytes = sum(n for _, n in self.spans)

    @classmethod
    def of(cls, chunks) -> SpilledChunks:
        spilled = cls(SpillFile())
        spilled.extend(chunks)
        return spilled

    def append(self, chunk: bytes) -> None:
        self.spans.append(self.file.write(chunk))
        self.nbytes += len(chunk)

    def extend(self, chunks) -> None:
        for chunk in chunks:
            self.append(chunk)

    def __len__(self) -> int:
        return len(self.spans)

    def __iter__(self):
        for span in self.spans:
            yield self.file.read(span)

    def __getitem__(self, index):
        if isinstance(index, slice):  # ListBuffer.partition's [k::n]: a view, read when it is sent
            return SpilledChunks(self.file, self.spans[index])
        return self.file.read(self.spans[index])

    def copy(self) -> SpilledChunks:
        return SpilledChunks(self.file, list(self.spans))


def held_bytes(chunks) -> int:
    """Encoded bytes of a ListBuffer's chunks, without reading spilled ones back."""
    return chunks.nbytes if isinstance(chunks, SpilledChunks) else sum(len(c) for c in chunks)


class SpillingListBuffer(execution.ListBuffer):
    """A ListBuffer whose chunks move to a :class:`SpilledChunks` past `spill_bytes`."""

    def __init__(self, coder_impl, spill_bytes: int = DEFAULT_SPILL_BYTES):
        super().__init__(coder_impl)
        self._spill_bytes = spill_bytes
        self._held = 0

    @classmethod
    def adopt(cls, buffer: execution.ListBuffer, spill_bytes: int) -> SpillingListBuffer:
        new = cls(buffer._coder_impl, spill_bytes)  # noqa: SLF001 - a fresh buffer the runner just made
        new._inputs, new.cleared = buffer._inputs, buffer.cleared  # noqa: SLF001
        new._held = held_bytes(new._inputs)
        return new

    def _grow(self, nbytes: int) -> None:
        if isinstance(self._inputs, SpilledChunks):
            return
        self._held += nbytes
        if self._held > self._spill_bytes:
            self._inputs = SpilledChunks.of(self._inputs)

    def append(self, element: bytes) -> None:
        super().append(element)
        self._grow(len(element))

    def extend(self, extra) -> None:
        if not isinstance(self._inputs, SpilledChunks) and self._held + held_bytes(extra._inputs) > self._spill_bytes:  # noqa: SLF001
            self._inputs = SpilledChunks.of(self._inputs)
        super().extend(extra)
        self._grow(0)

    def copy(self) -> SpillingListBuffer:
        new = SpillingListBuffer(self._coder_impl, self._spill_bytes)
        new._inputs = self._inputs.copy() if isinstance(self._inputs, SpilledChunks) else list(self._inputs)
        new._held = self._held
        return new

    def clear(self) -> None:
        super().clear()
        self._held = 0


def _global_window_group():
    """What GroupingBuffer.partition wraps a (key, values) group in, in the global window."""
    return window.GlobalWindows.windowed_value(
        None, timestamp=window.GlobalWindow().max_timestamp(),
        pane_info=windowed_value.PaneInfo(is_first=True, is_last=True, timing=windowed_value.PaneInfoTiming.ON_TIME,
                                          index=0, nonspeculative_index=0)).with_value


class SpillingGroupingBuffer(execution.GroupingBuffer):
    """A GroupingBuffer whose values move to a :class:`SpillFile` past `spill_bytes` (global window only).

    Spilled, the table maps each encoded key to the spans of its encoded values, and :meth:`partition`
    returns lazy parts that decode and encode one key's group at a time."""

    def __init__(self, pre_grouped_coder, post_grouped_coder, windowing, spill_bytes: int = DEFAULT_SPILL_BYTES):
        super().__init__(pre_grouped_coder, post_grouped_coder, windowing)
        self._spill_bytes = spill_bytes
        self._held = 0
        self._file: SpillFile | None = None
        self._value_impl = None

    @classmethod
    def adopt(cls, buffer: execution.GroupingBuffer, spill_bytes: int) -> SpillingGroupingBuffer:
        new = cls(buffer._pre_grouped_coder, buffer._post_grouped_coder, buffer._windowing, spill_bytes)  # noqa: SLF001
        new._table, new._grouped_output = buffer._table, buffer._grouped_output  # noqa: SLF001
        return new

    def _spill(self) -> None:
        self._value_impl = self._pre_grouped_coder.value_coder().get_impl()
        self._file = SpillFile()
        table, self._table = self._table, type(self._table)(list)
        for key, values in table.items():
            self._table[key] = [self._file.write(self._value_impl.encode(v)) for v in values]

    def _add(self, key: bytes, value) -> None:
        self._table[key].append(self._file.write(self._value_impl.encode(value)))

    def append(self, elements_data: bytes) -> None:
        if self._file is None:
            super().append(elements_data)
            self._held += len(elements_data)
            if self._held > self._spill_bytes and self._windowing.is_default():
                self._spill()
            return
        if self._grouped_output:
            raise RuntimeError("Grouping table append after read.")
        stream = create_InputStream(elements_data)
        coder_impl, key_impl = self._pre_grouped_coder.get_impl(), self._key_coder.get_impl()
        while stream.size() > 0:
            key, value = coder_impl.decode_from_stream(stream, True).value
            self._add(key_impl.encode(key), value)

    def _values(self, spans_or_values):
        if self._file is None:
            return spans_or_values
        return [self._value_impl.decode(self._file.read(span)) for span in spans_or_values]

    def extend(self, input_buffer) -> None:
        spilled = isinstance(input_buffer, SpillingGroupingBuffer) and input_buffer._file is not None  # noqa: SLF001
        if (self._file is None and not spilled) or isinstance(input_buffer, execution.ListBuffer):
            super().extend(input_buffer)  # GroupingBuffer.extend ignores a ListBuffer: nothing to group
            return
        if self._file is None:
            self._spill()
        for key, held in input_buffer._table.items():  # noqa: SLF001
            for value in (input_buffer._values(held) if spilled else held):  # noqa: SLF001
                self._add(key, value)

    def partition(self, n: int):
        if self._file is None:
            return super().partition(n)
        if not self._grouped_output:
            items = list(self._table.items())
            self._grouped_output = [_GroupedPart(self, items[k::n]) for k in range(n)]
            self._table.clear()
        return self._grouped_output


class _GroupedPart:
    """One part of a spilled group table: iterating it yields one encoded (key, values) at a time."""

    def __init__(self, buffer: SpillingGroupingBuffer, items: list):
        self._buffer, self._items = buffer, items

    def __iter__(self):
        b, group = self._buffer, _global_window_group()
        out_impl, key_impl = b._post_grouped_coder.get_impl(), b._key_coder.get_impl()  # noqa: SLF001
        for key, spans in self._items:
            stream = create_OutputStream()
            out_impl.encode_to_stream(group((key_impl.decode(key), b._values(spans))), stream, True)  # noqa: SLF001
            yield stream.get()


class SpillingBuffers(dict):
    """The runner's buffer map (`FnApiRunnerExecutionContext.pcoll_buffers`), making every buffer the
    runner stores in it a spilling one."""

    def __init__(self, existing, spill_bytes: int = DEFAULT_SPILL_BYTES):
        super().__init__(existing)
        self.spill_bytes = spill_bytes

    def __setitem__(self, key, buffer):
        if type(buffer) is execution.ListBuffer:
            buffer = SpillingListBuffer.adopt(buffer, self.spill_bytes)
        elif type(buffer) is execution.GroupingBuffer:
            buffer = SpillingGroupingBuffer.adopt(buffer, self.spill_bytes)
        super().__setitem__(key, buffer)
