"""The whole read path on LocalStack, over HTTP: the prod stack's own API, keys and loader.

The program runs for Pulumi.prod.yaml under the mock engine; what it declares (the REST API's
OpenAPI body, table, buckets, loader environment, keys and usage plans) is created on LocalStack,
and the real loader handler loads CSV drops into it. Then a client calls the API as a subscriber
would. The tests run in file order: first drop, second drop, invalid drop, reload.
"""

from __future__ import annotations

import csv
import http.client
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from botocore.client import BaseClient

from components.openapi import malformed_key
from harness import ROOT

from scripts.declared import DeclaredStack, declared_stack
from scripts.local_deploy import LocalApi, create_api, create_storage, destroy

from .deployment import SourceDrops, published_object

STACK_FILE = ROOT / "Pulumi.prod.yaml"
DATA = Path(__file__).resolve().parent / "data"
FIRST_DROP = DATA / "employees.csv"
SECOND_DROP = DATA / "employees-v2.csv"
INVALID_DROP = DATA / "employees-invalid.csv"
LOCAL_LOAD = ROOT / "scripts" / "local_load.py"
PARTITION_COLUMN = "department"
ITEM_COLUMN = "employee"
ITEMS_FIELD = "employees"
COLLECTION = "departments"
TIMEOUT = 30


# ---- what the API should serve, read from the CSV independently of the loader --------------


def typed(value: str, kind: str | None) -> Any:
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        return {"true": True, "false": False}[value.lower()]
    return value


