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
import re
from dataclasses import dataclass
from typing import Any

import airspeed.operators
import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from components import openapi

from apigw_harness import (
    JAVA_STRING_METHODS,
    ApiGateway,
    MappingTemplateVariables,
    UrlDecodeError,
    VelocityUtilApiGateway,
    aws_escape_javascript,
    encode_uri_component,
    _context,
    _no_overrides,
    java_url_decode,
)
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
                          snapshot_key=f"{PUBLISH}snapshot.json", documents_prefix=f"{PUBLISH}documents/",
                          parts_prefix=f"{PUBLISH}snapshot/", credentials_role_arn=ROLE_ARN)

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
def aws_velocity(monkeypatch):
    """AWS's $util.escapeJavaScript writes \\' for an apostrophe and its $util.urlDecode throws on a
    malformed escape; LocalStack's do neither. Every Java string has String's methods."""
    monkeypatch.setattr(VelocityUtilApiGateway, "escapeJavaScript", aws_escape_javascript)
    monkeypatch.setattr(VelocityUtilApiGateway, "urlDecode", java_url_decode)
    monkeypatch.setattr(airspeed.operators, "__additional_methods__", JAVA_STRING_METHODS)


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


@pytest.mark.parametrize("encoded, decoded", [
    ("R%26D", "R&D"), ("a+b%2Bc", "a b+c"), ("Z%C3%BCrich", "Zürich"), ("%e2%82%ac", "€"),
    ("%E2%82", "\ufffd"), ("plain", "plain"),
])
def test_the_decode_patch_decodes_as_javas_url_decoder(encoded, decoded):
    assert VelocityUtilApiGateway().urlDecode(encoded) == decoded


@pytest.mark.parametrize("encoded", ["%", "a%", "%zz", "%2", "x%g1"])
def test_the_decode_patch_throws_where_javas_url_decoder_throws(encoded):
    with pytest.raises(UrlDecodeError):
        VelocityUtilApiGateway().urlDecode(encoded)


def test_request_parameters_have_javas_string_methods(gateway):
    # LocalStack hands templates a str subclass its engine gives no Java methods; AWS's are Strings.
    template = "#set($raw = $input.params().path.get('department'))$raw.length() $raw.matches('a.c')"
    variables = MappingTemplateVariables(context=_context(ITEM), stageVariables={}, input={
        "body": "", "params": {"path": {"department": "abc"}, "querystring": {}, "header": {}}})
    assert gateway.vtl.render_request(template, variables, _no_overrides())[0] == "3 true"


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_item_is_served_verbatim(published, gateway, key):
    response = get_item(gateway, key)
    sent = json.loads(gateway.last.request_body)
    assert sent["Key"] == {"pk": {"S": key}}, f"{key!r}: the template asked DynamoDB for {sent['Key']}"
    assert sent["TableName"] == TABLE and sent["ProjectionExpression"] == "doc, docRef", sent
    assert response.status == 200, f"{key!r}: {response.status} {response.body}"
    assert response.body == published[key], f"{key!r}: the stored document was not served byte for byte"
    assert response.json() == expected_document(key), f"{key!r}: {response.body}"
    assert response.headers == {"Content-Type": "application/json"}


def test_no_character_of_the_item_template_reaches_the_body_around_the_document():
    # Velocity engines differ on which line breaks after a directive they drop (LocalStack's keeps
    # them, Velocity 1.7 drops some); a line comment always takes its own. Without the comments the
    # template must be one line with nothing around its directives, whatever the engine does.
    template = openapi.TEMPLATES["get_item_response"]
    code = re.sub(r"##[^\n]*\n", "", template)
    assert "\n" not in code and code == code.strip(), repr(code)
    assert code.startswith("#set(") and code.endswith("$doc#{end}"), repr(code)


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
    decoded = "$util.urlDecode($raw)"
    assert decoded in template
    integration["requestTemplates"]["application/json"] = template.replace(decoded, "$raw")
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


# DynamoDB's answer to a GetItem whose partition key is over 2048 bytes, as it writes it (no space
# before the size); moto does not enforce the limit on reads.
KEY_TOO_LONG = {"__type": "com.amazon.coral.validate#ValidationException",
                "message": "One or more parameter values were invalid: Size of hashkey has exceeded the "
                           "maximum size limit of2048 bytes"}


