"""DataApi: the whole product (table, loader, gateway, alerts, dashboard) as one component, and its args.

The args are TypedDicts of the same settings a stack file holds (`source`, `customers`, ...), in
Python's snake_case; Pulumi's analyzer reads them, with their docstrings, into the component
package's schema, where each name is the stack file's camelCase key. The component checks them
with the stack config's own rules (components/config.py), so a setting means the same everywhere.

No `from __future__ import annotations` here: the analyzer reads these annotations as types.
"""

import inspect
import typing
from typing import Any, Mapping, NotRequired, Optional, TypedDict

import pulumi
from pulumi.provider.experimental.util import camel_case

from . import config as stack_config
from .alerts import Alerts, AlertsArgs
from .config import parse_config
from .dashboard import Dashboard, DashboardArgs
from .domain import ApiDomain, DomainArgs
from .gateway import Gateway, GatewayArgs
from .loader import LOADER_TYPE, ApiCache, Loader, LoaderArgs, PublishBucket, PublishBucketArgs, component_urn
from .naming import child_prefix, qualifier
from .table import DataTable, TableArgs

DATA_API_TYPE = "data-api:index:DataApi"


# --------------------------------------------------------------------------------------------
# Args: the stack file's settings, one TypedDict a section (docs/configuration.md has every rule)
# --------------------------------------------------------------------------------------------


class SourceSettings(TypedDict):
    """Where the CSV arrives and how its columns are read."""

    bucket: NotRequired[str]
    """Bucket the CSV is dropped into (required unless `create`)."""
    create: NotRequired[bool]
    """The product creates the source bucket and a writer role for the producer (default false)."""
    key: NotRequired[str]
    """The one object the loader reads, e.g. `exports/employees.csv` (this or `prefix`)."""
    prefix: NotRequired[str]
    """Read every object under this prefix (this or `key`)."""
    suffix: NotRequired[str]
    """With `prefix`: only keys ending in this (default `.csv`)."""
    notifications: NotRequired[str]
    """How the loader is triggered: `s3` (default) or `eventbridge`."""
    partition_column: NotRequired[str]
    """Column that keys the API and the table (default `department`)."""
    item_column: NotRequired[str]
    """Column that keys rows inside one document (default `employee`)."""
    items_field: NotRequired[str]
    """Name of the nested map in each document (default: itemColumn + `s`)."""
    column_types: NotRequired[dict[str, str]]
    """Declared column types (`string`, `number`, `integer`, `boolean`); undeclared columns stay strings."""
    noncurrent_version_days: NotRequired[int]
    """Created bucket only: days old versions of the CSV are kept (default 30)."""
    kms_key_arn: NotRequired[str]
    """The customer-managed KMS key the source objects are encrypted with (a created bucket's default)."""


class QuotaSettings(TypedDict):
    """A customer's request quota."""

    limit: int
    """Requests per period."""
    period: str
    """`DAY`, `WEEK` or `MONTH`."""
    offset: NotRequired[int]
    """Day the period starts (WEEK 0-6, MONTH 0-27, DAY 0; default 0)."""


class ThrottleSettings(TypedDict):
    """A steady rate and a burst."""

    rate_limit: float
    """Steady requests per second."""
    burst_limit: int
    """Burst size."""


class CustomerKeySettings(TypedDict):
    """One of a customer's API keys."""

    id: str
    """The key's id, which names its AWS resources (`default` is the customer's first key)."""
    expires: NotRequired[str]
    """The last UTC day the key works, YYYY-MM-DD."""
    value: NotRequired[str]
    """A value to keep (a migrated subscriber's token); unset, API Gateway generates one."""


class CustomerSettings(TypedDict):
    """A paying subscriber: one usage plan with its own quota and throttle."""

    name: str
    """Stable customer id, 1-40 of [a-z0-9-]; names its keys, usage plan and their links."""
    quota: QuotaSettings
    """The customer's quota."""
    throttle: ThrottleSettings
    """The customer's throttle."""
    enabled: NotRequired[bool]
    """False disables the customer's keys (403) and keeps them (default true)."""
    keys: NotRequired[list[CustomerKeySettings]]
    """The customer's keys (default: one key, `default`)."""


