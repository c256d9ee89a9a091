"""Writes the subscriber-facing OpenAPI document of one stack (no integration internals).

    python scripts/write_openapi.py --stack prod --base-url "$(pulumi stack output apiBaseUrl -s prod)" \
        --output openapi.json

Reads only the stack file, so it runs without AWS credentials or a deployed stack. The document is
the gateway's own, with every x-amazon-apigateway-* extension removed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import PROJECT, ConfigError, parse_config  # noqa: E402
from components.openapi import ApiShape, domain_base_url, public_document  # noqa: E402


def project_settings(stack_file: Path) -> dict[str, Any]:
    """The stack file's `data-api:*` settings, as the program reads them."""
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.get("config") or {}
    prefix = f"{PROJECT}:"
    return {key.removeprefix(prefix): value for key, value in config.items() if key.startswith(prefix)}


def build(stack: str, base_url: str | None, root: Path = ROOT) -> dict[str, Any]:
    """The public document for one stack."""
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise SystemExit(f"--stack {stack}: {stack_file.name} not found next to Pulumi.yaml")
    config = parse_config(project_settings(stack_file), stack_file=stack_file.name)
    source = config.source
    shape = ApiShape(title=f"{PROJECT}-{stack}", collection=config.api.collection,
                     partition_column=source.partition_column, stage_name=config.api.stage_name,
                     item_column=source.item_column, items_field=source.items_field,
                     column_types=dict(source.column_types))
    if base_url is None and config.api.domain is not None:
        # The stack file alone names the domain's URL; only the execute-api URL needs the deployed stack.
        base_url = domain_base_url(config.api.domain.name, config.api.stage_name)
    return public_document(shape, base_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the stack whose Pulumi.<stack>.yaml to read")
    parser.add_argument("--base-url", help="the API's base URL (pulumi stack output apiBaseUrl); "
                                           "default: the custom domain's, when the stack has one")
    parser.add_argument("--output", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    try:
        document = build(args.stack, args.base_url)
    except (ConfigError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
