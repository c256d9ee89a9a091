"""API Gateway: every method needs an API key, every customer is metered, every stage is observable."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rules.properties import MISSING, UNKNOWN, display, known, lookup, of_type, plain, refers_to, tags_of

REST_API = "aws:apigateway/restApi:RestApi"
REST_API_PUT = "aws:apigateway/restApiPut:RestApiPut"
METHOD = "aws:apigateway/method:Method"
STAGE = "aws:apigateway/stage:Stage"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
USAGE_PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
API_KEY = "aws:apigateway/apiKey:ApiKey"
DOMAIN_NAME = "aws:apigateway/domainName:DomainName"
DOMAIN_NAME_V2 = "aws:apigatewayv2/domainName:DomainName"
# TLS_1_2, and API Gateway's enhanced policies, whose names start with the lowest version they allow.
MODERN_TLS_POLICY = re.compile(r"^(TLS_1_2|SecurityPolicy_TLS1[23]_[A-Za-z0-9_]+)$")

INTERNAL_PLAN_TAG = "data-api:plan"
INTERNAL_PLAN_VALUE = "internal"
"""The one usage plan without throttle and quota carries the tag `data-api:plan = internal`."""
QUOTA_PERIODS = ("DAY", "WEEK", "MONTH")
# OpenAPI operation keys, plus API Gateway's catch-all method.
OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "x-amazon-apigateway-any-method")
API_KEY_HEADER = "x-api-key"
KEY_SOURCE_EXTENSION = "x-amazon-apigateway-api-key-source"


class BodyError(ValueError):
    """An OpenAPI body that cannot be read."""


def _parse_body(body: Any) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return plain(body)
    if not isinstance(body, str):
        raise BodyError(f"body is a {type(body).__name__}, not an OpenAPI document")
    try:
        spec = json.loads(body)
    except json.JSONDecodeError:
        try:
            spec = yaml.safe_load(body)
        except yaml.YAMLError as error:
            raise BodyError(f"body is neither JSON nor YAML ({error})") from error
    if not isinstance(spec, dict):
        raise BodyError("body is not an OpenAPI object")
    return spec


def api_key_schemes(spec: Mapping[str, Any]) -> set[str]:
    """The security schemes that are API Gateway API keys (apiKey in the x-api-key header)."""
    components = spec.get("components")
    schemes = (components.get("securitySchemes") if isinstance(components, dict) else None) \
        or spec.get("securityDefinitions") or {}
    return {
        name for name, scheme in schemes.items()
        if isinstance(scheme, dict) and scheme.get("type") == "apiKey" and scheme.get("in") == "header"
        and str(scheme.get("name", "")).lower() == API_KEY_HEADER
    }


def keyless_operations(spec: Mapping[str, Any]) -> list[str]:
    """Every operation of an OpenAPI document that does not require an API key, as `GET /path`."""
    schemes = api_key_schemes(spec)
    keyless = []
    paths = spec.get("paths") if isinstance(spec.get("paths"), dict) else {}
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method.lower() not in OPERATIONS or not isinstance(operation, dict):
                continue
            requirements = operation.get("security")
            # Each requirement is an alternative; an empty one (or none at all) lets a caller in keyless.
            if not isinstance(requirements, list) or not requirements or not all(
                isinstance(requirement, dict) and schemes & set(requirement) for requirement in requirements
            ):
                label = "ANY" if method.lower() == "x-amazon-apigateway-any-method" else method.upper()
                keyless.append(f"{label} {path}")
    return keyless


def _methods_require_api_key(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == METHOD:
        if known(args.props, "apiKeyRequired") is not True:
            report_violation(f"{display(args)} can be called without an API key: set api_key_required=True.")
        return
    if args.resource_type not in (REST_API, REST_API_PUT):
        return
    source = known(args.props, "apiKeySource")
    if source not in (MISSING, "HEADER"):
        report_violation(f"{display(args)} has api_key_source {source!r}: API keys come from the "
                         "x-api-key header; set it to 'HEADER' or leave it unset.")
    body = known(args.props, "body")
    if body is MISSING or body == "":
        return
    try:
        spec = _parse_body(body)
    except BodyError as error:
        report_violation(f"{display(args)}: {error}; write the OpenAPI body as JSON (json.dumps of a dict).")
        return
    extension = spec.get(KEY_SOURCE_EXTENSION)
    if extension is not None and extension != "HEADER":
        report_violation(f"{display(args)} body sets {KEY_SOURCE_EXTENSION} to {extension!r}: "
                         "set it to 'HEADER' or remove it.")
    keyless = keyless_operations(spec)
    if keyless:
        schemes = sorted(api_key_schemes(spec))
        fix = (f"add security: [{{{schemes[0]!r}: []}}] to each" if schemes else
               "declare an apiKey security scheme (in: header, name: x-api-key) and require it on each")
        report_violation(f"{display(args)} body lets {', '.join(keyless)} be called without an API key: "
                         f"{fix} operation.")


def is_internal_plan(props: Any) -> bool:
    """Whether a usage plan is the internal one, tagged `data-api:plan = internal`."""
    return tags_of(props).get(INTERNAL_PLAN_TAG) == INTERNAL_PLAN_VALUE


def _positive(value: Any) -> bool:
    return value is UNKNOWN or (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)


def _usage_plans_have_limits(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != USAGE_PLAN or is_internal_plan(args.props):
        return
    missing = []
    if not (_positive(lookup(args.props, "throttleSettings", "rateLimit"))
            and _positive(lookup(args.props, "throttleSettings", "burstLimit"))):
        missing.append("throttle_settings (rate_limit and burst_limit above 0)")
    period = lookup(args.props, "quotaSettings", "period")
    if not (_positive(lookup(args.props, "quotaSettings", "limit")) and (period is UNKNOWN or period in QUOTA_PERIODS)):
        missing.append(f"quota_settings (a limit above 0 and a period of {', '.join(QUOTA_PERIODS)})")
    if missing:
        report_violation(
            f"{display(args)} is a customer plan without {' and '.join(missing)}: give it both, or tag the "
            f"one internal plan {INTERNAL_PLAN_TAG}={INTERNAL_PLAN_VALUE}."
        )


def _present(value: Any) -> bool:
    """Set to something: a non-empty value, or one computed from another resource (unknown in preview)."""
    return value is UNKNOWN or (value is not MISSING and value != "")


def _stage_access_logging(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != STAGE:
        return
    destination = lookup(args.props, "accessLogSettings", "destinationArn")
    log_format = lookup(args.props, "accessLogSettings", "format")
    if not (_present(destination) and _present(log_format)):
        report_violation(
            f"{display(args)} writes no access log: set access_log_settings with destination_arn (a log "
            "group ARN) and a format that records at least $context.requestId and $context.identity.apiKeyId."
        )


def _stage_tracing(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != STAGE:
        return
    if known(args.props, "xrayTracingEnabled") is not True:
        report_violation(f"{display(args)} is not traced: set xray_tracing_enabled=True (api.tracing: true "
                         "in the stack file) to see where latency comes from.")


def _domain_tls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == DOMAIN_NAME:
        policy, setting = known(args.props, "securityPolicy"), "security_policy"
    elif args.resource_type == DOMAIN_NAME_V2:
        policy, setting = known(args.props, "domainNameConfiguration", "securityPolicy"), \
            "domain_name_configuration.security_policy"
    else:
        return
    if policy is MISSING:
        report_violation(f"{display(args)} sets no TLS security policy, so API Gateway's default may accept "
                         f"TLS 1.0: set {setting}='TLS_1_2'.")
    elif not (isinstance(policy, str) and MODERN_TLS_POLICY.match(policy)):
        report_violation(f"{display(args)} has security policy {policy!r}, which accepts TLS older than 1.2: "
                         f"set {setting}='TLS_1_2'.")


apigateway_methods_require_api_key = ResourceValidationPolicy(
    name="apigateway-methods-require-api-key",
    description=(
        "Every API Gateway method requires an API key from the x-api-key header: api_key_required on "
        "Method resources, and an apiKey security requirement on every operation of an OpenAPI body."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_methods_require_api_key,
)

apigateway_usage_plans_have_limits = ResourceValidationPolicy(
    name="apigateway-usage-plans-have-limits",
    description=(
        "Every customer usage plan has both a throttle and a quota; the internal plan, tagged "
        f"{INTERNAL_PLAN_TAG}={INTERNAL_PLAN_VALUE}, is the one exception."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_usage_plans_have_limits,
)

apigateway_stage_access_logging = ResourceValidationPolicy(
    name="apigateway-stage-access-logging",
    description="Every API Gateway stage writes an access log.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_stage_access_logging,
)

apigateway_stage_tracing = ResourceValidationPolicy(
    name="apigateway-stage-tracing",
    description="API Gateway stages have X-Ray tracing enabled.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_stage_tracing,
)


# ---- Stack: plans, stages and keys that belong together ----------------------------------------


def _plan_stage_entries(plan: PolicyResource) -> list[Any]:
    stages = lookup(plan.props, "apiStages")
    return [] if stages in (MISSING, UNKNOWN) else [lookup(stages, index) for index in range(len(stages))]


def _plan_serves(plan: PolicyResource, stage: PolicyResource) -> bool | None:
    """Whether a plan lists a stage: True, False, or None when it can't be told yet (preview)."""
    if lookup(plan.props, "apiStages") is UNKNOWN:
        return None
    stage_name = lookup(stage.props, "stageName")
    api = lookup(stage.props, "restApi")
    undecided = False
    for entry in _plan_stage_entries(plan):
        entry_api, entry_stage = lookup(entry, "apiId"), lookup(entry, "stage")
        if UNKNOWN in (entry_api, entry_stage, stage_name, api):
            # Values computed from other resources: the engine's dependencies say what they came from.
            depends = any(dependency.urn == stage.urn
                          for dependency in [*plan.dependencies, *plan.property_dependencies.get("apiStages", [])])
            if depends and entry_stage in (stage_name, UNKNOWN):
                return True
            undecided = True
        elif entry_api == api and entry_stage == stage_name:
            return True
    return None if undecided else False


