"""Ingest: raw input files -> document rows, or reject rows that say why (the pure part).

Formats, by file name: ``.txt`` (one novel per file, title from the name; a text longer than
``max_document_chars`` becomes several part documents cut at chapter headings), ``.txt.gz``,
``.jsonl``/``.jsonl.gz`` (one JSON object per line: ``text``, optional ``title`` and ``id``) and
``.parquet`` (a ``text`` column, optional ``title`` and ``id``). Every record read becomes exactly one
document or one reject; nothing is dropped silently, and an exception while reading one record (a
JSON line nested too deep, a corrupt row group) rejects that record only. This module holds the pure
parsing of one file or one piece of a file (:func:`parse_source`, :func:`parse_jsonl_lines`,
:func:`parse_rows`, :func:`parse_text`); ``transforms.ingest.stage.IngestFiles`` is the Beam wrapper that
plans files into splittable pieces and reads them through ``FileSystems``.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from dataclasses import dataclass
from typing import ClassVar, Iterable, Iterator

from schemas.hashing import stable_hex
from schemas.tables import DOCUMENTS, make_row
from transforms.config_base import StageConfig, knob
from transforms.ingest.encoding import DecodeError, decode_bytes
from transforms.rejects import RejectReason, describe_exception, make_reject
from transforms.text_parts import split_points

SUPPORTED_SUFFIXES = (".txt", ".txt.gz", ".jsonl", ".jsonl.gz", ".parquet")


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
    max_document_chars: int = knob(
        10_000_000, "A .txt longer than this (characters) becomes several documents, cut at chapter headings "
        "(else at paragraph/sentence ends); each part's locator says 'part K/N chars A-B'"
    )
    read_piece_mb: float = knob(
        8.0, "JSONL is read in pieces of about this many MB (whole lines; gzip streamed), Parquet in runs of row groups, "
        "so one big file spreads over the workers"
    )

    def check(self) -> None:
        self.require(0.0 <= self.max_replacement_ratio < 1.0, "max_replacement_ratio", "must be in [0, 1)")
        self.require(0.0 <= self.max_nul_ratio < 1.0, "max_nul_ratio", "must be in [0, 1)")
        self.require(bool(self.text_field), "text_field", "must not be empty")
        self.require(self.max_document_chars >= 1000, "max_document_chars", "must be >= 1000")
        self.require(self.read_piece_mb > 0, "read_piece_mb", "must be > 0")

    @property
    def piece_bytes(self) -> int:
        return max(1, int(self.read_piece_mb * 1024 * 1024))


def doc_id_of(text: str) -> str:
    """The stable id of a document: blake2b-128 of its decoded UTF-8 text (identical text => same id)."""
    return stable_hex(text, bits=128)


def title_from_name(source: str) -> str:
    """'books/三国演义.txt.gz' -> '三国演义'."""
    name = source.rsplit("/", 1)[-1]
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def make_document(source: str, locator: str, title: str, text: str, encoding: str, byte_length: int) -> dict:
    return make_row(
        DOCUMENTS,
        doc_id=doc_id_of(text),
        source=source,
        locator=locator,
        title=title,
        encoding=encoding,
        byte_length=byte_length,
        raw_char_length=len(text),
        text=text,
    )



# ---------------------------------------------------------------------------------------------
# gzip, streamed


def gunzip_stream(fileobj, chunk_bytes: int = 1 << 20) -> bytes:
    """Decompress a whole gzip stream read from `fileobj` in chunks (never the compressed file at once).
    Raises DecodeError(truncated_gzip / bad_gzip)."""
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as gz:
            while chunk := gz.read(chunk_bytes):
                out.write(chunk)
    except EOFError as e:
        raise DecodeError(RejectReason.TRUNCATED_GZIP, f"gzip stream ends early ({e}); the file was cut off") from e
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DecodeError(RejectReason.BAD_GZIP, f"not valid gzip data: {e}") from e
    return out.getvalue()


def _gunzip(raw: bytes) -> bytes:
    return gunzip_stream(io.BytesIO(raw))


# ---------------------------------------------------------------------------------------------
# .txt: one document, or parts cut at chapter headings (transforms.text_parts)


def parse_text(source: str, data: bytes, cfg: IngestConfig) -> Iterator[tuple[str, dict]]:
    """A whole .txt file's bytes -> one document, or part documents when longer than max_document_chars.
    Raises DecodeError for a file that is not acceptable text."""
    decoded = decode_bytes(data, cfg.max_replacement_ratio, cfg.max_nul_ratio)
    text, title = decoded.text, title_from_name(source)
    parts = split_points(text, cfg.max_document_chars)
    if len(parts) == 1:
        yield "doc", make_document(source, "", title, text, decoded.encoding, len(data))
        return
    codec = decoded.encoding.replace("-sig", "")
    for k, (a, b, _how) in enumerate(parts, start=1):
        part = text[a:b]
        locator = f"part {k}/{len(parts)} chars {a}-{b}"
        nbytes = len(part.encode(codec, errors="replace"))
        yield "doc", make_document(source, locator, f"{title} ({k}/{len(parts)})", part, decoded.encoding, nbytes)


# ---------------------------------------------------------------------------------------------
# JSONL: lines, and the pieces a big file is read in


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


def _exception_reject(source: str, locator: str, e: BaseException, nbytes: int) -> tuple[str, dict]:
    return "reject", make_reject(source, locator, RejectReason.EXCEPTION, f"reading this record raised {type(e).__name__}",
                                 nbytes, exception=describe_exception(e))


def _parse_line(source: str, locator: str, line: bytes, cfg: IngestConfig) -> tuple[str, dict]:
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        return "reject", make_reject(source, locator, RejectReason.UNDECODABLE, f"JSONL must be UTF-8: {e}", len(line))
    except json.JSONDecodeError as e:
        return "reject", make_reject(source, locator, RejectReason.MALFORMED_JSON, f"invalid JSON: {e}", len(line))
    return _record_to_doc(source, locator, record, cfg, len(line), "utf-8")


def parse_jsonl_lines(source: str, data: bytes, first_line: int, cfg: IngestConfig) -> Iterator[tuple[str, dict]]:
    """Whole JSONL lines (`data`, its first line being line number `first_line`) -> one record per
    non-blank line. Any exception on one line (RecursionError from deep nesting, ...) rejects that
    line only."""
    if first_line == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, line in enumerate(data.split(b"\n"), start=first_line):
        if not line.strip():
            continue
        locator = f"line {number}"
        try:
            yield _parse_line(source, locator, line, cfg)
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - a dead letter, not a dead job
            yield _exception_reject(source, locator, e, len(line))


def jsonl_ranges(chunks: Iterable[bytes], piece_bytes: int) -> Iterator[tuple[int, int, int]]:
    """(start byte, end byte, first line number) of pieces of about `piece_bytes` whole lines each,
    from the file's bytes given as consecutive chunks. Streams: holds one chunk at a time."""
    piece_start, first_line, newlines, pos = 0, 1, 0, 0
    for chunk in chunks:
        i = 0
        while i < len(chunk):
            j = chunk.find(b"\n", max(i, piece_start + piece_bytes - 1 - pos))
            if j < 0:
                newlines += chunk.count(b"\n", i)
                break
            newlines += chunk.count(b"\n", i, j + 1)
            end = pos + j + 1
            yield piece_start, end, first_line
            piece_start, first_line, newlines, i = end, first_line + newlines, 0, j + 1
        pos += len(chunk)
    if pos > piece_start:
        yield piece_start, pos, first_line


