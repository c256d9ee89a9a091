"""The subscribers' OpenAPI document: a valid OpenAPI 3.0 document whose schemas, generated from the
stack's config, describe what the real loader publishes and the API serves."""

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
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import OpenAPIV30SpecValidator

from components import openapi

from harness import ROOT

REGION = "eu-west-1"
TABLE = "schema-test-table"
SOURCE_BUCKET = "schema-test-source"
SOURCE_KEY = "exports/staff.csv"
BUCKET = "schema-test-published"
COLUMN_TYPES = {"salary": "integer", "rate": "number", "fullTime": "boolean", "grade": "string"}
SHAPE = openapi.ApiShape(title="data-api-test", collection="teams", partition_column="team", stage_name="v1",
                         item_column="member", items_field="members", column_types=COLUMN_TYPES)
BACKEND = openapi.Backend(partition="aws", region=REGION, table_name=TABLE, partition_key="pk",
                          bucket_name=BUCKET, index_key="index.json", snapshot_key="snapshot.json",
                          documents_prefix="documents/", parts_prefix="snapshot/",
                          credentials_role_arn="arn:aws:iam::123456789012:role/api-role")
# Typed cells, empty typed cells (null), an undeclared column (text), awkward keys.
ROWS = [
    {"team": "Sales", "member": "alice", "salary": "100", "rate": "1.5", "fullTime": "true", "grade": "A",
     "notes": "likes \"quotes\""},
    {"team": "Sales", "member": "bob", "salary": "", "rate": "", "fullTime": "", "grade": "", "notes": ""},
    {"team": "R&D / Zürich", "member": "carol", "salary": "7", "rate": "-2", "fullTime": "false", "grade": "B",
     "notes": "x"},
]


def validator_for(document: dict[str, Any], name: str) -> OAS30Validator:
    """Validates values against one of the document's component schemas, its $refs resolved in it."""
    schema = {**document["components"]["schemas"][name], "components": document["components"]}
    return OAS30Validator(schema)


def errors(document: dict[str, Any], name: str, value: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator_for(document, name).iter_errors(value)]


# ---- the document is valid OpenAPI ----------------------------------------------------------


def test_the_public_document_is_valid_openapi_3_0(prod_program, dev_program):
    for program in (prod_program, dev_program):
        public = program.exports["openApiDocument"]
        OpenAPIV30SpecValidator(public).validate()


def test_the_full_document_with_api_gateways_extensions_is_valid_openapi_3_0(prod_program):
    body = json.loads(prod_program.one("aws:apigateway/restApi:RestApi").inputs["body"])
    OpenAPIV30SpecValidator(body).validate()


def test_the_validator_refuses_a_broken_document():
    # The check above can fail: a response schema pointing at nothing is refused.
    broken = openapi.public_document(SHAPE)
    broken["paths"]["/teams/{team}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Nothing"}
    with pytest.raises(Exception, match="Nothing"):
        OpenAPIV30SpecValidator(broken).validate()


# ---- generated from the config --------------------------------------------------------------


def test_the_row_schema_types_every_declared_column_and_keeps_the_rest_text():
    row = openapi.public_document(SHAPE)["components"]["schemas"]["Row"]
    assert row["properties"] == {
        "fullTime": {"type": "boolean", "nullable": True, "description": "Declared boolean; null where the cell is empty."},
        "grade": {"type": "string", "description": "Declared string: the cell's text."},
        "rate": {"type": "number", "nullable": True, "description": "Declared number; null where the cell is empty."},
        "salary": {"type": "integer", "nullable": True, "description": "Declared integer; null where the cell is empty."},
    }
    assert row["required"] == ["fullTime", "grade", "rate", "salary"]
    assert row["additionalProperties"] == {"type": "string"}


def test_the_document_schema_names_the_stacks_columns():
    schemas = openapi.public_document(SHAPE)["components"]["schemas"]
    document = schemas["Document"]
    assert document["required"] == ["team", "members"]
    assert document["properties"]["members"]["additionalProperties"] == {"$ref": "#/components/schemas/Row"}
    assert schemas["Index"]["properties"]["teams"]["additionalProperties"] == {
        "$ref": "#/components/schemas/IndexEntry"}
    assert schemas["Snapshot"]["properties"]["teams"]["additionalProperties"] == {
        "$ref": "#/components/schemas/Document"}
    item = openapi.public_document(SHAPE)["paths"]["/teams/{team}"]["get"]["responses"]["200"]
    assert item["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Document"}


