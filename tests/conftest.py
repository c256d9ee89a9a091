"""Fixtures over the mock harness; importing it installs Pulumi's mocks before any component."""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import pytest
from hypothesis import settings

from harness import ROOT, Program, run_program, stack_config

# A busy CI machine must not turn a slow example into a failure; the properties still run in full.
settings.register_profile("ci", deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def prod_config() -> dict[str, Any]:
    return stack_config(ROOT / "Pulumi.prod.yaml")


@pytest.fixture(scope="session")
def dev_config() -> dict[str, Any]:
    return stack_config(ROOT / "Pulumi.dev.yaml")


@pytest.fixture(scope="session")
def prod_program(prod_config) -> Program:
    """The prod stack's program, run once per session under mocks."""
    return run_program(prod_config, stack="prod")


@pytest.fixture(scope="session")
def dev_program(dev_config) -> Program:
    return run_program(dev_config, stack="dev")


@pytest.fixture
def program_with() -> Callable[..., Program]:
    """Runs the program with a copy of the prod config changed by the given edits."""

    def run(edit: Callable[[dict[str, Any]], None], stack: str = "prod", base: str = "prod") -> Program:
        config = json.loads(json.dumps(stack_config(ROOT / f"Pulumi.{base}.yaml")))
        edit(config)
        return run_program(config, stack=stack)

    return run
