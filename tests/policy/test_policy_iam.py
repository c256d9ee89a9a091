"""IAM rules: wildcards, the named allow-list, managed policies, trust, and the account logging role."""

from __future__ import annotations

import json

import pytest

from rule_checks import ACCOUNT, UNKNOWN, Declared, allow, check, check_stack, document

from rules.iam import (
    iam_account_logging_role_scoped,
    iam_no_managed_policies,
    iam_no_wildcard_actions,
    iam_no_wildcard_resources,
    iam_trust_no_wildcard_principal,
)

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
TABLE_ARN = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/data-table-6f1578f"
LOG_GROUP = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group"
LAMBDA_TRUST = document({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                         "Action": "sts:AssumeRole"})
ROOT_PRINCIPAL = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def role_policy(*statements):
    return {"role": "loader-role-1234567", "policy": document(*statements)}


# ---- iam-no-wildcard-actions -------------------------------------------------------------------


def test_exact_actions_pass():
    props = role_policy(allow(["dynamodb:GetItem", "dynamodb:PutItem"], TABLE_ARN))
    assert check(iam_no_wildcard_actions, ROLE_POLICY, props).violations == []


@pytest.mark.parametrize("action", ["*", "s3:*", "dynamodb:Get*", "s3:Get?bject"])
def test_wildcard_actions_fail_naming_the_statement(action):
    props = role_policy(allow("dynamodb:GetItem", TABLE_ARN), allow(action, TABLE_ARN, Sid="TooBroad"))
    outcome = check(iam_no_wildcard_actions, ROLE_POLICY, props, name="loader-policy")
    assert len(outcome.violations) == 1, outcome
    message = outcome.violations[0]
    assert "'loader-policy'" in message and "Statement[1] (TooBroad)" in message and repr(action) in message
    assert "list each action it needs" in message


def test_not_action_in_an_allow_fails():
    props = role_policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": TABLE_ARN})
    outcome = check(iam_no_wildcard_actions, ROLE_POLICY, props)
    assert len(outcome.violations) == 1 and "NotAction" in outcome.violations[0], outcome


def test_deny_statements_may_use_wildcards():
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    for policy in (iam_no_wildcard_actions, iam_no_wildcard_resources, iam_trust_no_wildcard_principal):
        outcome = check(policy, "aws:s3/bucketPolicy:BucketPolicy", {"bucket": "b", "policy": document(deny)})
        assert outcome.violations == [], (policy.name, outcome)


def test_role_inline_policies_are_checked():
    props = {"assumeRolePolicy": LAMBDA_TRUST,
             "inlinePolicies": [{"name": "ok", "policy": document(allow("sqs:SendMessage", "arn:aws:sqs:r:1:q"))},
                                {"name": "broad", "policy": document(allow("sqs:*", "arn:aws:sqs:r:1:q"))}]}
    outcome = check(iam_no_wildcard_actions, ROLE, props)
    assert len(outcome.violations) == 1 and "inlinePolicies[1].policy" in outcome.violations[0], outcome


def test_key_policy_allowances_are_the_two_named_ones():
    key_policy = document(
        allow("kms:*", "*", Principal=ROOT_PRINCIPAL),
        allow(["kms:Decrypt", "kms:GenerateDataKey*"], "*", Principal={"Service": "cloudwatch.amazonaws.com"}),
    )
    assert check(iam_no_wildcard_actions, KEY, {"policy": key_policy}).violations == []


def test_key_policy_kms_star_for_anyone_but_the_account_root_fails():
    key_policy = document(allow("kms:*", "*", Principal={"Service": "cloudwatch.amazonaws.com"}))
    outcome = check(iam_no_wildcard_actions, KEY, {"policy": key_policy})
    assert len(outcome.violations) == 1 and "'kms:*'" in outcome.violations[0], outcome


