"""What the config tests share: the prod stack's settings as raw config, and the problems a parse reports."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config import ConfigError, parse_config

from harness import ROOT, stack_config

STACK_FILE = "Pulumi.prod.yaml"


def project_settings(stack_file: str = STACK_FILE) -> dict[str, Any]:
    """A stack file's project settings, keyed without the `data-api:` namespace (a deep copy)."""
    config = stack_config(ROOT / stack_file)
    return {key.split(":", 1)[1]: copy.deepcopy(value) for key, value in config.items()
            if key.startswith("data-api:")}


def config_problems(raw: dict, **parse_options: Any) -> list[str]:
    """The lines a parse of `raw` refuses it with, under the one heading every refusal has."""
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, STACK_FILE, **parse_options)
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid stack configuration:", lines
    return [line.strip() for line in lines[1:]]
