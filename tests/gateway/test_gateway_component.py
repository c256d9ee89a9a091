"""The gateway as the real program declares it under the mock engine: keys, plans, role, stage, logs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from components import openapi
from components.config import StackConfig, parse_config

from harness import ACCOUNT, ROOT, Program, stack_config, statement_pairs

REST_API = "aws:apigateway/restApi:RestApi"
DEPLOYMENT = "aws:apigateway/deployment:Deployment"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
USAGE_PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
API_KEY = "aws:apigateway/apiKey:ApiKey"
ACCOUNT_SETTINGS = "aws:apigateway/account:Account"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
GATEWAY = "data-api:index:Gateway"
REGION = "eu-west-1"


def typed(stack: str = "prod", edit=None) -> StackConfig:
    config = stack_config(ROOT / f"Pulumi.{stack}.yaml")
    if edit:
        config = json.loads(json.dumps(config))
        edit(config)
    raw = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("data-api:")}
    return parse_config(raw, f"Pulumi.{stack}.yaml")


def gateway_child(program: Program, type_: str, name: str):
    found = [r for r in program.children_of(GATEWAY) if r.type == type_ and r.name == name]
    assert len(found) == 1, f"expected one {type_} {name!r} under the gateway, found {len(found)}"
    return found[0]


def document_of(program: Program) -> dict[str, Any]:
    return json.loads(program.one(REST_API).inputs["body"])


def methods(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for verb, operation in item.items():
            yield f"{verb.upper()} {path}", operation


# ---- keys and usage plans ---------------------------------------------------------------------


def test_every_customer_plan_has_the_configured_quota_and_throttle(prod_program):
    config = typed()
    stage = prod_program.one(STAGE)
    assert len(config.customers) >= 3, "the prod stack should exercise several customers"
    for customer in config.customers:
        plan = gateway_child(prod_program, USAGE_PLAN, f"api-plan-{customer.name}")
        assert plan.inputs["quotaSettings"] == {
            "limit": customer.quota.limit, "period": customer.quota.period, "offset": customer.quota.offset,
        }, plan.urn
        assert plan.inputs["throttleSettings"] == {
            "rateLimit": customer.throttle.rate_limit, "burstLimit": customer.throttle.burst_limit,
        }, plan.urn
        assert plan.inputs["apiStages"] == [
            {"apiId": stage.inputs["restApi"], "stage": stage.inputs["stageName"]}], plan.urn
        assert stage.urn in plan.depends_on, f"{plan.urn} must be created after the stage (depends_on)"


def test_each_key_is_attached_to_its_own_plan(prod_program):
    config = typed()
    attachments = {r.name: r for r in prod_program.of_type(USAGE_PLAN_KEY)}
    expected = {c.name: f"api-plan-{c.name}" for c in config.customers}
    expected.update({key.name: "api-internal-plan" for key in config.internal_keys})
    assert set(attachments) == {f"api-plan-key-{name}" for name in expected}, sorted(attachments)
    for key_name, plan_name in expected.items():
        attachment = attachments[f"api-plan-key-{key_name}"]
        plan = gateway_child(prod_program, USAGE_PLAN, plan_name)
        key = gateway_child(prod_program, API_KEY, f"api-key-{key_name}")
        assert attachment.inputs["keyType"] == "API_KEY", attachment.urn
        assert plan.urn in attachment.dependencies and key.urn in attachment.dependencies, attachment.urn
        assert attachment.delete_before_replace, f"{attachment.urn}: a key may sit in one plan per stage"
    assert len(prod_program.of_type(API_KEY)) == len(expected)
    assert len(prod_program.of_type(USAGE_PLAN)) == len(config.customers) + 1


def test_internal_plan_is_unlimited(prod_program):
    plan = gateway_child(prod_program, USAGE_PLAN, "api-internal-plan")
    assert plan.inputs.get("quotaSettings") is None, plan.urn
    assert plan.inputs.get("throttleSettings") is None, plan.urn
    assert plan.inputs["apiStages"][0]["stage"] == "v1", plan.urn
    assert plan.inputs["tags"] == {"data-api:plan": "internal"}, plan.urn
    for customer_plan in prod_program.of_type(USAGE_PLAN):
        if customer_plan.urn != plan.urn:
            assert "data-api:plan" not in (customer_plan.inputs.get("tags") or {}), customer_plan.urn


def test_disabled_customers_keep_a_disabled_key(prod_program):
    config = typed()
    assert any(not c.enabled for c in config.customers), "the prod stack should have a disabled customer"
    for customer in config.customers:
        key = gateway_child(prod_program, API_KEY, f"api-key-{customer.name}")
        assert key.inputs["enabled"] is customer.enabled, f"{key.urn}: customers[{customer.name}].enabled"
    for name in (key.name for key in config.internal_keys):
        key = gateway_child(prod_program, API_KEY, f"api-key-{name}")
        assert key.inputs["enabled"] is True, key.urn


def _key_resources(program: Program) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.type, r.name): r.inputs for r in program.resources
            if r.type in (API_KEY, USAGE_PLAN, USAGE_PLAN_KEY)}


def test_keys_survive_reordering_limit_edits_and_disabling(prod_program, program_with):
    def shuffle(config):
        customers = config["data-api:customers"]
        customers.reverse()
        customers[0]["quota"]["limit"] += 1
        customers[0]["throttle"]["rateLimit"] = customers[0]["throttle"]["burstLimit"]
        customers[-1]["enabled"] = False
        config["data-api:internalKeys"].reverse()

    edited = program_with(shuffle)
    before, after = _key_resources(prod_program), _key_resources(edited)
    assert set(before) == set(after), f"logical names changed: {set(before) ^ set(after)}"
    for (type_, name), inputs in before.items():
        if type_ == API_KEY:
            changed = {k for k in inputs.keys() | after[type_, name].keys()
                       if inputs.get(k) != after[type_, name].get(k)}
            assert changed <= {"enabled"}, f"{type_} {name}: {changed} changed; only `enabled` may"


# ---- the document -----------------------------------------------------------------------------


def test_every_method_requires_the_api_key_header(prod_program):
    document = document_of(prod_program)
    scheme = document["components"]["securitySchemes"]["api_key"]
    assert scheme == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert document["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert prod_program.one(REST_API).inputs["apiKeySource"] == "HEADER"
    found = list(methods(document))
    assert [name for name, _ in found] == [
        "GET /departments", "GET /departments/{department}", "GET /documents/{document}", "GET /snapshot",
        "GET /snapshot/loads/{load}/parts/{part}", "GET /snapshot/parts/{part}",
    ]
    for name, operation in found:
        assert operation.get("security") == [{"api_key": []}], f"{name} does not require the API key"


def test_routes_and_integrations(prod_program):
    config = typed()
    document = document_of(prod_program)
    role = gateway_child(prod_program, ROLE, "api-role")
    table = prod_program.one("aws:dynamodb/table:Table")
    bucket = prod_program.exports["publishBucketName"]
    item = document["paths"]["/departments/{department}"]["get"]["x-amazon-apigateway-integration"]
    assert item["type"] == "aws" and item["httpMethod"] == "POST", item
    assert item["uri"] == f"arn:aws:apigateway:{REGION}:dynamodb:action/GetItem"
    assert item["credentials"] == role.outputs["arn"]
    assert f'"TableName": "{table.outputs["name"]}"' in item["requestTemplates"]["application/json"]
    for path, key in (("/departments", config.publish.index_key), ("/snapshot", config.publish.snapshot_key)):
        integration = document["paths"][path]["get"]["x-amazon-apigateway-integration"]
        assert integration["httpMethod"] == "GET" and integration["credentials"] == role.outputs["arn"], path
        assert integration["uri"] == f"arn:aws:apigateway:{REGION}:s3:path/{bucket}/{key}", path
        assert integration["requestParameters"] == {
            "integration.request.header.If-None-Match": "method.request.header.If-None-Match"}, path


def test_no_two_selection_patterns_share_a_status(prod_program):
    for name, operation in methods(document_of(prod_program)):
        responses = operation["x-amazon-apigateway-integration"]["responses"]
        statuses = [r["statusCode"] for r in responses.values()]
        assert len(statuses) == len(set(statuses)), f"{name}: integration responses collide: {responses.keys()}"
        for pattern, response in responses.items():
            assert response["statusCode"] in operation["responses"], f"{name}: no method response {pattern}"
            for header in response.get("responseParameters", {}):
                declared = operation["responses"][response["statusCode"]].get("headers", {})
                assert header.removeprefix("method.response.header.") in declared, f"{name} {pattern}: {header}"


def test_request_validator_and_gateway_responses(prod_program):
    document = document_of(prod_program)
    assert document["x-amazon-apigateway-request-validators"][document["x-amazon-apigateway-request-validator"]] \
        == {"validateRequestParameters": True, "validateRequestBody": False}
    responses = document["x-amazon-apigateway-gateway-responses"]
    for kind, status in (("INVALID_API_KEY", 403), ("ACCESS_DENIED", 403), ("THROTTLED", 429),
                         ("QUOTA_EXCEEDED", 429)):
        assert responses[kind]["statusCode"] == str(status), kind
        assert json.loads(responses[kind]["responseTemplates"]["application/json"])["message"], kind
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        assert "statusCode" not in responses[kind], f"{kind} must keep each error's own status"


def test_public_document_has_no_integration_internals(prod_program):
    public = prod_program.exports["openApiDocument"]
    text = json.dumps(public)
    assert "x-amazon-apigateway" not in text and "arn:" not in text and ACCOUNT not in text, text[:300]
    assert public["servers"] == [{"url": prod_program.exports["apiBaseUrl"]}]
    assert set(public["paths"]) == set(document_of(prod_program)["paths"])


# ---- deployment -------------------------------------------------------------------------------


def test_deployment_trigger_is_the_document_hash(prod_program):
    deployment = prod_program.one(DEPLOYMENT)
    body = prod_program.one(REST_API).inputs["body"]
    assert deployment.inputs["triggers"] == {"openapi": hashlib.sha256(body.encode()).hexdigest()}
    assert "stageName" not in deployment.inputs, deployment.urn
    assert deployment.replace_on_changes == ["triggers"], deployment.urn
    assert not deployment.delete_before_replace, f"{deployment.urn}: the stage must never point at nothing"
    assert deployment.urn in prod_program.one(STAGE).dependencies


def test_deployment_waits_for_the_integration_role_policy(prod_program):
    # The document names the role, not its policy: without depends_on, API Gateway could deploy
    # integrations whose role cannot read anything yet.
    deployment = prod_program.one(DEPLOYMENT)
    policy = gateway_child(prod_program, ROLE_POLICY, "api-role-policy")
    assert deployment.depends_on == [policy.urn], f"{deployment.urn}: depends_on {deployment.depends_on}"


def test_a_changed_template_changes_the_deployment_trigger(prod_program, program_with, monkeypatch):
    monkeypatch.setitem(openapi.TEMPLATES, "get_item_response",
                        openapi.TEMPLATES["get_item_response"] + "## a changed comment\n")
    changed = program_with(lambda config: None)
    before = prod_program.one(DEPLOYMENT).inputs["triggers"]["openapi"]
    after = changed.one(DEPLOYMENT).inputs["triggers"]["openapi"]
    assert before != after, "a template change must redeploy the API"
    assert "a changed comment" in changed.one(REST_API).inputs["body"]


def test_an_unchanged_program_keeps_its_deployment_trigger(prod_program, program_with):
    again = program_with(lambda config: None)
    assert again.one(DEPLOYMENT).inputs["triggers"] == prod_program.one(DEPLOYMENT).inputs["triggers"]


# ---- stage, logging, metrics --------------------------------------------------------------------


def test_stage_logging_and_metrics(prod_program):
    config = typed()
    stage = prod_program.one(STAGE)
    settings = prod_program.one(METHOD_SETTINGS)
    assert stage.inputs["stageName"] == config.api.stage_name, stage.urn
    assert stage.inputs["xrayTracingEnabled"] is config.api.tracing, stage.urn
    assert settings.inputs["methodPath"] == "*/*", settings.urn
    assert settings.inputs["settings"] == {
        "metricsEnabled": True,
        "loggingLevel": "ERROR",
        "dataTraceEnabled": False,
        "throttlingRateLimit": config.api.throttle.rate_limit,
        "throttlingBurstLimit": config.api.throttle.burst_limit,
    }, settings.urn

    access = gateway_child(prod_program, LOG_GROUP, "api-access-logs")
    execution = gateway_child(prod_program, LOG_GROUP, "api-execution-logs")
    for group in (access, execution):
        assert group.inputs["retentionInDays"] == config.api.log_retention_days, group.urn
    assert execution.inputs["name"] == f"API-Gateway-Execution-Logs_{stage.inputs['restApi']}/v1"
    assert stage.inputs["accessLogSettings"]["destinationArn"] == access.outputs["arn"], stage.urn
    sample = stage.inputs["accessLogSettings"]["format"].replace("$context.error.messageString", '"-"')
    fields = json.loads(sample)
    for field, variable in {
        "requestId": "$context.requestId", "sourceIp": "$context.identity.sourceIp",
        "apiKeyId": "$context.identity.apiKeyId", "httpMethod": "$context.httpMethod",
        "path": "$context.path", "status": "$context.status", "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
    }.items():
        assert fields[field] == variable, f"{stage.urn}: access log field {field}"
    assert '"errorMessage":$context.error.messageString' in stage.inputs["accessLogSettings"]["format"]
    for resource in (stage, settings):
        assert execution.urn in resource.depends_on, f"{resource.urn} before its log group exists"


def test_dev_stack_turns_tracing_off(dev_program):
    assert dev_program.one(STAGE).inputs["xrayTracingEnabled"] is False


# ---- roles ------------------------------------------------------------------------------------


def test_integration_role_is_trusted_by_api_gateway_without_conditions(prod_program):
    role = gateway_child(prod_program, ROLE, "api-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole",
    }], role.urn


def _integration_pairs(program: Program) -> set[tuple[str, str]]:
    return statement_pairs(gateway_child(program, ROLE_POLICY, "api-role-policy").inputs["policy"])


def test_integration_role_reads_exactly_one_item_and_the_published_objects(prod_program):
    config = typed()
    table_arn = prod_program.one("aws:dynamodb/table:Table").outputs["arn"]
    bucket = prod_program.exports["publishBucketName"]
    assert _integration_pairs(prod_program) == {
        ("dynamodb:GetItem", table_arn),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/{config.publish.index_key}"),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/{config.publish.snapshot_key}"),
        # Named only at run time: a large document by its key's id, a part by its load.
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/{config.publish.prefix}documents/*"),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/{config.publish.prefix}snapshot/*"),
        # So that S3 answers a missing object with 404, not 403.
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    }


def test_integration_role_lists_only_the_publish_bucket_without_conditions(prod_program):
    policy = gateway_child(prod_program, ROLE_POLICY, "api-role-policy")
    listing = [s for s in json.loads(policy.inputs["policy"])["Statement"] if "s3:ListBucket" in s["Action"]]
    bucket = prod_program.exports["publishBucketName"]
    assert listing == [{"Sid": "TellMissingFromDenied", "Effect": "Allow", "Action": "s3:ListBucket",
                        "Resource": f"arn:aws:s3:::{bucket}"}], policy.urn


def test_integration_role_decrypts_a_customer_managed_table_key(program_with):
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-acbdcedfe0f1"
    program = program_with(lambda c: c["data-api:table"].update(kmsKeyArn=key_arn))
    pairs = _integration_pairs(program)
    assert ("kms:Decrypt", key_arn) in pairs, pairs
    assert {a for a, _ in pairs} == {"dynamodb:GetItem", "s3:GetObject", "s3:ListBucket", "kms:Decrypt"}, pairs
    statement = next(s for s in json.loads(gateway_child(program, ROLE_POLICY, "api-role-policy")
                                           .inputs["policy"])["Statement"] if s["Action"] == "kms:Decrypt")
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}


def test_account_log_role_is_left_alone_unless_asked(prod_program):
    assert prod_program.of_type(ACCOUNT_SETTINGS) == [], "the account-wide role is opt-in"
    assert [r.name for r in prod_program.children_of(GATEWAY) if r.type == ROLE] == ["api-role"]


def test_account_log_role_when_asked(program_with):
    program = program_with(lambda c: c["data-api:api"].update(manageAccountLogRole=True))
    account = program.one(ACCOUNT_SETTINGS)
    role = gateway_child(program, ROLE, "api-cloudwatch-role")
    assert account.inputs["cloudwatchRoleArn"] == role.outputs["arn"], account.urn
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"}
    groups = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group"
    scoped = [f"{groups}:API-Gateway-Execution-Logs_*", f"{groups}:/aws/apigateway/data-api/*"]
    expected = {(action, group) for action in ("logs:CreateLogGroup", "logs:CreateLogStream",
                                               "logs:DescribeLogStreams", "logs:FilterLogEvents")
                for group in scoped}
    expected |= {(action, f"{group}:log-stream:*") for action in ("logs:PutLogEvents", "logs:GetLogEvents")
                 for group in scoped}
    expected.add(("logs:DescribeLogGroups", f"{groups}:*"))
    policy = gateway_child(program, ROLE_POLICY, "api-cloudwatch-policy")
    assert statement_pairs(policy.inputs["policy"]) == expected, policy.urn
    access = gateway_child(program, LOG_GROUP, "api-access-logs")
    assert access.inputs["name"].startswith("/aws/apigateway/data-api/"), access.urn
    for resource in (program.one(STAGE), program.one(METHOD_SETTINGS)):
        assert account.urn in resource.depends_on, f"{resource.urn} must wait for the account's log role"


# ---- alarms and outputs -----------------------------------------------------------------------


def test_alarms_watch_the_stage_without_actions(prod_program):
    config = typed()
    rest_api = prod_program.one(REST_API)
    alarms = {r.name: r for r in prod_program.children_of(GATEWAY) if r.type == ALARM}
    assert set(alarms) == {"api-5xx-alarm", "api-latency-alarm"}, sorted(alarms)
    errors, latency = alarms["api-5xx-alarm"], alarms["api-latency-alarm"]
    assert (errors.inputs["metricName"], errors.inputs["statistic"], errors.inputs["threshold"]) == (
        "5XXError", "Average", config.api.error_rate), errors.urn
    assert (latency.inputs["metricName"], latency.inputs["extendedStatistic"], latency.inputs["threshold"]) == (
        "Latency", "p99", config.api.latency_p99_ms), latency.urn
    for alarm in (errors, latency):
        assert alarm.inputs["namespace"] == "AWS/ApiGateway", alarm.urn
        assert alarm.inputs["dimensions"] == {"ApiName": rest_api.inputs["name"], "Stage": "v1"}, alarm.urn
        assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold", alarm.urn
        for actions in ("alarmActions", "okActions", "insufficientDataActions"):
            assert not alarm.inputs.get(actions), f"{alarm.urn}: {actions} belong to the alerts component"


def test_outputs(prod_program):
    config = typed()
    exports = prod_program.exports
    base = exports["apiBaseUrl"]
    assert base == prod_program.one(STAGE).outputs["invokeUrl"]
    assert exports["apiRouteUrls"] == {
        "item": f"{base}/departments/{{department}}",
        "collection": f"{base}/departments",
        "snapshot": f"{base}/snapshot",
        "snapshotPart": f"{base}/snapshot/parts/{{part}}",
    }
    plans = {r.name: r for r in prod_program.of_type(USAGE_PLAN)}
    assert set(exports["usagePlanIds"]) == {c.name for c in config.customers}
    assert exports["internalUsagePlanId"]
    assert len(set(exports["usagePlanIds"].values()) | {exports["internalUsagePlanId"]}) == len(plans)
    keys = {r.name.removeprefix("api-key-"): r.outputs["value"] for r in prod_program.of_type(API_KEY)}
    assert exports["apiKeys"] == keys
    assert "apiKeys" in prod_program.secret_exports, "key values must only be exported as secrets"


@pytest.mark.parametrize("column", ["dept name", "1st", "a/b", ""])
def test_an_unusable_path_parameter_is_refused_with_its_config_path(column):
    with pytest.raises(ValueError) as caught:
        openapi.ApiShape(title="t", collection="departments", partition_column=column, stage_name="v1")
    assert str(caught.value).startswith(f"source.partitionColumn: {column!r} cannot be an API path parameter")


def test_a_stack_without_customers_or_internal_keys(program_with):
    def no_subscribers(config):
        config["data-api:customers"] = []
        config["data-api:internalKeys"] = []

    program = program_with(no_subscribers)
    assert program.exports["usagePlanIds"] == {} and program.exports["apiKeys"] == {}
    assert program.of_type(API_KEY) == [] and program.of_type(USAGE_PLAN_KEY) == []
    assert [r.name for r in program.of_type(USAGE_PLAN)] == ["api-internal-plan"]
