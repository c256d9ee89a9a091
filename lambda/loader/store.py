"""The one module that talks to AWS: the source and published objects in S3, the DynamoDB table."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from loader.errors import StoreError, WritesIncomplete
from loader.layout import (
    DOC_REF,
    EXPIRES_AT,
    HASH,
    LEASE_KEY,
    LOADED_AT,
    MARKER_KEY,
    PARTITION_KEY,
    RESERVED_PREFIX,
    ROWS,
    SOURCE_VERSION,
    SourceVersion,
)

# DynamoDB answers these when a table or account is over its throughput; retrying later works.
THROTTLING = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 5.0
READ_CHUNK_BYTES = 64 * 1024
# Objects up to this size go up in one PutObject; larger ones as a multipart upload of parts of
# at least this size (S3's minimum), streamed from the documents, so memory holds one part at a
# time (S3 shows a multipart object only once it is complete).
PART_BYTES = 5 * 1024 * 1024
DEFAULT_WRITE_CONCURRENCY = 16
DELETE_BATCH = 1000  # DeleteObjects' limit
MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
DENIED = frozenset({"AccessDenied", "403", "Forbidden"})


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _describe(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Unknown')}: {details.get('Message', '')}".rstrip(": ")


def kms_hint(setting: str, key_arn: str | None, actions: str) -> str:
    """What else to check when S3 denies a request on objects under a configured KMS key."""
    if not key_arn:
        return ""
    return (
        f"; or KMS refused it: with {setting} {key_arn} the role needs {actions} on that key through S3, "
        "the key's policy must let the account's IAM policies (or the role) use it, the key must be "
        "enabled, and the objects must be encrypted with this key"
    )


@dataclass
class SourceObject:
    """An opened source object: what S3 says about it, and its body to stream."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    last_modified: int
    """Epoch seconds."""
    size: int
    metadata: dict[str, str]
    body: Any = field(repr=False)

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def source_version(self) -> SourceVersion:
        """The object's identity: its version id, or its ETag when the bucket is not versioned."""
        return SourceVersion(self.bucket, self.key, self.version_id or self.etag or "")

    def chunks(self) -> Iterator[bytes]:
        """The body, streamed in chunks; read errors become StoreError naming the object."""
        try:
            yield from self.body.iter_chunks(READ_CHUNK_BYTES)
        except BotoCoreError as error:
            raise StoreError(f"reading {self.name} failed midway: {error}") from error

    def close(self) -> None:
        self.body.close()


class StagedObject:
    """A multipart upload whose parts go up ahead of time and which appears only when completed.

    S3 serves a multipart object only once it is complete, so a load can send its snapshot
    while it writes the table and show it only after every write succeeded.
    """

    def __init__(
        self, s3: Any, bucket: str, key: str, content_type: str, cache_control: str, metadata: dict[str, str],
        denial_hint: str = "",
    ):
        self._s3 = s3
        self._denial_hint = denial_hint
        self.bucket = bucket
        self.key = key
        self._create = {"ContentType": content_type, "CacheControl": cache_control, "Metadata": metadata}
        self._upload_id: str | None = None
        self._parts: list[dict] = []
        self._stop = threading.Event()
        self._sending: Future | None = None
        self._completed = False

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def send_in_background(self, pool: ThreadPoolExecutor, chunks: Iterable[bytes]) -> None:
        self._sending = pool.submit(self.send, chunks)

    def send(self, chunks: Iterable[bytes]) -> None:
        """Starts the upload and sends every part; each part is sent as soon as it reaches the
        minimum size, so only one is held in memory."""
        try:
            upload = self._s3.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self._create)
            self._upload_id = upload["UploadId"]
            buffer = bytearray()
            for chunk in chunks:
                buffer += chunk
                if len(buffer) >= PART_BYTES:
                    self._send_part(buffer)
                    buffer = bytearray()
            if buffer or not self._parts:
                self._send_part(buffer)
        except ClientError as error:
            raise StoreError(
                f"uploading {self.where} failed: {_describe(error)}{self._hint(error)}"
            ) from error

    def _send_part(self, body: bytearray) -> None:
        if self._stop.is_set():
            raise StoreError(f"uploading {self.where} was stopped")
        number = len(self._parts) + 1
        response = self._s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def complete(self) -> None:
        """Makes the object visible, whole; waits for parts still being sent."""
        if self._sending is not None:
            self._sending.result()
        try:
            self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        except ClientError as error:
            raise StoreError(
                f"completing the upload of {self.where} failed: {_describe(error)}{self._hint(error)}"
            ) from error
        self._completed = True

    def stop(self) -> None:
        """Makes a send in progress give up at its next part."""
        self._stop.set()

    def _hint(self, error: ClientError) -> str:
        return self._denial_hint if _error_code(error) in DENIED else ""

    def close(self) -> None:
        """Abandons the upload unless it was completed; the old object stays as it was."""
        if self._completed:
            return
        self._stop.set()
        if self._sending is not None:
            wait([self._sending])  # its error, if any, is already on its way up, or irrelevant
        if self._upload_id is not None:
            try:
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            except ClientError:
                pass  # the bucket's lifecycle rule removes incomplete uploads; the load's own error matters


