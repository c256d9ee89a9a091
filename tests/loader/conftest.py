"""Fixtures for the loader's tests: the Lambda code on the path, and moto's S3 and DynamoDB."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = Path(__file__).resolve().parent
LAMBDA_DIR = HERE.parents[1] / "lambda"
for path in (LAMBDA_DIR, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from loader_support import PUBLISH_BUCKET, REGION, SOURCE_BUCKET, TABLE, Aws, Harness, make_settings  # noqa: E402


@pytest.fixture
def aws(monkeypatch):
    """moto's S3 and DynamoDB with the source bucket (versioned), publish bucket and table."""
    # Fake credentials before any client exists; no endpoint override may redirect the clients.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for bucket in (SOURCE_BUCKET, PUBLISH_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=SOURCE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
        )
        yield Aws(s3, dynamodb)


@pytest.fixture
def harness_factory(aws) -> Callable[..., Harness]:
    """Builds a harness: a loader with clients pointed at moto, no real sleeping, counted calls."""
    from loader.load import Loader
    from loader.store import Store

    def build(
        settings: Any = None,
        dynamodb: Any = None,
        s3: Any = None,
        store_class: type = Store,
        clock: Callable[[], float] | None = None,
        **loader_options: Any,
    ) -> Harness:
        settings = settings or make_settings()
        sleeps: list[float] = []
        calls: Counter = Counter()

        def count(model, **_):
            calls[model.name] += 1

        aws.dynamodb.meta.events.register("before-call.dynamodb", count)
        aws.s3.meta.events.register("before-call.s3", count)
        store = store_class(
            settings.table_name,
            settings.publish_bucket,
            settings.write_concurrency,
            s3=s3 or aws.s3,
            dynamodb=dynamodb or aws.dynamodb,
            sleep=sleeps.append,
        )
        options = {"sleep": sleeps.append, "lease_wait_seconds": 0.0, **loader_options}
        if clock is not None:
            options["clock"] = clock
        loader = Loader(settings, store, **options)
        return Harness(aws=aws, settings=settings, loader=loader, store=store, sleeps=sleeps, calls=calls)

    yield build
    import handler

    handler._loader = None


@pytest.fixture
def harness(harness_factory) -> Harness:
    return harness_factory()


