"""What the program declares for one stack, read from a run under the mock engine.

`make local-deploy` and the end-to-end suite build their LocalStack copy of the product from this,
so it follows the code: the REST API's OpenAPI body, the table's key, the loader's environment, the
keys and their plans. `make check-config` summarises it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The mock engine is the one the tests use (tests/harness.py); importing it installs the mocks.
sys.path.insert(0, str(ROOT / "tests"))

from harness import Declared, Program, run_program, stack_config  # noqa: E402

from components.config import StackConfig, parse_config  # noqa: E402
from components.gateway import INTERNAL_PLAN_TAG, INTERNAL_PLAN_VALUE  # noqa: E402

REST_API = "aws:apigateway/restApi:RestApi"
STAGE = "aws:apigateway/stage:Stage"
API_KEY = "aws:apigateway/apiKey:ApiKey"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
USAGE_PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
TABLE = "aws:dynamodb/table:Table"
FUNCTION = "aws:lambda/function:Function"
PROJECT_PREFIX = "data-api:"


@dataclass(frozen=True)
class UsagePlan:
    """A usage plan as declared: its name, quota and throttle (None on the internal plan)."""

    name: str
    """The plan's physical name."""
    quota: dict[str, Any] | None
    """limit, period, offset."""
    throttle: dict[str, Any] | None
    """rateLimit, burstLimit."""
    internal: bool
    """True for the internal keys' plan (tagged as the one without limits)."""


@dataclass(frozen=True)
class ApiKey:
    """One API key as declared, and the plan it is attached to."""

    owner: str
    """The customer's or internal key's name in the stack config."""
    name: str
    """The key's physical name."""
    enabled: bool
    """Whether the key may call the API."""
    customer: bool
    """True for a customer's key, False for an internal one."""
    plan: UsagePlan
    """The plan the key is attached to."""


@dataclass(frozen=True)
class DeclaredStack:
    """Everything the end-to-end suite recreates on LocalStack, as the program declared it."""

    stack: str
    """The stack's name."""
    region: str
    """aws:region of the stack."""
    api_name: str
    """The REST API's name."""
    api_description: str
    """The REST API's description."""
    openapi_body: str
    """The REST API's `body`: the OpenAPI document with API Gateway's extensions, as deployed."""
    endpoint_types: list[str]
    """The REST API's endpoint types."""
    stage_name: str
    """The stage the API is deployed to."""
    table_name: str
    """The DynamoDB table (the name the document and the loader use)."""
    hash_key: str
    """The table's partition key attribute."""
    attributes: list[dict[str, str]]
    """The table's attribute definitions."""
    ttl_attribute: str | None
    """The table's TTL attribute, when TTL is on."""
    loader_environment: dict[str, str]
    """The loader function's environment variables."""
    plans: list[UsagePlan]
    """Every usage plan."""
    keys: list[ApiKey]
    """Every API key, customers' first, in config order."""
    config: StackConfig
    """The stack's typed configuration, as the program read it."""
    program: Program
    """Everything the run declared and exported."""

    @property
    def openapi(self) -> dict[str, Any]:
        return json.loads(self.openapi_body)

    @property
    def source_bucket(self) -> str:
        return self.loader_environment["SOURCE_BUCKET"]

    @property
    def source_key(self) -> str:
        return self.loader_environment["SOURCE_KEY"]

    @property
    def publish_bucket(self) -> str:
        return self.loader_environment["PUBLISH_BUCKET"]

    @property
    def publish_prefix(self) -> str:
        return self.loader_environment["PUBLISH_PREFIX"]

    @property
    def column_types(self) -> dict[str, str]:
        return json.loads(self.loader_environment.get("COLUMN_TYPES") or "{}")

    def key(self, owner: str) -> ApiKey:
        found = [key for key in self.keys if key.owner == owner]
        assert len(found) == 1, f"{self.stack}: expected one API key for {owner!r}, found {len(found)}"
        return found[0]


