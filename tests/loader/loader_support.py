"""Helpers for the loader's tests: a harness around moto, events, and an EMF checker."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterator

from botocore.exceptions import ClientError, EndpointConnectionError

REGION = "us-east-1"
SOURCE_BUCKET = "acme-hr-exports"
SOURCE_KEY = "exports/employees.csv"
PUBLISH_BUCKET = "acme-data-api-published"
PUBLISH_PREFIX = "v1/"
TABLE = "data-api-table"
WRITE_OPERATIONS = ("PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems")

# A small data set used by many tests: three departments, one with a quoted comma and a newline.
EMPLOYEES = (
    "department,employee,title,salary\n"
    "Sales,alice,Engineer,100\n"
    'Sales,bob,"Manager, EMEA",200\n'
    'R&D,carol,"Scientist\nand writer",300\n'
    "Ops,dan,Operator,090\n"
)


@dataclass
class LambdaContext:
    """Stands in for the Lambda context object (the attributes Powertools and the loader read)."""

    aws_request_id: str = "11111111-2222-3333-4444-555555555555"
    remaining_ms: int = 300_000
    function_name: str = "data-api-test-loader"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:data-api-test-loader"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def make_settings(**changes: Any):
    from loader.settings import Settings

    base = Settings(
        table_name=TABLE,
        source_bucket=SOURCE_BUCKET,
        source_key=SOURCE_KEY,
        source_prefix=None,
        source_suffix="",
        publish_bucket=PUBLISH_BUCKET,
        publish_prefix=PUBLISH_PREFIX,
        column_types={"salary": "integer"},
        metrics_service="data-api-test-loader",
    )
    return replace(base, **changes)


@dataclass
class Aws:
    s3: Any
    dynamodb: Any


@dataclass
class Harness:
    """Drops CSVs into moto's S3 and runs the loader on the events, as Lambda would."""

    aws: Aws
    settings: Any
    loader: Any
    store: Any
    sleeps: list[float] = field(default_factory=list)
    calls: Counter = field(default_factory=Counter)
    """API calls made so far, by operation name (both services)."""
    s3_writes: list[str] = field(default_factory=list)
    """Keys of every published object written (PutObject or a multipart upload), in order."""
    s3_parts: dict[str, list[int]] = field(default_factory=dict)
    """The size of each multipart upload part sent, by object key."""
    sequencers: Iterator[int] = field(default_factory=lambda: itertools.count(0x100))
    """S3 sequencers for uploads: increasing within a test, shared by its harnesses."""

    def put(self, body: str | bytes, key: str = SOURCE_KEY, metadata: dict[str, str] | None = None) -> dict:
        """Uploads a file and returns the S3 notification event that announces it."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        response = self.aws.s3.put_object(Bucket=SOURCE_BUCKET, Key=key, Body=data, Metadata=metadata or {})
        return notification(
            key, response.get("VersionId"), f"{next(self.sequencers):016X}", response["ETag"].strip('"')
        )

    def invoke(self, event: dict, context: LambdaContext | None = None) -> dict:
        import handler

        handler._loader = self.loader
        return handler.handler(event, context or LambdaContext())

    def drop(self, body: str | bytes, key: str = SOURCE_KEY, metadata: dict[str, str] | None = None) -> dict:
        return self.invoke(self.put(body, key, metadata))

    def writes(self) -> dict[str, int]:
        """DynamoDB write calls made so far, by operation."""
        return {name: count for name, count in self.calls.items() if name in WRITE_OPERATIONS}

    def items(self) -> dict[str, dict[str, Any]]:
        """Every item in the table, by pk, in DynamoDB's JSON."""
        items = {}
        for page in self.aws.dynamodb.get_paginator("scan").paginate(TableName=TABLE):
            for item in page["Items"]:
                items[item["pk"]["S"]] = item
        return items

    def data_items(self) -> dict[str, dict[str, Any]]:
        return {pk: item for pk, item in self.items().items() if not pk.startswith("_loader#")}

    def documents(self) -> dict[str, Any]:
        """Every data item's document, parsed."""
        return {pk: json.loads(item["doc"]["S"]) for pk, item in self.data_items().items()}

    def object(self, key: str) -> bytes | None:
        try:
            return self.aws.s3.get_object(Bucket=PUBLISH_BUCKET, Key=key)["Body"].read()
        except self.aws.s3.exceptions.NoSuchKey:
            return None

    def published(self, name: str) -> Any:
        body = self.object(f"{PUBLISH_PREFIX}{name}")
        return None if body is None else json.loads(body)

    def state(self) -> dict[str, Any]:
        """Everything a load may change, byte for byte: every table item, every published object."""
        listing = self.aws.s3.list_objects_v2(Bucket=PUBLISH_BUCKET).get("Contents", [])
        objects = {}
        for entry in listing:
            head = self.aws.s3.head_object(Bucket=PUBLISH_BUCKET, Key=entry["Key"])
            objects[entry["Key"]] = (
                self.object(entry["Key"]),
                head["ETag"],
                head["LastModified"],
                head.get("Metadata"),
            )
        return {"items": json.dumps(self.items(), sort_keys=True), "objects": objects}


