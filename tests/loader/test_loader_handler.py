"""The Lambda entry point as deployed: configured by environment variables, fed real event shapes."""

from __future__ import annotations

import json
import re

import pytest
from loader_support import (
    EMPLOYEES,
    PUBLISH_BUCKET,
    PUBLISH_PREFIX,
    SOURCE_BUCKET,
    SOURCE_KEY,
    TABLE,
    LambdaContext,
    emf_problems,
    make_settings,
    nest,
    notification,
    stdout_lines,
)

import handler
from loader.errors import EventError, SettingsError
from loader.telemetry import SERVICE, UNITS


@pytest.fixture
def deployed(aws, monkeypatch):
    """The handler exactly as Lambda runs it: settings from the environment, its own clients."""
    for name, value in {
        "TABLE_NAME": TABLE,
        "SOURCE_BUCKET": SOURCE_BUCKET,
        "SOURCE_KEY": SOURCE_KEY,
        "PUBLISH_BUCKET": PUBLISH_BUCKET,
        "PUBLISH_PREFIX": PUBLISH_PREFIX,
        "COLUMN_TYPES": '{"salary": "integer"}',
        "METRICS_NAMESPACE": "DataApi",
        "METRICS_SERVICE": "data-api-prod-loader",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler, "_loader", None)
    return aws


def upload(aws, text: str, key: str = SOURCE_KEY, sequencer: str = "0A") -> dict:
    response = aws.s3.put_object(Bucket=SOURCE_BUCKET, Key=key, Body=text.encode())
    return notification(key, response["VersionId"], sequencer, response["ETag"].strip('"'))


def documents(aws) -> dict[str, str]:
    items = aws.dynamodb.scan(TableName=TABLE)["Items"]
    return {item["pk"]["S"]: item["doc"]["S"] for item in items if "doc" in item}


def test_the_deployed_handler_loads_a_drop_from_its_environment(deployed):
    result = handler.handler(upload(deployed, EMPLOYEES), LambdaContext())
    assert result["loads"][0]["outcome"] == "succeeded"
    assert documents(deployed) == nest(EMPLOYEES)


