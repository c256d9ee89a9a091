"""Running one rule directly on a resource (or a set of resources), as the pack's analyzer would."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from harness import ROOT

# The pack's own modules, imported the way its program imports them.
sys.path.insert(0, str(ROOT / "policy"))

UNKNOWN = UNKNOWN_STRING_VALUE
"""How the engine marks a value that is not known during preview."""
ACCOUNT = "123456789012"


def engine_props(props: dict[str, Any]) -> Any:
    """Properties as the analyzer hands them to a rule: JSON-shaped, unknown values guarded."""
    return unknown_checking_proxy(deserialize_properties(json.loads(json.dumps(props))))


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


@dataclass
class Outcome:
    """What a rule made of a resource."""

    violations: list[str] = field(default_factory=list)
    deferred: str | None = None
    """The SDK's "can't be known during preview" message, when the rule needed an unknown value."""


def urn_for(resource_type: str, name: str, stack: str = "prod") -> str:
    return f"urn:pulumi:{stack}::data-api::{resource_type}::{name}"


def check(policy: ResourceValidationPolicy, resource_type: str, props: dict[str, Any], name: str = "subject",
          stack: str = "prod", config: dict[str, Any] | None = None) -> Outcome:
    """Validates one resource with one rule; an unknown value the rule needs defers it, as in the analyzer."""
    args = ResourceValidationArgs(resource_type, engine_props(props), urn_for(resource_type, name, stack), name,
                                  _options(), None, config)
    outcome = Outcome()
    try:
        policy.validate(args, lambda message, urn=None: outcome.violations.append(message))
    except UnknownValueError as error:
        outcome.deferred = error.message
    return outcome


@dataclass
class Declared:
    """A resource of a stack, for stack rules: outputs, and which resources its properties came from."""

    type: str
    name: str
    props: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    """Names of resources this one depends on."""
    property_deps: dict[str, list[str]] = field(default_factory=dict)
    """Property -> names of the resources its value was computed from."""


def check_stack(policy: StackValidationPolicy, resources: list[Declared]) -> list[tuple[str, str | None]]:
    """Validates a stack with one stack rule: (message, urn) per violation."""
    built = {
        r.name: PolicyResource(r.type, engine_props(r.props), urn_for(r.type, r.name), r.name, _options(), None,
                               None, [], {})
        for r in resources
    }
    for r in resources:
        built[r.name].dependencies = [built[name] for name in r.depends_on]
        built[r.name].property_dependencies = {key: [built[name] for name in names]
                                               for key, names in r.property_deps.items()}
    violations: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs(list(built.values())),
                    lambda message, urn=None: violations.append((message, urn)))
    return violations


def document(*statements: dict[str, Any]) -> str:
    """An IAM policy document as the components write it."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = None, **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, **extra}
    if resource is not None:
        statement["Resource"] = resource
    return statement
