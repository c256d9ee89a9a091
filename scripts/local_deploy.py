"""Puts a stack on LocalStack without the Pulumi CLI, as the program declares it, or takes it down.

    make local-deploy                                    # the `local` stack, then prints URL and keys
    make local-destroy
    .venv/bin/python scripts/local_deploy.py deploy --stack local --outputs outputs.json

The program runs for the stack file under Pulumi's mock engine (no CLI, no AWS account); what it
declares is created on LocalStack (http://127.0.0.1:$LOCALSTACK_PORT, port 4566 by default) under
the declared names: the table, the source and publish buckets, the REST API from the very OpenAPI
body the stack deploys, a deployment and the stage, every usage plan and API key. LocalStack runs
no Lambda without Docker, so the loader function is not created: `make local-load` runs the real
handler in its place. Roles, alarms, log groups and the alert topic are not created either; nothing
on LocalStack enforces or reads them.

`deploy` first removes what an earlier deploy of the stack left (its data and key values go with
it), then writes the stack's outputs as `pulumi stack output --json --show-secrets` gives them
(default .localstack/outputs/<stack>.json, where `make local-load` looks) and prints the base URL
and every key. `destroy` deletes each of the stack's resources by its declared name, and the
outputs file. Exits 1 when the stack file is invalid or LocalStack is unreachable or refuses a
call, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.declared import DeclaredStack, declared_stack  # noqa: E402
from scripts.local_load import deployed_outputs_file  # noqa: E402

from components.config import ConfigError  # noqa: E402
from components.openapi import ApiShape  # noqa: E402

DEFAULT_STACK = "local"
GATEWAY_RESPONSES = "x-amazon-apigateway-gateway-responses"
# LocalStack's default account (000000000000) answers to this access key; real credentials are
# never used, and the REST API's imported integrations act in that account.
FAKE_CREDENTIAL = "test"

Clients = Callable[[str], BaseClient]


@dataclass(frozen=True)
class LocalApi:
    """The deployed stage and what LocalStack gave each declared plan and key."""

    api_id: str
    stage_url: str
    key_values: dict[str, str]
    """Key owner (customer or internal key name) -> the key's value."""
    plan_ids: dict[str, str]
    """Usage plan name -> its id."""


class LocalStackError(Exception):
    """LocalStack is not there, or refused a call; the message says which."""


def stage_url(endpoint: str, api_id: str, stage: str) -> str:
    """LocalStack serves a stage under its own path, with no DNS set-up."""
    return f"{endpoint}/_aws/execute-api/{api_id}/{stage}"


def localstack_clients(endpoint: str, region: str) -> Clients:
    """boto3 clients for LocalStack, with its fake credentials; nothing else can be reached."""
    session = boto3.session.Session(aws_access_key_id=FAKE_CREDENTIAL, aws_secret_access_key=FAKE_CREDENTIAL,
                                    region_name=region)
    config = Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 2})
    return lambda service: session.client(service, endpoint_url=endpoint, config=config)


def create_storage(declared: DeclaredStack, client: Clients) -> None:
    """The table and the source and publish buckets, named and keyed as declared."""
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=declared.table_name,
        KeySchema=[{"AttributeName": declared.hash_key, "KeyType": "HASH"}],
        AttributeDefinitions=declared.attributes,
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=declared.table_name, WaiterConfig={"Delay": 1})
    if declared.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=declared.table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": declared.ttl_attribute},
        )
    s3 = client("s3")
    for bucket in (declared.source_bucket, declared.publish_bucket):
        location = {} if declared.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": declared.region}}
        s3.create_bucket(Bucket=bucket, **location)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def _quota(plan_quota: dict[str, Any]) -> dict[str, Any]:
    return {"limit": int(plan_quota["limit"]), "period": plan_quota["period"],
            "offset": int(plan_quota.get("offset", 0))}


def _throttle(plan_throttle: dict[str, Any]) -> dict[str, Any]:
    return {"rateLimit": float(plan_throttle["rateLimit"]), "burstLimit": int(plan_throttle["burstLimit"])}


