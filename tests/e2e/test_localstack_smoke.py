"""LocalStack serves what the end-to-end suite relies on: DynamoDB, S3 with ETags, and a REST API
whose DynamoDB service integration sits behind API keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from botocore.exceptions import ClientError

DEPARTMENTS_TABLE = "smoke-departments"
STAGE = "v1"

# The key as stored, and as a client sends it in the path.
STORED_DEPARTMENT = "R&D"
ENCODED_DEPARTMENT = "R%26D"

GET_ITEM_REQUEST = json.dumps(
    {
        "TableName": DEPARTMENTS_TABLE,
        "Key": {"department": {"S": "$util.urlDecode($input.params('department'))"}},
    }
)
# `requested` echoes the path parameter as the templates receive it.
GET_ITEM_RESPONSE = """#set($item = $input.path('$.Item'))
#if($item == "")
#set($context.responseOverride.status = 404)
{"message": "no such department"}
#else
{"department": "$item.department.S", "name": "$item.name.S", "requested": "$input.params('department')"}
#end"""


def departments_openapi() -> dict:
    """One keyed GET route served straight from DynamoDB GetItem."""
    return {
        "openapi": "3.0.1",
        "info": {"title": "smoke-departments", "version": "1"},
        "paths": {
            "/departments/{department}": {
                "get": {
                    "parameters": [
                        {"name": "department", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "security": [{"api_key": []}],
                    "responses": {"200": {"description": "the department"}},
                    "x-amazon-apigateway-integration": {
                        "type": "aws",
                        "httpMethod": "POST",
                        "uri": "arn:aws:apigateway:us-east-1:dynamodb:action/GetItem",
                        "passthroughBehavior": "never",
                        "requestTemplates": {"application/json": GET_ITEM_REQUEST},
                        "responses": {
                            "default": {
                                "statusCode": "200",
                                "responseTemplates": {"application/json": GET_ITEM_RESPONSE},
                            }
                        },
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}
        },
    }


def test_dynamodb_creates_a_table_and_reads_back_an_item(localstack_client):
    dynamodb = localstack_client("dynamodb")
    dynamodb.create_table(
        TableName="smoke-items",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {"id": {"S": "with space/and+plus"}, "payload": {"M": {"n": {"N": "42"}}}}
    dynamodb.put_item(TableName="smoke-items", Item=item)

    stored = dynamodb.get_item(TableName="smoke-items", Key={"id": item["id"]}, ConsistentRead=True)

    assert stored.get("Item") == item, f"smoke-items: GetItem returned {stored.get('Item')}"


def test_s3_returns_the_etag_it_stored_and_answers_if_none_match_with_304(localstack_client):
    s3 = localstack_client("s3")
    s3.create_bucket(Bucket="smoke-objects")
    body = json.dumps({"departments": [STORED_DEPARTMENT]}).encode()
    put = s3.put_object(Bucket="smoke-objects", Key="index.json", Body=body, ContentType="application/json")

    got = s3.get_object(Bucket="smoke-objects", Key="index.json")

    assert got["Body"].read() == body, "s3://smoke-objects/index.json: body differs from what was put"
    assert put["ETag"] == got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"', (
        f"s3://smoke-objects/index.json: put ETag {put['ETag']}, get ETag {got['ETag']}"
    )
    with pytest.raises(ClientError) as not_modified:
        s3.get_object(Bucket="smoke-objects", Key="index.json", IfNoneMatch=put["ETag"])
    status = not_modified.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status == 304, f"s3://smoke-objects/index.json with If-None-Match: {status}"


@dataclass(frozen=True)
class DeployedApi:
    """A stage of the imported API and a key of a usage plan on it."""

    stage_url: str
    api_key: str


@pytest.fixture(scope="module")
def departments_api(localstack_client, invoke_url: Callable[[str, str], str]) -> DeployedApi:
    dynamodb = localstack_client("dynamodb")
    dynamodb.create_table(
        TableName=DEPARTMENTS_TABLE,
        AttributeDefinitions=[{"AttributeName": "department", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "department", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(
        TableName=DEPARTMENTS_TABLE,
        Item={"department": {"S": STORED_DEPARTMENT}, "name": {"S": "Research"}},
    )

    apigateway = localstack_client("apigateway")
    api_id = apigateway.import_rest_api(body=json.dumps(departments_openapi()).encode(), failOnWarnings=True)["id"]
    deployment_id = apigateway.create_deployment(restApiId=api_id)["id"]
    apigateway.create_stage(restApiId=api_id, stageName=STAGE, deploymentId=deployment_id)
    usage_plan = apigateway.create_usage_plan(
        name="smoke-plan",
        apiStages=[{"apiId": api_id, "stage": STAGE}],
        throttle={"rateLimit": 10, "burstLimit": 5},
        quota={"limit": 1000, "period": "DAY"},
    )
    api_key = apigateway.create_api_key(name="smoke-key", enabled=True)
    apigateway.create_usage_plan_key(usagePlanId=usage_plan["id"], keyId=api_key["id"], keyType="API_KEY")
    return DeployedApi(stage_url=invoke_url(api_id, STAGE), api_key=api_key["value"])


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "not-a-key"}], ids=["no key", "wrong key"])
def test_gateway_answers_403_without_a_valid_api_key(departments_api, headers):
    url = f"{departments_api.stage_url}/departments/{ENCODED_DEPARTMENT}"

    response = requests.get(url, headers=headers, timeout=30)

    assert response.status_code == 403, f"GET {url} with {headers}: {response.status_code} {response.text}"
    assert response.json() == {"message": "Forbidden"}, f"GET {url}: {response.text}"


def test_gateway_hands_the_template_the_encoded_key_and_url_decode_finds_the_item(departments_api):
    url = f"{departments_api.stage_url}/departments/{ENCODED_DEPARTMENT}"

    response = requests.get(url, headers={"x-api-key": departments_api.api_key}, timeout=30)

    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text}"
    assert response.headers["Content-Type"].startswith("application/json"), f"GET {url}: {response.headers}"
    assert response.json() == {
        "department": STORED_DEPARTMENT,
        "name": "Research",
        "requested": ENCODED_DEPARTMENT,
    }, f"GET {url}: {response.text}"


def test_gateway_sets_the_status_from_the_response_override(departments_api):
    url = f"{departments_api.stage_url}/departments/Unknown"

    response = requests.get(url, headers={"x-api-key": departments_api.api_key}, timeout=30)

    assert response.status_code == 404, f"GET {url}: {response.status_code} {response.text}"
    assert response.json() == {"message": "no such department"}, f"GET {url}: {response.text}"
