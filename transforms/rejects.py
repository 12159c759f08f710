"""Reject rows: the reason codes written to rejects/reason and the one way to make a reject row.

Any stage may reject a record (ingest for what it cannot read, the build for a document whose stage
raised, see :mod:`transforms.dead_letters`); each reject names its source, locator, reason and stage.
"""

from __future__ import annotations

from schemas.hashing import stable_hex
from schemas.tables import REJECTS, make_row


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
    BAD_ROW_GROUP = "bad_row_group"  # a Parquet row group that cannot be read (one reject per row in it)
    EXCEPTION = "exception"  # an unexpected exception while reading or processing one record


def record_id_of(source: str, locator: str) -> str:
    """Stable id of a reject: blake2b-128 of (source, locator)."""
    return stable_hex(source, locator, bits=128, sep="\x00")


def make_reject(source: str, locator: str, reason: str, detail: str, byte_length: int,
                stage: str = "ingest", exception: str | None = None) -> dict:
    return make_row(
        REJECTS,
        record_id=record_id_of(source, locator),
        source=source,
        locator=locator,
        reason=reason,
        detail=detail,
        byte_length=byte_length,
        stage=stage,
        exception=exception,
    )


def describe_exception(e: BaseException) -> str:
    """'RecursionError: maximum recursion depth exceeded', cut to 500 characters."""
    return f"{type(e).__name__}: {e}"[:500]
