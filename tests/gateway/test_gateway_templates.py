"""The real mapping templates, rendered as API Gateway renders them, against moto's DynamoDB and S3.

The real loader (lambda/handler.py) fills moto's table and publish bucket from a CSV of awkward
keys. Path parameters go in percent-encoded the way encodeURIComponent writes them, as API Gateway
hands them to a REST API's templates; the rendered GetItem goes to moto; the answer goes back
through the selected integration response and its template.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components import openapi

from apigw_harness import ApiGateway, VelocityUtilApiGateway, aws_escape_javascript, encode_uri_component
from harness import ROOT

REGION = "eu-west-1"
TABLE = "data-api-test-table"
SOURCE_BUCKET = "data-api-test-source"
SOURCE_KEY = "exports/employees.csv"
BUCKET = "data-api-test-published"
PUBLISH = "published/"
ROLE_ARN = "arn:aws:iam::123456789012:role/api-role"
ITEM = "/departments/{department}"
SHAPE = openapi.ApiShape(title="data-api-test", collection="departments", partition_column="department",
                         stage_name="v1")
BACKEND = openapi.Backend(partition="aws", region=REGION, table_name=TABLE, partition_key="pk",
                          bucket_name=BUCKET, index_key=f"{PUBLISH}index.json",
                          snapshot_key=f"{PUBLISH}snapshot.json", credentials_role_arn=ROLE_ARN)

AWKWARD_KEYS = [
    "Sales",
    "O'Brien",
    'The "Quoted" Team',
    "back\\slash",
    "it's \"both\" \\' too",
    "R&D",
    "Research and Development",
    "Sales/EMEA",
    "C++",
    "a+b=c?",
    "100% sure",
    "Zürich Ops",
    "Café ☕",
    "研究開発",
    "$pecial #1 ## not Velocity",
    "(brackets) *stars* !bang ~tilde",
]
# Each department's rows: employee -> the row's other columns (every value a string: no column types).
STAFF = {
    "alice": {"title": "Lead \"quoted\" 'single' \\ / $x #y", "salary": "100"},
    "bob": {"title": "Engineer", "salary": "90"},
}


@pytest.fixture(autouse=True)
def aws_escaping(monkeypatch):
    """AWS's $util.escapeJavaScript writes \\' for an apostrophe; LocalStack's does not."""
    monkeypatch.setattr(VelocityUtilApiGateway, "escapeJavaScript", aws_escape_javascript)


def expected_document(key: str) -> dict[str, Any]:
    """The loader's contract: the partition value under its own name, the rows nested by employee."""
    return {"department": key, "employees": STAFF}


def source_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["department", "employee", "title", "salary"])
    for key in AWKWARD_KEYS:
        for employee, row in STAFF.items():
            writer.writerow([key, employee, row["title"], row["salary"]])
    return out.getvalue().encode()


@dataclass
class LambdaContext:
    """What the handler reads of Lambda's context object."""

    aws_request_id: str = "template-test"
    function_name: str = "data-api-test-loader"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def store(monkeypatch):
    """moto's table, source bucket and publish bucket, empty, with the loader's environment set."""
    for name, value in {
        "TABLE_NAME": TABLE, "SOURCE_BUCKET": SOURCE_BUCKET, "SOURCE_KEY": SOURCE_KEY,
        "PUBLISH_BUCKET": BUCKET, "PUBLISH_PREFIX": PUBLISH, "PARTITION_COLUMN": "department",
        "ITEM_COLUMN": "employee", "ITEMS_FIELD": "employees", "COLLECTION_NAME": "departments",
        # The loader's clients find the region where Lambda puts it.
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(ROOT / "lambda"))
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (SOURCE_BUCKET, BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=SOURCE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield dynamodb


@pytest.fixture
def published(store, monkeypatch):
    """The real loader's work on the awkward CSV; yields {key: the document text it stored}."""
    s3 = boto3.client("s3", region_name=REGION)
    version = s3.put_object(Bucket=SOURCE_BUCKET, Key=SOURCE_KEY, Body=source_csv())["VersionId"]
    handler = importlib.import_module("handler")
    monkeypatch.setattr(handler, "_loader", None)  # a fresh loader, with clients inside this moto
    event = {"Records": [{
        "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": SOURCE_BUCKET}, "object": {"key": SOURCE_KEY, "versionId": version}},
    }]}
    result = handler.handler(event, LambdaContext())
    assert [load["outcome"] for load in result["loads"]] == ["succeeded"], result
    items = store.scan(TableName=TABLE)["Items"]
    documents = {item["pk"]["S"]: item["doc"]["S"] for item in items if "doc" in item}
    assert set(documents) == set(AWKWARD_KEYS), sorted(documents)
    yield documents


