"""The product on LocalStack, built as `make local-deploy` builds it, and the real loader run against it."""

from __future__ import annotations

import importlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.client import BaseClient

from scripts.declared import DeclaredStack

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"
# LocalStack's default account answers to this access key; the imported integrations act there.
ACCESS_KEY = "test"
# Variables that would send the loader's clients anywhere but the LocalStack under test.
FOREIGN_AWS_VARIABLES = (
    "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
)


@dataclass
class LambdaContext:
    """What the loader reads of Lambda's context object."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


class SourceDrops:
    """Uploads a CSV to the declared source object and invokes the real handler for it."""

    def __init__(self, declared: DeclaredStack, endpoint: str, client: Callable[[str], BaseClient]):
        self.declared = declared
        self.endpoint = endpoint
        self.s3 = client("s3")

    def upload(self, body: bytes) -> dict[str, Any]:
        """The object-created notification S3 sends for a new version of the source object."""
        declared = self.declared
        put = self.s3.put_object(Bucket=declared.source_bucket, Key=declared.source_key, Body=body,
                                 ContentType="text/csv")
        return {"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": declared.region,
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": declared.source_bucket, "arn": f"arn:aws:s3:::{declared.source_bucket}"},
                "object": {
                    "key": quote_plus(declared.source_key),
                    "size": len(body),
                    "eTag": put["ETag"].strip('"'),
                    "versionId": put["VersionId"],
                    # S3 orders one key's events by sequencer: later events carry larger ones.
                    "sequencer": f"{time.time_ns():020X}",
                },
            },
        }]}

    def load(self, body: bytes) -> dict[str, Any]:
        """Drops the CSV and runs the handler on its notification; raises what the handler raises."""
        event = self.upload(body)
        with self._loader_environment() as handler:
            return handler.handler(event, LambdaContext(self.declared.loader_environment["METRICS_SERVICE"]))

    @contextmanager
    def _loader_environment(self) -> Iterator[Any]:
        """The handler module, fresh, with the declared environment and clients bound to LocalStack."""
        with pytest.MonkeyPatch.context() as patch:
            for name in FOREIGN_AWS_VARIABLES:
                patch.delenv(name, raising=False)
            variables = {
                **self.declared.loader_environment,
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": ACCESS_KEY,
                "AWS_REGION": self.declared.region,
                "AWS_DEFAULT_REGION": self.declared.region,
            }
            for name, value in variables.items():
                patch.setenv(name, value)
            patch.syspath_prepend(str(LAMBDA_DIR))
            # A new default session: no credentials cached by an earlier test's clients.
            patch.setattr(boto3, "DEFAULT_SESSION", None)
            handler = importlib.import_module("handler")
            # A cold start: settings are read, and clients created, under this environment.
            patch.setattr(handler, "_loader", None)
            assert os.path.samefile(handler.__file__, LAMBDA_DIR / "handler.py"), handler.__file__
            yield handler


def published_object(client: Callable[[str], BaseClient], declared: DeclaredStack, name: str) -> bytes:
    """A published object's bytes as the loader left them in the publish bucket."""
    response = client("s3").get_object(Bucket=declared.publish_bucket, Key=f"{declared.publish_prefix}{name}")
    return response["Body"].read()
