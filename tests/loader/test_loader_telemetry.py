"""The loader's log lines and metrics as Powertools prints them: EMF, JSON lines, levels, cold start."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from loader_support import EMPLOYEES, LambdaContext, emf_problems, stdout_lines

from loader import telemetry
from loader.telemetry import SERVICE, UNITS

LOAD_VALUES = {
    "RowsLoaded": 3,
    "KeysWritten": 2,
    "KeysUnchanged": 1,
    "KeysDeleted": 0,
    "LoadSucceeded": 1,
    "LoadFailed": 0,
    "LoadDurationMs": 120,
}
LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_metric_names_and_units_are_the_ones_alarms_and_dashboards_read():
    assert UNITS == {
        "RowsLoaded": "Count",
        "KeysWritten": "Count",
        "KeysUnchanged": "Count",
        "KeysDeleted": "Count",
        "LoadSucceeded": "Count",
        "LoadFailed": "Count",
        "LoadDurationMs": "Milliseconds",
    "CacheFlushFailed": "Count",
    }
    assert telemetry.DIMENSION == "Service"


def test_a_loads_metrics_print_as_one_raw_valid_emf_document(capsys):
    telemetry.publish_load_metrics("DataApi", "data-api-prod-loader", LOAD_VALUES)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    [document] = stdout_lines(out)
    assert emf_problems(document) == [], document
    assert document["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "DataApi",
            "Dimensions": [["Service"]],
            "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in LOAD_VALUES],
        }
    ]
    assert set(document) == {"_aws", "Service", *LOAD_VALUES}, "no other dimension or property"
    assert document["Service"] == "data-api-prod-loader"
    assert {name: document[name] for name in LOAD_VALUES} == {name: [v] for name, v in LOAD_VALUES.items()}


def test_the_emf_checker_itself_rejects_broken_documents(capsys):
    telemetry.publish_load_metrics("DataApi", "svc", {"LoadFailed": 1})
    [good] = stdout_lines(capsys.readouterr().out)
    assert emf_problems(good) == []
    no_value = json.loads(json.dumps(good))
    del no_value["LoadFailed"]
    no_dimension = json.loads(json.dumps(good))
    del no_dimension["Service"]
    assert emf_problems(no_value) == ["metric 'LoadFailed' has no numeric value at the root"]
    assert emf_problems(no_dimension) == ["dimension 'Service' has no string value at the root"]
    assert emf_problems({"message": json.dumps(good)}) == ["_aws is missing or not an object"]


def test_an_unknown_metric_name_is_refused_and_nothing_is_printed(capsys):
    with pytest.raises(ValueError, match="unknown metrics"):
        telemetry.publish_load_metrics("DataApi", "svc", {"RowsLodaed": 1})
    assert capsys.readouterr().out == ""


def test_log_lines_are_json_with_lambdas_level_names_and_the_fields_as_keys(capsys):
    telemetry.log.info("load succeeded", rows=3, source="s3://b/k")
    telemetry.log.warning("the lease was not released; it expires on its own", owner="r-1")
    telemetry.log.error("load failed", error="bad row")
    telemetry.log.critical("fatal")
    lines = stdout_lines(capsys.readouterr().out)
    assert [(line["level"], line["message"]) for line in lines] == [
        ("INFO", "load succeeded"),
        ("WARN", "the lease was not released; it expires on its own"),
        ("ERROR", "load failed"),
        ("FATAL", "fatal"),
    ]
    assert (lines[0]["rows"], lines[0]["source"], lines[1]["owner"], lines[2]["error"]) == (
        3, "s3://b/k", "r-1", "bad row"
    )
    for line in lines:
        assert TIMESTAMP.fullmatch(line["timestamp"]), line
        assert line["service"] == SERVICE, line


def run_python(code: str, **environment: str) -> list[dict]:
    """Runs code in a fresh interpreter whose environment is Lambda's at start-up; its stdout lines."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(environment)
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(LAMBDA_DIR)!r})\n{code}"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )
    assert done.stderr == "", done.stderr
    return stdout_lines(done.stdout)


@pytest.mark.parametrize(
    "lambda_level, shown",
    [("WARN", ["WARN", "ERROR"]), ("ERROR", ["ERROR"]), ("DEBUG", ["DEBUG", "INFO", "WARN", "ERROR"])],
)
def test_lambdas_application_log_level_is_respected(lambda_level, shown):
    lines = run_python(
        "from loader.telemetry import log\n"
        "log.debug('d'); log.info('i'); log.warning('w'); log.error('e')",
        AWS_LAMBDA_LOG_LEVEL=lambda_level,
        METRICS_SERVICE="data-api-prod-loader",
    )
    assert [line["level"] for line in lines] == shown, lambda_level
    assert {line["service"] for line in lines} == {"data-api-prod-loader"}


def test_every_line_logged_during_a_load_names_its_source_and_only_those(harness, capsys):
    harness.drop(EMPLOYEES)
    harness.invoke(harness.put("x", key="exports/readme.txt"))
    lines = stdout_lines(capsys.readouterr().out)
    logged = [line for line in lines if "message" in line]
    assert [line["message"] for line in logged] == [
        "no manifest and no data yet: a first load",  # logged from the prefetch thread
        "load succeeded",
        "object ignored",
    ]
    source = "s3://acme-hr-exports/exports/employees.csv"
    assert [line.get("source") for line in logged] == [source, source, None]


def test_the_cold_start_metric_is_published_once_per_container(harness, capsys, monkeypatch):
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setattr(cold_start, "is_cold_start", True)
    context = LambdaContext()
    harness.invoke(harness.put(EMPLOYEES), context)
    harness.invoke(harness.put(EMPLOYEES.replace("090", "091")), context)
    documents = [line for line in stdout_lines(capsys.readouterr().out) if "_aws" in line]
    cold = [d for d in documents if "ColdStart" in d]
    assert len(cold) == 1 and len(documents) == 3, documents
    assert emf_problems(cold[0]) == [], cold[0]
    assert cold[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DataApi"
    assert cold[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["function_name"]]
    assert (cold[0]["function_name"], cold[0]["ColdStart"]) == (context.function_name, [1])


def test_the_invocation_is_named_in_every_line(harness, capsys):
    context = LambdaContext(aws_request_id="33333333-4444-5555-6666-777777777777")
    load = harness.invoke(harness.put(EMPLOYEES), context)["loads"][0]
    logged = [line for line in stdout_lines(capsys.readouterr().out) if "message" in line]
    assert load["requestId"] == context.aws_request_id
    for line in logged:
        assert (line["function_request_id"], line["function_name"], line["function_arn"]) == (
            context.aws_request_id,
            context.function_name,
            context.invoked_function_arn,
        ), line


@pytest.mark.parametrize("context", [None, object()], ids=["none", "bare"])
def test_a_caller_outside_lambda_may_pass_a_partial_context(harness, capsys, context):
    import handler

    handler._loader = harness.loader
    load = handler.handler(harness.put(EMPLOYEES), context)["loads"][0]
    assert load["outcome"] == "succeeded" and load["requestId"].startswith("local-")
    lines = stdout_lines(capsys.readouterr().out)
    [summary] = [line for line in lines if line.get("message") == "load succeeded"]
    assert summary["function_request_id"] == load["requestId"]
