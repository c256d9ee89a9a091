"""Runs the real loader against LocalStack for one CSV file, as the S3 trigger would on AWS.

    make local-load FILE=examples/employees.csv       # the names `make local-deploy` wrote down
    .venv/bin/python scripts/local_load.py employees.csv --outputs outputs.json   # `pulumi stack output --json`
    .venv/bin/python scripts/local_load.py employees.csv --table T --source-bucket S --publish-bucket P

LocalStack runs no Lambda function without Docker, so its S3 notification never starts the loader.
This uploads the file to the stack's source object (in prefix mode, under the prefix with the file's
name) and calls lambda/handler.py with the notification S3 would send, in the environment the loader
component sets (computed from the stack file by the component's own code), with every AWS client
pointed at LocalStack and LocalStack's fake credentials. The stack's names (table, buckets, function)
come from its outputs: a file given with --outputs (`-` for standard input), else the file
`make local-deploy` writes (.localstack/outputs/<stack>.json), else `pulumi stack output --json` run
here; flags override them. The loader's log lines go to standard error;
standard output gets the handler's summary as JSON. Exits 1 when the load fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = ROOT / "lambda"
sys.path.insert(0, str(ROOT))

from components.config import PROJECT, ConfigError, StackConfig, parse_config  # noqa: E402
from components.loader import LoaderArgs, environment  # noqa: E402

DEFAULT_STACK = "local"
# Where `make local-deploy` (scripts/local_deploy.py) writes each stack's outputs.
OUTPUTS_DIR = ROOT / ".localstack" / "outputs"
DEFAULT_REGION = "us-east-1"
# LocalStack's default account answers to this access key; real credentials are never used.
FAKE_CREDENTIAL = "test"
# Stack outputs (see __main__.py) that name what the loader touches.
OUTPUT_NAMES = {
    "table": "tableName",
    "source_bucket": "sourceBucketName",
    "publish_bucket": "publishBucketName",
    "function_name": "loaderFunctionName",
}
# Variables that could send the loader's clients elsewhere than the endpoint given here.
FOREIGN_AWS_VARIABLES = (
    "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_LAMBDA_FUNCTION_NAME",
)


class UsageError(Exception):
    """A bad flag, file or stack setting; the message says which and how to fix it."""


@dataclass(frozen=True)
class StackNames:
    """The deployed stack's names the loader needs."""

    table: str
    source_bucket: str
    publish_bucket: str
    function_name: str


@dataclass
class LambdaContext:
    """What the loader reads of Lambda's context object."""

    function_name: str
    timeout_seconds: int
    aws_request_id: str = ""

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or f"local-load-{uuid.uuid4()}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def stack_settings(stack_file: Path) -> tuple[dict[str, Any], StackConfig]:
    """The stack file's raw config and its validated `data-api:*` settings."""
    if not stack_file.is_file():
        raise UsageError(f"{stack_file}: stack file not found (pass --stack NAME or --stack-file PATH)")
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.get("config") or {}
    prefix = f"{PROJECT}:"
    project = {key.removeprefix(prefix): value for key, value in config.items() if key.startswith(prefix)}
    try:
        return config, parse_config(project, stack_file=stack_file.name)
    except ConfigError as error:
        raise UsageError(str(error)) from error


def deployed_outputs_file(stack: str) -> Path:
    """The outputs file `make local-deploy` writes for a stack, and this command reads by default."""
    return OUTPUTS_DIR / f"{stack}.json"


def read_outputs(source: str | None, stack: str, names_given: bool) -> dict[str, Any]:
    """The stack's outputs from a file, standard input, `make local-deploy`'s file or the Pulumi CLI."""
    deployed = deployed_outputs_file(stack)
    if source is None and not names_given and deployed.is_file():
        source = str(deployed)
    if source == "-":
        text = sys.stdin.read()
    elif source:
        try:
            text = Path(source).read_text()
        except OSError as error:
            raise UsageError(f"--outputs {source}: {error.strerror}") from error
    elif names_given:
        return {}
    elif shutil.which("pulumi"):
        run = subprocess.run(["pulumi", "stack", "output", "--json", "--stack", stack],
                             capture_output=True, text=True, check=False, cwd=ROOT)
        if run.returncode != 0:
            raise UsageError(f"pulumi stack output --stack {stack} failed: {run.stderr.strip()}")
        text = run.stdout
    else:
        shown = deployed.relative_to(ROOT) if deployed.is_relative_to(ROOT) else deployed
        raise UsageError(f"no outputs of stack {stack}: run `make local-deploy` first (it writes "
                         f"{shown}), or pass --outputs FILE (from `pulumi stack output "
                         "--json`) or --table, --source-bucket and --publish-bucket")
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--outputs {source or '(pulumi)'}: not JSON ({error.msg})") from error
    if not isinstance(outputs, dict):
        raise UsageError(f"--outputs {source or '(pulumi)'}: not a JSON object of stack outputs")
    return outputs


def stack_names(args: argparse.Namespace, outputs: dict[str, Any], stack: str) -> StackNames:
    """Each name from its flag, else from the stack outputs."""
    found: dict[str, str] = {}
    missing = []
    for field, output in OUTPUT_NAMES.items():
        value = getattr(args, field) or outputs.get(output)
        if isinstance(value, str) and value:
            found[field] = value
        elif field == "function_name":
            found[field] = f"{PROJECT}-{stack}-loader"
        else:
            missing.append(f"--{field.replace('_', '-')} (stack output {output})")
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    return StackNames(**found)


