"""Data past AWS's limits: documents too large for an item, and the snapshot in parts."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.exceptions import ClientError
from loader_support import (
    EMPLOYEES,
    PUBLISH_BUCKET,
    PUBLISH_PREFIX,
    ScriptedS3,
    departments_csv,
    nest,
    stdout_lines,
)

from loader.errors import InvalidSource, StoreError

SNAPSHOT = f"{PUBLISH_PREFIX}snapshot.json"
INDEX = f"{PUBLISH_PREFIX}index.json"
MANIFEST = f"{PUBLISH_PREFIX}_loader/manifest.json"
PART_SETS = f"{PUBLISH_PREFIX}_loader/snapshot-parts.json"
DOCUMENTS = f"{PUBLISH_PREFIX}documents/"
PARTS = f"{PUBLISH_PREFIX}snapshot/"
MB = 1024 * 1024


def ref(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def big_rows(department: str, megabytes: float, prefix: str = "e") -> str:
    """Rows of one department whose document comes to about `megabytes` MiB."""
    width = 100_000
    count = max(1, round(megabytes * MB / (width + 30)))
    return "".join(f"{department},{prefix}{i:04d},{'x' * width},{i}\n" for i in range(count))


HEADER = "department,employee,title,salary\n"
SMALL = "Ops,dan,Operator,90\nR&D,carol,Scientist,300\n"


def objects_under(harness, prefix: str) -> dict[str, bytes]:
    listing = harness.aws.s3.list_objects_v2(Bucket=PUBLISH_BUCKET, Prefix=prefix).get("Contents", [])
    return {entry["Key"]: harness.object(entry["Key"]) for entry in listing}


def served(harness, key: str) -> bytes:
    """The document as a reader finds it: the item's document, or the object its item points at."""
    item = harness.data_items()[key]
    if "doc" in item:
        assert "docRef" not in item, f"item {key!r} has both a document and an object"
        return item["doc"]["S"].encode("utf-8")
    body = harness.object(f"{DOCUMENTS}{item['docRef']['S']}")
    assert body is not None, f"item {key!r} points at {item['docRef']['S']}, which does not exist"
    return body


def parts_of(harness) -> list[dict]:
    """Every part the published index names, in order, parsed."""
    index = harness.published("index.json")
    bodies = [harness.object(f"{PARTS}{index['snapshotPartsId']}/{n}") for n in range(1, index["snapshotParts"] + 1)]
    assert all(body is not None for body in bodies), f"index.json names parts that do not exist: {index}"
    return [json.loads(body) for body in bodies]


# ----------------------------------------------------------------------------------------------
# Large documents
# ----------------------------------------------------------------------------------------------


def test_documents_of_1_5_mb_and_9_9_mb_are_stored_as_objects_and_served_whole(harness, capsys):
    text = HEADER + SMALL + big_rows("Big", 1.5) + big_rows("Huge", 9.9)
    expected = nest(text)
    assert 1.4 * MB < len(expected["Big"]) < 1.6 * MB and 9.8 * MB < len(expected["Huge"]) < 10 * MB

    result = harness.drop(text)["loads"][0]

    for key in ("Big", "Huge"):
        item = harness.data_items()[key]
        assert "doc" not in item and item["docRef"]["S"] == ref(key), f"item {key!r}: {sorted(item)}"
        assert item["hash"]["S"] == hashlib.sha256(expected[key].encode()).hexdigest(), key
        assert served(harness, key) == expected[key].encode(), f"{key}: the object is not the document"
        head = harness.aws.s3.head_object(Bucket=PUBLISH_BUCKET, Key=f"{DOCUMENTS}{ref(key)}")
        assert head["ContentType"] == "application/json", key
    for key in ("Ops", "R&D"):
        assert harness.data_items()[key]["doc"]["S"] == expected[key], f"{key}: a small document stays in its item"
    assert sorted(objects_under(harness, DOCUMENTS)) == sorted(f"{DOCUMENTS}{ref(k)}" for k in ("Big", "Huge"))
    # Together they are over 10 MB: snapshot.json is the notice, and the parts hold them.
    assert json.loads(harness.object(SNAPSHOT))["snapshotTooLarge"] is True
    merged = {key: doc for part in parts_of(harness) for key, doc in part["departments"].items()}
    assert merged == {key: json.loads(doc) for key, doc in expected.items()}
    summaries = [line for line in stdout_lines(capsys.readouterr().out) if line.get("message") == "load succeeded"]
    assert len(summaries) == 1 and summaries[0]["largeDocuments"] == 2 == result["largeDocuments"]


