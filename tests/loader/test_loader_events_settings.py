"""Decoding invocation events, choosing source objects, and reading settings from the environment."""

from __future__ import annotations

import pytest

from loader.errors import EventError, SettingsError
from loader.events import ObjectCreated, SourceFilter, decode, split_sources
from loader.settings import from_environment


def notification_record(key: str, name: str = "ObjectCreated:Put", bucket: str = "src", **obj) -> dict:
    return {
        "eventSource": "aws:s3",
        "eventName": name,
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "sequencer": "0A", **obj}},
    }


def eventbridge_event(key: str, detail_type: str = "Object Created", bucket: str = "src") -> dict:
    return {
        "version": "0",
        "detail-type": detail_type,
        "source": "aws.s3",
        "detail": {
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": 5,
                "etag": "abc",
                "version-id": "v1",
                "sequencer": "617F08299329D189",
            },
            "reason": "PutObject",
        },
    }


def test_every_notification_record_is_decoded_with_its_key_url_decoded():
    event = {
        "Records": [
            notification_record("exports/pay+roll%2B2024.csv", versionId="v9", eTag="e1"),
            notification_record("exports/%C3%A9t%C3%A9.csv", versionId="null"),
        ]
    }
    created, skipped = decode(event)
    assert skipped == []
    assert created == [
        ObjectCreated("src", "exports/pay roll+2024.csv", "v9", "0A", "e1", "s3"),
        ObjectCreated("src", "exports/été.csv", None, "0A", None, "s3"),
    ]


def test_another_services_record_is_skipped_and_the_s3_records_still_load():
    foreign = {"eventSource": "aws:sqs", "messageId": "m1", "body": "{}"}
    created, skipped = decode({"Records": [foreign, notification_record("a.csv")]})
    assert created == [ObjectCreated("src", "a.csv", None, "0A", None, "s3")]
    assert [(s.what, s.reason) for s in skipped] == [("Records[0]", "event source 'aws:sqs' is not aws:s3")]


def test_records_that_are_not_object_created_are_skipped_with_a_reason():
    created, skipped = decode({"Records": [notification_record("a.csv", name="ObjectRemoved:Delete")]})
    assert created == []
    assert [(s.what, s.reason) for s in skipped] == [
        ("s3://src/a.csv", "event 'ObjectRemoved:Delete' is not an ObjectCreated event")
    ]


def test_an_eventbridge_object_created_event_keeps_its_key_as_is():
    created, skipped = decode(eventbridge_event("exports/pay+roll 2024.csv"))
    assert skipped == []
    assert created == [
        ObjectCreated("src", "exports/pay+roll 2024.csv", "v1", "617F08299329D189", "abc", "eventbridge")
    ]


def test_other_eventbridge_s3_events_are_skipped():
    created, skipped = decode(eventbridge_event("a.csv", detail_type="Object Deleted"))
    assert created == [] and skipped[0].reason == "detail-type 'Object Deleted' is not 'Object Created'"


def test_the_s3_test_event_is_skipped():
    created, skipped = decode({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "src"})
    assert created == [] and skipped[0].reason == "S3 test event sent when notifications are set up"


