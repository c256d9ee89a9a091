"""Safety properties moto cannot show by itself: consistent reads, lease ownership, the item size
bound, and what a denial under a customer-managed KMS key tells the operator."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError
from loader_support import (
    EMPLOYEES,
    PUBLISH_BUCKET,
    PUBLISH_PREFIX,
    SOURCE_KEY,
    LambdaContext,
    ScriptedS3,
    make_settings,
    nest,
)

from loader.dataset import Schema, parse
from loader.errors import LeaseHeld, StoreError
from loader.layout import LEASE_KEY, MARKER_KEY, MAX_ITEM_BYTES, SourceVersion, item_overhead
from loader.store import Store

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-0000-4000-8000-00000000aaaa"
INDEX = f"{PUBLISH_PREFIX}index.json"
NOW = 1_700_000_000
SCHEMA = Schema("department", "employee", "employees", {"salary": "integer"})


@pytest.fixture
def get_items(aws):
    """Every GetItem request the loader's DynamoDB client sends during the test, as sent."""
    requests: list[dict] = []

    def keep(params, **_):
        requests.append(dict(params))

    aws.dynamodb.meta.events.register("provide-client-params.dynamodb.GetItem", keep)
    yield requests
    aws.dynamodb.meta.events.unregister("provide-client-params.dynamodb.GetItem", keep)


def reads_of(requests: list[dict], key: str) -> list[dict]:
    return [r for r in requests if r["Key"] == {"pk": {"S": key}}]


def put_lease(aws, owner: str, expires_at: int) -> None:
    aws.dynamodb.put_item(TableName="data-api-table", Item={
        "pk": {"S": LEASE_KEY}, "owner": {"S": owner}, "expiresAt": {"N": str(expires_at)},
        "source": {"S": "s3://acme-hr-exports/exports/employees.csv"},
    })


# ---- consistent reads -------------------------------------------------------------------------


def test_the_marker_is_read_strongly_consistent(harness, get_items):
    # moto is always consistent, so the request itself must ask: an eventually consistent read
    # could miss the last load's marker and load an older object over a newer one.
    harness.drop(EMPLOYEES)
    harness.drop(EMPLOYEES)
    marker_reads = reads_of(get_items, MARKER_KEY)
    assert len(marker_reads) >= 3, get_items
    assert all(r.get("ConsistentRead") is True for r in marker_reads), marker_reads


def test_the_lease_holder_is_read_strongly_consistent(harness_factory, aws, get_items):
    harness = harness_factory(clock=lambda: float(NOW))
    put_lease(aws, "other-request", NOW + 100)
    with pytest.raises(LeaseHeld, match="request other-request"):
        harness.drop(EMPLOYEES)
    lease_reads = reads_of(get_items, LEASE_KEY)
    assert lease_reads and all(r.get("ConsistentRead") is True for r in lease_reads), lease_reads


# ---- the lease --------------------------------------------------------------------------------


def test_a_load_whose_lease_was_taken_over_leaves_the_new_owners_lease(harness_factory, aws, capsys):
    clock = [float(NOW)]
    harness = harness_factory(clock=lambda: clock[0])
    original = harness.store.put_items
    taken: list[dict] = []

    def outlive_the_lease(items, build=None):
        # This load stalls past its lease; another invocation takes the expired lease over.
        lease = harness.items()[LEASE_KEY]
        clock[0] = float(int(lease["expiresAt"]["N"]) + 1)
        rival = Store("data-api-table", PUBLISH_BUCKET, dynamodb=aws.dynamodb, s3=aws.s3)
        now = int(clock[0])
        taken.append({"holder": rival.try_acquire_lease("request-B", now, now + 300, {"source": "x"})})
        return original(items, build)

    harness.store.put_items = outlive_the_lease
    harness.invoke(harness.put(EMPLOYEES), LambdaContext("request-A"))

    assert taken == [{"holder": None}], "the rival could not take the expired lease"
    lease = harness.items().get(LEASE_KEY)
    assert lease is not None and lease["owner"] == {"S": "request-B"}, f"the new owner's lease was deleted: {lease}"
    said = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "lease was no longer" in line]
    assert [line.get("owner") for line in said] == ["request-A"], said


