"""X-Ray as Powertools' Tracer records the loader, with tracing on as in Lambda and no daemon.

traced_invocation.py runs the handler in its own process (the X-Ray SDK patches botocore for the
whole interpreter) with the SDK's emitter keeping every document it would send to the daemon.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from loader_support import emf_problems, stdout_lines

HERE = Path(__file__).resolve().parent
SOURCE = "s3://acme-hr-exports/exports/employees.csv"
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
FACADE = "53995c3f42cd8ad8"  # the function's segment, as the trace header names it


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """(X-Ray documents, the loader's stdout lines, its stderr) of a valid load and an invalid one."""
    entities = tmp_path_factory.mktemp("xray") / "entities.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    done = subprocess.run(
        [sys.executable, str(HERE / "traced_invocation.py"), str(entities)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(entities.read_text()), stdout_lines(done.stdout), done.stderr


def named(documents: list[dict], name: str) -> list[dict]:
    return [d for d in documents if d["name"] == name]


def test_each_load_is_a_subsegment_annotated_with_its_source_and_outcome(traced):
    documents, _, _ = traced
    loads = named(documents, "## handler._load")
    assert [load["annotations"] for load in loads] == [
        {"source": SOURCE, "outcome": "succeeded"},
        {"source": SOURCE, "outcome": "failed"},
    ]
    assert all(load["trace_id"] == TRACE_ID for load in loads)
    assert "cause" in loads[1] and "cause" not in loads[0], "the failed load's exception is recorded"
    handlers = named(documents, "## load_announced_objects")
    assert [h["annotations"]["ColdStart"] for h in handlers] == [True, False]
    assert {h["annotations"]["Service"] for h in handlers} == {"data-api-traced-loader"}
    assert [load["parent_id"] for load in loads] == [h["id"] for h in handlers]


def test_every_s3_and_dynamodb_call_is_a_subsegment(traced):
    documents, _, _ = traced
    calls = {(d["name"], d["aws"]["operation"]) for d in documents if d.get("namespace") == "aws"}
    assert {
        ("s3", "GetObject"),
        ("s3", "HeadObject"),
        ("s3", "PutObject"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "PutItem"),
        ("dynamodb", "DeleteItem"),
        ("dynamodb", "BatchWriteItem"),
    } <= calls, calls
    first_load = named(documents, "## handler._load")[0]
    under_load = {d["aws"]["operation"] for d in documents if d.get("parent_id") == first_load["id"]}
    # The source object is read inside the load's subsegment; calls from the loader's worker threads
    # (parallel batch writes, the prefetch of manifest and snapshot) hang off the function's segment.
    assert {"GetObject", "PutObject", "GetItem", "PutItem", "DeleteItem"} <= under_load, under_load
    batch = [d for d in documents if d.get("aws", {}).get("operation") == "BatchWriteItem"]
    assert [d["parent_id"] for d in batch] == [FACADE], batch


def test_the_traced_run_logs_json_with_the_trace_id_and_nothing_on_stderr(traced):
    _, lines, stderr = traced
    assert stderr == "", "no warning from Powertools or the X-Ray SDK"
    logged = [line for line in lines if "message" in line]
    assert [line["message"] for line in logged] == [
        "no manifest and no data yet: a first load",
        "load succeeded",
        "load failed",
    ]
    assert {line["xray_trace_id"] for line in logged} == {TRACE_ID}
    documents = [line for line in lines if "_aws" in line]
    assert all(emf_problems(d) == [] for d in documents), documents
    assert [sorted(d) for d in documents if "ColdStart" in d] == [["ColdStart", "_aws", "function_name"]]
    assert [d["LoadFailed"] for d in documents if "LoadFailed" in d] == [[0], [1]]