class WriteWindow:
    """How many BatchWriteItem requests may be in flight: additive increase, multiplicative decrease.

    A throttled request (a throttling error, or items DynamoDB left unprocessed) halves the window;
    every request that went through whole grows it by 1 / window, so one window's worth of
    successes adds one slot, up to `limit`. Requests already in flight when the window shrank
    were sent under the old size: their throttling does not shrink it again, so one burst of
    throttling halves it once, as in TCP's congestion control.
    """

    def __init__(self, limit: int, start: int | None = None):
        if limit < 1:
            raise ValueError(f"a write window needs a limit of at least 1, not {limit}")
        self.limit = limit
        self._size = float(min(limit, start if start is not None else limit))
        self._in_flight = 0
        self._sent = 0
        self._shrunk_at = 0
        self.peak_in_flight = 0
        """The most requests that were in flight at once."""
        self.decreases = 0
        """How often throttling halved the window."""
        self._condition = threading.Condition()

    @property
    def size(self) -> int:
        """Requests allowed in flight now."""
        return max(1, int(self._size))

    def acquire(self) -> int:
        """Waits for a free slot and takes it; returns the request's ticket for `release`."""
        with self._condition:
            while self._in_flight >= self.size:
                self._condition.wait()
            self._in_flight += 1
            self._sent += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return self._sent

    def release(self, ticket: int, throttled: bool) -> None:
        """Gives the slot back, with what DynamoDB said about the request."""
        with self._condition:
            self._in_flight -= 1
            if throttled:
                if ticket > self._shrunk_at:
                    self._size = max(1.0, self._size / 2)
                    self._shrunk_at = self._sent
                    self.decreases += 1
            else:
                self._size = min(float(self.limit), self._size + 1 / self.size)
            self._condition.notify_all()


@dataclass(frozen=True)
class PrivateObject:
    """A bookkeeping object read back: its body, or why there is none."""

    body: bytes | None
    status: str
    """`found`, `missing`, or `denied` (S3 answers 403 for a missing object when the caller
    may not list the bucket, so `denied` may also mean missing)."""


