"""The `local` stack (Pulumi.local.yaml) and `make local-load`, without LocalStack running.

The stack must be one the program accepts, and its AWS provider must send every service the
program calls to LocalStack; local_load must give the handler the environment the loader
component declares.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

import pytest
import yaml

from harness import ROOT, run_program, stack_config

from scripts.declared import declared_stack

LOCAL_STACK_FILE = ROOT / "Pulumi.local.yaml"
LOCAL_LOAD = ROOT / "scripts" / "local_load.py"
SAMPLE = Path(__file__).resolve().parent / "data" / "employees.csv"
LOOPBACK = {"127.0.0.1", "localhost"}
# Services the program calls outside any resource type: the account id for its ARNs.
INVOKED_SERVICES = {"sts"}


def endpoint_service(resource_type: str) -> str:
    """The provider's `endpoints` key that serves a resource type."""
    module, _, resource = resource_type.removeprefix("aws:").partition("/")
    if module == "cloudwatch":
        if resource.startswith("logGroup") or resource.startswith("logSubscription"):
            return "logs"
        if resource.startswith("event"):
            return "events"
    return module


@pytest.fixture(scope="module")
def local_config() -> dict:
    return stack_config(LOCAL_STACK_FILE)


@pytest.fixture(scope="module")
def local_load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_load", LOCAL_LOAD)
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up while they are defined.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_local_stack_runs_under_the_mock_engine(local_config):
    program = run_program(local_config, stack="local")

    types = {r.type for r in program.resources}
    for expected in ("aws:dynamodb/table:Table", "aws:apigateway/restApi:RestApi", "aws:lambda/function:Function",
                     "aws:apigateway/usagePlan:UsagePlan", "aws:apigateway/apiKey:ApiKey"):
        assert expected in types, f"{LOCAL_STACK_FILE.name}: the program declared no {expected}"
    table = program.one("aws:dynamodb/table:Table")
    assert table.inputs["deletionProtectionEnabled"] is False, f"{table.urn}: a local table is disposable"
    keys = {r.inputs["name"]: r.inputs["enabled"] for r in program.of_type("aws:apigateway/apiKey:ApiKey")}
    assert True in keys.values() and False in keys.values(), f"{LOCAL_STACK_FILE.name}: keys {keys}"


def test_the_local_provider_sends_every_service_the_program_uses_to_localstack(local_config):
    program = run_program(local_config, stack="local")
    endpoints = local_config["aws:endpoints"]
    assert isinstance(endpoints, list) and len(endpoints) == 1, f"{LOCAL_STACK_FILE.name}: aws:endpoints {endpoints}"
    endpoints = endpoints[0]

    needed = {endpoint_service(r.type) for r in program.resources if r.type.startswith("aws:")} | INVOKED_SERVICES
    missing = sorted(needed - set(endpoints))
    assert not missing, f"{LOCAL_STACK_FILE.name}: aws:endpoints has no entry for {missing}: they would reach AWS"
    for service, url in endpoints.items():
        parsed = urlparse(url)
        assert parsed.scheme == "http" and parsed.hostname in LOOPBACK, f"aws:endpoints {service}: {url}"
    assert len(set(endpoints.values())) == 1, f"{LOCAL_STACK_FILE.name}: endpoints on several ports {endpoints}"
    for flag in ("aws:skipCredentialsValidation", "aws:skipRequestingAccountId", "aws:skipMetadataApiCheck",
                 "aws:s3UsePathStyle"):
        assert local_config.get(flag) is True, f"{LOCAL_STACK_FILE.name}: {flag} is {local_config.get(flag)!r}"
    assert local_config.get("aws:accessKey") == "test", f"{LOCAL_STACK_FILE.name}: LocalStack's access key is 'test'"


def test_no_other_stack_points_at_localstack():
    for stack_file in sorted(ROOT.glob("Pulumi.*.yaml")):
        if stack_file == LOCAL_STACK_FILE:
            continue
        config = yaml.safe_load(stack_file.read_text()).get("config") or {}
        overridden = [key for key in config if key in ("aws:endpoints", "aws:accessKey", "aws:secretKey")]
        assert not overridden, f"{stack_file.name}: {overridden} belong in {LOCAL_STACK_FILE.name} only"


@pytest.mark.parametrize("stack_file", [LOCAL_STACK_FILE, ROOT / "Pulumi.prod.yaml"], ids=lambda p: p.name)
def test_local_load_gives_the_handler_the_environment_the_component_declares(local_load, stack_file):
    declared = declared_stack(stack_file)
    environment = declared.loader_environment
    _, config = local_load.stack_settings(stack_file)
    names = local_load.StackNames(table=environment["TABLE_NAME"], source_bucket=environment["SOURCE_BUCKET"],
                                  publish_bucket=environment["PUBLISH_BUCKET"],
                                  function_name=environment["METRICS_SERVICE"])

    assert local_load.loader_environment(config, names) == environment, f"{stack_file.name}: local_load differs"


def test_local_load_names_what_is_missing(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"tableName": "data-table"}))
    command = [sys.executable, str(LOCAL_LOAD), str(SAMPLE), "--stack-file", str(LOCAL_STACK_FILE),
               "--outputs", str(outputs)]

    run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert run.returncode == 2, f"{' '.join(command)}: exit {run.returncode}\n{run.stdout}{run.stderr}"
    assert "--source-bucket (stack output sourceBucketName)" in run.stderr, run.stderr
    assert "--publish-bucket (stack output publishBucketName)" in run.stderr, run.stderr
    assert "--table" not in run.stderr, run.stderr


def test_local_load_refuses_an_aws_endpoint():
    command = [sys.executable, str(LOCAL_LOAD), str(SAMPLE), "--stack-file", str(LOCAL_STACK_FILE),
               "--table", "t", "--source-bucket", "s", "--publish-bucket", "p",
               "--endpoint", "https://s3.us-east-1.amazonaws.com"]

    run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert run.returncode == 2 and "LocalStack only" in run.stderr, f"exit {run.returncode}: {run.stderr}"


def test_local_load_reads_the_outputs_local_deploy_wrote(local_load, tmp_path, monkeypatch):
    monkeypatch.setattr(local_load, "OUTPUTS_DIR", tmp_path)
    (tmp_path / "local.json").write_text(json.dumps({"tableName": "data-table-x", "sourceBucketName": "s"}))

    assert local_load.read_outputs(None, "local", names_given=False) == {"tableName": "data-table-x",
                                                                         "sourceBucketName": "s"}
    # Flags that name everything need no outputs at all.
    assert local_load.read_outputs(None, "local", names_given=True) == {}


def test_local_load_without_outputs_or_the_cli_says_to_run_local_deploy(local_load, tmp_path, monkeypatch):
    monkeypatch.setattr(local_load, "OUTPUTS_DIR", tmp_path / "outputs")
    monkeypatch.setattr(local_load.shutil, "which", lambda name: None)

    with pytest.raises(local_load.UsageError) as caught:
        local_load.read_outputs(None, "local", names_given=False)

    assert "run `make local-deploy` first" in str(caught.value), caught.value
