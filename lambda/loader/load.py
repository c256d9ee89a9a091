"""One load, end to end: order check, lease, parse and validate, diff, write, delete, publish."""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from loader import plan, published, telemetry
from loader.dataset import Dataset, Schema, parse
from loader.errors import LeaseHeld, StoreError
from loader.events import ObjectCreated
from loader.layout import DOC_REF, EXPIRES_AT, SourceVersion, data_item, document_ref, item_overhead, large_item
from loader.plan import Entry, Manifest, ObjectPosition
from loader.published import PartSet
from loader.settings import Settings
from loader.store import SourceObject, Store
from loader.telemetry import log

# A lease outlives its invocation by this much at most (the invocation's deadline plus this).
LEASE_MARGIN_SECONDS = 10
# How long a load waits for another's lease before it fails (and is retried by Lambda).
LEASE_WAIT_SECONDS = 60.0

SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"


PART_SETS_FORMAT = 1


@dataclass(frozen=True)
class SnapshotPlan:
    """What a load publishes as snapshot.json, decided before it writes the table."""

    head: bytes
    size: int
    publish: bool
    """False when the published snapshot already holds this data set."""
    metadata: dict[str, str]
    notice: bytes | None
    """Over API Gateway's response limit, what snapshot.json holds instead of the data set."""


@dataclass(frozen=True)
class PartsPlan:
    """The set of snapshot parts this load's index.json names, and every other set that may exist."""

    current: PartSet
    counts: list[int] | None
    """Documents per part, in key order, when this load publishes a new set; None keeps the set
    the last index named (it holds this very data set)."""
    known: list[PartSet]
    """Every set that may exist before this load: those recorded, and the one the last index names."""
    recorded: list[PartSet]
    """What the private record of sets says now."""

    @property
    def stale(self) -> list[PartSet]:
        return [part_set for part_set in self.known if part_set.id != self.current.id]


@dataclass
class LoadResult:
    """What one load did: logged as one line, and returned by the handler."""

    source: str
    request_id: str
    outcome: str = FAILED
    reason: str | None = None
    version: str | None = None
    source_bytes: int | None = None
    rows: int = 0
    keys_written: int = 0
    keys_unchanged: int = 0
    keys_deleted: int = 0
    batch_requests: int = 0
    large_documents: int | None = None
    """Documents too large for a DynamoDB item, stored as S3 objects (once the file is parsed)."""
    snapshot_bytes: int | None = None
    snapshot_published: bool = False
    cache_flushed: bool | None = None
    """Whether the API's cache was flushed; None when there is no cache or nothing changed."""
    snapshot_parts: int | None = None
    duration_ms: int = 0
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        names = {
            "request_id": "requestId",
            "source_bytes": "sourceBytes",
            "keys_written": "keysWritten",
            "keys_unchanged": "keysUnchanged",
            "keys_deleted": "keysDeleted",
            "batch_requests": "batchWriteRequests",
            "large_documents": "largeDocuments",
            "snapshot_bytes": "snapshotBytes",
            "snapshot_published": "snapshotPublished",
            "cache_flushed": "cacheFlushed",
            "snapshot_parts": "snapshotParts",
            "duration_ms": "durationMs",
        }
        return {names.get(name, name): value for name, value in asdict(self).items() if value is not None}