class ScriptedDynamoDB:
    """The real (moto) DynamoDB client, except that BatchWriteItem answers follow a script.

    Each call takes the next step: "ok" (really write), "half" (write the first half, return the
    rest unprocessed), "none" (write nothing, all unprocessed), "fail" (a non-retryable error), or
    "unreachable" (a connection error after botocore's own retries), or an error code to raise
    (e.g. a throttling code). After the script, every call is "ok".
    """

    def __init__(self, client: Any, script: list[str]):
        self._client = client
        self._script = list(script)
        self._lock = threading.Lock()
        self.answers: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, **request: Any) -> dict:
        with self._lock:
            step = self._script.pop(0) if self._script else "ok"
            self.answers.append(step)
        ((table, requests),) = request["RequestItems"].items()
        if step == "ok":
            return self._client.batch_write_item(**request)
        if step == "half":
            kept, rest = requests[: len(requests) // 2], requests[len(requests) // 2 :]
            if kept:
                self._client.batch_write_item(RequestItems={table: kept})
            return {"UnprocessedItems": {table: rest}}
        if step == "none":
            return {"UnprocessedItems": {table: requests}}
        if step == "unreachable":
            raise EndpointConnectionError(endpoint_url="https://dynamodb.example.invalid")
        code = "InternalServerError" if step == "fail" else step
        raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, "BatchWriteItem")


class ScriptedS3:
    """The real (moto) S3 client, with chosen answers for some objects."""

    def __init__(
        self, client: Any, last_modified: dict[str, datetime] | None = None, denied: set[str] | None = None
    ):
        self._client = client
        self.last_modified = last_modified or {}
        self.denied = denied or set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **request: Any) -> dict:
        if request["Key"] in self.denied:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
        response = self._client.get_object(**request)
        if request["Key"] in self.last_modified:
            response["LastModified"] = self.last_modified[request["Key"]]
        return response


def notification(
    key: str, version_id: str | None, sequencer: str, etag: str, bucket: str = SOURCE_BUCKET
) -> dict:
    """An S3 ObjectCreated notification event for one object, key URL-encoded as S3 sends it."""
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": 1,
                        "eTag": etag,
                        **({"versionId": version_id} if version_id else {}),
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def emf_problems(document: dict) -> list[str]:
    """What makes a document invalid CloudWatch EMF (empty when it is valid), per the EMF spec."""
    problems = []
    meta = document.get("_aws")
    if not isinstance(meta, dict):
        return ["_aws is missing or not an object"]
    if not isinstance(meta.get("Timestamp"), int) or meta["Timestamp"] <= 0:
        problems.append("_aws.Timestamp is not a positive integer of epoch milliseconds")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return problems + ["_aws.CloudWatchMetrics is not a non-empty list"]
    for index, directive in enumerate(directives):
        where = f"CloudWatchMetrics[{index}]"
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 1024:
            problems.append(f"{where}.Namespace is not a 1-1024 character string")
        dimension_sets = directive.get("Dimensions")
        if not isinstance(dimension_sets, list):
            problems.append(f"{where}.Dimensions is not a list")
            dimension_sets = []
        for dimension_set in dimension_sets:
            if not isinstance(dimension_set, list) or len(dimension_set) > 30:
                problems.append(f"{where}.Dimensions has a set that is not a list of at most 30 names")
                continue
            for name in dimension_set:
                if not isinstance(document.get(name), str):
                    problems.append(f"dimension {name!r} has no string value at the root")
        metric_list = directive.get("Metrics")
        if not isinstance(metric_list, list) or not 1 <= len(metric_list) <= 100:
            problems.append(f"{where}.Metrics is not a list of 1-100 metrics")
            metric_list = []
        for metric in metric_list:
            name = metric.get("Name")
            if not isinstance(name, str) or not name:
                problems.append(f"{where} has a metric without a Name")
                continue
            value = document.get(name)
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                problems.append(f"metric {name!r} has no numeric value at the root")
            unit = metric.get("Unit", "None")
            if unit not in EMF_UNITS:
                problems.append(f"metric {name!r} has unit {unit!r}, not a CloudWatch unit")
    return problems


EMF_UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}


def stdout_lines(captured: str) -> list[dict]:
    """Every stdout line, each of which must be one JSON object."""
    lines = []
    for number, line in enumerate(io.StringIO(captured), start=1):
        line = line.rstrip("\n")
        if not line:
            continue
        parsed = json.loads(line)
        assert isinstance(parsed, dict), f"stdout line {number} is not a JSON object: {line[:200]}"
        lines.append(parsed)
    return lines


def nest(csv_text: str, integer_columns: tuple[str, ...] = ("salary",)) -> dict[str, str]:
    """The documents a CSV should become, computed independently of the loader's parser."""
    import csv

    documents: dict[str, dict] = {}
    for row in csv.DictReader(io.StringIO(csv_text, newline="")):
        department, employee = row.pop("department"), row.pop("employee")
        values = {name: (int(value) if name in integer_columns else value) for name, value in row.items()}
        documents.setdefault(department, {"department": department, "employees": {}})["employees"][
            employee
        ] = values
    return {
        key: json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        for key, doc in documents.items()
    }


def departments_csv(count: int, version: str = "v1", prefix: str = "d", employees: int = 2) -> str:
    """A CSV with `count` departments (named prefix + two digits), `employees` rows each."""
    lines = ["department,employee,title,salary"]
    for d in range(count):
        for e in range(employees):
            lines.append(f"{prefix}{d:02d},e{e},{version}-title,{100 + e}")
    return "\n".join(lines) + "\n"
