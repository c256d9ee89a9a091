"""DynamoDB rules, one resource at a time."""

from __future__ import annotations

import pytest
from pulumi_policy import EnforcementLevel

from rule_checks import UNKNOWN, check

from rules.dynamodb import dynamodb_customer_managed_key, dynamodb_deletion_protection, dynamodb_pitr_enabled

TABLE = "aws:dynamodb/table:Table"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def test_pitr_on_passes():
    assert check(dynamodb_pitr_enabled, TABLE, {"pointInTimeRecovery": {"enabled": True}}).violations == []


@pytest.mark.parametrize("props", [{"pointInTimeRecovery": {"enabled": False}}, {}], ids=["off", "missing"])
def test_pitr_off_or_missing_fails_with_the_fix(props):
    outcome = check(dynamodb_pitr_enabled, TABLE, props, name="data-table")
    assert len(outcome.violations) == 1, outcome
    assert "'data-table'" in outcome.violations[0]
    assert "point_in_time_recovery={'enabled': True}" in outcome.violations[0]


def test_pitr_unknown_is_deferred_not_crashed():
    outcome = check(dynamodb_pitr_enabled, TABLE, {"pointInTimeRecovery": {"enabled": UNKNOWN}})
    assert outcome.violations == [] and "can't be known during preview" in outcome.deferred


def test_pitr_ignores_other_types():
    assert check(dynamodb_pitr_enabled, "aws:s3/bucket:Bucket", {}).violations == []


def test_deletion_protection_on_passes():
    assert check(dynamodb_deletion_protection, TABLE, {"deletionProtectionEnabled": True}).violations == []


@pytest.mark.parametrize("props", [{"deletionProtectionEnabled": False}, {}], ids=["off", "missing"])
def test_deletion_protection_off_or_missing_fails(props):
    outcome = check(dynamodb_deletion_protection, TABLE, props)
    assert len(outcome.violations) == 1 and "deletion_protection_enabled=True" in outcome.violations[0], outcome


def test_deletion_protection_unknown_is_deferred():
    outcome = check(dynamodb_deletion_protection, TABLE, {"deletionProtectionEnabled": UNKNOWN})
    assert outcome.violations == [] and outcome.deferred


@pytest.mark.parametrize("stack, level", [
    ("prod", EnforcementLevel.MANDATORY),
    ("dev", EnforcementLevel.ADVISORY),
    ("acme/data-api/prod", EnforcementLevel.MANDATORY),
    ("acme/data-api/staging", EnforcementLevel.ADVISORY),
])
def test_deletion_protection_is_mandatory_only_on_prod(monkeypatch, stack, level):
    monkeypatch.setenv("PULUMI_STACK", stack)
    assert dynamodb_deletion_protection.enforcement_level == level, stack


def test_deletion_protection_is_mandatory_when_the_stack_is_not_named(monkeypatch):
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    assert dynamodb_deletion_protection.enforcement_level == EnforcementLevel.MANDATORY


def test_customer_managed_key_passes():
    props = {"serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN}}
    assert check(dynamodb_customer_managed_key, TABLE, props).violations == []


def test_customer_managed_key_computed_from_a_key_resource_counts_as_set():
    props = {"serverSideEncryption": {"enabled": True, "kmsKeyArn": UNKNOWN}}
    outcome = check(dynamodb_customer_managed_key, TABLE, props)
    assert outcome.violations == [] and outcome.deferred is None


@pytest.mark.parametrize("props, which", [
    ({}, "AWS-owned key"),
    ({"serverSideEncryption": {"enabled": True}}, "AWS-managed key aws/dynamodb"),
    ({"serverSideEncryption": {"enabled": False, "kmsKeyArn": ""}}, "AWS-owned key"),
], ids=["no-sse", "aws-managed", "disabled"])
def test_customer_managed_key_missing_is_reported(props, which):
    outcome = check(dynamodb_customer_managed_key, TABLE, props)
    assert len(outcome.violations) == 1 and which in outcome.violations[0], outcome
    assert "table.kmsKeyArn" in outcome.violations[0]


def test_customer_managed_key_is_advisory():
    assert dynamodb_customer_managed_key.enforcement_level == EnforcementLevel.ADVISORY
