"""Lambda rules: scoped permissions, failure destinations, runtimes, reserved concurrency."""

from __future__ import annotations

import pytest
from pulumi_policy import EnforcementLevel

from rule_checks import ACCOUNT, UNKNOWN, Declared, check, check_stack

from rules.functions import (
    lambda_failure_destination,
    lambda_permission_scoped,
    lambda_reserved_concurrency,
    lambda_supported_runtime,
)

PERMISSION = "aws:lambda/permission:Permission"
FUNCTION = "aws:lambda/function:Function"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
QUEUE_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:loader-failures"


def permission(**props):
    return {"action": "lambda:InvokeFunction", "function": "data-api-prod-loader", **props}


# ---- lambda-permission-scoped ------------------------------------------------------------------


@pytest.mark.parametrize("props", [
    permission(principal="s3.amazonaws.com", sourceArn="arn:aws:s3:::acme-hr-exports-prod", sourceAccount=ACCOUNT),
    permission(principal="events.amazonaws.com", sourceArn=f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/loader"),
    permission(principal="s3.amazonaws.com", sourceArn=UNKNOWN, sourceAccount=UNKNOWN),
    permission(principal="events.amazonaws.com", sourceArn=UNKNOWN),
], ids=["s3-with-account", "eventbridge-rule", "s3-computed", "rule-computed"])
def test_scoped_permissions_pass(props):
    outcome = check(lambda_permission_scoped, PERMISSION, props)
    assert outcome.violations == [] and outcome.deferred is None, outcome


def test_permission_without_source_arn_fails():
    outcome = check(lambda_permission_scoped, PERMISSION, permission(principal="s3.amazonaws.com"), name="invoke")
    assert len(outcome.violations) == 1 and "no source_arn" in outcome.violations[0], outcome
    assert "'invoke'" in outcome.violations[0]


@pytest.mark.parametrize("source_arn", ["arn:aws:s3:::acme-hr-exports-prod", UNKNOWN], ids=["known", "computed"])
def test_bucket_arn_without_source_account_fails(source_arn):
    outcome = check(lambda_permission_scoped, PERMISSION,
                    permission(principal="s3.amazonaws.com", sourceArn=source_arn))
    assert len(outcome.violations) == 1 and "source_account" in outcome.violations[0], outcome


def test_star_principal_fails():
    outcome = check(lambda_permission_scoped, PERMISSION,
                    permission(principal="*", sourceArn=f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/x"))
    assert len(outcome.violations) == 1 and "principal '*'" in outcome.violations[0], outcome


def test_unknown_principal_is_deferred():
    outcome = check(lambda_permission_scoped, PERMISSION, permission(principal=UNKNOWN, sourceArn="arn:aws:s3:::b"))
    assert outcome.violations == [] and outcome.deferred


# ---- lambda-supported-runtime ------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13", "python3.14"])
def test_supported_runtimes_pass(runtime):
    assert check(lambda_supported_runtime, FUNCTION, {"runtime": runtime}).violations == []


@pytest.mark.parametrize("props, shown", [
    ({"runtime": "python3.9"}, "runtime 'python3.9'"),
    ({"runtime": "nodejs16.x"}, "runtime 'nodejs16.x'"),
    ({"handler": "handler.handler"}, "no runtime"),
], ids=["deprecated", "other-language", "missing"])
def test_other_runtimes_fail(props, shown):
    outcome = check(lambda_supported_runtime, FUNCTION, props, name="loader-function")
    assert len(outcome.violations) == 1 and shown in outcome.violations[0], outcome
    assert "python3.12, python3.13, python3.14" in outcome.violations[0]


def test_container_images_have_no_runtime_to_check():
    assert check(lambda_supported_runtime, FUNCTION, {"packageType": "Image"}).violations == []


def test_runtimes_can_be_configured():
    config = {"runtimes": ["python3.11"]}
    assert check(lambda_supported_runtime, FUNCTION, {"runtime": "python3.11"}, config=config).violations == []
    assert len(check(lambda_supported_runtime, FUNCTION, {"runtime": "python3.12"}, config=config).violations) == 1


def test_unknown_runtime_is_deferred():
    assert check(lambda_supported_runtime, FUNCTION, {"runtime": UNKNOWN}).deferred


# ---- lambda-reserved-concurrency ---------------------------------------------------------------


@pytest.mark.parametrize("props, problem", [
    ({"reservedConcurrentExecutions": 2}, None),
    ({"reservedConcurrentExecutions": -1}, "no reserved concurrency"),
    ({}, "no reserved concurrency"),
    ({"reservedConcurrentExecutions": 0}, "throttles every invocation"),
], ids=["reserved", "unreserved", "missing", "zero"])
def test_reserved_concurrency(props, problem):
    outcome = check(lambda_reserved_concurrency, FUNCTION, props)
    assert len(outcome.violations) == (1 if problem else 0), outcome
    if problem:
        assert problem in outcome.violations[0]


def test_reserved_concurrency_is_advisory_and_unknown_is_deferred():
    assert lambda_reserved_concurrency.enforcement_level == EnforcementLevel.ADVISORY
    assert check(lambda_reserved_concurrency, FUNCTION, {"reservedConcurrentExecutions": UNKNOWN}).deferred


# ---- lambda-failure-destination (stack) --------------------------------------------------------


def function(name="loader", **props) -> Declared:
    return Declared(FUNCTION, name, {"name": f"data-api-prod-{name}", "runtime": "python3.12",
                                     "arn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:data-api-prod-{name}",
                                     **props})


def invoke_config(function_name, destination=QUEUE_ARN, **links) -> Declared:
    props = {"functionName": function_name}
    if destination is not None:
        props["destinationConfig"] = {"onFailure": {"destination": destination}}
    return Declared(INVOKE_CONFIG, f"config-{function_name}", props, **links)


@pytest.mark.parametrize("resources", [
    [function(), invoke_config("data-api-prod-loader")],
    [function(), invoke_config(f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:data-api-prod-loader")],
    [function(), invoke_config(UNKNOWN, destination=UNKNOWN, property_deps={"functionName": ["loader"]})],
    [function(deadLetterConfig={"targetArn": QUEUE_ARN})],
], ids=["by-name", "by-arn", "preview", "dead-letter-queue"])
def test_functions_with_a_failure_destination_pass(resources):
    assert check_stack(lambda_failure_destination, resources) == []


@pytest.mark.parametrize("resources", [
    [function()],
    [function(), invoke_config("data-api-prod-loader", destination=None)],
    [function(), invoke_config("data-api-prod-other")],
    [function(deadLetterConfig={"targetArn": ""})],
], ids=["nothing", "no-on-failure", "other-function", "empty-dlq"])
def test_functions_without_a_failure_destination_fail(resources):
    violations = check_stack(lambda_failure_destination, resources)
    assert len(violations) == 1, violations
    message, urn = violations[0]
    assert urn.endswith("::loader") and "FunctionEventInvokeConfig" in message


def test_an_undecidable_config_is_not_reported():
    resources = [function(), invoke_config(UNKNOWN)]
    assert check_stack(lambda_failure_destination, resources) == []