class InternalKeySettings(TypedDict):
    """An internal key, on the one unlimited plan."""

    name: str
    """The key's name, 1-40 of [a-z0-9-]."""
    value: NotRequired[str]
    """A value to keep; unset, API Gateway generates one."""


class CapacitySettings(TypedDict):
    """Autoscaling bounds of one direction of provisioned throughput."""

    min: int
    """Lowest capacity units."""
    max: int
    """Highest capacity units."""


class TableSettings(TypedDict):
    """The DynamoDB table."""

    billing_mode: NotRequired[str]
    """`PAY_PER_REQUEST` (default) or `PROVISIONED`."""
    read: NotRequired[CapacitySettings]
    """Read capacity bounds (provisioned only)."""
    write: NotRequired[CapacitySettings]
    """Write capacity bounds (provisioned only)."""
    target_utilization: NotRequired[int]
    """Target-tracking utilisation in percent, 20-90 (default 70)."""
    deletion_protection: NotRequired[bool]
    """DynamoDB deletion protection (default true)."""
    kms_key_arn: NotRequired[str]
    """A customer-managed key; unset uses DynamoDB's AWS-owned key."""


class PublishSettings(TypedDict):
    """Where index.json and snapshot.json are published."""

    bucket: NotRequired[str]
    """An existing bucket; unset, the product creates one."""
    prefix: NotRequired[str]
    """Key prefix of the published objects (default `published/`)."""
    kms_key_arn: NotRequired[str]
    """The customer-managed KMS key the published objects are encrypted with (a created bucket's default)."""


class LoaderSettings(TypedDict):
    """The loader function's sizing and safety limits."""

    memory: NotRequired[int]
    """Memory in MB, 128-10240 (default 1024)."""
    timeout: NotRequired[int]
    """Timeout in seconds, 10-900 (default 300)."""
    log_retention_days: NotRequired[int]
    """Retention of the function's log group, a CloudWatch value (default 30)."""
    max_delete_fraction: NotRequired[float]
    """Refuse a load that would delete more than this share of keys (default 0.5)."""
    write_concurrency: NotRequired[int]
    """The most BatchWriteItem requests a load keeps in flight, 1-64 (default 16); it backs off on throttling."""
    powertools_layer_arn: NotRequired[str]
    """A mirror of the Powertools layer version to use instead of AWS's public one."""


class DomainSettings(TypedDict):
    """The API's own host name, on a regional custom domain."""

    name: str
    """The host name, e.g. `api.example.com`."""
    hosted_zone_id: NotRequired[str]
    """A Route 53 zone for the certificate's validation and the alias records."""
    certificate_arn: NotRequired[str]
    """An existing ACM certificate in the stack's region; unset, one is requested and validated in the zone."""
    disable_default_endpoint: NotRequired[bool]
    """Turn off the execute-api URL, so the domain is the only way in (default false)."""


class CacheSettings(TypedDict):
    """The stage's cache cluster, serving the item route."""

    size_gb: NotRequired[str]
    """The cluster's size in GB, as API Gateway spells it (default `0.5`)."""
    ttl_seconds: NotRequired[int]
    """Seconds an answer is served from the cache, 1-3600 (default 300)."""


class ApiSettings(TypedDict):
    """The REST API's shape and stage."""

    collection: NotRequired[str]
    """Collection name in the URL (default `departments`)."""
    endpoint_type: NotRequired[str]
    """`REGIONAL` (default) or `EDGE`."""
    stage_name: NotRequired[str]
    """Stage name, the last part of the base URL (default `v1`)."""
    tracing: NotRequired[bool]
    """X-Ray tracing on the stage (default true)."""
    throttle: NotRequired[ThrottleSettings]
    """The stage's default throttle, shared by all keys (default 100/s, burst 200)."""
    manage_account_log_role: NotRequired[bool]
    """Manage API Gateway's account-wide CloudWatch role; one product per account and region may (default false)."""
    log_retention_days: NotRequired[int]
    """Access log retention, a CloudWatch value (default 30)."""
    latency_p99_ms: NotRequired[int]
    """The p99 latency alarm's threshold in ms (default 1000)."""
    error_rate: NotRequired[float]
    """The 5XX error-rate alarm's threshold, 0-1 (default 0.05)."""
    domain: NotRequired[DomainSettings]
    """A custom domain; unset, only the execute-api URL."""
    cache: NotRequired[CacheSettings]
    """A stage cache for the item route; unset, nothing is cached."""


