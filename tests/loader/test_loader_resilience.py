"""Throttling, unprocessed items, crashes midway, redelivered and out-of-order events, the lease."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from loader_support import (
    EMPLOYEES,
    PUBLISH_PREFIX,
    LambdaContext,
    ScriptedDynamoDB,
    ScriptedS3,
    departments_csv,
    make_settings,
    nest,
    stdout_lines,
)

from loader.errors import LeaseHeld, StoreError, WritesIncomplete
from loader.store import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, MAX_ATTEMPTS

MANIFEST = f"{PUBLISH_PREFIX}_loader/manifest.json"


def assert_table_holds(harness, csv_text: str) -> None:
    """The table, snapshot, index and manifest all say exactly what this CSV says."""
    expected = nest(csv_text)
    assert {key: item["doc"]["S"] for key, item in harness.data_items().items()} == expected
    assert harness.published("snapshot.json")["departments"] == {
        key: json.loads(doc) for key, doc in expected.items()
    }
    assert sorted(harness.published("index.json")["departments"]) == sorted(expected)
    manifest = json.loads(harness.object(MANIFEST))
    assert manifest["status"] == "complete" and sorted(manifest["keys"]) == sorted(expected)
    assert "_loader#lease" not in harness.items(), "no lease left behind"


# ----------------------------------------------------------------------------------------------
# Throttling and unprocessed items
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(["half", "half", "none", "half"], id="unprocessed-items"),
        pytest.param(
            ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"],
            id="throttling",
        ),
        pytest.param(
            ["half", "ThrottlingException", "none", "ProvisionedThroughputExceededException"], id="both"
        ),
    ],
)
def test_unprocessed_items_and_throttling_are_retried_until_every_item_is_loaded(
    harness_factory, aws, script
):
    scripted = ScriptedDynamoDB(aws.dynamodb, script)
    harness = harness_factory(make_settings(write_concurrency=1), dynamodb=scripted)
    text = departments_csv(60)

    result = harness.drop(text)["loads"][0]

    assert_table_holds(harness, text)
    assert result["keysWritten"] == 60
    assert scripted.answers[: len(script)] == script
    retries = len(script)
    assert len(harness.sleeps) == retries, "one backoff before each retry"
    for sleep in harness.sleeps:
        assert 0 <= sleep <= BACKOFF_CAP_SECONDS


def test_backoff_is_exponential_with_full_jitter(harness_factory, aws):
    scripted = ScriptedDynamoDB(aws.dynamodb, ["none"] * 6)
    harness = harness_factory(dynamodb=scripted)
    harness.store._jitter = lambda: 1.0  # the top of each jitter range: the exponential ceiling
    harness.drop(departments_csv(3))
    assert harness.sleeps == [min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**n) for n in range(1, 7)]
    harness.sleeps.clear()
    harness.store._jitter = lambda: 0.25
    scripted._script = ["none"] * 2
    harness.drop(departments_csv(3, version="v2"))
    assert harness.sleeps == [0.25 * BACKOFF_BASE_SECONDS * 2, 0.25 * BACKOFF_BASE_SECONDS * 4]


def test_when_retries_run_out_the_load_fails_loudly_and_is_redone_on_retry(harness_factory, aws, capsys):
    scripted = ScriptedDynamoDB(aws.dynamodb, ["none"] * MAX_ATTEMPTS)
    harness = harness_factory(dynamodb=scripted)
    event = harness.put(departments_csv(3))

    with pytest.raises(WritesIncomplete) as raised:
        harness.invoke(event)

    assert str(raised.value) == (
        f"3 of 3 requests of a BatchWriteItem on table data-api-table were still unprocessed or throttled after "
        f"{MAX_ATTEMPTS} attempts; the load failed and a retry redoes it"
    )
    assert "_loader#marker" not in harness.items(), "a failed load is not marked as loaded"
    assert json.loads(harness.object(MANIFEST))["status"] == "pending"
    lines = stdout_lines(capsys.readouterr().out)
    assert [line["LoadFailed"] for line in lines if "_aws" in line] == [[1]]

    harness.invoke(event)  # the same event, redelivered: now it goes through
    assert_table_holds(harness, departments_csv(3))


def test_an_unreachable_table_fails_the_load_as_a_store_error(harness_factory, aws):
    harness = harness_factory(dynamodb=ScriptedDynamoDB(aws.dynamodb, ["unreachable"]))
    event = harness.put(departments_csv(3))

    with pytest.raises(StoreError) as raised:
        harness.invoke(event)

    assert str(raised.value).startswith("BatchWriteItem on table data-api-table failed: Could not connect")
    assert "_loader#marker" not in harness.items(), "a failed load is not marked as loaded"
    harness.invoke(event)  # redelivered once the table answers again
    assert_table_holds(harness, departments_csv(3))


# ----------------------------------------------------------------------------------------------
# A load that dies midway, then another load: nothing is orphaned, everything converges
# ----------------------------------------------------------------------------------------------

ORIGINAL = departments_csv(60, version="v1", prefix="k")


def midway_failure(harness_factory, aws):
    """Loads ORIGINAL, then a file whose load dies after its first batch of 25 writes."""
    harness_factory().drop(ORIGINAL)
    # New keys that sort first (so the first batch writes them), every old key changed, ten removed.
    changed = (
        departments_csv(20, version="v2", prefix="a")
        + departments_csv(50, version="v2", prefix="k").split("\n", 1)[1]
    )
    scripted = ScriptedDynamoDB(aws.dynamodb, ["ok", "fail"])
    failing = harness_factory(make_settings(write_concurrency=1), dynamodb=scripted)
    event = failing.put(changed)
    with pytest.raises(StoreError):
        failing.invoke(event)
    documents = failing.documents()
    assert {key for key in documents if key.startswith("a")} == {f"a{i:02d}" for i in range(20)}
    assert [
        key for key, doc in documents.items() if key.startswith("k") and "v2-title" in json.dumps(doc)
    ] == [
        "k00",
        "k01",
        "k02",
        "k03",
        "k04",
    ], "the first batch landed: the table is half old, half new"
    assert json.loads(failing.object(MANIFEST))["status"] == "pending"
    return changed, event


def test_a_load_that_fails_midway_then_a_different_file_converges_with_no_orphans(harness_factory, aws):
    midway_failure(harness_factory, aws)

    # Keys k00-k04 were changed by the failed load but are back to their original content here,
    # which equals what the last complete manifest recorded: only the pending manifest's
    # "unknown" mark gets them rewritten. Keys a00-a19 exist only because of the failed load.
    final = departments_csv(45, version="v1", prefix="k") + "c00,e0,new,1\n"
    harness = harness_factory()
    harness.drop(final)

    assert_table_holds(harness, final)


def test_a_load_that_fails_midway_converges_when_retried(harness_factory, aws):
    changed, event = midway_failure(harness_factory, aws)
    harness = harness_factory()
    harness.invoke(event)
    assert_table_holds(harness, changed)


@pytest.mark.parametrize(
    "method, call",
    [
        ("write_private", 1),  # the pending manifest
        ("put_items", 1),
        ("delete_keys", 1),
        ("write_private", 2),  # the final manifest
        ("publish", 1),  # snapshot.json
        ("publish", 2),  # index.json
        ("write_marker", 1),
    ],
)
def test_a_crash_at_any_step_converges_on_retry(harness_factory, method, call):
    harness = harness_factory()
    harness.drop(EMPLOYEES)
    changed = "department,employee,title,salary\nSales,alice,Engineer,150\nOps,dan,Operator,090\nLegal,erin,Counsel,1\n"
    event = harness.put(changed)
    original = getattr(harness.store, method)
    calls = []

    def crash_on_call(*args, **kwargs):
        calls.append(method)
        if len(calls) == call:
            raise StoreError(f"injected crash in {method}")
        return original(*args, **kwargs)

    setattr(harness.store, method, crash_on_call)
    with pytest.raises(StoreError, match="injected crash"):
        harness.invoke(event)
    setattr(harness.store, method, original)

    harness.invoke(event)

    assert_table_holds(harness, changed)
    marker = harness.items()["_loader#marker"]
    assert marker["versionId"]["S"] == event["Records"][0]["s3"]["object"]["versionId"]


# ----------------------------------------------------------------------------------------------
# Redelivered and out-of-order events
# ----------------------------------------------------------------------------------------------


def test_a_redelivered_event_changes_nothing_and_writes_nothing(harness, capsys):
    event = harness.put(EMPLOYEES)
    harness.invoke(event)
    before = harness.state()
    harness.calls.clear()
    capsys.readouterr()

    result = harness.invoke(event)["loads"][0]

    assert harness.state() == before
    assert harness.writes() == {}, "recognised from the event and the marker alone: not even a lease"
    assert result["outcome"] == "skipped" and result["reason"].startswith("already loaded")
    lines = stdout_lines(capsys.readouterr().out)
    assert [line["message"] for line in lines] == ["load skipped"] and not any(
        "_aws" in line for line in lines
    )


def test_an_event_for_an_older_version_is_ignored(harness):
    older = harness.put(departments_csv(3, version="old"))
    newer = harness.put(departments_csv(3, version="new"))
    harness.invoke(newer)
    before = harness.state()

    result = harness.invoke(older)["loads"][0]

    assert result["outcome"] == "skipped" and result["reason"].startswith("older than the last object loaded")
    assert harness.state() == before
    assert_table_holds(harness, departments_csv(3, version="new"))


def test_each_event_loads_the_version_it_announces(harness):
    first = harness.put(departments_csv(3, version="first"))
    harness.put(departments_csv(3, version="second"))  # uploaded, its event not yet delivered
    harness.invoke(first)
    assert_table_holds(harness, departments_csv(3, version="first"))


def test_sequencers_compare_as_numbers_not_text(harness):
    event_9 = harness.put(departments_csv(2, version="nine"))
    event_a = harness.put(departments_csv(2, version="ten"))
    event_9["Records"][0]["s3"]["object"]["sequencer"] = "9"
    event_a["Records"][0]["s3"]["object"]["sequencer"] = "0A"  # as text "0A" < "9"; as hex 10 > 9
    harness.invoke(event_a)
    assert harness.invoke(event_9)["loads"][0]["outcome"] == "skipped"
    assert_table_holds(harness, departments_csv(2, version="ten"))


def prefix_harness(harness_factory, aws, last_modified):
    settings = make_settings(source_key=None, source_prefix="drops/", source_suffix=".csv")
    return harness_factory(settings, s3=ScriptedS3(aws.s3, last_modified=last_modified))


def test_prefix_mode_ignores_a_file_older_than_the_last_one_loaded(harness_factory, aws):
    noon = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    harness = prefix_harness(
        harness_factory,
        aws,
        {"drops/2024-05-01.csv": noon, "drops/2024-04-30.csv": noon - timedelta(seconds=1)},
    )
    harness.drop(departments_csv(3, version="may"), key="drops/2024-05-01.csv")
    result = harness.drop(departments_csv(3, version="april"), key="drops/2024-04-30.csv")["loads"][0]
    assert result["outcome"] == "skipped"
    assert_table_holds(harness, departments_csv(3, version="may"))


def test_prefix_mode_breaks_a_same_second_tie_by_key(harness_factory, aws):
    noon = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    harness = prefix_harness(
        harness_factory,
        aws,
        {
            "drops/2024-05-01T1200.csv": noon,
            "drops/2024-05-01T1159.csv": noon,
            "drops/2024-05-01T1201.csv": noon,
        },
    )
    harness.drop(departments_csv(3, version="b"), key="drops/2024-05-01T1200.csv")
    assert (
        harness.drop(departments_csv(3, version="a"), key="drops/2024-05-01T1159.csv")["loads"][0]["outcome"]
        == "skipped"
    )
    assert (
        harness.drop(departments_csv(3, version="c"), key="drops/2024-05-01T1201.csv")["loads"][0]["outcome"]
        == "succeeded"
    )
    assert_table_holds(harness, departments_csv(3, version="c"))


# ----------------------------------------------------------------------------------------------
# The lease
# ----------------------------------------------------------------------------------------------


def put_lease(aws, owner: str, expires_at: int) -> None:
    aws.dynamodb.put_item(
        TableName="data-api-table",
        Item={
            "pk": {"S": "_loader#lease"},
            "owner": {"S": owner},
            "expiresAt": {"N": str(expires_at)},
            "source": {"S": "s3://acme-hr-exports/exports/employees.csv"},
        },
    )


def test_a_held_lease_fails_the_load_clearly_and_changes_nothing(harness_factory, aws):
    harness = harness_factory(clock=lambda: 1_700_000_000.0)
    harness.drop(EMPLOYEES)
    put_lease(aws, "other-request", 1_700_000_100)
    before = harness.state()

    with pytest.raises(LeaseHeld) as raised:
        harness.drop(departments_csv(3))

    assert str(raised.value) == (
        "another load holds the table's lease (request other-request, loading "
        "s3://acme-hr-exports/exports/employees.csv, until 2023-11-14T22:15:00.000Z); "
        "this invocation gave up after waiting 0s and will be retried"
    )
    assert harness.state() == before


def test_an_expired_lease_is_taken_over(harness_factory, aws):
    harness = harness_factory(clock=lambda: 1_700_000_000.0)
    put_lease(aws, "crashed-request", 1_699_999_999)
    harness.drop(EMPLOYEES)
    assert_table_holds(harness, EMPLOYEES)


def test_a_lease_left_by_an_earlier_attempt_of_the_same_invocation_is_taken_over(harness_factory, aws):
    harness = harness_factory(clock=lambda: 1_700_000_000.0)
    put_lease(aws, LambdaContext().aws_request_id, 1_700_000_500)
    harness.drop(EMPLOYEES)
    assert_table_holds(harness, EMPLOYEES)


def test_the_lease_lasts_no_longer_than_the_invocation_can(harness_factory, aws):
    harness = harness_factory(clock=lambda: 1_700_000_000.0)
    seen = []
    original = harness.store.put_items

    def look_at_the_lease(items, build=None):
        seen.append(harness.items()["_loader#lease"])
        return original(items, build)

    harness.store.put_items = look_at_the_lease
    harness.invoke(harness.put(EMPLOYEES), LambdaContext(remaining_ms=120_500))
    assert seen[0]["expiresAt"] == {"N": str(1_700_000_000 + 131)}, "deadline plus a 10 s margin, rounded up"
    assert seen[0]["owner"] == {"S": LambdaContext().aws_request_id}
    harness.store.put_items = original
    harness.invoke(harness.put(EMPLOYEES.replace("090", "091")), LambdaContext(remaining_ms=10_000_000))
    assert "_loader#lease" not in harness.items()


def test_a_second_concurrent_load_fails_with_lease_held_while_the_first_completes(harness_factory, aws):
    first = harness_factory()
    second = harness_factory()
    entered, release = threading.Event(), threading.Event()
    original = first.store.put_items

    def slow_put_items(items, build=None):
        entered.set()
        assert release.wait(10), "the test never released the first load"
        return original(items, build)

    first.store.put_items = slow_put_items
    first_event = first.put(departments_csv(4, version="first"))
    outcome = {}

    def run_first():
        outcome["first"] = first.loader.load(
            __import__("loader.events", fromlist=["decode"]).decode(first_event)[0][0],
            LambdaContext("request-1"),
        )

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert entered.wait(10), "the first load never reached its writes"
        second_event = second.put(departments_csv(4, version="second"))
        with pytest.raises(LeaseHeld, match="request request-1"):
            second.invoke(second_event, LambdaContext("request-2"))
    finally:
        release.set()
        thread.join(10)
    assert outcome["first"].outcome == "succeeded"
    assert_table_holds(first, departments_csv(4, version="first"))
    # Lambda retries the refused event once the first load is done: it goes through.
    second.invoke(second_event, LambdaContext("request-2"))
    assert_table_holds(second, departments_csv(4, version="second"))


def test_a_load_waits_for_a_lease_that_frees_up(harness_factory, aws):
    released = []

    def sleep_then_free(seconds):
        released.append(seconds)
        aws.dynamodb.delete_item(TableName="data-api-table", Key={"pk": {"S": "_loader#lease"}})

    clock = iter(range(1000))
    harness = harness_factory(
        sleep=sleep_then_free, lease_wait_seconds=30.0, monotonic=lambda: float(next(clock))
    )
    put_lease(aws, "slow-request", 4_000_000_000)
    harness.drop(EMPLOYEES)
    assert released == [0.25]
    assert_table_holds(harness, EMPLOYEES)
