"""Deciding what a load does: event ordering, the diff against the last load, the deletion guard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from loader.errors import LoaderError, MassDeletionRefused

NEWER = "newer"
SAME = "same"
OLDER = "older"

MASS_DELETE_METADATA = "allow-mass-delete"
MANIFEST_FORMAT = 1
ENTRY_FIELDS = {"hash", "rows", "version", "loadedAt"}
# Written only for a key whose document is (or may be) an S3 object, so other entries stay as they were.
LARGE_FIELD = "large"
LARGE_ENTRY_FIELDS = ENTRY_FIELDS | {LARGE_FIELD}

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


# --------------------------------------------------------------------------------------------
# Ordering
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectPosition:
    """Where one source object stands in the order of loads."""

    key: str
    sequencer: str | None
    """S3's event sequencer: orders the events of one key only."""
    last_modified: int | None
    """The object's Last-Modified, in epoch seconds (S3 keeps whole seconds)."""
    version_id: str | None
    etag: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "sequencer": self.sequencer,
            "lastModified": self.last_modified,
            "versionId": self.version_id,
            "etag": self.etag,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ObjectPosition:
        modified = raw.get("lastModified")
        return cls(
            key=str(raw.get("key", "")),
            sequencer=raw.get("sequencer") or None,
            last_modified=int(modified) if modified is not None else None,
            version_id=raw.get("versionId") or None,
            etag=raw.get("etag") or None,
        )


def compare_sequencers(first: str, second: str) -> int | None:
    """-1, 0 or 1 comparing two sequencers as hex numbers (the shorter is left-padded with zeros);
    None when either is not hex."""
    try:
        a, b = int(first, 16), int(second, 16)
    except ValueError:
        return None
    return (a > b) - (a < b)


def order(candidate: ObjectPosition, last: ObjectPosition | None, prefix_mode: bool) -> str:
    """Whether a candidate object is NEWER than the last one loaded, the SAME object, or OLDER.

    One key's events are ordered by their sequencers (version ids carry no order). Across the
    keys of prefix mode, by Last-Modified and then by key, so producers should name files with
    a sortable timestamp. Without enough information, a candidate counts as newer: loading it
    again is safe, skipping a new file is not.
    """
    if last is None:
        return NEWER
    if candidate.key == last.key:
        if candidate.sequencer and last.sequencer:
            compared = compare_sequencers(candidate.sequencer, last.sequencer)
            if compared is not None:
                return _verdict(compared)
        same_version = candidate.version_id is not None and candidate.version_id == last.version_id
        same_content = (
            candidate.etag is not None
            and candidate.etag == last.etag
            and candidate.last_modified == last.last_modified
        )
        if same_version or same_content:
            return SAME
        if candidate.last_modified is not None and last.last_modified is not None:
            if candidate.last_modified < last.last_modified:
                return OLDER
        return NEWER
    if not prefix_mode or candidate.last_modified is None or last.last_modified is None:
        # Single-object mode with a different key means the source was reconfigured.
        return NEWER
    return _verdict(_compare((candidate.last_modified, candidate.key), (last.last_modified, last.key)))


def _compare(a: tuple, b: tuple) -> int:
    return (a > b) - (a < b)


def _verdict(compared: int) -> str:
    return NEWER if compared > 0 else SAME if compared == 0 else OLDER


# --------------------------------------------------------------------------------------------
# The manifest of the last load
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """What the table holds for one key, as of the last load."""

    content_hash: str | None
    """None when unknown (a load was interrupted): rewrite the key if kept, delete it if gone."""
    rows: int
    version: str
    """The source version that last changed the key."""
    loaded_at: str
    """When that load ran (ISO-8601 UTC)."""
    large: bool = False
    """True when the key's document is (or, while a load is pending, may be) an S3 object."""


@dataclass(frozen=True)
class Manifest:
    """Key -> Entry for every data key in the table."""

    entries: Mapping[str, Entry]
    complete: bool
    """False while a load is writing (a 'pending' manifest), or when it must be saved again."""

    def to_json(self) -> bytearray:
        """The manifest as JSON, written entry by entry so no second copy of the map is built."""
        status = "complete" if self.complete else "pending"
        out = bytearray(f'{{"format":{MANIFEST_FORMAT},"status":"{status}","keys":{{'.encode("utf-8"))
        separator = b""
        for key in sorted(self.entries):
            entry = self.entries[key]
            value = {
                "hash": entry.content_hash,
                "rows": entry.rows,
                "version": entry.version,
                "loadedAt": entry.loaded_at,
            }
            if entry.large:
                value[LARGE_FIELD] = True
            out += separator
            out += _JSON(key).encode("utf-8")
            out += b":"
            out += _JSON(value).encode("utf-8")
            separator = b","
        out += b"}}"
        return out

    @classmethod
    def from_json(cls, body: bytes | bytearray, where: str) -> Manifest:
        shared: dict[str, str] = {}  # versions and times repeat across keys: keep one copy of each

        def entry_or_object(pairs: list[tuple[str, Any]]) -> Any:
            # Called as each JSON object closes: entries become Entry at once, never a dict.
            value = dict(pairs)
            fields = value.keys()
            if (
                (fields == ENTRY_FIELDS or fields == LARGE_ENTRY_FIELDS)
                and isinstance(value["rows"], int)
                and isinstance(value.get(LARGE_FIELD, False), bool)
            ):
                return Entry(
                    content_hash=value["hash"],
                    rows=value["rows"],
                    version=shared.setdefault(value["version"], value["version"]),
                    loaded_at=shared.setdefault(value["loadedAt"], value["loadedAt"]),
                    large=value.get(LARGE_FIELD, False),
                )
            return value

        try:
            document = json.loads(body, object_pairs_hook=entry_or_object)
            if document.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {document.get('format')!r} is not {MANIFEST_FORMAT}")
            entries = document["keys"]
            if not all(isinstance(entry, Entry) for entry in entries.values()):
                raise ValueError("an entry lacks hash, rows, version or loadedAt")
            return cls(entries, complete=document["status"] == "complete")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise LoaderError(
                f"the manifest {where} is unreadable ({error}); delete it and the next load rebuilds it "
                "from the table"
            ) from error


