"""Fixtures for the loader's tests: the Lambda code on the path, and moto's S3 and DynamoDB."""

from __future__ import annotations

import itertools
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

from loader_support import (
    PUBLISH_BUCKET,
    REGION,
    SOURCE_BUCKET,
    TABLE,
    Aws,
    Harness,
    make_settings,
)  # noqa: E402

FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# No endpoint override or profile may send a client anywhere but moto.
REMOVED_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE")


def fake_aws_environment(patch: pytest.MonkeyPatch) -> None:
    for name, value in FAKE_ENVIRONMENT.items():
        patch.setenv(name, value)
    for name in REMOVED_ENVIRONMENT:
        patch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def warm_container(monkeypatch):
    """Each test invokes a warm container (no cold start metric) unless it makes a cold one itself."""
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setattr(cold_start, "is_cold_start", False)


@pytest.fixture(scope="session")
def aws_clients():
    """S3 and DynamoDB clients, created once (creating a client costs a tenth of a second)."""
    import boto3
    from moto import mock_aws

    # Fake credentials before any client exists, and inside a mock, so nothing reaches AWS.
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        fake_aws_environment(patch)
        s3 = boto3.client("s3", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
    return Aws(s3, dynamodb)


@pytest.fixture
def aws(aws_clients, monkeypatch):
    """moto's S3 and DynamoDB, fresh for each test, with the source bucket (versioned), the
    publish bucket and the table."""
    from moto import mock_aws

    fake_aws_environment(monkeypatch)
    s3, dynamodb = aws_clients.s3, aws_clients.dynamodb
    with mock_aws():
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
        yield aws_clients


@pytest.fixture
def harness_factory(aws) -> Callable[..., Harness]:
    """Builds a harness: a loader with clients pointed at moto, no real sleeping, counted calls."""
    from loader.load import Loader
    from loader.store import Store

    sequencers = itertools.count(0x100)
    hooks: list[tuple[Any, str, Callable]] = []

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
        s3_writes: list[str] = []
        s3_parts: dict[str, list[int]] = {}

        def count(model, **_):
            calls[model.name] += 1

        def record_s3_write(params, model, **_):
            if params.get("Bucket") != PUBLISH_BUCKET:
                return
            if model.name in ("PutObject", "CreateMultipartUpload"):
                s3_writes.append(params["Key"])
            elif model.name == "UploadPart":
                s3_parts.setdefault(params["Key"], []).append(len(params["Body"]))

        hooks.extend(
            [
                (aws.dynamodb, "before-call.dynamodb", count),
                (aws.s3, "before-call.s3", count),
                (aws.s3, "before-parameter-build.s3", record_s3_write),
            ]
        )
        for client, event, hook in hooks[-3:]:
            client.meta.events.register(event, hook)
        store = store_class(
            settings.table_name,
            settings.publish_bucket,
            settings.write_concurrency,
            s3=s3 or aws.s3,
            dynamodb=dynamodb or aws.dynamodb,
            sleep=sleeps.append,
            source_kms_key_arn=settings.source_kms_key_arn,
            publish_kms_key_arn=settings.publish_kms_key_arn,
        )
        options = {"sleep": sleeps.append, "lease_wait_seconds": 0.0, **loader_options}
        if clock is not None:
            options["clock"] = clock
        loader = Loader(settings, store, **options)
        return Harness(
            aws=aws,
            settings=settings,
            loader=loader,
            store=store,
            sleeps=sleeps,
            calls=calls,
            s3_writes=s3_writes,
            s3_parts=s3_parts,
            sequencers=sequencers,
        )

    yield build
    import handler

    handler._loader = None
    for client, event, hook in hooks:
        client.meta.events.unregister(event, hook)


@pytest.fixture
def harness(harness_factory) -> Harness:
    return harness_factory()
