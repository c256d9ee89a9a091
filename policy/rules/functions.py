"""Lambda functions: invoked only by what they expect, never losing a failed event, on a live runtime."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rules.properties import MISSING, UNKNOWN, display, known, lookup, of_type, refers_to

FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"

SUPPORTED_RUNTIMES = ("python3.12", "python3.13", "python3.14")
"""Runtimes Lambda supports and this project targets; extend with the rule's `runtimes` config."""
# Services whose source ARNs name no account (arn:aws:s3:::bucket), so a permission scoped to such an
# ARN alone would let the same bucket name in another account invoke the function.
ACCOUNTLESS_ARN_SERVICES = frozenset({"s3.amazonaws.com"})


def _arn_account(arn: str) -> str:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 else ""


def _permission_scoped(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != PERMISSION:
        return
    principal = known(args.props, "principal")
    if isinstance(principal, str) and "*" in principal:
        report_violation(f"{display(args)} lets principal {principal!r} invoke the function: name the one "
                         "service (e.g. s3.amazonaws.com) or account that calls it.")
    source_arn = lookup(args.props, "sourceArn")
    if source_arn is MISSING or source_arn == "":
        report_violation(f"{display(args)} has no source_arn: scope it to the one bucket, rule or API that "
                         "invokes the function, or any resource of that service in any account can.")
        return
    source_account = lookup(args.props, "sourceAccount")
    if source_account is not MISSING and source_account != "":
        return
    if source_arn is UNKNOWN:
        accountless = principal in ACCOUNTLESS_ARN_SERVICES
    else:
        accountless = _arn_account(source_arn) == ""
    if accountless:
        report_violation(f"{display(args)} is scoped to {source_arn if source_arn is not UNKNOWN else 'an ARN'} "
                         "which names no account: also set source_account to the bucket owner's account id, "
                         "so a bucket of the same name in another account cannot invoke the function.")


def _supported_runtime(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FUNCTION or known(args.props, "packageType") == "Image":
        return
    configured = args.get_config().get("runtimes")
    supported = tuple(configured) if configured else SUPPORTED_RUNTIMES
    runtime = known(args.props, "runtime")
    if runtime not in supported:
        shown = "no runtime" if runtime is MISSING else f"runtime {runtime!r}"
        report_violation(f"{display(args)} has {shown}: use one of {', '.join(supported)}.")


def _reserved_concurrency(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FUNCTION:
        return
    reserved = known(args.props, "reservedConcurrentExecutions")
    if reserved is MISSING or reserved == -1:
        report_violation(f"{display(args)} has no reserved concurrency: set reserved_concurrent_executions "
                         "so a burst of events can neither starve other functions nor overrun the table.")
    elif reserved == 0:
        report_violation(f"{display(args)} has reserved_concurrent_executions=0, which throttles every "
                         "invocation: reserve at least 1.")


def _failure_destination(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    configs = of_type(args.resources, EVENT_INVOKE_CONFIG)
    for function in of_type(args.resources, FUNCTION):
        if lookup(function.props, "deadLetterConfig", "targetArn") not in (MISSING, ""):
            continue
        covered = undecided = False
        for config in configs:
            destination = lookup(config.props, "destinationConfig", "onFailure", "destination")
            if destination in (MISSING, ""):
                continue
            if refers_to(config, "functionName", function, "name", "arn", "id"):
                covered = True
            elif lookup(config.props, "functionName") is UNKNOWN:
                undecided = True
        if not covered and not undecided:
            report_violation(
                f"{display(function)} has no failure destination, so an event that fails every retry is "
                "lost: add an aws.lambda_.FunctionEventInvokeConfig with destination_config.on_failure "
                "(an SQS queue) or set dead_letter_config.",
                function.urn,
            )


lambda_permission_scoped = ResourceValidationPolicy(
    name="lambda-permission-scoped",
    description=(
        "Lambda permissions name their source ARN, and a source account too where the ARN names none "
        "(S3 bucket ARNs); no '*' principal."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_permission_scoped,
)

lambda_supported_runtime = ResourceValidationPolicy(
    name="lambda-supported-runtime",
    description=f"Lambda functions run on a supported runtime ({', '.join(SUPPORTED_RUNTIMES)}).",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={"runtimes": {"type": "array", "items": {"type": "string"}, "default": list(SUPPORTED_RUNTIMES)}},
    ),
    validate=_supported_runtime,
)

lambda_reserved_concurrency = ResourceValidationPolicy(
    name="lambda-reserved-concurrency",
    description="Lambda functions reserve their concurrency.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_reserved_concurrency,
)

lambda_failure_destination = StackValidationPolicy(
    name="lambda-failure-destination",
    description="Every Lambda function sends events that fail all retries to a failure destination or DLQ.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_failure_destination,
)

POLICIES = [lambda_permission_scoped, lambda_supported_runtime, lambda_reserved_concurrency]
STACK_POLICIES = [lambda_failure_destination]