def create_api(declared: DeclaredStack, client: Clients, invoke_url: Callable[[str, str], str]) -> LocalApi:
    """The REST API from its declared body, as the provider does it (create, then put the body),
    a deployment and stage, and every declared usage plan and key."""
    apigateway = client("apigateway")
    api_id = apigateway.create_rest_api(
        name=declared.api_name,
        description=declared.api_description,
        apiKeySource="HEADER",
        endpointConfiguration={"types": declared.endpoint_types},
    )["id"]
    apigateway.put_rest_api(restApiId=api_id, mode="overwrite", failOnWarnings=True,
                            body=declared.openapi_body.encode())
    # LocalStack's import skips the document's gateway responses (AWS applies them): put each one.
    # It then honours their status codes but not their templates (its own JSON message is sent).
    for response_type, response in declared.openapi.get(GATEWAY_RESPONSES, {}).items():
        request: dict[str, Any] = {"restApiId": api_id, "responseType": response_type,
                                   "responseTemplates": response.get("responseTemplates", {}),
                                   "responseParameters": response.get("responseParameters", {})}
        if "statusCode" in response:
            request["statusCode"] = str(response["statusCode"])
        apigateway.put_gateway_response(**request)
    deployment_id = apigateway.create_deployment(restApiId=api_id)["id"]
    apigateway.create_stage(restApiId=api_id, stageName=declared.stage_name, deploymentId=deployment_id)

    stage = [{"apiId": api_id, "stage": declared.stage_name}]
    plan_ids: dict[str, str] = {}
    for plan in declared.plans:
        settings: dict[str, Any] = {}
        if plan.quota:
            settings["quota"] = _quota(plan.quota)
        if plan.throttle:
            settings["throttle"] = _throttle(plan.throttle)
        plan_ids[plan.name] = apigateway.create_usage_plan(name=plan.name, apiStages=stage, **settings)["id"]
    key_values: dict[str, str] = {}
    for key in declared.keys:
        created = apigateway.create_api_key(name=key.name, enabled=key.enabled)
        apigateway.create_usage_plan_key(usagePlanId=plan_ids[key.plan.name], keyId=created["id"],
                                         keyType="API_KEY")
        key_values[key.owner] = created["value"]
    return LocalApi(api_id=api_id, stage_url=invoke_url(api_id, declared.stage_name), key_values=key_values,
                    plan_ids=plan_ids)


def _paged(client: BaseClient, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get("items", [])]


def _empty_bucket(s3: BaseClient, bucket: str) -> None:
    """Every version and delete marker, so the bucket itself can go."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


def destroy(declared: DeclaredStack, client: Clients) -> list[str]:
    """Deletes what create_storage and create_api made for the stack, found by the declared names;
    returns what it deleted (nothing when nothing was there)."""
    deleted: list[str] = []
    apigateway = client("apigateway")
    key_names = {key.name for key in declared.keys}
    for key in _paged(apigateway, "get_api_keys"):
        if key["name"] in key_names:
            apigateway.delete_api_key(apiKey=key["id"])
            deleted.append(f"API key {key['name']}")
    plan_names = {plan.name for plan in declared.plans}
    for plan in _paged(apigateway, "get_usage_plans"):
        if plan["name"] in plan_names:
            apigateway.delete_usage_plan(usagePlanId=plan["id"])
            deleted.append(f"usage plan {plan['name']}")
    for api in _paged(apigateway, "get_rest_apis"):
        if api["name"] == declared.api_name:
            apigateway.delete_rest_api(restApiId=api["id"])
            deleted.append(f"REST API {api['name']} ({api['id']})")

    dynamodb = client("dynamodb")
    try:
        dynamodb.delete_table(TableName=declared.table_name)
    except dynamodb.exceptions.ResourceNotFoundException:
        pass
    else:
        dynamodb.get_waiter("table_not_exists").wait(TableName=declared.table_name, WaiterConfig={"Delay": 1})
        deleted.append(f"table {declared.table_name}")

    s3 = client("s3")
    for bucket in (declared.source_bucket, declared.publish_bucket):
        try:
            _empty_bucket(s3, bucket)
            s3.delete_bucket(Bucket=bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
        else:
            deleted.append(f"bucket {bucket}")
    return deleted


def stack_outputs(declared: DeclaredStack, api: LocalApi) -> dict[str, Any]:
    """The program's outputs (see __main__.py) for what is on LocalStack, by the same names."""
    config = declared.config
    shape = ApiShape(title=declared.api_name, collection=config.api.collection,
                     partition_column=config.source.partition_column, stage_name=config.api.stage_name)
    internal = [plan.name for plan in declared.plans if plan.internal]
    return {
        "tableName": declared.table_name,
        "sourceBucketName": declared.source_bucket,
        "publishBucketName": declared.publish_bucket,
        "loaderFunctionName": declared.loader_environment["METRICS_SERVICE"],
        "apiBaseUrl": api.stage_url,
        "apiRouteUrls": {
            "item": f"{api.stage_url}{shape.item_path}",
            "collection": f"{api.stage_url}{shape.collection_path}",
            "snapshot": f"{api.stage_url}{shape.snapshot_path}",
        },
        "usagePlanIds": {key.owner: api.plan_ids[key.plan.name] for key in declared.keys if key.customer},
        "internalUsagePlanId": api.plan_ids[internal[0]] if internal else None,
        "apiKeys": dict(api.key_values),
    }


