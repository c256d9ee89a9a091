"""Rules that block production stacks and only advise the others."""

from __future__ import annotations

import os

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

PRODUCTION_STACKS = frozenset({"prod"})
"""Stacks on which a production-only rule is mandatory; on every other stack it is advisory."""


def analysed_stack() -> str | None:
    """The stack under analysis, as the engine hands it to the pack.

    The CLI starts the pack with PULUMI_STACK (and PULUMI_PROJECT, PULUMI_DRY_RUN, PULUMI_CONFIG)
    in its environment, and the Python SDK decides a rule's enforcement level before it shows the
    rule the resource (whose URN also names the stack), so the environment is what the level can
    depend on. A fully qualified `org/project/stack` name counts by its last part.
    """
    name = os.environ.get("PULUMI_STACK", "").strip()
    return name.rsplit("/", 1)[-1] if name else None


def is_production(stack: str | None) -> bool:
    """Whether a production-only rule is mandatory on `stack` (an unnamed stack counts as production)."""
    return stack is None or stack in PRODUCTION_STACKS


class ProductionMandatoryPolicy(ResourceValidationPolicy):
    """A resource rule that is mandatory on production stacks and advisory on every other stack.

    A level set for the rule in the policy pack's config (`--policy-pack-config`) still wins.
    """

    @property
    def enforcement_level(self) -> EnforcementLevel:
        if is_production(analysed_stack()):
            return EnforcementLevel.MANDATORY
        return EnforcementLevel.ADVISORY

    @enforcement_level.setter
    def enforcement_level(self, _level: EnforcementLevel | None) -> None:
        # Policy.__init__ assigns a level; here the analysed stack decides it instead.
        pass