def loader_environment(config: StackConfig, names: StackNames) -> dict[str, str]:
    """The function's environment, from the loader component's own code."""
    args = LoaderArgs.for_stack(
        config,
        table_name=names.table,
        table_arn="",
        publish_bucket_name=names.publish_bucket,
        publish_bucket_arn="",
        table_kms_key_arn=config.table.kms_key_arn,
    )
    variables = environment(args, names.table, names.publish_bucket, names.source_bucket, names.function_name)
    return {name: str(value) for name, value in variables.items()}


def source_key(config: StackConfig, file: Path, key: str | None) -> str:
    """Where the file goes: the stack's source key, or in prefix mode the prefix and the file's name."""
    source = config.source
    if source.key is not None:
        if key is not None and key != source.key:
            raise UsageError(f"--key {key}: the stack loads only source.key {source.key!r}")
        return source.key
    chosen = key if key is not None else f"{source.prefix}{file.name}"
    if not chosen.startswith(source.prefix or "") or not chosen.endswith(source.suffix):
        raise UsageError(f"--key {chosen}: must start with {source.prefix!r} and end with {source.suffix!r}")
    return chosen


def check_endpoint(endpoint: str) -> str:
    parsed = urlparse(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"--endpoint {endpoint}: not a URL like http://127.0.0.1:4566")
    if parsed.hostname.endswith("amazonaws.com"):
        raise UsageError(f"--endpoint {endpoint}: an AWS endpoint; this command talks to LocalStack only")
    return endpoint.rstrip("/")


def object_created(bucket: str, key: str, size: int, put: dict[str, Any], region: str) -> dict[str, Any]:
    """The notification S3 sends for a new object (keys URL-encoded, spaces as '+')."""
    obj: dict[str, Any] = {
        "key": quote_plus(key),
        "size": size,
        "eTag": str(put.get("ETag", "")).strip('"'),
        # One key's events are ordered by sequencer; a later upload gets a larger one.
        "sequencer": f"{time.time_ns():020X}",
    }
    if put.get("VersionId"):
        obj["versionId"] = put["VersionId"]
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }]}


def use_localstack(endpoint: str, region: str, variables: dict[str, str]) -> None:
    """This process's environment: the loader's variables, and AWS clients bound to LocalStack."""
    for name in FOREIGN_AWS_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(variables)
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIAL,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    })


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the CSV file to load")
    parser.add_argument("--stack", default=DEFAULT_STACK, help=f"the stack (default {DEFAULT_STACK})")
    parser.add_argument("--stack-file", type=Path, help="its stack file (default Pulumi.<stack>.yaml)")
    parser.add_argument("--outputs", help="`pulumi stack output --json` saved to a file, or - for standard input")
    parser.add_argument("--table", help="the DynamoDB table (stack output tableName)")
    parser.add_argument("--source-bucket", help="the source bucket (stack output sourceBucketName)")
    parser.add_argument("--publish-bucket", help="the publish bucket (stack output publishBucketName)")
    parser.add_argument("--function-name", help="the loader function's name, for its metrics (loaderFunctionName)")
    parser.add_argument("--key", help="in prefix mode, the object key (default: the prefix and the file's name)")
    parser.add_argument("--allow-mass-delete", action="store_true",
                        help="upload with x-amz-meta-allow-mass-delete: true (an intended large removal)")
    parser.add_argument("--endpoint", help="LocalStack's URL (default http://127.0.0.1:$LOCALSTACK_PORT, port 4566)")
    parser.add_argument("--region", help="the region (default: the stack's aws:region, else us-east-1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        stack_file = args.stack_file or ROOT / f"Pulumi.{args.stack}.yaml"
        stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml") if args.stack_file else args.stack
        raw_config, config = stack_settings(stack_file)
        if not args.file.is_file():
            raise UsageError(f"{args.file}: file not found")
        names_given = all((args.table, args.source_bucket, args.publish_bucket))
        names = stack_names(args, read_outputs(args.outputs, stack, names_given), stack)
        region = args.region or raw_config.get("aws:region") or DEFAULT_REGION
        endpoint = check_endpoint(args.endpoint or f"http://127.0.0.1:{os.environ.get('LOCALSTACK_PORT', '4566')}")
        key = source_key(config, args.file, args.key)
    except UsageError as error:
        print(f"local_load: {error}", file=sys.stderr)
        return 2

    use_localstack(endpoint, region, loader_environment(config, names))
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    body = args.file.read_bytes()
    metadata = {"allow-mass-delete": "true"} if args.allow_mass_delete else {}
    try:
        put = boto3.client("s3").put_object(Bucket=names.source_bucket, Key=key, Body=body,
                                            ContentType="text/csv", Metadata=metadata)
    except (BotoCoreError, ClientError) as error:
        print(f"local_load: uploading {args.file} to s3://{names.source_bucket}/{key} at {endpoint} failed: "
              f"{error} (is LocalStack running, and the stack deployed to it?)", file=sys.stderr)
        return 1
    event = object_created(names.source_bucket, key, len(body), put, region)

    sys.path.insert(0, str(LAMBDA_DIR))
    import handler
    from loader.errors import LoaderError

    context = LambdaContext(names.function_name, config.loader.timeout_seconds)
    try:
        # The loader's JSON log lines and metrics go to standard error; the summary alone to stdout.
        with contextlib.redirect_stdout(sys.stderr):
            result = handler.handler(event, context)
    except LoaderError as error:
        print(f"local_load: the load of {args.file} failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
