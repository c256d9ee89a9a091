"""Runs the handler as Lambda does with active tracing, against moto, keeping X-Ray's output in memory.

    python traced_invocation.py ENTITIES.json

Tracing is on because the environment says Lambda (LAMBDA_TASK_ROOT, a trace header); the X-Ray
SDK's emitter is replaced by one that keeps every segment document it would send to the daemon,
and they are written to ENTITIES.json. Two drops are loaded: a valid file, then an invalid one.
The loader's own stdout (its log lines and EMF documents) is left as it is, for the caller to read.
A separate process, because the SDK patches botocore for the whole interpreter.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAMBDA_DIR = HERE.parents[1] / "lambda"
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
FUNCTION = "data-api-traced-loader"

os.environ.update(
    {
        "LAMBDA_TASK_ROOT": str(LAMBDA_DIR),
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "TABLE_NAME": "data-api-table",
        "SOURCE_BUCKET": "acme-hr-exports",
        "SOURCE_KEY": "exports/employees.csv",
        "PUBLISH_BUCKET": "acme-data-api-published",
        "PUBLISH_PREFIX": "v1/",
        "METRICS_NAMESPACE": "DataApi",
        "METRICS_SERVICE": FUNCTION,
    }
)
for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE",
             "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL"):
    os.environ.pop(name, None)

VALID = "department,employee,title\nSales,alice,Engineer\nSales,bob,Manager\nOps,dan,Operator\n"
INVALID = "department,employee,title\nSales,alice\n"


class MemoryEmitter:
    """Stands in for the SDK's UDP emitter: keeps each entity's JSON instead of sending it."""

    def __init__(self) -> None:
        self.entities: list[dict] = []

    def send_entity(self, entity) -> None:
        self.entities.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address) -> None:
        pass


class Context:
    aws_request_id = "22222222-3333-4444-5555-666666666666"
    function_name = FUNCTION
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def notification(put: dict, sequencer: str) -> dict:
    bucket, key = os.environ["SOURCE_BUCKET"], os.environ["SOURCE_KEY"]
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": bucket},
                    "object": {
                        "key": key,
                        "eTag": put["ETag"].strip('"'),
                        "versionId": put["VersionId"],
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


def main(entities_path: str) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        source = os.environ["SOURCE_BUCKET"]
        for bucket in (source, os.environ["PUBLISH_BUCKET"]):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
        dynamodb.create_table(
            TableName=os.environ["TABLE_NAME"],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        valid = s3.put_object(Bucket=source, Key=os.environ["SOURCE_KEY"], Body=VALID.encode())
        invalid = s3.put_object(Bucket=source, Key=os.environ["SOURCE_KEY"], Body=INVALID.encode())

        # Only now: the handler's import patches botocore, and the set-up calls stay out of the trace.
        sys.path.insert(0, str(LAMBDA_DIR))
        from aws_xray_sdk.core import xray_recorder

        import handler
        from loader.errors import InvalidSource

        emitter = MemoryEmitter()
        xray_recorder.configure(emitter=emitter)
        handler.handler(notification(valid, "0A"), Context())
        try:
            handler.handler(notification(invalid, "0B"), Context())
        except InvalidSource:
            pass
        else:
            raise SystemExit("the invalid drop was loaded")
    Path(entities_path).write_text(json.dumps(emitter.entities))


if __name__ == "__main__":
    main(sys.argv[1])
