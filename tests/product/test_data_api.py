"""DataApi's args and outputs, and two products in one program under the mock engine."""

from __future__ import annotations

import json
import re
import typing
from typing import Any

import pytest
from pulumi.provider.experimental.util import camel_case

from components import config as stack_config
from components.config import ConfigError, parse_config
from components.data_api import OUTPUTS, DataApiArgs, _shape, args_to_config, config_to_args

from harness import ROOT, EngineAliases, Program, run_program, stack_config as read_stack_file

BEFORE = json.loads((ROOT / "tests" / "product" / "fixtures" / "resources_before_data_api.json").read_text())
TWO_PRODUCTS = ROOT / "tests" / "product" / "programs" / "two_products.py"
DATA_API = "data-api:index:DataApi"
NAMED = ("name", "alarmName", "dashboardName", "bucket", "functionName", "roleName", "displayName")
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def settings(stack_file) -> dict[str, Any]:
    """A stack file's data-api settings, keyed as parse_config reads them."""
    return {key.split(":", 1)[1]: value for key, value in read_stack_file(stack_file).items()
            if key.startswith("data-api:")}


@pytest.mark.parametrize("stack", sorted(BEFORE["stacks"]))
def test_the_program_exports_what_it_did_before(stack):
    program = run_program(read_stack_file(ROOT / f"Pulumi.{stack}.yaml"), stack=stack)
    assert sorted(program.exports) == BEFORE["stacks"][stack]["exports"], f"Pulumi.{stack}.yaml"
    assert program.secret_exports == {"apiKeys", "apiKeysById"}, program.secret_exports


