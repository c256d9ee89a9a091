"""`make local-deploy`, `make local-load` and `make local-destroy` as a user runs them, then the API over HTTP.

The `local` stack (Pulumi.local.yaml) goes onto the session's LocalStack without the Pulumi CLI; the
sample CSV in examples/ is loaded through the outputs file local-deploy wrote, and the base URL and
key local-deploy printed answer with the documents built from that CSV.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest
import requests

from harness import ROOT

from scripts.declared import DeclaredStack, declared_stack

STACK_FILE = ROOT / "Pulumi.local.yaml"
SAMPLE = ROOT / "examples" / "employees.csv"
TIMEOUT = 300


def make(target: str, port: int, *variables: str) -> subprocess.CompletedProcess[str]:
    # As a user's shell runs it, not as a sub-make of `make test`.
    environment = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(["make", "--no-print-directory", "-s", "-C", str(ROOT), target, *variables],
                          env={**environment, "LOCALSTACK_PORT": str(port)}, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def sample_documents(declared: DeclaredStack) -> dict[str, dict[str, Any]]:
    """Each department's document per the loader's contract, read from the CSV independently of it."""
    config = declared.config.source
    types = dict(config.column_types)
    documents: dict[str, dict[str, Any]] = {}
    with SAMPLE.open(newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            key, item = row.pop(config.partition_column), row.pop(config.item_column)
            document = documents.setdefault(key, {config.partition_column: key, config.items_field: {}})
            document[config.items_field][item] = {
                name: int(value) if types.get(name) == "integer"
                else {"true": True, "false": False}[value] if types.get(name) == "boolean" else value
                for name, value in row.items()
            }
    return documents


@pytest.fixture(scope="module")
def declared() -> DeclaredStack:
    return declared_stack(STACK_FILE)


@pytest.fixture(scope="module")
def port(localstack_endpoint: str) -> int:
    return urlparse(localstack_endpoint).port


@pytest.fixture(scope="module")
def outputs_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("local-deploy") / "outputs.json"


@pytest.fixture(scope="module")
def deployed(port: int, outputs_file: Path) -> subprocess.CompletedProcess[str]:
    run = make("local-deploy", port, f"ARGS=--outputs {outputs_file}")
    assert run.returncode == 0, f"make local-deploy: exit {run.returncode}\n{run.stdout}{run.stderr}"
    return run


def test_local_deploy_writes_the_outputs_and_prints_the_url_and_every_key(deployed, outputs_file, declared,
                                                                          localstack_endpoint):
    outputs = json.loads(outputs_file.read_text())

    assert outputs["tableName"] == declared.table_name
    assert outputs["sourceBucketName"] == declared.source_bucket
    assert outputs["publishBucketName"] == declared.publish_bucket
    assert outputs["apiBaseUrl"].startswith(f"{localstack_endpoint}/_aws/execute-api/"), outputs["apiBaseUrl"]
    assert outputs["apiBaseUrl"].endswith(f"/{declared.stage_name}"), outputs["apiBaseUrl"]
    assert sorted(outputs["apiKeys"]) == sorted(key.owner for key in declared.keys), outputs["apiKeys"]
    assert f"apiBaseUrl  {outputs['apiBaseUrl']}" in deployed.stdout, deployed.stdout
    for owner, value in outputs["apiKeys"].items():
        assert re.search(rf"^    {re.escape(owner)} +{re.escape(value)}  \(", deployed.stdout, re.M), deployed.stdout


def test_local_load_then_the_printed_url_and_key_serve_the_sample(deployed, port, outputs_file, declared):
    loaded = make("local-load", port, f"FILE={SAMPLE.relative_to(ROOT)}", f"LOAD_ARGS=--outputs {outputs_file}")
    assert loaded.returncode == 0, f"make local-load: exit {loaded.returncode}\n{loaded.stdout}{loaded.stderr}"
    summary = json.loads(loaded.stdout[loaded.stdout.index("{"):])
    assert [load["outcome"] for load in summary["loads"]] == ["succeeded"], summary

    # The very line local-deploy printed for the user to paste.
    printed = re.search(r"^  export BASE=(\S+) KEY=(\S+)$", deployed.stdout, re.M)
    assert printed, deployed.stdout
    base, key = printed.groups()
    collection = declared.config.api.collection
    expected = sample_documents(declared)
    assert len(expected) >= 3, f"{SAMPLE.name}: too small a sample"
    for department, document in expected.items():
        url = f"{base}/{collection}/{quote(department, safe='')}"
        response = requests.get(url, headers={"x-api-key": key}, timeout=30)
        assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text}"
        assert response.headers["Content-Type"].startswith("application/json"), f"GET {url}: {response.headers}"
        assert response.json() == document, f"GET {url}: {response.text}"

    index = requests.get(f"{base}/{collection}", headers={"x-api-key": key}, timeout=30)
    assert index.status_code == 200 and sorted(index.json()[collection]) == sorted(expected), index.text
    outputs = json.loads(outputs_file.read_text())
    disabled = next(k.owner for k in declared.keys if not k.enabled)
    for sent in ({}, {"x-api-key": outputs["apiKeys"][disabled]}):
        refused = requests.get(f"{base}/{collection}", headers=sent, timeout=30)
        assert refused.status_code == 403, f"GET {base}/{collection} with {sorted(sent)}: {refused.status_code}"


def test_local_destroy_removes_the_stack_and_its_outputs(deployed, port, outputs_file, declared, localstack_client):
    destroyed = make("local-destroy", port, f"ARGS=--outputs {outputs_file}")

    assert destroyed.returncode == 0, f"make local-destroy: exit {destroyed.returncode}\n{destroyed.stderr}"
    assert not outputs_file.exists(), f"{outputs_file} left behind"
    region = declared.region
    apis = localstack_client("apigateway", region=region).get_rest_apis()["items"]
    assert declared.api_name not in [api["name"] for api in apis], apis
    assert declared.table_name not in localstack_client("dynamodb", region=region).list_tables()["TableNames"]
    buckets = [b["Name"] for b in localstack_client("s3", region=region).list_buckets()["Buckets"]]
    assert declared.source_bucket not in buckets and declared.publish_bucket not in buckets, buckets
    again = make("local-destroy", port, f"ARGS=--outputs {outputs_file}")
    assert again.returncode == 0 and "nothing of it was there" in again.stdout, again.stdout + again.stderr
