"""The operations dashboard: valid JSON, real metrics only, dimensions naming this stack's resources."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterator

import pytest

from harness import ROOT, Program, run_program, stack_config

sys.path.insert(0, str(ROOT / "lambda"))
from loader import telemetry as loader_metrics  # noqa: E402  the function's own list of what it emits

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
FUNCTION = "aws:lambda/function:Function"
QUEUE = "aws:sqs/queue:Queue"
TABLE = "aws:dynamodb/table:Table"
REST_API = "aws:apigateway/restApi:RestApi"
STAGE = "aws:apigateway/stage:Stage"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
API_KEY = "aws:apigateway/apiKey:ApiKey"
REGION = "eu-west-1"

# What AWS publishes, by namespace: metric -> the dimension names it is published with
# (AWS/Lambda, AWS/SQS, AWS/ApiGateway and AWS/DynamoDB metric references).
AWS_METRICS = {
    "AWS/Lambda": {name: ("FunctionName",) for name in ("Errors", "Throttles", "Duration", "Invocations")},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible": ("QueueName",)},
    "AWS/ApiGateway": {name: ("ApiName", "Stage") for name in (
        "Count", "4XXError", "5XXError", "Latency", "IntegrationLatency", "CacheHitCount", "CacheMissCount")},
    "AWS/DynamoDB": {"ConsumedReadCapacityUnits": ("TableName",), "ConsumedWriteCapacityUnits": ("TableName",),
                     "ThrottledRequests": ("TableName", "Operation")},
}
TABLE_OPERATIONS = {"GetItem", "BatchWriteItem", "DeleteItem", "PutItem", "Scan"}


def body_of(program: Program) -> dict[str, Any]:
    (dashboard,) = program.of_type(DASHBOARD)
    return json.loads(dashboard.inputs["dashboardBody"])


def metric_rows(body: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[-1], dict):
                row = row[:-1]
            namespace, name, *pairs = row
            assert len(pairs) % 2 == 0, f"{row}: dimensions come in name/value pairs"
            yield namespace, name, dict(zip(pairs[::2], pairs[1::2]))


def stack_names(program: Program) -> dict[str, str]:
    """The dimension values that name this stack's resources."""
    (function,) = program.of_type(FUNCTION)
    (queue,) = program.of_type(QUEUE)
    (table,) = program.of_type(TABLE)
    (api,) = program.of_type(REST_API)
    (stage,) = program.of_type(STAGE)
    return {"FunctionName": function.outputs["name"], "Service": function.outputs["name"],
            "QueueName": queue.outputs["name"], "TableName": table.outputs["name"],
            "ApiName": api.inputs["name"], "Stage": stage.inputs["stageName"]}


@pytest.fixture(scope="module")
def cached_program() -> Program:
    config = json.loads(json.dumps(stack_config(ROOT / "Pulumi.prod.yaml")))
    config["data-api:api"]["cache"] = {"sizeGb": "0.5", "ttlSeconds": 300}
    return run_program(config, stack="prod")


