"""Where the loader keeps things: the item layout in the table and the object keys in S3."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Bookkeeping items share the table's key space under this prefix; a CSV partition value that
# starts with it is rejected, so no data key can collide with (or be served as) bookkeeping.
RESERVED_PREFIX = "_loader#"
LEASE_KEY = f"{RESERVED_PREFIX}lease"
MARKER_KEY = f"{RESERVED_PREFIX}marker"

PARTITION_KEY = "pk"
DOC = "doc"
DOC_REF = "docRef"
"""On an item whose document is too large for it: the id of the S3 object that holds the document."""
ROWS = "rows"
HASH = "hash"
SOURCE_BUCKET = "sourceBucket"
SOURCE_KEY = "sourceKey"
SOURCE_VERSION = "sourceVersion"
LOADED_AT = "loadedAt"
EXPIRES_AT = "expiresAt"

# DynamoDB's limits, in bytes of UTF-8.
MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
# API Gateway's response limit: no larger document can be served, so none is accepted.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class SourceVersion:
    """The exact object a load read: what data items and the published objects cite."""

    bucket: str
    key: str
    version: str
    """The S3 version id, or the ETag when the bucket is not versioned."""

    def as_json(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "version": self.version}


def _item(key: str, body: tuple[str, str], rows: int, content_hash: str, source: SourceVersion,
          loaded_at: str) -> dict:
    """An item of one key: its body attribute (the document or its object's id) and the load's facts."""
    return {
        PARTITION_KEY: key,
        body[0]: body[1],
        ROWS: rows,
        HASH: content_hash,
        SOURCE_BUCKET: source.bucket,
        SOURCE_KEY: source.key,
        SOURCE_VERSION: source.version,
        LOADED_AT: loaded_at,
    }


def data_item(
    key: str, doc: str, rows: int, content_hash: str, source: SourceVersion, loaded_at: str
) -> dict:
    """One data item as plain Python values, in the layout the gateway reads."""
    return _item(key, (DOC, doc), rows, content_hash, source, loaded_at)


def large_item(
    key: str, ref: str, rows: int, content_hash: str, source: SourceVersion, loaded_at: str
) -> dict:
    """The item of a document stored as an S3 object: everything but the document, and its object's id."""
    return _item(key, (DOC_REF, ref), rows, content_hash, source, loaded_at)


def document_ref(key: str) -> str:
    """The id of a key's document object: hex, so it is safe in an object key and a URL path segment,
    whatever the key holds, and of fixed length, whatever the key's."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def item_overhead(source: SourceVersion, loaded_at: str) -> int:
    """Bytes a data item spends on everything but its key and document (an upper bound)."""
    text = (
        (ROWS, "9" * 21),  # a number costs at most about one byte per two digits, plus one
        (HASH, "0" * 64),
        (SOURCE_BUCKET, source.bucket),
        (SOURCE_KEY, source.key),
        (SOURCE_VERSION, source.version),
        (LOADED_AT, loaded_at),
    )
    return sum(len(name) + len(value.encode("utf-8")) for name, value in text) + len(PARTITION_KEY) + len(DOC)


@dataclass(frozen=True)
class PublishedKeys:
    """The object keys under the publish prefix."""

    prefix: str

    @property
    def index(self) -> str:
        return f"{self.prefix}index.json"

    @property
    def snapshot(self) -> str:
        return f"{self.prefix}snapshot.json"

    @property
    def documents_prefix(self) -> str:
        """Documents too large for a DynamoDB item, one object each, named by `document_ref`."""
        return f"{self.prefix}documents/"

    def document(self, ref: str) -> str:
        return f"{self.documents_prefix}{ref}"

    @property
    def parts_prefix(self) -> str:
        """The snapshot in parts: one folder per set of parts, which index.json names."""
        return f"{self.prefix}snapshot/"

    def part(self, set_id: str, number: int) -> str:
        return f"{self.parts_prefix}{set_id}/{number}"

    @property
    def private_prefix(self) -> str:
        """Bookkeeping objects live here; the gateway cannot read them."""
        return f"{self.prefix}_loader/"

    @property
    def manifest(self) -> str:
        return f"{self.private_prefix}manifest.json"

    @property
    def part_sets(self) -> str:
        """Every set of snapshot parts that may exist, so that the ones no index names are removed."""
        return f"{self.private_prefix}snapshot-parts.json"
