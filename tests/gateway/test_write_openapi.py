"""scripts/write_openapi.py: the subscriber-facing document, written from a stack file alone."""

from __future__ import annotations

import importlib.util
import json

import pytest

from components import openapi
from components.config import ConfigError

from harness import ROOT

spec = importlib.util.spec_from_file_location("write_openapi", ROOT / "scripts" / "write_openapi.py")
write_openapi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(write_openapi)

BASE_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"


# The snapshot's parts and the documents too large for an item, whatever the collection.
EXTRA_ROUTES = ("/snapshot/parts/{part}", "/snapshot/loads/{load}/parts/{part}", "/documents/{document}")


def test_writes_the_public_document(tmp_path):
    target = tmp_path / "openapi.json"
    assert write_openapi.main(["--stack", "prod", "--base-url", BASE_URL, "--output", str(target)]) == 0
    document = json.loads(target.read_text())
    text = target.read_text()
    assert "x-amazon-apigateway" not in text and "arn:" not in text, text[:300]
    assert document["servers"] == [{"url": BASE_URL}]
    assert set(document["paths"]) == {"/departments", "/departments/{department}", "/snapshot", *EXTRA_ROUTES}
    shape = openapi.ApiShape(title="data-api-prod", collection="departments", partition_column="department",
                             stage_name="v1", item_column="employee", items_field="employees",
                             column_types={"salary": "integer", "fullTime": "boolean"})
    assert document == openapi.public_document(shape, BASE_URL)
    for path, item in document["paths"].items():
        assert item["get"]["security"] == [{"api_key": []}], path


def test_follows_the_stack_settings(tmp_path):
    (tmp_path / "Pulumi.custom.yaml").write_text(
        "config:\n"
        "  data-api:source:\n    bucket: some-bucket\n    key: staff.csv\n    partitionColumn: team\n"
        "  data-api:api:\n    collection: teams\n"
    )
    document = write_openapi.build("custom", None, root=tmp_path)
    assert set(document["paths"]) == {"/teams", "/teams/{team}", "/snapshot", *EXTRA_ROUTES}
    assert "servers" not in document


def test_a_missing_stack_file_is_named():
    with pytest.raises(SystemExit) as caught:
        write_openapi.build("nope", None)
    assert str(caught.value) == "--stack nope: Pulumi.nope.yaml not found next to Pulumi.yaml"


def test_a_bad_stack_file_fails_with_its_config_path(tmp_path):
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  data-api:source:\n    bucket: b-b-b\n")
    with pytest.raises(ConfigError) as caught:
        write_openapi.build("bad", None, root=tmp_path)
    assert "source.key: is required" in str(caught.value) and "(edit Pulumi.bad.yaml)" in str(caught.value)


def test_a_stack_with_a_custom_domain_names_it_as_the_server(tmp_path):
    (tmp_path / "Pulumi.branded.yaml").write_text(
        "config:\n"
        "  data-api:source:\n    bucket: some-bucket\n    key: staff.csv\n"
        "  data-api:api:\n    stageName: v2\n    domain:\n      name: api.example.com\n"
        "      hostedZoneId: Z0123456789ABC\n"
    )
    assert write_openapi.build("branded", None, root=tmp_path)["servers"] == [{"url": "https://api.example.com/v2"}]
    given = write_openapi.build("branded", BASE_URL, root=tmp_path)
    assert given["servers"] == [{"url": BASE_URL}], "an explicit --base-url wins"
