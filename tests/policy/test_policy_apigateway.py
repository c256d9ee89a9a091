"""API Gateway rules: API keys on every method, metered plans, observable stages, plans tied to stages."""

from __future__ import annotations

import json

import pytest
import yaml

from rule_checks import UNKNOWN, Declared, check, check_stack

from rules.apigateway import (
    apigateway_api_key_one_plan_per_stage,
    apigateway_api_keys_in_usage_plans,
    apigateway_domain_tls,
    apigateway_methods_require_api_key,
    apigateway_single_internal_plan,
    apigateway_stage_access_logging,
    apigateway_stage_tracing,
    apigateway_stages_have_usage_plans,
    apigateway_usage_plans_attached,
    apigateway_usage_plans_have_limits,
)

REST_API = "aws:apigateway/restApi:RestApi"
METHOD = "aws:apigateway/method:Method"
STAGE = "aws:apigateway/stage:Stage"
PLAN = "aws:apigateway/usagePlan:UsagePlan"
PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
API_KEY = "aws:apigateway/apiKey:ApiKey"
KEYED = [{"api_key": []}]


def openapi(operations: dict[str, dict[str, dict]], scheme: dict | None = None, **root) -> dict:
    """An OpenAPI 3 document with the given `{path: {method: operation}}`."""
    return {
        "openapi": "3.0.1",
        "info": {"title": "t", "version": "1"},
        "paths": operations,
        "components": {"securitySchemes": {
            "api_key": scheme or {"type": "apiKey", "name": "x-api-key", "in": "header"}}},
        **root,
    }


def keyed(**extra) -> dict:
    return {"security": KEYED, "x-amazon-apigateway-integration": {"type": "aws"}, **extra}


GOOD_PATHS = {"/departments/{department}": {"get": keyed(), "parameters": [{"name": "department"}]},
              "/snapshot": {"get": keyed(), "head": keyed()}}


def rest_api(spec: dict, **props) -> dict:
    return {"body": json.dumps(spec), "apiKeySource": "HEADER", **props}


# ---- apigateway-methods-require-api-key --------------------------------------------------------


def test_every_operation_keyed_passes():
    assert check(apigateway_methods_require_api_key, REST_API, rest_api(openapi(GOOD_PATHS))).violations == []


def test_swagger_2_security_definitions_and_yaml_bodies_are_read():
    swagger = {"swagger": "2.0", "paths": GOOD_PATHS,
               "securityDefinitions": {"api_key": {"type": "apiKey", "name": "X-API-Key", "in": "header"}},
               "x-amazon-apigateway-api-key-source": "HEADER"}
    assert check(apigateway_methods_require_api_key, REST_API, rest_api(swagger)).violations == []
    body = yaml.safe_dump(openapi(GOOD_PATHS))
    assert check(apigateway_methods_require_api_key, REST_API, {"body": body}).violations == []


@pytest.mark.parametrize("operation", [
    {"x-amazon-apigateway-integration": {}},
    {"security": []},
    {"security": [{"api_key": []}, {}]},
    {"security": [{"oauth": []}]},
], ids=["no-security", "empty", "anonymous-alternative", "other-scheme"])
def test_a_keyless_operation_fails_naming_it(operation):
    paths = {**GOOD_PATHS, "/departments": {"get": keyed(), "options": operation}}
    outcome = check(apigateway_methods_require_api_key, REST_API, rest_api(openapi(paths)), name="api-rest-api")
    assert len(outcome.violations) == 1, outcome
    assert "OPTIONS /departments" in outcome.violations[0] and "'api-rest-api'" in outcome.violations[0]
    assert "add security: [{'api_key': []}] to each operation" in outcome.violations[0]