@pytest.fixture
def gateway() -> ApiGateway:
    return ApiGateway(openapi.document(SHAPE, BACKEND), REGION)


def get_item(gateway: ApiGateway, key: str):
    return gateway.get(ITEM, {"department": encode_uri_component(key)})


# ---- the item route ---------------------------------------------------------------------------


def test_encode_uri_component_matches_the_browser():
    assert encode_uri_component("O'Brien (R&D) *!~ a/b+c ü") == "O'Brien%20(R%26D)%20*!~%20a%2Fb%2Bc%20%C3%BC"


def test_the_escape_patch_writes_what_aws_writes():
    escaped = VelocityUtilApiGateway().escapeJavaScript("O'Brien \"x\" \\")
    assert escaped == "O\\'Brien \\\"x\\\" \\\\"


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_item_is_served_verbatim(published, gateway, key):
    response = get_item(gateway, key)
    sent = json.loads(gateway.last.request_body)
    assert sent["Key"] == {"pk": {"S": key}}, f"{key!r}: the template asked DynamoDB for {sent['Key']}"
    assert sent["TableName"] == TABLE and sent["ProjectionExpression"] == "doc", sent
    assert response.status == 200, f"{key!r}: {response.status} {response.body}"
    assert response.body.strip() == published[key], f"{key!r}: the stored document was not served verbatim"
    assert response.json() == expected_document(key), f"{key!r}: {response.body}"
    assert response.headers == {"Content-Type": "application/json"}


def test_the_loader_keeps_a_bookkeeping_item_without_a_document(published, store):
    marker = store.get_item(TableName=TABLE, Key={"pk": {"S": "_loader#marker"}}).get("Item")
    assert marker and "doc" not in marker, marker


@pytest.mark.parametrize("key", ["not-there", "sales", "_loader#lease", "_loader#marker"])
def test_missing_key_or_bookkeeping_item_is_404(published, gateway, key):
    response = get_item(gateway, key)
    assert response.status == 404, f"{key!r}: {response.status} {response.body}"
    assert response.json() == {"message": "Not found: no department with this key"}
    assert response.headers == {"Content-Type": "application/json"}


def test_a_literal_plus_reads_as_a_space(published, gateway):
    # Clients must send '+' as %2B: urlDecode turns a bare '+' into a space, as docs/api.md says.
    response = gateway.get(ITEM, {"department": "C++"})
    assert json.loads(gateway.last.request_body)["Key"]["pk"]["S"] == "C  "
    assert response.status == 404
    assert get_item(gateway, "C++").status == 200


def test_without_decoding_the_key_is_looked_up_still_encoded(published, gateway):
    # The reason for $util.urlDecode: API Gateway passes R%26D through as the client sent it.
    document = openapi.document(SHAPE, BACKEND)
    integration = document["paths"][ITEM]["get"]["x-amazon-apigateway-integration"]
    template = integration["requestTemplates"]["application/json"]
    decoded = "$util.urlDecode($input.params().path.get('department'))"
    assert decoded in template
    integration["requestTemplates"]["application/json"] = template.replace(
        decoded, "$input.params().path.get('department')")
    response = ApiGateway(document, REGION).get(ITEM, {"department": encode_uri_component("R&D")})
    assert response.status == 404


def test_without_undoing_the_apostrophe_escape_the_request_is_not_json(published):
    # The reason for replaceAll("\\'", "'"): AWS's escapeJavaScript writes \' (not a JSON escape).
    document = openapi.document(SHAPE, BACKEND)
    integration = document["paths"][ITEM]["get"]["x-amazon-apigateway-integration"]
    template = integration["requestTemplates"]["application/json"]
    undo = '.replaceAll("\\\\\'", "\'")'
    assert undo in template
    integration["requestTemplates"]["application/json"] = template.replace(undo, "")
    gateway = ApiGateway(document, REGION)
    with pytest.raises(json.JSONDecodeError):
        get_item(gateway, "O'Brien")


