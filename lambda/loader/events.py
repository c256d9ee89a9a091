"""Decoding invocation events into the S3 objects they announce, and picking out the source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, S3EventBridgeNotificationEvent

from loader.errors import EventError


@dataclass(frozen=True)
class ObjectCreated:
    """One object-created announcement, from an S3 notification record or an EventBridge event."""

    bucket: str
    key: str
    version_id: str | None
    sequencer: str | None
    etag: str | None
    origin: str
    """`s3` (bucket notification) or `eventbridge`."""

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Skipped:
    """An announcement, or a whole event, that is not a load, and why."""

    what: str
    reason: str


@dataclass(frozen=True)
class SourceFilter:
    """Which objects are the loader's source."""

    bucket: str
    key: str | None
    prefix: str | None
    suffix: str
    excluded_keys: frozenset[str] = frozenset()
    """Keys in the source bucket that are never a source: the loader's own published objects."""
    excluded_prefixes: tuple[str, ...] = ()
    """Keys under these prefixes are never a source: the loader's own bookkeeping and published objects."""

    def reason_to_ignore(self, created: ObjectCreated) -> str | None:
        """None when the object is a source, else why it is not."""
        if created.bucket != self.bucket:
            return f"bucket {created.bucket!r} is not the source bucket {self.bucket!r}"
        if self.key is not None:
            if created.key != self.key:
                return f"key {created.key!r} is not the source key {self.key!r}"
            return None
        if created.key in self.excluded_keys or created.key.startswith(self.excluded_prefixes):
            return f"key {created.key!r} is one of the loader's own objects"
        if not created.key.startswith(self.prefix or ""):
            return f"key {created.key!r} is not under the source prefix {self.prefix!r}"
        if not created.key.endswith(self.suffix):
            return f"key {created.key!r} does not end with the source suffix {self.suffix!r}"
        if created.key.endswith("/"):
            return f"key {created.key!r} is a folder marker"
        return None


def decode(event: Any) -> tuple[list[ObjectCreated], list[Skipped]]:
    """Every object-created announcement in an invocation event, and what was skipped.

    Raises EventError for an event of a shape the loader was never wired to receive, so a
    miswired trigger fails loudly instead of doing nothing.
    """
    if not isinstance(event, dict):
        raise EventError(f"the event is a {type(event).__name__}, not a JSON object")
    if "Records" in event:
        return _notification_records(event["Records"])
    if event.get("source") == "aws.s3" and "detail-type" in event:
        return _eventbridge(event)
    if event.get("Event") == "s3:TestEvent":
        # S3 sends this once when a bucket notification is configured.
        return [], [
            Skipped(f"s3://{event.get('Bucket', '?')}", "S3 test event sent when notifications are set up")
        ]
    raise EventError(
        "the event is neither an S3 notification (Records) nor an EventBridge event from aws.s3; "
        f"its top-level keys are {sorted(event)[:10]}"
    )


def _notification_records(records: Any) -> tuple[list[ObjectCreated], list[Skipped]]:
    if not isinstance(records, list):
        raise EventError("the event's Records is not a list")
    created: list[ObjectCreated] = []
    skipped: list[Skipped] = []
    for index, record in enumerate(S3Event({"Records": records}).records):
        # Another service's record has no `s3` part; skip it before reading one.
        if isinstance(record.raw_event, dict) and record.get("eventSource") not in (None, "aws:s3"):
            skipped.append(
                Skipped(f"Records[{index}]", f"event source {record.get('eventSource')!r} is not aws:s3")
            )
            continue
        try:
            name = record.get("eventName", "")
            bucket = record.s3.bucket.name
            obj = record.s3.get_object
            # Notification keys are URL-encoded, with spaces as '+'.
            key = unquote_plus(obj.key)
        except (AttributeError, KeyError, TypeError) as error:
            raise EventError(
                f"Records[{index}] is not an S3 notification record (missing {error})"
            ) from error
        if not str(name).startswith("ObjectCreated:"):
            skipped.append(Skipped(f"s3://{bucket}/{key}", f"event {name!r} is not an ObjectCreated event"))
            continue
        created.append(
            ObjectCreated(
                bucket=bucket,
                key=key,
                version_id=_version(obj.version_id),
                sequencer=obj.get("sequencer") or None,
                etag=obj.etag or None,
                origin="s3",
            )
        )
    return created, skipped


def _eventbridge(event: dict[str, Any]) -> tuple[list[ObjectCreated], list[Skipped]]:
    announced = S3EventBridgeNotificationEvent(event)
    try:
        bucket = announced.detail.bucket.name
        obj = announced.detail.object
        # EventBridge carries the key as stored, not URL-encoded: read it raw (the data class's
        # `key` would URL-decode it and turn a '+' in the name into a space).
        key = obj["key"]
    except (AttributeError, KeyError, TypeError) as error:
        raise EventError(
            f"the EventBridge event's detail is not an S3 object event (missing {error})"
        ) from error
    if announced.detail_type != "Object Created":
        return [], [
            Skipped(f"s3://{bucket}/{key}", f"detail-type {announced.detail_type!r} is not 'Object Created'")
        ]
    return [
        ObjectCreated(
            bucket=bucket,
            key=key,
            version_id=_version(obj.get("version-id")),
            sequencer=obj.get("sequencer") or None,
            etag=obj.etag or None,
            origin="eventbridge",
        )
    ], []


def _version(value: Any) -> str | None:
    # An unversioned bucket reports no version id, or the literal "null".
    if not value or value == "null":
        return None
    return str(value)


def split_sources(
    created: Iterable[ObjectCreated], source: SourceFilter
) -> tuple[list[ObjectCreated], list[Skipped]]:
    """The announcements of source objects, and the others with the reason each is ignored."""
    sources: list[ObjectCreated] = []
    ignored: list[Skipped] = []
    for item in created:
        reason = source.reason_to_ignore(item)
        if reason is None:
            sources.append(item)
        else:
            ignored.append(Skipped(item.describe(), reason))
    return sources, ignored
