"""The loader function's infrastructure: code, role, trigger, buckets, failure queue and alarms."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from .config import LoaderConfig, PublishConfig, SourceConfig, StackConfig
from .naming import physical_name

# The loader's code ships inside the installed package as loader_code/ (pyproject.toml maps lambda/
# there); in the repository it is lambda/, beside this package. Every Python file in it, except tests
# and bytecode, is the deployment package.
PACKAGED_CODE_DIR = Path(__file__).resolve().parent / "loader_code"
REPOSITORY_CODE_DIR = Path(__file__).resolve().parent.parent / "lambda"
CODE_DIR = PACKAGED_CODE_DIR if PACKAGED_CODE_DIR.is_dir() else REPOSITORY_CODE_DIR
HANDLER = "handler.handler"
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"

# The loader's logging, metrics, tracing and event types: Powertools for AWS Lambda (Python)
# 3.22.0, the release requirements-dev.txt pins, from AWS's public layer for the runtime and
# architecture, whose version 25 is that release (the layer table of its docs). The layer
# bundles Powertools' extras, the X-Ray SDK among them; Lambda's runtime provides boto3.
POWERTOOLS_RELEASE = "3.22.0"
POWERTOOLS_LAYER_VERSION = 25
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = f"AWSLambdaPowertoolsPythonV3-{RUNTIME.replace('.', '')}-{ARCHITECTURE}"

# The loader's EMF metrics: one namespace, one dimension `Service` that the alarms filter on.
METRICS_NAMESPACE = "DataApi"
METRICS_DIMENSION = "Service"
# What lambda/loader/metrics.py emits, by name; the alarms and the dashboard read these.
LOAD_SUCCEEDED = "LoadSucceeded"
LOAD_FAILED = "LoadFailed"
LOAD_DURATION = "LoadDurationMs"
ROWS_LOADED = "RowsLoaded"
KEYS_WRITTEN = "KeysWritten"
KEYS_UNCHANGED = "KeysUnchanged"
KEYS_DELETED = "KeysDeleted"
CACHE_FLUSH_FAILED = "CacheFlushFailed"
# What AWS publishes for the function and its failure queue, as the alarms read it.
LAMBDA_NAMESPACE = "AWS/Lambda"
LAMBDA_ERRORS = "Errors"
SQS_NAMESPACE = "AWS/SQS"
QUEUE_DEPTH = "ApproximateNumberOfMessagesVisible"
LOADER_TYPE = "data-api:index:Loader"
# The loader keeps its manifest of loaded keys here, under the publish prefix's private folder.
MANIFEST_OBJECT = "manifest.json"
# ... and its record of the snapshot's sets of parts, so that it can remove the stale ones.
PART_SETS_OBJECT = "snapshot-parts.json"

# Only the calls the loader's store module makes: the marker (GetItem, PutItem), the lease (PutItem,
# DeleteItem), batched writes and deletes, and the scan that rebuilds a missing manifest.
DYNAMODB_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Scan",
)
# DynamoDB decrypts the table key and generates data keys with the caller's own KMS permissions.
TABLE_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# S3 does the same for SSE-KMS objects: reading one takes Decrypt; writing one takes GenerateDataKey,
# and a multipart upload Decrypt as well (S3 decrypts the data key to encrypt each part).
READ_OBJECT_KEY_ACTIONS = ("kms:Decrypt",)
WRITE_OBJECT_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")

# Lambda's asynchronous queue keeps an event at most six hours; with reserved concurrency 1 a drop
# can wait behind a running load (and its retries), so keep it for as long as Lambda allows.
MAX_EVENT_AGE_SECONDS = 6 * 60 * 60
RETRY_ATTEMPTS = 2
# The lease outlives any invocation, so a crashed load never blocks the next one for long.
LEASE_MARGIN_SECONDS = 60
# SQS's longest retention: time to read, fix and re-drive a failed event.
FAILURE_RETENTION_SECONDS = 14 * 24 * 60 * 60
# Replaced versions of index.json and snapshot.json are kept this long for rollbacks.
PUBLISHED_VERSION_DAYS = 30
ABORT_MULTIPART_DAYS = 7

# The stale-data alarm counts hourly periods (config caps the window at CloudWatch's 7 days).
ALARM_PERIOD_SECONDS = 3600
FAILURE_PERIOD_SECONDS = 300


@dataclass(frozen=True)
class ApiCache:
    """The API stage whose cache holds answers the loader's writes make stale."""

    rest_api_id: pulumi.Input[str]
    """The REST API's id."""
    stage_name: str
    """The stage with the cache cluster."""


