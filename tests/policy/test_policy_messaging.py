"""SQS/SNS encryption, and the alarm topic's key that CloudWatch must be able to use."""

from __future__ import annotations

import pytest

from rule_checks import ACCOUNT, UNKNOWN, Declared, allow, check, check_stack, document

from rules.messaging import sns_alarm_topic_key_allows_cloudwatch, sqs_sns_encrypted

QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


@pytest.mark.parametrize("props", [{"sqsManagedSseEnabled": True}, {"kmsMasterKeyId": KEY_ARN},
                                   {"kmsMasterKeyId": UNKNOWN}], ids=["sse-sqs", "kms", "computed-key"])
def test_encrypted_queues_pass(props):
    outcome = check(sqs_sns_encrypted, QUEUE, props)
    assert outcome.violations == [] and outcome.deferred is None


@pytest.mark.parametrize("props", [{}, {"sqsManagedSseEnabled": False}, {"kmsMasterKeyId": ""}],
                         ids=["missing", "off", "empty"])
def test_unencrypted_queues_fail(props):
    outcome = check(sqs_sns_encrypted, QUEUE, props, name="loader-failures")
    assert len(outcome.violations) == 1 and "sqs_managed_sse_enabled=True" in outcome.violations[0], outcome


@pytest.mark.parametrize("key", [KEY_ARN, "alias/data-api-alerts", UNKNOWN], ids=["key-arn", "own-alias", "computed"])
def test_topics_with_a_customer_managed_key_pass(key):
    assert check(sqs_sns_encrypted, TOPIC, {"kmsMasterKeyId": key}).violations == []


@pytest.mark.parametrize("props, problem", [
    ({"kmsMasterKeyId": "alias/aws/sns"}, "silently dropped"),
    ({"kmsMasterKeyId": f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/aws/sns"}, "silently dropped"),
    ({}, "is not encrypted"),
], ids=["aws-managed-alias", "aws-managed-alias-arn", "missing"])
def test_topics_without_a_customer_managed_key_fail(props, problem):
    outcome = check(sqs_sns_encrypted, TOPIC, props, name="alerts-topic")
    assert len(outcome.violations) == 1 and problem in outcome.violations[0], outcome
    assert "'alerts-topic'" in outcome.violations[0]


def test_sse_flag_unknown_is_deferred():
    assert check(sqs_sns_encrypted, QUEUE, {"sqsManagedSseEnabled": UNKNOWN}).deferred


# ---- sns-alarm-topic-key-allows-cloudwatch (stack) ---------------------------------------------

ROOT_STATEMENT = allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
CLOUDWATCH_STATEMENT = allow(["kms:Decrypt", "kms:GenerateDataKey*"], "*",
                             Principal={"Service": "cloudwatch.amazonaws.com"})
TOPIC_ARN = f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts-topic"


def alarm_stack(key_policy, alarm_actions=(TOPIC_ARN,), via_alias=False, computed=False) -> list[Declared]:
    key = Declared("aws:kms/key:Key", "alerts-key", {"arn": KEY_ARN, "keyId": KEY_ARN.rsplit("/", 1)[1]})
    if key_policy is not None:
        key.props["policy"] = key_policy
    resources = [key]
    key_ref = KEY_ARN
    if via_alias:
        resources.append(Declared("aws:kms/alias:Alias", "alerts-alias",
                                  {"name": "alias/alerts", "targetKeyId": key.props["keyId"]}))
        key_ref = "alias/alerts"
    resources.append(Declared(TOPIC, "alerts-topic", {"arn": UNKNOWN if computed else TOPIC_ARN,
                                                      "kmsMasterKeyId": UNKNOWN if computed else key_ref},
                              property_deps={"kmsMasterKeyId": ["alerts-key"]} if computed else {}))
    resources.append(Declared("aws:cloudwatch/compositeAlarm:CompositeAlarm", "alerts-composite",
                              {"alarmActions": [UNKNOWN if computed else a for a in alarm_actions]},
                              property_deps={"alarmActions": ["alerts-topic"]} if computed else {}))
    return resources


@pytest.mark.parametrize("options", [{}, {"via_alias": True}, {"computed": True}], ids=["direct", "alias", "preview"])
def test_alarm_topic_key_granting_cloudwatch_passes(options):
    resources = alarm_stack(document(ROOT_STATEMENT, CLOUDWATCH_STATEMENT), **options)
    assert check_stack(sns_alarm_topic_key_allows_cloudwatch, resources) == []


@pytest.mark.parametrize("key_policy", [
    document(ROOT_STATEMENT),
    None,
    document(ROOT_STATEMENT, allow("kms:Decrypt", "*", Principal={"Service": "cloudwatch.amazonaws.com"})),
    document(ROOT_STATEMENT, allow(["kms:Decrypt", "kms:GenerateDataKey"], "*",
                                   Principal={"Service": "events.amazonaws.com"})),
], ids=["root-only", "default-policy", "decrypt-only", "other-service"])
@pytest.mark.parametrize("options", [{}, {"via_alias": True}, {"computed": True}], ids=["direct", "alias", "preview"])
def test_alarm_topic_key_not_granting_cloudwatch_fails(key_policy, options):
    violations = check_stack(sns_alarm_topic_key_allows_cloudwatch, alarm_stack(key_policy, **options))
    assert len(violations) == 1, violations
    message, urn = violations[0]
    assert urn.endswith("::alerts-topic") and "cloudwatch.amazonaws.com" in message and "'alerts-key'" in message


def test_topics_no_alarm_notifies_and_unknown_key_policies_are_not_judged():
    assert check_stack(sns_alarm_topic_key_allows_cloudwatch, alarm_stack(document(ROOT_STATEMENT),
                                                                          alarm_actions=())) == []
    assert check_stack(sns_alarm_topic_key_allows_cloudwatch, alarm_stack(UNKNOWN)) == []


def test_a_topic_with_a_key_from_outside_the_stack_is_not_judged():
    resources = [Declared(TOPIC, "t", {"arn": TOPIC_ARN, "kmsMasterKeyId": "arn:aws:kms:eu-west-1:1:key/other"}),
                 Declared("aws:cloudwatch/metricAlarm:MetricAlarm", "a", {"okActions": [TOPIC_ARN]})]
    assert check_stack(sns_alarm_topic_key_allows_cloudwatch, resources) == []
