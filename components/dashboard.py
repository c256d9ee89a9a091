"""One CloudWatch dashboard for the stack: loads, freshness, the function, the API, the table, alarms, customers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from . import gateway, loader
from .naming import stack_prefix

TABLE_NAMESPACE = "AWS/DynamoDB"
TABLE_READS = "ConsumedReadCapacityUnits"
TABLE_WRITES = "ConsumedWriteCapacityUnits"
TABLE_THROTTLED = "ThrottledRequests"
LAMBDA_THROTTLES = "Throttles"
LAMBDA_DURATION = "Duration"
# The table operations this stack makes: the gateway's reads and the loader's calls.
TABLE_OPERATIONS = ("GetItem", *(action.split(":", 1)[1] for action in loader.DYNAMODB_ACTIONS))
PERIOD_SECONDS = 300
WIDTH, HEIGHT, COLUMNS = 12, 6, 2
DEFAULT_RANGE = "-PT24H"


@dataclass(frozen=True)
class Resources:
    """The names of what the dashboard watches, as the components declared them."""

    region: str
    """Where the metrics and logs are."""
    function_name: str
    """The loader function, also its metrics' Service dimension."""
    failure_queue_name: str
    """The loader's failure queue."""
    table_name: str
    """The DynamoDB table."""
    api_name: str
    """The REST API's name."""
    stage_name: str
    """Its stage."""
    access_log_group: str
    """The stage's access log group."""
    stale_alarm_arn: str
    """The stale-data alarm."""
    alarm_arns: Sequence[str]
    """Every child alarm and the composite alarm."""
    key_ids: Mapping[str, str] = field(default_factory=dict)
    """API key id by the customer or internal key's name."""
    cached: bool = False
    """The stage has a cache the loader flushes."""


@dataclass(frozen=True)
class DashboardArgs:
    """What the dashboard component needs."""

    function_name: str
    """The loader function, also the Service dimension of its metrics."""
    failure_queue_name: pulumi.Input[str]
    """The loader's failure queue."""
    table_name: pulumi.Input[str]
    """The DynamoDB table."""
    api_name: str
    """The REST API's name (the ApiName dimension)."""
    stage_name: pulumi.Input[str]
    """The stage (the Stage dimension)."""
    access_log_group: pulumi.Input[str]
    """The stage's access log group, for the requests-per-key query."""
    stale_alarm_arn: pulumi.Input[str]
    """The stale-data alarm, shown as the freshness widget."""
    alarm_arns: Sequence[pulumi.Input[str]]
    """Every alarm whose state the dashboard shows."""
    key_ids: Mapping[str, pulumi.Input[str]]
    """API key ids by customer or internal key name."""
    cached: bool
    """The stage has a cache: show its hits, misses and failed flushes."""
    qualifier: str | None = None
    """The product's name, in the dashboard's, when a stack has several."""


