"""Loads against moto's S3 and DynamoDB: what lands in the table, what is published, what is not."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from loader_support import (
    EMPLOYEES,
    PUBLISH_BUCKET,
    PUBLISH_PREFIX,
    SOURCE_BUCKET,
    SOURCE_KEY,
    ScriptedS3,
    departments_csv,
    make_settings,
    nest,
    sha256,
    stdout_lines,
)

from loader.errors import InvalidSource, MassDeletionRefused

SNAPSHOT = f"{PUBLISH_PREFIX}snapshot.json"
INDEX = f"{PUBLISH_PREFIX}index.json"
MANIFEST = f"{PUBLISH_PREFIX}_loader/manifest.json"


def test_happy_path_every_item_reads_back_with_its_document_and_provenance(harness):
    event = harness.put(EMPLOYEES)
    version = event["Records"][0]["s3"]["object"]["versionId"]

    result = harness.invoke(event)

    items = harness.data_items()
    expected = {
        "Sales": '{"department":"Sales","employees":{"alice":{"salary":100,"title":"Engineer"},'
        '"bob":{"salary":200,"title":"Manager, EMEA"}}}',
        "R&D": '{"department":"R&D","employees":{"carol":{"salary":300,"title":"Scientist\\nand writer"}}}',
        "Ops": '{"department":"Ops","employees":{"dan":{"salary":90,"title":"Operator"}}}',
    }
    assert sorted(items) == sorted(expected)
    loaded_at = result["loads"][0]
    for key, document in expected.items():
        item = items[key]
        assert item["doc"] == {"S": document}, key
        assert item["hash"] == {"S": sha256(document)}, key
        assert item["rows"] == {"N": str(len(json.loads(document)["employees"]))}, key
        assert item["sourceBucket"] == {"S": SOURCE_BUCKET}, key
        assert item["sourceKey"] == {"S": SOURCE_KEY}, key
        assert item["sourceVersion"] == {"S": version}, key
        assert item["loadedAt"]["S"].endswith("Z") and item["loadedAt"]["S"][:4].isdigit(), key
        assert set(item) == {
            "pk",
            "doc",
            "rows",
            "hash",
            "sourceBucket",
            "sourceKey",
            "sourceVersion",
            "loadedAt",
        }, key
    assert loaded_at["outcome"] == "succeeded" and loaded_at["rows"] == 4 and loaded_at["keysWritten"] == 3
    assert "_loader#lease" not in harness.items(), "the lease is released after the load"
    marker = harness.items()["_loader#marker"]
    assert "doc" not in marker, "bookkeeping items never carry a document the gateway could serve"
    assert marker["sourceVersion"] == {"S": version}


def test_the_snapshot_and_index_are_published_with_json_headers(harness):
    harness.drop(EMPLOYEES)

    snapshot = harness.published("snapshot.json")
    index = harness.published("index.json")
    documents = nest(EMPLOYEES)
    version = harness.data_items()["Sales"]["sourceVersion"]["S"]
    assert snapshot["departments"] == {key: json.loads(doc) for key, doc in documents.items()}
    assert snapshot["source"] == {"bucket": SOURCE_BUCKET, "key": SOURCE_KEY, "version": version}
    assert index["count"] == 3
    assert index["departments"]["Sales"]["rows"] == 2 and index["departments"]["Sales"]["version"] == version
    assert index["loadedAt"] == snapshot["loadedAt"] == harness.data_items()["Ops"]["loadedAt"]["S"]
    for key in (SNAPSHOT, INDEX):
        head = harness.aws.s3.head_object(Bucket=PUBLISH_BUCKET, Key=key)
        assert head["ContentType"] == "application/json", key
        assert head["CacheControl"] == "private, max-age=60", key
    manifest = json.loads(harness.object(MANIFEST))
    assert manifest["status"] == "complete" and sorted(manifest["keys"]) == ["Ops", "R&D", "Sales"]


def test_an_unchanged_redrop_writes_nothing_but_bookkeeping(harness):
    harness.drop(EMPLOYEES)
    first_index = harness.published("index.json")
    harness.calls.clear()
    harness.s3_writes.clear()
    state_before = harness.data_items()

    # The same data, re-exported with rows and columns in another order.
    reordered = (
        "salary,title,employee,department\r\n090,Operator,dan,Ops\r\n"
        '300,"Scientist\nand writer",carol,R&D\r\n200,"Manager, EMEA",bob,Sales\r\n100,Engineer,alice,Sales\r\n'
    )
    result = harness.drop(reordered)["loads"][0]

    assert harness.writes() == {"PutItem": 2, "DeleteItem": 1}, "lease taken, marker written, lease released"
    assert harness.data_items() == state_before, "no data item was rewritten"
    assert harness.s3_writes == [INDEX], "only index.json is rewritten; the snapshot already holds this data"
    assert (result["keysWritten"], result["keysUnchanged"], result["snapshotPublished"]) == (0, 3, False)
    index = harness.published("index.json")
    assert index["source"]["version"] != first_index["source"]["version"], "the index names the latest load"
    assert (
        index["departments"] == first_index["departments"]
    ), "each key keeps the version that last changed it"


def test_a_changed_drop_writes_only_what_changed_and_deletes_keys_that_left(harness):
    harness.drop(EMPLOYEES)
    harness.calls.clear()
    before = harness.data_items()

    changed = (
        "department,employee,title,salary\n"
        "Sales,alice,Engineer,100\n"
        'Sales,bob,"Manager, EMEA",210\n'
        "Ops,dan,Operator,090\n"
        "Legal,erin,Counsel,400\n"
    )
    result = harness.drop(changed)["loads"][0]

    items = harness.data_items()
    assert sorted(items) == ["Legal", "Ops", "Sales"], "R&D left the data set and was deleted"
    assert {key: json.loads(item["doc"]["S"]) for key, item in items.items()} == {
        key: json.loads(doc) for key, doc in nest(changed).items()
    }
    assert items["Ops"] == before["Ops"], "an unchanged key keeps its item, load time and version"
    assert items["Sales"]["sourceVersion"] != before["Sales"]["sourceVersion"]
    assert (result["keysWritten"], result["keysUnchanged"], result["keysDeleted"]) == (2, 1, 1)
    assert harness.calls["BatchWriteItem"] == 2, "one batch of puts, then one batch of deletes"
    assert sorted(harness.published("snapshot.json")["departments"]) == ["Legal", "Ops", "Sales"]
    assert sorted(harness.published("index.json")["departments"]) == ["Legal", "Ops", "Sales"]


def test_writes_go_in_batches_of_25(harness_factory):
    harness = harness_factory(make_settings(write_concurrency=3))
    result = harness.drop(departments_csv(80))["loads"][0]
    assert harness.calls["BatchWriteItem"] == 4 and result["batchWriteRequests"] == 4
    assert len(harness.data_items()) == 80


# ----------------------------------------------------------------------------------------------
# Invalid input changes nothing
# ----------------------------------------------------------------------------------------------

INVALID_INPUTS = {
    "missing-partition-column": "team,employee,title,salary\nSales,alice,x,1\n",
    "missing-item-column": "department,name,title,salary\nSales,alice,x,1\n",
    "empty-key-value": "department,employee,title,salary\nSales,alice,x,1\n,bob,y,2\n",
    "duplicate-pair": "department,employee,title,salary\nSales,alice,x,1\nSales,alice,y,2\n",
    "too-many-fields": "department,employee,title,salary\nSales,alice,x,1,2\n",
    "too-few-fields": "department,employee,title,salary\nSales,alice,x\n",
    "not-an-integer": "department,employee,title,salary\nSales,alice,x,lots\n",
    "empty-file": "",
    "header-only": "department,employee,title,salary\n",
    "not-utf8": b"department,employee,title,salary\nSales,alice,caf\xe9,1\n",
    "reserved-key": "department,employee,title,salary\n_loader#marker,alice,x,1\n",
    "unclosed-quote": 'department,employee,title,salary\nSales,alice,"x,1\nOps,dan,y,2\n',
    # 11 MB: over API Gateway's response limit, so it could never be served.
    "document-over-10mb": "department,employee,title,salary\nOps,dan,Operator,1\n"
    + "".join(f"Sales,e{i},{'x' * 1_000_000},{i}\n" for i in range(11)),
}


@pytest.mark.parametrize("name", sorted(INVALID_INPUTS))
def test_an_invalid_file_leaves_table_and_published_objects_byte_for_byte_unchanged(harness, capsys, name):
    harness.drop(EMPLOYEES)
    before = harness.state()
    capsys.readouterr()

    with pytest.raises(InvalidSource) as raised:
        harness.drop(INVALID_INPUTS[name])

    assert harness.state() == before, f"{name}: the table or a published object changed"
    assert f"s3://{SOURCE_BUCKET}/{SOURCE_KEY} line " in str(raised.value), name
    lines = stdout_lines(capsys.readouterr().out)
    failures = [line for line in lines if line.get("message") == "load failed"]
    assert len(failures) == 1 and failures[0]["error"] == str(
        raised.value
    ), f"{name}: the reason is logged once"
    assert [line["LoadFailed"] for line in lines if "_aws" in line] == [[1]], name
    assert harness.calls["BatchWriteItem"] == 1, f"{name}: only the first, valid load wrote data"


def test_the_mass_deletion_guard_refuses_a_truncated_file(harness):
    harness.drop(departments_csv(10))
    before = harness.state()

    with pytest.raises(MassDeletionRefused) as raised:
        harness.drop(departments_csv(4))

    assert harness.state() == before
    assert str(raised.value).startswith(
        f"s3://{SOURCE_BUCKET}/{SOURCE_KEY} would delete 6 of the 10 existing keys (60%), more than the 50% allowed"
    )


def test_the_allow_mass_delete_metadata_lets_an_intended_removal_through(harness):
    harness.drop(departments_csv(10))
    result = harness.drop(departments_csv(4), metadata={"allow-mass-delete": "true"})["loads"][0]
    assert result["keysDeleted"] == 6 and sorted(harness.data_items()) == ["d00", "d01", "d02", "d03"]


def test_a_raised_delete_fraction_lets_an_intended_removal_through(harness_factory):
    harness = harness_factory(make_settings(max_delete_fraction=0.75))
    harness.drop(departments_csv(10))
    assert harness.drop(departments_csv(4))["loads"][0]["keysDeleted"] == 6


def test_removing_a_minority_of_keys_passes_the_guard(harness):
    harness.drop(departments_csv(10))
    assert (
        harness.drop(departments_csv(5))["loads"][0]["keysDeleted"] == 5
    ), "exactly half is not more than half"


# ----------------------------------------------------------------------------------------------
# Publishing
# ----------------------------------------------------------------------------------------------


def test_a_large_snapshot_goes_up_as_a_multipart_upload_that_appears_whole(harness, small_parts):
    text = departments_csv(60, employees=3)
    harness.drop(text)

    snapshot = harness.object(SNAPSHOT)
    assert len(snapshot) > 4 * 2048, "the snapshot spans several parts"
    parts = harness.s3_parts[SNAPSHOT]
    assert sum(parts) == len(snapshot) and len(parts) >= 4
    assert all(
        2048 <= size < 2048 + 1024 for size in parts[:-1]
    ), f"every part but the last is at least the minimum: {parts}"
    assert json.loads(snapshot)["departments"] == {key: json.loads(doc) for key, doc in nest(text).items()}
    head = harness.aws.s3.head_object(Bucket=PUBLISH_BUCKET, Key=SNAPSHOT)
    assert (head["ContentType"], head["CacheControl"]) == ("application/json", "private, max-age=60")


@pytest.fixture
def small_parts(monkeypatch):
    """Multipart uploads of tiny parts, so a test-sized snapshot spans several."""
    import moto.s3.models

    from loader import store

    monkeypatch.setattr(store, "PART_BYTES", 2048)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1024)


def test_a_large_snapshot_sent_during_the_writes_stays_hidden_when_the_load_fails(harness, small_parts):
    from loader.errors import StoreError

    harness.drop(departments_csv(60, employees=3))
    before = harness.object(SNAPSHOT)
    original = harness.store.delete_keys

    def crash(keys):
        raise StoreError("injected crash after the puts")

    harness.store.delete_keys = crash
    changed = departments_csv(50, version="v2", employees=3)
    event = harness.put(changed)
    with pytest.raises(StoreError, match="injected crash"):
        harness.invoke(event)

    assert harness.object(SNAPSHOT) == before, "readers still see the last complete snapshot"
    assert (
        harness.aws.s3.list_multipart_uploads(Bucket=PUBLISH_BUCKET).get("Uploads", []) == []
    ), "the upload was aborted"
    harness.store.delete_keys = original
    harness.invoke(event)
    assert json.loads(harness.object(SNAPSHOT))["departments"] == {
        k: json.loads(d) for k, d in nest(changed).items()
    }


def test_a_snapshot_upload_that_fails_fails_the_load_and_a_retry_publishes_it(
    harness_factory, aws, small_parts
):
    from loader.errors import StoreError

    class FailingParts:
        def __init__(self, client):
            self._client, self.failures = client, 1

        def __getattr__(self, name):
            return getattr(self._client, name)

        def upload_part(self, **request):
            if self.failures:
                self.failures -= 1
                raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "UploadPart")
            return self._client.upload_part(**request)

    harness = harness_factory(s3=FailingParts(aws.s3))
    text = departments_csv(60, employees=3)
    event = harness.put(text)
    with pytest.raises(
        StoreError, match=f"uploading s3://{PUBLISH_BUCKET}/{SNAPSHOT} failed: InternalError: injected"
    ):
        harness.invoke(event)
    assert harness.object(SNAPSHOT) is None and "_loader#marker" not in harness.items()
    assert harness.aws.s3.list_multipart_uploads(Bucket=PUBLISH_BUCKET).get("Uploads", []) == []

    harness.invoke(event)
    assert json.loads(harness.object(SNAPSHOT))["departments"] == {
        k: json.loads(d) for k, d in nest(text).items()
    }


def test_a_deleted_snapshot_is_published_again_even_when_the_data_is_unchanged(harness):
    harness.drop(EMPLOYEES)
    harness.aws.s3.delete_object(Bucket=PUBLISH_BUCKET, Key=SNAPSHOT)
    harness.drop(EMPLOYEES)
    assert sorted(harness.published("snapshot.json")["departments"]) == ["Ops", "R&D", "Sales"]


def test_a_lost_manifest_is_rebuilt_from_the_table(harness):
    harness.drop(EMPLOYEES)
    harness.aws.s3.delete_object(Bucket=PUBLISH_BUCKET, Key=MANIFEST)
    harness.calls.clear()

    changed = 'department,employee,title,salary\nSales,alice,Engineer,100\nSales,bob,"Manager, EMEA",999\nOps,dan,Operator,090\n'
    result = harness.drop(changed)["loads"][0]

    assert (result["keysWritten"], result["keysUnchanged"], result["keysDeleted"]) == (1, 1, 1)
    assert sorted(harness.data_items()) == ["Ops", "Sales"]
    assert json.loads(harness.object(MANIFEST))["status"] == "complete"


def test_an_unreadable_manifest_falls_back_to_the_table(harness_factory, aws):
    harness = harness_factory()
    harness.drop(EMPLOYEES)
    denied = harness_factory(s3=ScriptedS3(aws.s3, denied={MANIFEST}))
    result = denied.drop(
        departments_csv(2).replace("d00", "Sales").replace("d01", "Ops"),
        metadata={"allow-mass-delete": "true"},
    )["loads"][0]
    assert result["keysDeleted"] == 1 and sorted(denied.data_items()) == ["Ops", "Sales"]


def test_a_corrupt_manifest_fails_the_load_and_names_it(harness):
    harness.drop(EMPLOYEES)
    harness.aws.s3.put_object(Bucket=PUBLISH_BUCKET, Key=MANIFEST, Body=b"{oops")
    before = harness.state()
    with pytest.raises(Exception) as raised:
        harness.drop(departments_csv(3))
    assert str(raised.value).startswith(f"the manifest s3://{PUBLISH_BUCKET}/{MANIFEST} is unreadable")
    assert harness.state() == before


def test_an_unversioned_source_bucket_cites_the_etag_as_the_version(harness_factory, aws):
    aws.s3.create_bucket(Bucket="plain-exports")
    harness = harness_factory(make_settings(source_bucket="plain-exports"))
    response = aws.s3.put_object(Bucket="plain-exports", Key=SOURCE_KEY, Body=EMPLOYEES.encode())
    from loader_support import notification

    harness.invoke(
        notification(SOURCE_KEY, None, "00A1", response["ETag"].strip('"'), bucket="plain-exports")
    )
    assert harness.data_items()["Sales"]["sourceVersion"] == {"S": response["ETag"].strip('"')}
    assert harness.published("index.json")["source"]["version"] == response["ETag"].strip('"')