def expected_documents(path: Path, column_types: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each department's document per the loader's contract: rows nested by employee, typed."""
    documents: dict[str, dict[str, Any]] = {}
    with path.open(newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            key = row.pop(PARTITION_COLUMN)
            employee = row.pop(ITEM_COLUMN)
            document = documents.setdefault(key, {PARTITION_COLUMN: key, ITEMS_FIELD: {}})
            document[ITEMS_FIELD][employee] = {name: typed(value, column_types.get(name)) for name, value in row.items()}
    return documents


def departments_of(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as rows:
        return list(dict.fromkeys(row[PARTITION_COLUMN] for row in csv.DictReader(rows)))


FIRST_DEPARTMENTS = departments_of(FIRST_DROP)
SECOND_DEPARTMENTS = departments_of(SECOND_DROP)
CHANGED = "Sales"
REMOVED = sorted(set(FIRST_DEPARTMENTS) - set(SECOND_DEPARTMENTS))
ADDED = sorted(set(SECOND_DEPARTMENTS) - set(FIRST_DEPARTMENTS))


def encode_uri_component(text: str) -> str:
    """What a browser's encodeURIComponent sends: UTF-8, everything but A-Z a-z 0-9 - _ . ! ~ * ' ( )."""
    return quote(text, safe="-_.!~*'()")


# ---- the product on LocalStack ---------------------------------------------------------------


@pytest.fixture(scope="module")
def declared() -> DeclaredStack:
    return declared_stack(STACK_FILE)


@pytest.fixture(scope="module")
def client(localstack_client, declared: DeclaredStack) -> Callable[[str], BaseClient]:
    """Clients for the stack's region, where the document's integrations call DynamoDB and S3."""
    return lambda service: localstack_client(service, region=declared.region)


@pytest.fixture(scope="module")
def api(declared: DeclaredStack, client, invoke_url) -> Iterator[LocalApi]:
    create_storage(declared, client)
    yield create_api(declared, client, invoke_url)
    # As `make local-destroy` does: the session's later tests start from an empty LocalStack.
    deleted = destroy(declared, client)
    assert destroy(declared, client) == [], f"{declared.stack}: a second destroy still found resources"
    assert f"table {declared.table_name}" in deleted, f"{declared.stack}: destroy deleted {deleted}"


@pytest.fixture(scope="module")
def drops(declared: DeclaredStack, localstack_endpoint: str, client, api) -> SourceDrops:
    return SourceDrops(declared, localstack_endpoint, client)


@pytest.fixture(scope="module")
def first_drop(drops: SourceDrops) -> dict[str, Any]:
    result = drops.load(FIRST_DROP.read_bytes())
    assert [load["outcome"] for load in result["loads"]] == ["succeeded"], result
    return result


def customer_key(declared: DeclaredStack, api: LocalApi) -> tuple[str, str]:
    key = next(k for k in declared.keys if k.customer and k.enabled)
    return key.owner, api.key_values[key.owner]


def internal_key(declared: DeclaredStack, api: LocalApi) -> tuple[str, str]:
    key = next(k for k in declared.keys if not k.customer)
    return key.owner, api.key_values[key.owner]


def get(url: str, api_key: str | None, headers: dict[str, str] | None = None) -> requests.Response:
    sent = dict(headers or {})
    if api_key is not None:
        sent["x-api-key"] = api_key
    return requests.get(url, headers=sent, timeout=TIMEOUT)


def item_url(api: LocalApi, department: str) -> str:
    return f"{api.stage_url}/{COLLECTION}/{encode_uri_component(department)}"


def assert_json(response: requests.Response, status: int, what: str) -> Any:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text}"
    content_type = response.headers.get("Content-Type", "")
    assert content_type.split(";")[0].strip() == "application/json", f"{what}: Content-Type {content_type!r}"
    try:
        return response.json()
    except ValueError as error:
        raise AssertionError(f"{what}: the body is not JSON: {response.text!r}") from error


def served(api: LocalApi, api_key: str, departments: list[str]) -> dict[str, tuple[int, str]]:
    """Each department's status and body as the API serves them now."""
    answers = {}
    for department in departments:
        response = get(item_url(api, department), api_key)
        answers[department] = (response.status_code, response.text)
    return answers


# ---- the first drop --------------------------------------------------------------------------


def test_the_sample_and_the_stack_exercise_what_the_suite_claims(declared: DeclaredStack):
    awkward = {"double quote": '"', "apostrophe": "'", "ampersand": "&", "space": " ", "slash": "/",
               "plus": "+", "backslash": "\\", "percent": "%"}
    for what, character in awkward.items():
        assert any(character in key for key in FIRST_DEPARTMENTS), f"{FIRST_DROP.name}: no department with a {what}"
    assert any(not key.isascii() for key in FIRST_DEPARTMENTS), f"{FIRST_DROP.name}: no non-ASCII department"
    assert REMOVED and ADDED and CHANGED in SECOND_DEPARTMENTS, f"{SECOND_DROP.name}: removed {REMOVED}, added {ADDED}"
    assert any(k.customer and not k.enabled for k in declared.keys), f"{STACK_FILE.name}: no disabled customer"
    assert any(not k.customer for k in declared.keys), f"{STACK_FILE.name}: no internal key"
    assert declared.column_types, f"{STACK_FILE.name}: no typed columns to check the loader's typing"


@pytest.mark.parametrize("department", FIRST_DEPARTMENTS)
def test_every_department_is_served_to_a_customer_and_to_an_internal_key(declared, api, first_drop, department):
    expected = expected_documents(FIRST_DROP, declared.column_types)[department]
    for owner, value in (customer_key(declared, api), internal_key(declared, api)):
        url = item_url(api, department)
        body = assert_json(get(url, value), 200, f"GET {url} with {owner}'s key")
        assert body == expected, f"GET {url} with {owner}'s key: {body}"


def test_every_enabled_key_is_accepted_and_the_disabled_one_is_not(declared, api, first_drop):
    url = item_url(api, FIRST_DEPARTMENTS[0])
    for key in declared.keys:
        response = get(url, api.key_values[key.owner])
        expected = 200 if key.enabled else 403
        assert response.status_code == expected, f"GET {url} with {key.owner}'s key ({key.name}): {response.status_code}"


@pytest.mark.parametrize("case", ["no key", "wrong key", "disabled customer's key"])
@pytest.mark.parametrize("route", ["item", "index", "snapshot"])
def test_requests_without_a_valid_enabled_key_are_403_with_a_json_message(declared, api, first_drop, case, route):
    disabled = next(k for k in declared.keys if k.customer and not k.enabled)
    api_key = {"no key": None, "wrong key": api.key_values[disabled.owner][::-1] + "x",
               "disabled customer's key": api.key_values[disabled.owner]}[case]
    path = {"item": f"{COLLECTION}/{encode_uri_component(CHANGED)}", "index": COLLECTION, "snapshot": "snapshot"}[route]
    url = f"{api.stage_url}/{path}"
    body = assert_json(get(url, api_key), 403, f"GET {url} with {case}")
    assert isinstance(body, dict) and set(body) == {"message"} and body["message"], f"GET {url}: {body}"


@pytest.mark.parametrize("department", ["Nobody", "sales", "R%26D", "Sales ", "_loader#marker", "_loader#lease"])
def test_an_unknown_department_is_404_with_a_json_message(declared, api, first_drop, department):
    owner, value = customer_key(declared, api)
    url = item_url(api, department)
    body = assert_json(get(url, value), 404, f"GET {url} with {owner}'s key")
    assert isinstance(body, dict) and set(body) == {"message"} and body["message"], f"GET {url}: {body}"


def test_an_undeclared_route_is_404_with_a_json_message(declared, api, first_drop):
    # The document's gateway responses turn API Gateway's 403 for an unknown route into a 404.
    _, value = customer_key(declared, api)
    url = f"{api.stage_url}/{COLLECTION}/{encode_uri_component(CHANGED)}/employees"
    body = assert_json(get(url, value), 404, f"GET {url}")
    assert isinstance(body, dict) and body.get("message"), f"GET {url}: {body}"


def raw_get(url: str, api_key: str) -> tuple[int, str, bytes]:
    """A GET with the path sent exactly as written: requests and urllib3 re-encode a stray '%'."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        connection.request("GET", parts.path, headers={"x-api-key": api_key})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("segment", ["%", "%zz", "%E2%82", "Sales%"])
def test_malformed_percent_encoding_is_a_json_400(declared, api, first_drop, segment):
    _, value = customer_key(declared, api)
    url = f"{api.stage_url}/{COLLECTION}/{segment}"
    status, content_type, body = raw_get(url, value)
    assert status == 400, f"GET {url}: {status} {body!r}"
    assert content_type.split(";")[0].strip() == "application/json", f"GET {url}: {content_type}"
    assert json.loads(body) == {"message": malformed_key(PARTITION_COLUMN)}, f"GET {url}: {body!r}"


def test_a_literal_plus_in_the_path_reads_as_a_space(declared, api, first_drop):
    # Documented: clients send '+' as %2B; a bare '+' is decoded to a space like a form value.
    _, value = customer_key(declared, api)
    url = f"{api.stage_url}/{COLLECTION}/C++"
    assert_json(get(url, value), 404, f"GET {url}")


@pytest.mark.parametrize("route, name", [(COLLECTION, "index.json"), ("snapshot", "snapshot.json")])
def test_published_objects_are_served_with_an_etag_then_304(declared, api, client, first_drop, route, name):
    _, value = customer_key(declared, api)
    url = f"{api.stage_url}/{route}"
    response = get(url, value)
    body = assert_json(response, 200, f"GET {url}")
    assert response.content == published_object(client, declared, name), f"GET {url}: not the published {name}"
    assert set(body[COLLECTION]) == set(FIRST_DEPARTMENTS), f"GET {url}: {sorted(body[COLLECTION])}"
    if name == "snapshot.json":
        assert body[COLLECTION] == expected_documents(FIRST_DROP, declared.column_types), f"GET {url}"
    else:
        assert body["count"] == len(FIRST_DEPARTMENTS), f"GET {url}: count {body['count']}"
    etag = response.headers.get("ETag")
    assert etag, f"GET {url}: no ETag header in {dict(response.headers)}"

    again = get(url, value, {"If-None-Match": etag})

    assert again.status_code == 304, f"GET {url} with If-None-Match {etag}: {again.status_code} {again.text}"
    # LocalStack's S3 sends no ETag with a 304 (AWS's does), so only the status and body are checked.
    assert again.content == b"", f"GET {url} with If-None-Match: a 304 has no body, got {again.text!r}"


# ---- the second drop: one department changed, one removed, one added ------------------------


@pytest.fixture(scope="module")
def before_second_drop(declared, api, first_drop) -> dict[str, str]:
    """The published objects' ETags as the first drop left them."""
    _, value = customer_key(declared, api)
    return {route: get(f"{api.stage_url}/{route}", value).headers["ETag"] for route in (COLLECTION, "snapshot")}


@pytest.fixture(scope="module")
def second_drop(drops: SourceDrops, before_second_drop) -> dict[str, Any]:
    result = drops.load(SECOND_DROP.read_bytes())
    assert [load["outcome"] for load in result["loads"]] == ["succeeded"], result
    load = result["loads"][0]
    assert (load["keysWritten"], load["keysDeleted"]) == (1 + len(ADDED), len(REMOVED)), load
    return result


def test_the_second_drop_is_what_the_api_serves(declared, api, second_drop):
    expected = expected_documents(SECOND_DROP, declared.column_types)
    first = expected_documents(FIRST_DROP, declared.column_types)
    assert expected[CHANGED] != first[CHANGED], f"{SECOND_DROP.name}: {CHANGED} is not changed"
    _, value = internal_key(declared, api)
    for department in SECOND_DEPARTMENTS:
        url = item_url(api, department)
        body = assert_json(get(url, value), 200, f"GET {url} after the second drop")
        assert body == expected[department], f"GET {url} after the second drop: {body}"
    for department in REMOVED:
        url = item_url(api, department)
        assert_json(get(url, value), 404, f"GET {url}: removed by the second drop")


def test_the_second_drop_replaces_the_index_and_snapshot(declared, api, before_second_drop, second_drop):
    _, value = customer_key(declared, api)
    for route in (COLLECTION, "snapshot"):
        url = f"{api.stage_url}/{route}"
        response = get(url, value, {"If-None-Match": before_second_drop[route]})
        body = assert_json(response, 200, f"GET {url} with the first drop's ETag")
        assert response.headers.get("ETag") not in (None, before_second_drop[route]), f"GET {url}: ETag unchanged"
        assert set(body[COLLECTION]) == set(SECOND_DEPARTMENTS), f"GET {url}: {sorted(body[COLLECTION])}"


# ---- an invalid drop changes nothing that is served ------------------------------------------


@pytest.fixture(scope="module")
def invalid_drop(declared, api, drops: SourceDrops, second_drop) -> dict[str, Any]:
    """What the API served before the invalid drop, and the error the loader raised for it."""
    _, value = customer_key(declared, api)
    probe = sorted(set(SECOND_DEPARTMENTS) | set(departments_of(INVALID_DROP)))
    before = {
        "items": served(api, value, probe),
        "etags": {route: get(f"{api.stage_url}/{route}", value).headers["ETag"] for route in (COLLECTION, "snapshot")},
    }
    with pytest.raises(Exception) as failure:
        drops.load(INVALID_DROP.read_bytes())
    return {"before": before, "probe": probe, "error": failure.value}


def test_an_invalid_drop_fails_naming_the_bad_values(invalid_drop):
    error = invalid_drop["error"]
    assert type(error).__name__ == "InvalidSource", f"{type(error).__name__}: {error}"
    assert "'a lot'" in str(error) and "'maybe'" in str(error), str(error)


def test_an_invalid_drop_changes_nothing_the_api_serves(declared, api, invalid_drop):
    _, value = customer_key(declared, api)
    after = served(api, value, invalid_drop["probe"])
    assert after == invalid_drop["before"]["items"], "an invalid drop changed what the item route serves"
    for route, etag in invalid_drop["before"]["etags"].items():
        url = f"{api.stage_url}/{route}"
        response = get(url, value, {"If-None-Match": etag})
        assert response.status_code == 304, f"GET {url}: the invalid drop replaced it ({response.status_code})"


# ---- make local-load: the same handler from the command line ---------------------------------


def test_local_load_runs_the_handler_for_a_file_and_the_api_serves_it(declared, api, localstack_endpoint, invalid_drop):
    command = [
        sys.executable, str(LOCAL_LOAD), str(FIRST_DROP),
        "--stack-file", str(STACK_FILE),
        "--endpoint", localstack_endpoint,
        "--table", declared.table_name,
        "--source-bucket", declared.source_bucket,
        "--publish-bucket", declared.publish_bucket,
        "--function-name", declared.loader_environment["METRICS_SERVICE"],
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert run.returncode == 0, f"{' '.join(command)} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    summary = json.loads(run.stdout)
    assert [load["outcome"] for load in summary["loads"]] == ["succeeded"], run.stdout

    expected = expected_documents(FIRST_DROP, declared.column_types)
    _, value = internal_key(declared, api)
    for department in sorted(set(FIRST_DEPARTMENTS) | set(ADDED)):
        url = item_url(api, department)
        if department in expected:
            body = assert_json(get(url, value), 200, f"GET {url} after local_load")
            assert body == expected[department], f"GET {url} after local_load: {body}"
        else:
            assert_json(get(url, value), 404, f"GET {url}: not in {FIRST_DROP.name}")


# ---- data past AWS's limits: a department over DynamoDB's item limit, a data set over 10 MB ------

LARGE_DEPARTMENT = "Big Data & Co/EMEA"
# With the first drop's departments: about 11 MB in all, over API Gateway's 10 MB response limit.
ARCHIVES = [f"Archive {number}" for number in range(1, 7)]


def wide_rows(department: str, megabytes: float) -> list[list[str]]:
    """Rows of one department whose document comes to about `megabytes` MiB."""
    width = 50_000
    count = round(megabytes * 1024 * 1024 / (width + 60))
    return [[department, f"e{number:03d}", f"{'t' * width} {number}", str(number), "true"] for number in range(count)]


@pytest.fixture(scope="module")
def large_drop_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("large") / "employees-large.csv"
    with FIRST_DROP.open(newline="", encoding="utf-8") as first, path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        for row in csv.reader(first):
            writer.writerow(row)
        for row in wide_rows(LARGE_DEPARTMENT, 1.5):
            writer.writerow(row)
        for archive in ARCHIVES:
            for row in wide_rows(archive, 1.6):
                writer.writerow(row)
    return path


@pytest.fixture(scope="module")
def large_drop(drops: SourceDrops, large_drop_file: Path, invalid_drop) -> dict[str, Any]:
    # After the invalid drop (and make local-load): the first drop's departments are all still here.
    result = drops.load(large_drop_file.read_bytes())
    assert [load["outcome"] for load in result["loads"]] == ["succeeded"], result
    load = result["loads"][0]
    assert load["largeDocuments"] == 1 + len(ARCHIVES) and load["snapshotBytes"] > 10 * 1024 * 1024, load
    return load


def test_a_department_over_the_item_limit_is_served_by_following_the_redirect(declared, api, large_drop_file,
                                                                                large_drop):
    expected = expected_documents(large_drop_file, declared.column_types)
    _, value = customer_key(declared, api)
    url = item_url(api, LARGE_DEPARTMENT)
    response = get(url, value)
    body = assert_json(response, 200, f"GET {url} (following redirects)")
    assert body == expected[LARGE_DEPARTMENT], f"GET {url}: not the department's document"
    assert [r.status_code for r in response.history] == [303], f"GET {url}: {response.history}"
    location = response.history[0].headers["Location"]
    assert location.startswith("../documents/"), f"GET {url}: Location {location!r}"
    assert response.url.startswith(f"{api.stage_url}/documents/"), response.url
    assert len(response.content) > 400 * 1024 and response.headers.get("ETag"), f"GET {response.url}"
    small = get(item_url(api, CHANGED), value)
    assert assert_json(small, 200, f"GET {item_url(api, CHANGED)}") == expected[CHANGED] and not small.history


def test_every_part_is_served_and_together_the_parts_are_the_data_set(declared, api, large_drop_file, large_drop):
    expected = expected_documents(large_drop_file, declared.column_types)
    _, value = internal_key(declared, api)
    index = assert_json(get(f"{api.stage_url}/{COLLECTION}", value), 200, "GET the index")
    total = index["snapshotParts"]
    assert total == large_drop["snapshotParts"] >= 2, index["snapshotParts"]
    merged: dict[str, Any] = {}
    for number in range(1, total + 1):
        url = f"{api.stage_url}/snapshot/parts/{number}"
        response = get(url, value)
        part = assert_json(response, 200, f"GET {url}")
        assert [r.status_code for r in response.history] == [303], f"GET {url}: {response.history}"
        assert (part["part"], part["parts"]) == (number, total), f"GET {url}"
        assert len(response.content) <= 8 * 1024 * 1024 or len(part[COLLECTION]) == 1, f"GET {url}: too large"
        assert not set(part[COLLECTION]) & set(merged), f"GET {url}: a department in two parts"
        merged.update(part[COLLECTION])
    assert merged == expected, "the parts together are not the data set"
    past = f"{api.stage_url}/snapshot/parts/{total + 1}"
    body = assert_json(get(past, value), 404, f"GET {past}")
    assert set(body) == {"message"} and str(total) in body["message"], f"GET {past}: {body}"


def test_a_part_is_served_with_an_etag_then_304(declared, api, large_drop):
    _, value = customer_key(declared, api)
    url = f"{api.stage_url}/snapshot/parts/1"
    first = get(url, value)
    etag = first.headers.get("ETag")
    assert first.status_code == 200 and etag, f"GET {url}: {first.status_code} {dict(first.headers)}"
    again = get(url, value, {"If-None-Match": etag})
    assert again.status_code == 304, f"GET {url} with If-None-Match {etag}: {again.status_code}"


def test_the_snapshot_over_10_mb_answers_413_naming_the_parts(declared, api, large_drop):
    _, value = customer_key(declared, api)
    url = f"{api.stage_url}/snapshot"
    body = assert_json(get(url, value), 413, f"GET {url}")
    total = large_drop["snapshotParts"]
    assert "/snapshot/parts/{part}" in body["message"] and f"{total} parts" in body["message"], body
    assert body["parts"] == total, body