def dashboard_name(qualifier: str | None = None) -> str:
    """`<project>-<stack>` (and the product's name beside another), in the characters dashboard names allow."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", stack_prefix(qualifier))


def console_url(region: str, name: str) -> str:
    """Where the dashboard opens in the CloudWatch console."""
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}"


def _metric(namespace: str, name: str, dimensions: Mapping[str, str], **options: Any) -> list[Any]:
    row: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        row += [key, value]
    return row + [options] if options else row


def _graph(r: Resources, title: str, metrics: list[list[Any]], stat: str = "Sum", **extra: Any) -> dict[str, Any]:
    return {"type": "metric", "properties": {
        "title": title, "region": r.region, "view": "timeSeries", "stacked": False,
        "stat": stat, "period": PERIOD_SECONDS, "metrics": metrics, **extra,
    }}


def _key_table(key_ids: Mapping[str, str]) -> str:
    rows = "\n".join(f"| `{key_id}` | {owner} |" for owner, key_id in sorted(key_ids.items()))
    return ("**API key ids** (the `apiKeyId` column of the requests table)\n\n| apiKeyId | customer |\n|---|---|\n"
            + (rows or "| - | no keys |"))


def requests_query(access_log_group: str) -> str:
    """Logs Insights: requests per API key over the dashboard's range, from the stage's access log."""
    return (f"SOURCE '{access_log_group}' | filter ispresent(apiKeyId) and apiKeyId != '-' "
            "| stats count(*) as requests by apiKeyId | sort requests desc")


def widgets(r: Resources) -> list[dict[str, Any]]:
    """Every widget, in reading order."""
    service = {loader.METRICS_DIMENSION: r.function_name}
    function = {"FunctionName": r.function_name}
    stage = {"ApiName": r.api_name, "Stage": r.stage_name}
    table = {"TableName": r.table_name}
    ns = loader.METRICS_NAMESPACE
    loader_keys = [_metric(ns, name, service, label=label) for name, label in (
        (loader.KEYS_WRITTEN, "written"), (loader.KEYS_UNCHANGED, "unchanged"), (loader.KEYS_DELETED, "deleted"))]
    if r.cached:
        loader_keys.append(_metric(ns, loader.CACHE_FLUSH_FAILED, service, label="cache flush failed"))
    api_answers = [_metric(gateway.API_NAMESPACE, name, stage, label=label) for name, label in (
        (gateway.API_REQUESTS, "requests"), (gateway.API_4XX, "4XX"), (gateway.API_5XX, "5XX"))]
    if r.cached:
        api_answers += [_metric(gateway.API_NAMESPACE, gateway.API_CACHE_HITS, stage, label="cache hits"),
                        _metric(gateway.API_NAMESPACE, gateway.API_CACHE_MISSES, stage, label="cache misses")]
    return [
        _graph(r, "Loads", [_metric(ns, loader.LOAD_SUCCEEDED, service, label="succeeded"),
                            _metric(ns, loader.LOAD_FAILED, service, label="failed")]),
        {"type": "alarm", "properties": {"title": "Data freshness (no successful load in the window)",
                                         "alarms": [r.stale_alarm_arn]}},
        _graph(r, "Load duration (ms)", [_metric(ns, loader.LOAD_DURATION, service, stat="Average", label="average"),
                                         _metric(ns, loader.LOAD_DURATION, service, stat="Maximum", label="maximum")],
               stat="Average"),
        _graph(r, "Rows loaded", [_metric(ns, loader.ROWS_LOADED, service, label="rows")], stat="Maximum"),
        _graph(r, "Keys per load", loader_keys),
        _graph(r, "Failure queue depth", [_metric(loader.SQS_NAMESPACE, loader.QUEUE_DEPTH,
                                                  {"QueueName": r.failure_queue_name}, label="events")],
               stat="Maximum"),
        _graph(r, "Loader function: errors and throttles", [
            _metric(loader.LAMBDA_NAMESPACE, loader.LAMBDA_ERRORS, function, label="errors"),
            _metric(loader.LAMBDA_NAMESPACE, LAMBDA_THROTTLES, function, label="throttles")]),
        _graph(r, "Loader function: duration (ms)", [
            _metric(loader.LAMBDA_NAMESPACE, LAMBDA_DURATION, function, stat="Average", label="average"),
            _metric(loader.LAMBDA_NAMESPACE, LAMBDA_DURATION, function, stat="Maximum", label="maximum")],
            stat="Average"),
        _graph(r, "API requests and errors", api_answers),
        _graph(r, "API latency (ms)", [
            _metric(gateway.API_NAMESPACE, name, stage, stat=stat, label=f"{label} {stat}")
            for name, label in ((gateway.API_LATENCY, "latency"), (gateway.API_INTEGRATION_LATENCY, "integration"))
            for stat in ("p50", "p99")], stat="p99"),
        _graph(r, "Table: consumed capacity", [
            _metric(TABLE_NAMESPACE, TABLE_READS, table, label="read units"),
            _metric(TABLE_NAMESPACE, TABLE_WRITES, table, label="write units")]),
        _graph(r, "Table: throttled requests", [
            _metric(TABLE_NAMESPACE, TABLE_THROTTLED, {**table, "Operation": operation}, label=operation)
            for operation in TABLE_OPERATIONS]),
        {"type": "alarm", "properties": {"title": "Alarms", "alarms": list(r.alarm_arns)}},
        {"type": "log", "properties": {"title": "Requests per API key", "region": r.region, "view": "table",
                                       "query": requests_query(r.access_log_group)}},
        {"type": "text", "properties": {"markdown": _key_table(r.key_ids)}},
    ]


def body(r: Resources) -> str:
    """The dashboard body: the widgets laid out two to a row."""
    placed = []
    for index, widget in enumerate(widgets(r)):
        column, row = index % COLUMNS, index // COLUMNS
        placed.append({**widget, "x": column * WIDTH, "y": row * HEIGHT, "width": WIDTH, "height": HEIGHT})
    return json.dumps({"start": DEFAULT_RANGE, "widgets": placed}, sort_keys=True)


class Dashboard(pulumi.ComponentResource):
    """The operations dashboard, built from the very names the alarms and components use."""

    name: str
    url: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("data-api:index:Dashboard", name, {}, opts)
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        self.name = dashboard_name(args.qualifier)
        key_names = sorted(args.key_ids)

        def render(v: list[Any]) -> str:
            reg, queue, table, stage, group, stale, *rest = v
            alarms, key_ids = rest[:len(args.alarm_arns)], rest[len(args.alarm_arns):]
            return body(Resources(
                region=reg, function_name=args.function_name,
                failure_queue_name=queue, table_name=table, api_name=args.api_name, stage_name=stage,
                access_log_group=group, stale_alarm_arn=stale, alarm_arns=alarms,
                key_ids=dict(zip(key_names, key_ids)), cached=args.cached,
            ))

        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=self.name,
            dashboard_body=pulumi.Output.all(
                region, args.failure_queue_name, args.table_name, args.stage_name, args.access_log_group,
                args.stale_alarm_arn, *args.alarm_arns, *[args.key_ids[k] for k in key_names],
            ).apply(render),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = pulumi.Output.all(region, dashboard.dashboard_name).apply(lambda v: console_url(v[0], v[1]))
        self.register_outputs({"name": self.name, "url": self.url})