class AlertsSettings(TypedDict):
    """Who hears about failures and stale data."""

    emails: NotRequired[list[str]]
    """Addresses subscribed to the alert topic (each confirms once)."""
    freshness_hours: NotRequired[int]
    """Alarm when no load has succeeded for this many hours, 1-168 (default 26)."""
    dashboard: NotRequired[bool]
    """Declare the product's CloudWatch dashboard (default true)."""


class DataApiArgs(TypedDict):
    """Everything one data product is configured with: the settings of a data-api stack file."""

    source: SourceSettings
    """The CSV source."""
    customers: NotRequired[list[CustomerSettings]]
    """Paying subscribers, each with a usage plan and keys."""
    internal_keys: NotRequired[list[InternalKeySettings]]
    """Unlimited internal keys (a Python program may also give plain names)."""
    table: NotRequired[TableSettings]
    """The DynamoDB table."""
    publish: NotRequired[PublishSettings]
    """The published index and snapshot."""
    loader: NotRequired[LoaderSettings]
    """The loader function."""
    api: NotRequired[ApiSettings]
    """The REST API."""
    alerts: NotRequired[AlertsSettings]
    """Alerting and the dashboard."""


class ApiKeyState(TypedDict):
    """One API key as the apiKeysById output shows it."""

    value: str
    """The key's value (the whole output is secret)."""
    enabled: bool
    """The key answers (its customer is enabled and it has not expired)."""
    expires: Optional[str]
    """Its last UTC day, if it has one."""


# --------------------------------------------------------------------------------------------
# Between the args' snake_case and the stack file's camelCase, led by the TypedDicts above
# --------------------------------------------------------------------------------------------


def _shape(annotation: Any) -> Any:
    """The annotation without NotRequired, Optional or Input around it."""
    while True:
        origin = typing.get_origin(annotation)
        if origin in (NotRequired, typing.Required):
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union:
            # Optional[T] and pulumi.Input[T] both lead with T.
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


def _convert(annotation: Any, value: Any, to_config: bool) -> Any:
    """The value with every TypedDict's keys renamed, to the stack file's camelCase or back; unknown
    keys keep their spelling, so the stack config's checks name them."""
    shape = _shape(annotation)
    origin = typing.get_origin(shape)
    if typing.is_typeddict(shape) and isinstance(value, Mapping):
        fields = typing.get_type_hints(shape, include_extras=True)
        by_name = {camel_case(field): field for field in fields} if not to_config else {}
        converted = {}
        for key, item in value.items():
            field = key if to_config else by_name.get(key, key)
            name = camel_case(key) if to_config else field
            converted[name] = _convert(fields[field], item, to_config) if field in fields else item
        return converted
    if origin is list and isinstance(value, (list, tuple)):
        return [_convert(typing.get_args(shape)[0], item, to_config) for item in value]
    if origin is dict and isinstance(value, Mapping):
        # Map keys are the user's own (column names): only the values have a shape.
        return {key: _convert(typing.get_args(shape)[1], item, to_config) for key, item in value.items()}
    if shape is int and isinstance(value, float) and value.is_integer():
        # Every number crosses the engine's wire as a double: 100 arrives from another language as 100.0.
        return int(value)
    return value


def args_to_config(args: Mapping[str, Any]) -> dict[str, Any]:
    """DataApiArgs as a stack file spells them (camelCase), for the stack config's validation."""
    return _convert(DataApiArgs, args, to_config=True)


