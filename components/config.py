"""The stack's typed configuration: read once, validated on load, frozen."""

from __future__ import annotations

import datetime
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pulumi

PROJECT = "data-api"

QUOTA_PERIODS = ("DAY", "WEEK", "MONTH")
# API Gateway: an offset is the day the period starts; a DAY period has only day 0.
QUOTA_MAX_OFFSET = {"DAY": 0, "WEEK": 6, "MONTH": 27}
COLUMN_TYPES = ("string", "number", "integer", "boolean")
BILLING_MODES = ("PAY_PER_REQUEST", "PROVISIONED")
ENDPOINT_TYPES = ("REGIONAL", "EDGE")
NOTIFICATION_MODES = ("s3", "eventbridge")
# BatchWriteItem requests one load keeps in flight at most; it backs off below on throttling.
DEFAULT_WRITE_CONCURRENCY = 16
MAX_WRITE_CONCURRENCY = 64
# The only values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)
# Names become parts of AWS resource names (API keys, usage plans), so keep them to a safe alphabet.
RESOURCE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PATH_SEGMENT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
STAGE_NAME = re.compile(r"^[A-Za-z0-9_]{1,128}$")
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# The partition column names the API's path parameter (`/departments/{department}`).
PATH_PARAMETER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
# IAM grants name the key itself: an alias would match no key in a policy's Resource.
KMS_KEY_RULE = "use a key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (not an alias)"
# A Lambda layer version: names are 1-140 letters, digits, '-' and '_'; versions count from 1.
LAYER_VERSION_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]{1,140}:[1-9]\d*$"
)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A fully qualified host name of at least two labels, in lowercase (DNS is case-insensitive).
DOMAIN_NAME = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
# The sizes (GB) API Gateway offers for a stage's cache cluster, as its API spells them.
CACHE_SIZES = ("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237")
# API Gateway keeps a cached answer at most an hour.
MAX_CACHE_TTL_SECONDS = 3600
# Top-level segments of other routes: the snapshot and its parts, and documents too large for an item.
RESERVED_COLLECTIONS = ("snapshot", "documents")
# The key every customer has had from the start; its resources keep their original logical names.
DEFAULT_KEY_ID = "default"
# API Gateway accepts key values of 20 to 128 characters; a header value cannot hold spaces.
KEY_VALUE_LENGTH = (20, 128)
KEY_VALUE = re.compile(r"^[\x21-\x7e]+$")
# The stale-data alarm counts hourly periods; CloudWatch evaluates at most 7 days of them.
MAX_FRESHNESS_HOURS = 7 * 24


class ConfigError(pulumi.RunError):
    """Invalid stack configuration; each line names the key path, the bad value and the fix."""


# --------------------------------------------------------------------------------------------
# The typed configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceConfig:
    """Where the CSV arrives and how its columns are read."""

    bucket: str | None
    """The source bucket's name; None only when the stack creates the bucket (auto-named)."""
    create_bucket: bool
    """True: this stack creates and owns the bucket; False: the bucket already exists."""
    key: str | None
    """The one object key the loader reads (single-object mode)."""
    prefix: str | None
    """The key prefix of the objects the loader reads (prefix mode)."""
    suffix: str
    """In prefix mode, the key suffix of the objects the loader reads."""
    notifications: str
    """`s3`: a bucket notification owned by this stack; `eventbridge`: a rule on a shared bucket."""
    partition_column: str
    """The column whose value becomes the API's path parameter and the table's key."""
    item_column: str
    """The column whose value keys the rows inside one partition's document."""
    items_field: str
    """The name of the nested map of items inside each document."""
    column_types: Mapping[str, str]
    """Declared column types; undeclared columns stay strings."""
    noncurrent_version_days: int
    """Days a replaced version of the source object is kept, when the stack creates the bucket."""
    kms_key_arn: str | None
    """The customer-managed KMS key the source objects are encrypted with (a created bucket's
    default); None: SSE-S3, nothing to grant."""

    @property
    def object_filter(self) -> str:
        """The key or prefix that selects source objects."""
        return self.key if self.key is not None else (self.prefix or "")


@dataclass(frozen=True)
class Quota:
    """A usage plan's request quota."""

    limit: int
    """Requests allowed per period."""
    period: str
    """DAY, WEEK or MONTH."""
    offset: int
    """The day the period starts (0 for DAY, 0-6 for WEEK, 0-27 for MONTH)."""


@dataclass(frozen=True)
class Throttle:
    """A steady request rate and the burst allowed above it."""

    rate_limit: float
    """Requests per second, sustained."""
    burst_limit: int
    """Requests allowed in a burst; at least the rate."""


@dataclass(frozen=True)
class CustomerKey:
    """One of a customer's API keys; every key of a customer is on the customer's plan."""

    id: str
    """Stable within the customer; with the customer's name it names the key's resources."""
    expires: datetime.date | None = None
    """The last UTC day the key works; None: it never expires."""
    expired: bool = False
    """True when the stack was read after the `expires` day (UTC): the key is kept but disabled."""
    value: str | None = field(default=None, repr=False)
    """A migrated key value (a Pulumi secret); None lets API Gateway generate one."""


