"""IAM policy documents: where resources carry them, and the few wildcards AWS leaves no alternative to."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from rules.properties import MISSING, as_list, known, plain

IDENTITY = "identity"
"""A policy granting a role (user, group) permissions."""
TRUST = "trust"
"""A role's trust policy: who may assume it."""
RESOURCE = "resource"
"""A resource policy on a bucket, queue or topic: who may use that resource."""
KEY = "key"
"""A KMS key policy, where `Resource: "*"` means "this key" and is the only form AWS accepts."""

# Every resource property that holds a policy document, and what kind of document it is.
DOCUMENT_PROPERTIES: dict[str, tuple[tuple[str, str], ...]] = {
    "aws:iam/policy:Policy": (("policy", IDENTITY),),
    "aws:iam/rolePolicy:RolePolicy": (("policy", IDENTITY),),
    "aws:iam/userPolicy:UserPolicy": (("policy", IDENTITY),),
    "aws:iam/groupPolicy:GroupPolicy": (("policy", IDENTITY),),
    "aws:iam/role:Role": (("assumeRolePolicy", TRUST),),
    "aws:s3/bucketPolicy:BucketPolicy": (("policy", RESOURCE),),
    "aws:sqs/queue:Queue": (("policy", RESOURCE),),
    "aws:sqs/queuePolicy:QueuePolicy": (("policy", RESOURCE),),
    "aws:sns/topic:Topic": (("policy", RESOURCE),),
    "aws:sns/topicPolicy:TopicPolicy": (("policy", RESOURCE),),
    "aws:kms/key:Key": (("policy", KEY),),
    "aws:kms/keyPolicy:KeyPolicy": (("policy", KEY),),
}
ROLE = "aws:iam/role:Role"

# ---- The allow-list: every wildcard shape the rules accept, each named ------------------------

