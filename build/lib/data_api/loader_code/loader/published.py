"""The public objects a load publishes: index.json (every key) and snapshot.json (the whole data set)."""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Iterator, Mapping

from loader.dataset import Document
from loader.layout import SourceVersion
from loader.plan import Entry

CONTENT_TYPE = "application/json"
CACHE_CONTROL = "private, max-age=60"
# API Gateway cannot return a larger response body; the snapshot route would fail above it.
API_RESPONSE_LIMIT = 10 * 1024 * 1024
# S3 user metadata on snapshot.json naming the data it holds, so an unchanged load can skip it.
FINGERPRINT_METADATA = "dataset-fingerprint"
SNAPSHOT_FORMAT = "1"

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def index_body(
    collection: str, entries: Mapping[str, Entry], source: SourceVersion, loaded_at: str
) -> bytearray:
    """index.json: this load's time and source, and every key's rows and the version that last changed it."""
    opening = _JSON(
        {"loadedAt": loaded_at, "source": source.as_json(), "count": len(entries), collection: {}}
    )
    out = bytearray(opening[: -len("}}")].encode("utf-8"))  # left open at the collection's map
    separator = b""
    for key in sorted(entries):
        entry = entries[key]
        out += separator
        out += _JSON(key).encode("utf-8")
        out += b":"
        out += _JSON({"rows": entry.rows, "version": entry.version, "loadedAt": entry.loaded_at}).encode(
            "utf-8"
        )
        separator = b","
    out += b"}}"
    return out


def snapshot_head(collection: str, source: SourceVersion, loaded_at: str) -> bytes:
    """The snapshot's text before its first document."""
    opening = _JSON({"loadedAt": loaded_at, "source": source.as_json(), collection: {}})
    # Everything up to the collection's empty map, left open: `...,"departments":{`
    return opening[: -len("}}")].encode("utf-8")


SNAPSHOT_TAIL = b"}}"


def snapshot_size(head: bytes, documents: Iterable[tuple[str, int]]) -> int:
    """The exact size of snapshot.json, from each key and its document's size."""
    size = len(head) + len(SNAPSHOT_TAIL)
    count = 0
    for key, document_size in documents:
        size += len(_JSON(key).encode("utf-8")) + 1 + document_size
        count += 1
    return size + max(count - 1, 0)


def snapshot_chunks(head: bytes, documents: Iterable[Document]) -> Iterator[bytes]:
    """snapshot.json as a stream of pieces, one document at a time, keys in code-point order."""
    yield head
    separator = b""
    for document in documents:
        yield separator + _JSON(document.key).encode("utf-8") + b":"
        yield document.body
        separator = b","
    yield SNAPSHOT_TAIL


def fingerprint(collection: str, entries: Mapping[str, Entry]) -> str:
    """Names the data a snapshot holds: equal fingerprints mean byte-equal collections."""
    digest = hashlib.sha256(f"{SNAPSHOT_FORMAT}\n{collection}\n".encode("utf-8"))
    for key, entry in sorted(entries.items()):
        digest.update(_JSON([key, entry.content_hash]).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