class Store:
    """S3 and DynamoDB for one loader: clients are created on first use, or injected by tests."""

    def __init__(
        self,
        table_name: str,
        publish_bucket: str,
        write_concurrency: int = DEFAULT_WRITE_CONCURRENCY,
        s3: Any = None,
        dynamodb: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        max_attempts: int = MAX_ATTEMPTS,
        source_kms_key_arn: str | None = None,
        publish_kms_key_arn: str | None = None,
        apigateway: Any = None,
    ):
        self.table_name = table_name
        self.publish_bucket = publish_bucket
        self.write_concurrency = write_concurrency
        self._s3 = s3
        self._dynamodb = dynamodb
        self._apigateway = apigateway
        self._sleep = sleep
        self._jitter = jitter
        self.max_attempts = max_attempts
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()
        self._lock = threading.Lock()
        self.batch_requests = 0
        """BatchWriteItem requests sent, retries included."""
        self.write_window: WriteWindow | None = None
        """The window of the last batched write that sent anything: how far it grew, how often it backed off."""
        self._source_denial_hint = kms_hint("source.kmsKeyArn", source_kms_key_arn, "kms:Decrypt")
        self._publish_denial_hint = kms_hint(
            "publish.kmsKeyArn", publish_kms_key_arn, "kms:GenerateDataKey and kms:Decrypt"
        )

    def _config(self, **options: Any) -> Config:
        return Config(
            retries={"mode": "standard", "max_attempts": 3},
            max_pool_connections=max(10, self.write_concurrency + 4),
            **options,
        )

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = boto3.client("s3", config=self._config())
        return self._s3

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            # Client-side parameter validation costs a third of the CPU of each BatchWriteItem;
            # the requests have fixed shapes, and DynamoDB still rejects a malformed one.
            self._dynamodb = boto3.client("dynamodb", config=self._config(parameter_validation=False))
        return self._dynamodb

    @property
    def apigateway(self) -> Any:
        if self._apigateway is None:
            self._apigateway = boto3.client("apigateway", config=self._config())
        return self._apigateway

    # ----------------------------------------------------------------------------------------
    # API Gateway
    # ----------------------------------------------------------------------------------------

    def flush_cache(self, rest_api_id: str, stage_name: str) -> None:
        """Drops every cached answer of the stage (FlushStageCache)."""
        where = f"stage {stage_name} of REST API {rest_api_id}"
        try:
            self.apigateway.flush_stage_cache(restApiId=rest_api_id, stageName=stage_name)
        except ClientError as error:
            raise StoreError(f"flushing the cache of {where} failed: {_describe(error)}") from error
        except BotoCoreError as error:
            raise StoreError(f"flushing the cache of {where} failed: {error}") from error

    # ----------------------------------------------------------------------------------------
    # S3
    # ----------------------------------------------------------------------------------------

    def open_source(self, bucket: str, key: str, version_id: str | None) -> SourceObject:
        """Opens the announced object (that very version, when the event names one)."""
        request = {"Bucket": bucket, "Key": key}
        if version_id:
            request["VersionId"] = version_id
        where = f"s3://{bucket}/{key}" + (f" (version {version_id})" if version_id else "")
        try:
            response = self.s3.get_object(**request)
        except ClientError as error:
            code = _error_code(error)
            if code in MISSING:
                raise StoreError(f"{where} does not exist (deleted since the event?)") from error
            if code in DENIED:
                raise StoreError(
                    f"reading {where} was denied ({_describe(error)}); the object is missing, or the "
                    "loader's role lacks s3:GetObject (s3:GetObjectVersion for a version) on it"
                    f"{self._source_denial_hint}"
                ) from error
            raise StoreError(f"reading {where} failed: {_describe(error)}") from error
        version = response.get("VersionId")
        return SourceObject(
            bucket=bucket,
            key=key,
            version_id=version if version and version != "null" else None,
            etag=str(response.get("ETag", "")).strip('"') or None,
            last_modified=int(response["LastModified"].timestamp()),
            size=int(response.get("ContentLength", 0)),
            metadata={k.lower(): v for k, v in (response.get("Metadata") or {}).items()},
            body=response["Body"],
        )

    def read_private(self, key: str) -> PrivateObject:
        """A bookkeeping object from the publish bucket."""
        try:
            response = self.s3.get_object(Bucket=self.publish_bucket, Key=key)
            return PrivateObject(response["Body"].read(), "found")
        except ClientError as error:
            code = _error_code(error)
            if code in MISSING:
                return PrivateObject(None, "missing")
            if code in DENIED:
                return PrivateObject(None, "denied")
            raise StoreError(
                f"reading s3://{self.publish_bucket}/{key} failed: {_describe(error)}"
            ) from error
        except BotoCoreError as error:
            raise StoreError(f"reading s3://{self.publish_bucket}/{key} failed: {error}") from error

    def write_private(self, key: str, body: bytes) -> None:
        self._put(key, body, "application/json", None, {})

    def published_metadata(self, key: str) -> dict[str, str] | None:
        """The user metadata of a published object; None when it is absent or unreadable."""
        try:
            response = self.s3.head_object(Bucket=self.publish_bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in MISSING | DENIED:
                return None
            raise StoreError(
                f"checking s3://{self.publish_bucket}/{key} failed: {_describe(error)}"
            ) from error
        return {k.lower(): v for k, v in (response.get("Metadata") or {}).items()}

    def publish(
        self,
        key: str,
        chunks: Iterable[bytes],
        size: int,
        content_type: str,
        cache_control: str,
        metadata: dict[str, str],
    ) -> None:
        """Writes a public object so that readers see the old one until the new one is whole."""
        if not self.needs_parts(size):
            body = bytearray()
            for chunk in chunks:
                body += chunk
            self._put(key, body, content_type, cache_control, metadata)
        else:
            self._multipart(key, chunks, content_type, cache_control, metadata)

    def _put(
        self, key: str, body: bytes | bytearray, content_type: str, cache_control: str | None, metadata: dict
    ) -> None:
        request = {
            "Bucket": self.publish_bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "Metadata": metadata,
        }
        if cache_control:
            request["CacheControl"] = cache_control
        try:
            self.s3.put_object(**request)
        except ClientError as error:
            hint = self._publish_denial_hint if _error_code(error) in DENIED else ""
            raise StoreError(
                f"writing s3://{self.publish_bucket}/{key} failed: {_describe(error)}{hint}"
            ) from error

    def _multipart(
        self, key: str, chunks: Iterable[bytes], content_type: str, cache_control: str, metadata: dict
    ) -> None:
        staged = self.stage(key, content_type, cache_control, metadata)
        try:
            staged.send(chunks)
            staged.complete()
        finally:
            staged.close()

    def put_public(self, key: str, body: bytes, content_type: str, cache_control: str) -> None:
        """Writes one public object from bytes already in memory, in one PutObject (no copy)."""
        self._put(key, body, content_type, cache_control, {})

    def delete_objects(self, keys: Iterable[str]) -> int:
        """Deletes objects from the publish bucket (absent ones too); returns how many were asked for."""
        pending = list(keys)
        for start in range(0, len(pending), DELETE_BATCH):
            batch = pending[start : start + DELETE_BATCH]
            try:
                response = self.s3.delete_objects(
                    Bucket=self.publish_bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except ClientError as error:
                raise StoreError(
                    f"deleting {len(batch)} objects from s3://{self.publish_bucket} failed: {_describe(error)}"
                ) from error
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StoreError(
                    f"deleting {len(errors)} of {len(batch)} objects from s3://{self.publish_bucket} failed, "
                    f"the first s3://{self.publish_bucket}/{first.get('Key')}: "
                    f"{first.get('Code')}: {first.get('Message', '')}".rstrip(": ")
                )
        return len(pending)

    def needs_parts(self, size: int) -> bool:
        """True when an object this large goes up as a multipart upload."""
        return size > PART_BYTES

    def stage(
        self, key: str, content_type: str, cache_control: str, metadata: dict[str, str]
    ) -> StagedObject:
        """A public object to upload in parts now and show later (see StagedObject)."""
        return StagedObject(
            self.s3, self.publish_bucket, key, content_type, cache_control, metadata,
            self._publish_denial_hint,
        )

    # ----------------------------------------------------------------------------------------
    # DynamoDB: bookkeeping items
    # ----------------------------------------------------------------------------------------

    def get_bookkeeping(self, key: str) -> dict[str, Any] | None:
        """A bookkeeping item (strongly consistent), with numbers as ints."""
        try:
            response = self.dynamodb.get_item(
                TableName=self.table_name, Key={PARTITION_KEY: {"S": key}}, ConsistentRead=True
            )
        except ClientError as error:
            raise StoreError(
                f"reading {key!r} from table {self.table_name} failed: {_describe(error)}"
            ) from error
        item = response.get("Item")
        return None if item is None else self._plain(item)

    def read_marker(self) -> dict[str, Any] | None:
        return self.get_bookkeeping(MARKER_KEY)

    def write_marker(self, marker: dict[str, Any]) -> None:
        try:
            self.dynamodb.put_item(
                TableName=self.table_name, Item=self._serialize({**marker, PARTITION_KEY: MARKER_KEY})
            )
        except ClientError as error:
            raise StoreError(
                f"writing the last-loaded marker to table {self.table_name} failed: {_describe(error)}"
            ) from error

    def try_acquire_lease(
        self, owner: str, now: int, expires_at: int, details: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Takes the lease if it is free or expired; else returns the current holder's item."""
        item = {**details, PARTITION_KEY: LEASE_KEY, "owner": owner, EXPIRES_AT: expires_at}
        try:
            self.dynamodb.put_item(
                TableName=self.table_name,
                Item=self._serialize(item),
                # Free, expired, or left behind by an earlier attempt of this same invocation
                # (Lambda retries an event with the same request id).
                ConditionExpression="attribute_not_exists(#pk) OR #expires < :now OR #owner = :me",
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#expires": EXPIRES_AT, "#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":me": {"S": owner}},
            )
            return None
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise StoreError(
                    f"taking the lease in table {self.table_name} failed: {_describe(error)}"
                ) from error
        return self.get_bookkeeping(LEASE_KEY) or {"owner": "unknown", EXPIRES_AT: now}

    def release_lease(self, owner: str) -> bool:
        """Gives the lease up; False when it was no longer ours."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table_name,
                Key={PARTITION_KEY: {"S": LEASE_KEY}},
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
            return True
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise StoreError(
                f"releasing the lease in table {self.table_name} failed: {_describe(error)}"
            ) from error

    def scan_data_items(self) -> Iterator[dict[str, Any]]:
        """Every data item's key, hash, rows, version, load time and document object, if any
        (bookkeeping items skipped)."""
        names = {
            "#pk": PARTITION_KEY,
            "#hash": HASH,
            "#rows": ROWS,
            "#version": SOURCE_VERSION,
            "#loaded": LOADED_AT,
            "#ref": DOC_REF,
        }
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
            "ConsistentRead": True,
        }
        try:
            for page in self.dynamodb.get_paginator("scan").paginate(**request):
                for item in page.get("Items", []):
                    plain = self._plain(item)
                    if not str(plain.get(PARTITION_KEY, "")).startswith(RESERVED_PREFIX):
                        yield plain
        except ClientError as error:
            raise StoreError(f"scanning table {self.table_name} failed: {_describe(error)}") from error

    # ----------------------------------------------------------------------------------------
    # DynamoDB: data items, in batches
    # ----------------------------------------------------------------------------------------

    def put_items(self, items: Iterable[Any], build: Callable[[Any], dict[str, Any]] | None = None) -> int:
        """Writes items with BatchWriteItem; returns how many. Raises when any could not be written.

        With `build`, each of `items` is what build turns into the item to write, on the thread
        that sends its batch: building items (a document decompressed, an S3 object written
        first) runs beside the requests in flight instead of ahead of them in one thread.
        """
        if build is None:
            return self._write_all(items, lambda item: {"PutRequest": {"Item": self._serialize(item)}})
        return self._write_all(items, lambda source: {"PutRequest": {"Item": self._serialize(build(source))}})

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Deletes items by key with BatchWriteItem; returns how many."""
        return self._write_all(keys, lambda key: {"DeleteRequest": {"Key": {PARTITION_KEY: {"S": key}}}})

    def _write_all(self, sources: Iterable[Any], request: Callable[[Any], dict]) -> int:
        """Sends batches of 25, up to `write_concurrency` in flight, fewer while DynamoDB throttles
        (see WriteWindow); the first failure fails the whole call. Each batch's requests are
        made from its sources by `request` on the thread that sends it."""
        client = self.dynamodb  # created here, once, not by racing workers; clients are thread-safe
        failed = threading.Event()  # once one batch fails, queued batches are not sent
        window = WriteWindow(self.write_concurrency)
        done_count = 0
        queued = self.write_concurrency * 2  # enough queued to keep every slot busy
        in_flight: set[Future] = set()
        with ThreadPoolExecutor(max_workers=self.write_concurrency, thread_name_prefix="batch-write") as pool:
            try:
                for batch in _batches(sources, BATCH_SIZE):
                    if len(in_flight) >= queued:
                        finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        done_count += sum(future.result() for future in finished)
                    in_flight.add(
                        pool.submit(self._write_batch_unless_failed, client, batch, request, failed, window)
                    )
                finished, in_flight = wait(in_flight)
                done_count += sum(future.result() for future in finished)
            finally:
                for future in in_flight:
                    future.cancel()
                if window.peak_in_flight:
                    self.write_window = window
        return done_count

    def _write_batch_unless_failed(
        self,
        client: Any,
        sources: list[Any],
        request: Callable[[Any], dict],
        failed: threading.Event,
        window: WriteWindow,
    ) -> int:
        if failed.is_set():
            return 0  # the call fails anyway with the first batch's error
        succeeded = False
        try:
            batch = []
            for source in sources:
                if failed.is_set():
                    return 0  # no more S3 objects or items once another batch failed
                batch.append(request(source))
            written = self._write_batch(client, batch, window)
            succeeded = True
            return written
        finally:
            if not succeeded:
                failed.set()

    def _write_batch(self, client: Any, batch: list[dict], window: WriteWindow | None = None) -> int:
        """One batch, with unprocessed items and throttling retried (exponential backoff, full jitter).

        Each attempt holds a slot of the window while it is sent, not while it backs off.
        """
        window = window or WriteWindow(1)
        pending = batch
        for attempt in range(self.max_attempts):
            if attempt:
                self._sleep(self._jitter() * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
            with self._lock:
                self.batch_requests += 1
            ticket = window.acquire()
            throttled = False
            try:
                response = client.batch_write_item(RequestItems={self.table_name: pending})
                pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
                throttled = bool(pending)  # DynamoDB leaves items unprocessed when over throughput
            except ClientError as error:
                if _error_code(error) in THROTTLING:
                    throttled = True
                    continue
                raise StoreError(
                    f"BatchWriteItem on table {self.table_name} failed: {_describe(error)}"
                ) from error
            except BotoCoreError as error:
                # botocore has already retried the connection; the load fails and is redone.
                raise StoreError(f"BatchWriteItem on table {self.table_name} failed: {error}") from error
            finally:
                window.release(ticket, throttled)
            if not pending:
                return len(batch)
        raise WritesIncomplete(
            f"{len(pending)} of {len(batch)} requests of a BatchWriteItem on table {self.table_name} were "
            f"still unprocessed or throttled after {self.max_attempts} attempts; "
            "the load failed and a retry redoes it"
        )

    def _serialize(self, item: dict[str, Any]) -> dict[str, Any]:
        """An item in DynamoDB's wire format. Strings and whole numbers, what data items hold,
        are written directly (boto3's serializer costs a tenth of a load's CPU at 1M rows);
        anything else goes through it."""
        wire: dict[str, Any] = {}
        for name, value in item.items():
            kind = type(value)
            if kind is str:
                wire[name] = {"S": value}
            elif kind is int:
                wire[name] = {"N": str(value)}
            else:
                wire[name] = self._serializer.serialize(value)
        return wire

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        plain = {name: self._deserializer.deserialize(value) for name, value in item.items()}
        return {name: int(value) if isinstance(value, Decimal) else value for name, value in plain.items()}


def _batches(sources: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for source in sources:
        batch.append(source)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
