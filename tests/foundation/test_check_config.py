"""`make check-config`: the real program for a stack file, a summary or exactly its error lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from components.config import ConfigError

from harness import ROOT, run_program, stack_config

CHECK_CONFIG = ROOT / "scripts" / "check_config.py"
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
TIMEOUT = 300


def make_check_config(*variables: str) -> subprocess.CompletedProcess[str]:
    # As a user's shell runs it, not as a sub-make of `make test` (which would print make[1]).
    environment = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(["make", "--no-print-directory", "-s", "-C", str(ROOT), "check-config", *variables],
                          env=environment, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def check_config(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK_CONFIG), *args], capture_output=True, text=True,
                          timeout=TIMEOUT, check=False, cwd=ROOT)


def test_every_stack_file_is_in_the_test():
    assert {path.name for path in STACK_FILES} >= {"Pulumi.prod.yaml", "Pulumi.dev.yaml", "Pulumi.local.yaml"}


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda path: path.name)
def test_a_valid_stack_file_gets_one_summary_of_what_the_program_declares(stack_file):
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config = stack_config(stack_file)
    program = run_program(config, stack=stack)
    counts = Counter(resource.type for resource in program.resources)

    run = make_check_config(f"STACK={stack}")

    assert run.returncode == 0, f"make check-config STACK={stack}: exit {run.returncode}\n{run.stdout}{run.stderr}"
    assert run.stderr == "", f"make check-config STACK={stack}: {run.stderr}"
    lines = run.stdout.splitlines()
    region = config.get("aws:region", "us-east-1")
    assert lines[0] == f"{stack_file.name}: valid; stack {stack} in {region} declares {len(program.resources)} resources."
    for customer in config.get("data-api:customers", []):
        quota, throttle = customer["quota"], customer["throttle"]
        line = next((line for line in lines if line.split()[:1] == [customer["name"]]), None)
        assert line is not None, f"{stack_file.name}: no line for customers[{customer['name']}]:\n{run.stdout}"
        assert f"quota {int(quota['limit']):,} per {quota['period']}" in line, line
        assert f"throttle {throttle['rateLimit']:g}/s (burst {throttle['burstLimit']})" in line, line
        assert ("disabled" in line) == (customer.get("enabled") is False), line
    internal = ", ".join(config.get("data-api:internalKeys", [])) or "(none)"
    assert any(line.startswith("Internal keys") and line.endswith(f": {internal}") for line in lines), run.stdout
    document = program.exports["openApiDocument"]
    for path in document["paths"]:
        assert f"  GET {path}" in lines, f"{stack_file.name}: route GET {path} missing:\n{run.stdout}"
    for type_, count in counts.items():
        assert f"  {count:>3}  {type_}" in lines, f"{stack_file.name}: {count} x {type_} missing:\n{run.stdout}"
    assert sum(1 for line in lines if line.startswith("  ") and line.strip().split()[0].isdigit()) == len(counts)


def broken_prod(tmp_path):
    """A copy of Pulumi.prod.yaml with a bad quota period and a misspelt key, and the program's own error."""
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    config = document["config"]
    config["data-api:customers"][1]["quota"]["period"] = "YEAR"
    config["data-api:table"]["deletionProtecton"] = config["data-api:table"].pop("deletionProtection")
    broken = tmp_path / "Pulumi.prod.yaml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        run_program(json.loads(json.dumps(config)), stack="prod")
    return broken, str(caught.value)


def test_a_broken_copy_prints_exactly_the_programs_error_lines_and_exits_1(tmp_path):
    broken, error = broken_prod(tmp_path)
    assert "customers[1].quota.period: 'YEAR' is not one of DAY, WEEK, MONTH (edit Pulumi.prod.yaml)" in error
    assert "table.deletionProtecton: unknown key" in error

    run = check_config("--stack-file", str(broken))

    assert run.returncode == 1, f"exit {run.returncode}\n{run.stdout}{run.stderr}"
    assert run.stdout == "", run.stdout
    assert run.stderr == f"error: {error}\n", run.stderr
    assert "Traceback" not in run.stderr


def test_make_check_config_shows_the_same_lines_and_fails(tmp_path):
    broken, error = broken_prod(tmp_path)

    run = make_check_config(f"STACK_FILE={broken}")

    # make reports the script's exit status 1 on a line of its own, and itself exits 2.
    assert run.returncode == 2, f"exit {run.returncode}\n{run.stdout}{run.stderr}"
    program_lines, make_lines = run.stderr.splitlines()[:-1], run.stderr.splitlines()[-1:]
    assert program_lines == f"error: {error}".splitlines(), run.stderr
    assert make_lines[0].startswith("make: ***") and make_lines[0].endswith("Error 1"), run.stderr
    assert run.stdout == "" and "Traceback" not in run.stderr, run.stdout + run.stderr


def test_a_stack_file_that_is_not_yaml_fails_without_a_traceback(tmp_path):
    broken = tmp_path / "Pulumi.prod.yaml"
    broken.write_text("config:\n  data-api:customers: [\n")

    run = check_config("--stack-file", str(broken))

    assert run.returncode == 1, f"exit {run.returncode}\n{run.stdout}{run.stderr}"
    assert run.stderr.startswith("error: Pulumi.prod.yaml is not valid YAML:"), run.stderr
    assert "Traceback" not in run.stderr


def test_an_unknown_stack_names_the_stacks_there():
    run = make_check_config("STACK=nope")

    stacks = ", ".join(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in STACK_FILES)
    assert run.returncode == 2, f"exit {run.returncode}\n{run.stdout}{run.stderr}"
    assert f"--stack nope: Pulumi.nope.yaml: no such stack file (stacks here: {stacks})" in run.stderr


def test_without_a_stack_make_says_how_to_call_it():
    run = make_check_config()

    assert run.returncode == 2 and "usage: make check-config STACK=<name>" in run.stderr, run.stderr


def test_the_users_workflow_checks_each_stack_file_before_previewing_it():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pulumi.yml").read_text())
    runs = [step.get("run", "") for step in workflow["jobs"]["preview"]["steps"]]

    check = next(i for i, run in enumerate(runs) if run.strip() == "make check-config STACK=${{ matrix.stack }}")
    preview = next(i for i, run in enumerate(runs) if run.startswith("pulumi preview"))
    assert check < preview, runs