def test_releasing_a_lease_someone_else_holds_deletes_nothing(aws):
    store = Store("data-api-table", PUBLISH_BUCKET, dynamodb=aws.dynamodb, s3=aws.s3)
    assert store.try_acquire_lease("request-A", NOW, NOW + 10, {}) is None
    assert store.try_acquire_lease("request-B", NOW + 11, NOW + 300, {}) is None, "expired: B takes it over"
    assert store.release_lease("request-A") is False
    item = aws.dynamodb.get_item(TableName="data-api-table", Key={"pk": {"S": LEASE_KEY}})["Item"]
    assert item["owner"] == {"S": "request-B"}
    assert store.release_lease("request-B") is True
    assert "Item" not in aws.dynamodb.get_item(TableName="data-api-table", Key={"pk": {"S": LEASE_KEY}})


# ---- the item size bound ----------------------------------------------------------------------


def dynamodb_size(item: dict) -> int:
    """An item's size as DynamoDB documents it: names and strings in UTF-8 bytes, a number one
    byte per two significant digits plus one."""
    size = 0
    for name, value in item.items():
        size += len(name.encode("utf-8"))
        ((kind, text),) = value.items()
        if kind == "S":
            size += len(text.encode("utf-8"))
        elif kind == "N":
            digits = str(Decimal(text).normalize()).replace("-", "").replace(".", "").lstrip("0")
            size += math.ceil(max(len(digits), 1) / 2) + 1
        else:
            raise AssertionError(f"{name}: no size rule here for {kind}")
    return size


def one_department(title_bytes: int) -> str:
    return f"department,employee,title,salary\nBig,e0,{'x' * title_bytes},1\n"


def document_size(title_bytes: int) -> int:
    return len(nest(one_department(title_bytes))["Big"].encode("utf-8"))


def test_the_size_bound_counts_every_attribute_of_the_written_item(harness):
    # The bound the load checks, rebuilt from the values of each item it actually wrote.
    harness.drop(EMPLOYEES.replace("Engineer", "Ingénieure"))
    for key, item in harness.data_items().items():
        version = SourceVersion(item["sourceBucket"]["S"], item["sourceKey"]["S"], item["sourceVersion"]["S"])
        bound = len(key.encode()) + len(item["doc"]["S"].encode()) + item_overhead(version, item["loadedAt"]["S"])
        actual = dynamodb_size(item)
        rows_slack = 21 - (math.ceil(len(item["rows"]["N"]) / 2) + 1)
        # Never under (an over-limit item would fail mid-load); over only by the row count's width.
        assert bound - actual == rows_slack, f"{key}: bound {bound}, item {actual} bytes: {sorted(item)}"


def test_a_document_just_under_the_limit_whose_item_is_over_takes_the_large_path(harness):
    title = MAX_ITEM_BYTES - 40 - document_size(0)
    assert MAX_ITEM_BYTES - 100 < document_size(title) < MAX_ITEM_BYTES - len("Big")

    result = harness.drop(one_department(title))["loads"][0]

    item = harness.data_items()["Big"]
    assert "doc" not in item and result["largeDocuments"] == 1, sorted(item)
    body = harness.object(f"{PUBLISH_PREFIX}documents/{item['docRef']['S']}")
    assert body is not None and len(body) == document_size(title), "the document is its object, whole"


@pytest.mark.parametrize("over", [0, 1])
def test_validation_keeps_an_item_at_the_limit_and_sends_one_byte_more_to_the_large_path(over):
    # moto refuses items over 405,000 bytes, below DynamoDB's 409,600, so the exact edge is shown
    # on the parser with the overhead a load computes.
    overhead = item_overhead(SourceVersion("acme-hr-exports", SOURCE_KEY, "v" * 32), "2026-12-01T11:00:00.000Z")
    title = MAX_ITEM_BYTES - overhead - len("Big") - document_size(0) + over
    text = one_department(title).encode()
    dataset = parse([text], SCHEMA, "s3://acme-hr-exports/exports/employees.csv", overhead)
    assert dataset.document_size("Big") + len("Big") + overhead == MAX_ITEM_BYTES + over
    assert dataset.is_large("Big") is bool(over)


