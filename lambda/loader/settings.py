"""The loader's settings, read from the environment variables the loader component sets."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Mapping

from loader.errors import SettingsError
from loader.events import SourceFilter
from loader.layout import PublishedKeys

COLUMN_TYPES = ("string", "number", "integer", "boolean")


@dataclass(frozen=True)
class Settings:
    """Everything one deployment of the loader is configured with."""

    table_name: str
    """The DynamoDB table (partition key `pk`, TTL attribute `expiresAt`)."""
    source_bucket: str
    """The bucket the CSV arrives in."""
    source_key: str | None
    """The one object loaded in single-object mode."""
    source_prefix: str | None
    """The key prefix of the objects loaded in prefix mode."""
    source_suffix: str
    """In prefix mode, the key suffix of the objects loaded."""
    publish_bucket: str
    """Where index.json, snapshot.json, its parts, large documents and the private bookkeeping objects go."""
    publish_prefix: str
    """Key prefix of the published objects; empty or ending in '/'."""
    partition_column: str = "department"
    """The column whose value keys one item (and the API path)."""
    item_column: str = "employee"
    """The column whose value keys a row inside its partition's document."""
    items_field: str = "employees"
    """The name of the nested map of rows in each document."""
    collection_name: str = "departments"
    """The name of the map of keys in index.json and snapshot.json."""
    column_types: Mapping[str, str] = field(default_factory=dict)
    """Declared column types; undeclared columns stay strings."""
    max_delete_fraction: float = 0.5
    """A load that would delete more than this fraction of the existing keys is refused."""
    lease_seconds: int = 960
    """The longest a load's lease can be held (it is shortened to the invocation's deadline)."""
    write_concurrency: int = 16
    """The most BatchWriteItem requests in flight at once; a load backs off below it on throttling."""
    metrics_namespace: str = "DataApi"
    """CloudWatch namespace of the EMF metrics."""
    metrics_service: str = "data-api-loader"
    """Value of the metrics' one dimension, `Service`."""
    source_kms_key_arn: str | None = None
    """The source objects' customer-managed KMS key, named when S3 denies a read."""
    publish_kms_key_arn: str | None = None
    """The published objects' customer-managed KMS key, named when S3 denies a write."""
    cache_rest_api_id: str | None = None
    """The REST API whose stage cache a load that changed data flushes; None: no cache."""
    cache_stage_name: str | None = None
    """That stage's name."""

    @property
    def prefix_mode(self) -> bool:
        """True when a folder of files feeds the data set, False for one fixed object."""
        return self.source_key is None

    @property
    def published(self) -> PublishedKeys:
        return PublishedKeys(self.publish_prefix)

    def source_filter(self) -> SourceFilter:
        """Which announced objects are this loader's source."""
        own_bucket = self.publish_bucket == self.source_bucket
        published = self.published
        return SourceFilter(
            bucket=self.source_bucket,
            key=self.source_key,
            prefix=self.source_prefix,
            suffix=self.source_suffix,
            excluded_keys=frozenset((published.index, published.snapshot)) if own_bucket else frozenset(),
            excluded_prefixes=(
                (published.private_prefix, published.documents_prefix, published.parts_prefix) if own_bucket else ()
            ),
        )

    def describe_source(self) -> str:
        if self.source_key is not None:
            return f"s3://{self.source_bucket}/{self.source_key}"
        return f"s3://{self.source_bucket}/{self.source_prefix}*{self.source_suffix}"


