"""Data past AWS's limits through the real templates: large documents, the snapshot in parts, and
the snapshot's 413, rendered as API Gateway renders them against what the real loader wrote to moto.

Redirects are followed as a client does: the Location resolved against the request's path (which
holds the percent-encoded key), the same headers sent again.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json

import boto3
import pytest

from components import openapi

from apigw_harness import ApiGateway, encode_uri_component
from test_gateway_templates import (  # noqa: F401  (fixtures)
    AWKWARD_KEYS,
    BACKEND,
    BUCKET,
    ITEM,
    PUBLISH,
    REGION,
    SHAPE,
    SOURCE_BUCKET,
    SOURCE_KEY,
    LambdaContext,
    aws_velocity,
    store,
)

DOCUMENT = "/documents/{document}"
PARTS = "/snapshot/parts/{part}"
LOAD_PART = "/snapshot/loads/{load}/parts/{part}"
SNAPSHOT = "/snapshot"
# Enough rows of this width make a document too large for a DynamoDB item (400 KB).
WIDE = "w" * 2_000
LARGE_ROWS = 220
SMALL_KEYS = ["Ops", "Tiny team"]


def source_csv(large_keys: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["department", "employee", "title", "salary"])
    for key in large_keys:
        for number in range(LARGE_ROWS):
            writer.writerow([key, f"e{number:03d}", f"{WIDE} {key}", str(number)])
    for key in SMALL_KEYS:
        writer.writerow([key, "solo", "Operator", "1"])
    return out.getvalue().encode()


def load(body: bytes, monkeypatch, **limits: int) -> dict:
    """Runs the real handler on `body` (with the publishing limits given) and returns its result."""
    s3 = boto3.client("s3", region_name=REGION)
    version = s3.put_object(Bucket=SOURCE_BUCKET, Key=SOURCE_KEY, Body=body)["VersionId"]
    handler = importlib.import_module("handler")
    published = importlib.import_module("loader.published")
    for name, value in limits.items():
        monkeypatch.setattr(published, name, value)
    monkeypatch.setattr(handler, "_loader", None)
    event = {"Records": [{
        "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": SOURCE_BUCKET}, "object": {"key": SOURCE_KEY, "versionId": version}},
    }]}
    result = handler.handler(event, LambdaContext())
    assert [one["outcome"] for one in result["loads"]] == ["succeeded"], result
    return result["loads"][0]


def stored_document(store, key: str) -> str:
    """The document as the loader stored it: in its item, or in the object its item names."""
    item = store.get_item(TableName="data-api-test-table", Key={"pk": {"S": key}})["Item"]
    if "doc" in item:
        return item["doc"]["S"]
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket=BUCKET, Key=f"{PUBLISH}documents/{item['docRef']['S']}")["Body"].read()
    return body.decode()


def published_object(name: str) -> bytes:
    return boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=f"{PUBLISH}{name}")["Body"].read()


@pytest.fixture
def large(store, monkeypatch) -> dict:
    """Every awkward key with a document too large for its item, and two small ones."""
    result = load(source_csv(AWKWARD_KEYS), monkeypatch)
    assert result["largeDocuments"] == len(AWKWARD_KEYS), result
    return result


@pytest.fixture
def gateway() -> ApiGateway:
    return ApiGateway(openapi.document(SHAPE, BACKEND), REGION)


# ---- large documents through the item route ----------------------------------------------------


def test_a_large_document_is_a_303_to_its_object_on_the_same_api_whatever_its_key(large, gateway):
    # One load for every key: each key's document is over 400 KB.
    for key in AWKWARD_KEYS:
        response = gateway.get(ITEM, {"department": encode_uri_component(key)})

        ref = hashlib.sha256(key.encode("utf-8")).hexdigest()
        assert response.status == 303, f"{key!r}: {response.status} {response.body[:200]}"
        assert response.headers == {"Content-Type": "application/json", "Location": f"../documents/{ref}"}, key
        assert response.json() == {
            "message": "See Other: this department's document is too large for the table and is served at "
                       "the location given",
            "location": f"../documents/{ref}",
        }, key


def test_following_the_redirect_serves_the_document_byte_for_byte_with_an_etag(large, store, gateway):
    for key in AWKWARD_KEYS:
        response, paths = gateway.follow(ITEM, {"department": encode_uri_component(key)})

        ref = hashlib.sha256(key.encode("utf-8")).hexdigest()
        assert paths == [f"/departments/{encode_uri_component(key)}", f"/documents/{ref}"], paths
        assert response.status == 200, f"{key!r}: {response.status} {response.body[:200]}"
        assert response.body == stored_document(store, key), f"{key!r}: not the stored document"
        document = response.json()
        assert document["department"] == key and len(document["employees"]) == LARGE_ROWS, key
        assert document["employees"]["e007"] == {"title": f"{WIDE} {key}", "salary": "7"}, key
        assert len(response.body.encode()) > 400 * 1024, f"{key!r}: the document is not over the item limit"
        etag = response.headers.get("ETag")
        assert etag and response.headers["Content-Type"] == "application/json", (key, response.headers)

        again, _ = gateway.follow(ITEM, {"department": encode_uri_component(key)}, {"If-None-Match": etag})
        assert again.status == 304, f"{key!r}: {again.status}"


def test_a_small_document_beside_large_ones_is_still_one_request(large, store, gateway):
    for key in SMALL_KEYS:
        response, paths = gateway.follow(ITEM, {"department": encode_uri_component(key)})
        assert len(paths) == 1 and response.status == 200, (key, paths, response.status)
        assert response.body == stored_document(store, key), key


@pytest.mark.parametrize("ref", ["0" * 64, "not-hex", "..%2F_loader%2Fmanifest.json"])
def test_an_unknown_document_id_is_a_json_404(store, gateway, ref):
    response = gateway.get(DOCUMENT, {"document": ref})
    assert response.status == 404, response.body
    assert response.json() == {"message": "Not found: no such document: its department changed or left, "
                                          "ask GET /departments/{department} again"}


def test_the_marker_path_needs_the_reference_attribute_in_the_request(large):
    # Without docRef in the projection the item route would answer a large document with 404.
    document = openapi.document(SHAPE, BACKEND)
    integration = document["paths"][ITEM]["get"]["x-amazon-apigateway-integration"]
    template = integration["requestTemplates"]["application/json"]
    assert '"doc, docRef"' in template
    integration["requestTemplates"]["application/json"] = template.replace('"doc, docRef"', '"doc"')
    response = ApiGateway(document, REGION).get(ITEM, {"department": encode_uri_component("R&D")})
    assert response.status == 404


def test_a_key_that_moves_back_into_its_item_is_served_from_it_and_its_object_is_gone(large, store, gateway,
                                                                                       monkeypatch):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["department", "employee", "title", "salary"])
    for key in AWKWARD_KEYS + SMALL_KEYS:
        writer.writerow([key, "solo", "small again", "1"])
    assert load(out.getvalue().encode(), monkeypatch)["largeDocuments"] == 0
    for key in AWKWARD_KEYS:
        ref = hashlib.sha256(key.encode("utf-8")).hexdigest()
        assert gateway.get(DOCUMENT, {"document": ref}).status == 404, f"{key!r}: its object outlived it"
        response, paths = gateway.follow(ITEM, {"department": encode_uri_component(key)})
        assert len(paths) == 1 and response.status == 200, f"{key!r}: {paths} {response.status}"
        assert response.json() == {"department": key, "employees": {"solo": {"salary": "1", "title": "small again"}}}


# ---- the snapshot in parts ---------------------------------------------------------------------


@pytest.fixture
def parts(store, monkeypatch) -> dict:
    """Small keys only, with parts of at most 400 bytes: many parts."""
    body = ("department,employee,title,salary\n"
            + "".join(f"d{number:02d},e{number},title {number},{number}\n" for number in range(24))).encode()
    return load(body, monkeypatch, PART_LIMIT=400)


def test_every_part_is_served_through_the_redirect_in_order_and_together_they_are_the_snapshot(parts, gateway):
    index = json.loads(published_object("index.json"))
    snapshot = json.loads(published_object("snapshot.json"))
    total = index["snapshotParts"]
    assert total == parts["snapshotParts"] > 3
    merged = {}
    for number in range(1, total + 1):
        response, paths = gateway.follow(PARTS, {"part": str(number)})
        assert paths == [f"/snapshot/parts/{number}",
                         f"/snapshot/loads/{index['snapshotPartsId']}/parts/{number}"], paths
        assert response.status == 200, f"part {number}: {response.status} {response.body}"
        assert response.body.encode() == published_object(f"snapshot/{index['snapshotPartsId']}/{number}")
        part = response.json()
        assert (part["part"], part["parts"], part["loadedAt"]) == (number, total, snapshot["loadedAt"])
        assert list(part["departments"]) == sorted(part["departments"])
        assert not set(part["departments"]) & set(merged), f"part {number} repeats a key"
        merged.update(part["departments"])
    assert list(merged) == list(snapshot["departments"]) and merged == snapshot["departments"]


def test_a_part_answers_304_to_its_etag(parts, gateway):
    first, _ = gateway.follow(PARTS, {"part": "2"})
    again, _ = gateway.follow(PARTS, {"part": "2"}, {"If-None-Match": first.headers["ETag"]})
    assert again.status == 304, again.status


@pytest.mark.parametrize("part", ["past", "0", "01", "-1", "1.0", "%31", "abc", "1%2F..", ""])
def test_a_part_past_the_last_or_not_a_part_number_is_a_json_404(parts, gateway, part):
    total = parts["snapshotParts"]
    part = str(total + 1) if part == "past" else part
    response = gateway.get(PARTS, {"part": part})
    assert response.status == 404, f"{part!r}: {response.status} {response.body}"
    assert response.json() == {"message": f"Not found: the snapshot's parts are numbered 1 to {total} "
                                          "(snapshotParts in GET /departments)"}
    assert "Location" not in response.headers


def test_the_parts_route_reads_only_what_index_json_names(parts, gateway):
    # A set that index.json does not name (a load that died before its index) is never redirected to.
    index = json.loads(published_object("index.json"))
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key=f"{PUBLISH}snapshot/unfinished/1", Body=b'{"part":1}')
    response = gateway.get(PARTS, {"part": "1"})
    assert response.headers["Location"] == f"../loads/{index['snapshotPartsId']}/parts/1"


def test_a_replaced_set_is_a_json_404_naming_where_to_start_again(parts, gateway):
    response = gateway.get(LOAD_PART, {"load": "20000101T000000000Z-00000000", "part": "1"})
    assert response.status == 404
    assert response.json() == {"message": "Not found: no such part of this load: a later load replaced it, "
                                          "start again at GET /snapshot/parts/{part}"}


def test_before_the_first_load_the_parts_route_is_404_nothing_published(store, gateway):
    response = gateway.get(PARTS, {"part": "1"})
    assert response.status == 404 and response.json() == {"message": "Not found: nothing is published yet"}


# ---- the snapshot route above 10 MB ------------------------------------------------------------


def test_the_snapshot_is_served_byte_for_byte_while_it_is_under_the_limit(parts, gateway):
    response = gateway.get(SNAPSHOT)
    assert response.status == 200 and response.body.encode() == published_object("snapshot.json")


def test_above_the_limit_the_snapshot_route_is_a_413_naming_the_parts_route_and_count(store, gateway, monkeypatch):
    body = ("department,employee,title,salary\n"
            + "".join(f"d{number:02d},e{number},title {number},{number}\n" for number in range(24))).encode()
    result = load(body, monkeypatch, API_RESPONSE_LIMIT=1_000, PART_LIMIT=400)

    response = gateway.get(SNAPSHOT)

    assert response.status == 413, f"{response.status} {response.body[:300]}"
    notice = response.json()
    total = result["snapshotParts"]
    assert "GET /snapshot/parts/{part}" in notice["message"] and f"{total} parts" in notice["message"]
    assert notice["parts"] == total and notice["partsRoute"] == PARTS
    assert response.headers["Content-Type"] == "application/json" and response.headers.get("ETag")


def test_the_413_check_is_the_notices_mark_and_nothing_else(gateway):
    # The template looks for the notice's indented field; a compact snapshot can never hold it.
    assert openapi.TOO_LARGE_MARK == '"snapshotTooLarge": '
    compact = json.dumps({"loadedAt": "x", "departments": {"snapshotTooLarge": {"snapshotTooLarge": True}}},
                         separators=(",", ":"))
    assert gateway.respond(SNAPSHOT, 200, {}, compact).status == 200
    notice = json.dumps({"snapshotTooLarge": True, "message": "m"}, indent=2)
    answered = gateway.respond(SNAPSHOT, 200, {}, notice)
    assert answered.status == 413 and answered.body == notice
