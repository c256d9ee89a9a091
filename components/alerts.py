"""The alert topic and the one composite alarm that notifies it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from .config import AlertsConfig
from .naming import physical_name

@dataclass(frozen=True)
class AlertsArgs:
    """What the alerts component needs."""

    config: AlertsConfig
    """Who is notified."""
    alarms: Sequence[aws.cloudwatch.MetricAlarm]
    """Child alarms (without actions of their own); any of them in ALARM raises the alert."""


def topic_key_policy(
    partition: pulumi.Input[str], account: pulumi.Input[str], alarm_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """The topic key's policy: the account administers it, the composite alarm may encrypt with it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # Without this statement nobody, not even the account, could manage the key.
                "Sid": "AccountAdministersKey",
                "Effect": "Allow",
                "Principal": {"AWS": pulumi.Output.concat("arn:", partition, ":iam::", account, ":root")},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                # CloudWatch publishes to an encrypted topic with its own KMS permissions; with the
                # AWS-managed alias/aws/sns key it cannot, and only the alarm history shows it.
                "Sid": "CompositeAlarmEncryptsNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnEquals": {"aws:SourceArn": alarm_arn},
                },
            },
        ],
    }


def topic_policy(
    topic_arn: pulumi.Input[str], account: pulumi.Input[str], alarm_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """The topic's access policy: only this stack's composite alarm may publish."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CompositeAlarmPublishes",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnEquals": {"aws:SourceArn": alarm_arn},
                },
            }
        ],
    }


def alarm_rule(alarm_arns: Sequence[str]) -> str:
    """A composite alarm rule that is in ALARM while any child alarm is."""
    return " OR ".join(f'ALARM("{arn}")' for arn in alarm_arns)


def _subscription_name(name: str, email: str) -> str:
    # Named by the address, not its position, so reordering the list never re-subscribes anyone.
    return f"{name}-email-{hashlib.sha1(email.lower().encode()).hexdigest()[:10]}"


class Alerts(pulumi.ComponentResource):
    """One encrypted SNS topic and one composite alarm over every child alarm, notifying on ALARM and OK."""

    topic_arn: pulumi.Output[str]
    alarm_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        if not args.alarms:
            raise ValueError(f"Alerts {name!r}: no child alarms given; the composite alarm needs at least one")
        super().__init__("data-api:index:Alerts", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)

        account = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region
        partition = aws.get_partition_output(opts=invoke).partition
        composite_name = physical_name(name)
        # Named up front so the key and topic policies can name the one alarm allowed to use them
        # before the alarm (which needs the topic) exists.
        composite_arn = pulumi.Output.concat(
            "arn:", partition, ":cloudwatch:", region, ":", account, ":alarm:", composite_name
        )

        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {composite_name} alert topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(topic_key_policy(partition, account, composite_arn)),
            opts=child,
        )
        topic = aws.sns.Topic(
            f"{name}-topic",
            display_name=composite_name,
            kms_master_key_id=key.arn,
            opts=child,
        )
        access = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.json_dumps(topic_policy(topic.arn, account, composite_arn)),
            opts=child,
        )
        for email in args.config.emails:
            aws.sns.TopicSubscription(
                _subscription_name(name, email),
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )

        composite = aws.cloudwatch.CompositeAlarm(
            f"{name}-composite",
            alarm_name=composite_name,
            alarm_description=(
                "Something in the data pipeline needs attention: the state reason names the child "
                "alarm(s) in ALARM; see docs/operations.md (Alerts) for what each means. "
                "A second message follows when everything is OK again."
            ),
            alarm_rule=pulumi.Output.all(*[alarm.arn for alarm in args.alarms]).apply(alarm_rule),
            actions_enabled=True,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            # The first state change must find the topic policy and the key grant in place.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access, key]),
        )

        self.topic_arn = topic.arn
        self.alarm_arn = composite.arn
        self.register_outputs({"topic_arn": self.topic_arn, "alarm_arn": self.alarm_arn})
