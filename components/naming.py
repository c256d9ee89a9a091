"""The AWS names every component derives from project, stack and, beside a stack's first product, its name."""

from __future__ import annotations

import hashlib
import re

import pulumi

# Lambda function names, the longest physical names built here, allow 64 characters.
MAX_PHYSICAL_NAME = 64


def stack_prefix(qualifier: str | None = None) -> str:
    """`<project>-<stack>`, or `<project>-<stack>-<qualifier>` for a second product in the same stack."""
    prefix = f"{pulumi.get_project()}-{pulumi.get_stack()}"
    return prefix if qualifier is None else f"{prefix}-{qualifier}"


def physical_name(role: str) -> str:
    """A stack-unique AWS name, `<project>-<stack>-<role>`, for resources others look up by name."""
    name = re.sub(r"[^A-Za-z0-9-]", "-", f"{stack_prefix()}-{role}")
    if len(name) <= MAX_PHYSICAL_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:MAX_PHYSICAL_NAME - 9]}-{digest}"


def child_prefix(name: str) -> str:
    """What a product's children's logical names start with: nothing for the one named after the project.

    That product keeps the names (and so the URNs and AWS names) the stack had before products were
    components; any other is qualified by its own name, so two never collide.
    """
    return "" if name == pulumi.get_project() else f"{name}-"


def qualifier(name: str) -> str | None:
    """The product's name where AWS names need it (see child_prefix), else None."""
    return None if name == pulumi.get_project() else name