@dataclass(frozen=True)
class PublishBucketArgs:
    """What the publish bucket component needs."""

    publish: PublishConfig
    """An existing bucket to use, or None to create one."""
    moved_from: str | None = None
    """The URN of the component its resources were declared under before, kept as their alias."""


def component_urn(type_: str, name: str) -> str:
    """The URN of a component declared at the top of this stack's program."""
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"


def cache_data_arn(partition: str, region: str, rest_api_id: str, stage_name: str) -> str:
    """The ARN FlushStageCache authorises against (DELETE .../cache/data)."""
    return f"arn:{partition}:apigateway:{region}::/restapis/{rest_api_id}/stages/{stage_name}/cache/data"


@dataclass(frozen=True)
class LoaderArgs:
    """What the loader component needs."""

    source: SourceConfig
    """Where the CSV arrives and how its columns are read."""
    publish: PublishConfig
    """Where index.json and snapshot.json are published."""
    loader: LoaderConfig
    """Memory, timeout, log retention and the mass-deletion guard."""
    collection: str
    """Name of the map of partitions in index.json and snapshot.json (the API's collection)."""
    freshness_hours: int
    """Hours without a successful load before the stale-data alarm fires."""
    table_name: pulumi.Input[str]
    """The DynamoDB table the loader writes."""
    table_arn: pulumi.Input[str]
    """The table's ARN, the only table the role may touch."""
    publish_bucket_name: pulumi.Input[str]
    """The bucket the loader publishes to (see PublishBucket)."""
    publish_bucket_arn: pulumi.Input[str]
    """Its ARN, for the role's grants on the published and private objects."""
    table_kms_key_arn: str | None = None
    """The table's customer-managed key, when it has one."""
    api_cache: ApiCache | None = None
    """The API stage whose cache the loader flushes after a load that changed data; None: no cache."""
    code_dir: Path = CODE_DIR
    """The directory whose Python files are the function's code."""

    @classmethod
    def for_stack(cls, config: StackConfig, **wiring: Any) -> "LoaderArgs":
        """The args a product's config gives, with what other resources wire in (table, bucket, cache)."""
        return cls(source=config.source, publish=config.publish, loader=config.loader,
                   collection=config.api.collection, freshness_hours=config.alerts.freshness_hours, **wiring)


def package(code_dir: Path) -> pulumi.AssetArchive:
    """The deployment package: every `.py` under code_dir except tests, keyed by relative path."""
    files: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for path in sorted(code_dir.rglob("*.py")):
        relative = path.relative_to(code_dir)
        if _is_test_or_bytecode(relative):
            continue
        files[relative.as_posix()] = pulumi.FileAsset(str(path))
    handler_file = HANDLER.split(".")[0] + ".py"
    if handler_file not in files:
        raise pulumi.RunError(
            f"loader code: {code_dir.name}/{handler_file} not found; the function's entry point "
            f"{HANDLER} must be defined there"
        )
    return pulumi.AssetArchive(files)


def powertools_layer_arn(region: pulumi.Input[str], mirror: str | None = None) -> pulumi.Output[str]:
    """The Powertools layer version the function uses: the configured mirror, or AWS's public one."""
    if mirror is not None:
        return pulumi.Output.from_input(mirror)
    # AWS publishes the layer from this account in every commercial region, by the same version.
    layer = f"{POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION}"
    return pulumi.Output.concat("arn:aws:lambda:", region, f":{POWERTOOLS_LAYER_ACCOUNT}:layer:{layer}")


def s3_filter_value(value: str) -> str:
    """A key prefix or suffix as S3 notification filters match it: URL-encoded, a space as '+'."""
    # S3 compares filters with the URL-encoded key, so a raw `=` or space would never match.
    return urllib.parse.quote_plus(value, safe="/")


def _is_test_or_bytecode(relative: Path) -> bool:
    parts = relative.parts
    return (
        any(part in ("__pycache__", "tests", "test") for part in parts[:-1])
        or relative.name.startswith("test_")
        or relative.name.endswith("_test.py")
        or relative.name == "conftest.py"
    )


