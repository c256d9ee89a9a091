"""The real mapping templates, rendered as API Gateway renders them, against moto's DynamoDB and S3.

Path parameters go in percent-encoded the way encodeURIComponent writes them, as API Gateway hands
them to a REST API's templates; the rendered GetItem goes to moto; the answer goes back through the
selected integration response and its template.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components import openapi

from apigw_harness import ApiGateway, VelocityUtilApiGateway, aws_escape_javascript, encode_uri_component

REGION = "eu-west-1"
TABLE = "data-api-test-table"
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


@pytest.fixture(autouse=True)
def aws_escaping(monkeypatch):
    """AWS's $util.escapeJavaScript writes \\' for an apostrophe; LocalStack's does not."""
    monkeypatch.setattr(VelocityUtilApiGateway, "escapeJavaScript", aws_escape_javascript)


def contract_document(key: str) -> str:
    """A document in the loader's layout: the partition value under its own name, items nested."""
    employees = {
        f"{key} lead": {"title": "Lead \"quoted\" 'single' \\ / $x #y", "salary": "100"},
        "bob": {"title": "Engineer", "salary": "90"},
    }
    return json.dumps({"department": key, "employees": employees}, separators=(",", ":"),
                      ensure_ascii=False, sort_keys=True)


@pytest.fixture
def published():
    """moto's table and bucket, filled in the loader's layout; yields {key: stored document text}."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        documents = {key: contract_document(key) for key in AWKWARD_KEYS}
        for key, doc in documents.items():
            dynamodb.put_item(TableName=TABLE, Item={
                "pk": {"S": key}, "doc": {"S": doc}, "rows": {"N": "2"}, "hash": {"S": "h"},
                "sourceBucket": {"S": "src"}, "sourceKey": {"S": "employees.csv"},
                "sourceVersion": {"S": "v1"}, "loadedAt": {"S": "2026-01-01T00:00:00Z"},
            })
        # Bookkeeping items never carry a document.
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "_loader#lease"}, "expiresAt": {"N": "1"}})
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "_loader#marker"}, "loadedAt": {"S": "x"}})
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
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
    assert response.json()["department"] == key
    assert response.headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("key", ["not-there", "sales", "_loader#lease", "_loader#marker"])
def test_missing_key_or_bookkeeping_item_is_404(published, gateway, key):
    response = get_item(gateway, key)
    assert response.status == 404, f"{key!r}: {response.status} {response.body}"
    assert response.json() == {"message": "Not found: no department with this key"}
    assert response.headers == {"Content-Type": "application/json"}


def test_a_literal_plus_reads_as_a_space(published, gateway):
    # Clients must send '+' as %2B: urlDecode turns a bare '+' into a space, as the README says.
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


@pytest.mark.parametrize("status", [500, 503])
def test_dynamodb_server_errors_are_502(gateway, status):
    body = json.dumps({"__type": "com.amazon.coral.service#InternalFailure", "message": f"table {TABLE}"})
    response = gateway.respond(ITEM, status, {}, body)
    assert response.status == 502 and TABLE not in response.body, response.body
    assert response.json() == {"message": "Bad gateway: the data store did not answer"}


# ---- the S3 routes ----------------------------------------------------------------------------


def put_published(name: str, content: dict[str, Any]) -> bytes:
    body = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET, Key=f"{PUBLISH}{name}", Body=body, ContentType="application/json",
        CacheControl="private, max-age=60",
    )
    return body


@pytest.mark.parametrize("path, name", [("/departments", "index.json"), ("/snapshot", "snapshot.json")])
def test_published_object_then_not_modified(published, gateway, path, name):
    body = put_published(name, {"loadedAt": "2026-01-01T00:00:00Z", "count": 1,
                                "departments": {"O'Brien & Co": {"rows": 2}}})
    first = gateway.get(path)
    assert first.status == 200, first.body
    assert first.body.encode() == body, f"{path}: the object was not passed through untouched"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Cache-Control"] == "private, max-age=60"
    assert first.headers["ETag"].strip('"') and first.headers["Last-Modified"], first.headers

    second = gateway.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert gateway.last.request_headers == {"If-None-Match": first.headers["ETag"]}, "not forwarded to S3"
    assert gateway.last.status == 304
    assert second.status == 304, second.body
    assert second.headers["ETag"] == first.headers["ETag"]
    assert "Content-Type" not in second.headers

    stale = gateway.get(path, headers={"If-None-Match": '"not-the-current-etag"'})
    assert stale.status == 200 and stale.body.encode() == body


@pytest.mark.parametrize("path", ["/departments", "/snapshot"])
def test_nothing_published_yet_is_a_json_404(published, gateway, path):
    response = gateway.get(path)
    assert gateway.last.status == 404  # moto; S3 itself says 403 without s3:ListBucket
    assert response.status == 404
    assert response.json() == {"message": "Not found: nothing is published yet"}
    denied = gateway.respond(path, 403, {"Content-Type": "application/xml"}, "<Error><Code>AccessDenied</Code></Error>")
    assert (denied.status, denied.json()) == (404, {"message": "Not found: nothing is published yet"})
    assert denied.headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("status", [400, 412, 500, 503])
def test_other_s3_errors_are_502(gateway, status):
    response = gateway.respond("/snapshot", status, {}, f"<Error><BucketName>{BUCKET}</BucketName></Error>")
    assert response.status == 502 and BUCKET not in response.body, response.body
    assert response.json() == {"message": "Bad gateway: the object store did not answer"}
