"""Ingest: raw input files -> document rows, or reject rows that say why.

Formats, by file name: ``.txt`` (one novel per file, title from the name), ``.txt.gz``,
``.jsonl``/``.jsonl.gz`` (one JSON object per line: ``text``, optional ``title`` and ``id``) and
``.parquet`` (a ``text`` column, optional ``title`` and ``id``). Every record read becomes exactly one
document or one reject; nothing is dropped silently. The pure parsing lives in :func:`parse_source`;
:class:`IngestFiles` is the Beam wrapper that reads through ``FileSystems`` (local, gs://, s3://, ...).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from typing import ClassVar, Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas.tables import DOCUMENTS, REJECTS, empty_row
from transforms.config_base import StageConfig, knob
from transforms.encoding import DecodeError, decode_bytes
from transforms.stats import STATS, stat

SUPPORTED_SUFFIXES = (".txt", ".txt.gz", ".jsonl", ".jsonl.gz", ".parquet")


class RejectReason:
    """Reject codes written to rejects/reason. Each has a human-readable detail next to it."""

    EMPTY = "empty"  # empty file, whitespace only, or empty text field
    BINARY = "binary"  # NUL or control bytes: not a text file
    UNDECODABLE = "undecodable"  # too many bytes no supported encoding accepts
    BAD_GZIP = "bad_gzip"  # not gzip data, or corrupt
    TRUNCATED_GZIP = "truncated_gzip"  # the stream ends before the gzip end marker
    MALFORMED_JSON = "malformed_json"  # a JSONL line that does not parse as a JSON object
    MISSING_TEXT = "missing_text"  # no text field / column
    TEXT_NOT_STRING = "text_not_string"  # text field present but not a string
    BAD_PARQUET = "bad_parquet"  # file cannot be read as Parquet
    UNSUPPORTED_FORMAT = "unsupported_format"  # file name with no supported suffix
    UNREADABLE = "unreadable"  # the file system refused to read it


@dataclass(frozen=True)
class IngestConfig(StageConfig):
    section: ClassVar[str] = "ingest"
    max_replacement_ratio: float = knob(
        0.001, "Largest share of characters that may fail to decode (become U+FFFD) before a file is rejected"
    )
    max_nul_ratio: float = knob(0.001, "Largest share of NUL bytes (in the first 64 KiB) a non-UTF-16 text may have")
    text_field: str = knob("text", "JSONL field / Parquet column holding the document text")
    title_field: str = knob("title", "JSONL field / Parquet column holding the title (optional)")
    id_field: str = knob("id", "JSONL field / Parquet column holding the source's own id (optional, kept in locator)")

    def check(self) -> None:
        self.require(0.0 <= self.max_replacement_ratio < 1.0, "max_replacement_ratio", "must be in [0, 1)")
        self.require(0.0 <= self.max_nul_ratio < 1.0, "max_nul_ratio", "must be in [0, 1)")
        self.require(bool(self.text_field), "text_field", "must not be empty")


def doc_id_of(text: str) -> str:
    """The stable id of a document: blake2b-128 of its decoded UTF-8 text (identical text => same id)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def record_id_of(source: str, locator: str) -> str:
    """Stable id of a reject: blake2b-128 of (source, locator)."""
    return hashlib.blake2b(f"{source}\x00{locator}".encode("utf-8"), digest_size=16).hexdigest()


def title_from_name(source: str) -> str:
    """'books/三国演义.txt.gz' -> '三国演义'."""
    name = source.rsplit("/", 1)[-1]
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def make_reject(source: str, locator: str, reason: str, detail: str, byte_length: int) -> dict:
    row = empty_row(REJECTS)
    row.update(
        record_id=record_id_of(source, locator),
        source=source,
        locator=locator,
        reason=reason,
        detail=detail,
        byte_length=byte_length,
    )
    return row


def make_document(source: str, locator: str, title: str, text: str, encoding: str, byte_length: int) -> dict:
    row = empty_row(DOCUMENTS)
    row.update(
        doc_id=doc_id_of(text),
        source=source,
        locator=locator,
        title=title,
        encoding=encoding,
        byte_length=byte_length,
        raw_char_length=len(text),
        text=text,
    )
    return row


def _gunzip(source: str, raw: bytes) -> bytes:
    try:
        return gzip.decompress(raw)
    except EOFError as e:
        raise DecodeError(RejectReason.TRUNCATED_GZIP, f"gzip stream ends early ({e}); the file was cut off") from e
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DecodeError(RejectReason.BAD_GZIP, f"not valid gzip data: {e}") from e


def _parse_text_file(source: str, data: bytes, cfg: IngestConfig) -> Iterator[tuple[str, dict]]:
    decoded = decode_bytes(data, cfg.max_replacement_ratio, cfg.max_nul_ratio)
    yield "doc", make_document(source, "", title_from_name(source), decoded.text, decoded.encoding, len(data))