def test_a_key_over_dynamodbs_limit_is_not_found(gateway):
    long_key = "x" * 2049
    response = gateway.respond(ITEM, 400, {"Content-Type": "application/x-amz-json-1.0"},
                               json.dumps(KEY_TOO_LONG), path_parameters={"department": long_key})
    assert response.status == 404, response.body
    assert response.json() == {"message": "Not found: no department with this key"}
    assert TABLE not in response.body


@pytest.mark.parametrize("message", [
    # The table's key attribute is not the one the template names: our misconfiguration.
    "The provided key element does not match the schema",
    "One or more parameter values were invalid: Invalid ProjectionExpression: Attribute name is a reserved keyword",
    "",
])
def test_every_other_validation_error_is_500(gateway, message):
    body = json.dumps({"__type": "com.amazon.coral.validate#ValidationException", "message": message})
    response = gateway.respond(ITEM, 400, {"Content-Type": "application/x-amz-json-1.0"}, body,
                               path_parameters={"department": "Sales"})
    assert response.status == 500, f"{message!r}: {response.status} {response.body}"
    assert response.json() == {"message": "Internal server error"}


def test_a_table_keyed_otherwise_is_500_not_404(published):
    # A real round trip: DynamoDB (moto) refuses a key that does not match the table's schema.
    misnamed = openapi.Backend(**{**BACKEND.__dict__, "partition_key": "id"})
    gateway = ApiGateway(openapi.document(SHAPE, misnamed), REGION)
    response = get_item(gateway, "Sales")
    assert gateway.last.status == 400 and "ValidationException" in gateway.last.body, gateway.last.body
    assert response.status == 500, response.body
    assert response.json() == {"message": "Internal server error"}


def test_the_key_limit_message_is_matched_from_the_message_field(gateway):
    # The same words in the error's type, or in a non-validation error, are not the key limit.
    body = json.dumps({"__type": "com.amazon.coral.service#InternalFailure", "message": KEY_TOO_LONG["message"]})
    response = gateway.respond(ITEM, 400, {}, body, path_parameters={"department": "Sales"})
    assert response.status == 500, response.body


@pytest.mark.parametrize("status", [500, 503])
def test_dynamodb_server_errors_are_502(gateway, status):
    body = json.dumps({"__type": "com.amazon.coral.service#InternalFailure", "message": f"table {TABLE}"})
    response = gateway.respond(ITEM, status, {}, body)
    assert response.status == 502 and TABLE not in response.body, response.body
    assert response.json() == {"message": "Bad gateway: the data store did not answer"}


# ---- malformed percent-encoding ---------------------------------------------------------------

# A bare '%', an escape that is not hex, a UTF-8 sequence cut off: what one client's bad URL holds.
MALFORMED = ["%", "%zz", "%E2%82"]
# More of each kind, and escapes of bytes that are not UTF-8 (overlong '/', a surrogate, past U+10FFFF).
MORE_MALFORMED = ["Sales%", "R%2", "R%2GD", "%C3", "Z%C3rich", "%80", "%C0%AF", "%ED%A0%80", "%F4%90%80%80",
                  "%+1", "%-1"]


def _without_the_check(backend: openapi.Backend = BACKEND) -> ApiGateway:
    """The gateway with the request template decoding every segment unchecked (as before the check)."""
    document = openapi.document(SHAPE, backend)
    integration = document["paths"][ITEM]["get"]["x-amazon-apigateway-integration"]
    template = integration["requestTemplates"]["application/json"]
    check = f"$raw.matches('{openapi.WELL_FORMED_SEGMENT}')"
    assert check in template
    integration["requestTemplates"]["application/json"] = template.replace(check, "true")
    return ApiGateway(document, REGION)


@pytest.mark.parametrize("segment", MALFORMED + MORE_MALFORMED)
def test_malformed_percent_encoding_is_a_json_400(published, gateway, segment):
    response = gateway.get(ITEM, {"department": segment})
    sent = json.loads(gateway.last.request_body)
    assert sent["Key"] == {"pk": {"S": ""}}, f"{segment!r}: expected the empty key DynamoDB refuses, sent {sent}"
    assert gateway.last.status == 400 and "ValidationException" in gateway.last.body, gateway.last.body
    assert response.status == 400, f"{segment!r}: {response.status} {response.body}"
    assert response.json() == {"message": openapi.malformed_key("department")}
    assert response.headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("segment", ["%", "%zz"])
def test_without_the_check_a_bad_escape_fails_the_template(published, segment):
    # The reason for the check: urlDecode throws, and AWS answers a failed template with a 500.
    with pytest.raises(Exception, match="URLDecoder"):
        _without_the_check().get(ITEM, {"department": segment})