class Loader:
    """Loads announced source objects into the table and publishes the result."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        lease_wait_seconds: float = LEASE_WAIT_SECONDS,
    ):
        self.settings = settings
        self.store = store
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self.lease_wait_seconds = lease_wait_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> Loader:
        store = Store(
            settings.table_name,
            settings.publish_bucket,
            settings.write_concurrency,
            source_kms_key_arn=settings.source_kms_key_arn,
            publish_kms_key_arn=settings.publish_kms_key_arn,
        )
        return cls(settings, store)

    def load(self, created: ObjectCreated, context: Any) -> LoadResult:
        """Loads one announced object; logs one summary line and emits metrics; re-raises failures."""
        started = self._monotonic()
        result = LoadResult(source=created.describe(), request_id=_request_id(context))
        try:
            self._load(created, context, result)
        except Exception as error:  # not swallowed: counted and logged once, then re-raised
            result.outcome = FAILED
            result.error = str(error)
            result.duration_ms = _elapsed_ms(started, self._monotonic())
            self._report(result)
            raise
        result.duration_ms = _elapsed_ms(started, self._monotonic())
        self._report(result)
        return result

    # ----------------------------------------------------------------------------------------

    def _load(self, created: ObjectCreated, context: Any, result: LoadResult) -> None:
        # A redelivered or older event is usually recognisable from the event alone: skip it
        # without taking the lease or reading the object.
        announced = ObjectPosition(created.key, created.sequencer, None, created.version_id, created.etag)
        if self._already_loaded(announced, created.bucket, self.store.read_marker(), result):
            return
        owner = result.request_id
        self._acquire_lease(owner, context, created)
        try:
            marker = self.store.read_marker()
            source = self.store.open_source(created.bucket, created.key, created.version_id)
            try:
                position = ObjectPosition(
                    key=created.key,
                    sequencer=created.sequencer,
                    last_modified=source.last_modified,
                    version_id=source.version_id or created.version_id,
                    etag=source.etag or created.etag,
                )
                if self._already_loaded(position, created.bucket, marker, result):
                    return
                self._apply(source, position, result)
            finally:
                source.close()
        finally:
            self._release_lease(owner)

    def _already_loaded(
        self, position: ObjectPosition, bucket: str, marker: dict[str, Any] | None, result: LoadResult
    ) -> bool:
        """True (and the result says why) when the object is the last one loaded, or older."""
        if marker is None or marker.get("sourceBucket") != bucket:
            return False
        verdict = plan.order(position, ObjectPosition.from_json(marker), self.settings.prefix_mode)
        if verdict == plan.NEWER:
            return False
        result.outcome = SKIPPED
        last = (
            f"s3://{bucket}/{marker.get('key')} "
            f"(version {marker.get('sourceVersion')}, loaded {marker.get('loadedAt')})"
        )
        if verdict == plan.SAME:
            result.reason = f"already loaded: this is the last object loaded, {last}"
        else:
            result.reason = f"older than the last object loaded, {last}"
        return True

    def _apply(self, source: SourceObject, position: ObjectPosition, result: LoadResult) -> None:
        settings = self.settings
        keys = settings.published
        loaded_at = _iso(self._clock())
        version = source.source_version
        result.version = version.version
        result.source_bytes = source.size
        schema = Schema(
            settings.partition_column, settings.item_column, settings.items_field, settings.column_types
        )
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="prefetch") as pool:
            # Reading the last manifest and checking the published objects overlap with parsing.
            previous_future = pool.submit(self._previous_manifest)
            snapshot_future = pool.submit(self.store.published_metadata, keys.snapshot)
            index_future = pool.submit(self.store.published_metadata, keys.index)
            part_sets_future = pool.submit(self._recorded_part_sets)
            dataset = parse(source.chunks(), schema, source.name, item_overhead(version, loaded_at))
            previous = previous_future.result()
            snapshot_metadata = snapshot_future.result()
            index_metadata = index_future.result()
            recorded_part_sets = part_sets_future.result()
        result.rows = dataset.rows
        result.large_documents = dataset.large_count()

        changes = plan.diff(previous.entries, dataset.keys(), dataset.content_hash)
        plan.check_deletions(
            changes, settings.max_delete_fraction, plan.allows_mass_delete(source.metadata), source.name
        )
        result.keys_unchanged = len(changes.unchanged)
        writes_table = changes.changes_table or not previous.complete
        if writes_table:
            current = plan.final_manifest(
                previous.entries,
                changes,
                dataset.rows_of,
                dataset.content_hash,
                version.version,
                loaded_at,
                dataset.is_large,
            )
        else:
            current = previous
        fingerprint = published.fingerprint(settings.collection_name, current.entries)
        parts = self._parts_plan(dataset, fingerprint, version, loaded_at, index_metadata, recorded_part_sets)
        result.snapshot_parts = parts.current.parts
        snapshot = self._snapshot_plan(
            dataset, fingerprint, parts.current.parts, version, loaded_at, snapshot_metadata, result
        )
        if parts.counts is not None:
            # Recorded before any part is sent, so a load that dies midway leaves its parts known
            # to the next load, which removes them.
            self._record_part_sets([*parts.known, parts.current])
        with self._publisher(snapshot, parts, dataset, version, loaded_at) as publish_snapshot:
            if writes_table:
                self._write_table(dataset, previous, changes, current, version, loaded_at, result)
            publish_snapshot()
        result.snapshot_published = snapshot.publish
        self._flush_cache(result)
        # index.json names the parts: only now, with every part in place, do readers see them.
        index = published.index_body(settings.collection_name, current.entries, version, loaded_at, parts.current)
        self.store.publish(
            keys.index,
            [index],
            len(index),
            published.CONTENT_TYPE,
            published.CACHE_CONTROL,
            {
                published.FINGERPRINT_METADATA: fingerprint,
                published.PARTS_ID_METADATA: parts.current.id,
                published.PARTS_COUNT_METADATA: str(parts.current.parts),
            },
        )
        self._remove_stale_parts(parts)
        self.store.write_marker(
            {
                **position.as_json(),
                "sourceBucket": version.bucket,
                "sourceVersion": version.version,
                "loadedAt": loaded_at,
                "requestId": result.request_id,
            }
        )
        result.outcome = SUCCEEDED

    def _flush_cache(self, result: LoadResult) -> None:
        """Drops the API's cached answers once a load has changed or deleted keys.

        A failure is logged and counted, not raised: the data is written, and the cache's TTL
        bounds how long the old answers are served.
        """
        settings = self.settings
        if settings.cache_rest_api_id is None or not (result.keys_written or result.keys_deleted):
            return
        try:
            self.store.flush_cache(settings.cache_rest_api_id, settings.cache_stage_name or "")
        except StoreError as error:
            result.cache_flushed = False
            log.warning(
                "the API cache was not flushed; cached answers stay until their TTL ends", error=str(error)
            )
            return
        result.cache_flushed = True

    def _previous_manifest(self) -> Manifest:
        """The last load's manifest; rebuilt from a table scan when it cannot be read."""
        key = self.settings.published.manifest
        where = f"s3://{self.settings.publish_bucket}/{key}"
        stored = self.store.read_private(key)
        if stored.body is not None:
            return Manifest.from_json(stored.body, where)
        entries = {
            str(item["pk"]): Entry(
                content_hash=item.get("hash"),
                rows=int(item.get("rows", 0)),
                version=str(item.get("sourceVersion", "")),
                loaded_at=str(item.get("loadedAt", "")),
                large=DOC_REF in item,
            )
            for item in self.store.scan_data_items()
        }
        if stored.status == "missing" and not entries:
            log.info("no manifest and no data yet: a first load", manifest=where)
        else:
            log.warning(
                "manifest unavailable; rebuilt from a table scan",
                manifest=where,
                status=stored.status,
                keys=len(entries),
            )
        return Manifest(entries, complete=False)

    def _write_table(
        self,
        dataset: Dataset,
        previous: Manifest,
        changes: plan.Plan,
        current: Manifest,
        version: SourceVersion,
        loaded_at: str,
        result: LoadResult,
    ) -> None:
        keys = self.settings.published
        requests_before = self.store.batch_requests
        # Saved before any write, so a load that dies midway leaves every key it may have
        # touched marked unknown: the next load rewrites or deletes each of them.
        self.store.write_private(
            keys.manifest, plan.pending_manifest(previous.entries, changes, dataset.is_large).to_json()
        )

        def item(key: str) -> dict[str, Any]:
            """The item for a key, built on the thread that writes it."""
            document = dataset.document(key)
            if dataset.is_large(key):
                # The object first: the item that points readers at it is written after.
                ref = document_ref(key)
                self.store.put_public(
                    keys.document(ref), document.body, published.CONTENT_TYPE, published.CACHE_CONTROL
                )
                return large_item(key, ref, document.rows, document.content_hash, version, loaded_at)
            return data_item(key, document.text, document.rows, document.content_hash, version, loaded_at)

        result.keys_written = self.store.put_items(changes.write, build=item)
        # Only once every write succeeded do keys that left the data set go, and then the S3
        # copies that no item points at any more.
        result.keys_deleted = self.store.delete_keys(changes.delete)
        stale = plan.stale_documents(previous.entries, changes, dataset.is_large)
        self.store.delete_objects(keys.document(document_ref(key)) for key in stale)
        self.store.write_private(keys.manifest, current.to_json())
        result.batch_requests = self.store.batch_requests - requests_before

    @contextmanager
    def _publisher(
        self,
        snapshot: SnapshotPlan,
        parts: PartsPlan,
        dataset: Dataset,
        version: SourceVersion,
        loaded_at: str,
    ) -> Iterator[Callable[[], None]]:
        """Yields what makes the new snapshot.json visible, to call once the table is written.

        Meanwhile one background thread sends a large snapshot (a multipart upload, which S3
        shows only once it is completed), then the parts of a new set (which no reader finds
        before index.json names them), one at a time, so memory holds one upload buffer. If the
        load fails first, the snapshot upload is abandoned and readers keep the old one.
        """
        keys = self.settings.published
        staged = None
        if snapshot.publish and snapshot.notice is None and self.store.needs_parts(snapshot.size):
            staged = self.store.stage(
                keys.snapshot, published.CONTENT_TYPE, published.CACHE_CONTROL, snapshot.metadata
            )
        stop = threading.Event()

        def send() -> None:
            if staged is not None:
                staged.send(published.snapshot_chunks(snapshot.head, dataset.documents()))
            if parts.counts is not None:
                self._send_parts(parts, dataset, version, loaded_at, stop)

        def finish() -> None:
            if sending is not None:
                sending.result()
            if staged is not None:
                staged.complete()
            elif snapshot.publish and snapshot.notice is not None:
                self.store.publish(
                    keys.snapshot,
                    [snapshot.notice],
                    len(snapshot.notice),
                    published.CONTENT_TYPE,
                    published.CACHE_CONTROL,
                    snapshot.metadata,
                )
            elif snapshot.publish:
                self.store.publish(
                    keys.snapshot,
                    published.snapshot_chunks(snapshot.head, dataset.documents()),
                    snapshot.size,
                    published.CONTENT_TYPE,
                    published.CACHE_CONTROL,
                    snapshot.metadata,
                )

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish") as background:
            sending = background.submit(send) if staged is not None or parts.counts is not None else None
            try:
                yield finish
            finally:
                stop.set()
                if staged is not None:
                    staged.stop()
                if sending is not None:
                    wait([sending])  # its error, if any, is already on its way up, or irrelevant
                if staged is not None:
                    staged.close()

    def _send_parts(
        self, parts: PartsPlan, dataset: Dataset, version: SourceVersion, loaded_at: str, stop: threading.Event
    ) -> None:
        """Uploads the new set's parts, each streamed from its documents, in key order."""
        assert parts.counts is not None, "only a new set is sent"
        keys = self.settings.published
        collection = self.settings.collection_name
        ordered = dataset.keys()
        total = len(parts.counts)
        start = 0
        for number, count in enumerate(parts.counts, start=1):
            if stop.is_set():
                raise StoreError(f"sending the snapshot's parts was stopped at part {number} of {total}")
            part_keys = ordered[start : start + count]
            start += count
            head = published.part_head(collection, version, loaded_at, number, total)
            size = published.snapshot_size(head, ((key, dataset.document_size(key)) for key in part_keys))
            if size > published.API_RESPONSE_LIMIT:
                log.warning(
                    "a snapshot part is over API Gateway's 10 MB response limit: its one document is "
                    "within a few KB of the limit, and the part's route cannot answer it",
                    part=number,
                    key=part_keys[0],
                    partBytes=size,
                    limitBytes=published.API_RESPONSE_LIMIT,
                )
            self.store.publish(
                keys.part(parts.current.id, number),
                published.snapshot_chunks(head, dataset.documents(part_keys)),
                size,
                published.CONTENT_TYPE,
                published.CACHE_CONTROL,
                {},
            )

    def _snapshot_plan(
        self,
        dataset: Dataset,
        fingerprint: str,
        parts: int,
        version: SourceVersion,
        loaded_at: str,
        snapshot_metadata: dict[str, str] | None,
        result: LoadResult,
    ) -> SnapshotPlan:
        collection = self.settings.collection_name
        head = published.snapshot_head(collection, version, loaded_at)
        size = published.snapshot_size(head, ((key, dataset.document_size(key)) for key in dataset.keys()))
        result.snapshot_bytes = size
        notice = None
        if size > published.API_RESPONSE_LIMIT:
            notice = published.too_large_notice(collection, version, loaded_at, size, parts)
        return SnapshotPlan(
            head=head,
            size=size,
            # An unchanged data set keeps the snapshot already published for it.
            publish=(snapshot_metadata or {}).get(published.FINGERPRINT_METADATA) != fingerprint,
            metadata={published.FINGERPRINT_METADATA: fingerprint},
            notice=notice,
        )

    def _parts_plan(
        self,
        dataset: Dataset,
        fingerprint: str,
        version: SourceVersion,
        loaded_at: str,
        index_metadata: dict[str, str] | None,
        recorded: list[PartSet],
    ) -> PartsPlan:
        """Keeps the set the last index names when it holds this data set; else plans a new one."""
        named = _named_part_set(index_metadata)
        known = list(recorded)
        if named is not None and all(part_set.id != named.id for part_set in known):
            known.append(named)
        if named is not None and (index_metadata or {}).get(published.FINGERPRINT_METADATA) == fingerprint:
            return PartsPlan(current=named, counts=None, known=known, recorded=recorded)
        collection = self.settings.collection_name
        # The head's length depends on the part numbers: plan with room for the longest.
        head_bound = len(published.part_head(collection, version, loaded_at, 999_999, 999_999))
        counts = published.plan_parts(
            ((key, dataset.document_size(key)) for key in dataset.keys()), head_bound, published.PART_LIMIT
        )
        set_id = loaded_at.replace("-", "").replace(":", "").replace(".", "") + "-" + uuid.uuid4().hex[:8]
        return PartsPlan(current=PartSet(set_id, len(counts)), counts=counts, known=known, recorded=recorded)

    def _recorded_part_sets(self) -> list[PartSet]:
        """The sets of parts the private record lists; empty when it is absent or unreadable."""
        key = self.settings.published.part_sets
        stored = self.store.read_private(key)
        if stored.body is None:
            return []
        try:
            document = json.loads(stored.body)
            return [PartSet(str(entry["id"]), int(entry["parts"])) for entry in document["sets"]]
        except (ValueError, KeyError, TypeError) as error:
            log.warning(
                "the record of snapshot part sets is unreadable; parts it listed may stay behind",
                record=f"s3://{self.settings.publish_bucket}/{key}",
                error=str(error),
            )
            return []

    def _record_part_sets(self, sets: list[PartSet]) -> None:
        body = {"format": PART_SETS_FORMAT, "sets": [part_set.as_json() for part_set in sets]}
        self.store.write_private(self.settings.published.part_sets, json.dumps(body).encode("utf-8"))

    def _remove_stale_parts(self, parts: PartsPlan) -> None:
        """Removes every set of parts but the one index.json now names."""
        stale = parts.stale
        if not stale and parts.recorded == [parts.current]:
            return
        keys = self.settings.published
        try:
            self.store.delete_objects(
                keys.part(part_set.id, number) for part_set in stale for number in range(1, part_set.parts + 1)
            )
            self._record_part_sets([parts.current])
        except StoreError as error:
            # Not raised: the load is published; the record still lists them, so the next load retries.
            log.warning(
                "stale snapshot parts were not removed; the next load removes them",
                sets=[part_set.id for part_set in stale],
                error=str(error),
            )

    # ----------------------------------------------------------------------------------------

    def _acquire_lease(self, owner: str, context: Any, created: ObjectCreated) -> None:
        """Takes the table's lease, waiting a bounded time for another load to finish."""
        remaining = _remaining_seconds(context)
        hold = float(self.settings.lease_seconds)
        wait_budget = self.lease_wait_seconds
        if remaining is not None:
            # Once this invocation's deadline has passed it can write nothing more, so its
            # lease need not outlive it (a timed-out load does not block the retry for long).
            hold = min(hold, remaining + LEASE_MARGIN_SECONDS)
            wait_budget = min(wait_budget, remaining / 4)
        give_up_at = self._monotonic() + wait_budget
        delay = 0.25
        waited = False
        while True:
            now = int(self._clock())
            holder = self.store.try_acquire_lease(
                owner, now, now + math.ceil(hold), {"source": created.describe(), "acquiredAt": _iso(now)}
            )
            if holder is None:
                return
            if self._monotonic() >= give_up_at:
                raise LeaseHeld(
                    f"another load holds the table's lease (request {holder.get('owner')}, loading "
                    f"{holder.get('source', 'an unknown object')}, until {_iso(holder.get(EXPIRES_AT, now))}); "
                    f"this invocation gave up after waiting {wait_budget:.0f}s and will be retried"
                )
            if not waited:
                log.info(
                    "waiting for the lease", holder=holder.get("owner"), holderSource=holder.get("source")
                )
                waited = True
            self._sleep(min(delay, max(0.0, give_up_at - self._monotonic())))
            delay = min(delay * 2, 5.0)

    def _release_lease(self, owner: str) -> None:
        try:
            if not self.store.release_lease(owner):
                log.warning("the lease was no longer this load's when it was released", owner=owner)
        except StoreError as error:
            # Not raised: it would hide the load's own outcome; the lease expires by itself.
            log.warning("the lease was not released; it expires on its own", owner=owner, error=str(error))

    def _report(self, result: LoadResult) -> None:
        fields = result.as_json()
        if result.outcome == SKIPPED:
            log.info("load skipped", **fields)
            return
        if result.outcome == SUCCEEDED:
            log.info("load succeeded", **fields)
            values = {
                "RowsLoaded": result.rows,
                "KeysWritten": result.keys_written,
                "KeysUnchanged": result.keys_unchanged,
                "KeysDeleted": result.keys_deleted,
                "LoadSucceeded": 1,
                "LoadFailed": 0,
            }
            if result.cache_flushed is not None:
                values["CacheFlushFailed"] = 0 if result.cache_flushed else 1
        else:
            log.error("load failed", **fields)
            values = {"LoadSucceeded": 0, "LoadFailed": 1}
        values["LoadDurationMs"] = result.duration_ms
        telemetry.publish_load_metrics(self.settings.metrics_namespace, self.settings.metrics_service, values)


def _named_part_set(index_metadata: dict[str, str] | None) -> PartSet | None:
    """The set of parts the published index.json names, from its metadata."""
    metadata = index_metadata or {}
    set_id = metadata.get(published.PARTS_ID_METADATA)
    count = metadata.get(published.PARTS_COUNT_METADATA, "")
    if not set_id or not count.isdigit():
        return None
    return PartSet(set_id, int(count))


def _iso(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _elapsed_ms(started: float, now: float) -> int:
    return max(0, round((now - started) * 1000))


def _request_id(context: Any) -> str:
    return str(getattr(context, "aws_request_id", "") or f"local-{uuid.uuid4()}")


def _remaining_seconds(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else None