def test_an_eventbridge_object_created_event_loads(deployed):
    response = deployed.s3.put_object(Bucket=SOURCE_BUCKET, Key=SOURCE_KEY, Body=EMPLOYEES.encode())
    event = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-05-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{SOURCE_BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": SOURCE_BUCKET},
            "object": {
                "key": SOURCE_KEY,
                "size": len(EMPLOYEES),
                "etag": response["ETag"].strip('"'),
                "version-id": response["VersionId"],
                "sequencer": "617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }
    assert handler.handler(event, LambdaContext())["loads"][0]["outcome"] == "succeeded"
    assert documents(deployed) == nest(EMPLOYEES)
    assert handler.handler(event, LambdaContext())["loads"][0]["outcome"] == "skipped", "redelivered"


def test_prefix_mode_loads_a_key_that_s3_sent_url_encoded(deployed, monkeypatch):
    monkeypatch.setenv("SOURCE_KEY", "")
    monkeypatch.setenv("SOURCE_PREFIX", "drops/")
    monkeypatch.setenv("SOURCE_SUFFIX", ".csv")
    key = "drops/pay roll+bonus 2024-05-01.csv"
    event = upload(deployed, EMPLOYEES, key=key)
    assert event["Records"][0]["s3"]["object"]["key"] == "drops/pay+roll%2Bbonus+2024-05-01.csv"
    result = handler.handler(event, LambdaContext())["loads"][0]
    assert result["source"] == f"s3://{SOURCE_BUCKET}/{key}"
    assert (
        json.loads(
            deployed.s3.get_object(Bucket=PUBLISH_BUCKET, Key=f"{PUBLISH_PREFIX}index.json")["Body"].read()
        )["source"]["key"]
        == key
    )


def test_objects_that_are_not_the_source_are_ignored_with_a_log_line(deployed, capsys):
    event = upload(deployed, EMPLOYEES, key="exports/other.csv")
    context = LambdaContext()
    assert handler.handler(event, context) == {"loads": []}
    [line] = stdout_lines(capsys.readouterr().out)
    assert {key: line.get(key) for key in ("level", "logger", "message", "object", "reason")} == {
        "level": "INFO",
        "logger": "loader",
        "message": "object ignored",
        "object": f"s3://{SOURCE_BUCKET}/exports/other.csv",
        "reason": f"key 'exports/other.csv' is not the source key '{SOURCE_KEY}'",
    }
    # Powertools' keys: the service, and the invocation from the Lambda context.
    assert (line["service"], line["function_request_id"], line["function_name"]) == (
        SERVICE,
        context.aws_request_id,
        context.function_name,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"]), line["timestamp"]
    assert documents(deployed) == {}


def test_every_record_of_an_event_is_handled(deployed):
    first = upload(deployed, EMPLOYEES.replace("090", "091"), sequencer="0A")
    second = upload(deployed, EMPLOYEES, sequencer="0B")
    ignored = upload(deployed, "x", key="exports/readme.txt", sequencer="0C")
    event = {"Records": first["Records"] + second["Records"] + ignored["Records"]}
    outcomes = [load["outcome"] for load in handler.handler(event, LambdaContext())["loads"]]
    assert outcomes == ["succeeded", "succeeded"]
    assert documents(deployed) == nest(EMPLOYEES)


def test_bad_settings_fail_the_invocation_naming_the_variable(deployed, monkeypatch, capsys):
    monkeypatch.delenv("TABLE_NAME")
    with pytest.raises(SettingsError, match="TABLE_NAME: is required and not set"):
        handler.handler(upload(deployed, EMPLOYEES), LambdaContext())
    [line] = stdout_lines(capsys.readouterr().out)
    assert line["message"] == "invocation rejected" and "TABLE_NAME" in line["error"]


def test_an_event_of_an_unknown_shape_fails_the_invocation(deployed):
    with pytest.raises(EventError):
        handler.handler({"detail-type": "Scheduled Event", "source": "aws.events"}, LambdaContext())


def test_every_stdout_line_is_json_and_every_metrics_line_is_valid_emf(harness_factory, capsys):
    harness = harness_factory(
        make_settings(metrics_namespace="DataApi", metrics_service="data-api-prod-loader")
    )
    harness.drop(EMPLOYEES)
    harness.drop(EMPLOYEES.replace("090", "091"))
    with pytest.raises(Exception):
        harness.drop("department,employee,title,salary\nSales,alice,x,notanumber\n")
    event = harness.put(EMPLOYEES)
    harness.invoke(event)
    harness.invoke(event)  # skipped: logged, no metrics

    lines = stdout_lines(capsys.readouterr().out)
    emf = [line for line in lines if "_aws" in line]
    summaries = [line for line in lines if line.get("message", "").startswith("load ")]
    assert [line["message"] for line in summaries] == [
        "load succeeded",
        "load succeeded",
        "load failed",
        "load succeeded",
        "load skipped",
    ], "one summary line per load"
    assert len(emf) == 4
    for document in emf:
        assert emf_problems(document) == [], document
        directive = document["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "DataApi" and directive["Dimensions"] == [["Service"]]
        assert document["Service"] == "data-api-prod-loader"
        assert {m["Name"]: m["Unit"] for m in directive["Metrics"]}.items() <= UNITS.items()
    assert [(d["LoadSucceeded"], d["LoadFailed"]) for d in emf] == [
        ([1], [0]),
        ([1], [0]),
        ([0], [1]),
        ([1], [0]),
    ], "Powertools prints each value as a list of one"
    assert [d.get("KeysWritten") for d in emf] == [[3], [1], None, [1]]
    assert all(len(d["LoadDurationMs"]) == 1 and d["LoadDurationMs"][0] >= 0 for d in emf)
    for summary in summaries:
        assert {
            "source",
            "requestId",
            "outcome",
            "rows",
            "keysWritten",
            "keysUnchanged",
            "keysDeleted",
            "durationMs",
        } <= set(summary)
    assert summaries[1]["version"] != summaries[0]["version"], "the summary names the source version"
