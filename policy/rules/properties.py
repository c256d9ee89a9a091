"""Reading resource properties that may be absent, or unknown until the resource exists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Iterable

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

_UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE,
})


class _Marker:
    """A value that is not a property value: absent, or not known yet."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __bool__(self) -> bool:
        return False


MISSING = _Marker("MISSING")
"""The property is absent or null."""
UNKNOWN = _Marker("UNKNOWN")
"""The property's value is only known once the resources it depends on exist (preview)."""


def lookup(props: Any, *path: str | int) -> Any:
    """The value at `path`, MISSING when any step is absent or null, UNKNOWN when not known yet."""
    value = props
    try:
        for step in path:
            if isinstance(step, int):
                if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or step >= len(value):
                    return MISSING
            elif not isinstance(value, Mapping) or step not in value:
                return MISSING
            value = value[step]
    except UnknownValueError:
        return UNKNOWN
    if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
        return UNKNOWN
    return MISSING if value is None else value


def known(props: Any, *path: str | int) -> Any:
    """The value at `path` or MISSING; an unknown value defers the rule until the value is known.

    Raising the SDK's UnknownValueError makes the pack report "can't run policy during preview"
    (advisory) instead of guessing; `pulumi up` analyses the resource again with real values.
    """
    value = lookup(props, *path)
    if value is UNKNOWN:
        raise UnknownValueError(UNKNOWN_STRING_VALUE, [str(step) for step in path])
    return value


def plain(value: Any) -> Any:
    """A property value, possibly wrapped in the policy SDK's proxies, as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(value[index]) for index in range(len(value))]
    return value


def as_list(value: Any) -> list[Any]:
    """A property that may be one value or a list of them, as a list (empty when absent)."""
    if value is MISSING or value is UNKNOWN:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def tags_of(props: Any) -> dict[str, str]:
    """A resource's own tags (not the provider's default tags)."""
    tags = lookup(props, "tags")
    if not isinstance(tags, Mapping):
        return {}
    result = {}
    for key in list(tags):
        value = lookup(tags, key)
        if isinstance(value, str):
            result[key] = value
    return result


def stack_of(urn: str) -> str:
    """The stack name in a URN, `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    """The resources of the given type tokens, in stack order."""
    return [resource for resource in resources if resource.resource_type in types]


def identities(resource: PolicyResource, *keys: str) -> set[str]:
    """The known values by which other resources can refer to this one (id, ARN, name...)."""
    values = set()
    for key in keys:
        value = lookup(resource.props, key)
        if isinstance(value, str) and value:
            values.add(value)
    return values


def refers_to(source: PolicyResource, key: str, target: PolicyResource, *target_keys: str,
              value: Any = None) -> bool:
    """Whether `source`'s property `key` points at `target`.

    Either the property was computed from `target` (the engine's property dependencies, which hold
    even while values are unknown during preview), or its known value equals one of `target`'s
    `target_keys` (id, ARN, name...). `value` overrides the property's value (for list elements).
    """
    if any(dependency.urn == target.urn for dependency in source.property_dependencies.get(key, [])):
        return True
    if value is None:
        value = lookup(source.props, key)
    return isinstance(value, str) and value in identities(target, *target_keys)


def display(resource: Any) -> str:
    """How a message names a resource: its type and logical name."""
    return f"{resource.resource_type} '{resource.name}'"
