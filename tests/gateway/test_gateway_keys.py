"""Several keys per customer under the mock engine: today's keys unchanged, rotation, expiry, migrated values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from harness import ROOT, Program, previous_urns, run_program, stack_config

API_KEY = "aws:apigateway/apiKey:ApiKey"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
USAGE_PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
KEY_TYPES = (API_KEY, USAGE_PLAN, USAGE_PLAN_KEY)
BEFORE = json.loads((ROOT / "tests" / "gateway" / "fixtures" / "key_resources_before_keys.json").read_text())
MIGRATED = "globex-legacy-token-0123456789abcdef"


def key_resources(program: Program, stack: str, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The program's keys, plans and plan links, as the fixture records them, each by the URN of
    before that `pulumi up` finds it under (its own, or an alias's since the gateway is the DataApi's)."""
    # They were the children of the Gateway component at the top of the stack then.
    gateway = f"urn:pulumi:{stack}::data-api::data-api:index:Gateway::api"
    previous = previous_urns(program, {gateway, *(r["urn"] for r in before)}, stack=stack)
    found = [{"urn": previous.get(r.urn, f"created: {r.urn}"), "type": r.type, "name": r.name, "inputs": r.inputs,
              "deleteBeforeReplace": r.delete_before_replace}
             for r in program.resources if r.type in KEY_TYPES]
    return sorted(json.loads(json.dumps(found)), key=lambda r: r["urn"])


def _comparable(value: Any) -> Any:
    """Assets and archives by their contents' description, not their identity."""
    return {type(value).__name__: getattr(value, "__dict__", str(value))}


def declared(program: Program) -> dict[str, dict[str, Any]]:
    """Every resource's inputs by URN."""
    return {r.urn: json.loads(json.dumps(r.inputs, default=_comparable)) for r in program.resources}


def globex(config: dict[str, Any]) -> dict[str, Any]:
    customer = config["data-api:customers"][0]
    assert customer["name"] == "globex", "the prod stack file's first customer is globex"
    return customer


@pytest.mark.parametrize("stack", sorted(BEFORE["stacks"]))
def test_an_existing_stack_file_declares_exactly_the_key_resources_it_did_before(stack):
    program = run_program(stack_config(ROOT / f"Pulumi.{stack}.yaml"), stack=stack)
    before = sorted(BEFORE["stacks"][stack], key=lambda r: r["urn"])
    now = key_resources(program, stack, before)
    assert [r["urn"] for r in now] == [r["urn"] for r in before], f"Pulumi.{stack}.yaml: key resources renamed"
    for old, new in zip(before, now):
        assert new == old, f"{new['urn']}: declared differently than before keys could be listed"


def test_listing_the_default_key_changes_nothing(prod_program, program_with):
    listed = program_with(lambda c: globex(c).update(keys=[{"id": "default"}]))
    assert declared(listed) == declared(prod_program)


def test_a_second_key_adds_one_key_and_one_plan_link_and_changes_nothing_else(prod_program, program_with):
    rotated = program_with(lambda c: globex(c).update(keys=[{"id": "default"}, {"id": "k2026-12"}]))
    before, after = declared(prod_program), declared(rotated)
    added = set(after) - set(before)
    assert set(before) <= set(after), f"resources removed: {set(before) - set(after)}"
    assert sorted(urn.rsplit("::", 1)[1] for urn in added) == ["api-key-globex.k2026-12",
                                                               "api-plan-key-globex.k2026-12"], added
    dashboard = next(urn for urn in before if urn.endswith("::operations-dashboard"))
    for urn, inputs in before.items():
        if urn != dashboard:
            assert after[urn] == inputs, f"{urn}: changed by adding a key"
    # The dashboard's table of key holders is the one other input that names the new key.
    widgets_before = json.loads(before[dashboard]["dashboardBody"])["widgets"]
    widgets_after = json.loads(after[dashboard]["dashboardBody"])["widgets"]
    changed = [new for old, new in zip(widgets_before, widgets_after) if old != new]
    assert len(widgets_after) == len(widgets_before) and len(changed) == 1, f"{dashboard}: {changed}"
    assert changed[0]["type"] == "text" and "globex (k2026-12)" in changed[0]["properties"]["markdown"], dashboard

    key = rotated.one(API_KEY, "api-key-globex.k2026-12")
    link = rotated.one(USAGE_PLAN_KEY, "api-plan-key-globex.k2026-12")
    plan = rotated.one(USAGE_PLAN, "api-plan-globex")
    assert key.inputs == {"name": "data-api-prod-globex-k2026-12", "description": "Customer globex, key k2026-12.",
                          "enabled": True}, key.urn
    assert "value" not in key.inputs, f"{key.urn}: without a configured value API Gateway generates one"
    assert key.parent == rotated.one(USAGE_PLAN, "api-plan-globex").parent, f"{key.urn}: not under the gateway"
    assert link.inputs["keyId"] == rotated.exports["apiKeyIds"]["globex"]["k2026-12"], link.urn
    assert key.urn in link.dependencies and plan.urn in link.dependencies, link.urn
    assert link.inputs["keyType"] == "API_KEY" and link.delete_before_replace, link.urn

    exports = rotated.exports
    assert exports["apiKeys"]["globex"] == key.outputs["value"], "apiKeys: the last listed live key"
    assert exports["apiKeysById"]["globex"] == {
        "default": {"value": rotated.one(API_KEY, "api-key-globex").outputs["value"], "enabled": True,
                    "expires": None},
        "k2026-12": {"value": key.outputs["value"], "enabled": True, "expires": None},
    }
    assert set(exports["apiKeyIds"]["globex"]) == {"default", "k2026-12"}
    assert len(set(exports["apiKeyIds"]["globex"].values())) == 2, exports["apiKeyIds"]


