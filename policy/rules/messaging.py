"""SQS queues and SNS topics: encrypted, and alarm topics with a key CloudWatch may use."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rules.documents import KEY, DocumentError, PolicyDocument, statements
from rules.properties import MISSING, UNKNOWN, display, known, lookup, of_type, refers_to

QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
KMS_ALIAS = "aws:kms/alias:Alias"
ALARMS = ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm")
ALARM_ACTIONS = ("alarmActions", "okActions", "insufficientDataActions")
AWS_MANAGED_KEY = re.compile(r"(?:^|:)alias/aws/")
CLOUDWATCH = "cloudwatch.amazonaws.com"
CLOUDWATCH_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
"""What CloudWatch needs on the key of an encrypted topic it publishes alarm notifications to."""


def _set(value: Any) -> bool:
    """Set to something: a non-empty value, or one computed from another resource (unknown in preview)."""
    return value is UNKNOWN or (value is not MISSING and value != "")


def _encrypted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == QUEUE:
        if _set(lookup(args.props, "kmsMasterKeyId")) or known(args.props, "sqsManagedSseEnabled") is True:
            return
        report_violation(f"{display(args)} declares no encryption: set sqs_managed_sse_enabled=True, or "
                         "kms_master_key_id to a customer-managed key.")
    elif args.resource_type == TOPIC:
        key = lookup(args.props, "kmsMasterKeyId")
        if not _set(key):
            report_violation(f"{display(args)} is not encrypted: set kms_master_key_id to a customer-managed "
                             "KMS key whose policy lets the publishing services (cloudwatch.amazonaws.com) use it.")
        elif isinstance(key, str) and AWS_MANAGED_KEY.search(key):
            report_violation(f"{display(args)} is encrypted with the AWS-managed key {key!r}: CloudWatch alarms "
                             "cannot use it, so their notifications are silently dropped; use a "
                             "customer-managed key that grants cloudwatch.amazonaws.com kms:Decrypt and "
                             "kms:GenerateDataKey.")


def _publishes_to(alarm: PolicyResource, topic: PolicyResource) -> bool:
    for key in ALARM_ACTIONS:
        if any(dependency.urn == topic.urn for dependency in alarm.property_dependencies.get(key, [])):
            return True
        actions = lookup(alarm.props, key)
        if actions in (MISSING, UNKNOWN):
            continue
        for index in range(len(actions)):
            if refers_to(alarm, key, topic, "arn", "id", value=lookup(actions, index)):
                return True
    return False


def _topic_key(topic: PolicyResource, resources: list[PolicyResource]) -> PolicyResource | None:
    """The stack's KMS key a topic is encrypted with (directly or through an alias), if it declares it."""
    keys = of_type(resources, KMS_KEY)
    for key in keys:
        if refers_to(topic, "kmsMasterKeyId", key, "arn", "keyId", "id"):
            return key
    for alias in of_type(resources, KMS_ALIAS):
        if refers_to(topic, "kmsMasterKeyId", alias, "name", "arn"):
            for key in keys:
                if refers_to(alias, "targetKeyId", key, "keyId", "arn", "id"):
                    return key
    return None


def _key_policy(key: PolicyResource, resources: list[PolicyResource]) -> Any:
    for policy in of_type(resources, KMS_KEY_POLICY):
        if refers_to(policy, "keyId", key, "keyId", "arn", "id"):
            return lookup(policy.props, "policy")
    return lookup(key.props, "policy")


def _grants_cloudwatch(policy_text: str) -> bool:
    for statement in statements(PolicyDocument(KEY, "policy", policy_text)):
        if not statement.allows or statement.not_action or ("Service", CLOUDWATCH) not in statement.principals:
            continue
        patterns = [action.lower() for action in statement.actions]
        if all(any(fnmatch.fnmatchcase(needed.lower(), pattern) for pattern in patterns)
               for needed in CLOUDWATCH_KEY_ACTIONS):
            return True
    return False


def _alarm_topic_key(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    alarms = of_type(args.resources, *ALARMS)
    for topic in of_type(args.resources, TOPIC):
        if not any(_publishes_to(alarm, topic) for alarm in alarms):
            continue
        key = _topic_key(topic, args.resources)
        if key is None:
            continue
        policy = _key_policy(key, args.resources)
        if policy is UNKNOWN:
            continue
        try:
            granted = isinstance(policy, str) and bool(policy) and _grants_cloudwatch(policy)
        except DocumentError:
            granted = False
        if not granted:
            report_violation(
                f"{display(topic)} receives alarm notifications but its key {display(key)} does not let "
                f"{CLOUDWATCH} use it, so every notification is dropped: add a key policy statement allowing "
                f"{CLOUDWATCH} {' and '.join(CLOUDWATCH_KEY_ACTIONS)} (conditioned on aws:SourceArn of the alarm).",
                topic.urn,
            )


sqs_sns_encrypted = ResourceValidationPolicy(
    name="sqs-sns-encrypted",
    description=(
        "SQS queues declare encryption; SNS topics use a customer-managed KMS key (with alias/aws/sns, "
        "CloudWatch's alarm notifications are dropped)."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_encrypted,
)

sns_alarm_topic_key_allows_cloudwatch = StackValidationPolicy(
    name="sns-alarm-topic-key-allows-cloudwatch",
    description="The KMS key of every SNS topic that alarms notify lets cloudwatch.amazonaws.com use it.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_alarm_topic_key,
)

POLICIES = [sqs_sns_encrypted]
STACK_POLICIES = [sns_alarm_topic_key_allows_cloudwatch]
