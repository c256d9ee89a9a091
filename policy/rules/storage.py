"""S3 buckets the stack creates: private, encrypted and versioned; log groups that expire."""

from __future__ import annotations

from typing import Any, Callable

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rules.properties import MISSING, UNKNOWN, display, known, lookup, of_type, refers_to

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _configures(setting: PolicyResource, bucket: PolicyResource) -> bool | None:
    """Whether a bucket-level setting resource applies to `bucket`; None when it can't be told yet."""
    if refers_to(setting, "bucket", bucket, "bucket", "id"):
        return True
    return None if lookup(setting.props, "bucket") is UNKNOWN else False


def _bucket_rule(settings: tuple[str, ...], satisfied: Callable[[Any], bool], inline: Callable[[Any], bool],
                 problem: str):
    """A stack validation: every bucket has a setting resource (or inline block) that satisfies a check."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        candidates = of_type(args.resources, *settings)
        for bucket in of_type(args.resources, *BUCKETS):
            if inline(bucket.props):
                continue
            answers = [_configures(setting, bucket) for setting in candidates if satisfied(setting.props)]
            if True not in answers and None not in answers:
                report_violation(f"{display(bucket)} {problem}", bucket.urn)

    return validate


def _all_blocked(props: Any) -> bool:
    return all(lookup(props, flag) in (True, UNKNOWN) for flag in BLOCK_FLAGS)


def _public_access_blocked(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    if any(_all_blocked(block.props) for block in of_type(args.resources, ACCOUNT_PUBLIC_ACCESS_BLOCK)):
        return
    _bucket_rule(
        (PUBLIC_ACCESS_BLOCK,), _all_blocked, lambda _props: False,
        "has no public access block with all four settings on: add an aws.s3.BucketPublicAccessBlock with "
        "block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets set to True.",
    )(args, report_violation)


def _versioned(props: Any) -> bool:
    return lookup(props, "versioningConfiguration", "status") in ("Enabled", UNKNOWN)


def _inline_versioned(props: Any) -> bool:
    return lookup(props, "versioning", "enabled") is True


def _encrypted(props: Any) -> bool:
    rules = lookup(props, "rules")
    if rules is UNKNOWN:
        return True
    if rules is MISSING:
        return False
    return any(
        lookup(rules, index, "applyServerSideEncryptionByDefault", "sseAlgorithm") in (*SSE_ALGORITHMS, UNKNOWN)
        for index in range(len(rules))
    )


def _inline_encrypted(props: Any) -> bool:
    algorithm = lookup(props, "serverSideEncryptionConfiguration", "rule", "applyServerSideEncryptionByDefault",
                       "sseAlgorithm")
    return algorithm in SSE_ALGORITHMS


def _retention_set(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != LOG_GROUP:
        return
    days = known(args.props, "retentionInDays")
    if days is MISSING or days == 0:
        report_violation(f"{display(args)} keeps its logs forever: set retention_in_days (the stack file's "
                         "logRetentionDays).")


s3_public_access_blocked = StackValidationPolicy(
    name="s3-public-access-blocked",
    description="Every S3 bucket the stack creates blocks public access (all four settings).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_public_access_blocked,
)

s3_encryption_enabled = StackValidationPolicy(
    name="s3-encryption-enabled",
    description="Every S3 bucket the stack creates declares default encryption (SSE-S3 or SSE-KMS).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_bucket_rule(
        ENCRYPTION, _encrypted, _inline_encrypted,
        "declares no default encryption: add an aws.s3.BucketServerSideEncryptionConfiguration with an "
        "apply_server_side_encryption_by_default rule (sse_algorithm 'AES256' or 'aws:kms').",
    ),
)

s3_versioning_enabled = StackValidationPolicy(
    name="s3-versioning-enabled",
    description="Every S3 bucket the stack creates has versioning enabled.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_bucket_rule(
        VERSIONING, _versioned, _inline_versioned,
        "is not versioned: add an aws.s3.BucketVersioning with versioning_configuration status 'Enabled', "
        "so an overwritten or deleted object can be restored.",
    ),
)

logs_retention_set = ResourceValidationPolicy(
    name="logs-retention-set",
    description="Every CloudWatch log group has a retention period.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_retention_set,
)

POLICIES = [logs_retention_set]
STACK_POLICIES = [s3_public_access_blocked, s3_encryption_enabled, s3_versioning_enabled]