def test_a_document_over_10_mb_is_rejected_naming_key_size_and_limit_and_nothing_is_written(harness):
    harness.drop(HEADER + SMALL + big_rows("Big", 1.5))
    before = harness.state()

    with pytest.raises(InvalidSource) as raised:
        harness.drop(HEADER + SMALL + big_rows("Big", 1.5) + big_rows("Giant", 11))

    assert harness.state() == before, "a rejected file changed the table or a published object"
    message = str(raised.value)
    assert "the document for 'Giant'" in message and "over the 10,485,760-byte document limit" in message
    size = len(nest(HEADER + big_rows("Giant", 11))["Giant"])
    assert f"would be {size:,} bytes" in message, message


def test_a_large_document_is_rewritten_only_when_it_changes_and_removed_when_its_key_leaves(harness):
    text = HEADER + SMALL + big_rows("Big", 1.5)
    harness.drop(text)
    harness.s3_writes.clear()

    assert harness.drop(text + "Ops,erin,Operator,91\n")["loads"][0]["keysWritten"] == 1
    assert not [key for key in harness.s3_writes if key.startswith(DOCUMENTS)], "an unchanged document was rewritten"

    changed = HEADER + SMALL + big_rows("Big", 1.5, prefix="f")
    harness.drop(changed)
    assert served(harness, "Big") == nest(changed)["Big"].encode()
    assert [key for key in harness.s3_writes if key.startswith(DOCUMENTS)] == [f"{DOCUMENTS}{ref('Big')}"]

    harness.drop(HEADER + SMALL + "Sales,alice,Engineer,100\n")
    assert "Big" not in harness.data_items() and objects_under(harness, DOCUMENTS) == {}


def test_a_key_moving_from_item_to_object_and_back_leaves_no_stale_copy(harness):
    small = HEADER + SMALL + "Big,alice,Engineer,100\n"
    large = HEADER + SMALL + big_rows("Big", 1.5)

    harness.drop(small)
    harness.drop(large)
    item = harness.data_items()["Big"]
    assert "doc" not in item and served(harness, "Big") == nest(large)["Big"].encode()
    assert list(objects_under(harness, DOCUMENTS)) == [f"{DOCUMENTS}{ref('Big')}"]

    harness.drop(small)
    item = harness.data_items()["Big"]
    assert "docRef" not in item and item["doc"]["S"] == nest(small)["Big"]
    assert objects_under(harness, DOCUMENTS) == {}, "the object outlived its move back into the item"


def test_a_load_that_dies_after_a_large_documents_object_leaves_it_for_the_next_load_to_remove(harness_factory, aws):
    class FailingBatches:
        """Fails every BatchWriteItem: the large document's object is written, its item never."""

        def __init__(self, client):
            self._client = client

        def __getattr__(self, name):
            return getattr(self._client, name)

        def batch_write_item(self, **request):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "BatchWriteItem")

    small = HEADER + SMALL + "Big,alice,Engineer,100\n"
    harness_factory().drop(small)
    with pytest.raises(StoreError):
        harness_factory(dynamodb=FailingBatches(aws.dynamodb)).drop(HEADER + SMALL + big_rows("Big", 1.5))
    assert list(objects_under(harness_factory(), DOCUMENTS)) == [f"{DOCUMENTS}{ref('Big')}"]

    harness = harness_factory()
    harness.drop(small + "Ops,erin,Operator,91\n")
    assert harness.data_items()["Big"]["doc"]["S"] == nest(small)["Big"]
    assert objects_under(harness, DOCUMENTS) == {}, "the dead load's object stayed behind"