@dataclass(frozen=True)
class InternalKey:
    """An unlimited internal key on the internal plan."""

    name: str
    """Stable name; names the key's resources."""
    value: str | None = field(default=None, repr=False)
    """A migrated key value (a Pulumi secret); None lets API Gateway generate one."""


@dataclass(frozen=True)
class Customer:
    """A paying subscriber with its own usage plan and one or more keys on it."""

    name: str
    """Stable name; names the customer's AWS resources, so its key survives every other edit."""
    quota: Quota
    """Requests per period."""
    throttle: Throttle
    """Rate and burst."""
    enabled: bool
    """False keeps the keys and plan but disables every key."""
    keys: tuple[CustomerKey, ...] = (CustomerKey(DEFAULT_KEY_ID),)
    """The customer's keys in config order; without `keys` in config, the one key `default`."""

    @property
    def current_key(self) -> CustomerKey:
        """The key handed to the customer: the last listed one not expired (else the last listed)."""
        live = [key for key in self.keys if not key.expired]
        return (live or list(self.keys))[-1]


@dataclass(frozen=True)
class Capacity:
    """Autoscaling bounds for one direction of provisioned throughput."""

    min: int
    """Lowest capacity units autoscaling may set."""
    max: int
    """Highest capacity units autoscaling may set."""


@dataclass(frozen=True)
class TableConfig:
    """How the DynamoDB table is billed and protected."""

    billing_mode: str
    """PAY_PER_REQUEST (on-demand) or PROVISIONED."""
    read: Capacity | None
    """Read capacity bounds (PROVISIONED only)."""
    write: Capacity | None
    """Write capacity bounds (PROVISIONED only)."""
    target_utilization: int
    """Target-tracking utilisation percentage for autoscaling."""
    deletion_protection: bool
    """Refuse deletion of the table while on."""
    kms_key_arn: str | None
    """A customer-managed KMS key; None uses DynamoDB's AWS-owned key."""


@dataclass(frozen=True)
class PublishConfig:
    """Where the loader publishes index.json and snapshot.json."""

    bucket: str | None
    """An existing bucket; None makes the stack create a private one."""
    prefix: str
    """Key prefix for the published objects; empty or ending in '/'."""
    kms_key_arn: str | None
    """The customer-managed KMS key the published objects are encrypted with (a created bucket's
    default); None: SSE-S3, nothing to grant."""

    @property
    def index_key(self) -> str:
        """The object key of index.json."""
        return f"{self.prefix}index.json"

    @property
    def snapshot_key(self) -> str:
        """The object key of snapshot.json."""
        return f"{self.prefix}snapshot.json"

    @property
    def documents_prefix(self) -> str:
        """Documents too large for a DynamoDB item, one object each (served by the documents route)."""
        return f"{self.prefix}documents/"

    @property
    def parts_prefix(self) -> str:
        """The snapshot in parts, one folder per load that published them (served by the parts route)."""
        return f"{self.prefix}snapshot/"

    @property
    def private_prefix(self) -> str:
        """Where the loader keeps its own bookkeeping objects (never served)."""
        return f"{self.prefix}_loader/"


@dataclass(frozen=True)
class LoaderConfig:
    """The loader function's sizing and safety limits."""

    memory_mb: int
    """Lambda memory in MB (CPU scales with it)."""
    timeout_seconds: int
    """Lambda timeout in seconds."""
    log_retention_days: int
    """Retention of the function's log group."""
    max_delete_fraction: float
    """A load that would delete more than this fraction of existing keys is refused."""
    write_concurrency: int = 16
    """The most BatchWriteItem requests a load keeps in flight (it backs off below it on throttling)."""
    powertools_layer_arn: str | None = None
    """A mirror of the Powertools layer to use instead of AWS's public one; None uses the public one."""


@dataclass(frozen=True)
class DomainConfig:
    """The API's own host name, served by a regional custom domain."""

    name: str
    """The host name, e.g. `api.example.com`."""
    hosted_zone_id: str | None
    """A Route 53 zone for the certificate's validation records and the alias records."""
    certificate_arn: str | None
    """An existing ACM certificate in the stack's region; None requests one validated in the zone."""
    disable_default_endpoint: bool
    """Turn off the execute-api URL, so the domain is the only way in."""


@dataclass(frozen=True)
class CacheConfig:
    """The stage's cache cluster, serving the item route."""

    size_gb: str
    """The cluster's size in GB, one of CACHE_SIZES."""
    ttl_seconds: int
    """How long an answer is served from the cache (the loader also flushes it after a change)."""