def environment(
    args: LoaderArgs, table_name: pulumi.Input[str], publish_bucket: pulumi.Input[str],
    source_bucket: pulumi.Input[str], service: str,
) -> dict[str, pulumi.Input[str]]:
    """The loader's environment, one variable per setting of its contract."""
    source = args.source
    variables: dict[str, pulumi.Input[str]] = {
        "TABLE_NAME": table_name,
        "SOURCE_BUCKET": source_bucket,
        "SOURCE_KEY": source.key or "",
        "SOURCE_PREFIX": source.prefix or "",
        "SOURCE_SUFFIX": source.suffix if source.prefix is not None else "",
        "PARTITION_COLUMN": source.partition_column,
        "ITEM_COLUMN": source.item_column,
        "ITEMS_FIELD": source.items_field,
        "COLLECTION_NAME": args.collection,
        "COLUMN_TYPES": json.dumps(dict(sorted(source.column_types.items())), separators=(",", ":")),
        "PUBLISH_BUCKET": publish_bucket,
        "PUBLISH_PREFIX": args.publish.prefix,
        "MAX_DELETE_FRACTION": repr(float(args.loader.max_delete_fraction)),
        "LEASE_SECONDS": str(args.loader.timeout_seconds + LEASE_MARGIN_SECONDS),
        "WRITE_CONCURRENCY": str(args.loader.write_concurrency),
        "METRICS_NAMESPACE": METRICS_NAMESPACE,
        "METRICS_SERVICE": service,
        **(
            {"CACHE_REST_API_ID": args.api_cache.rest_api_id, "CACHE_STAGE_NAME": args.api_cache.stage_name}
            if args.api_cache is not None else {}
        ),
    }
    # Named in error messages only: S3 picks the key itself, from the object or the bucket default.
    if source.kms_key_arn:
        variables["SOURCE_KMS_KEY_ARN"] = source.kms_key_arn
    if args.publish.kms_key_arn:
        variables["PUBLISH_KMS_KEY_ARN"] = args.publish.kms_key_arn
    return variables


# --------------------------------------------------------------------------------------------
# Policy documents
# --------------------------------------------------------------------------------------------


def service_trust_policy(service: str) -> dict[str, Any]:
    """A trust policy that lets one AWS service assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def s3_key_statement(sid: str, actions: tuple[str, ...], key_arn: str,
                     region: pulumi.Input[str]) -> dict[str, Any]:
    """A grant on a bucket's KMS key that holds only when S3 uses it on the role's behalf."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": key_arn,
        "Condition": {
            "StringEquals": {"kms:ViaService": pulumi.Output.concat("s3.", region, ".amazonaws.com")}
        },
    }