def check_localstack(endpoint: str) -> None:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=5) as response:
            if response.status == 200 and "services" in json.load(response):
                return
    except (OSError, ValueError):
        pass
    raise LocalStackError(f"LocalStack does not answer at {endpoint}: start it with `make localstack-start` "
                          "(the same LOCALSTACK_PORT for both)")


def check_endpoint(endpoint: str) -> str:
    if "amazonaws.com" in endpoint or not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"--endpoint {endpoint}: not a LocalStack URL like http://127.0.0.1:4566")
    return endpoint.rstrip("/")


def summary(declared: DeclaredStack, outputs: dict[str, Any], outputs_file: Path) -> str:
    """What a user needs next: the base URL, every key, and how to try them."""
    lines = [f"local-deploy: stack {declared.stack} is on LocalStack; outputs in {_shown(outputs_file)}",
             f"  apiBaseUrl  {outputs['apiBaseUrl']}",
             "  apiKeys"]
    width = max((len(key.owner) for key in declared.keys), default=0)
    for key in declared.keys:
        kind = "customer" if key.customer else "internal"
        state = "" if key.enabled else ", disabled: answers 403"
        lines.append(f"    {key.owner:<{width}}  {outputs['apiKeys'][key.owner]}  ({kind}{state})")
    trial = next((key for key in declared.keys if key.enabled), None)
    if trial is not None:
        collection = declared.config.api.collection
        lines += [
            "Next: load a CSV, then call the API with a key:",
            "  make local-load FILE=examples/employees.csv",
            f"  export BASE={outputs['apiBaseUrl']} KEY={outputs['apiKeys'][trial.owner]}",
            f'  curl -s -H "x-api-key: $KEY" "$BASE/{collection}"',
        ]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("deploy", "destroy"))
    parser.add_argument("--stack", default=DEFAULT_STACK, help=f"the stack (default {DEFAULT_STACK})")
    parser.add_argument("--stack-file", type=Path, help="its stack file (default Pulumi.<stack>.yaml)")
    parser.add_argument("--outputs", type=Path, help="the outputs file (default .localstack/outputs/<stack>.json)")
    parser.add_argument("--endpoint", help="LocalStack's URL (default http://127.0.0.1:$LOCALSTACK_PORT, port 4566)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack_file = args.stack_file or ROOT / f"Pulumi.{args.stack}.yaml"
    if not stack_file.is_file():
        print(f"local_deploy: {stack_file}: stack file not found (pass --stack NAME or --stack-file PATH)",
              file=sys.stderr)
        return 2
    try:
        endpoint = check_endpoint(args.endpoint or f"http://127.0.0.1:{os.environ.get('LOCALSTACK_PORT', '4566')}")
    except ValueError as error:
        print(f"local_deploy: {error}", file=sys.stderr)
        return 2
    try:
        declared = declared_stack(stack_file)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    outputs_file = args.outputs or deployed_outputs_file(declared.stack)
    client = localstack_clients(endpoint, declared.region)
    try:
        check_localstack(endpoint)
        removed = destroy(declared, client)
        if args.action == "destroy":
            outputs_file.unlink(missing_ok=True)
            what = f"deleted {len(removed)} resources" if removed else "nothing of it was there"
            print(f"local-destroy: stack {declared.stack} at {endpoint}: {what}")
            return 0
        if removed:
            print(f"local-deploy: replacing the earlier deployment ({len(removed)} resources)")
        create_storage(declared, client)
        api = create_api(declared, client, lambda api_id, stage: stage_url(endpoint, api_id, stage))
    except LocalStackError as error:
        print(f"local_deploy: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"local_deploy: LocalStack at {endpoint} refused the {args.action}: {error}", file=sys.stderr)
        return 1
    outputs = stack_outputs(declared, api)
    outputs_file.parent.mkdir(parents=True, exist_ok=True)
    outputs_file.write_text(json.dumps(outputs, indent=2) + "\n")
    print(summary(declared, outputs, outputs_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