@pytest.mark.parametrize(
    "event, message",
    [
        (
            {"hello": "world"},
            "the event is neither an S3 notification (Records) nor an EventBridge event from aws.s3; "
            "its top-level keys are ['hello']",
        ),
        ([], "the event is a list, not a JSON object"),
        (
            {"Records": [{"eventName": "ObjectCreated:Put"}]},
            "Records[0] is not an S3 notification record (missing 's3')",
        ),
        ({"Records": "x"}, "the event's Records is not a list"),
        (
            {"source": "aws.s3", "detail-type": "Object Created", "detail": {}},
            "the EventBridge event's detail is not an S3 object event (missing 'bucket')",
        ),
    ],
)
def test_an_event_of_an_unknown_shape_fails_loudly(event, message):
    with pytest.raises(EventError) as raised:
        decode(event)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "source, created, reason",
    [
        (
            SourceFilter("src", "in/a.csv", None, ""),
            ObjectCreated("src", "in/a.csv", None, None, None, "s3"),
            None,
        ),
        (
            SourceFilter("src", "in/a.csv", None, ""),
            ObjectCreated("src", "in/b.csv", None, None, None, "s3"),
            "key 'in/b.csv' is not the source key 'in/a.csv'",
        ),
        (
            SourceFilter("src", "in/a.csv", None, ""),
            ObjectCreated("other", "in/a.csv", None, None, None, "s3"),
            "bucket 'other' is not the source bucket 'src'",
        ),
        (
            SourceFilter("src", None, "in/", ".csv"),
            ObjectCreated("src", "in/2024-01-01.csv", None, None, None, "s3"),
            None,
        ),
        (
            SourceFilter("src", None, "in/", ".csv"),
            ObjectCreated("src", "out/2024-01-01.csv", None, None, None, "s3"),
            "key 'out/2024-01-01.csv' is not under the source prefix 'in/'",
        ),
        (
            SourceFilter("src", None, "in/", ".csv"),
            ObjectCreated("src", "in/notes.txt", None, None, None, "s3"),
            "key 'in/notes.txt' does not end with the source suffix '.csv'",
        ),
        (
            SourceFilter("src", None, "in/", ""),
            ObjectCreated("src", "in/sub/", None, None, None, "s3"),
            "key 'in/sub/' is a folder marker",
        ),
        (
            SourceFilter("src", None, "", "", frozenset({"index.json"}), "_loader/"),
            ObjectCreated("src", "_loader/manifest.json", None, None, None, "s3"),
            "key '_loader/manifest.json' is one of the loader's own objects",
        ),
        (
            SourceFilter("src", None, "", "", frozenset({"index.json"}), "_loader/"),
            ObjectCreated("src", "index.json", None, None, None, "s3"),
            "key 'index.json' is one of the loader's own objects",
        ),
    ],
)
def test_source_filter(source, created, reason):
    sources, ignored = split_sources([created], source)
    if reason is None:
        assert sources == [created] and ignored == []
    else:
        assert sources == [] and [(i.what, i.reason) for i in ignored] == [(created.describe(), reason)]


BASE_ENV = {
    "TABLE_NAME": "table",
    "SOURCE_BUCKET": "src",
    "SOURCE_KEY": "exports/employees.csv",
    "PUBLISH_BUCKET": "pub",
}


def test_settings_defaults_follow_the_contract():
    settings = from_environment(BASE_ENV)
    assert (
        settings.partition_column,
        settings.item_column,
        settings.items_field,
        settings.collection_name,
    ) == (
        "department",
        "employee",
        "employees",
        "departments",
    )
    assert settings.column_types == {}
    assert (settings.max_delete_fraction, settings.lease_seconds, settings.write_concurrency) == (0.5, 960, 16)
    assert (settings.metrics_namespace, settings.publish_prefix) == ("DataApi", "")
    assert not settings.prefix_mode
    assert (settings.published.index, settings.published.snapshot, settings.published.manifest) == (
        "index.json",
        "snapshot.json",
        "_loader/manifest.json",
    )


def test_settings_read_every_variable():
    settings = from_environment(
        {
            **BASE_ENV,
            "SOURCE_KEY": "",
            "SOURCE_PREFIX": "drops/",
            "SOURCE_SUFFIX": ".csv",
            "PARTITION_COLUMN": "team",
            "ITEM_COLUMN": "member",
            "ITEMS_FIELD": "members",
            "COLLECTION_NAME": "teams",
            "COLUMN_TYPES": '{"age": "integer", "team": "string"}',
            "PUBLISH_PREFIX": "v2/",
            "MAX_DELETE_FRACTION": "0.25",
            "LEASE_SECONDS": "600",
            "WRITE_CONCURRENCY": "8",
            "METRICS_NAMESPACE": "Acme",
            "METRICS_SERVICE": "acme-prod-loader",
        }
    )
    assert settings.prefix_mode and settings.source_prefix == "drops/" and settings.source_suffix == ".csv"
    assert settings.column_types == {"age": "integer", "team": "string"}
    assert (settings.max_delete_fraction, settings.lease_seconds, settings.write_concurrency) == (
        0.25,
        600,
        8,
    )
    assert settings.published.manifest == "v2/_loader/manifest.json"
    assert settings.metrics_service == "acme-prod-loader"