def test_one_dashboard_named_after_project_and_stack_with_its_url(prod_program, dev_program):
    for program, stack in ((prod_program, "prod"), (dev_program, "dev")):
        (dashboard,) = program.of_type(DASHBOARD)
        assert dashboard.inputs["dashboardName"] == f"data-api-{stack}", dashboard.urn
        region = stack_config(ROOT / f"Pulumi.{stack}.yaml")["aws:region"]
        assert program.exports["dashboardUrl"] == (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name=data-api-{stack}")


def test_the_body_is_json_with_every_widget_placed_on_the_grid(prod_program):
    body = body_of(prod_program)
    assert body["widgets"], "no widgets"
    cells = set()
    for widget in body["widgets"]:
        assert widget["type"] in ("metric", "alarm", "log", "text"), widget
        assert 0 <= widget["x"] and widget["x"] + widget["width"] <= 24, widget
        cell = (widget["x"], widget["y"])
        assert cell not in cells, f"two widgets at {cell}"
        cells.add(cell)
        if widget["type"] in ("metric", "log"):
            assert widget["properties"]["region"] == REGION, widget


@pytest.mark.parametrize("fixture", ["prod_program", "cached_program"])
def test_every_metric_is_emitted_by_the_loader_or_published_by_aws_for_this_stack(request, fixture):
    program = request.getfixturevalue(fixture)
    names = stack_names(program)
    rows = list(metric_rows(body_of(program)))
    assert rows, "no metrics"
    for namespace, name, dimensions in rows:
        if namespace == "DataApi":
            assert name in loader_metrics.UNITS, f"the loader never emits {name}"
            assert list(dimensions) == [loader_metrics.DIMENSION], (name, dimensions)
        else:
            assert name in AWS_METRICS.get(namespace, {}), f"AWS publishes no {namespace} {name}"
            assert tuple(dimensions) == AWS_METRICS[namespace][name], (namespace, name, dimensions)
        for key, value in dimensions.items():
            if key == "Operation":
                assert value in TABLE_OPERATIONS, value
            else:
                assert value == names[key], f"{namespace} {name}: {key}={value!r} is not this stack's {names[key]!r}"


def test_every_widget_the_operators_need_is_there(prod_program, cached_program):
    def shown(program):
        return {(namespace, name) for namespace, name, _ in metric_rows(body_of(program))}

    expected = {("DataApi", name) for name in ("LoadSucceeded", "LoadFailed", "LoadDurationMs", "RowsLoaded",
                                               "KeysWritten", "KeysUnchanged", "KeysDeleted")}
    expected |= {("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    expected |= {("AWS/Lambda", name) for name in ("Errors", "Throttles", "Duration")}
    expected |= {("AWS/ApiGateway", name) for name in ("Count", "4XXError", "5XXError", "Latency", "IntegrationLatency")}
    expected |= {("AWS/DynamoDB", name) for name in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits",
                                                     "ThrottledRequests")}
    assert shown(prod_program) == expected
    cache_metrics = {("DataApi", "CacheFlushFailed"), ("AWS/ApiGateway", "CacheHitCount"),
                     ("AWS/ApiGateway", "CacheMissCount")}
    assert shown(cached_program) == expected | cache_metrics
    stats = {row[-1].get("stat") for widget in body_of(prod_program)["widgets"]
             for row in widget["properties"].get("metrics", []) if row[1] in ("Latency", "IntegrationLatency")}
    assert stats == {"p50", "p99"}, stats


def test_the_alarm_widgets_show_the_freshness_alarm_and_every_alarm(prod_program):
    alarms = {r.name: r.outputs["arn"] for r in prod_program.of_type(ALARM)}
    (composite,) = prod_program.of_type(COMPOSITE)
    widgets = [w for w in body_of(prod_program)["widgets"] if w["type"] == "alarm"]
    freshness, every = widgets
    assert freshness["properties"]["alarms"] == [alarms["loader-stale-alarm"]], freshness
    assert sorted(every["properties"]["alarms"]) == sorted([*alarms.values(), composite.outputs["arn"]]), every


def test_the_alarms_and_the_dashboard_read_the_same_metrics(prod_program):
    shown = {(namespace, name) for namespace, name, _ in metric_rows(body_of(prod_program))}
    for alarm in prod_program.of_type(ALARM):
        queries = alarm.inputs.get("metricQueries") or [
            {"metric": {"namespace": alarm.inputs["namespace"], "metricName": alarm.inputs["metricName"]}}]
        for query in queries:
            if "metric" in query:
                metric = query["metric"]
                assert (metric["namespace"], metric["metricName"]) in shown, f"{alarm.urn}: {metric}"


def test_requests_per_customer_come_from_the_access_log_with_a_key_table(prod_program):
    widgets = body_of(prod_program)["widgets"]
    (log,) = [w for w in widgets if w["type"] == "log"]
    (access_logs,) = [r for r in prod_program.of_type(LOG_GROUP) if r.name == "api-access-logs"]
    query = log["properties"]["query"]
    assert query.startswith(f"SOURCE '{access_logs.outputs['name']}' |"), query
    assert "stats count(*) as requests by apiKeyId" in query, query


def test_the_key_table_maps_each_key_id_to_its_owner(prod_program):
    (text,) = [w for w in body_of(prod_program)["widgets"] if w["type"] == "text"]
    markdown = text["properties"]["markdown"]
    # Each key's id as its usage plan attachment names it.
    attachments = prod_program.of_type("aws:apigateway/usagePlanKey:UsagePlanKey")
    assert len(attachments) == len(prod_program.of_type(API_KEY)) == 6
    for attachment in attachments:
        owner = attachment.name.removeprefix("api-plan-key-")
        assert f"| `{attachment.inputs['keyId']}` | {owner} |" in markdown, (attachment.urn, markdown)
    assert markdown.count("\n| `") == 6, markdown


def test_the_dashboard_can_be_turned_off(program_with):
    program = program_with(lambda config: config["data-api:alerts"].update(dashboard=False))
    assert program.of_type(DASHBOARD) == []
    assert "dashboardUrl" not in program.exports