@dataclass(frozen=True)
class ApiConfig:
    """The REST API's shape and stage settings."""

    collection: str
    """The collection path segment, e.g. `departments`."""
    endpoint_type: str
    """REGIONAL or EDGE."""
    stage_name: str
    """The stage name, part of the base URL."""
    tracing: bool
    """X-Ray tracing on the stage."""
    throttle: Throttle
    """The stage's default throttle, a ceiling over every plan."""
    manage_account_log_role: bool
    """Manage the account-wide API Gateway CloudWatch role (one stack per account and region)."""
    log_retention_days: int
    """Retention of the access log group."""
    latency_p99_ms: int
    """The p99 latency above which the latency alarm fires."""
    error_rate: float
    """The 5XX error rate (0-1) above which the error alarm fires."""
    domain: DomainConfig | None = None
    """The custom domain; None serves the execute-api URL only."""
    cache: CacheConfig | None = None
    """The stage's cache; None caches nothing."""


@dataclass(frozen=True)
class AlertsConfig:
    """Who hears about failures and stale data."""

    emails: tuple[str, ...]
    """E-mail addresses subscribed to the alert topic."""
    freshness_hours: int
    """Hours without a successful load before the data counts as stale."""
    dashboard: bool = True
    """Declare the stack's CloudWatch dashboard."""


@dataclass(frozen=True)
class StackConfig:
    """Everything one stack is configured with."""

    stack_file: str
    """The stack file an operator edits, for messages."""
    source: SourceConfig
    """The CSV source."""
    customers: tuple[Customer, ...]
    """Paying subscribers, in config order."""
    internal_keys: tuple[InternalKey, ...]
    """Unlimited internal keys, in config order."""
    table: TableConfig
    """The DynamoDB table."""
    publish: PublishConfig
    """Published index and snapshot."""
    loader: LoaderConfig
    """The loader function."""
    api: ApiConfig
    """The REST API."""
    alerts: AlertsConfig
    """Alerting."""


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value)


