"""The public objects a load publishes: index.json (every key), snapshot.json (the whole data set) and
the snapshot in parts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

from loader.dataset import Document
from loader.layout import SourceVersion
from loader.plan import Entry

CONTENT_TYPE = "application/json"
CACHE_CONTROL = "private, max-age=60"
# API Gateway cannot return a larger response body: above it, snapshot.json says so (a 413).
API_RESPONSE_LIMIT = 10 * 1024 * 1024
# Each part of the snapshot holds at most this much, unless one document alone is larger.
PART_LIMIT = 8 * 1024 * 1024
# S3 user metadata on snapshot.json and index.json naming the data they hold, so an unchanged
# load can keep them; index.json's also names its set of parts.
FINGERPRINT_METADATA = "dataset-fingerprint"
PARTS_ID_METADATA = "snapshot-parts-id"
PARTS_COUNT_METADATA = "snapshot-parts"
# 2: snapshot.json above the response limit is a short notice naming the parts.
SNAPSHOT_FORMAT = "2"
# The route that serves the parts, as the notice names it.
PARTS_ROUTE = "/snapshot/parts/{part}"
# The notice's first field, which the snapshot route's template looks for (see too_large_notice).
TOO_LARGE_FIELD = "snapshotTooLarge"

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class PartSet:
    """One load's snapshot in parts: objects `<parts prefix><id>/<n>` for n in 1..parts."""

    id: str
    parts: int

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "parts": self.parts}


def index_body(
    collection: str, entries: Mapping[str, Entry], source: SourceVersion, loaded_at: str, parts: PartSet
) -> bytearray:
    """index.json: this load's time and source, the snapshot's parts, and every key's rows and the
    version that last changed it."""
    opening = _JSON(
        {
            "loadedAt": loaded_at,
            "source": source.as_json(),
            "count": len(entries),
            "snapshotParts": parts.parts,
            "snapshotPartsId": parts.id,
            collection: {},
        }
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


def part_head(collection: str, source: SourceVersion, loaded_at: str, number: int, parts: int) -> bytes:
    """A part's text before its first document: the snapshot's head, and which part of how many."""
    opening = _JSON(
        {"loadedAt": loaded_at, "source": source.as_json(), "part": number, "parts": parts, collection: {}}
    )
    return opening[: -len("}}")].encode("utf-8")


def plan_parts(documents: Iterable[tuple[str, int]], head_bytes: int, limit: int) -> list[int]:
    """How many documents go in each part, in key order: as many as fit in `limit` bytes with a
    head of at most `head_bytes`; a document never split, so one larger than a part is a part alone."""
    counts: list[int] = []
    size = 0
    for key, document_size in documents:
        entry = len(_JSON(key).encode("utf-8")) + 1 + document_size
        if counts and size + 1 + entry <= limit:
            counts[-1] += 1
            size += 1 + entry
        else:
            counts.append(1)
            size = head_bytes + len(SNAPSHOT_TAIL) + entry
    return counts


def too_large_notice(
    collection: str, source: SourceVersion, loaded_at: str, snapshot_bytes: int, parts: int
) -> bytes:
    """What snapshot.json holds when the data set is over API Gateway's response limit.

    Indented, unlike every other published object: `"snapshotTooLarge": ` (a letter, a quote, a
    colon and a space) can never occur in compact JSON, so the route's template can tell the
    notice from any snapshot and answer it with a 413.
    """
    notice = {
        TOO_LARGE_FIELD: True,
        "message": (
            f"Payload too large: the {collection} snapshot is {snapshot_bytes:,} bytes, over API "
            f"Gateway's {API_RESPONSE_LIMIT:,}-byte response limit; read it in {parts} "
            f"part{'s' if parts != 1 else ''}: GET {PARTS_ROUTE} for part 1 to {parts}"
        ),
        "loadedAt": loaded_at,
        "source": source.as_json(),
        "snapshotBytes": snapshot_bytes,
        "parts": parts,
        "partsRoute": PARTS_ROUTE,
    }
    return json.dumps(notice, ensure_ascii=False, indent=2).encode("utf-8")


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
