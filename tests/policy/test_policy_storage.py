"""S3 bucket rules (public access, encryption, versioning) and log retention."""

from __future__ import annotations

import pytest

from rule_checks import UNKNOWN, Declared, check, check_stack

from rules.storage import logs_retention_set, s3_encryption_enabled, s3_public_access_blocked, s3_versioning_enabled

BUCKET = "aws:s3/bucket:Bucket"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
ALL_BLOCKED = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
               "restrictPublicBuckets": True}
SSE = {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}


def bucket(name="publish", **props) -> Declared:
    return Declared(BUCKET, name, {"bucket": f"{name}-57c7d53", "id": f"{name}-57c7d53",
                                   "arn": f"arn:aws:s3:::{name}-57c7d53", **props})


def setting(resource_type, name, bucket_name, props, **links) -> Declared:
    return Declared(resource_type, name, {"bucket": bucket_name, **props}, **links)


def compliant(name="publish") -> list[Declared]:
    physical = f"{name}-57c7d53"
    return [
        bucket(name),
        setting(BLOCK, f"{name}-block", physical, ALL_BLOCKED),
        setting(VERSIONING, f"{name}-versioning", physical, {"versioningConfiguration": {"status": "Enabled"}}),
        setting(ENCRYPTION, f"{name}-encryption", physical, SSE),
    ]


RULES = (s3_public_access_blocked, s3_encryption_enabled, s3_versioning_enabled)


@pytest.mark.parametrize("policy", RULES, ids=lambda p: p.name)
def test_a_fully_configured_bucket_passes(policy):
    assert check_stack(policy, compliant()) == []


@pytest.mark.parametrize("policy", RULES, ids=lambda p: p.name)
def test_settings_linked_by_dependency_during_preview_pass(policy):
    resources = [bucket("publish", bucket=UNKNOWN, id=UNKNOWN)]
    for resource in compliant()[1:]:
        resources.append(Declared(resource.type, resource.name, {**resource.props, "bucket": UNKNOWN},
                                  property_deps={"bucket": ["publish"]}))
    assert check_stack(policy, resources) == []


@pytest.mark.parametrize("policy, dropped, fix", [
    (s3_public_access_blocked, BLOCK, "BucketPublicAccessBlock"),
    (s3_encryption_enabled, ENCRYPTION, "BucketServerSideEncryptionConfiguration"),
    (s3_versioning_enabled, VERSIONING, "BucketVersioning"),
], ids=lambda value: getattr(value, "name", None))
def test_a_bucket_missing_its_setting_fails(policy, dropped, fix):
    resources = [r for r in compliant("source") if r.type != dropped] + compliant("publish")
    violations = check_stack(policy, resources)
    assert len(violations) == 1, violations
    message, urn = violations[0]
    assert urn.endswith("::source") and fix in message and "'source'" in message


@pytest.mark.parametrize("policy, resource_type, props", [
    (s3_public_access_blocked, BLOCK, {**ALL_BLOCKED, "restrictPublicBuckets": False}),
    (s3_public_access_blocked, BLOCK, {"blockPublicAcls": True}),
    (s3_encryption_enabled, ENCRYPTION, {"rules": [{"bucketKeyEnabled": True}]}),
    (s3_versioning_enabled, VERSIONING, {"versioningConfiguration": {"status": "Suspended"}}),
], ids=["one-flag-off", "flags-missing", "no-default-rule", "suspended"])
def test_a_setting_that_falls_short_fails(policy, resource_type, props):
    resources = [r if r.type != resource_type else setting(resource_type, r.name, "publish-57c7d53", props)
                 for r in compliant()]
    assert len(check_stack(policy, resources)) == 1


def test_a_setting_for_another_bucket_does_not_count():
    resources = [bucket("publish"), setting(VERSIONING, "v", "someone-elses-bucket",
                                            {"versioningConfiguration": {"status": "Enabled"}})]
    assert len(check_stack(s3_versioning_enabled, resources)) == 1


def test_inline_versioning_and_encryption_count():
    inline = bucket("legacy", versioning={"enabled": True}, serverSideEncryptionConfiguration={
        "rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}})
    assert check_stack(s3_versioning_enabled, [inline]) == []
    assert check_stack(s3_encryption_enabled, [inline]) == []


def test_an_account_wide_public_access_block_covers_every_bucket():
    resources = [bucket("publish"), Declared("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
                                             "account-block", dict(ALL_BLOCKED))]
    assert check_stack(s3_public_access_blocked, resources) == []


def test_undecidable_settings_are_not_reported_and_no_bucket_means_nothing_to_check():
    resources = [bucket("publish"), setting(VERSIONING, "v", UNKNOWN, {"versioningConfiguration": {"status": "Enabled"}})]
    assert check_stack(s3_versioning_enabled, resources) == []
    for policy in RULES:
        assert check_stack(policy, [setting(BLOCK, "orphan", "b", ALL_BLOCKED)]) == [], policy.name


# ---- logs-retention-set ------------------------------------------------------------------------

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@pytest.mark.parametrize("props, violations", [
    ({"retentionInDays": 90}, 0), ({"retentionInDays": 0}, 1), ({"name": "/aws/lambda/x"}, 1)],
    ids=["set", "never-expire", "missing"])
def test_log_retention(props, violations):
    outcome = check(logs_retention_set, LOG_GROUP, props, name="loader-logs")
    assert len(outcome.violations) == violations, outcome
    if violations:
        assert "retention_in_days" in outcome.violations[0] and "'loader-logs'" in outcome.violations[0]


def test_log_retention_unknown_is_deferred():
    assert check(logs_retention_set, LOG_GROUP, {"retentionInDays": UNKNOWN}).deferred
