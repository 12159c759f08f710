"""The Arrow schema of every table a build writes, and the key each table is sharded and sorted by.

Bump ``SCHEMA_VERSION`` whenever a schema changes: it is written into every Parquet file's metadata
and into the corpus version id, so readers can refuse data they do not understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pyarrow as pa

SCHEMA_VERSION = "3"  # 3: superseded/, signatures.version_id; 2: duplicates.containment and kind "contained"; rejects record the stage and exception

#: Parquet key-value metadata key holding SCHEMA_VERSION.
SCHEMA_VERSION_KEY = b"longlm.schema_version"
#: Parquet key-value metadata key holding the table name.
TABLE_NAME_KEY = b"longlm.table"


@dataclass(frozen=True)
class TableSpec:
    """A table: its directory under the build output, its schema and the column rows are keyed by."""

    name: str
    schema: pa.Schema
    key: str

    @cached_property
    def columns(self) -> frozenset[str]:
        return frozenset(self.schema.names)

    @cached_property
    def required(self) -> tuple[str, ...]:
        """Columns that may not be null."""
        return tuple(f.name for f in self.schema if not f.nullable)


DOCUMENTS = TableSpec(
    name="documents",
    key="doc_id",
    schema=pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),  # blake2b-128 of the decoded text
            pa.field("source", pa.string()),  # input path relative to its glob's base directory
            pa.field("locator", pa.string()),  # where in the source ("" for a whole file, "line 3", "row 7")
            pa.field("title", pa.string()),
            pa.field("encoding", pa.string()),  # detected encoding of the source bytes
            pa.field("byte_length", pa.int64()),  # bytes of this document in the source
            pa.field("raw_char_length", pa.int64()),  # characters after decoding, before cleaning
            pa.field("char_length", pa.int64()),  # characters of `text` as written
            pa.field("han_chars", pa.int64()),  # Han characters of `text`
            pa.field("cluster_id", pa.string()),  # near-duplicate cluster (its own doc_id when alone)
            pa.field("cluster_size", pa.int32()),
            pa.field("boilerplate_lines_removed", pa.int32()),
            pa.field("split", pa.string()),  # "train" or "validation"
            pa.field("text", pa.large_string()),
        ]
    ),
)

REJECTS = TableSpec(
    name="rejects",
    key="record_id",
    schema=pa.schema(
        [
            pa.field("record_id", pa.string(), nullable=False),  # blake2b of (source, locator)
            pa.field("source", pa.string()),
            pa.field("locator", pa.string()),  # "" (whole file), "line N", "row N (row group G, R rows)", "part K/N ..."
            pa.field("reason", pa.string()),  # a reason code, see transforms.ingest.parse.RejectReason
            pa.field("detail", pa.string()),  # human-readable explanation
            pa.field("byte_length", pa.int64()),
            pa.field("stage", pa.string()),  # stage that rejected it: "ingest", "clean", "segment", "examples"
            pa.field("exception", pa.string()),  # "Type: message" when an exception caused it, else null
        ]
    ),
)

FILTERED = TableSpec(
    name="filtered",
    key="doc_id",
    schema=pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("source", pa.string()),
            pa.field("locator", pa.string()),  # record inside the source ("" for a whole file)
            pa.field("title", pa.string()),
            pa.field("reason", pa.string()),  # filter code, e.g. "min_length", "han_ratio"
            pa.field("value", pa.float64()),  # the measured value that tripped the filter
            pa.field("threshold", pa.float64()),  # the configured threshold it was compared with
            pa.field("char_length", pa.int64()),  # characters after cleaning
            pa.field("raw_char_length", pa.int64()),
        ]
    ),
)

DUPLICATES = TableSpec(
    name="duplicates",
    key="doc_id",
    schema=pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("source", pa.string()),
            pa.field("locator", pa.string()),  # record inside the source: tells apart copies sharing a doc_id
            pa.field("title", pa.string()),
            pa.field("kind", pa.string()),  # "exact", "near" or "contained" (a partial upload, an excerpt)
            pa.field("cluster_id", pa.string()),
            pa.field("kept_doc_id", pa.string()),
            pa.field("similarity", pa.float64()),  # estimated Jaccard with the kept document (1.0 exact)
            pa.field("char_length", pa.int64()),
            # share of this document's shingles found in the kept one (exact when the pair was verified
            # exactly, else estimated); null for near duplicates without containment mode
            pa.field("containment", pa.float64()),
        ]
    ),
)

EXAMPLES = TableSpec(
    name="examples",
    key="example_id",
    schema=pa.schema(
        [
            pa.field("example_id", pa.string(), nullable=False),  # "{doc_id}-{segment_index:06d}-{task}"
            pa.field("task", pa.string()),  # "infilling" or "continuation"
            pa.field("input_ids", pa.list_(pa.int32())),
            pa.field("target_ids", pa.list_(pa.int32())),
            pa.field("doc_id", pa.string()),
            pa.field("segment_index", pa.int32()),
        ]
    ),
)

SIGNATURES = TableSpec(
    name="signatures",
    key="doc_id",
    schema=pa.schema(
        [
            # One row per distinct document the dedupe stage compared (kept and removed), with its
            # decision: what a later `longlm build --base` dedupes against without the raw input.
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("exact", pa.string()),  # exact-duplicate hash of the normalized text
            pa.field("han", pa.int64()),  # keep-rule Han count
            pa.field("size", pa.int64()),  # shingle count (distinct in containment / exact-check modes)
            pa.field("copies", pa.int32()),  # inputs with this doc_id
            pa.field("signature", pa.binary()),  # MinHash signature, little-endian uint32 (null: no key text)
            pa.field("cluster_id", pa.string()),
            pa.field("kept_doc_id", pa.string()),  # its own doc_id when kept
            pa.field("kept_han", pa.int64()),
            pa.field("kept_exact", pa.string()),
            pa.field("kept_signature", pa.binary()),  # the kept document's signature (null when kept itself)
            # the version that read this document (null: this one); an increment fills it in for base rows
            pa.field("version_id", pa.string()),
        ]
    ),
)

SUPERSEDED = TableSpec(
    name="superseded",
    key="doc_id",
    schema=pa.schema(
        [
            # One row per document an earlier version of the chain kept that this version removes from the
            # chain's effective corpus (docs/incremental.md); that version's files are never touched.
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("version_id", pa.string(), nullable=False),  # the version whose documents/ holds it
            pa.field("kept_doc_id", pa.string(), nullable=False),  # the document kept in its place
            pa.field("kind", pa.string()),  # "exact", "near" or "contained", as in duplicates/
            pa.field("cluster_id", pa.string()),
            pa.field("similarity", pa.float64()),  # estimated Jaccard with the kept document
            pa.field("containment", pa.float64()),  # its share found in the kept one (exact when checked exactly)
        ]
    ),
)

DECONTAMINATED = TableSpec(
    name="decontaminated",
    key="doc_id",
    schema=pa.schema(
        [
            # One row per stretch of a document removed because it holds evaluation text (`longlm build
            # --decontaminate`); offsets are into the text the stage received (cleaned, deduplicated).
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("source", pa.string()),
            pa.field("locator", pa.string()),
            pa.field("char_start", pa.int64()),  # text[char_start:char_end] was removed
            pa.field("char_end", pa.int64()),
            pa.field("chars_removed", pa.int64()),  # char_end - char_start
            pa.field("eval_file", pa.string()),  # evaluation file of the attributed item (relative name)
            pa.field("item_index", pa.int64()),  # 0-based index of the item in that file (line number - 1)
            pa.field("matched_ngrams", pa.int64()),  # hits of the item's n-grams inside the stretch
            pa.field("items_matched", pa.int32()),  # items whose matches the stretch holds (the attributed one included)
            pa.field("doc_filtered", pa.bool_()),  # the document was left too short: filtered/ reason "contaminated"
        ]
    ),
)

TABLES = {spec.name: spec for spec in (DOCUMENTS, REJECTS, FILTERED, DUPLICATES, EXAMPLES, SIGNATURES, SUPERSEDED,
                                       DECONTAMINATED)}


def empty_row(spec: TableSpec) -> dict:
    """A row of `spec` with every column None, to be filled by the stage that writes it."""
    return {name: None for name in spec.schema.names}


def make_row(spec: TableSpec, **values) -> dict:
    """The one way a stage builds a row of table `spec`: every column in schema order, unset ones None.

    Raises ValueError naming the table and the column for a value that is no column of it, or a missing
    value in a non-nullable column: a bad row fails where it is made, not in the Parquet writer."""
    unknown = values.keys() - spec.columns
    if unknown:
        raise ValueError(f"table {spec.name} has no column(s) {sorted(unknown)}")
    row = {name: values.get(name) for name in spec.schema.names}
    for name in spec.required:
        if row[name] is None:
            raise ValueError(f"table {spec.name}: column {name} may not be null")
    return row