def loader_policy(
    *,
    source_objects: pulumi.Input[str],
    publish_bucket_arn: pulumi.Input[str],
    publish: PublishConfig,
    table_arn: pulumi.Input[str],
    table_key_arn: str | None,
    region: pulumi.Input[str],
    log_group_arn: pulumi.Input[str],
    failure_queue_arn: pulumi.Input[str],
    source_key_arn: str | None,
    cache_data: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """The loader role's inline policy: each statement names the exact ARNs it may touch."""
    published = lambda key: pulumi.Output.concat(publish_bucket_arn, "/", key)  # noqa: E731
    statements: list[dict[str, Any]] = [
        {
            # In prefix mode `source_objects` ends in `PREFIX*`: object names are not known in advance.
            "Sid": "ReadSourceObject",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": source_objects,
        },
        {
            # Multipart uploads (large files) need only PutObject, except to abort a failed one.
            "Sid": "PublishIndexAndSnapshot",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [published(publish.index_key), published(publish.snapshot_key)],
        },
        {
            # HeadObject: an unchanged data set keeps the snapshot (and its ETag) and the parts
            # index.json names.
            "Sid": "CheckPublishedSnapshot",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [published(publish.snapshot_key), published(publish.index_key)],
        },
        {
            # Exception: the objects under a prefix, as each is named by a key or a load only at run
            # time. Each document too large for a DynamoDB item, and each load's snapshot parts.
            "Sid": "PublishLargeDocumentsAndParts",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
            "Resource": [published(f"{publish.documents_prefix}*"), published(f"{publish.parts_prefix}*")],
        },
        {
            "Sid": "KeepManifest",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [
                published(f"{publish.private_prefix}{MANIFEST_OBJECT}"),
                published(f"{publish.private_prefix}{PART_SETS_OBJECT}"),
            ],
        },
        {
            "Sid": "WriteTable",
            "Effect": "Allow",
            "Action": list(DYNAMODB_ACTIONS),
            "Resource": table_arn,
        },
    ]
    if table_key_arn:
        statements.append(
            {
                "Sid": "UseTableKeyThroughDynamoDB",
                "Effect": "Allow",
                "Action": list(TABLE_KEY_ACTIONS),
                "Resource": table_key_arn,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": pulumi.Output.concat("dynamodb.", region, ".amazonaws.com")
                    }
                },
            }
        )
    if source_key_arn:
        statements.append(
            s3_key_statement("DecryptSourceThroughS3", READ_OBJECT_KEY_ACTIONS, source_key_arn, region)
        )
    if publish.kms_key_arn:
        statements.append(
            s3_key_statement("EncryptPublishedThroughS3", WRITE_OBJECT_KEY_ACTIONS, publish.kms_key_arn, region)
        )
    if cache_data is not None:
        statements.append(
            {
                # FlushStageCache, on this one stage's cache and nothing else.
                "Sid": "FlushApiCache",
                "Effect": "Allow",
                "Action": "apigateway:DELETE",
                "Resource": cache_data,
            }
        )
    statements += [
        {
            # Stream names are generated by Lambda, so the streams of its own group end in `:*`.
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": pulumi.Output.concat(log_group_arn, ":*"),
        },
        {
            # Lambda sends failed asynchronous events to the on-failure destination with this role.
            "Sid": "SendFailedEvents",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": failure_queue_arn,
        },
        {
            # Exception: X-Ray's Put* actions support no resource-level permissions; `*` is the only value.
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def writer_trust_policy(partition: pulumi.Input[str], account: pulumi.Input[str]) -> dict[str, Any]:
    """The writer role's trust: the account, so its admins decide who (the producer) may assume it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": pulumi.Output.concat("arn:", partition, ":iam::", account, ":root")},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def writer_policy(
    source_objects: pulumi.Input[str], source_key_arn: str | None, region: pulumi.Input[str]
) -> dict[str, Any]:
    """The producer's only permission: put the source object (or objects under the source prefix)."""
    statements: list[dict[str, Any]] = [
        {
            # In prefix mode `source_objects` ends in `PREFIX*`: new file names are the point.
            "Sid": "UploadSourceObject",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": source_objects,
        }
    ]
    if source_key_arn:
        # The bucket encrypts uploads with this key by default: no upload goes through without it.
        statements.append(
            s3_key_statement("EncryptSourceThroughS3", WRITE_OBJECT_KEY_ACTIONS, source_key_arn, region)
        )
    return {"Version": "2012-10-17", "Statement": statements}


def tls_only_bucket_policy(bucket_arn: pulumi.Input[str]) -> dict[str, Any]:
    """A bucket policy refusing every request that does not use TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def event_pattern(source: SourceConfig, bucket_name: pulumi.Input[str]) -> dict[str, Any]:
    """The EventBridge pattern matching this source's Object Created events."""
    if source.key is not None:
        key_filter: list[Any] = [source.key]
    else:
        key_filter = [{"wildcard": f"{_wildcard_literal(source.prefix or '')}*{_wildcard_literal(source.suffix)}"}]
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": key_filter}},
    }


def _default_encryption(kms_key_arn: str | None) -> dict[str, Any]:
    """A created bucket's default encryption: the configured customer-managed key, else SSE-S3."""
    if kms_key_arn is None:
        # S3-managed keys: writers and readers need no KMS grants.
        return {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
    return {
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn},
        # One data key per bucket, not per object: far fewer KMS requests (and their cost).
        "bucket_key_enabled": True,
    }


def _wildcard_literal(text: str) -> str:
    # EventBridge wildcard patterns treat `*` as the wildcard and `\` as its escape.
    return text.replace("\\", "\\\\").replace("*", "\\*")


def private_bucket(name: str, bucket: str | None, version_days: int, parent: pulumi.Resource,
                   moved_from: str | None = None, kms_key_arn: str | None = None) -> aws.s3.Bucket:
    """A versioned, encrypted bucket that refuses public access and plain HTTP.

    `moved_from` is the URN of the component these resources were children of before, kept as
    their alias, so moving them to `parent` replaces nothing.
    """
    aliases = [pulumi.Alias(parent=moved_from)] if moved_from else None

    def child(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, aliases=aliases, depends_on=list(depends_on) or None)

    created = aws.s3.Bucket(name, bucket=bucket, opts=child())
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=created.id,
        versioning_configuration={"status": "Enabled"},
        opts=child(),
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=created.id,
        rules=[_default_encryption(kms_key_arn)],
        opts=child(),
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=created.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child(),
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=created.id,
        rules=[
            {
                "id": "expire-replaced-versions",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {"noncurrent_days": version_days},
                "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_DAYS},
            }
        ],
        # Noncurrent-version rules act on a versioned bucket.
        opts=child(versioning),
    )
    aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=created.id,
        policy=pulumi.Output.json_dumps(tls_only_bucket_policy(created.arn)),
        # S3 rejects concurrent changes to one bucket's access settings.
        opts=child(public_access),
    )
    return created