def test_without_the_check_a_cut_off_sequence_reads_as_another_key(published):
    gateway = _without_the_check()
    response = gateway.get(ITEM, {"department": "%E2%82"})
    assert json.loads(gateway.last.request_body)["Key"]["pk"]["S"] == "\ufffd"
    assert response.status == 404


def _strictly_decodes(segment: str) -> bool:
    """Whether every %XX escape is two hex digits and each run of them is well-formed UTF-8."""
    index, run = 0, bytearray()
    while index <= len(segment):
        if index < len(segment) and segment[index] == "%":
            digits = segment[index + 1:index + 3]
            if not re.fullmatch("[0-9A-Fa-f]{2}", digits):
                return False
            run.append(int(digits, 16))
            index += 3
            continue
        try:
            run.decode("utf-8")
        except UnicodeDecodeError:
            return False
        run = bytearray()
        index += 1
    return True


ESCAPE_PIECES = st.one_of(
    st.integers(0, 255).map(lambda byte: f"%{byte:02X}"),
    st.integers(0, 255).map(lambda byte: f"%{byte:02x}"),
    st.sampled_from(["%", "%z", "%zz", "%2", "%+1", "a", "+", "/", "€", " ", "%25"]),
)


@settings(max_examples=400)
@given(st.lists(ESCAPE_PIECES, max_size=8).map("".join))
def test_the_check_accepts_exactly_the_segments_that_decode_to_utf8(segment):
    assert bool(re.fullmatch(openapi.WELL_FORMED_SEGMENT, segment)) == _strictly_decodes(segment), segment


@given(st.text(max_size=20))
def test_every_key_a_client_encodes_passes_the_check(key):
    assert re.fullmatch(openapi.WELL_FORMED_SEGMENT, encode_uri_component(key)), key


def test_the_check_repeats_possessively_and_reads_a_long_segment(published, gateway):
    # A greedy group star recurses per character in Java's regex engine; a possessive one loops.
    assert openapi.WELL_FORMED_SEGMENT.endswith(")*+")
    long_key = "é" * 1300  # 2,600 escapes, 7,800 characters once encoded
    response = get_item(gateway, long_key)
    assert json.loads(gateway.last.request_body)["Key"]["pk"]["S"] == long_key
    assert response.status == 404, response.body
    assert gateway.get(ITEM, {"department": encode_uri_component(long_key) + "%"}).status == 400


def test_malformed_keys_cannot_trip_the_5xx_alarm(store, prod_program):
    # The stack's own document and alarm: the alarm averages 5XXError, which counts 5xx answers only.
    alarm = prod_program.one("aws:cloudwatch/metricAlarm:MetricAlarm", "api-5xx-alarm")
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/ApiGateway", "5XXError"), alarm.urn
    document = json.loads(prod_program.one("aws:apigateway/restApi:RestApi").inputs["body"])
    uri = document["paths"][ITEM]["get"]["x-amazon-apigateway-integration"]["uri"]
    gateway = ApiGateway(document, uri.split(":")[3])
    for segment in MALFORMED:
        response = gateway.get(ITEM, {"department": segment})
        assert 400 <= response.status < 500, f"{segment!r}: {response.status} would count as a 5XXError"
        assert response.json() == {"message": openapi.malformed_key("department")}


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
    # S3 answers 404 NoSuchKey because the role may list the bucket (moto always does).
    response = gateway.get(path)
    assert gateway.last.status == 404 and "NoSuchKey" in gateway.last.body, gateway.last.body
    assert response.status == 404
    assert response.json() == {"message": "Not found: nothing is published yet"}
    assert response.headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("path", ["/departments", "/snapshot"])
def test_a_denied_read_is_a_5xx_not_nothing_published(gateway, path):
    # A broken role, a bucket policy or a KMS key refusing the read must page, not read as "no data".
    denied = gateway.respond(path, 403, {"Content-Type": "application/xml"},
                             f"<Error><Code>AccessDenied</Code><BucketName>{BUCKET}</BucketName></Error>")
    assert denied.status == 500, denied.body
    assert denied.json() == {"message": "Internal server error"}
    assert denied.headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("status", [301, 307, 400, 401, 405, 412, 500, 503])
def test_other_s3_errors_are_502(gateway, status):
    response = gateway.respond("/snapshot", status, {}, f"<Error><BucketName>{BUCKET}</BucketName></Error>")
    assert response.status == 502 and BUCKET not in response.body, response.body
    assert response.json() == {"message": "Bad gateway: the object store did not answer"}