def test_kms_data_key_wildcard_outside_a_key_policy_fails():
    props = role_policy(allow("kms:GenerateDataKey*", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/abc"))
    assert len(check(iam_no_wildcard_actions, ROLE_POLICY, props).violations) == 1


def test_unknown_policy_document_is_deferred():
    outcome = check(iam_no_wildcard_actions, ROLE_POLICY, {"role": "r", "policy": UNKNOWN})
    assert outcome.violations == [] and "policy" in outcome.deferred


def test_missing_policy_document_is_not_a_crash():
    assert check(iam_no_wildcard_actions, ROLE_POLICY, {"role": "r"}) == check(iam_no_wildcard_actions, ROLE_POLICY, {})
    assert check(iam_no_wildcard_actions, ROLE_POLICY, {}).violations == []


@pytest.mark.parametrize("text, problem", [
    ("{not json", "is not JSON"),
    (json.dumps({"Version": "2012-10-17"}), "has no Statement list"),
    (json.dumps(["a"]), "is not a JSON object"),
])
def test_unreadable_documents_fail_with_a_reason(text, problem):
    outcome = check(iam_no_wildcard_actions, ROLE_POLICY, {"policy": text})
    assert len(outcome.violations) == 1 and problem in outcome.violations[0], outcome


# ---- iam-no-wildcard-resources and its allow-list ----------------------------------------------


@pytest.mark.parametrize("actions, resource", [
    (["logs:CreateLogStream", "logs:PutLogEvents"], f"{LOG_GROUP}:/aws/lambda/data-api-prod-loader:*"),
    (["logs:PutLogEvents"], f"{LOG_GROUP}:/aws/lambda/data-api-prod-loader:log-stream:*"),
    (["s3:GetObject"], "arn:aws:s3:::acme-hr-exports-prod/exports/*"),
    (["s3:PutObject"], "arn:aws:s3:::loader-publish-57c7d53/published/_loader/*"),
    (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
    (["dynamodb:GetItem"], TABLE_ARN),
], ids=["log-streams", "log-stream-form", "s3-prefix", "s3-private-prefix", "xray", "exact"])
def test_allow_listed_shapes_pass(actions, resource):
    outcome = check(iam_no_wildcard_resources, ROLE_POLICY, role_policy(allow(actions, resource)))
    assert outcome.violations == [], outcome


@pytest.mark.parametrize("actions, resource", [
    (["dynamodb:GetItem"], "*"),
    (["xray:PutTraceSegments", "dynamodb:GetItem"], "*"),
    (["dynamodb:GetItem"], f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/*"),
    (["logs:PutLogEvents"], f"{LOG_GROUP}:*"),
    (["logs:PutLogEvents"], f"{LOG_GROUP}:/aws/lambda/*:*"),
    (["logs:PutLogEvents"], f"{LOG_GROUP}:/aws/lambda/x:log-stream:2026*"),
    (["logs:PutLogEvents"], f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/x:*"),
    (["s3:GetObject"], "arn:aws:s3:::bucket/*"),
    (["s3:GetObject"], "arn:aws:s3:::bucket-*/exports/*"),
    (["s3:GetObject"], "arn:aws:s3:::bucket/exports/*.csv"),
    (["s3:ListBucket"], "arn:aws:s3:::*"),
], ids=["star", "star-mixed", "all-tables", "all-groups", "group-prefix", "stream-prefix", "any-region", "whole-bucket",
        "bucket-wildcard", "inner-wildcard", "all-buckets"])
def test_other_wildcard_resources_fail(actions, resource):
    outcome = check(iam_no_wildcard_resources, ROLE_POLICY, role_policy(allow(actions, resource)), name="p")
    assert len(outcome.violations) == 1, outcome
    assert "name the exact ARN" in outcome.violations[0] and "'p'" in outcome.violations[0]


def test_star_resource_message_names_only_the_offending_actions():
    outcome = check(iam_no_wildcard_resources, ROLE_POLICY,
                    role_policy(allow(["xray:PutTraceSegments", "dynamodb:GetItem"], "*")))
    assert "['dynamodb:GetItem'] on '*'" in outcome.violations[0], outcome


def test_not_resource_in_an_allow_fails():
    props = role_policy({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/secret"})
    outcome = check(iam_no_wildcard_resources, ROLE_POLICY, props)
    assert len(outcome.violations) == 1 and "NotResource" in outcome.violations[0], outcome


def test_key_policies_are_exempt_from_resource_wildcards():
    key_policy = document(allow("kms:*", "*", Principal=ROOT_PRINCIPAL))
    assert check(iam_no_wildcard_resources, KEY, {"policy": key_policy}).violations == []
    assert check(iam_no_wildcard_resources, "aws:kms/keyPolicy:KeyPolicy", {"policy": key_policy}).violations == []


def test_resource_policies_are_checked():
    topic_policy = document(allow("sns:Publish", "arn:aws:sns:eu-west-1:*:alerts",
                                  Principal={"Service": "cloudwatch.amazonaws.com"}))
    outcome = check(iam_no_wildcard_resources, "aws:sns/topicPolicy:TopicPolicy", {"policy": topic_policy})
    assert len(outcome.violations) == 1, outcome


@pytest.mark.parametrize("actions, resource", [
    (["logs:CreateLogGroup", "logs:CreateLogStream"], f"{LOG_GROUP}:API-Gateway-Execution-Logs_*"),
    (["logs:PutLogEvents"], f"{LOG_GROUP}:API-Gateway-Execution-Logs_*:log-stream:*"),
    (["logs:PutLogEvents"], f"{LOG_GROUP}:/aws/apigateway/data-api/*:log-stream:*"),
    (["logs:DescribeLogGroups"], f"{LOG_GROUP}:*"),
    (["logs:DescribeLogGroups"], "*"),
], ids=["execution-groups", "execution-streams", "access-streams", "list-groups", "list-star"])
def test_account_logging_grants_pass_the_resource_rule_for_the_stack_rule_to_judge(actions, resource):
    outcome = check(iam_no_wildcard_resources, ROLE_POLICY, role_policy(allow(actions, resource)))
    assert outcome.violations == [], outcome


def test_account_logging_shapes_are_not_allowed_in_resource_policies():
    bucket_policy = document(allow("logs:DescribeLogGroups", "*", Principal={"Service": "logs.amazonaws.com"}))
    outcome = check(iam_no_wildcard_resources, "aws:s3/bucketPolicy:BucketPolicy", {"policy": bucket_policy})
    assert len(outcome.violations) == 1, outcome


def test_describe_log_groups_on_every_group_with_other_actions_fails():
    props = role_policy(allow(["logs:DescribeLogGroups", "logs:PutLogEvents"], f"{LOG_GROUP}:*"))
    assert len(check(iam_no_wildcard_resources, ROLE_POLICY, props).violations) == 1


def test_unknown_resource_document_is_deferred():
    outcome = check(iam_no_wildcard_resources, ROLE, {"assumeRolePolicy": LAMBDA_TRUST,
                                                      "inlinePolicies": [{"name": "x", "policy": UNKNOWN}]})
    assert outcome.violations == [] and outcome.deferred


# ---- iam-no-managed-policies -------------------------------------------------------------------


@pytest.mark.parametrize("resource_type, props", [
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
     {"role": "r", "policyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}),
    ("aws:iam/policyAttachment:PolicyAttachment",
     {"roles": ["r"], "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}),
    (ROLE, {"assumeRolePolicy": LAMBDA_TRUST, "managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}),
    ("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
     {"roleName": "r", "policyArns": ["arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess"]}),
], ids=["attachment", "policy-attachment", "managed-arns", "exclusive"])
def test_aws_managed_policies_fail(resource_type, props):
    outcome = check(iam_no_managed_policies, resource_type, props)
    assert len(outcome.violations) == 1 and "inline policy" in outcome.violations[0], outcome
    assert "arn:aws" in outcome.violations[0] and ":iam::aws:policy/" in outcome.violations[0]


@pytest.mark.parametrize("resource_type, props", [
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
     {"role": "r", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/loader-extra"}),
    (ROLE, {"assumeRolePolicy": LAMBDA_TRUST}),
    (ROLE, {"assumeRolePolicy": LAMBDA_TRUST, "managedPolicyArns": []}),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": UNKNOWN}),
], ids=["customer-managed", "none", "empty", "computed-arn"])
def test_customer_managed_or_no_attachment_passes(resource_type, props):
    outcome = check(iam_no_managed_policies, resource_type, props)
    assert outcome.violations == [], outcome


# ---- iam-trust-no-wildcard-principal -----------------------------------------------------------


def test_one_service_trust_passes():
    assert check(iam_trust_no_wildcard_principal, ROLE, {"assumeRolePolicy": LAMBDA_TRUST}).violations == []


@pytest.mark.parametrize("principal, problem", [
    ("*", "principal *: '*'"),
    ({"AWS": "*"}, "principal AWS: '*'"),
    ({"AWS": ["arn:aws:iam::123456789012:root", "*"]}, "principal AWS: '*'"),
    ({"Service": "*.amazonaws.com"}, "principal Service"),
    ({"Service": ["lambda.amazonaws.com", "apigateway.amazonaws.com"]}, "trusts one service"),
], ids=["star", "aws-star", "aws-list-star", "service-wildcard", "two-services"])
def test_open_trust_fails(principal, problem):
    trust = document({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})
    outcome = check(iam_trust_no_wildcard_principal, ROLE, {"assumeRolePolicy": trust}, name="loader-role")
    assert len(outcome.violations) == 1 and problem in outcome.violations[0], outcome
    assert "'loader-role'" in outcome.violations[0]


def test_two_services_across_statements_fail():
    trust = document(*({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
                       for service in ("lambda.amazonaws.com", "events.amazonaws.com")))
    assert len(check(iam_trust_no_wildcard_principal, ROLE, {"assumeRolePolicy": trust}).violations) == 1


def test_not_principal_fails():
    trust = document({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"})
    outcome = check(iam_trust_no_wildcard_principal, ROLE, {"assumeRolePolicy": trust})
    assert len(outcome.violations) == 1 and "NotPrincipal" in outcome.violations[0], outcome


def test_star_principal_in_a_resource_policy_allow_fails():
    queue_policy = document(allow("sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:q", Principal="*"))
    outcome = check(iam_trust_no_wildcard_principal, "aws:sqs/queuePolicy:QueuePolicy", {"policy": queue_policy})
    assert len(outcome.violations) == 1, outcome


def test_trust_rule_ignores_identity_policies_and_handles_missing_and_unknown():
    assert check(iam_trust_no_wildcard_principal, ROLE_POLICY, role_policy(allow("s3:*", "*"))).violations == []
    assert check(iam_trust_no_wildcard_principal, ROLE, {}).violations == []
    unknown = check(iam_trust_no_wildcard_principal, ROLE, {"assumeRolePolicy": UNKNOWN})
    assert unknown.violations == [] and unknown.deferred


# ---- iam-account-logging-role-scoped (stack) ---------------------------------------------------

ACCOUNT_LOG_POLICY = document(
    allow(["logs:CreateLogGroup", "logs:CreateLogStream"],
          [f"{LOG_GROUP}:API-Gateway-Execution-Logs_*", f"{LOG_GROUP}:/aws/apigateway/data-api/*"]),
    allow("logs:DescribeLogGroups", f"{LOG_GROUP}:*"),
)
APIGW_TRUST = document({"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole"})


def account_stack(policy_role: str = "cloudwatch-role", computed: bool = False) -> list[Declared]:
    roles = [
        Declared(ROLE, "cloudwatch-role", {"assumeRolePolicy": APIGW_TRUST, "name": "cw-1",
                                           "arn": f"arn:aws:iam::{ACCOUNT}:role/cw-1", "id": "cw-1"}),
        Declared(ROLE, "integration-role", {"assumeRolePolicy": APIGW_TRUST, "name": "int-1",
                                            "arn": f"arn:aws:iam::{ACCOUNT}:role/int-1", "id": "int-1"}),
    ]
    role_name = {"cloudwatch-role": "cw-1", "integration-role": "int-1"}[policy_role]
    return [
        *roles,
        Declared(ROLE_POLICY, "cloudwatch-policy", {"role": UNKNOWN if computed else role_name,
                                                    "policy": ACCOUNT_LOG_POLICY},
                 depends_on=[policy_role], property_deps={"role": [policy_role]} if computed else {}),
        Declared("aws:apigateway/account:Account", "account",
                 {"cloudwatchRoleArn": UNKNOWN if computed else f"arn:aws:iam::{ACCOUNT}:role/cw-1"},
                 depends_on=["cloudwatch-role"],
                 property_deps={"cloudwatchRoleArn": ["cloudwatch-role"]} if computed else {}),
    ]


@pytest.mark.parametrize("computed", [False, True], ids=["known", "preview"])
def test_account_logging_grants_on_the_account_role_pass(computed):
    assert check_stack(iam_account_logging_role_scoped, account_stack(computed=computed)) == []


@pytest.mark.parametrize("computed", [False, True], ids=["known", "preview"])
def test_account_logging_grants_on_another_role_fail(computed):
    violations = check_stack(iam_account_logging_role_scoped,
                             account_stack(policy_role="integration-role", computed=computed))
    assert len(violations) == 1, violations
    message, urn = violations[0]
    assert urn.endswith("::cloudwatch-policy") and "'integration-role'" in message
    assert "API-Gateway-Execution-Logs_*" in message


def test_account_logging_grants_without_an_account_fail():
    resources = [r for r in account_stack() if r.type != "aws:apigateway/account:Account"]
    violations = check_stack(iam_account_logging_role_scoped, resources)
    assert len(violations) == 1 and "'cloudwatch-role'" in violations[0][0], violations


def test_account_logging_grants_inline_on_a_role_and_via_a_managed_policy():
    inline = Declared(ROLE, "inline-role", {"assumeRolePolicy": APIGW_TRUST, "arn": "arn:aws:iam::1:role/x",
                                            "inlinePolicies": [{"name": "logs", "policy": ACCOUNT_LOG_POLICY}]})
    managed = Declared("aws:iam/policy:Policy", "logs-policy", {"policy": ACCOUNT_LOG_POLICY,
                                                                "arn": "arn:aws:iam::1:policy/logs"})
    attachment = Declared("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "attach",
                          {"role": "int-1", "policyArn": "arn:aws:iam::1:policy/logs"})
    violations = check_stack(iam_account_logging_role_scoped, [*account_stack(), inline, managed, attachment])
    assert sorted(urn.rsplit("::", 1)[1] for _, urn in violations) == ["inline-role", "logs-policy"], violations


def test_stack_rule_ignores_roles_without_such_grants_and_unknown_documents():
    resources = [
        Declared(ROLE, "plain", {"assumeRolePolicy": LAMBDA_TRUST}),
        Declared(ROLE_POLICY, "plain-policy", {"role": "plain", "policy": document(allow("s3:GetObject", "arn:aws:s3:::b/k"))}),
        Declared(ROLE_POLICY, "pending", {"role": "plain", "policy": UNKNOWN}),
        Declared(ROLE_POLICY, "broken", {"role": "plain", "policy": "{"}),
    ]
    assert check_stack(iam_account_logging_role_scoped, resources) == []