def test_settings_errors_name_every_bad_variable_at_once():
    with pytest.raises(SettingsError) as raised:
        from_environment(
            {
                "SOURCE_BUCKET": "src",
                "SOURCE_KEY": "a.csv",
                "SOURCE_PREFIX": "in/",
                "PUBLISH_BUCKET": "pub",
                "PUBLISH_PREFIX": "v1",
                "ITEM_COLUMN": "department",
                "COLUMN_TYPES": '{"salary": "money", "employee": "integer"}',
                "MAX_DELETE_FRACTION": "0",
                "WRITE_CONCURRENCY": "many",
            }
        )
    assert str(raised.value).splitlines() == [
        "invalid loader environment:",
        "  SOURCE_PREFIX: 'in/' conflicts with SOURCE_KEY 'a.csv'; set exactly one of them",
        "  PUBLISH_PREFIX: 'v1' must be empty or a path ending in '/' like 'v1/'",
        "  ITEM_COLUMN: 'department' is also PARTITION_COLUMN; they must differ",
        "  COLUMN_TYPES: column 'salary': 'money' is not one of string, number, integer, boolean",
        "  TABLE_NAME: is required and not set",
        "  MAX_DELETE_FRACTION: '0' is out of range; allowed: > 0 and <= 1",
        "  WRITE_CONCURRENCY: 'many' is not a whole number",
    ]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"SOURCE_KEY": ""}, "SOURCE_KEY: set SOURCE_KEY (one object) or SOURCE_PREFIX (a folder of files)"),
        (
            {"COLUMN_TYPES": "{salary: integer}"},
            "COLUMN_TYPES: is not JSON (Expecting property name enclosed in double quotes at character 1)",
        ),
        (
            {"COLUMN_TYPES": '["salary"]'},
            """COLUMN_TYPES: '["salary"]' is not a JSON object of column to type""",
        ),
        (
            {"COLUMN_TYPES": '{"department": "number"}'},
            "COLUMN_TYPES: column 'department': the key columns are always strings, not number",
        ),
        (
            {"ITEMS_FIELD": "department"},
            "ITEMS_FIELD: 'department' is also PARTITION_COLUMN; they must differ",
        ),
        ({"LEASE_SECONDS": "5"}, "LEASE_SECONDS: '5' is out of range; allowed: 30 to 86400"),
        ({"MAX_DELETE_FRACTION": "1.5"}, "MAX_DELETE_FRACTION: '1.5' is out of range; allowed: > 0 and <= 1"),
    ],
)
def test_each_settings_rule(changes, message):
    with pytest.raises(SettingsError) as raised:
        from_environment({**BASE_ENV, **changes})
    assert str(raised.value).splitlines()[1:] == [f"  {message}"]


def test_metrics_service_falls_back_to_the_function_name():
    assert (
        from_environment({**BASE_ENV, "AWS_LAMBDA_FUNCTION_NAME": "loader-fn"}).metrics_service == "loader-fn"
    )


def test_source_filter_from_settings_excludes_the_loaders_own_objects_in_a_shared_bucket():
    settings = from_environment(
        {
            **BASE_ENV,
            "SOURCE_KEY": "",
            "SOURCE_PREFIX": "data/",
            "PUBLISH_BUCKET": "src",
            "PUBLISH_PREFIX": "data/",
        }
    )
    source = settings.source_filter()
    assert source.excluded_keys == frozenset({"data/index.json", "data/snapshot.json"})
    assert source.excluded_prefixes == ("data/_loader/", "data/documents/", "data/snapshot/")
    for key in ("data/documents/" + "ab" * 32, "data/snapshot/20240101T000000000Z-0a1b2c3d/2", "data/_loader/x"):
        reason = source.reason_to_ignore(ObjectCreated("src", key, None, "0A", None, "s3"))
        assert reason == f"key {key!r} is one of the loader's own objects", key
    assert source.reason_to_ignore(ObjectCreated("src", "data/snapshots.csv", None, "0A", None, "s3")) is None


def test_settings_read_the_bucket_keys_named_in_denials():
    source_key = "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-0000-4000-8000-00000000aaaa"
    publish_key = "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-0000-4000-8000-00000000bbbb"
    settings = from_environment({**BASE_ENV, "SOURCE_KMS_KEY_ARN": source_key, "PUBLISH_KMS_KEY_ARN": publish_key})
    assert (settings.source_kms_key_arn, settings.publish_kms_key_arn) == (source_key, publish_key)
    plain = from_environment(BASE_ENV)
    assert (plain.source_kms_key_arn, plain.publish_kms_key_arn) == (None, None)