def config_to_args(raw: Mapping[str, Any]) -> DataApiArgs:
    """A stack file's `data-api:*` settings as DataApiArgs."""
    return _convert(DataApiArgs, raw, to_config=False)


def stack_args() -> DataApiArgs:
    """The running stack's settings as DataApiArgs, checked first against its stack file.

    Checked here so that every error and warning names Pulumi.<stack>.yaml and its key paths, as
    `pulumi preview` has always shown them; the component checks its args again, silently.
    """
    stack_config.load_config()
    return config_to_args(stack_config.read_project_config())


# --------------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------------


class DataApi(pulumi.ComponentResource):
    """A CSV dropped into S3 becomes a fast, metered JSON API: table, loader, gateway, alerts and dashboard."""

    table_name: pulumi.Output[str]
    """The DynamoDB table serving one document per key."""
    table_arn: pulumi.Output[str]
    """The table's ARN."""
    loader_function_name: pulumi.Output[str]
    """The loader Lambda function."""
    loader_function_arn: pulumi.Output[str]
    """The loader function's ARN."""
    source_bucket_name: pulumi.Output[str]
    """The bucket the producer drops the CSV into."""
    source_writer_role_arn: Optional[pulumi.Output[str]]
    """The role the producer assumes to upload (only when the product creates the source bucket)."""
    publish_bucket_name: pulumi.Output[str]
    """The bucket holding index.json and snapshot.json."""
    failure_queue_url: pulumi.Output[str]
    """The loader's queue of events that failed every retry."""
    alert_topic_arn: pulumi.Output[str]
    """The SNS topic the composite alarm notifies."""
    api_base_url: pulumi.Output[str]
    """The URL subscribers call (the custom domain's when there is one)."""
    api_route_urls: pulumi.Output[dict[str, str]]
    """The item, collection and snapshot route URLs."""
    usage_plan_ids: pulumi.Output[dict[str, str]]
    """Each customer's usage plan id, by customer name."""
    internal_usage_plan_id: pulumi.Output[str]
    """The internal keys' unlimited usage plan."""
    open_api_document: pulumi.Output[dict[str, Any]]
    """The API's public OpenAPI document."""
    api_keys: pulumi.Output[dict[str, str]]
    """Each customer's current key value and each internal key's, by name (secret)."""
    api_keys_by_id: pulumi.Output[dict[str, dict[str, ApiKeyState]]]
    """Every key by owner and key id: value, enabled, expires (secret)."""
    api_key_ids: pulumi.Output[dict[str, dict[str, str]]]
    """Every key's API Gateway id by owner and key id."""
    api_domain_name: Optional[pulumi.Output[str]]
    """The custom domain's host name, when configured."""
    api_domain_target_name: Optional[pulumi.Output[str]]
    """The name to point the host at in your own DNS (a domain without a hosted zone)."""
    api_domain_target_zone_id: Optional[pulumi.Output[str]]
    """The hosted zone of that target, for an alias record."""
    dashboard_url: Optional[pulumi.Output[str]]
    """The CloudWatch dashboard, unless alerts.dashboard is false."""

    def __init__(self, name: str, args: DataApiArgs, opts: Optional[pulumi.ResourceOptions] = None):
        config = parse_config(args_to_config(args), stack_file=f"the args of DataApi {name!r}")
        super().__init__(DATA_API_TYPE, name, {}, opts)
        # The parts in data-flow order: table, publish bucket, gateway, domain, loader, alerts, dashboard.
        prefix, product = child_prefix(name), qualifier(name)

        def part(*extra: pulumi.Alias) -> pulumi.ResourceOptions:
            # Each part was declared at the top of the stack before it was the product's: the alias
            # keeps its URN of then, and the engine derives its children's from it.
            return pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE), *extra])

        table = DataTable(f"{prefix}data", TableArgs(config=config.table), opts=part())

        # The gateway serves what the loader publishes, and the loader flushes the gateway's cache:
        # the bucket comes first, so neither waits on the other. Its resources used to be the loader's.
        published = PublishBucket(
            f"{prefix}loader-publish",
            PublishBucketArgs(publish=config.publish,
                              moved_from=component_urn(LOADER_TYPE, "loader") if product is None else None),
            opts=part(),
        )

        gateway = Gateway(
            f"{prefix}api",
            GatewayArgs(
                config=config.api,
                partition_column=config.source.partition_column,
                customers=config.customers,
                internal_keys=config.internal_keys,
                publish=config.publish,
                table_name=table.name,
                table_arn=table.arn,
                table_kms_key_arn=table.kms_key_arn,
                publish_bucket_name=published.bucket_name,
                publish_bucket_arn=published.bucket_arn,
                item_column=config.source.item_column,
                items_field=config.source.items_field,
                column_types=config.source.column_types,
                qualifier=product,
            ),
            opts=part(),
        )

        domain = None
        if config.api.domain is not None:
            domain = ApiDomain(
                f"{prefix}api-domain",
                DomainArgs(config=config.api.domain, rest_api_id=gateway.rest_api_id, stage_name=gateway.stage_name),
                opts=part(),
            )

        loader = Loader(
            f"{prefix}loader",
            LoaderArgs.for_stack(
                config,
                table_name=table.name,
                table_arn=table.arn,
                publish_bucket_name=published.bucket_name,
                publish_bucket_arn=published.bucket_arn,
                table_kms_key_arn=table.kms_key_arn,
                api_cache=(
                    ApiCache(rest_api_id=gateway.rest_api_id, stage_name=config.api.stage_name)
                    if config.api.cache is not None else None
                ),
            ),
            opts=part(),
        )

        alerts = Alerts(f"{prefix}alerts", AlertsArgs(config=config.alerts, alarms=[*loader.alarms, *gateway.alarms]),
                        opts=part())

        dashboard = None
        if config.alerts.dashboard:
            dashboard = Dashboard(
                f"{prefix}operations",
                DashboardArgs(
                    function_name=loader.metrics_service,
                    failure_queue_name=loader.failure_queue_name,
                    table_name=table.name,
                    api_name=gateway.api_name,
                    stage_name=gateway.stage_name,
                    access_log_group=gateway.access_log_group_name,
                    stale_alarm_arn=loader.stale_alarm.arn,
                    alarm_arns=[*(alarm.arn for alarm in [*loader.alarms, *gateway.alarms]), alerts.alarm_arn],
                    key_ids=gateway.key_ids,
                    cached=config.api.cache is not None,
                    qualifier=product,
                ),
                opts=part(),
            )

        self.table_name = table.name
        self.table_arn = table.arn
        self.loader_function_name = loader.function_name
        self.loader_function_arn = loader.function_arn
        self.source_bucket_name = loader.source_bucket_name
        self.source_writer_role_arn = loader.writer_role_arn
        self.publish_bucket_name = published.bucket_name
        self.failure_queue_url = loader.failure_queue_url
        self.alert_topic_arn = alerts.topic_arn
        self.api_base_url = gateway.base_url
        self.api_route_urls = gateway.route_urls
        self.usage_plan_ids = gateway.usage_plan_ids
        self.internal_usage_plan_id = gateway.internal_usage_plan_id
        self.open_api_document = gateway.openapi_document
        self.api_keys = gateway.api_key_values
        self.api_keys_by_id = gateway.api_keys_by_id
        self.api_key_ids = gateway.api_key_ids
        self.api_domain_name = self.api_domain_target_name = self.api_domain_target_zone_id = None
        if domain is not None and config.api.domain is not None:
            self.api_domain_name = domain.domain_name
            if config.api.domain.hosted_zone_id is None:
                # Without a zone here, the operator points the name at this target in their own DNS.
                self.api_domain_target_name = domain.target_domain_name
                self.api_domain_target_zone_id = domain.target_zone_id
        self.dashboard_url = dashboard.url if dashboard is not None else None
        self.register_outputs({camel_case(output): getattr(self, output) for output in OUTPUTS
                               if getattr(self, output) is not None})


# Every output, in the order the program exports them; the schema's names are their camelCase.
OUTPUTS = tuple(inspect.get_annotations(DataApi))