def _record_to_doc(source: str, locator: str, record: object, cfg: IngestConfig, nbytes: int, encoding: str):
    """One JSON object / Parquet row -> ("doc", row) or ("reject", row)."""
    if not isinstance(record, dict):
        return "reject", make_reject(source, locator, RejectReason.MALFORMED_JSON,
                                     f"expected a JSON object, got {type(record).__name__}", nbytes)
    if cfg.text_field not in record or record[cfg.text_field] is None:
        return "reject", make_reject(source, locator, RejectReason.MISSING_TEXT,
                                     f"no '{cfg.text_field}' field", nbytes)
    text = record[cfg.text_field]
    if not isinstance(text, str):
        return "reject", make_reject(source, locator, RejectReason.TEXT_NOT_STRING,
                                     f"'{cfg.text_field}' is {type(text).__name__}, not a string", nbytes)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return "reject", make_reject(source, locator, RejectReason.EMPTY, f"'{cfg.text_field}' is empty", nbytes)
    title = record.get(cfg.title_field)
    title = title if isinstance(title, str) and title else f"{title_from_name(source)}:{locator}"
    if record.get(cfg.id_field) is not None:
        locator = f"{locator} id={record[cfg.id_field]}"
    return "doc", make_document(source, locator, title, text, encoding, nbytes)


def _parse_jsonl(source: str, data: bytes, cfg: IngestConfig) -> Iterator[tuple[str, dict]]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        locator = f"line {number}"
        try:
            record = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            yield "reject", make_reject(source, locator, RejectReason.UNDECODABLE, f"JSONL must be UTF-8: {e}", len(line))
            continue
        except json.JSONDecodeError as e:
            yield "reject", make_reject(source, locator, RejectReason.MALFORMED_JSON, f"invalid JSON: {e}", len(line))
            continue
        yield _record_to_doc(source, locator, record, cfg, len(line), "utf-8")


def _parse_parquet(source: str, data: bytes, cfg: IngestConfig) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        names = pf.schema_arrow.names
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DecodeError(RejectReason.BAD_PARQUET, f"cannot read as Parquet: {e}") from e
    if cfg.text_field not in names:
        raise DecodeError(RejectReason.MISSING_TEXT, f"no '{cfg.text_field}' column (columns: {', '.join(names)})")
    columns = [c for c in (cfg.text_field, cfg.title_field, cfg.id_field) if c in names]
    row_number = 0
    for batch in pf.iter_batches(columns=columns, batch_size=1024):
        for record in batch.to_pylist():
            row_number += 1
            text = record.get(cfg.text_field)
            nbytes = len(text.encode("utf-8")) if isinstance(text, str) else 0
            yield _record_to_doc(source, f"row {row_number}", record, cfg, nbytes, "parquet")


def parse_source(source: str, raw: bytes, cfg: IngestConfig) -> Iterator[tuple[str, dict]]:
    """Parse one input file's bytes into ("doc", DOCUMENTS row) and ("reject", REJECTS row) pairs.

    `source` is the file's name as recorded in the output (relative to its input glob's base).
    Never raises for bad data: a whole-file problem becomes one reject with locator "", a problem
    with one record (a JSONL line, a Parquet row) becomes a reject for that record only.
    """
    name = source.lower()
    try:
        if name.endswith(".gz"):
            data = _gunzip(source, raw)
            name = name[:-3]
        else:
            data = raw
        if name.endswith(".txt"):
            yield from _parse_text_file(source, data, cfg)
        elif name.endswith(".jsonl"):
            yield from _parse_jsonl(source, data, cfg)
        elif name.endswith(".parquet"):
            yield from _parse_parquet(source, data, cfg)
        else:
            raise DecodeError(RejectReason.UNSUPPORTED_FORMAT,
                              f"file name has none of the supported suffixes {', '.join(SUPPORTED_SUFFIXES)}")
    except DecodeError as e:
        yield "reject", make_reject(source, "", e.reason, e.detail, len(raw))


@dataclass(frozen=True)
class InputFile:
    """A matched input: where to read it and the name it is recorded under."""

    path: str
    source: str


class _ReadFile(beam.DoFn):
    def __init__(self, cfg: IngestConfig):
        self._cfg = cfg

    def process(self, item: InputFile):
        try:
            with FileSystems.open(item.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                raw = f.read()
        except Exception as e:  # noqa: BLE001 - any file-system failure becomes a reject, not a crash
            yield beam.pvalue.TaggedOutput("rejects", make_reject(item.source, "", RejectReason.UNREADABLE, str(e), 0))
            yield stat("ingest.records")
            yield stat(f"ingest.rejected.{RejectReason.UNREADABLE}")
            return
        yield beam.pvalue.TaggedOutput(
            "inputs", {"source": item.source, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
        )
        yield stat("ingest.files")
        yield stat("ingest.bytes", len(raw))
        for kind, row in parse_source(item.source, raw, self._cfg):
            yield stat("ingest.records")
            if kind == "doc":
                yield stat("ingest.documents")
                yield stat(f"ingest.encoding.{row['encoding']}")
                yield row
            else:
                yield stat(f"ingest.rejected.{row['reason']}")
                yield beam.pvalue.TaggedOutput("rejects", row)


class IngestFiles(beam.PTransform):
    """PCollection[InputFile] -> outputs `documents`, `rejects`, `inputs` (source, bytes, sha256) and STATS."""

    def __init__(self, cfg: IngestConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, files):
        return (
            files
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadAndParse" >> beam.ParDo(_ReadFile(self._cfg)).with_outputs("rejects", "inputs", STATS, main="documents")
        )