def test_a_lost_manifest_still_knows_which_keys_have_objects(harness):
    harness.drop(HEADER + SMALL + big_rows("Big", 1.5))
    harness.aws.s3.delete_object(Bucket=PUBLISH_BUCKET, Key=MANIFEST)

    harness.drop(HEADER + SMALL + "Big,alice,Engineer,100\n")

    assert objects_under(harness, DOCUMENTS) == {}
    manifest = json.loads(harness.object(MANIFEST))
    assert "large" not in manifest["keys"]["Big"], manifest["keys"]["Big"]


# ----------------------------------------------------------------------------------------------
# The snapshot in parts
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def small_parts(monkeypatch):
    """Parts of at most 600 bytes, so a small data set needs many."""
    from loader import published

    monkeypatch.setattr(published, "PART_LIMIT", 600)
    return 600


def test_parts_are_whole_ordered_within_the_limit_and_their_union_is_the_snapshot(harness, small_parts):
    text = departments_csv(30, employees=2) + "zz,solo," + "y" * 900 + ",1\n"
    result = harness.drop(text)["loads"][0]

    snapshot = json.loads(harness.object(SNAPSHOT))
    index = harness.published("index.json")
    parts = parts_of(harness)
    total = len(parts)
    assert total > 5 and index["snapshotParts"] == total == result["snapshotParts"]
    keys = []
    for number, part in enumerate(parts, start=1):
        raw = harness.object(f"{PARTS}{index['snapshotPartsId']}/{number}")
        assert list(part) == ["loadedAt", "source", "part", "parts", "departments"], list(part)
        assert (part["part"], part["parts"]) == (number, total)
        assert (part["loadedAt"], part["source"]) == (snapshot["loadedAt"], snapshot["source"])
        assert part["departments"], f"part {number} is empty"
        alone = len(part["departments"]) == 1
        assert len(raw) <= small_parts or alone, f"part {number} is {len(raw)} bytes with several documents"
        for key, document in part["departments"].items():
            assert document == snapshot["departments"][key], f"part {number}: {key} is not whole"
        keys += list(part["departments"])
    assert keys == sorted(snapshot["departments"]), "parts are not in key order, or repeat a key"
    last = json.loads(harness.object(f"{PARTS}{index['snapshotPartsId']}/{total}"))
    assert list(last["departments"]) == ["zz"], "a document larger than a part is a part alone"


def test_parts_of_a_data_set_under_8_mb_are_one_part_equal_to_the_snapshot(harness):
    harness.drop(EMPLOYEES)
    (part,) = parts_of(harness)
    snapshot = json.loads(harness.object(SNAPSHOT))
    assert part == {**snapshot, "part": 1, "parts": 1}


def test_a_snapshot_over_api_gateways_limit_is_a_notice_naming_the_parts_route_and_count(harness, monkeypatch):
    from loader import published

    monkeypatch.setattr(published, "API_RESPONSE_LIMIT", 300)
    monkeypatch.setattr(published, "PART_LIMIT", 250)
    result = harness.drop(EMPLOYEES)["loads"][0]

    body = harness.object(SNAPSHOT)
    notice = json.loads(body)
    parts = parts_of(harness)
    assert notice["snapshotTooLarge"] is True and notice["parts"] == len(parts) == result["snapshotParts"] > 1
    assert f"read it in {len(parts)} parts: GET /snapshot/parts/{{part}} for part 1 to {len(parts)}" in notice["message"]
    assert notice["snapshotBytes"] == result["snapshotBytes"] > 300
    assert b'"snapshotTooLarge": true' in body, "the route's template looks for this exact text"
    merged = {key: doc for part in parts for key, doc in part["departments"].items()}
    assert merged == {key: json.loads(doc) for key, doc in nest(EMPLOYEES).items()}


