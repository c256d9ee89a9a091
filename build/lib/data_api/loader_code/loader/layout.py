"""Where the loader keeps things: the item layout in the table and the object keys in S3."""

from __future__ import annotations

from dataclasses import dataclass

# Bookkeeping items share the table's key space under this prefix; a CSV partition value that
# starts with it is rejected, so no data key can collide with (or be served as) bookkeeping.
RESERVED_PREFIX = "_loader#"
LEASE_KEY = f"{RESERVED_PREFIX}lease"
MARKER_KEY = f"{RESERVED_PREFIX}marker"

PARTITION_KEY = "pk"
DOC = "doc"
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


@dataclass(frozen=True)
class SourceVersion:
    """The exact object a load read: what data items and the published objects cite."""

    bucket: str
    key: str
    version: str
    """The S3 version id, or the ETag when the bucket is not versioned."""

    def as_json(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "version": self.version}


def data_item(
    key: str, doc: str, rows: int, content_hash: str, source: SourceVersion, loaded_at: str
) -> dict:
    """One data item as plain Python values, in the layout the gateway reads."""
    return {
        PARTITION_KEY: key,
        DOC: doc,
        ROWS: rows,
        HASH: content_hash,
        SOURCE_BUCKET: source.bucket,
        SOURCE_KEY: source.key,
        SOURCE_VERSION: source.version,
        LOADED_AT: loaded_at,
    }


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
    def private_prefix(self) -> str:
        """Bookkeeping objects live here; the gateway can read only index.json and snapshot.json."""
        return f"{self.prefix}_loader/"

    @property
    def manifest(self) -> str:
        return f"{self.private_prefix}manifest.json"