def test_the_prod_stacks_schema_follows_its_column_types(prod_program):
    row = prod_program.exports["openApiDocument"]["components"]["schemas"]["Row"]
    assert {name: p["type"] for name, p in row["properties"].items()} == {"fullTime": "boolean", "salary": "integer"}


@pytest.mark.parametrize("name", ["Row", "Document", "Source", "Index", "Snapshot"])
def test_every_example_is_valid_against_its_schema(name):
    document = openapi.public_document(SHAPE)
    example = document["components"]["schemas"][name]["example"]
    assert errors(document, name, example) == []


# ---- what the loader publishes matches ------------------------------------------------------


@dataclass
class LambdaContext:
    aws_request_id: str = "schema-test"
    function_name: str = "schema-test-loader"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture(scope="module")
def published():
    """The real loader's table items and objects for ROWS, under the shape's config."""
    environment = {
        "TABLE_NAME": TABLE, "SOURCE_BUCKET": SOURCE_BUCKET, "SOURCE_KEY": SOURCE_KEY, "PUBLISH_BUCKET": BUCKET,
        "PUBLISH_PREFIX": "", "PARTITION_COLUMN": "team", "ITEM_COLUMN": "member", "ITEMS_FIELD": "members",
        "COLLECTION_NAME": "teams", "COLUMN_TYPES": json.dumps(COLUMN_TYPES),
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
    }
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.syspath_prepend(str(ROOT / "lambda"))
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (SOURCE_BUCKET, BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
        s3.put_object(Bucket=SOURCE_BUCKET, Key=SOURCE_KEY, Body=out.getvalue().encode())
        handler = importlib.import_module("handler")
        patch.setattr(handler, "_loader", None)
        event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                              "s3": {"bucket": {"name": SOURCE_BUCKET}, "object": {"key": SOURCE_KEY}}}]}
        result = handler.handler(event, LambdaContext())
        assert [load["outcome"] for load in result["loads"]] == ["succeeded"], result
        items = dynamodb.scan(TableName=TABLE)["Items"]
        yield {
            "documents": {i["pk"]["S"]: json.loads(i["doc"]["S"]) for i in items if "doc" in i},
            "index": json.loads(s3.get_object(Bucket=BUCKET, Key="index.json")["Body"].read()),
            "snapshot": json.loads(s3.get_object(Bucket=BUCKET, Key="snapshot.json")["Body"].read()),
        }


def test_every_served_document_matches_the_document_schema(published):
    document = openapi.public_document(SHAPE)
    assert set(published["documents"]) == {"Sales", "R&D / Zürich"}
    assert published["documents"]["Sales"]["members"]["bob"]["salary"] is None, "an empty typed cell is null"
    for key, served in published["documents"].items():
        assert errors(document, "Document", served) == [], key


@pytest.mark.parametrize("name, published_key", [("Index", "index"), ("Snapshot", "snapshot")])
def test_the_index_and_snapshot_match_their_schemas(published, name, published_key):
    assert errors(openapi.public_document(SHAPE), name, published[published_key]) == []


@pytest.mark.parametrize("column, value", [("salary", "100"), ("rate", True), ("fullTime", "yes"), ("grade", None),
                                           ("notes", 3)])
def test_a_document_of_another_shape_is_refused(published, column, value):
    served = json.loads(json.dumps(published["documents"]["Sales"]))
    served["members"]["alice"][column] = value
    assert errors(openapi.public_document(SHAPE), "Document", served), f"{column}={value!r} passed"


def test_without_the_column_types_the_served_documents_do_not_match(published):
    # The schema is the config's: a shape that forgets the declared types describes other data.
    untyped = openapi.ApiShape(title="t", collection="teams", partition_column="team", stage_name="v1",
                               item_column="member", items_field="members")
    assert errors(openapi.public_document(untyped), "Document", published["documents"]["Sales"])
