"""The Alerts component: an encrypted topic CloudWatch can use, and one composite alarm with actions."""

from __future__ import annotations

import re

import pytest

from components.alerts import Alerts, AlertsArgs, alarm_rule
from components.config import AlertsConfig

from harness import ACCOUNT, Program, policy_document

ALERTS = "data-api:index:Alerts"
KEY = "aws:kms/key:Key"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def alerts_child(program: Program, type_: str):
    found = [r for r in program.children_of(ALERTS) if r.type == type_]
    assert len(found) == 1, f"expected one {type_} in Alerts, found {[r.urn for r in found]}"
    return found[0]


def statement(document, sid: str, urn: str) -> dict:
    found = [s for s in policy_document(document)["Statement"] if s.get("Sid") == sid]
    assert len(found) == 1, f"{urn}: expected one statement {sid!r}"
    return found[0]


def test_topic_is_encrypted_with_its_own_rotating_key(prod_program):
    key = alerts_child(prod_program, KEY)
    topic = alerts_child(prod_program, TOPIC)
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"], topic.urn
    assert "alias/aws/sns" not in str(topic.inputs["kmsMasterKeyId"]), topic.urn
    assert key.inputs["enableKeyRotation"] is True, key.urn


def test_key_policy_lets_the_account_administer_and_cloudwatch_encrypt(prod_program):
    key = alerts_child(prod_program, KEY)
    composite = alerts_child(prod_program, COMPOSITE)
    document = key.inputs["policy"]
    admin = statement(document, "AccountAdministersKey", key.urn)
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, key.urn
    assert admin["Action"] == "kms:*", key.urn
    cloudwatch = statement(document, "CompositeAlarmEncryptsNotifications", key.urn)
    assert cloudwatch["Effect"] == "Allow", key.urn
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}, key.urn
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"], key.urn
    assert cloudwatch["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnEquals": {"aws:SourceArn": composite.outputs["arn"]},
    }, f"{key.urn}: CloudWatch may use the key only for {composite.urn}"
    principals = [s["Principal"] for s in policy_document(document)["Statement"]]
    assert len(principals) == 2, f"{key.urn}: {principals}"


def test_topic_policy_lets_only_the_composite_alarm_publish(prod_program):
    topic = alerts_child(prod_program, TOPIC)
    access = alerts_child(prod_program, TOPIC_POLICY)
    composite = alerts_child(prod_program, COMPOSITE)
    assert access.inputs["arn"] == topic.outputs["arn"], access.urn
    assert policy_document(access.inputs["policy"])["Statement"] == [
        {
            "Sid": "CompositeAlarmPublishes",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic.outputs["arn"],
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnEquals": {"aws:SourceArn": composite.outputs["arn"]},
            },
        }
    ], access.urn


def test_configured_emails_are_subscribed(prod_program, dev_program):
    topic = alerts_child(prod_program, TOPIC)
    subscriptions = [r for r in prod_program.children_of(ALERTS) if r.type == SUBSCRIPTION]
    assert [(s.inputs["protocol"], s.inputs["endpoint"], s.inputs["topic"]) for s in subscriptions] == [
        ("email", "data-platform-oncall@example.com", topic.outputs["arn"])
    ], [s.urn for s in subscriptions]
    assert not [r for r in dev_program.children_of(ALERTS) if r.type == SUBSCRIPTION], "dev sets no e-mails"


def test_subscriptions_survive_reordering_the_list(program_with):
    emails = ["a@example.com", "b@example.com"]

    def names(order):
        program = program_with(lambda c: c["data-api:alerts"].update(emails=order))
        return {r.inputs["endpoint"]: r.name for r in program.children_of(ALERTS) if r.type == SUBSCRIPTION}

    forward, backward = names(emails), names(list(reversed(emails)))
    assert set(forward) == set(emails), forward
    assert forward == backward, f"reordering renamed subscriptions: {forward} vs {backward}"


def test_composite_alarm_covers_every_child_alarm_and_notifies_on_alarm_and_ok(prod_program):
    composite = alerts_child(prod_program, COMPOSITE)
    topic = alerts_child(prod_program, TOPIC)
    children = prod_program.of_type(ALARM)
    assert len(children) >= 3, [c.urn for c in children]
    referenced = re.findall(r'ALARM\("([^"]+)"\)', composite.inputs["alarmRule"])
    assert sorted(referenced) == sorted(c.outputs["arn"] for c in children), composite.urn
    assert composite.inputs["alarmRule"] == " OR ".join(f'ALARM("{arn}")' for arn in referenced), composite.urn
    assert composite.inputs["alarmActions"] == [topic.outputs["arn"]], composite.urn
    assert composite.inputs["okActions"] == [topic.outputs["arn"]], composite.urn
    assert composite.inputs["actionsEnabled"] is True, composite.urn
    access = alerts_child(prod_program, TOPIC_POLICY)
    assert access.urn in composite.depends_on, f"{composite.urn} must wait for {access.urn} (depends_on)"


def test_only_the_composite_alarm_has_actions(prod_program, dev_program):
    for program in (prod_program, dev_program):
        with_actions = [
            r.urn
            for r in program.of_type(ALARM) + program.of_type(COMPOSITE)
            if r.inputs.get("alarmActions") or r.inputs.get("okActions") or r.inputs.get("insufficientDataActions")
        ]
        assert with_actions == [alerts_child(program, COMPOSITE).urn], with_actions


def test_composite_alarm_name_is_unique_per_stack(prod_program, dev_program):
    names = {alerts_child(p, COMPOSITE).inputs["alarmName"] for p in (prod_program, dev_program)}
    assert names == {"data-api-prod-alerts", "data-api-dev-alerts"}, names


def test_topic_arn_is_exported(prod_program):
    assert prod_program.exports["alertTopicArn"] == alerts_child(prod_program, TOPIC).outputs["arn"]


def test_alarm_rule_is_an_or_of_its_children():
    assert alarm_rule(["arn:a", "arn:b"]) == 'ALARM("arn:a") OR ALARM("arn:b")'


def test_alerts_without_child_alarms_are_refused():
    with pytest.raises(ValueError, match="no child alarms"):
        Alerts("alerts", AlertsArgs(config=AlertsConfig(emails=(), freshness_hours=26), alarms=[]))
