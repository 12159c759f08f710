"""Evaluation files as items: one :class:`EvalItem` per example, read through apache_beam.io.filesystems.

Formats (by file name suffix, case-insensitive; a ``.gz`` suffix is not supported):

* ``.source`` / ``.target`` / ``.txt``: one item per line (LOT and STORAL releases);
* ``.jsonl``: one JSON value per line; ``.json``: ``{"data": [...]}`` or a list (parsed whole, so at
  most ``max_json_bytes``). An object contributes its ``text_fields``; a string value is one segment, a
  list of strings one segment per string; a bare string element is the item itself;
* ``.parquet``: every string column named in ``text_fields``, read one row group at a time.

Every item keeps its file name and its 0-based index in the file (line number - 1 for the line
formats, element index for .json, row index for .parquet); blank lines keep their index. Its text is
split at markers (:mod:`.markers`) into segments. A file that cannot be read or parsed raises
:class:`EvalFileError` naming it (a user mistake: the build stops before it starts).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Iterator

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.markers import segments

LINE_SUFFIXES = (".source", ".target", ".txt")
SUFFIXES = LINE_SUFFIXES + (".jsonl", ".json", ".parquet")


class EvalFileError(ValueError):
    """An evaluation file that cannot be read: its name and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"evaluation file {name}: {reason}")
        self.name = name


@dataclass(frozen=True)
class EvalItem:
    """One evaluation example: the file it came from, its index there, its text split at markers."""

    file: str
    index: int
    segments: tuple[str, ...]


def file_format(name: str) -> str | None:
    """'lines', 'jsonl', 'json' or 'parquet' by the suffix of `name`; None for an unsupported one."""
    lower = name.lower()
    if lower.endswith(LINE_SUFFIXES):
        return "lines"
    for suffix in (".jsonl", ".json", ".parquet"):
        if lower.endswith(suffix):
            return suffix[1:]
    return None


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def value_segments(value, fields: list[str]) -> list[str]:
    """The segments of one JSON value: a string; a list of strings (each); an object's `fields` in order."""
    if isinstance(value, str):
        return segments(value)
    if isinstance(value, list):
        return [s for v in value if isinstance(v, str) for s in segments(v)]
    if isinstance(value, dict):
        out: list[str] = []
        for field in fields:
            if field in value and not isinstance(value[field], dict):
                out += value_segments(value[field], fields)
        return out
    return []


def _lines(stream) -> Iterator[tuple[int, str]]:
    for i, raw in enumerate(io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline=None)):
        yield i, raw.rstrip("\r\n")


def _read_lines(path: str, name: str, cfg: DecontaminateConfig) -> Iterator[EvalItem]:
    with _open(path) as f:
        for i, line in _lines(f):
            yield EvalItem(name, i, tuple(segments(line)))


def _read_jsonl(path: str, name: str, cfg: DecontaminateConfig) -> Iterator[EvalItem]:
    with _open(path) as f:
        for i, line in _lines(f):
            if not line.strip():
                yield EvalItem(name, i, ())
                continue
            try:
                value = json.loads(line)
            except ValueError as e:
                raise EvalFileError(name, f"line {i + 1} is not JSON ({e})") from None
            yield EvalItem(name, i, tuple(value_segments(value, cfg.text_fields)))


def _read_json(path: str, name: str, cfg: DecontaminateConfig) -> Iterator[EvalItem]:
    with _open(path) as f:
        data = f.read(cfg.max_json_bytes + 1)
    if len(data) > cfg.max_json_bytes:
        raise EvalFileError(name, f"larger than decontaminate.max_json_bytes ({cfg.max_json_bytes}); use .jsonl")
    try:
        value = json.loads(data.decode("utf-8-sig", errors="replace"))
    except ValueError as e:
        raise EvalFileError(name, f"is not JSON ({e})") from None
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise EvalFileError(name, 'expected {"data": [...]} or a list of items')
    for i, element in enumerate(value):
        yield EvalItem(name, i, tuple(value_segments(element, cfg.text_fields)))


def _read_parquet(path: str, name: str, cfg: DecontaminateConfig) -> Iterator[EvalItem]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _open(path) as f:
        try:
            pf = pq.ParquetFile(f)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for corrupt files
            raise EvalFileError(name, f"cannot read as Parquet ({e})") from None
        schema = pf.schema_arrow
        columns = [c for c in cfg.text_fields if c in schema.names and
                   (pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type))]
        if not columns:
            raise EvalFileError(name, f"no string column among {cfg.text_fields} (columns: {', '.join(schema.names)})")
        row = 0
        for group in range(pf.metadata.num_row_groups):
            table = pf.read_row_group(group, columns=columns)
            values = [table.column(c).to_pylist() for c in columns]
            for k in range(table.num_rows):
                parts = [s for col in values if col[k] for s in segments(col[k])]
                yield EvalItem(name, row, tuple(parts))
                row += 1


_READERS = {"lines": _read_lines, "jsonl": _read_jsonl, "json": _read_json, "parquet": _read_parquet}


def read_items(path: str, name: str, cfg: DecontaminateConfig) -> Iterator[EvalItem]:
    """Every item of evaluation file `path` (recorded as `name`), in file order. Raises EvalFileError."""
    fmt = file_format(name) or file_format(path)
    if fmt is None:
        raise EvalFileError(name, f"unsupported format (expected one of {', '.join(SUFFIXES)})")
    try:
        yield from _READERS[fmt](path, name, cfg)
    except EvalFileError:
        raise
    except (OSError, UnicodeError) as e:
        raise EvalFileError(name, f"cannot be read ({type(e).__name__}: {e})") from None