def test_no_compact_snapshot_can_look_like_the_notice(harness):
    # A value and an employee named like the notice's field, in every position JSON allows.
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["department", "employee", "title", "salary"])
    writer.writerow(["snapshotTooLarge", "snapshotTooLarge", '"snapshotTooLarge": true', 1])
    writer.writerow(['"snapshotTooLarge": ', '{"snapshotTooLarge": true}', "snapshotTooLarge\\", 2])
    harness.drop(out.getvalue())
    assert b'"snapshotTooLarge": ' not in harness.object(SNAPSHOT)


def test_an_unchanged_data_set_keeps_its_parts_and_a_changed_one_replaces_them(harness, small_parts):
    harness.drop(departments_csv(20))
    first = harness.published("index.json")["snapshotPartsId"]
    harness.s3_writes.clear()

    harness.drop(departments_csv(20))
    assert harness.published("index.json")["snapshotPartsId"] == first
    assert not [key for key in harness.s3_writes if key.startswith(PARTS)], "unchanged parts were sent again"

    harness.drop(departments_csv(20, version="v2"))
    second = harness.published("index.json")["snapshotPartsId"]
    assert second != first
    assert all(key.startswith(f"{PARTS}{second}/") for key in objects_under(harness, PARTS)), "old parts stayed"
    assert json.loads(harness.object(PART_SETS))["sets"] == [
        {"id": second, "parts": harness.published("index.json")["snapshotParts"]}
    ]


def test_the_parts_of_an_earlier_larger_load_are_removed_once_no_index_names_them(harness, small_parts):
    harness.drop(departments_csv(30))
    larger = harness.published("index.json")
    assert larger["snapshotParts"] > 3

    harness.drop(departments_csv(20), metadata={"allow-mass-delete": "true"})

    index = harness.published("index.json")
    assert index["snapshotParts"] < larger["snapshotParts"]
    expected = {f"{PARTS}{index['snapshotPartsId']}/{n}" for n in range(1, index["snapshotParts"] + 1)}
    assert set(objects_under(harness, PARTS)) == expected


def test_a_crash_between_parts_and_index_leaves_readers_on_the_previous_load(harness_factory, aws, small_parts):
    class IndexFails(ScriptedS3):
        def put_object(self, **request):
            if request["Key"] == INDEX:
                raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObject")
            return self._client.put_object(**request)

    harness = harness_factory()
    harness.drop(departments_csv(20))
    before_index = harness.object(INDEX)
    before_parts = parts_of(harness)

    crashing = harness_factory(s3=IndexFails(aws.s3))
    with pytest.raises(StoreError, match="index.json failed"):
        crashing.drop(departments_csv(20, version="v2"))

    assert harness.object(INDEX) == before_index, "index.json changed"
    assert parts_of(harness) == before_parts, "the parts index.json names changed"
    sets = json.loads(harness.object(PART_SETS))["sets"]
    assert len(sets) == 2, "the dead load's parts are recorded, to be removed"

    harness.drop(departments_csv(20, version="v3"))
    index = harness.published("index.json")
    assert {part["source"]["version"] for part in parts_of(harness)} == {index["source"]["version"]}
    assert all(key.startswith(f"{PARTS}{index['snapshotPartsId']}/") for key in objects_under(harness, PARTS))


def test_a_load_failing_before_its_parts_are_named_leaves_no_index_naming_them(harness_factory, aws, small_parts):
    class PartsFail(ScriptedS3):
        def put_object(self, **request):
            if request["Key"].startswith(PARTS) and request["Key"].endswith("/2"):
                raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObject")
            return self._client.put_object(**request)

    harness = harness_factory()
    harness.drop(departments_csv(20))
    before = harness.object(INDEX)
    with pytest.raises(StoreError):
        harness_factory(s3=PartsFail(aws.s3)).drop(departments_csv(20, version="v2"))
    assert harness.object(INDEX) == before and "v1-title" in json.dumps(parts_of(harness))
