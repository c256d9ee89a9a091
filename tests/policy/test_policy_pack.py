"""The policy pack over gRPC, started as the Pulumi CLI starts it, judging what programs really declare."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf import struct_pb2

from harness import ROOT, stack_config
from pack_harness import (
    LEVELS,
    Diagnostic,
    PolicyPacks,
    analyze_requests,
    declare,
    declare_stack_file,
)
from rule_checks import UNKNOWN

from rules import POLICIES

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
ADVISORY_RULES = {"dynamodb-customer-managed-key", "apigateway-stage-tracing", "lambda-reserved-concurrency"}

# The one resource of the non-compliant program that breaks each rule (None: reported for the stack).
EXPECTED = {
    "dynamodb-pitr-enabled": ("mandatory", "table-no-pitr"),
    "dynamodb-deletion-protection": ("mandatory", "table-unprotected"),
    "dynamodb-customer-managed-key": ("advisory", "table-aws-owned-key"),
    "iam-no-wildcard-actions": ("mandatory", "worker-policy"),
    "iam-no-wildcard-resources": ("mandatory", "reader-policy"),
    "iam-no-managed-policies": ("mandatory", "worker-managed"),
    "iam-trust-no-wildcard-principal": ("mandatory", "open-role"),
    "apigateway-methods-require-api-key": ("mandatory", "api"),
    "apigateway-usage-plans-have-limits": ("mandatory", "plan-no-quota"),
    "apigateway-stage-access-logging": ("mandatory", "stage-unlogged"),
    "apigateway-stage-tracing": ("advisory", "stage-untraced"),
    "apigateway-domain-tls": ("mandatory", "domain-tls-1-0"),
    "lambda-permission-scoped": ("mandatory", "invoke-from-uploads"),
    "lambda-supported-runtime": ("mandatory", "legacy"),
    "lambda-reserved-concurrency": ("advisory", "unreserved"),
    "logs-retention-set": ("mandatory", "forever-logs"),
    "sqs-sns-encrypted": ("mandatory", "plain-topic"),
    "iam-account-logging-role-scoped": ("mandatory", "execution-logs-policy"),
    "apigateway-usage-plans-attached": ("mandatory", "plan-unattached"),
    "apigateway-stages-have-usage-plans": ("mandatory", "stage-orphan"),
    "apigateway-api-keys-in-usage-plans": ("mandatory", "key-orphan"),
    "apigateway-api-key-one-plan-per-stage": ("mandatory", "key-two-plans"),
    "apigateway-single-internal-plan": ("mandatory", None),
    "lambda-failure-destination": ("mandatory", "fragile"),
    "s3-public-access-blocked": ("mandatory", "public-bucket"),
    "s3-encryption-enabled": ("mandatory", "plain-bucket"),
    "s3-versioning-enabled": ("mandatory", "unversioned-bucket"),
    "sns-alarm-topic-key-allows-cloudwatch": ("mandatory", "alarm-topic"),
}


@pytest.fixture(scope="session")
def policy_packs():
    """The pack processes of this test session, one per stack name, stopped at the end."""
    packs = PolicyPacks()
    yield packs
    packs.close()


@pytest.fixture(scope="session")
def noncompliant(policy_packs) -> list[Diagnostic]:
    declared = declare({}, stack="prod", main=FIXTURES / "noncompliant" / "__main__.py")
    return policy_packs.analyze(declared)


def mandatory(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.level == "mandatory"]


def report(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(str(d) for d in diagnostics) or "(none)"


def test_there_is_a_stack_file_to_check():
    assert [path.name for path in STACK_FILES], "no Pulumi.<stack>.yaml in the repository root"


def test_the_pack_announces_every_rule_as_the_cli_sees_it(policy_packs):
    declared = declare_stack_file(ROOT / "Pulumi.prod.yaml")
    pack = policy_packs.for_stack(declared)
    assert pack.info.name == "data-api" and pack.info.supportsConfig
    announced = {policy.name: policy.enforcementLevel for policy in pack.info.policies}
    assert set(announced) == set(EXPECTED) == {policy.name for policy in POLICIES}
    assert {name for name, level in announced.items() if LEVELS[level] == "advisory"} == ADVISORY_RULES
    assert {LEVELS[level] for name, level in announced.items() if name not in ADVISORY_RULES} == {"mandatory"}
    assert pack.plugin_info.version, "GetPluginInfo answered no version"


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda path: path.name)
def test_every_stack_passes_with_no_mandatory_violation(policy_packs, stack_file):
    declared = declare_stack_file(stack_file)
    diagnostics = policy_packs.analyze(declared)
    assert mandatory(diagnostics) == [], f"{stack_file.name} fails the policy pack:\n{report(diagnostics)}"
    for diagnostic in diagnostics:
        assert diagnostic.policy in ADVISORY_RULES | {"dynamodb-deletion-protection"}, diagnostic
        assert "can't run policy" not in diagnostic.message, f"{diagnostic} (every value is known under mocks)"


def test_the_pack_sees_the_whole_program(policy_packs):
    # Guards against a vacuous pass: the stack check above only means something if the program's
    # tables, roles, API, plans, functions, buckets, queues, topics and keys reach the pack.
    declared = declare_stack_file(ROOT / "Pulumi.prod.yaml")
    types = {request.type for request in analyze_requests(declared)}
    for expected in ("aws:dynamodb/table:Table", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
                     "aws:apigateway/restApi:RestApi", "aws:apigateway/stage:Stage",
                     "aws:apigateway/usagePlan:UsagePlan", "aws:lambda/function:Function",
                     "aws:lambda/permission:Permission", "aws:s3/bucket:Bucket", "aws:sqs/queue:Queue",
                     "aws:sns/topic:Topic", "aws:kms/key:Key", "aws:cloudwatch/logGroup:LogGroup"):
        assert expected in types, f"the prod program declares no {expected}"


def test_the_account_logging_role_passes_when_the_stack_manages_it(policy_packs):
    config = copy.deepcopy(stack_config(ROOT / "Pulumi.prod.yaml"))
    config["data-api:api"] = {**config.get("data-api:api", {}), "manageAccountLogRole": True}
    declared = declare(config, stack="prod")
    assert "aws:apigateway/account:Account" in {r.request.type for r in declared.registrations}
    diagnostics = policy_packs.analyze(declared)
    iam = [d for d in diagnostics if d.policy.startswith("iam-")]
    assert iam == [], report(iam)


@pytest.mark.parametrize("base", ["prod", "dev"])
def test_buckets_under_customer_managed_keys_pass(policy_packs, base):
    # The key grants name one key each and the gateway lists one bucket: no wildcard to allow.
    config = copy.deepcopy(stack_config(ROOT / f"Pulumi.{base}.yaml"))
    key = "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-0000-4000-8000-0000000000{}"
    config["data-api:source"] = {**config["data-api:source"], "kmsKeyArn": key.format("aa")}
    config["data-api:publish"] = {**config.get("data-api:publish", {}), "kmsKeyArn": key.format("bb")}
    declared = declare(config, stack=base)
    policies = declared.program.of_type("aws:iam/rolePolicy:RolePolicy")
    granted = [p.name for p in policies if "s3." in p.inputs["policy"] and "kms:ViaService" in p.inputs["policy"]]
    assert {"loader-policy", "api-role-policy"} <= set(granted), granted
    diagnostics = policy_packs.analyze(declared)
    assert mandatory(diagnostics) == [], report(diagnostics)


def test_a_stack_rotating_keys_passes(policy_packs):
    config = copy.deepcopy(stack_config(ROOT / "Pulumi.prod.yaml"))
    config["data-api:customers"][0]["keys"] = [{"id": "default", "expires": "2020-01-31"}, {"id": "k2020-02"},
                                               {"id": "migrated", "value": "a-migrated-token-0123456789"}]
    config["data-api:internalKeys"][0] = {"name": "dashboard", "value": "dashboard-token-0123456789"}
    declared = declare(config, stack="prod")
    keys = [r for r in declared.registrations if r.request.type == "aws:apigateway/apiKey:ApiKey"]
    assert len(keys) == 8, "globex's three keys, three other customers' and two internal keys reach the pack"
    diagnostics = policy_packs.analyze(declared)
    assert mandatory(diagnostics) == [], report(diagnostics)


@pytest.mark.parametrize("stack, level", [("prod", "mandatory"), ("staging", "advisory")])
def test_deletion_protection_is_mandatory_on_prod_only(policy_packs, stack, level):
    config = copy.deepcopy(stack_config(ROOT / "Pulumi.prod.yaml"))
    config["data-api:table"] = {**config.get("data-api:table", {}), "deletionProtection": False}
    diagnostics = policy_packs.analyze(declare(config, stack=stack))
    found = [d for d in diagnostics if d.policy == "dynamodb-deletion-protection"]
    assert [(d.level, d.urn.split("::")[-1]) for d in found] == [(level, "data-table")], report(diagnostics)
    assert found[0].urn.startswith(f"urn:pulumi:{stack}::")


BREAKAGES = {
    "pitr": ("dynamodb-pitr-enabled", "point_in_time_recovery={'enabled': True}"),
    "wildcard": ("iam-no-wildcard-actions", "allows 's3:*'"),
    "keyless-method": ("apigateway-methods-require-api-key", "be called without an API key"),
    "plan-without-quota": ("apigateway-usage-plans-have-limits", "without quota_settings"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_program_turns_red_with_the_rules_message(policy_packs, breakage):
    config = stack_config(ROOT / "Pulumi.prod.yaml")
    baseline = {(d.policy, d.urn) for d in mandatory(policy_packs.analyze(declare_stack_file(ROOT / "Pulumi.prod.yaml")))}
    broken = declare({**config, "policytest:breakage": breakage}, stack="prod", main=FIXTURES / "with_breakage.py")
    new = [d for d in mandatory(policy_packs.analyze(broken)) if (d.policy, d.urn) not in baseline]
    rule, message = BREAKAGES[breakage]
    assert len(new) == 1 and new[0].policy == rule, report(new)
    assert message in new[0].message, new[0]


def test_the_noncompliant_program_breaks_each_rule_exactly_once(noncompliant):
    counts = Counter(d.policy for d in noncompliant)
    assert counts == Counter(list(EXPECTED)), report(noncompliant)


@pytest.mark.parametrize("rule", EXPECTED)
def test_each_violation_names_its_resource_and_level(noncompliant, rule):
    level, name = EXPECTED[rule]
    (diagnostic,) = [d for d in noncompliant if d.policy == rule]
    assert diagnostic.level == level, diagnostic
    if name is None:
        assert diagnostic.urn == "", diagnostic
    else:
        assert diagnostic.urn.endswith(f"::{name}"), diagnostic
        assert f"'{name}'" in diagnostic.message, diagnostic


def test_unknown_values_during_preview_are_deferred_not_failed(policy_packs):
    declared = declare_stack_file(ROOT / "Pulumi.prod.yaml")
    pack = policy_packs.for_stack(declared)
    diagnostics = []
    for request in analyze_requests(declared):
        if request.type in ("aws:apigateway/restApi:RestApi", "aws:iam/rolePolicy:RolePolicy",
                            "aws:dynamodb/table:Table"):
            for key in ("body", "policy", "pointInTimeRecovery"):
                if key in request.properties.fields:
                    request.properties.fields[key].CopyFrom(struct_pb2.Value(string_value=UNKNOWN))
            diagnostics.extend(pack.analyzer.Analyze(request).diagnostics)
    assert [d for d in diagnostics if LEVELS[d.enforcementLevel] != "advisory"] == []
    deferred = {d.policyName for d in diagnostics if "can't run policy" in d.message and "during preview" in d.message}
    assert deferred == {"apigateway-methods-require-api-key", "iam-no-wildcard-actions", "iam-no-wildcard-resources",
                        "dynamodb-pitr-enabled"}, diagnostics


def test_the_pack_stays_up_for_the_whole_session(policy_packs, noncompliant):
    for declared_stack, pack in policy_packs._running.items():
        assert pack.process.poll() is None, f"pack for {declared_stack} exited:\n{pack.stderr()}"



def test_a_stack_with_a_domain_and_a_cache_passes(policy_packs):
    config = copy.deepcopy(stack_config(ROOT / "Pulumi.prod.yaml"))
    config["data-api:api"] = {**config.get("data-api:api", {}),
                              "domain": {"name": "api.example.com", "hostedZoneId": "Z0123456789ABC"},
                              "cache": {"sizeGb": "0.5", "ttlSeconds": 300}}
    declared = declare(config, stack="prod")
    types = {r.request.type for r in declared.registrations}
    assert {"aws:apigateway/domainName:DomainName", "aws:acm/certificate:Certificate"} <= types, types
    diagnostics = policy_packs.analyze(declared)
    assert mandatory(diagnostics) == [], report(diagnostics)