def test_an_expired_key_is_disabled_not_deleted(program_with):
    program = program_with(lambda c: globex(c).update(
        keys=[{"id": "default", "expires": "2020-01-31"}, {"id": "k2020-02"}]))
    old = program.one(API_KEY, "api-key-globex")
    new = program.one(API_KEY, "api-key-globex.k2020-02")
    assert old.inputs["enabled"] is False, f"{old.urn}: expired on 2020-01-31, must be disabled"
    assert old.inputs["name"] == "data-api-prod-globex", f"{old.urn}: an expired key keeps its name"
    assert new.inputs["enabled"] is True, new.urn
    assert program.one(USAGE_PLAN_KEY, "api-plan-key-globex"), "the expired key stays on its plan"
    assert program.exports["apiKeys"]["globex"] == new.outputs["value"], "apiKeys hands over the live key"
    assert program.exports["apiKeysById"]["globex"]["default"]["enabled"] is False
    assert program.exports["apiKeysById"]["globex"]["default"]["expires"] == "2020-01-31"


def test_a_key_expiring_later_stays_as_it_was(prod_program, program_with):
    program = program_with(lambda c: globex(c).update(keys=[{"id": "default", "expires": "2999-12-31"}]))
    assert declared(program) == declared(prod_program)
    assert program.exports["apiKeysById"]["globex"]["default"]["expires"] == "2999-12-31"


def test_removing_a_key_entry_deletes_that_key_alone(prod_program, program_with):
    program = program_with(lambda c: globex(c).update(keys=[{"id": "k2026-12"}]))
    names = {r.name for r in program.of_type(API_KEY)}
    assert "api-key-globex" not in names and "api-key-globex.k2026-12" in names, sorted(names)
    assert names - {"api-key-globex.k2026-12"} == {r.name for r in prod_program.of_type(API_KEY)} - {"api-key-globex"}


def test_a_customer_whose_keys_all_expired_keeps_them_disabled(program_with):
    program = program_with(lambda c: globex(c).update(keys=[{"id": "default", "expires": "2020-01-31"}]))
    assert program.one(API_KEY, "api-key-globex").inputs["enabled"] is False
    assert program.exports["apiKeys"]["globex"] == program.one(API_KEY, "api-key-globex").outputs["value"]


def test_a_migrated_value_reaches_the_key_as_a_secret(program_with):
    internal = "dashboard-legacy-token-0123456789"

    def migrate(config):
        globex(config).update(keys=[{"id": "default", "value": MIGRATED}])
        config["data-api:internalKeys"][0] = {"name": "dashboard", "value": internal}

    program = program_with(migrate)
    for name, value in (("api-key-globex", MIGRATED), ("api-key-dashboard", internal)):
        key = program.one(API_KEY, name)
        assert is_rpc_secret(key.inputs["value"]), f"{key.urn}: value must reach the provider as a secret"
        assert unwrap_rpc_secret(key.inputs["value"]) == value, key.urn
        assert set(key.inputs) == {"name", "description", "enabled", "value"}, key.urn
    assert program.exports["apiKeys"]["globex"] == MIGRATED
    assert program.exports["apiKeys"]["dashboard"] == internal
    assert program.exports["apiKeysById"]["globex"]["default"]["value"] == MIGRATED
    assert {"apiKeys", "apiKeysById"} <= program.secret_exports, "key values are only exported as secrets"
    assert "apiKeyIds" not in program.secret_exports, "key ids are no secret: the usage report reads them"


def test_key_ids_cover_every_customer_and_internal_key(prod_program):
    ids = prod_program.exports["apiKeyIds"]
    assert set(ids) == {r.name.removeprefix("api-key-") for r in prod_program.of_type(API_KEY)}
    assert all(set(by_id) == {"default"} for by_id in ids.values()), ids
    links = {r.name.removeprefix("api-plan-key-"): r.inputs["keyId"] for r in prod_program.of_type(USAGE_PLAN_KEY)}
    assert {name: by_id["default"] for name, by_id in ids.items()} == links, "apiKeyIds are the ids the plans link"