# ---- denials under a customer-managed key -----------------------------------------------------


def test_a_denied_source_read_names_the_source_key(harness_factory, aws):
    harness = harness_factory(make_settings(source_kms_key_arn=KEY_ARN), s3=ScriptedS3(aws.s3, denied={SOURCE_KEY}))
    with pytest.raises(StoreError) as raised:
        harness.drop(EMPLOYEES)
    message = str(raised.value)
    assert "lacks s3:GetObject" in message, message
    assert f"KMS refused it: with source.kmsKeyArn {KEY_ARN} the role needs kms:Decrypt" in message, message


def test_without_a_key_a_denied_source_read_does_not_mention_kms(harness_factory, aws):
    harness = harness_factory(s3=ScriptedS3(aws.s3, denied={SOURCE_KEY}))
    with pytest.raises(StoreError) as raised:
        harness.drop(EMPLOYEES)
    assert "KMS" not in str(raised.value) and "lacks s3:GetObject" in str(raised.value), str(raised.value)


class DenyingWrites(ScriptedS3):
    """moto's S3, refusing every write of one object as S3 does when the key refuses the role."""

    def __init__(self, client, key: str):
        super().__init__(client)
        self.refused = key

    def _refuse(self, operation: str, request: dict, call):
        if request.get("Key") == self.refused:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, operation)
        return call(**request)

    def put_object(self, **request):
        return self._refuse("PutObject", request, self._client.put_object)

    def create_multipart_upload(self, **request):
        return self._refuse("CreateMultipartUpload", request, self._client.create_multipart_upload)


@pytest.mark.parametrize("key_arn, named", [(KEY_ARN, True), (None, False)])
def test_a_denied_publish_names_the_publish_key_when_one_is_set(harness_factory, aws, key_arn, named):
    harness = harness_factory(make_settings(publish_kms_key_arn=key_arn), s3=DenyingWrites(aws.s3, INDEX))
    with pytest.raises(StoreError) as raised:
        harness.drop(EMPLOYEES)
    message = str(raised.value)
    assert message.startswith(f"writing s3://{PUBLISH_BUCKET}/{INDEX} failed: AccessDenied"), message
    hint = f"with publish.kmsKeyArn {KEY_ARN} the role needs kms:GenerateDataKey and kms:Decrypt"
    assert (hint in message) is named, message


def test_a_denied_multipart_upload_names_the_publish_key(aws):
    store = Store("data-api-table", PUBLISH_BUCKET, s3=DenyingWrites(aws.s3, "v1/snapshot.json"),
                  dynamodb=aws.dynamodb, publish_kms_key_arn=KEY_ARN)
    staged = store.stage("v1/snapshot.json", "application/json", "no-cache", {})
    with pytest.raises(StoreError) as raised:
        staged.send([b"{}"])
    assert "uploading s3://acme-data-api-published/v1/snapshot.json failed: AccessDenied" in str(raised.value)
    assert f"publish.kmsKeyArn {KEY_ARN}" in str(raised.value)


def test_the_deployed_loader_is_built_with_both_keys(aws):
    # What the handler builds from its environment, not the test harness's own wiring.
    from loader.load import Loader

    settings = make_settings(source_kms_key_arn=KEY_ARN, publish_kms_key_arn=KEY_ARN.replace("aaaa", "bbbb"))
    store = Loader.from_settings(settings).store
    store._s3 = DenyingWrites(ScriptedS3(aws.s3, denied={SOURCE_KEY}), INDEX)
    with pytest.raises(StoreError, match=f"source.kmsKeyArn {KEY_ARN}"):
        store.open_source("acme-hr-exports", SOURCE_KEY, None)
    with pytest.raises(StoreError, match=f"publish.kmsKeyArn {KEY_ARN.replace('aaaa', 'bbbb')}"):
        store.publish(INDEX, [b"{}"], 2, "application/json", "no-cache", {})
