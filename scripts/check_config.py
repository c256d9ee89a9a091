"""Checks a stack file by running the real program for it under Pulumi's mock engine.

    make check-config STACK=prod
    .venv/bin/python scripts/check_config.py --stack-file path/to/Pulumi.staging.yaml

Needs no Pulumi CLI, AWS account or network: __main__.py runs with the stack file's config as
`pulumi preview` would hand it over, and every resource it declares is recorded instead of created.
A valid file prints one summary (the customers and their limits, the internal keys, the routes, how
many resources of each type the stack declares) and exits 0. An invalid one prints exactly the
program's error lines, as `pulumi preview` shows them, and exits 1; a missing file exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402

from scripts.declared import DeclaredStack, UsagePlan, declared_stack  # noqa: E402

HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def limits(plan: UsagePlan) -> str:
    """`quota 20,000 per DAY, throttle 10/s (burst 20)`."""
    quota, throttle = plan.quota or {}, plan.throttle or {}
    parts = []
    if quota:
        offset = int(quota.get("offset") or 0)
        starts = f" (offset {offset})" if offset else ""
        parts.append(f"quota {int(quota['limit']):,} per {quota['period']}{starts}")
    if throttle:
        parts.append(f"throttle {throttle['rateLimit']:g}/s (burst {int(throttle['burstLimit'])})")
    return ", ".join(parts) or "no limits of its own"


def routes(openapi: dict[str, Any]) -> list[str]:
    """Every operation of the REST API's body, as `GET /departments/{department}`."""
    return [f"{method.upper()} {path}" for path, operations in openapi.get("paths", {}).items()
            for method in operations if method in HTTP_METHODS]


def summary(stack_file: Path, declared: DeclaredStack) -> str:
    """The one report of a valid stack file."""
    customers = [key for key in declared.keys if key.customer]
    internal = [key for key in declared.keys if not key.customer]
    counts = Counter(resource.type for resource in declared.program.resources)
    lines = [f"{stack_file.name}: valid; stack {declared.stack} in {declared.region} declares "
             f"{sum(counts.values())} resources.", ""]
    lines.append(f"Customers ({len(customers)}), each with an API key on its own usage plan:")
    width = max((len(key.owner) for key in declared.keys), default=0)
    for key in customers:
        state = "" if key.enabled else "  [disabled: its key answers 403]"
        lines.append(f"  {key.owner:<{width}}  {limits(key.plan)}{state}")
    if not customers:
        lines.append("  (none)")
    internal_plan = next((plan for plan in declared.plans if plan.internal), None)
    lines.append(f"Internal keys ({len(internal)}), on the unlimited plan "
                 f"{internal_plan.name if internal_plan else '(none)'}: "
                 f"{', '.join(key.owner for key in internal) or '(none)'}")
    lines.append(f"Routes, under the stage {declared.stage_name} (every one needs an x-api-key header):")
    lines += [f"  {route}" for route in routes(declared.openapi)]
    lines.append("Resources by type:")
    lines += [f"  {count:>3}  {type_}" for type_, count in sorted(counts.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="check Pulumi.<stack>.yaml next to Pulumi.yaml")
    which.add_argument("--stack-file", type=Path, help="check this Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    stack_file = args.stack_file or ROOT / f"Pulumi.{args.stack}.yaml"
    if not stack_file.is_file():
        stacks = ", ".join(sorted(path.name[len("Pulumi."):-len(".yaml")] for path in ROOT.glob("Pulumi.*.yaml")))
        where = f"--stack-file {stack_file}" if args.stack_file else f"--stack {args.stack}: {stack_file.name}"
        print(f"check_config: {where}: no such stack file (stacks here: {stacks})", file=sys.stderr)
        return 2
    try:
        declared = declared_stack(stack_file)
    except yaml.YAMLError as error:
        print(f"error: {stack_file.name} is not valid YAML: {error}", file=sys.stderr)
        return 1
    except pulumi.RunError as error:
        # What the program raises to stop a preview; the CLI shows its message without a traceback.
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summary(stack_file, declared))
    return 0


if __name__ == "__main__":
    sys.exit(main())