def test_any_method_is_an_operation_too():
    paths = {"/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {}}}}
    outcome = check(apigateway_methods_require_api_key, REST_API, rest_api(openapi(paths)))
    assert len(outcome.violations) == 1 and "ANY /{proxy+}" in outcome.violations[0], outcome


@pytest.mark.parametrize("scheme", [
    {"type": "apiKey", "name": "x-api-key", "in": "query"},
    {"type": "apiKey", "name": "Authorization", "in": "header"},
    {"type": "http", "scheme": "bearer"},
], ids=["query", "other-header", "not-api-key"])
def test_a_scheme_that_is_not_the_x_api_key_header_does_not_count(scheme):
    outcome = check(apigateway_methods_require_api_key, REST_API, rest_api(openapi(GOOD_PATHS, scheme=scheme)))
    assert len(outcome.violations) == 1 and "declare an apiKey security scheme" in outcome.violations[0], outcome


def test_key_source_must_be_the_header():
    outcome = check(apigateway_methods_require_api_key, REST_API,
                    rest_api(openapi(GOOD_PATHS, **{"x-amazon-apigateway-api-key-source": "AUTHORIZER"}),
                             apiKeySource="AUTHORIZER"))
    assert len(outcome.violations) == 2, outcome
    assert all("'HEADER'" in message for message in outcome.violations)


def test_unreadable_body_fails_and_missing_body_passes():
    outcome = check(apigateway_methods_require_api_key, REST_API, {"body": "paths: [unclosed"})
    assert len(outcome.violations) == 1 and "JSON" in outcome.violations[0], outcome
    assert check(apigateway_methods_require_api_key, REST_API, {"name": "no-body"}).violations == []


def test_unknown_body_is_deferred():
    outcome = check(apigateway_methods_require_api_key, REST_API, {"body": UNKNOWN, "apiKeySource": "HEADER"})
    assert outcome.violations == [] and ".body" in outcome.deferred


@pytest.mark.parametrize("props, violations", [
    ({"apiKeyRequired": True, "httpMethod": "GET"}, 0),
    ({"apiKeyRequired": False, "httpMethod": "GET"}, 1),
    ({"httpMethod": "OPTIONS"}, 1),
], ids=["required", "not-required", "missing"])
def test_method_resources_need_api_key_required(props, violations):
    outcome = check(apigateway_methods_require_api_key, METHOD, props)
    assert len(outcome.violations) == violations, outcome
    if violations:
        assert "api_key_required=True" in outcome.violations[0]


def test_method_with_unknown_flag_is_deferred():
    assert check(apigateway_methods_require_api_key, METHOD, {"apiKeyRequired": UNKNOWN}).deferred


# ---- apigateway-usage-plans-have-limits --------------------------------------------------------

LIMITS = {"throttleSettings": {"rateLimit": 10, "burstLimit": 20},
          "quotaSettings": {"limit": 20000, "period": "DAY", "offset": 0}}


def test_customer_plan_with_both_limits_passes():
    assert check(apigateway_usage_plans_have_limits, PLAN, LIMITS).violations == []


@pytest.mark.parametrize("props, missing", [
    ({"throttleSettings": LIMITS["throttleSettings"]}, ["quota_settings"]),
    ({"quotaSettings": LIMITS["quotaSettings"]}, ["throttle_settings"]),
    ({}, ["throttle_settings", "quota_settings"]),
    ({**LIMITS, "quotaSettings": {"limit": 0, "period": "DAY"}}, ["quota_settings"]),
    ({**LIMITS, "quotaSettings": {"limit": 5, "period": "YEAR"}}, ["quota_settings"]),
    ({**LIMITS, "throttleSettings": {"rateLimit": 10}}, ["throttle_settings"]),
    ({**LIMITS, "tags": {"data-api:plan": "customer"}}, []),
], ids=["no-quota", "no-throttle", "neither", "zero-quota", "bad-period", "no-burst", "other-tag"])
def test_customer_plan_missing_a_limit_fails(props, missing):
    outcome = check(apigateway_usage_plans_have_limits, PLAN, props, name="api-plan-initech")
    assert len(outcome.violations) == (1 if missing else 0), outcome
    for setting in missing:
        assert setting in outcome.violations[0]
    if missing:
        assert "'api-plan-initech'" in outcome.violations[0]
        assert "tag the one internal plan data-api:plan=internal" in outcome.violations[0]


def test_the_tagged_internal_plan_may_go_without_limits():
    props = {"tags": {"data-api:plan": "internal"}}
    assert check(apigateway_usage_plans_have_limits, PLAN, props).violations == []


def test_limits_computed_from_other_resources_count_as_set():
    props = {"throttleSettings": {"rateLimit": UNKNOWN, "burstLimit": UNKNOWN},
             "quotaSettings": {"limit": UNKNOWN, "period": UNKNOWN}}
    outcome = check(apigateway_usage_plans_have_limits, PLAN, props)
    assert outcome.violations == [] and outcome.deferred is None


# ---- stage rules -------------------------------------------------------------------------------

LOGGED = {"accessLogSettings": {"destinationArn": "arn:aws:logs:eu-west-1:1:log-group:/aws/apigateway/x",
                                "format": '{"requestId":"$context.requestId"}'}}


@pytest.mark.parametrize("settings", [LOGGED["accessLogSettings"], {"destinationArn": UNKNOWN, "format": "f"}],
                         ids=["known", "computed-destination"])
def test_stage_with_access_log_passes(settings):
    outcome = check(apigateway_stage_access_logging, STAGE, {"accessLogSettings": settings})
    assert outcome.violations == [] and outcome.deferred is None


@pytest.mark.parametrize("props", [{}, {"accessLogSettings": {"format": "f"}},
                                   {"accessLogSettings": {"destinationArn": "arn", "format": ""}}],
                         ids=["missing", "no-destination", "empty-format"])
def test_stage_without_access_log_fails(props):
    outcome = check(apigateway_stage_access_logging, STAGE, props, name="api-stage")
    assert len(outcome.violations) == 1 and "access_log_settings" in outcome.violations[0], outcome


@pytest.mark.parametrize("props, violations", [
    ({"xrayTracingEnabled": True}, 0), ({"xrayTracingEnabled": False}, 1), ({}, 1)],
    ids=["on", "off", "missing"])
def test_stage_tracing(props, violations):
    outcome = check(apigateway_stage_tracing, STAGE, props)
    assert len(outcome.violations) == violations, outcome
    if violations:
        assert "xray_tracing_enabled=True" in outcome.violations[0]


def test_stage_tracing_unknown_is_deferred():
    assert check(apigateway_stage_tracing, STAGE, {"xrayTracingEnabled": UNKNOWN}).deferred


# ---- stack rules: plans, stages and keys -------------------------------------------------------


def stage(name="api-stage", api="a1b2c3", stage_name="v1") -> Declared:
    return Declared(STAGE, name, {"restApi": api, "stageName": stage_name, **LOGGED, "id": f"ags-{api}-{stage_name}"})


def plan(name, stages, tags=None, **links) -> Declared:
    props = {**LIMITS, "apiStages": stages, "id": f"id-{name}"}
    if tags:
        props["tags"] = tags
    return Declared(PLAN, name, props, **links)


def test_plans_and_stages_that_match_pass():
    resources = [stage(), plan("plan-a", [{"apiId": "a1b2c3", "stage": "v1"}])]
    assert check_stack(apigateway_usage_plans_attached, resources) == []
    assert check_stack(apigateway_stages_have_usage_plans, resources) == []


def test_plans_and_stages_matched_by_dependency_during_preview_pass():
    resources = [Declared(STAGE, "api-stage", {"restApi": UNKNOWN, "stageName": "v1"}),
                 plan("plan-a", [{"apiId": UNKNOWN, "stage": "v1"}], depends_on=["api-stage"])]
    assert check_stack(apigateway_usage_plans_attached, resources) == []
    assert check_stack(apigateway_stages_have_usage_plans, resources) == []


def test_plan_without_stages_fails():
    resources = [stage(), plan("plan-a", [{"apiId": "a1b2c3", "stage": "v1"}]), plan("plan-b", [])]
    violations = check_stack(apigateway_usage_plans_attached, resources)
    assert len(violations) == 1 and violations[0][1].endswith("::plan-b"), violations
    assert "attached to no stage" in violations[0][0]


def test_plan_naming_a_stage_the_stack_does_not_declare_fails():
    resources = [stage(), plan("plan-a", [{"apiId": "a1b2c3", "stage": "v1"}]),
                 plan("plan-b", [{"apiId": "zzz", "stage": "v1"}])]
    violations = check_stack(apigateway_usage_plans_attached, resources)
    assert [urn for _, urn in violations] == ["urn:pulumi:prod::data-api::aws:apigateway/usagePlan:UsagePlan::plan-b"]


def test_stage_without_a_plan_fails():
    resources = [stage(), stage("other-stage", stage_name="v2"), plan("plan-a", [{"apiId": "a1b2c3", "stage": "v1"}])]
    violations = check_stack(apigateway_stages_have_usage_plans, resources)
    assert len(violations) == 1 and violations[0][1].endswith("::other-stage"), violations
    assert "no API key can call it" in violations[0][0]


def test_undecidable_plans_are_not_reported():
    resources = [stage(), plan("plan-a", UNKNOWN), plan("plan-b", [{"apiId": UNKNOWN, "stage": UNKNOWN}])]
    assert check_stack(apigateway_usage_plans_attached, resources) == []
    assert check_stack(apigateway_stages_have_usage_plans, resources) == []


def api_key(name) -> Declared:
    return Declared(API_KEY, name, {"name": name, "enabled": True, "id": f"key-{name}"})


def test_keys_in_plans_pass_and_a_key_without_a_plan_fails():
    resources = [api_key("globex"), api_key("orphan"), plan("plan-a", [{"apiId": "a1b2c3", "stage": "v1"}]),
                 Declared(PLAN_KEY, "link", {"keyId": "key-globex", "keyType": "API_KEY", "usagePlanId": "id-plan-a"})]
    violations = check_stack(apigateway_api_keys_in_usage_plans, resources)
    assert [urn.rsplit("::", 1)[1] for _, urn in violations] == ["orphan"], violations
    assert "UsagePlanKey" in violations[0][0]


def test_keys_linked_by_dependency_or_undecided_pass():
    resources = [api_key("globex"),
                 Declared(PLAN_KEY, "link", {"keyId": UNKNOWN, "usagePlanId": UNKNOWN},
                          property_deps={"keyId": ["globex"]})]
    assert check_stack(apigateway_api_keys_in_usage_plans, resources) == []


def test_one_internal_plan_passes_and_two_fail():
    internal = {"data-api:plan": "internal"}
    one = [stage(), plan("internal", [{"apiId": "a1b2c3", "stage": "v1"}], tags=internal),
           plan("globex", [{"apiId": "a1b2c3", "stage": "v1"}])]
    assert check_stack(apigateway_single_internal_plan, one) == []
    two = [*one, plan("sneaky", [{"apiId": "a1b2c3", "stage": "v1"}], tags=internal)]
    violations = check_stack(apigateway_single_internal_plan, two)
    assert len(violations) == 1 and "'internal', 'sneaky'" in violations[0][0], violations


def test_stack_rules_pass_an_empty_stack():
    for policy in (apigateway_usage_plans_attached, apigateway_stages_have_usage_plans,
                   apigateway_api_keys_in_usage_plans, apigateway_single_internal_plan):
        assert check_stack(policy, []) == [], policy.name


# ---- apigateway-domain-tls ---------------------------------------------------------------------

DOMAIN_NAME = "aws:apigateway/domainName:DomainName"
DOMAIN_NAME_V2 = "aws:apigatewayv2/domainName:DomainName"
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/1bc412bb-0896-4091-0fc9-d31961ec226b"


def rest_domain(**props) -> dict:
    return {"domainName": "api.example.com", "regionalCertificateArn": CERTIFICATE,
            "endpointConfiguration": {"types": "REGIONAL"}, **props}


@pytest.mark.parametrize("policy", ["TLS_1_2", "SecurityPolicy_TLS13_1_3_2025_09", "SecurityPolicy_TLS12_PFS_2025_EDGE"])
def test_a_domain_on_tls_1_2_or_newer_passes(policy):
    assert check(apigateway_domain_tls, DOMAIN_NAME, rest_domain(securityPolicy=policy)).violations == []
    v2 = {"domainName": "api.example.com",
          "domainNameConfiguration": {"certificateArn": CERTIFICATE, "endpointType": "REGIONAL",
                                      "securityPolicy": policy}}
    assert check(apigateway_domain_tls, DOMAIN_NAME_V2, v2).violations == []


def test_a_domain_on_tls_1_0_fails_naming_it_and_the_fix():
    outcome = check(apigateway_domain_tls, DOMAIN_NAME, rest_domain(securityPolicy="TLS_1_0"), name="legacy-domain")
    assert len(outcome.violations) == 1, outcome
    assert "'legacy-domain'" in outcome.violations[0] and "'TLS_1_0'" in outcome.violations[0], outcome
    assert "security_policy='TLS_1_2'" in outcome.violations[0], outcome


def test_a_domain_without_a_security_policy_fails():
    outcome = check(apigateway_domain_tls, DOMAIN_NAME, rest_domain(), name="default-domain")
    assert len(outcome.violations) == 1 and "sets no TLS security policy" in outcome.violations[0], outcome
    v2 = check(apigateway_domain_tls, DOMAIN_NAME_V2, {"domainName": "api.example.com"}, name="v2-domain")
    assert len(v2.violations) == 1 and "domain_name_configuration.security_policy" in v2.violations[0], v2


def test_an_unknown_security_policy_is_deferred_and_other_types_are_ignored():
    outcome = check(apigateway_domain_tls, DOMAIN_NAME, rest_domain(securityPolicy=UNKNOWN))
    assert outcome.violations == [] and outcome.deferred, outcome
    assert check(apigateway_domain_tls, STAGE, {"stageName": "v1"}).violations == []


# ---- apigateway-api-key-one-plan-per-stage -----------------------------------------------------


def link(name, key, plan_name) -> Declared:
    return Declared(PLAN_KEY, name, {"keyId": f"key-{key}", "keyType": "API_KEY", "usagePlanId": f"id-{plan_name}"})


def test_several_keys_on_one_plan_and_one_key_on_plans_of_different_stages_pass():
    v1, v2 = [{"apiId": "a1b2c3", "stage": "v1"}], [{"apiId": "a1b2c3", "stage": "v2"}]
    resources = [stage(), stage("api-stage-v2", stage_name="v2"), plan("plan-globex", v1), plan("plan-v2", v2),
                 api_key("globex"), api_key("globex.k2026-12"),
                 link("link-1", "globex", "plan-globex"), link("link-2", "globex.k2026-12", "plan-globex"),
                 link("link-3", "globex", "plan-v2")]
    assert check_stack(apigateway_api_key_one_plan_per_stage, resources) == []
    assert check_stack(apigateway_api_keys_in_usage_plans, resources) == []


def test_a_key_in_two_plans_of_one_stage_fails_naming_both():
    v1 = [{"apiId": "a1b2c3", "stage": "v1"}]
    resources = [stage(), plan("plan-globex", v1), plan("plan-initech", v1), api_key("globex"), api_key("initech"),
                 link("link-1", "globex", "plan-globex"), link("link-2", "globex", "plan-initech"),
                 link("link-3", "initech", "plan-initech")]
    violations = check_stack(apigateway_api_key_one_plan_per_stage, resources)
    assert [urn.rsplit("::", 1)[1] for _, urn in violations] == ["globex"], violations
    assert "2 usage plans that serve aws:apigateway/stage:Stage 'api-stage' ('plan-globex', 'plan-initech')" in \
        violations[0][0]


def test_links_known_only_by_dependency_count_and_undecided_plans_do_not():
    v1 = [{"apiId": "a1b2c3", "stage": "v1"}]
    unknown_link = {"keyId": UNKNOWN, "keyType": "API_KEY", "usagePlanId": UNKNOWN}
    deps = [Declared(PLAN_KEY, f"link-{n}", unknown_link, property_deps={"keyId": ["globex"], "usagePlanId": [p]})
            for n, p in ((1, "plan-a"), (2, "plan-b"))]
    decided = [stage(), plan("plan-a", v1), plan("plan-b", v1), api_key("globex"), *deps]
    assert len(check_stack(apigateway_api_key_one_plan_per_stage, decided)) == 1
    undecided = [stage(), plan("plan-a", v1), plan("plan-b", UNKNOWN), api_key("globex"), *deps]
    assert check_stack(apigateway_api_key_one_plan_per_stage, undecided) == []
    assert check_stack(apigateway_api_key_one_plan_per_stage, []) == []