LOG_STREAMS = re.compile(r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:[^*?:]+:(?:log-stream:)?\*$")
"""A log group's streams, `arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*` (NAME without wildcard)."""
S3_PREFIX_OBJECTS = re.compile(r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]*/[^*?]+\*$")
"""The objects under a non-empty key prefix, `arn:aws:s3:::BUCKET/PREFIX*` (no other wildcard)."""
STAR_ONLY_ACTIONS = frozenset({"xray:puttracesegments", "xray:puttelemetryrecords"})
"""Actions whose only resource is `*`: X-Ray's trace upload, which Lambda active tracing needs."""
ACCOUNT_ROLE_LOG_GROUPS = re.compile(
    r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:"
    r"(?:API-Gateway-Execution-Logs_|/aws/apigateway/[^*?:]+/)\*(?::\*|:log-stream:\*)?$"
)
"""API Gateway's log groups and their streams: the execution logs it names itself
(`API-Gateway-Execution-Logs_*`) and access-log groups under one `/aws/apigateway/<project>/` prefix.
Every API in the account and region logs through the one role of `aws.apigateway.Account`, so only
that role may hold them (the stack rule iam-account-logging-role-scoped checks which role does)."""
ACCOUNT_ROLE_LIST_ACTIONS = frozenset({"logs:describeloggroups"})
"""Listing log groups, which IAM authorises only against every group of the account and region
(`*` or `log-group:*`): again the account-wide logging role's alone."""
EVERY_LOG_GROUP = re.compile(r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:\*$")
KEY_ADMIN_ACTION = "kms:*"
"""In a key policy, allowed to an account root principal only (`arn:aws:iam::ACCOUNT:root`): AWS's
default key policy statement, which hands the key's access control to that account's IAM policies."""
KEY_DATA_KEY_ACTION = "kms:generatedatakey*"
"""In a key policy, AWS's documented form for services that publish to encrypted SNS topics or SQS queues."""
ACCOUNT_ROOT = re.compile(r"^(?:arn:aws[a-z-]*:iam::\d{12}:root|\d{12})$")

ALLOWED_RESOURCE_SHAPES = (
    "a log group's streams (arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*), "
    "the objects under an S3 prefix (arn:aws:s3:::BUCKET/PREFIX*), "
    "'*' for xray:PutTraceSegments and xray:PutTelemetryRecords, "
    "and API Gateway's log groups on the account-wide logging role"
)


class DocumentError(ValueError):
    """A policy document that cannot be read as IAM JSON."""


@dataclass(frozen=True)
class PolicyDocument:
    """One policy document carried by a resource property."""

    kind: str
    """IDENTITY, TRUST, RESOURCE or KEY."""
    where: str
    """The property path that holds it, for messages (e.g. `inlinePolicies[0].policy`)."""
    text: Any
    """The document as the resource declares it: JSON text, or an already parsed mapping."""


@dataclass(frozen=True)
class Statement:
    """One statement of a policy document, with single values turned into tuples."""

    label: str
    """`Statement[i]`, with its Sid when it has one."""
    allows: bool
    """Effect Allow (Deny statements only narrow access, so the wildcard rules ignore them)."""
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    principals: tuple[tuple[str, str], ...]
    """(kind, value) pairs: ("AWS", "arn:..."), ("Service", "lambda.amazonaws.com"), ("*", "*")."""
    not_principal: bool


def documents(resource_type: str, props: Any, kinds: frozenset[str] | set[str]) -> list[PolicyDocument]:
    """The policy documents of the given kinds on a resource (an unknown one defers the rule)."""
    found = []
    for key, kind in DOCUMENT_PROPERTIES.get(resource_type, ()):
        if kind in kinds:
            text = known(props, key)
            if text is not MISSING and text != "":
                found.append(PolicyDocument(kind, key, text))
    if resource_type == ROLE and IDENTITY in kinds:
        inline = known(props, "inlinePolicies")
        for index in range(len(inline) if inline is not MISSING else 0):
            text = known(props, "inlinePolicies", index, "policy")
            if text is not MISSING and text != "":
                found.append(PolicyDocument(IDENTITY, f"inlinePolicies[{index}].policy", text))
    return found


def statements(document: PolicyDocument) -> list[Statement]:
    """The statements of a document; DocumentError names what is unreadable."""
    body = document.text
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as error:
            raise DocumentError(f"{document.where} is not JSON ({error.msg} at character {error.pos})") from error
    body = plain(body)
    if not isinstance(body, dict):
        raise DocumentError(f"{document.where} is not a JSON object")
    raw = body.get("Statement")
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not raw:
        raise DocumentError(f"{document.where} has no Statement list")
    parsed = []
    for index, statement in enumerate(raw):
        if not isinstance(statement, dict):
            raise DocumentError(f"{document.where} Statement[{index}] is not an object")
        sid = statement.get("Sid")
        principal_key = "NotPrincipal" if "NotPrincipal" in statement else "Principal"
        parsed.append(
            Statement(
                label=f"Statement[{index}]" + (f" ({sid})" if isinstance(sid, str) and sid else ""),
                allows=statement.get("Effect") == "Allow",
                actions=tuple(str(a) for a in as_list(statement.get("NotAction", statement.get("Action", MISSING)))),
                not_action="NotAction" in statement,
                resources=tuple(
                    str(r) for r in as_list(statement.get("NotResource", statement.get("Resource", MISSING)))
                ),
                not_resource="NotResource" in statement,
                principals=_principals(statement.get(principal_key)),
                not_principal="NotPrincipal" in statement,
            )
        )
    return parsed


def _principals(principal: Any) -> tuple[tuple[str, str], ...]:
    if principal is None:
        return ()
    if isinstance(principal, str):
        return (("*", principal),) if principal == "*" else (("AWS", principal),)
    if isinstance(principal, dict):
        return tuple((str(kind), str(value)) for kind, values in principal.items() for value in as_list(values))
    return (("?", json.dumps(principal)),)


def has_wildcard(text: str) -> bool:
    """Whether an action, ARN or principal contains an IAM wildcard (`*` or `?`)."""
    return "*" in text or "?" in text


def _key_allowance(action: str, statement: Statement) -> bool:
    """Whether a key policy's wildcard action is one of the two named key-policy allowances."""
    lowered = action.lower()
    if lowered == KEY_DATA_KEY_ACTION:
        return True
    return (
        lowered == KEY_ADMIN_ACTION
        and bool(statement.principals)
        and all(kind == "AWS" and ACCOUNT_ROOT.match(value) for kind, value in statement.principals)
    )


def wildcard_actions(document: PolicyDocument) -> list[str]:
    """What in the document allows actions by wildcard, one sentence each."""
    findings = []
    for statement in statements(document):
        if not statement.allows:
            continue
        where = f"{document.where} {statement.label}"
        if statement.not_action:
            findings.append(f"{where} allows everything except {list(statement.actions)} (NotAction): "
                            "list the actions it needs with Action instead")
            continue
        for action in statement.actions:
            if not has_wildcard(action):
                continue
            if document.kind == KEY and _key_allowance(action, statement):
                continue
            findings.append(f"{where} allows {action!r}: list each action it needs instead of a wildcard")
    return findings


def wildcard_resources(document: PolicyDocument) -> list[str]:
    """What in the document grants access to resources by wildcard, outside the named allow-list."""
    if document.kind in (KEY, TRUST):
        # A key policy's `Resource: "*"` is the key itself; a trust policy names no resources.
        return []
    findings = []
    for statement in statements(document):
        if not statement.allows:
            continue
        where = f"{document.where} {statement.label}"
        if statement.not_resource:
            findings.append(f"{where} grants {list(statement.actions)} on every resource except "
                            f"{list(statement.resources)} (NotResource): list the exact ARNs with Resource instead")
            continue
        for resource in statement.resources:
            if not has_wildcard(resource) or _allowed_resource(resource, statement, document.kind):
                continue
            if resource == "*":
                offending = [a for a in statement.actions
                             if a.lower() not in STAR_ONLY_ACTIONS | ACCOUNT_ROLE_LIST_ACTIONS]
                findings.append(f"{where} grants {offending} on '*': name the exact ARNs "
                                f"(wildcards are allowed only for {ALLOWED_RESOURCE_SHAPES})")
            else:
                findings.append(f"{where} grants {list(statement.actions)} on {resource!r}: name the exact ARN "
                                f"(wildcards are allowed only for {ALLOWED_RESOURCE_SHAPES})")
    return findings


def _allowed_resource(resource: str, statement: Statement, kind: str) -> bool:
    if LOG_STREAMS.match(resource) or S3_PREFIX_OBJECTS.match(resource):
        return True
    actions = {action.lower() for action in statement.actions}
    if resource == "*" and actions and actions <= STAR_ONLY_ACTIONS:
        return True
    # The account-wide logging role's grants: which role holds them is the stack rule's question.
    return kind == IDENTITY and _account_role_grant(resource, actions)


def _account_role_grant(resource: str, actions: set[str]) -> bool:
    if ACCOUNT_ROLE_LOG_GROUPS.match(resource):
        return True
    listing = actions & ACCOUNT_ROLE_LIST_ACTIONS
    if resource == "*":
        return bool(listing) and actions <= STAR_ONLY_ACTIONS | ACCOUNT_ROLE_LIST_ACTIONS
    return bool(EVERY_LOG_GROUP.match(resource)) and bool(actions) and actions <= ACCOUNT_ROLE_LIST_ACTIONS


def account_logging_grants(document: PolicyDocument) -> list[str]:
    """The grants in an identity document that only API Gateway's account-wide logging role may hold."""
    if document.kind != IDENTITY:
        return []
    grants = []
    for statement in statements(document):
        if not statement.allows or statement.not_resource:
            continue
        actions = {action.lower() for action in statement.actions}
        for resource in statement.resources:
            if _account_role_grant(resource, actions):
                grants.append(f"{document.where} {statement.label} {list(statement.actions)} on {resource!r}")
    return grants


def wildcard_principals(document: PolicyDocument) -> list[str]:
    """Who the document lets in too broadly: `*`, NotPrincipal, or (in a trust) more than one service."""
    findings = []
    services: list[str] = []
    for statement in statements(document):
        if not statement.allows:
            continue
        where = f"{document.where} {statement.label}"
        if statement.not_principal:
            findings.append(f"{where} allows everyone except {[v for _, v in statement.principals]} "
                            "(NotPrincipal): name the principal with Principal instead")
            continue
        for kind, value in statement.principals:
            if has_wildcard(value):
                findings.append(f"{where} allows principal {kind}: {value!r}: name the one service or "
                                "account that needs access")
            elif kind == "Service":
                services.append(value)
    if document.kind == TRUST and len(set(services)) > 1:
        findings.append(f"{document.where} lets {sorted(set(services))} assume the role: a service role "
                        "trusts one service; give each service its own role")
    return findings