_INFLATE_MAX = 1 << 20


def inflate(fileobj, chunk_bytes: int = 1 << 16) -> Iterator[bytes]:
    """Decompressed bytes of a (multi-member) gzip stream, as they come: everything before a cut or a
    corrupt block is yielded before EOFError (cut off) or zlib.error (corrupt) is raised."""
    d, in_member = zlib.decompressobj(31), False
    while raw := fileobj.read(chunk_bytes):
        while raw:
            in_member = True
            out = d.decompress(raw, _INFLATE_MAX)  # bounded output: a zip bomb cannot fill the memory
            if out:
                yield out
            if d.unconsumed_tail:
                raw = d.unconsumed_tail
            elif d.eof:
                raw, d, in_member = d.unused_data.lstrip(b"\x00"), zlib.decompressobj(31), False
            else:
                break
    if in_member:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")


def gzip_jsonl_pieces(fileobj, piece_bytes: int) -> Iterator[tuple]:
    """Stream-decompress a .jsonl.gz: ("lines", first line number, bytes of whole lines) pieces of about
    `piece_bytes`, then, if the stream is cut off or corrupt, one ("error", line number, reason, detail)
    for the unreadable rest. The lines before the damage are kept."""
    pending, first_line, total = b"", 1, 0
    error = None
    try:
        for chunk in inflate(fileobj):
            total += len(chunk)
            pending += chunk
            while len(pending) >= piece_bytes:
                cut = pending.find(b"\n", piece_bytes - 1) + 1
                if not cut:
                    break
                yield "lines", first_line, pending[:cut]
                first_line += pending.count(b"\n", 0, cut)
                pending = pending[cut:]
    except EOFError as e:
        error = (RejectReason.TRUNCATED_GZIP, f"gzip stream ends early after {total} bytes ({e}); the file was cut off")
    except zlib.error as e:
        error = (RejectReason.BAD_GZIP, f"not valid gzip data after {total} bytes: {e}")
    if error is None:
        if pending:
            yield "lines", first_line, pending
        return
    cut = pending.rfind(b"\n") + 1
    if cut:
        yield "lines", first_line, pending[:cut]
        first_line += pending.count(b"\n", 0, cut)
    yield "error", (first_line if total else 0), error[0], error[1]


# ---------------------------------------------------------------------------------------------
# Parquet: row groups


def parquet_columns(pf, cfg: IngestConfig) -> list[str]:
    """The columns to read; raises DecodeError when the text column is missing."""
    names = pf.schema_arrow.names
    if cfg.text_field not in names:
        raise DecodeError(RejectReason.MISSING_TEXT, f"no '{cfg.text_field}' column (columns: {', '.join(names)})")
    return [c for c in (cfg.text_field, cfg.title_field, cfg.id_field) if c in names]


