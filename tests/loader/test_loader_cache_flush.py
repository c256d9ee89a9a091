"""The API cache: a load that changed data flushes the stage's cache once, after its writes."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from loader_support import EMPLOYEES, REGION, emf_problems, make_settings, stdout_lines

from loader.errors import SettingsError
from loader.settings import from_environment

REST_API_ID = "a1b2c3d4e5"
STAGE = "v1"
FLUSH = {"restApiId": REST_API_ID, "stageName": STAGE}
# Sales loses bob, Ops is gone: one key rewritten, one deleted.
CHANGED = "department,employee,title,salary\nSales,alice,Engineer,100\nR&D,carol,\"Scientist\nand writer\",300\n"


class Calls:
    """The order of the calls that matter here: table writes and cache flushes."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    @property
    def flushes(self) -> int:
        return self.names.count("FlushStageCache")


@pytest.fixture
def apigateway():
    """An API Gateway client whose answers the test scripts (moto has no FlushStageCache)."""
    client = boto3.client("apigateway", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.fixture
def cached(harness_factory, aws, apigateway):
    """A loader configured with a cached stage, and the order of its writes and flushes."""
    client, stubber = apigateway
    calls = Calls()
    aws.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", calls.record)
    client.meta.events.register("before-parameter-build.apigateway.FlushStageCache", calls.record)
    harness = harness_factory(settings=make_settings(cache_rest_api_id=REST_API_ID, cache_stage_name=STAGE))
    harness.store._apigateway = client
    yield harness, stubber, calls
    aws.dynamodb.meta.events.unregister("before-call.dynamodb.BatchWriteItem", calls.record)


def metrics_of(captured: str) -> list[dict]:
    documents = [line for line in stdout_lines(captured) if "_aws" in line]
    for document in documents:
        assert emf_problems(document) == [], document
    return documents


def test_a_changed_load_flushes_the_stage_once_after_its_writes(cached, capsys):
    harness, stubber, calls = cached
    stubber.add_response("flush_stage_cache", {}, FLUSH)

    load = harness.drop(EMPLOYEES)["loads"][0]

    stubber.assert_no_pending_responses()
    assert calls.flushes == 1, calls.names
    assert calls.names[-1] == "FlushStageCache" and "BatchWriteItem" in calls.names[:-1], calls.names
    assert load["outcome"] == "succeeded" and load["cacheFlushed"] is True, load
    (document,) = metrics_of(capsys.readouterr().out)
    assert document["CacheFlushFailed"] == [0] and document["LoadSucceeded"] == [1], document


def test_a_load_that_only_rewrites_and_deletes_keys_flushes_too(cached):
    harness, stubber, calls = cached
    stubber.add_response("flush_stage_cache", {}, FLUSH)
    stubber.add_response("flush_stage_cache", {}, FLUSH)
    harness.drop(EMPLOYEES)

    load = harness.drop(CHANGED)["loads"][0]

    assert (load["keysWritten"], load["keysDeleted"]) == (1, 1), load
    assert calls.flushes == 2 and calls.names[-1] == "FlushStageCache", calls.names
    stubber.assert_no_pending_responses()


def test_an_unchanged_redrop_does_not_flush(cached, capsys):
    harness, stubber, calls = cached
    stubber.add_response("flush_stage_cache", {}, FLUSH)
    harness.drop(EMPLOYEES)
    capsys.readouterr()

    # The same rows again, as a new object version: nothing to write, so nothing to flush.
    load = harness.drop(EMPLOYEES)["loads"][0]

    assert load["outcome"] == "succeeded" and load["keysWritten"] == 0 and load["keysDeleted"] == 0, load
    assert "cacheFlushed" not in load, load
    assert calls.flushes == 1, calls.names
    (document,) = metrics_of(capsys.readouterr().out)
    assert "CacheFlushFailed" not in document, document


def test_a_failed_flush_leaves_the_load_succeeded_and_counts_it(cached, capsys):
    harness, stubber, calls = cached
    stubber.add_client_error("flush_stage_cache", service_error_code="TooManyRequestsException",
                             service_message="Too Many Requests", http_status_code=429, expected_params=FLUSH)

    load = harness.drop(EMPLOYEES)["loads"][0]

    assert load["outcome"] == "succeeded" and load["cacheFlushed"] is False, load
    assert sorted(harness.data_items()) == ["Ops", "R&D", "Sales"], "the data is written all the same"
    assert harness.published("index.json")["count"] == 3, "and published"
    lines = stdout_lines(capsys.readouterr().out)
    (warning,) = [line for line in lines if line.get("level") == "WARN"]
    assert warning["message"].startswith("the API cache was not flushed"), warning
    assert f"stage {STAGE} of REST API {REST_API_ID}" in warning["error"], warning
    assert "TooManyRequestsException" in warning["error"], warning
    (document,) = [line for line in lines if "_aws" in line]
    assert emf_problems(document) == [], document
    assert document["CacheFlushFailed"] == [1] and document["LoadSucceeded"] == [1], document
    assert {"Name": "CacheFlushFailed", "Unit": "Count"} in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]


def test_without_a_cache_no_flush_is_attempted(harness, capsys):
    load = harness.drop(EMPLOYEES)["loads"][0]

    assert load["outcome"] == "succeeded" and "cacheFlushed" not in load, load
    assert harness.store._apigateway is None, "no API Gateway client was even created"
    (document,) = metrics_of(capsys.readouterr().out)
    assert "CacheFlushFailed" not in document, document


BASE_ENVIRONMENT = {"TABLE_NAME": "t", "SOURCE_BUCKET": "s", "SOURCE_KEY": "k.csv", "PUBLISH_BUCKET": "p"}


def test_the_cache_settings_come_as_a_pair():
    settings = from_environment({**BASE_ENVIRONMENT, "CACHE_REST_API_ID": REST_API_ID, "CACHE_STAGE_NAME": STAGE})
    assert (settings.cache_rest_api_id, settings.cache_stage_name) == (REST_API_ID, STAGE)
    plain = from_environment(BASE_ENVIRONMENT)
    assert (plain.cache_rest_api_id, plain.cache_stage_name) == (None, None)
    with pytest.raises(SettingsError) as raised:
        from_environment({**BASE_ENVIRONMENT, "CACHE_REST_API_ID": REST_API_ID})
    assert "CACHE_STAGE_NAME: is required when" in str(raised.value)