def _project_config(config: dict[str, Any]) -> dict[str, Any]:
    return {key[len(PROJECT_PREFIX):]: value for key, value in config.items() if key.startswith(PROJECT_PREFIX)}


def _attached(program: Program, attachment: Declared, type_: str) -> Declared:
    found = [r for r in program.of_type(type_) if r.urn in attachment.dependencies]
    assert len(found) == 1, f"{attachment.urn}: depends on {len(found)} resources of type {type_}"
    return found[0]


def _plan(declared: Declared) -> UsagePlan:
    return UsagePlan(
        name=declared.inputs["name"],
        quota=declared.inputs.get("quotaSettings"),
        throttle=declared.inputs.get("throttleSettings"),
        internal=(declared.inputs.get("tags") or {}).get(INTERNAL_PLAN_TAG) == INTERNAL_PLAN_VALUE,
    )


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def stack_name(stack_file: Path) -> str:
    """`prod` for Pulumi.prod.yaml."""
    return stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")


def declared_stack(stack_file: Path) -> DeclaredStack:
    """Runs the real program for a stack file under the mock engine and reads what it declared.

    Raises what the program raises: a ConfigError for an invalid stack file.
    """
    stack = stack_name(stack_file)
    config = stack_config(stack_file)
    program = run_program(config, stack=stack)
    # The program accepted the file, so this cannot fail; it gives the typed view of it.
    typed = parse_config(_project_config(config), stack_file.name)

    rest_api = program.one(REST_API)
    stage = program.one(STAGE)
    table = program.one(TABLE)
    function = program.one(FUNCTION)
    key_values = [(owner, entry["value"]) for owner, keys in program.exports["apiKeysById"].items()
                  for entry in keys.values()]
    owner_of_value = {value: owner for owner, value in key_values}
    assert len(owner_of_value) == len(key_values), f"{stack}: two keys share a value: {sorted(dict(key_values))}"
    customers = {customer.name for customer in typed.customers}

    keys = []
    for attachment in program.of_type(USAGE_PLAN_KEY):
        key = _attached(program, attachment, API_KEY)
        plan = _attached(program, attachment, USAGE_PLAN)
        owner = owner_of_value[key.outputs["value"]]
        keys.append(ApiKey(owner=owner, name=key.inputs["name"], enabled=key.inputs["enabled"],
                           customer=owner in customers, plan=_plan(plan)))
    order = [customer.name for customer in typed.customers for _ in customer.keys]
    order += [key.name for key in typed.internal_keys]
    keys.sort(key=lambda k: order.index(k.owner))
    assert [k.owner for k in keys] == order, f"{stack}: keys {[k.owner for k in keys]}, config {order}"

    body = rest_api.inputs["body"]
    assert isinstance(body, str) and body.startswith("{"), f"{rest_api.urn}: body is not a JSON document"
    ttl = table.inputs.get("ttl") or {}
    environment = dict(function.inputs["environment"]["variables"])
    assert environment["TABLE_NAME"] == table.outputs["name"], f"{function.urn}: TABLE_NAME is not {table.urn}"
    return DeclaredStack(
        stack=stack,
        region=config.get("aws:region", "us-east-1"),
        api_name=rest_api.inputs["name"],
        api_description=rest_api.inputs.get("description", ""),
        openapi_body=body,
        endpoint_types=_as_list(rest_api.inputs["endpointConfiguration"]["types"]),
        stage_name=stage.inputs["stageName"],
        table_name=table.outputs["name"],
        hash_key=table.inputs["hashKey"],
        attributes=[{"AttributeName": a["name"], "AttributeType": a["type"]} for a in table.inputs["attributes"]],
        ttl_attribute=ttl.get("attributeName") if ttl.get("enabled") else None,
        loader_environment=environment,
        plans=[_plan(plan) for plan in program.of_type(USAGE_PLAN)],
        keys=keys,
        config=typed,
        program=program,
    )