def test_the_conditional_outputs_follow_the_config(program_with):
    everything = BEFORE["variants"]["prod-everything"]
    program = run_program(everything["config"], stack="prod")
    assert sorted(program.exports) == everything["exports"]
    assert program.exports["apiDomainName"] == "api.example.com"
    # A domain without a zone here: the operator's own DNS points at the target.
    no_zone = program_with(lambda c: c["data-api:api"].update(domain={
        "name": "api.example.com",
        "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}))
    assert no_zone.exports["apiDomainTargetName"].endswith(".execute-api.eu-west-1.amazonaws.com")
    assert no_zone.exports["apiDomainTargetZoneId"] == "ZLY8HYME6SFDD"
    assert "dashboardUrl" not in program_with(lambda c: c["data-api:alerts"].update(dashboard=False)).exports
    created = program_with(lambda c: c["data-api:source"].update(create=True, bucket=None))
    assert created.exports["sourceWriterRoleArn"].startswith("arn:aws:iam::123456789012:role/"), created.exports


def test_every_output_is_one_the_program_exports():
    exported = {line.split('"')[1] for line in (ROOT / "__main__.py").read_text().splitlines()
                if line.strip().startswith("pulumi.export(")}
    assert {camel_case(output) for output in OUTPUTS} == exported


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_args_spell_the_stack_files_settings_and_back(stack_file):
    raw = settings(stack_file)
    args = config_to_args(raw)
    assert args_to_config(args) == raw, stack_file.name
    customer_keys = {key for customer in args.get("customers", []) for key in customer.get("throttle", {})}
    assert customer_keys <= {"rate_limit", "burst_limit"}, customer_keys
    # Column names are the user's own and are never renamed.
    assert args["source"].get("column_types", {}) == raw["source"].get("columnTypes", {})


def test_args_know_every_key_the_stack_config_accepts(monkeypatch):
    # Every mapping parse_config reads, with the keys it allows, against the TypedDict at that path.
    accepted: dict[str, tuple[str, ...]] = {}
    original = stack_config._Reader.mapping

    def record(self, raw, path, allowed):
        accepted[_generic(path)] = tuple(allowed)
        return original(self, raw, path, allowed)

    monkeypatch.setattr(stack_config._Reader, "mapping", record)
    raw = settings(ROOT / "Pulumi.prod.yaml")
    raw["customers"][0]["keys"] = [{"id": "default"}]
    raw["internalKeys"] = [{"name": "reporting"}]
    raw["table"] = {"billingMode": "PROVISIONED", "read": {"min": 1, "max": 2}, "write": {"min": 1, "max": 2}}
    raw["api"].update(domain={"name": "api.example.com", "hostedZoneId": "Z0123456789ABC"}, cache={})
    parse_config(raw, stack_file="Pulumi.prod.yaml", region="eu-west-1")
    assert set(accepted) >= {"", "source", "customers[]", "customers[].quota", "customers[].throttle",
                             "customers[].keys[]", "internalKeys[]", "table", "table.read", "table.write",
                             "publish", "loader", "api", "api.throttle", "api.domain", "api.cache", "alerts"}
    for path, allowed in accepted.items():
        assert set(_args_keys(path)) == set(allowed), f"{path or 'the top level'}: the args differ from the config"


def _generic(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def _args_keys(path: str) -> list[str]:
    """The camelCase keys of the TypedDict at this config path."""
    shape: Any = DataApiArgs
    for step in [s for s in path.replace("[]", ".[]").split(".") if s]:
        if step == "[]":
            shape = typing.get_args(_shape(shape))[0]
            continue
        fields = {camel_case(k): v for k, v in typing.get_type_hints(_shape(shape), include_extras=True).items()}
        shape = fields[step]
    return [camel_case(k) for k in typing.get_type_hints(_shape(shape))]


def test_bad_args_name_the_product_and_the_key_path():
    with pytest.raises(ConfigError) as error:
        run_program({"data-api:source": {"bucket": "x-bucket", "key": "a.csv"}}, stack="prod",
                    main=ROOT / "tests" / "product" / "programs" / "bad_args.py")
    assert "customers[0].quota.period: 'YEAR' is not one of DAY, WEEK, MONTH (edit the args of DataApi 'orders')" \
        in str(error.value), str(error.value)


# --------------------------------------------------------------------------------------------
# Two products in one program
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_products(prod_config) -> Program:
    return run_program(prod_config, stack="prod", main=TWO_PRODUCTS)


def physical_names(resource) -> list[str]:
    return [f"{resource.type} {key}={resource.inputs[key]}" for key in NAMED if isinstance(resource.inputs.get(key), str)]


def test_two_products_never_share_a_physical_name_or_urn(two_products):
    products = two_products.of_type(DATA_API)
    assert sorted(p.name for p in products) == ["data-api", "inventory"]
    engine = EngineAliases(set(), project="data-api", stack="prod")
    urns = [engine.urn(r) for r in two_products.resources if not engine.urns.update({r.urn: engine.urn(r)})]
    assert len(urns) == len(set(urns)), sorted(u for u in urns if urns.count(u) > 1)
    # Log groups, alarms, the API, usage plans, keys, the dashboard: named outright.
    names = [name for r in two_products.resources for name in physical_names(r)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    # Roles, the table, queues, topics and the API's alarms: AWS names from the logical name.
    auto = [(r.type, r.name) for r in two_products.resources if not physical_names(r)]
    assert len(auto) == len(set(auto)), sorted(a for a in auto if auto.count(a) > 1)
    inventory = {r.name: r for r in two_products.resources if r.name.startswith("inventory-")}
    assert inventory["inventory-loader-function"].inputs["name"] == "data-api-prod-inventory-loader"
    assert inventory["inventory-api-rest-api"].inputs["name"] == "data-api-prod-inventory"
    assert inventory["inventory-api-access-logs"].inputs["name"] == "/aws/apigateway/data-api/prod/inventory/access"
    assert inventory["inventory-operations-dashboard"].inputs["dashboardName"] == "data-api-prod-inventory"
    assert inventory["inventory-api-key-globex"].inputs["name"] == "data-api-prod-inventory-globex"


def test_the_first_product_keeps_todays_names_beside_a_second(two_products):
    old = {r["urn"]: r for r in BEFORE["stacks"]["prod"]["resources"]}
    engine = EngineAliases(set(old), project="data-api", stack="prod")
    mine = set()
    for resource in two_products.resources:
        found = engine.register(resource)
        if found is not None:
            mine.add(found)
            assert physical_names(resource) == [f"{resource.type} {k}={v}" for k, v in old[found]["physical"].items()]
            assert resource.name == old[found]["name"], resource.urn
    assert mine == set(old), sorted(set(old) - mine)
    second = [r for r in two_products.resources if r.name.startswith("inventory")]
    assert second and all(engine.urns[r.urn] not in engine.matched for r in second)


def test_the_second_products_parts_have_no_history(two_products):
    inventory = two_products.one(DATA_API, "inventory")
    publish = [r for r in two_products.resources if r.name == "inventory-loader-publish"
               and r.type == "aws:s3/bucket:Bucket"]
    assert len(publish) == 1 and not any(a.get("spec", {}).get("parentUrn") for a in publish[0].aliases), publish
    assert all(r.parent != inventory.urn or r.name.startswith("inventory-") for r in two_products.resources)


def test_each_product_reads_only_its_own_source(two_products):
    functions = {r.inputs["name"]: r.inputs["environment"]["variables"]
                 for r in two_products.of_type("aws:lambda/function:Function")}
    assert functions["data-api-prod-loader"]["SOURCE_BUCKET"] == "acme-hr-exports-prod"
    assert functions["data-api-prod-inventory-loader"]["SOURCE_BUCKET"] == "acme-inventory-exports"
    assert functions["data-api-prod-inventory-loader"]["PARTITION_COLUMN"] == "warehouse"
    assert two_products.exports["inventoryBaseUrl"] != two_products.exports["data-apiBaseUrl"]


def test_whole_numbers_from_the_wire_become_integers_where_the_args_want_one():
    # Another language's 100 reaches the provider as the double 100.0; a rate may be fractional.
    config = args_to_config({"source": {"noncurrent_version_days": 30.0},
                             "customers": [{"name": "a", "quota": {"limit": 100.0, "period": "DAY"},
                                            "throttle": {"rate_limit": 2.0, "burst_limit": 4.0}}],
                             "api": {"error_rate": 0.5, "latency_p99_ms": 1.5}})
    assert config["customers"][0]["quota"]["limit"] == 100 and isinstance(config["customers"][0]["quota"]["limit"], int)
    assert isinstance(config["customers"][0]["throttle"]["burstLimit"], int)
    assert isinstance(config["customers"][0]["throttle"]["rateLimit"], float)
    assert config["api"]["latencyP99Ms"] == 1.5, "a fraction stays one, for the config to refuse"
    assert isinstance(config["source"]["noncurrentVersionDays"], int)


def test_a_misspelt_arg_is_named_with_the_key_it_probably_meant():
    with pytest.raises(ConfigError) as error:
        parse_config(args_to_config({"source": {"bucket": "acme-x", "key": "a.csv", "partition_colum": "x"}}),
                     stack_file="the args of DataApi 'x'")
    assert "source.partitionColum: unknown key (did you mean 'partitionColumn'?)" in str(error.value), str(error.value)
