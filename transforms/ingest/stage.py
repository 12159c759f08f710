"""Beam side of ingest: plan every input file into splittable pieces, read the pieces, spread the documents.

No file is one giant element. A planner pass per file streams its bytes once (sha256 for the
manifest) and cuts it into pieces: uncompressed JSONL into byte ranges of whole lines (about
``read_piece_mb`` each, with their first line number), ``.jsonl.gz`` into decompressed line blocks
(gzip is streamed, never inflated whole), Parquet into runs of row groups (row counts from the footer), and a
``.txt`` into one piece whose reader cuts texts over ``max_document_chars`` into part documents. The
pieces are reshuffled so that one big file spreads over the workers; the documents of a piece stay
on the worker that parsed it (a second reshuffle, or a Flatten, of every document doubled the
FnApiRunner's peak memory). A ``.txt`` whose text may exceed ``max_document_chars`` is decoded and cut
by the planner, and each part travels as its own piece, so the parts of one big novel spread too.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.ingest.encoding import DecodeError
from transforms.ingest.parse import (
    IngestConfig,
    InputFile,
    gunzip_stream,
    gzip_jsonl_pieces,
    jsonl_ranges,
    open_parquet,
    parquet_columns,
    parse_jsonl_lines,
    parse_row_group,
    parse_text,
    row_group_pieces,
    unsupported_detail,
)
from transforms.rejects import RejectReason, describe_exception, make_reject
from transforms.result import StageResult
from transforms.stats import STATS, stat

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Piece:
    """A unit of reading: `kind` is "text" (a whole .txt/.txt.gz), "jsonl_range" (bytes [start, end)
    of a .jsonl, whole lines, the first being line `first`), "jsonl_lines" (`data`: decompressed
    whole lines of a .jsonl.gz), "row_groups" (`groups`: consecutive row groups of a Parquet file as
    (index, rows from the footer, number of the first row), about ``read_piece_mb`` compressed) or
    "part" (`doc`: one part document of a .txt over max_document_chars)."""

    path: str
    source: str
    kind: str
    first: int = 1
    start: int = 0
    end: int = 0
    groups: tuple = ()
    data: bytes = b""
    doc: dict | None = None


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes every byte read through it."""

    def __init__(self, f):
        super().__init__()
        self._f, self.sha, self.size = f, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._f.read(len(b))
        self.sha.update(data)
        self.size += len(data)
        b[: len(data)] = data
        return len(data)

    def chunks(self):
        while data := self.read(_CHUNK):
            yield data

    def drain(self) -> None:
        for _ in self.chunks():
            pass


def _reject(source: str, locator: str, reason: str, detail: str, nbytes: int, exception: str | None = None):
    yield stat("ingest.records")
    yield stat(f"ingest.rejected.{reason}")
    yield beam.pvalue.TaggedOutput("rejects", make_reject(source, locator, reason, detail, nbytes, exception=exception))


class _PlanFile(beam.DoFn):
    """InputFile -> Piece elements (main), its fingerprint on "inputs", whole-file rejects, stats."""

    def __init__(self, cfg: IngestConfig):
        self._cfg = cfg

    def process(self, item: InputFile):
        try:
            handle = _open(item.path)
        except Exception as e:  # noqa: BLE001 - any file-system failure becomes a reject, not a crash
            yield from _reject(item.source, "", RejectReason.UNREADABLE, str(e), 0)
            return
        with handle:
            stream = _Hashing(handle)
            yield from self._plan(item, stream)
            stream.drain()
        yield beam.pvalue.TaggedOutput("inputs", {"source": item.source, "bytes": stream.size,
                                                  "sha256": stream.sha.hexdigest()})
        yield stat("ingest.files")
        yield stat("ingest.bytes", stream.size)

    def _plan(self, item: InputFile, stream: _Hashing):
        name, cfg = item.source.lower(), self._cfg
        if name.endswith(".jsonl"):
            for start, end, first in jsonl_ranges(stream.chunks(), cfg.piece_bytes):
                yield stat("ingest.pieces")
                yield Piece(item.path, item.source, "jsonl_range", first=first, start=start, end=end)
        elif name.endswith(".jsonl.gz"):
            for piece in gzip_jsonl_pieces(stream, cfg.piece_bytes):
                if piece[0] == "lines":
                    yield stat("ingest.pieces")
                    yield Piece(item.path, item.source, "jsonl_lines", first=piece[1], data=piece[2])
                else:
                    stream.drain()
                    _, line, reason, detail = piece
                    yield from _reject(item.source, f"line {line}" if line else "", reason, detail, stream.size)
        elif name.endswith(".parquet"):
            stream.drain()
            yield from self._plan_parquet(item, stream.size)
        elif name.endswith((".txt", ".txt.gz")):
            yield from self._plan_text(item, stream)
        else:
            stream.drain()
            yield from _reject(item.source, "", RejectReason.UNSUPPORTED_FORMAT, unsupported_detail(), stream.size)

    def _plan_text(self, item: InputFile, stream: _Hashing):
        """A text that cannot exceed max_document_chars (no more bytes than that) is one piece its reader
        reads again; a longer one is decoded and cut here, and each part document is a piece."""
        raw = b"".join(stream.chunks())
        try:
            data = gunzip_stream(io.BytesIO(raw)) if item.source.lower().endswith(".gz") else raw
            if len(data) <= self._cfg.max_document_chars:
                yield stat("ingest.pieces")
                yield Piece(item.path, item.source, "text")
                return
            records = list(parse_text(item.source, data, self._cfg))
        except DecodeError as e:
            yield from _reject(item.source, "", e.reason, e.detail, len(raw))
            return
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - a dead letter for this file, not a dead job
            yield from _reject(item.source, "", RejectReason.EXCEPTION, f"reading this file raised {type(e).__name__}",
                               len(raw), exception=describe_exception(e))
            return
        del raw, data
        for _, row in records:
            yield stat("ingest.pieces")
            yield Piece(item.path, item.source, "part", doc=row)

    def _plan_parquet(self, item: InputFile, size: int):
        try:
            with _open(item.path) as f:
                pf = open_parquet(f)
                parquet_columns(pf, self._cfg)
                pieces = row_group_pieces(pf, self._cfg.piece_bytes)
        except DecodeError as e:
            yield from _reject(item.source, "", e.reason, e.detail, size)
            return
        for groups in pieces:
            yield stat("ingest.pieces")
            yield Piece(item.path, item.source, "row_groups", groups=groups)