# --------------------------------------------------------------------------------------------
# The diff and the guard
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one load changes in the table."""

    write: list[str]
    """Keys that are new, changed, or of unknown content, in code-point order."""
    unchanged: list[str]
    delete: list[str]
    """Keys in the table that the new file no longer has."""
    existing: int
    """How many keys the table held before."""

    @property
    def changes_table(self) -> bool:
        return bool(self.write or self.delete)


def diff(previous: Mapping[str, Entry], keys: Iterable[str], content_hash: Callable[[str], str]) -> Plan:
    """Compares the new data set's keys and hashes with the last load's."""
    write: list[str] = []
    unchanged: list[str] = []
    seen = set()
    for key in keys:
        seen.add(key)
        entry = previous.get(key)
        if entry is not None and entry.content_hash is not None and entry.content_hash == content_hash(key):
            unchanged.append(key)
        else:
            write.append(key)
    delete = sorted(key for key in previous if key not in seen)
    return Plan(write=write, unchanged=unchanged, delete=delete, existing=len(previous))


def check_deletions(plan: Plan, max_fraction: float, allowed_by_metadata: bool, source: str) -> None:
    """Refuses a load that would delete more than `max_fraction` of the existing keys."""
    if not plan.delete or allowed_by_metadata or plan.existing == 0:
        return
    if len(plan.delete) > max_fraction * plan.existing:
        examples = ", ".join(repr(key) for key in plan.delete[:5])
        raise MassDeletionRefused(
            f"{source} would delete {len(plan.delete)} of the {plan.existing} existing keys "
            f"({len(plan.delete) / plan.existing:.0%}), more than the {max_fraction:.0%} allowed "
            f"(MAX_DELETE_FRACTION); nothing was changed. Keys that would go include {examples}. "
            f"If the removal is intended, upload the file again with the S3 user metadata "
            f"'{MASS_DELETE_METADATA}: true' (header x-amz-meta-{MASS_DELETE_METADATA}: true), or raise "
            "loader.maxDeleteFraction in the stack config."
        )


def allows_mass_delete(metadata: Mapping[str, str]) -> bool:
    """True when the object's user metadata lets this load delete any share of the keys."""
    return str(metadata.get(MASS_DELETE_METADATA, "")).strip().lower() == "true"


def pending_manifest(
    previous: Mapping[str, Entry], plan: Plan, is_large: Callable[[str], bool] = lambda key: False
) -> Manifest:
    """The manifest to save before any write: every key that may exist in the table once the
    writes start, with the content of each key about to change marked unknown. A load that
    dies midway leaves this behind, so the next load rewrites or deletes every such key, and
    removes the S3 copy of any that may have one (it was large before, or is about to be)."""
    entries = dict(previous)
    for key in plan.write:
        old = previous.get(key)
        large = is_large(key) or (old is not None and old.large)
        entries[key] = (
            Entry(None, 0, "", "", large) if old is None else Entry(None, old.rows, old.version, old.loaded_at, large)
        )
    for key in plan.delete:
        old = previous[key]
        entries[key] = Entry(None, old.rows, old.version, old.loaded_at, old.large)
    return Manifest(entries, complete=False)


def stale_documents(
    previous: Mapping[str, Entry], plan: Plan, is_large: Callable[[str], bool]
) -> list[str]:
    """Keys whose S3 copy must go once the table is written: they left the data set, or their
    document now fits in its item, and they had (or may have had) an S3 copy."""
    leaving = [key for key in plan.delete if previous[key].large]
    shrinking = [key for key in plan.write if not is_large(key) and key in previous and previous[key].large]
    return sorted(leaving + shrinking)


def final_manifest(
    previous: Mapping[str, Entry],
    plan: Plan,
    rows: Callable[[str], int],
    content_hash: Callable[[str], str],
    version: str,
    loaded_at: str,
    is_large: Callable[[str], bool] = lambda key: False,
) -> Manifest:
    """The manifest after a successful load: unchanged keys keep their version, time and storage."""
    entries = {key: previous[key] for key in plan.unchanged}
    for key in plan.write:
        entries[key] = Entry(content_hash(key), rows(key), version, loaded_at, is_large(key))
    return Manifest(entries, complete=True)
