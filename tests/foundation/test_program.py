"""The real __main__.py under the mock engine: the stack files, and broken copies of prod."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError

from harness import last_run, run_program

TABLE = "aws:dynamodb/table:Table"


def test_prod_declares_a_protected_table_with_pitr(prod_program):
    table = prod_program.one(TABLE)
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}, table.urn
    assert table.inputs["deletionProtectionEnabled"] is True, table.urn
    assert table.parent.endswith("data-api:index:DataTable::data"), table.urn


def test_prod_exports_the_table(prod_program):
    table = prod_program.one(TABLE)
    assert prod_program.exports["tableName"] == table.outputs["name"]
    assert prod_program.exports["tableArn"] == table.outputs["arn"]


def test_dev_stack_runs_without_deletion_protection(dev_program):
    table = dev_program.one(TABLE)
    assert table.inputs["deletionProtectionEnabled"] is False, table.urn


def test_every_child_resource_has_a_component_parent(prod_program):
    components = {r.urn for r in prod_program.resources if r.type.startswith("data-api:index:")}
    for resource in prod_program.resources:
        if resource.type.startswith("data-api:index:"):
            continue
        assert resource.parent in components, f"{resource.urn} is not parented to a component"


BROKEN = {
    "bad period": (
        lambda c: c["data-api:customers"][0]["quota"].update(period="YEAR"),
        "customers[0].quota.period: 'YEAR' is not one of DAY, WEEK, MONTH (edit Pulumi.prod.yaml)",
    ),
    "duplicate customer": (
        lambda c: c["data-api:customers"].append(dict(c["data-api:customers"][1])),
        "customers[4].name: 'initech' is already the name of customers[1]; names must be unique "
        "(edit Pulumi.prod.yaml)",
    ),
    "typo'd key": (
        lambda c: c["data-api:table"].update(deletionProtecton=True),
        "table.deletionProtecton: unknown key (did you mean 'deletionProtection'?)",
    ),
    "typo'd top-level key": (
        lambda c: c.update({"data-api:alert": c.pop("data-api:alerts")}),
        "alert: unknown key (did you mean 'alerts'?)",
    ),
    "missing source": (
        lambda c: c.pop("data-api:source"),
        "source: is required",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("preview", [True, False], ids=["preview", "up"])
def test_broken_prod_copy_stops_before_any_resource(program_with, prod_config, case, preview):
    edit, expected = BROKEN[case]
    config = json.loads(json.dumps(prod_config))
    edit(config)
    with pytest.raises(ConfigError) as caught:
        run_program(config, stack="prod", preview=preview)
    assert expected in str(caught.value), f"{case}: {caught.value}"
    assert last_run.declared == [], f"{case}: resources declared before the config error"