class PublishBucket(pulumi.ComponentResource):
    """The bucket the loader publishes to and the gateway serves from: created, or an existing one.

    Its own component, declared before both, so the gateway (which the loader's cache flush
    names) never waits on the loader.
    """

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: PublishBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("data-api:index:PublishBucket", name, {}, opts)
        if args.publish.bucket is None:
            created = private_bucket(name, None, PUBLISHED_VERSION_DAYS, parent=self, moved_from=args.moved_from,
                                     kms_key_arn=args.publish.kms_key_arn)
            self.bucket_name, self.bucket_arn = created.bucket, created.arn
        else:
            partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition
            self.bucket_name = pulumi.Output.from_input(args.publish.bucket)
            self.bucket_arn = pulumi.Output.concat("arn:", partition, ":s3:::", self.bucket_name)
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})


# --------------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------------


class Loader(pulumi.ComponentResource):
    """The loader Lambda, wired to its source bucket, the table, the publish bucket and its alarms."""

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    failure_queue_url: pulumi.Output[str]
    failure_queue_arn: pulumi.Output[str]
    source_bucket_name: pulumi.Output[str]
    publish_bucket_name: pulumi.Output[str]
    publish_bucket_arn: pulumi.Output[str]
    failure_queue_name: pulumi.Output[str]
    metrics_service: str
    writer_role_arn: pulumi.Output[str] | None
    stale_alarm: aws.cloudwatch.MetricAlarm
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: LoaderArgs, opts: pulumi.ResourceOptions | None = None):
        code = package(args.code_dir)
        super().__init__(LOADER_TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region
        partition = aws.get_partition_output(opts=invoke).partition
        source = args.source

        # ---- buckets -------------------------------------------------------------------------
        self.writer_role_arn = None
        if source.create_bucket:
            source_bucket = private_bucket(
                f"{name}-source", source.bucket, source.noncurrent_version_days, parent=self,
                kms_key_arn=source.kms_key_arn,
            )
            source_bucket_name, source_bucket_arn = source_bucket.bucket, source_bucket.arn
        else:
            source_bucket_name = pulumi.Output.from_input(source.bucket or "")
            source_bucket_arn = pulumi.Output.concat("arn:", partition, ":s3:::", source_bucket_name)
        source_objects = pulumi.Output.concat(
            source_bucket_arn, "/", source.key if source.key is not None else f"{source.prefix}*"
        )
        if source.create_bucket:
            writer = aws.iam.Role(
                f"{name}-writer",
                description="Producer upload role: may only put the source CSV",
                assume_role_policy=pulumi.Output.json_dumps(writer_trust_policy(partition, account)),
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{name}-writer-policy",
                role=writer.id,
                policy=pulumi.Output.json_dumps(writer_policy(source_objects, source.kms_key_arn, region)),
                opts=child,
            )
            self.writer_role_arn = writer.arn

        publish_bucket_name = pulumi.Output.from_input(args.publish_bucket_name)
        publish_bucket_arn = pulumi.Output.from_input(args.publish_bucket_arn)

        # ---- function ------------------------------------------------------------------------
        function_name = physical_name(name)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.loader.log_retention_days,
            opts=child,
        )
        failure_queue = aws.sqs.Queue(
            f"{name}-failures",
            # SQS-managed keys: encrypted at rest with nothing to grant, since Lambda's on-failure
            # destination sends with the function's role and would otherwise need a key grant too.
            sqs_managed_sse_enabled=True,
            message_retention_seconds=FAILURE_RETENTION_SECONDS,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=f"Execution role of the {function_name} function",
            assume_role_policy=pulumi.Output.json_dumps(service_trust_policy("lambda.amazonaws.com")),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                loader_policy(
                    source_objects=source_objects,
                    publish_bucket_arn=publish_bucket_arn,
                    publish=args.publish,
                    table_arn=args.table_arn,
                    table_key_arn=args.table_kms_key_arn,
                    region=region,
                    log_group_arn=log_group.arn,
                    failure_queue_arn=failure_queue.arn,
                    source_key_arn=source.kms_key_arn,
                    cache_data=None if args.api_cache is None else pulumi.Output.all(
                        partition, region, args.api_cache.rest_api_id
                    ).apply(lambda v: cache_data_arn(v[0], v[1], v[2], args.api_cache.stage_name)),
                )
            ),
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description="Loads the source CSV into the table and publishes index.json and snapshot.json",
            role=role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER,
            code=code,
            layers=[powertools_layer_arn(region, args.loader.powertools_layer_arn)],
            memory_size=args.loader.memory_mb,
            timeout=args.loader.timeout_seconds,
            # One load at a time: the lease guards correctness, this keeps drops queued, not racing.
            reserved_concurrent_executions=1,
            tracing_config={"mode": "Active"},
            logging_config={
                "log_format": "JSON",
                "application_log_level": "INFO",
                "system_log_level": "WARN",
                "log_group": log_group.name,
            },
            environment={
                "variables": environment(
                    args, args.table_name, publish_bucket_name, source_bucket_name, function_name
                )
            },
            # The group exists (with its retention) before Lambda could create it, and the role can
            # act before the first invocation.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, role_policy]),
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=function.name,
            maximum_retry_attempts=RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
            destination_config={"on_failure": {"destination": failure_queue.arn}},
            # Lambda checks that the role may send to the destination when this is set.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

        # ---- trigger -------------------------------------------------------------------------
        if source.notifications == "s3":
            permission = aws.lambda_.Permission(
                f"{name}-s3-invoke",
                function=function.name,
                action="lambda:InvokeFunction",
                principal="s3.amazonaws.com",
                source_arn=source_bucket_arn,
                source_account=account,
                opts=child,
            )
            key_filter = (
                {"filter_prefix": s3_filter_value(source.key), "filter_suffix": s3_filter_value(source.key)}
                if source.key is not None
                else {"filter_prefix": s3_filter_value(source.prefix), "filter_suffix": s3_filter_value(source.suffix)}
            )
            # This resource is the bucket's whole notification configuration (see docs/loader.md).
            aws.s3.BucketNotification(
                f"{name}-notification",
                bucket=source_bucket_name,
                lambda_functions=[
                    {
                        "lambda_function_arn": function.arn,
                        "events": ["s3:ObjectCreated:*"],
                        **key_filter,
                    }
                ],
                # S3 tests the permission when the notification is saved.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
            )
        else:
            if source.create_bucket:
                # The stack owns this bucket, so it turns EventBridge delivery on itself.
                aws.s3.BucketNotification(
                    f"{name}-eventbridge", bucket=source_bucket_name, eventbridge=True, opts=child
                )
            rule = aws.cloudwatch.EventRule(
                f"{name}-object-created",
                description=f"The source CSV arrived: invoke {function_name}",
                event_pattern=pulumi.Output.json_dumps(event_pattern(source, source_bucket_name)),
                opts=child,
            )
            permission = aws.lambda_.Permission(
                f"{name}-events-invoke",
                function=function.name,
                action="lambda:InvokeFunction",
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-target",
                rule=rule.name,
                arn=function.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
            )

        # ---- alarms (no actions: the Alerts component's composite alarm notifies) -------------
        self.stale_alarm = self._stale_alarm(name, function_name, args.freshness_hours)
        self.alarms = [
            self._failed_alarm(name, function_name),
            self.stale_alarm,
            self._queue_alarm(name, failure_queue),
        ]

        self.function_name = function.name
        self.function_arn = function.arn
        self.role_arn = role.arn
        self.failure_queue_url = failure_queue.url
        self.failure_queue_arn = failure_queue.arn
        self.failure_queue_name = failure_queue.name
        self.metrics_service = function_name
        self.source_bucket_name = source_bucket_name
        self.publish_bucket_name = publish_bucket_name
        self.publish_bucket_arn = publish_bucket_arn
        self.register_outputs(
            {
                "function_name": self.function_name,
                "function_arn": self.function_arn,
                "failure_queue_url": self.failure_queue_url,
                "source_bucket_name": self.source_bucket_name,
                "publish_bucket_name": self.publish_bucket_name,
                "writer_role_arn": self.writer_role_arn,
            }
        )

    def _failed_alarm(self, name: str, function_name: str) -> aws.cloudwatch.MetricAlarm:
        """A load failed: the function errored (crash, timeout) or reported LoadFailed."""
        def metric(metric_id: str, namespace: str, metric_name: str, dimensions: dict[str, str]):
            return {
                "id": metric_id,
                "metric": {
                    "namespace": namespace,
                    "metric_name": metric_name,
                    "dimensions": dimensions,
                    "period": FAILURE_PERIOD_SECONDS,
                    "stat": "Sum",
                },
                "return_data": False,
            }

        return aws.cloudwatch.MetricAlarm(
            f"{name}-failed-alarm",
            name=physical_name(f"{name}-failed"),
            alarm_description=(
                "A load failed (function error or LoadFailed). The table and published files still "
                "hold the last good load. Read the function's log for the error; fix the file or "
                "config and upload again."
            ),
            metric_queries=[
                metric("errors", LAMBDA_NAMESPACE, LAMBDA_ERRORS, {"FunctionName": function_name}),
                metric("failed", METRICS_NAMESPACE, LOAD_FAILED, {METRICS_DIMENSION: function_name}),
                {
                    # One alarm for both signals; retries of the same drop keep it in ALARM, not re-fire it.
                    "id": "failures",
                    "expression": "MAX([FILL(errors, 0), FILL(failed, 0)])",
                    "label": "Failed loads",
                    "return_data": True,
                },
            ],
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data="notBreaching",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _stale_alarm(self, name: str, function_name: str, hours: int) -> aws.cloudwatch.MetricAlarm:
        """No load has succeeded within the freshness window."""
        return aws.cloudwatch.MetricAlarm(
            f"{name}-stale-alarm",
            name=physical_name(f"{name}-stale"),
            alarm_description=(
                f"No load has succeeded for {hours} hours: the API serves old data. Check that the "
                "producer delivered the file, then the loader's log and failure queue."
            ),
            namespace=METRICS_NAMESPACE,
            metric_name=LOAD_SUCCEEDED,
            dimensions={METRICS_DIMENSION: function_name},
            statistic="Sum",
            # Hourly sums, every one of them empty: one alarm period of `hours` would exceed what
            # CloudWatch evaluates, hourly periods reach 7 days.
            period=ALARM_PERIOD_SECONDS,
            evaluation_periods=hours,
            datapoints_to_alarm=hours,
            comparison_operator="LessThanThreshold",
            threshold=1,
            # An hour without any load reports no data at all, which is exactly what staleness is.
            treat_missing_data="breaching",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _queue_alarm(self, name: str, queue: aws.sqs.Queue) -> aws.cloudwatch.MetricAlarm:
        """The failure queue holds events that exhausted their retries."""
        return aws.cloudwatch.MetricAlarm(
            f"{name}-failure-queue-alarm",
            name=physical_name(f"{name}-failure-queue"),
            alarm_description=(
                "The loader's failure queue holds events that failed every retry or expired. Read "
                "them, fix the cause, re-upload the file, then purge the queue to clear this alarm."
            ),
            namespace=SQS_NAMESPACE,
            metric_name=QUEUE_DEPTH,
            dimensions={"QueueName": queue.name},
            statistic="Maximum",
            period=FAILURE_PERIOD_SECONDS,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            # SQS stops reporting for a queue that is empty and idle.
            treat_missing_data="notBreaching",
            opts=pulumi.ResourceOptions(parent=self),
        )