def test_dynamodb_errors_leak_nothing(published):
    # A table that does not exist: DynamoDB answers 400 ResourceNotFoundException.
    broken = openapi.Backend(**{**BACKEND.__dict__, "table_name": "no-such-table"})
    gateway = ApiGateway(openapi.document(SHAPE, broken), REGION)
    response = get_item(gateway, "Sales")
    assert gateway.last.status == 400 and "ResourceNotFoundException" in gateway.last.body
    assert response.status == 500, response.body
    assert response.json() == {"message": "Internal server error"}
    assert response.headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("error_type", [
    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "com.amazonaws.dynamodb.v20120810#ThrottlingException",
    "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded",
])
def test_dynamodb_throttling_is_503(gateway, error_type):
    body = json.dumps({"__type": error_type, "message": f"Throttled on table {TABLE}"})
    response = gateway.respond(ITEM, 400, {"Content-Type": "application/x-amz-json-1.0"}, body)
    assert response.status == 503, response.body
    assert response.json() == {"message": "Service busy: retry shortly"}


def test_a_key_dynamodb_refuses_is_not_found(gateway):
    # DynamoDB refuses a partition key over 2048 bytes with a 400 ValidationException (moto does
    # not enforce the limit, so its answer is given here as DynamoDB writes it).
    body = json.dumps({"__type": "com.amazon.coral.validate#ValidationException",
                       "message": f"One or more parameter values were invalid: key too long for {TABLE}"})
    response = gateway.respond(ITEM, 400, {"Content-Type": "application/x-amz-json-1.0"}, body)
    assert response.status == 404, response.body
    assert response.json() == {"message": "Not found: no department with this key"}
    assert TABLE not in response.body


@pytest.mark.parametrize("status", [500, 503])
def test_dynamodb_server_errors_are_502(gateway, status):
    body = json.dumps({"__type": "com.amazon.coral.service#InternalFailure", "message": f"table {TABLE}"})
    response = gateway.respond(ITEM, status, {}, body)
    assert response.status == 502 and TABLE not in response.body, response.body
    assert response.json() == {"message": "Bad gateway: the data store did not answer"}


# ---- the S3 routes ----------------------------------------------------------------------------


@pytest.mark.parametrize("path, name", [("/departments", "index.json"), ("/snapshot", "snapshot.json")])
def test_published_object_then_not_modified(published, gateway, path, name):
    stored = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=f"{PUBLISH}{name}")
    body = stored["Body"].read()
    assert set(json.loads(body)["departments"]) == set(AWKWARD_KEYS), f"{name} as the loader wrote it"

    first = gateway.get(path)
    assert first.status == 200, first.body
    assert first.body.encode() == body, f"{path}: the object was not passed through untouched"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Cache-Control"] == stored["CacheControl"] == "private, max-age=60"
    assert first.headers["ETag"] == stored["ETag"] and first.headers["Last-Modified"], first.headers

    second = gateway.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert gateway.last.request_headers == {"If-None-Match": first.headers["ETag"]}, "not forwarded to S3"
    assert gateway.last.status == 304
    assert second.status == 304, second.body
    assert second.headers["ETag"] == first.headers["ETag"]
    assert "Content-Type" not in second.headers

    stale = gateway.get(path, headers={"If-None-Match": '"not-the-current-etag"'})
    assert stale.status == 200 and stale.body.encode() == body


@pytest.mark.parametrize("path", ["/departments", "/snapshot"])
def test_nothing_published_yet_is_a_json_404(store, gateway, path):
    response = gateway.get(path)
    assert gateway.last.status == 404  # moto; S3 itself says 403 without s3:ListBucket
    assert response.status == 404
    assert response.json() == {"message": "Not found: nothing is published yet"}
    denied = gateway.respond(path, 403, {"Content-Type": "application/xml"}, "<Error><Code>AccessDenied</Code></Error>")
    assert (denied.status, denied.json()) == (404, {"message": "Not found: nothing is published yet"})
    assert denied.headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("status", [301, 307, 400, 412, 500, 503])
def test_other_s3_errors_are_502(gateway, status):
    response = gateway.respond("/snapshot", status, {}, f"<Error><BucketName>{BUCKET}</BucketName></Error>")
    assert response.status == 502 and BUCKET not in response.body, response.body
    assert response.json() == {"message": "Bad gateway: the object store did not answer"}