class _ReadPiece(beam.DoFn):
    """Piece -> DOCUMENTS rows (main) and REJECTS rows ("rejects"), with stats. Record-level problems,
    exceptions included, are rejects; only a failing file system raises (the runner retries)."""

    def __init__(self, cfg: IngestConfig):
        self._cfg = cfg

    def process(self, piece: Piece):
        for kind, row in self._records(piece):
            yield stat("ingest.records")
            if kind == "doc":
                yield stat("ingest.documents")
                yield stat(f"ingest.encoding.{row['encoding']}")
                if piece.kind == "part" and row["locator"].startswith("part "):
                    yield stat("ingest.text_parts")
                yield row
            else:
                yield stat(f"ingest.rejected.{row['reason']}")
                yield beam.pvalue.TaggedOutput("rejects", row)

    def _records(self, piece: Piece):
        cfg = self._cfg
        if piece.kind == "jsonl_lines":
            yield from parse_jsonl_lines(piece.source, piece.data, piece.first, cfg)
        elif piece.kind == "jsonl_range":
            with _open(piece.path) as f:
                f.seek(piece.start)
                data = f.read(piece.end - piece.start)
            yield from parse_jsonl_lines(piece.source, data, piece.first, cfg)
        elif piece.kind == "row_groups":
            with _open(piece.path) as f:
                pf = open_parquet(f)
                for group, rows, first in piece.groups:
                    yield from parse_row_group(piece.source, pf, group, rows, first, cfg)
        elif piece.kind == "part":
            yield "doc", piece.doc
        elif piece.kind == "text":
            with _open(piece.path) as f:
                try:
                    data = gunzip_stream(f) if piece.source.lower().endswith(".gz") else f.read()
                    yield from parse_text(piece.source, data, cfg)
                except DecodeError as e:
                    yield "reject", make_reject(piece.source, "", e.reason, e.detail, _size(piece.path))
                except MemoryError:
                    raise
                except Exception as e:  # noqa: BLE001 - a dead letter for this file, not a dead job
                    yield "reject", make_reject(piece.source, "", RejectReason.EXCEPTION,
                                                f"reading this file raised {type(e).__name__}", _size(piece.path),
                                                exception=describe_exception(e))
        else:
            raise ValueError(f"unknown piece kind {piece.kind!r}")


def _size(path: str) -> int:
    try:
        return int(FileSystems.match([path])[0].metadata_list[0].size_in_bytes)
    except Exception:  # noqa: BLE001 - only for the reject's byte_length
        return 0


class IngestFiles(beam.PTransform):
    """PCollection[InputFile] -> StageResult: main ``documents``; side ``rejects`` (REJECTS rows) and ``inputs``
    (source, bytes, sha256 per file, for the manifest); stats."""

    def __init__(self, cfg: IngestConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, files):
        planned = (
            files
            | "SpreadFiles" >> beam.Reshuffle()
            | "PlanFiles" >> beam.ParDo(_PlanFile(self._cfg)).with_outputs("rejects", "inputs", STATS, main="pieces")
        )
        read = (
            planned.pieces
            | "SpreadPieces" >> beam.Reshuffle()
            | "ReadPieces" >> beam.ParDo(_ReadPiece(self._cfg)).with_outputs("rejects", STATS, main="documents")
        )
        documents = read.documents
        rejects = (planned.rejects, read.rejects) | "FlattenRejects" >> beam.Flatten()
        stats = (planned[STATS], read[STATS]) | "FlattenStats" >> beam.Flatten()
        return StageResult(documents, "documents", side={"rejects": rejects, "inputs": planned.inputs}, stats=stats)
