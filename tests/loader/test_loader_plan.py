"""Ordering, diffing, the deletion guard, manifests and published objects, without AWS."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loader import published
from loader.dataset import Document
from loader.errors import LoaderError, MassDeletionRefused
from loader.layout import SourceVersion
from loader.plan import (
    NEWER,
    OLDER,
    SAME,
    Entry,
    Manifest,
    ObjectPosition,
    allows_mass_delete,
    check_deletions,
    compare_sequencers,
    diff,
    final_manifest,
    order,
    pending_manifest,
)


@pytest.mark.parametrize(
    "first, second, expected",
    [
        ("0A", "09", 1),  # as numbers, not as text ("0A" < "09" would be wrong either way round)
        ("A", "09", 1),
        ("00FF", "FF", 0),  # the shorter is left-padded with zeros
        ("1", "0000000002", -1),
        ("0062E9A1B2C3D4E5F6", "62E9A1B2C3D4E5F7", -1),
        ("ff", "FF", 0),
        ("xyz", "01", None),
    ],
)
def test_sequencers_compare_as_hex_numbers(first, second, expected):
    assert compare_sequencers(first, second) == expected


@given(
    a=st.integers(min_value=0, max_value=2**80),
    b=st.integers(min_value=0, max_value=2**80),
    pad_a=st.integers(0, 6),
    pad_b=st.integers(0, 6),
)
def test_property_sequencer_order_is_numeric_order(a, b, pad_a, pad_b):
    assert compare_sequencers("0" * pad_a + f"{a:X}", "0" * pad_b + f"{b:x}") == (a > b) - (a < b)


def position(key="in/a.csv", sequencer=None, modified=None, version=None, etag=None):
    return ObjectPosition(key, sequencer, modified, version, etag)


@pytest.mark.parametrize(
    "candidate, last, prefix_mode, expected",
    [
        (position(sequencer="0B"), None, False, NEWER),
        (position(sequencer="0B"), position(sequencer="0A"), False, NEWER),
        (position(sequencer="0A"), position(sequencer="0A"), False, SAME),
        (position(sequencer="09"), position(sequencer="0A"), False, OLDER),
        # a newer sequencer wins even when the clock says otherwise (same second, clock skew)
        (position(sequencer="0B", modified=100), position(sequencer="0A", modified=200), False, NEWER),
        # without sequencers: version id, then ETag and time
        (position(version="v1", modified=5), position(version="v1", modified=5), False, SAME),
        (position(etag="e", modified=5), position(etag="e", modified=5), False, SAME),
        (position(etag="e", modified=4), position(etag="f", modified=5), False, OLDER),
        (position(etag="e", modified=6), position(etag="f", modified=5), False, NEWER),
        (position(etag="e"), position(etag="f", modified=5), False, NEWER),  # cannot tell: load it
        # single-object mode, reconfigured to another key: the configured key is the source
        (position("b.csv", modified=1), position("a.csv", modified=9), False, NEWER),
        # prefix mode: Last-Modified, then key
        (
            position("in/2024-01-02.csv", modified=200),
            position("in/2024-01-01.csv", modified=100),
            True,
            NEWER,
        ),
        (
            position("in/2024-01-01.csv", modified=100),
            position("in/2024-01-02.csv", modified=200),
            True,
            OLDER,
        ),
        (
            position("in/2024-01-01.csv", modified=100),
            position("in/2024-01-02.csv", modified=100),
            True,
            OLDER,
        ),
        (
            position("in/2024-01-03.csv", modified=100),
            position("in/2024-01-02.csv", modified=100),
            True,
            NEWER,
        ),
        (
            position("in/b.csv", sequencer="01", modified=50),
            position("in/a.csv", sequencer="FF", modified=100),
            True,
            OLDER,
        ),
    ],
)
def test_order(candidate, last, prefix_mode, expected):
    assert order(candidate, last, prefix_mode) == expected


def entry(content_hash, version="v1", rows=1):
    return Entry(content_hash, rows, version, "2024-01-01T00:00:00.000Z")


HASHES = {"a": "h-a", "b": "h-b2", "d": "h-d"}


def test_diff_writes_new_changed_and_unknown_keys_and_deletes_keys_that_left():
    previous = {"a": entry("h-a"), "b": entry("h-b1"), "c": entry("h-c"), "d": entry(None)}
    plan = diff(previous, sorted(HASHES), HASHES.__getitem__)
    assert (plan.write, plan.unchanged, plan.delete, plan.existing) == (["b", "d"], ["a"], ["c"], 4)
    assert plan.changes_table


def test_diff_of_an_unchanged_data_set_changes_nothing():
    previous = {key: entry(value) for key, value in HASHES.items()}
    plan = diff(previous, sorted(HASHES), HASHES.__getitem__)
    assert (plan.write, plan.delete, plan.changes_table) == ([], [], False)


def plan_deleting(deleted: int, existing: int):
    previous = {f"k{i}": entry("h") for i in range(existing)}
    kept = [f"k{i}" for i in range(deleted, existing)]
    return diff(previous, kept, lambda key: "h")


def test_the_guard_refuses_more_than_the_allowed_fraction():
    with pytest.raises(MassDeletionRefused) as raised:
        check_deletions(plan_deleting(3, 5), 0.5, False, "s3://src/a.csv")
    message = str(raised.value)
    assert message.startswith(
        "s3://src/a.csv would delete 3 of the 5 existing keys (60%), more than the 50% allowed "
        "(MAX_DELETE_FRACTION); nothing was changed. Keys that would go include 'k0', 'k1', 'k2'."
    )
    assert "'allow-mass-delete: true' (header x-amz-meta-allow-mass-delete: true)" in message
    assert "loader.maxDeleteFraction" in message


@pytest.mark.parametrize(
    "deleted, existing, fraction, override",
    [(2, 4, 0.5, False), (1, 4, 0.25, False), (4, 4, 0.5, True), (3, 5, 0.6, False), (0, 0, 0.5, False)],
)
def test_the_guard_lets_through_deletions_within_the_fraction_or_overridden(
    deleted, existing, fraction, override
):
    plan = plan_deleting(deleted, existing)
    assert check_deletions(plan, fraction, override, "s3://src/a.csv") is None  # raises when it refuses
    assert len(plan.delete) == deleted


@pytest.mark.parametrize(
    "metadata, allowed",
    [
        ({"allow-mass-delete": "true"}, True),
        ({"allow-mass-delete": " TRUE "}, True),
        ({"allow-mass-delete": "yes"}, False),
        ({}, False),
    ],
)
def test_mass_delete_metadata(metadata, allowed):
    assert allows_mass_delete(metadata) is allowed


def test_the_pending_manifest_marks_every_key_about_to_change_unknown():
    previous = {"a": entry("h-a"), "b": entry("h-b1"), "c": entry("h-c")}
    plan = diff(previous, ["a", "b", "e"], {"a": "h-a", "b": "h-b2", "e": "h-e"}.__getitem__)
    pending = pending_manifest(previous, plan)
    assert not pending.complete
    assert {key: e.content_hash for key, e in pending.entries.items()} == {
        "a": "h-a",
        "b": None,
        "c": None,
        "e": None,
    }


def test_the_final_manifest_keeps_unchanged_keys_version_and_time():
    previous = {"a": entry("h-a", "v1"), "b": entry("h-b1", "v1"), "c": entry("h-c", "v1")}
    plan = diff(previous, ["a", "b"], {"a": "h-a", "b": "h-b2"}.__getitem__)
    final = final_manifest(
        previous, plan, lambda key: 7, {"a": "h-a", "b": "h-b2"}.__getitem__, "v2", "2024-02-02T00:00:00.000Z"
    )
    assert final.complete
    assert final.entries == {
        "a": entry("h-a", "v1"),
        "b": Entry("h-b2", 7, "v2", "2024-02-02T00:00:00.000Z"),
    }


def test_the_manifest_round_trips_through_json():
    manifest = Manifest(
        {"Sales": entry("h1", rows=3), "R&D": entry(None), "日本": entry("h3")}, complete=False
    )
    assert Manifest.from_json(manifest.to_json(), "s3://pub/_loader/manifest.json") == manifest


@pytest.mark.parametrize(
    "body", [b"not json", b'{"format": 2, "status": "complete", "keys": {}}', b'{"format": 1}']
)
def test_an_unreadable_manifest_fails_naming_it(body):
    with pytest.raises(LoaderError) as raised:
        Manifest.from_json(body, "s3://pub/_loader/manifest.json")
    assert str(raised.value).startswith("the manifest s3://pub/_loader/manifest.json is unreadable (")
    assert str(raised.value).endswith("delete it and the next load rebuilds it from the table")


SOURCE = SourceVersion("src", "exports/employees.csv", "v7")


def test_the_snapshot_streams_to_the_documented_shape_and_its_size_is_exact():
    docs = [
        Document("R&D", '{"department":"R&D","employees":{}}'.encode(), 0, "h1"),
        Document('Sales "EU"', '{"department":"Sales \\"EU\\"","employees":{}}'.encode(), 0, "h2"),
    ]
    head = published.snapshot_head("departments", SOURCE, "2024-01-01T00:00:00.000Z")
    body = b"".join(published.snapshot_chunks(head, docs))
    assert len(body) == published.snapshot_size(head, [(d.key, len(d.body)) for d in docs])
    assert json.loads(body) == {
        "loadedAt": "2024-01-01T00:00:00.000Z",
        "source": {"bucket": "src", "key": "exports/employees.csv", "version": "v7"},
        "departments": {
            "R&D": {"department": "R&D", "employees": {}},
            'Sales "EU"': {"department": 'Sales "EU"', "employees": {}},
        },
    }


def test_an_empty_snapshot_is_still_valid_json():
    head = published.snapshot_head("teams", SOURCE, "t")
    body = b"".join(published.snapshot_chunks(head, []))
    assert json.loads(body)["teams"] == {} and len(body) == published.snapshot_size(head, [])


def test_the_index_lists_every_key_with_rows_and_the_version_that_last_changed_it():
    entries = {
        "Sales": Entry("h", 2, "v6", "2024-01-01T00:00:00.000Z"),
        "R&D": Entry("h", 1, "v7", "2024-01-02T00:00:00.000Z"),
    }
    parts = published.PartSet("20240102T000000000Z-0a1b2c3d", 3)
    index = json.loads(published.index_body("departments", entries, SOURCE, "2024-01-02T00:00:00.000Z", parts))
    assert index == {
        "loadedAt": "2024-01-02T00:00:00.000Z",
        "source": {"bucket": "src", "key": "exports/employees.csv", "version": "v7"},
        "count": 2,
        "snapshotParts": 3,
        "snapshotPartsId": "20240102T000000000Z-0a1b2c3d",
        "departments": {
            "R&D": {"rows": 1, "version": "v7", "loadedAt": "2024-01-02T00:00:00.000Z"},
            "Sales": {"rows": 2, "version": "v6", "loadedAt": "2024-01-01T00:00:00.000Z"},
        },
    }


def test_the_fingerprint_names_the_data_and_the_collection():
    base = {"a": entry("h1"), "b": entry("h2")}
    assert published.fingerprint("departments", base) == published.fingerprint(
        "departments", dict(reversed(base.items()))
    )
    assert published.fingerprint("departments", base) != published.fingerprint("teams", base)
    assert published.fingerprint("departments", base) != published.fingerprint(
        "departments", {**base, "b": entry("h3")}
    )
    assert published.fingerprint("departments", base) != published.fingerprint(
        "departments", {"a": entry("h1")}
    )
