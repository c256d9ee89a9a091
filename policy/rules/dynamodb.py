"""DynamoDB tables: recoverable, protected from deletion, encrypted with a key we control."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from rules.properties import UNKNOWN, display, known, lookup
from rules.stacks import PRODUCTION_STACKS, ProductionMandatoryPolicy

TABLE = "aws:dynamodb/table:Table"


def _pitr_enabled(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TABLE:
        return
    if known(args.props, "pointInTimeRecovery", "enabled") is not True:
        report_violation(
            f"{display(args)} has point-in-time recovery off: set "
            "point_in_time_recovery={'enabled': True} so a bad load can be rolled back."
        )


def _deletion_protection(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TABLE:
        return
    if known(args.props, "deletionProtectionEnabled") is not True:
        report_violation(
            f"{display(args)} can be deleted: set deletion_protection_enabled=True "
            "(table.deletionProtection: true in the stack file)."
        )


def _customer_managed_key(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TABLE:
        return
    enabled = known(args.props, "serverSideEncryption", "enabled")
    # A key ARN computed from a key resource is unknown during preview, but set all the same.
    key_arn = lookup(args.props, "serverSideEncryption", "kmsKeyArn")
    if enabled is True and (key_arn is UNKNOWN or (isinstance(key_arn, str) and key_arn)):
        return
    which = "the AWS-managed key aws/dynamodb" if enabled is True else "DynamoDB's AWS-owned key"
    report_violation(
        f"{display(args)} is encrypted at rest with {which}, not a customer-managed key: set "
        "table.kmsKeyArn in the stack file to a key ARN if you need to control or audit the key."
    )


dynamodb_pitr_enabled = ResourceValidationPolicy(
    name="dynamodb-pitr-enabled",
    description="DynamoDB tables have point-in-time recovery enabled.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_pitr_enabled,
)

dynamodb_deletion_protection = ProductionMandatoryPolicy(
    name="dynamodb-deletion-protection",
    description=(
        "DynamoDB tables have deletion protection "
        f"(mandatory on {', '.join(sorted(PRODUCTION_STACKS))}, advisory on other stacks)."
    ),
    validate=_deletion_protection,
)

dynamodb_customer_managed_key = ResourceValidationPolicy(
    name="dynamodb-customer-managed-key",
    description=(
        "DynamoDB tables are encrypted with a customer-managed KMS key "
        "(DynamoDB always encrypts at rest; by default with an AWS-owned key)."
    ),
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_customer_managed_key,
)

POLICIES = [dynamodb_pitr_enabled, dynamodb_deletion_protection, dynamodb_customer_managed_key]
