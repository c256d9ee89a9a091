"""The data-api policy pack: the guardrails every stack of this project must pass."""

from pulumi_policy import EnforcementLevel, PolicyPack

from rules import POLICIES

PolicyPack(
    name="data-api",
    description="Guardrails for the data-api stacks: encrypted, protected, least-privilege, metered.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