class _Reader:
    """Walks raw config, collecting every problem with its key path."""

    def __init__(self, stack_file: str, today: datetime.date | None = None,
                 warn: Callable[[str], None] | None = None):
        self.stack_file = stack_file
        self.problems: list[str] = []
        self.today = today or datetime.datetime.now(datetime.timezone.utc).date()
        self._warn = warn
        # Key values already seen, to path: API Gateway treats two keys with one value as one key.
        self.key_values: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message} (edit {self.stack_file})")

    def warn(self, path: str, message: str) -> None:
        if self._warn is not None:
            self._warn(f"{path}: {message} (edit {self.stack_file})")

    def mapping(self, raw: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        """The raw value as a dict, reporting a non-mapping and every unknown key."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(path, f"{_show(raw)} is not a mapping; expected keys {', '.join(allowed)}")
            return {}
        for key in raw:
            if key not in allowed:
                near = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                self.fail(
                    _join(path, str(key)),
                    f"unknown key{hint}; allowed: {', '.join(allowed)}",
                )
        return raw

    def string(
        self,
        raw: Mapping[str, Any],
        key: str,
        path: str,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
        rule: str = "",
    ) -> str | None:
        value = raw.get(key, default)
        where = _join(path, key)
        if value is None:
            return None
        if not isinstance(value, str) or value == "":
            self.fail(where, f"{_show(value)} is not a non-empty string")
            return default
        if pattern is not None and not pattern.match(value):
            self.fail(where, f"{_show(value)} is not allowed; {rule}")
            return default
        return value

    def required_string(self, raw, key, path, **kwargs) -> str:
        value = self.string(raw, key, path, **kwargs)
        if value is None and key not in raw:
            self.fail(_join(path, key), "is required")
        return value or ""

    def choice(self, raw, key, path, choices: tuple[str, ...], default: str) -> str:
        value = raw.get(key, default)
        if value not in choices:
            self.fail(_join(path, key), f"{_show(value)} is not one of {', '.join(choices)}")
            return default
        return value

    def boolean(self, raw, key, path, default: bool) -> bool:
        value = raw.get(key, default)
        # `pulumi config set` without --path stores "true"/"false" as strings.
        if value in ("true", "false"):
            value = value == "true"
        if not isinstance(value, bool):
            self.fail(_join(path, key), f"{_show(value)} is not true or false")
            return default
        return value

    def integer(
        self, raw, key, path, default: int | None, low: int | None = None, high: int | None = None
    ) -> int | None:
        value = raw.get(key, default)
        where = _join(path, key)
        if value is None:
            return None
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"{_show(value)} is not a whole number")
            return default
        if low is not None and value < low or high is not None and value > high:
            self.fail(where, f"{value} is out of range; allowed: {_range(low, high)}")
            return default
        return value

    def number(self, raw, key, path, default: float | None, low: float, high: float | None = None,
               low_inclusive: bool = False) -> float | None:
        value = raw.get(key, default)
        where = _join(path, key)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"{_show(value)} is not a number")
            return default
        too_low = value < low if low_inclusive else value <= low
        if too_low or (high is not None and value > high):
            bound = f">= {low}" if low_inclusive else f"> {low}"
            allowed = bound if high is None else f"{bound} and <= {high}"
            self.fail(where, f"{value} is out of range; allowed: {allowed}")
            return default
        return value

    def sequence(self, raw, key, path) -> list[Any]:
        value = raw.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(_join(path, key), f"{_show(value)} is not a list")
            return []
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _range(low: int | None, high: int | None) -> str:
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"{low} to {high}"


NAME_RULE = "use 1-40 lowercase letters, digits and hyphens, starting and ending with a letter or digit"


def _throttle(r: _Reader, raw: Any, path: str, default: tuple[float, int] | None) -> Throttle:
    body = r.mapping(raw, path, ("rateLimit", "burstLimit"))
    if raw is None and default is None:
        r.fail(path, "is required (rateLimit and burstLimit)")
        return Throttle(1.0, 1)
    rate_default, burst_default = default if default else (None, None)
    if default is None:
        for key in ("rateLimit", "burstLimit"):
            if key not in body:
                r.fail(_join(path, key), "is required")
    rate = r.number(body, "rateLimit", path, rate_default, low=0) or 1.0
    burst = r.integer(body, "burstLimit", path, burst_default, low=1) or 1
    if "rateLimit" in body and "burstLimit" in body and isinstance(rate, (int, float)) and burst < rate:
        r.fail(
            _join(path, "burstLimit"),
            f"{burst} is below rateLimit {rate:g}; a burst must allow at least one second's rate",
        )
    return Throttle(float(rate), int(burst))


def _quota(r: _Reader, raw: Any, path: str) -> Quota:
    if raw is None:
        r.fail(path, "is required (limit and period)")
        return Quota(1, "DAY", 0)
    body = r.mapping(raw, path, ("limit", "period", "offset"))
    if "limit" not in body:
        r.fail(_join(path, "limit"), "is required")
    limit = r.integer(body, "limit", path, None, low=1) or 1
    if "period" not in body:
        r.fail(_join(path, "period"), "is required; one of DAY, WEEK, MONTH")
    period = r.choice(body, "period", path, QUOTA_PERIODS, default="DAY") if "period" in body else "DAY"
    offset = r.integer(body, "offset", path, 0, low=0) or 0
    if offset > QUOTA_MAX_OFFSET[period]:
        r.fail(
            _join(path, "offset"),
            f"{offset} is out of range for period {period}; allowed: 0 to {QUOTA_MAX_OFFSET[period]}",
        )
    return Quota(limit, period, offset)


def _customers(r: _Reader, raw: Any) -> tuple[Customer, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.fail("customers", f"{_show(raw)} is not a list")
        return ()
    customers = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        path = f"customers[{index}]"
        body = r.mapping(entry, path, ("name", "quota", "throttle", "enabled", "keys"))
        if not isinstance(entry, dict):
            continue
        name = r.required_string(body, "name", path, pattern=RESOURCE_NAME, rule=NAME_RULE)
        if name and name in seen:
            r.fail(
                f"{path}.name",
                f"{_show(name)} is already the name of customers[{seen[name]}]; names must be unique",
            )
        elif name:
            seen[name] = index
        enabled = r.boolean(body, "enabled", path, True)
        keys = _customer_keys(r, body, path)
        if enabled and keys and all(key.expired for key in keys):
            last = max(key.expires for key in keys if key.expires is not None)
            r.warn(
                f"{path}.keys",
                f"every key of customer {_show(name)} has expired (the last on {last.isoformat()}), so the "
                "customer is locked out: add a key, or move an `expires` later",
            )
        customers.append(
            Customer(
                name=name,
                quota=_quota(r, body.get("quota"), f"{path}.quota"),
                throttle=_throttle(r, body.get("throttle"), f"{path}.throttle", default=None),
                enabled=enabled,
                keys=keys or (CustomerKey(DEFAULT_KEY_ID),),
            )
        )
    return tuple(customers)


KEY_ID_RULE = f"it names the key's AWS resources; {NAME_RULE}"
DATE_RULE = "use an ISO date, YYYY-MM-DD, the last UTC day the key works"


def _customer_keys(r: _Reader, body: Mapping[str, Any], path: str) -> tuple[CustomerKey, ...]:
    """A customer's `keys`, or the one default key when the list is absent."""
    if body.get("keys") is None:
        return (CustomerKey(DEFAULT_KEY_ID),)
    entries = r.sequence(body, "keys", path)
    if isinstance(body.get("keys"), list) and not entries:
        r.fail(f"{path}.keys", "is empty; list at least one key, or remove `keys` for the default key")
    keys: list[CustomerKey] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"{path}.keys[{index}]"
        key_body = r.mapping(entry, where, ("id", "expires", "value"))
        if not isinstance(entry, dict):
            continue
        key_id = r.required_string(key_body, "id", where, pattern=RESOURCE_NAME, rule=KEY_ID_RULE)
        if key_id in seen:
            r.fail(f"{where}.id", f"{_show(key_id)} is already the id of {path}.keys[{seen[key_id]}]; "
                                  "key ids must be unique within a customer")
        elif key_id:
            seen[key_id] = index
        expires = _date(r, key_body, "expires", where)
        keys.append(CustomerKey(
            id=key_id,
            expires=expires,
            expired=expires is not None and r.today > expires,
            value=_key_value(r, key_body, where),
        ))
    return tuple(keys)


def _date(r: _Reader, body: Mapping[str, Any], key: str, path: str) -> datetime.date | None:
    """An ISO date; YAML may already have read it as a date, or the engine passed it as midnight UTC."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        value = value.date().isoformat()
    elif isinstance(value, datetime.date):
        return value
    text = value if isinstance(value, str) else ""
    text = re.sub(r"T00:00:00(?:\.0+)?(?:Z|[+-]00:00)?$", "", text)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.date.fromisoformat(text)
    except ValueError:
        pass
    r.fail(_join(path, key), f"{_show(value)} is not a date; {DATE_RULE}")
    return None


def _key_value(r: _Reader, body: Mapping[str, Any], path: str) -> str | None:
    """A migrated key value; the messages never show it, since it is a secret."""
    if "value" not in body:
        return None
    value = body["value"]
    where = _join(path, "value")
    low, high = KEY_VALUE_LENGTH
    if not isinstance(value, str):
        r.fail(where, "is not a string; set it with `pulumi config set --secret --path` (value not shown)")
        return None
    if not low <= len(value) <= high:
        r.fail(where, f"is {len(value)} characters long; API Gateway requires {low} to {high} (value not shown)")
        return None
    if not KEY_VALUE.match(value):
        r.fail(where, "contains a space or a non-ASCII character; a key travels in the x-api-key header "
                      "(value not shown)")
        return None
    if value in r.key_values:
        r.fail(where, f"is the same value as {r.key_values[value]}; API Gateway would treat them as one key, "
                      "give each key its own value (value not shown)")
        return None
    r.key_values[value] = where
    return value


def _internal_keys(r: _Reader, raw: Any, customers: tuple[Customer, ...]) -> tuple[InternalKey, ...]:
    keys: list[InternalKey] = []
    names: list[str] = []
    values = r.sequence({"internalKeys": raw}, "internalKeys", "")
    customer_names = {c.name for c in customers}
    for index, entry in enumerate(values):
        path = f"internalKeys[{index}]"
        value: str | None = None
        if isinstance(entry, dict):
            body = r.mapping(entry, path, ("name", "value"))
            name = r.required_string(body, "name", path, pattern=RESOURCE_NAME, rule=NAME_RULE)
            value = _key_value(r, body, path)
            path = f"{path}.name"
            if not name:
                continue
        elif not isinstance(entry, str) or not RESOURCE_NAME.match(entry):
            r.fail(path, f"{_show(entry)} is not allowed; {NAME_RULE}, or a mapping with name and value")
            continue
        else:
            name = entry
        if name in names:
            r.fail(path, f"{_show(name)} is listed twice; names must be unique")
            continue
        if name in customer_names:
            r.fail(path, f"{_show(name)} is also a customer's name; key names must be unique")
            continue
        names.append(name)
        keys.append(InternalKey(name=name, value=value))
    return tuple(keys)


def _source(r: _Reader, raw: Any) -> SourceConfig:
    if raw is None:
        r.fail("source", "is required: set source.bucket and source.key (or source.prefix)")
        raw = {"create": True, "key": "missing.csv"}
    body = r.mapping(
        raw,
        "source",
        (
            "bucket", "create", "key", "prefix", "suffix", "notifications", "partitionColumn",
            "itemColumn", "itemsField", "columnTypes", "noncurrentVersionDays", "kmsKeyArn",
        ),
    )
    create = r.boolean(body, "create", "source", False)
    bucket = r.string(body, "bucket", "source", pattern=BUCKET_NAME,
                      rule="use a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
    if bucket is None and not create and "bucket" not in body:
        r.fail("source.bucket", "is required unless source.create is true")
    key = r.string(body, "key", "source")
    prefix = r.string(body, "prefix", "source")
    if key is None and prefix is None:
        r.fail("source.key", "is required: set source.key, or source.prefix for a folder of files")
    if key is not None and prefix is not None:
        r.fail("source.prefix", f"{_show(prefix)} conflicts with source.key; set one of them")
    for name, value in (("key", key), ("prefix", prefix)):
        if value is not None and value.startswith("/"):
            r.fail(f"source.{name}", f"{_show(value)} starts with '/'; S3 keys have no leading slash")
    suffix = r.string(body, "suffix", "source", default=".csv") or ".csv"
    if key is not None and "suffix" in body:
        r.fail("source.suffix", "applies to source.prefix only; remove it or use source.prefix")
    partition = r.string(
        body, "partitionColumn", "source", default="department", pattern=PATH_PARAMETER,
        rule="it names the API's path parameter: use a letter followed by letters, digits and underscores",
    ) or "department"
    item = r.string(body, "itemColumn", "source", default="employee") or "employee"
    if partition == item:
        r.fail("source.itemColumn", f"{_show(item)} is also the partition column; they must differ")
    items_field = r.string(
        body, "itemsField", "source", default=f"{item}s", pattern=ATTRIBUTE_NAME,
        rule="use letters, digits and underscores",
    ) or f"{item}s"
    if items_field == partition:
        r.fail("source.itemsField", f"{_show(items_field)} is also the partition column; they must differ")
    column_types: dict[str, str] = {}
    raw_types = body.get("columnTypes")
    if raw_types is not None and not isinstance(raw_types, dict):
        r.fail("source.columnTypes", f"{_show(raw_types)} is not a mapping of column to type")
    for column, kind in (raw_types or {}).items() if isinstance(raw_types, dict) else ():
        where = f"source.columnTypes.{column}"
        if kind not in COLUMN_TYPES:
            r.fail(where, f"{_show(kind)} is not one of {', '.join(COLUMN_TYPES)}")
        elif column in (partition, item) and kind != "string":
            r.fail(where, f"{_show(kind)} is not allowed; the key columns are always strings")
        else:
            column_types[str(column)] = kind
    return SourceConfig(
        bucket=bucket,
        create_bucket=create,
        key=key,
        prefix=prefix,
        suffix=suffix,
        notifications=r.choice(body, "notifications", "source", NOTIFICATION_MODES, "s3"),
        partition_column=partition,
        item_column=item,
        items_field=items_field,
        column_types=column_types,
        noncurrent_version_days=r.integer(body, "noncurrentVersionDays", "source", 30, low=1) or 30,
        kms_key_arn=r.string(body, "kmsKeyArn", "source", pattern=KMS_KEY_ARN, rule=KMS_KEY_RULE),
    )


def _capacity(r: _Reader, raw: Any, path: str, needed: bool) -> Capacity | None:
    if raw is None:
        if needed:
            r.fail(path, "is required when table.billingMode is PROVISIONED (min and max)")
        return None
    body = r.mapping(raw, path, ("min", "max"))
    if not needed:
        r.fail(path, "applies to PROVISIONED billing only; remove it or set table.billingMode")
    low = r.integer(body, "min", path, None, low=1)
    high = r.integer(body, "max", path, None, low=1)
    for key, value in (("min", low), ("max", high)):
        if value is None and key not in body:
            r.fail(_join(path, key), "is required")
    if low is not None and high is not None and high < low:
        r.fail(_join(path, "max"), f"{high} is below min {low}")
    return Capacity(low or 1, high or 1)


def _table(r: _Reader, raw: Any) -> TableConfig:
    body = r.mapping(
        raw, "table", ("billingMode", "read", "write", "targetUtilization", "deletionProtection", "kmsKeyArn")
    )
    mode = r.choice(body, "billingMode", "table", BILLING_MODES, "PAY_PER_REQUEST")
    provisioned = mode == "PROVISIONED"
    return TableConfig(
        billing_mode=mode,
        read=_capacity(r, body.get("read"), "table.read", provisioned),
        write=_capacity(r, body.get("write"), "table.write", provisioned),
        target_utilization=r.integer(body, "targetUtilization", "table", 70, low=20, high=90) or 70,
        deletion_protection=r.boolean(body, "deletionProtection", "table", True),
        kms_key_arn=r.string(body, "kmsKeyArn", "table", pattern=KMS_KEY_ARN,
                             rule="use a key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID"),
    )


def _publish(r: _Reader, raw: Any) -> PublishConfig:
    body = r.mapping(raw, "publish", ("bucket", "prefix", "kmsKeyArn"))
    prefix = body.get("prefix", "published/")
    if not isinstance(prefix, str) or (prefix and (not prefix.endswith("/") or prefix.startswith("/"))):
        r.fail("publish.prefix", f"{_show(prefix)} is not allowed; use '' or a path ending in '/' like 'v1/'")
        prefix = "published/"
    return PublishConfig(
        bucket=r.string(body, "bucket", "publish", pattern=BUCKET_NAME,
                        rule="use a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"),
        prefix=prefix,
        kms_key_arn=r.string(body, "kmsKeyArn", "publish", pattern=KMS_KEY_ARN, rule=KMS_KEY_RULE),
    )


def _retention(r: _Reader, body, path: str) -> int:
    value = r.integer(body, "logRetentionDays", path, 30, low=1)
    if value is not None and value not in LOG_RETENTION_DAYS:
        r.fail(
            _join(path, "logRetentionDays"),
            f"{value} is not a retention CloudWatch Logs accepts; one of "
            f"{', '.join(str(d) for d in LOG_RETENTION_DAYS)}",
        )
        return 30
    return value or 30


def _loader(r: _Reader, raw: Any) -> LoaderConfig:
    body = r.mapping(
        raw, "loader",
        ("memory", "timeout", "logRetentionDays", "maxDeleteFraction", "writeConcurrency", "powertoolsLayerArn"),
    )
    return LoaderConfig(
        memory_mb=r.integer(body, "memory", "loader", 1024, low=128, high=10240) or 1024,
        timeout_seconds=r.integer(body, "timeout", "loader", 300, low=10, high=900) or 300,
        log_retention_days=_retention(r, body, "loader"),
        max_delete_fraction=r.number(body, "maxDeleteFraction", "loader", 0.5, low=0, high=1.0) or 0.5,
        write_concurrency=r.integer(
            body, "writeConcurrency", "loader", DEFAULT_WRITE_CONCURRENCY, low=1, high=MAX_WRITE_CONCURRENCY
        ) or DEFAULT_WRITE_CONCURRENCY,
        powertools_layer_arn=r.string(
            body, "powertoolsLayerArn", "loader", pattern=LAYER_VERSION_ARN,
            rule="use a Lambda layer version ARN, arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
        ),
    )


def _domain(r: _Reader, raw: Any, region: str | None) -> DomainConfig | None:
    if raw is None:
        return None
    path = "api.domain"
    body = r.mapping(raw, path, ("name", "hostedZoneId", "certificateArn", "disableDefaultEndpoint"))
    if not isinstance(raw, dict):
        return None
    name = r.required_string(body, "name", path, pattern=DOMAIN_NAME,
                             rule="use a lowercase host name such as api.example.com")
    zone = body.get("hostedZoneId")
    if isinstance(zone, str) and zone.startswith("/hostedzone/"):
        r.fail(f"{path}.hostedZoneId", f"{_show(zone)} is not allowed; use the id alone, "
                                       f"{_show(zone[len('/hostedzone/'):])}")
        zone = None
    else:
        zone = r.string(body, "hostedZoneId", path, pattern=HOSTED_ZONE_ID,
                        rule="use a Route 53 hosted zone id such as Z0123456789ABC")
    certificate = r.string(body, "certificateArn", path, pattern=CERTIFICATE_ARN,
                           rule="use a certificate ARN, arn:aws:acm:REGION:ACCOUNT:certificate/ID")
    if certificate is not None and region is not None:
        certificate_region = CERTIFICATE_ARN.match(certificate).group(1)
        if certificate_region != region:
            r.fail(f"{path}.certificateArn",
                   f"{_show(certificate)} is in {certificate_region}; a regional custom domain needs a "
                   f"certificate in the stack's region {region} (aws:region)")
    if certificate is None and zone is None and "certificateArn" not in body and "hostedZoneId" not in body:
        r.fail(path, "needs certificateArn (an existing certificate) or hostedZoneId (to validate a new "
                     "one in that Route 53 zone)")
    return DomainConfig(
        name=name,
        hosted_zone_id=zone,
        certificate_arn=certificate,
        disable_default_endpoint=r.boolean(body, "disableDefaultEndpoint", path, False),
    )


def _cache(r: _Reader, raw: Any) -> CacheConfig | None:
    if raw is None:
        return None
    path = "api.cache"
    body = r.mapping(raw, path, ("sizeGb", "ttlSeconds"))
    size = body.get("sizeGb", CACHE_SIZES[0])
    # YAML reads an unquoted 0.5 as a number; API Gateway's size is the text "0.5".
    if isinstance(size, (int, float)) and not isinstance(size, bool):
        size = f"{size:g}"
    if size not in CACHE_SIZES:
        r.fail(f"{path}.sizeGb", f"{_show(body.get('sizeGb'))} is not one of {', '.join(CACHE_SIZES)}")
        size = CACHE_SIZES[0]
    ttl = r.integer(body, "ttlSeconds", path, 300, low=1, high=MAX_CACHE_TTL_SECONDS) or 300
    return CacheConfig(size_gb=size, ttl_seconds=ttl)


def _api(r: _Reader, raw: Any, region: str | None = None) -> ApiConfig:
    body = r.mapping(
        raw,
        "api",
        (
            "collection", "endpointType", "stageName", "tracing", "throttle", "manageAccountLogRole",
            "logRetentionDays", "latencyP99Ms", "errorRate", "domain", "cache",
        ),
    )
    collection = r.string(body, "collection", "api", default="departments", pattern=PATH_SEGMENT,
                          rule="use lowercase letters, digits and hyphens") or "departments"
    if collection in RESERVED_COLLECTIONS:
        r.fail("api.collection", f"{_show(collection)} is reserved for the {collection} routes; pick another")
    return ApiConfig(
        collection=collection,
        endpoint_type=r.choice(body, "endpointType", "api", ENDPOINT_TYPES, "REGIONAL"),
        stage_name=r.string(body, "stageName", "api", default="v1", pattern=STAGE_NAME,
                            rule="use letters, digits and underscores") or "v1",
        tracing=r.boolean(body, "tracing", "api", True),
        throttle=_throttle(r, body.get("throttle"), "api.throttle", default=(100.0, 200)),
        manage_account_log_role=r.boolean(body, "manageAccountLogRole", "api", False),
        log_retention_days=_retention(r, body, "api"),
        latency_p99_ms=r.integer(body, "latencyP99Ms", "api", 1000, low=1) or 1000,
        error_rate=r.number(body, "errorRate", "api", 0.05, low=0, high=1.0) or 0.05,
        domain=_domain(r, body.get("domain"), region),
        cache=_cache(r, body.get("cache")),
    )


def _alerts(r: _Reader, raw: Any) -> AlertsConfig:
    body = r.mapping(raw, "alerts", ("emails", "freshnessHours", "dashboard"))
    emails = []
    for index, value in enumerate(r.sequence(body, "emails", "alerts")):
        if not isinstance(value, str) or not EMAIL.match(value):
            r.fail(f"alerts.emails[{index}]", f"{_show(value)} is not an e-mail address")
        else:
            emails.append(value)
    return AlertsConfig(
        emails=tuple(emails),
        # One CloudWatch alarm evaluates at most 7 days of hourly periods.
        freshness_hours=r.integer(body, "freshnessHours", "alerts", 26, low=1, high=MAX_FRESHNESS_HOURS) or 26,
        dashboard=r.boolean(body, "dashboard", "alerts", True),
    )


TOP_LEVEL = ("source", "customers", "internalKeys", "table", "publish", "loader", "api", "alerts")


def parse_config(raw: Mapping[str, Any], stack_file: str, region: str | None = None,
                 today: datetime.date | None = None,
                 warn: Callable[[str], None] | None = None) -> StackConfig:
    """Validates raw project config (key -> parsed YAML value) into a StackConfig.

    `region` is the stack's `aws:region`, which a custom domain's certificate must be in; `today`
    (UTC, by default the current day) decides which keys have expired; `warn` hears what is valid
    but probably a mistake. Raises ConfigError listing every problem found, one per line.
    """
    r = _Reader(stack_file, today=today, warn=warn)
    r.mapping(dict(raw), "", TOP_LEVEL)
    customers = _customers(r, raw.get("customers"))
    config = StackConfig(
        stack_file=stack_file,
        source=_source(r, raw.get("source")),
        customers=customers,
        internal_keys=_internal_keys(r, raw.get("internalKeys"), customers),
        table=_table(r, raw.get("table")),
        publish=_publish(r, raw.get("publish")),
        loader=_loader(r, raw.get("loader")),
        api=_api(r, raw.get("api"), region),
        alerts=_alerts(r, raw.get("alerts")),
    )
    if r.problems:
        raise ConfigError("invalid stack configuration:\n  " + "\n  ".join(r.problems))
    return config


def _namespace_keys() -> list[str]:
    """The names of every `data-api:*` key set on the running stack."""
    # pulumi.Config only answers for keys it is asked about; listing the whole bag is the one way
    # to report a mistyped top-level key (e.g. `custmers`) instead of silently ignoring it.
    from pulumi.runtime.config import CONFIG, get_config_env

    names = []
    for full_key in {**get_config_env(), **CONFIG.get()}:
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT and key:
            names.append(key)
    return names


def _project_config() -> dict[str, Any]:
    """The stack's `data-api:*` settings, each parsed from the object form that `--path` writes."""
    config = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    for key in _namespace_keys():
        try:
            raw[key] = config.get_object(key)
        except json.JSONDecodeError:
            raw[key] = config.get(key)
    return raw


def read_project_config() -> dict[str, Any]:
    """The running stack's `data-api:*` settings as its stack file holds them, not yet validated."""
    return _project_config()


def _stack_region() -> str | None:
    """The stack's `aws:region`, as the AWS provider reads it (config first, then the environment)."""
    return pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def _plaintext_key_values(config: StackConfig) -> list[str]:
    """The config paths of key values stored in the stack file unencrypted."""
    from pulumi.runtime.config import is_config_secret

    paths = []
    if not is_config_secret(f"{PROJECT}:customers"):
        paths += [f"customers[{i}].keys[{j}].value" for i, customer in enumerate(config.customers)
                  for j, key in enumerate(customer.keys) if key.value is not None]
    if not is_config_secret(f"{PROJECT}:internalKeys"):
        paths += [f"internalKeys[{i}].value" for i, key in enumerate(config.internal_keys)
                  if key.value is not None]
    return paths


def load_config(read: Callable[[], dict[str, Any]] = _project_config,
                region: Callable[[], str | None] = _stack_region,
                today: datetime.date | None = None) -> StackConfig:
    """Reads the running stack's config once and returns it typed and validated."""
    stack_file = f"Pulumi.{pulumi.get_stack()}.yaml"
    config = parse_config(read(), stack_file=stack_file, region=region(), today=today,
                          warn=pulumi.log.warn)
    for path in _plaintext_key_values(config):
        pulumi.log.warn(f"{path}: is stored in plain text in {stack_file}; set it again with "
                        f"`pulumi config set --secret --path '{path}' ...`")
    return config