def _usage_plans_attached(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    stages = of_type(args.resources, STAGE)
    for plan in of_type(args.resources, USAGE_PLAN):
        entries = lookup(plan.props, "apiStages")
        if entries is UNKNOWN:
            continue
        if entries is MISSING or len(entries) == 0:
            report_violation(f"{display(plan)} is attached to no stage: add api_stages naming the API and "
                             "stage its keys may call.", plan.urn)
            continue
        answers = [_plan_serves(plan, stage) for stage in stages]
        if True not in answers and None not in answers:
            report_violation(f"{display(plan)} names no stage this stack declares in api_stages: point it at "
                             "the API's stage (api_id=api.id, stage=stage.stage_name).", plan.urn)


def _stages_have_usage_plans(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    plans = of_type(args.resources, USAGE_PLAN)
    for stage in of_type(args.resources, STAGE):
        answers = [_plan_serves(plan, stage) for plan in plans]
        if True not in answers and None not in answers:
            report_violation(f"{display(stage)} is in no usage plan, so no API key can call it: add it to "
                             "the plans' api_stages.", stage.urn)


def _api_keys_in_usage_plans(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    plan_keys = of_type(args.resources, USAGE_PLAN_KEY)
    for key in of_type(args.resources, API_KEY):
        linked = [link for link in plan_keys if refers_to(link, "keyId", key, "id")]
        undecided = any(lookup(link.props, "keyId") is UNKNOWN for link in plan_keys)
        if not linked and not undecided:
            report_violation(f"{display(key)} is in no usage plan, so every call with it is refused: add an "
                             "aws.apigateway.UsagePlanKey linking it to its plan.", key.urn)


def _one_plan_per_stage(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A customer may hold several keys on its plan, but one key may sit in only one plan per stage."""
    plans = of_type(args.resources, USAGE_PLAN)
    plan_keys = of_type(args.resources, USAGE_PLAN_KEY)
    stages = of_type(args.resources, STAGE)
    for key in of_type(args.resources, API_KEY):
        links = [link for link in plan_keys if refers_to(link, "keyId", key, "id")]
        linked = [plan for plan in plans if any(refers_to(link, "usagePlanId", plan, "id") for link in links)]
        for stage in stages:
            # Only plans known to serve the stage count; an undecided one (preview) is not a violation.
            serving = [plan for plan in linked if _plan_serves(plan, stage) is True]
            if len(serving) > 1:
                report_violation(
                    f"{display(key)} is linked to {len(serving)} usage plans that serve {display(stage)} "
                    f"({', '.join(repr(plan.name) for plan in serving)}); API Gateway accepts a key in one plan "
                    "per stage, so the second link fails: keep one aws.apigateway.UsagePlanKey for it.",
                    key.urn,
                )
                break


def _single_internal_plan(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    internal = [plan for plan in of_type(args.resources, USAGE_PLAN) if is_internal_plan(plan.props)]
    if len(internal) > 1:
        report_violation(
            f"{len(internal)} usage plans are tagged {INTERNAL_PLAN_TAG}={INTERNAL_PLAN_VALUE} "
            f"({', '.join(repr(plan.name) for plan in internal)}): only the one internal plan may go without "
            "throttle and quota; give the others limits and remove the tag."
        )


apigateway_usage_plans_attached = StackValidationPolicy(
    name="apigateway-usage-plans-attached",
    description="Every usage plan is attached to a stage of an API in the same stack.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_usage_plans_attached,
)

apigateway_stages_have_usage_plans = StackValidationPolicy(
    name="apigateway-stages-have-usage-plans",
    description="Every API Gateway stage is in at least one usage plan.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_stages_have_usage_plans,
)

apigateway_api_keys_in_usage_plans = StackValidationPolicy(
    name="apigateway-api-keys-in-usage-plans",
    description="Every API key is linked to a usage plan (a key without a plan is refused on every call).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_api_keys_in_usage_plans,
)

apigateway_api_key_one_plan_per_stage = StackValidationPolicy(
    name="apigateway-api-key-one-plan-per-stage",
    description="No API key is linked to two usage plans that serve the same stage (API Gateway refuses it).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_one_plan_per_stage,
)

apigateway_single_internal_plan = StackValidationPolicy(
    name="apigateway-single-internal-plan",
    description=f"At most one usage plan is tagged {INTERNAL_PLAN_TAG}={INTERNAL_PLAN_VALUE} (the limit-free plan).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_single_internal_plan,
)

apigateway_domain_tls = ResourceValidationPolicy(
    name="apigateway-domain-tls",
    description="API Gateway custom domain names accept TLS 1.2 or newer only (security policy TLS_1_2).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_domain_tls,
)

POLICIES = [
    apigateway_methods_require_api_key,
    apigateway_usage_plans_have_limits,
    apigateway_stage_access_logging,
    apigateway_stage_tracing,
    apigateway_domain_tls,
]
STACK_POLICIES = [
    apigateway_usage_plans_attached,
    apigateway_stages_have_usage_plans,
    apigateway_api_keys_in_usage_plans,
    apigateway_api_key_one_plan_per_stage,
    apigateway_single_internal_plan,
]