def open_parquet(fileobj):
    """pyarrow ParquetFile over a seekable file object; raises DecodeError(bad_parquet) for a bad footer."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(fileobj)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for corrupt files
        raise DecodeError(RejectReason.BAD_PARQUET, f"cannot read as Parquet: {e}") from e


def row_groups(pf) -> list[tuple[int, int, int]]:
    """(row group index, its row count from the footer, number of its first row) for every row group."""
    out, first = [], 1
    for g in range(pf.metadata.num_row_groups):
        rows = pf.metadata.row_group(g).num_rows
        out.append((g, rows, first))
        first += rows
    return out


def row_group_pieces(pf, piece_bytes: int) -> list[tuple[tuple[int, int, int], ...]]:
    """Consecutive row groups (see :func:`row_groups`) batched until their compressed size reaches
    `piece_bytes`, so that a file of many small row groups does not cost one footer read per group."""
    pieces, current, size = [], [], 0
    for group, rows, first in row_groups(pf):
        current.append((group, rows, first))
        meta = pf.metadata.row_group(group)
        size += sum(meta.column(c).total_compressed_size or 0 for c in range(meta.num_columns))
        if size >= piece_bytes:
            pieces.append(tuple(current))
            current, size = [], 0
    if current:
        pieces.append(tuple(current))
    return pieces


def parse_row_group(source: str, pf, group: int, rows: int, first_row: int, cfg: IngestConfig):
    """One row group -> one record per row. A row group that cannot be read becomes `rows` rejects
    (bad_row_group, row count from the footer); an exception on one row rejects that row."""
    columns = parquet_columns(pf, cfg)
    try:
        records = pf.read_row_group(group, columns=columns).to_pylist()
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - corrupt page, bad encoding, ...: dead letters for its rows
        detail = f"row group {group} ({rows} rows, footer count) cannot be read"
        for r in range(first_row, first_row + rows):
            yield "reject", make_reject(source, f"row {r} (row group {group}, {rows} rows)", RejectReason.BAD_ROW_GROUP,
                                        detail, 0, exception=describe_exception(e))
        return
    for number, record in enumerate(records, start=first_row):
        locator = f"row {number}"
        try:
            text = record.get(cfg.text_field)
            nbytes = len(text.encode("utf-8")) if isinstance(text, str) else 0
            yield _record_to_doc(source, locator, record, cfg, nbytes, "parquet")
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001
            yield _exception_reject(source, locator, e, 0)


# ---------------------------------------------------------------------------------------------
# A whole file at once (tests, benches); the pipeline reads the same pieces through transforms.ingest.stage


def parse_source(source: str, raw: bytes, cfg: IngestConfig) -> Iterator[tuple[str, dict]]:
    """Parse one input file's bytes into ("doc", DOCUMENTS row) and ("reject", REJECTS row) pairs.

    `source` is the file's name as recorded in the output (relative to its input glob's base).
    Never raises for bad data: a whole-file problem becomes one reject with locator "", a problem
    with one record (a JSONL line, a Parquet row or row group) becomes rejects for those records
    only, and the readable rest of the file is kept.
    """
    name = source.lower()
    try:
        if name.endswith(".jsonl.gz"):
            for piece in gzip_jsonl_pieces(io.BytesIO(raw), cfg.piece_bytes):
                if piece[0] == "lines":
                    yield from parse_jsonl_lines(source, piece[2], piece[1], cfg)
                else:
                    _, line, reason, detail = piece
                    locator = f"line {line}" if line else ""
                    yield "reject", make_reject(source, locator, reason, detail, len(raw))
        elif name.endswith(".txt.gz"):
            yield from parse_text(source, _gunzip(raw), cfg)
        elif name.endswith(".txt"):
            yield from parse_text(source, raw, cfg)
        elif name.endswith(".jsonl"):
            yield from parse_jsonl_lines(source, raw, 1, cfg)
        elif name.endswith(".parquet"):
            pf = open_parquet(io.BytesIO(raw))
            parquet_columns(pf, cfg)
            for group, rows, first in row_groups(pf):
                yield from parse_row_group(source, pf, group, rows, first, cfg)
        elif name.endswith(".gz"):
            _gunzip(raw)
            raise DecodeError(RejectReason.UNSUPPORTED_FORMAT, unsupported_detail())
        else:
            raise DecodeError(RejectReason.UNSUPPORTED_FORMAT, unsupported_detail())
    except DecodeError as e:
        yield "reject", make_reject(source, "", e.reason, e.detail, len(raw))
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - a dead letter for the rest of this file, not a dead job
        yield "reject", make_reject(source, "", RejectReason.EXCEPTION, f"reading this file raised {type(e).__name__}",
                                    len(raw), exception=describe_exception(e))


def unsupported_detail() -> str:
    return f"file name has none of the supported suffixes {', '.join(SUPPORTED_SUFFIXES)}"


@dataclass(frozen=True)
class InputFile:
    """A matched input: where to read it and the name it is recorded under."""

    path: str
    source: str
