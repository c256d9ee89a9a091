"""IAM: exact actions on exact resources, no AWS-managed policies, no open trust."""

from __future__ import annotations

import re
from typing import Callable

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from rules.documents import (
    IDENTITY,
    KEY,
    RESOURCE,
    TRUST,
    DocumentError,
    PolicyDocument,
    account_logging_grants,
    documents,
    wildcard_actions,
    wildcard_principals,
    wildcard_resources,
)
from rules.properties import UNKNOWN, as_list, display, known, lookup, of_type, refers_to

AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")
# Where a role, user or group gets a managed policy attached, and the property naming the policy.
ATTACHMENTS: dict[str, str] = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "policyArn",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "policyArn",
    "aws:iam/role:Role": "managedPolicyArns",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": "policyArns",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive": "policyArns",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive": "policyArns",
}
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
APIGATEWAY_ACCOUNT = "aws:apigateway/account:Account"


def _document_rule(kinds: set[str], check: Callable[[PolicyDocument], list[str]]):
    """A validation running `check` over every policy document of the given kinds on a resource."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for document in documents(args.resource_type, args.props, kinds):
            try:
                findings = check(document)
            except DocumentError as error:
                findings = [f"{error}: write the policy as a JSON object with a Statement list "
                            "(pulumi.Output.json_dumps of a dict)"]
            for finding in findings:
                report_violation(f"{display(args)}: {finding}.")

    return validate


def _no_managed_policies(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    key = ATTACHMENTS.get(args.resource_type)
    if key is None:
        return
    for arn in as_list(known(args.props, key)):
        if isinstance(arn, str) and AWS_MANAGED_POLICY.match(arn):
            report_violation(
                f"{display(args)} attaches the AWS-managed policy {arn!r} ({key}): AWS-managed policies "
                "grant far more than one component needs and change without notice; write an inline "
                "policy naming the exact actions and ARNs instead."
            )


iam_no_wildcard_actions = ResourceValidationPolicy(
    name="iam-no-wildcard-actions",
    description="IAM and resource policies name every action they allow; no wildcard actions.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_document_rule({IDENTITY, TRUST, RESOURCE, KEY}, wildcard_actions),
)

iam_no_wildcard_resources = ResourceValidationPolicy(
    name="iam-no-wildcard-resources",
    description=(
        "IAM and resource policies name exact ARNs; wildcards only for a log group's streams, the objects "
        "under an S3 prefix, API Gateway's account logging role, and actions that accept only '*' "
        "(KMS key policies are exempt: their Resource '*' is the key itself)."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_document_rule({IDENTITY, RESOURCE}, wildcard_resources),
)

iam_no_managed_policies = ResourceValidationPolicy(
    name="iam-no-managed-policies",
    description="No AWS-managed IAM policies are attached; every role gets its own least-privilege policy.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_no_managed_policies,
)

iam_trust_no_wildcard_principal = ResourceValidationPolicy(
    name="iam-trust-no-wildcard-principal",
    description=(
        "Trust, resource and key policies allow no '*' principal and no NotPrincipal; "
        "a service role trusts exactly one service."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_document_rule({TRUST, RESOURCE, KEY}, wildcard_principals),
)


# ---- Stack: API Gateway's account logging grants belong to the account's logging role only ----


def _owning_roles(holder: PolicyResource, resources: list[PolicyResource]) -> list[PolicyResource] | None:
    """The roles that hold a policy-bearing resource's permissions; None when that can't be told yet."""
    roles = of_type(resources, ROLE)
    if holder.resource_type == ROLE:
        return [holder]
    if holder.resource_type == ROLE_POLICY:
        owners = [role for role in roles if refers_to(holder, "role", role, "name", "id")]
        return owners or (None if lookup(holder.props, "role") is UNKNOWN else [])
    if holder.resource_type == MANAGED_POLICY:
        owners = []
        for attachment in of_type(resources, ROLE_POLICY_ATTACHMENT):
            if refers_to(attachment, "policyArn", holder, "arn", "id"):
                found = [role for role in roles if refers_to(attachment, "role", role, "name", "id")]
                if not found and lookup(attachment.props, "role") is UNKNOWN:
                    return None
                owners.extend(found)
        return owners
    return []


def _account_logging_role_scoped(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    account_roles = {
        role.urn
        for account in of_type(args.resources, APIGATEWAY_ACCOUNT)
        for role in of_type(args.resources, ROLE)
        if refers_to(account, "cloudwatchRoleArn", role, "arn")
    }
    for holder in of_type(args.resources, ROLE, ROLE_POLICY, MANAGED_POLICY):
        try:
            grants = [grant for document in documents(holder.resource_type, holder.props, {IDENTITY})
                      for grant in account_logging_grants(document)]
        except (DocumentError, UnknownValueError):
            # Unreadable documents fail the resource rules; unknown ones are checked at `pulumi up`.
            continue
        if not grants:
            continue
        owners = _owning_roles(holder, args.resources)
        if owners is None:
            continue
        strangers = [role for role in owners if role.urn not in account_roles]
        if not owners or strangers:
            whose = (f"role {', '.join(repr(role.name) for role in strangers)}" if strangers
                     else "no role this stack declares")
            report_violation(
                f"{display(holder)} grants {'; '.join(grants)} to {whose}, which is not the CloudWatch role "
                "of an aws.apigateway.Account in this stack: only the account-wide API Gateway logging role "
                "may write API Gateway's log groups by prefix or list log groups; name exact log groups elsewhere.",
                holder.urn,
            )


iam_account_logging_role_scoped = StackValidationPolicy(
    name="iam-account-logging-role-scoped",
    description=(
        "API Gateway's log groups by prefix (API-Gateway-Execution-Logs_*, /aws/apigateway/<project>/*) and "
        "logs:DescribeLogGroups on every log group are granted only to the CloudWatch role of an "
        "aws.apigateway.Account in the same stack."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_account_logging_role_scoped,
)

POLICIES = [
    iam_no_wildcard_actions,
    iam_no_wildcard_resources,
    iam_no_managed_policies,
    iam_trust_no_wildcard_principal,
]
STACK_POLICIES = [iam_account_logging_role_scoped]