class _Reader:
    """Reads variables, collecting every problem so one error lists them all."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.problems: list[str] = []

    def fail(self, name: str, message: str) -> None:
        self.problems.append(f"{name}: {message}")

    def text(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.environ.get(name, "")
        if value == "":
            if required:
                self.fail(name, "is required and not set")
            return default
        return value

    def number(self, name: str, default: float, low: float, high: float, low_inclusive: bool) -> float:
        raw = self.environ.get(name, "")
        if raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            self.fail(name, f"{raw!r} is not a number")
            return default
        too_low = value < low if low_inclusive else value <= low
        if not math.isfinite(value) or too_low or value > high:
            bound = f">= {low:g}" if low_inclusive else f"> {low:g}"
            self.fail(name, f"{raw!r} is out of range; allowed: {bound} and <= {high:g}")
            return default
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.environ.get(name, "")
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            self.fail(name, f"{raw!r} is not a whole number")
            return default
        if not low <= value <= high:
            self.fail(name, f"{raw!r} is out of range; allowed: {low} to {high}")
            return default
        return value


def from_environment(environ: Mapping[str, str]) -> Settings:
    """Settings from environment variables; raises SettingsError naming every bad variable."""
    r = _Reader(environ)
    key = r.text("SOURCE_KEY")
    prefix = r.text("SOURCE_PREFIX")
    if key is None and prefix is None:
        r.fail("SOURCE_KEY", "set SOURCE_KEY (one object) or SOURCE_PREFIX (a folder of files)")
    elif key is not None and prefix is not None:
        r.fail("SOURCE_PREFIX", f"{prefix!r} conflicts with SOURCE_KEY {key!r}; set exactly one of them")
    publish_prefix = environ.get("PUBLISH_PREFIX", "")
    if publish_prefix and (not publish_prefix.endswith("/") or publish_prefix.startswith("/")):
        r.fail("PUBLISH_PREFIX", f"{publish_prefix!r} must be empty or a path ending in '/' like 'v1/'")
    partition = r.text("PARTITION_COLUMN", "department") or "department"
    item = r.text("ITEM_COLUMN", "employee") or "employee"
    items_field = r.text("ITEMS_FIELD", "employees") or "employees"
    if partition == item:
        r.fail("ITEM_COLUMN", f"{item!r} is also PARTITION_COLUMN; they must differ")
    if items_field == partition:
        r.fail("ITEMS_FIELD", f"{items_field!r} is also PARTITION_COLUMN; they must differ")
    column_types = _column_types(r, environ.get("COLUMN_TYPES", ""), (partition, item))
    cache_api, cache_stage = r.text("CACHE_REST_API_ID"), r.text("CACHE_STAGE_NAME")
    if (cache_api is None) != (cache_stage is None):
        missing = "CACHE_STAGE_NAME" if cache_stage is None else "CACHE_REST_API_ID"
        r.fail(missing, "is required when the other of CACHE_REST_API_ID and CACHE_STAGE_NAME is set")
    settings = Settings(
        table_name=r.text("TABLE_NAME", required=True) or "",
        source_bucket=r.text("SOURCE_BUCKET", required=True) or "",
        source_key=key,
        source_prefix=prefix if key is None else None,
        source_suffix=environ.get("SOURCE_SUFFIX", ""),
        publish_bucket=r.text("PUBLISH_BUCKET", required=True) or "",
        publish_prefix=publish_prefix,
        partition_column=partition,
        item_column=item,
        items_field=items_field,
        collection_name=r.text("COLLECTION_NAME", "departments") or "departments",
        column_types=column_types,
        max_delete_fraction=r.number("MAX_DELETE_FRACTION", 0.5, low=0.0, high=1.0, low_inclusive=False),
        lease_seconds=r.integer("LEASE_SECONDS", 960, low=30, high=86400),
        write_concurrency=r.integer("WRITE_CONCURRENCY", 16, low=1, high=64),
        metrics_namespace=metrics_namespace_from(environ),
        metrics_service=service_name_from(environ),
        cache_rest_api_id=cache_api,
        cache_stage_name=cache_stage,
        source_kms_key_arn=r.text("SOURCE_KMS_KEY_ARN"),
        publish_kms_key_arn=r.text("PUBLISH_KMS_KEY_ARN"),
    )
    if r.problems:
        raise SettingsError("invalid loader environment:\n  " + "\n  ".join(r.problems))
    return settings


def metrics_namespace_from(environ: Mapping[str, str]) -> str:
    """CloudWatch namespace of the loader's metrics."""
    return environ.get("METRICS_NAMESPACE") or "DataApi"


def service_name_from(environ: Mapping[str, str]) -> str:
    """The loader's name in its log lines, traces and the metrics' `Service` dimension."""
    return environ.get("METRICS_SERVICE") or environ.get("AWS_LAMBDA_FUNCTION_NAME") or "data-api-loader"


def _column_types(r: _Reader, raw: str, key_columns: tuple[str, str]) -> dict[str, str]:
    if raw.strip() == "":
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        r.fail("COLUMN_TYPES", f"is not JSON ({error.msg} at character {error.pos})")
        return {}
    if not isinstance(parsed, dict):
        r.fail("COLUMN_TYPES", f"{raw!r} is not a JSON object of column to type")
        return {}
    types: dict[str, str] = {}
    for column, kind in parsed.items():
        if kind not in COLUMN_TYPES:
            r.fail("COLUMN_TYPES", f"column {column!r}: {kind!r} is not one of {', '.join(COLUMN_TYPES)}")
        elif column in key_columns and kind != "string":
            r.fail("COLUMN_TYPES", f"column {column!r}: the key columns are always strings, not {kind}")
        else:
            types[column] = kind
    return types
