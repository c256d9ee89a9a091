"""Existing stacks see no replacement: every resource of before DataApi is found again by `pulumi up`.

tests/product/fixtures/resources_before_data_api.json holds what the program declared for every stack
file (and for prod with every optional part) before the product became one component: URNs as the
engine writes them, logical and AWS names. Each resource declared now must be found under its own URN
or an alias, resolved the way the engine resolves them (harness.EngineAliases), with its names unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import ROOT, EngineAliases, Program, run_program, stack_config

BEFORE = json.loads((ROOT / "tests" / "product" / "fixtures" / "resources_before_data_api.json").read_text())
DATA_API = "data-api:index:DataApi"
NAMED = ("name", "alarmName", "dashboardName", "bucket", "functionName", "roleName", "displayName")
CASES = {**{stack: (stack, None) for stack in BEFORE["stacks"]},
         **{variant: (body["stack"], body["config"]) for variant, body in BEFORE["variants"].items()}}


def before(case: str) -> list[dict[str, Any]]:
    return (BEFORE["stacks"].get(case) or BEFORE["variants"][case])["resources"]


def run_case(case: str) -> Program:
    stack, config = CASES[case]
    return run_program(config if config is not None else stack_config(ROOT / f"Pulumi.{stack}.yaml"), stack=stack)


def physical(resource) -> dict[str, Any]:
    return {key: resource.inputs[key] for key in NAMED if isinstance(resource.inputs.get(key), str)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_resource_of_before_is_found_again_with_its_names(case):
    stack = CASES[case][0]
    old = {r["urn"]: r for r in before(case)}
    program = run_case(case)
    engine = EngineAliases(set(old), project="data-api", stack=stack)
    created = []
    for resource in program.resources:
        found = engine.register(resource)
        if found is None:
            created.append(resource.urn)
            continue
        assert resource.name == old[found]["name"], f"{resource.urn}: was {found}"
        assert physical(resource) == old[found]["physical"], f"{resource.urn}: AWS names changed from {found}"
    assert created == [r.urn for r in program.of_type(DATA_API)], f"{case}: created {created}"
    # Grandchildren move too: the engine qualifies a URN's type by every ancestor's.
    rest_api = engine.urns[program.one("aws:apigateway/restApi:RestApi").urn]
    assert rest_api.endswith("::data-api:index:DataApi$data-api:index:Gateway$aws:apigateway/restApi:RestApi::api-rest-api")
    lost = sorted(set(old) - set(engine.matched.values()))
    assert lost == [], f"{case}: `pulumi up` would delete (and the program create anew) {lost}"


def test_the_product_is_the_parent_of_every_part(prod_program):
    product = prod_program.one(DATA_API, "data-api")
    parts = [r for r in prod_program.resources if r.parent == product.urn]
    assert sorted(r.name for r in parts) == ["alerts", "api", "data", "loader", "loader-publish", "operations"], parts
    by_urn = {r.urn: r for r in prod_program.resources}
    for resource in prod_program.resources:
        top = resource
        while top.parent in by_urn and top.parent != product.urn:
            top = by_urn[top.parent]
        assert resource is product or top.parent == product.urn, f"{resource.urn} is not the product's"


def test_each_part_aliases_its_place_at_the_top_of_the_stack(prod_program):
    product = prod_program.one(DATA_API, "data-api")
    for part in (r for r in prod_program.resources if r.parent == product.urn):
        assert part.aliases == [{"spec": {"noParent": True}}], f"{part.urn}: aliases {part.aliases}"
    # Their children carry no alias of their own: the engine derives theirs from the part's.
    gateway = prod_program.one("data-api:index:Gateway")
    assert all(r.aliases == [] for r in prod_program.resources if r.parent == gateway.urn), gateway.urn


def test_the_publish_bucket_still_finds_its_resources_where_the_loader_had_them(dev_program):
    # A stack last updated before the publish bucket was its own component holds the bucket under
    # the Loader: the bucket's older alias must still find it there, through the DataApi move too.
    older = set()
    for resource in before("dev"):
        urn = resource["urn"]
        if urn.endswith("data-api:index:PublishBucket::loader-publish"):
            continue
        older.add(urn.replace("::data-api:index:PublishBucket$", "::data-api:index:Loader$"))
    engine = EngineAliases(older, project="data-api", stack="dev")
    found = {r.name: engine.register(r) for r in dev_program.resources}
    assert found["loader-publish"] == "urn:pulumi:dev::data-api::data-api:index:Loader$aws:s3/bucket:Bucket::loader-publish"
    assert found["loader-publish-policy"] == (
        "urn:pulumi:dev::data-api::data-api:index:Loader$aws:s3/bucketPolicy:BucketPolicy::loader-publish-policy")
    assert found["loader-publish-lifecycle"] is not None and found["loader"] is not None, found
    assert sorted(older - set(engine.matched.values())) == []


def test_the_engine_emulation_finds_nothing_without_the_aliases(dev_program):
    # The check above can fail: stripped of their aliases, the parts are new resources.
    old = {r["urn"] for r in before("dev")}
    engine = EngineAliases(old, project="data-api", stack="dev")
    for resource in dev_program.resources:
        stripped = type(resource)(**{**resource.__dict__, "aliases": []})
        engine.register(stripped)
    assert engine.matched == {}, engine.matched
