"""The Loader component: function, least-privilege role, trigger, buckets, failure handling, alarms."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from components.loader import package

from harness import ACCOUNT, ROOT, Program, policy_document, statement_pairs

LOADER = "data-api:index:Loader"
PUBLISH_BUCKET = "data-api:index:PublishBucket"
FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
PERMISSION = "aws:lambda/permission:Permission"
NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
QUEUE = "aws:sqs/queue:Queue"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET = "aws:s3/bucket:Bucket"
TABLE = "aws:dynamodb/table:Table"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
REGION = "eu-west-1"
SOURCE_BUCKET = "acme-hr-exports-prod"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def loader_children(program: Program, type_: str) -> list:
    return [r for r in program.children_of(LOADER) if r.type == type_]


def one_child(program: Program, type_: str, name: str | None = None):
    found = [r for r in loader_children(program, type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_} named {name!r} in the Loader, found {[r.urn for r in found]}"
    return found[0]


def loader_policy(program: Program):
    return one_child(program, ROLE_POLICY, "loader-policy")


def expected_loader_pairs(program: Program, source_objects: str, publish_bucket: str) -> set[tuple[str, str]]:
    """The exact pairs the loader role must allow, from the program's own declared resources."""
    table_arn = program.one(TABLE).outputs["arn"]
    log_group = one_child(program, LOG_GROUP)
    queue = one_child(program, QUEUE)
    published = f"arn:aws:s3:::{publish_bucket}/published/"
    return {
        ("s3:GetObject", source_objects),
        ("s3:GetObjectVersion", source_objects),
        ("s3:PutObject", f"{published}index.json"),
        ("s3:PutObject", f"{published}snapshot.json"),
        ("s3:AbortMultipartUpload", f"{published}index.json"),
        ("s3:AbortMultipartUpload", f"{published}snapshot.json"),
        ("s3:GetObject", f"{published}snapshot.json"),
        ("s3:GetObject", f"{published}index.json"),
        ("s3:GetObject", f"{published}_loader/manifest.json"),
        ("s3:PutObject", f"{published}_loader/manifest.json"),
        ("s3:GetObject", f"{published}_loader/snapshot-parts.json"),
        ("s3:PutObject", f"{published}_loader/snapshot-parts.json"),
        # Documents too large for an item, and the snapshot's parts: named only at run time.
        *((action, f"{published}{folder}/*") for folder in ("documents", "snapshot")
          for action in ("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject")),
        ("dynamodb:GetItem", table_arn),
        ("dynamodb:PutItem", table_arn),
        ("dynamodb:DeleteItem", table_arn),
        ("dynamodb:BatchWriteItem", table_arn),
        ("dynamodb:Scan", table_arn),
        ("logs:CreateLogStream", f"{log_group.outputs['arn']}:*"),
        ("logs:PutLogEvents", f"{log_group.outputs['arn']}:*"),
        ("sqs:SendMessage", queue.outputs["arn"]),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    }


def publish_child(program: Program, type_: str, name: str):
    found = [r for r in program.children_of(PUBLISH_BUCKET) if r.type == type_ and r.name == name]
    assert len(found) == 1, f"expected one {type_} named {name!r} in the PublishBucket, found {len(found)}"
    return found[0]


def publish_bucket_name(program: Program) -> str:
    return publish_child(program, BUCKET, "loader-publish").outputs["bucket"]


def depends_on(resource, other) -> bool:
    """Whether the program lists `other` in the resource's depends_on (not merely references it)."""
    return other.urn in resource.depends_on


def prefix_mode(config):
    source = config["data-api:source"]
    source.pop("key")
    source.update(prefix="incoming/", suffix=".csv")


# --------------------------------------------------------------------------------------------
# the role
# --------------------------------------------------------------------------------------------


def test_prod_role_allows_exactly_the_loaders_pairs(prod_program):
    policy = loader_policy(prod_program)
    pairs = statement_pairs(policy.inputs["policy"])
    expected = expected_loader_pairs(
        prod_program,
        f"arn:aws:s3:::{SOURCE_BUCKET}/exports/employees.csv",
        publish_bucket_name(prod_program),
    )
    assert pairs == expected, f"{policy.urn}: extra {pairs - expected}, missing {expected - pairs}"


def test_dev_role_reads_the_created_bucket_object(dev_program):
    source = one_child(dev_program, BUCKET, "loader-source")
    policy = loader_policy(dev_program)
    pairs = statement_pairs(policy.inputs["policy"])
    expected = expected_loader_pairs(
        dev_program, f"{source.outputs['arn']}/employees.csv", publish_bucket_name(dev_program)
    )
    assert pairs == expected, f"{policy.urn}: extra {pairs - expected}, missing {expected - pairs}"


def test_prefix_mode_reads_only_objects_under_the_prefix(program_with):
    program = program_with(prefix_mode)
    policy = loader_policy(program)
    pairs = statement_pairs(policy.inputs["policy"])
    objects = f"arn:aws:s3:::{SOURCE_BUCKET}/incoming/*"
    expected = expected_loader_pairs(program, objects, publish_bucket_name(program))
    assert pairs == expected, f"{policy.urn}: extra {pairs - expected}, missing {expected - pairs}"


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_no_wildcard_beyond_the_named_exceptions(prod_program, dev_program, stack):
    program = {"prod": prod_program, "dev": dev_program}[stack]
    policy = loader_policy(program)
    log_streams = f"{one_child(program, LOG_GROUP).outputs['arn']}:*"
    published = f"arn:aws:s3:::{publish_bucket_name(program)}/published/"
    # The objects under the two configured prefixes whose object names only a load knows.
    run_time_objects = {f"{published}documents/*", f"{published}snapshot/*"}
    for action, resource in statement_pairs(policy.inputs["policy"]):
        assert "*" not in action, f"{policy.urn}: wildcard action {action}"
        if resource == "*":
            assert action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"), (
                f"{policy.urn}: {action} on every resource"
            )
        elif resource in run_time_objects:
            assert action in ("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"), (
                f"{policy.urn}: {action} on {resource}"
            )
        elif "*" in resource:
            assert resource == log_streams, f"{policy.urn}: {action} on wildcard resource {resource}"


def test_table_key_actions_are_granted_only_with_a_customer_managed_key(prod_program, program_with):
    plain = loader_policy(prod_program)
    assert not any(a.startswith("kms:") for a, _ in statement_pairs(plain.inputs["policy"])), plain.urn

    program = program_with(lambda c: c["data-api:table"].update(kmsKeyArn=KEY_ARN))
    policy = loader_policy(program)
    pairs = statement_pairs(policy.inputs["policy"])
    expected = expected_loader_pairs(
        program, f"arn:aws:s3:::{SOURCE_BUCKET}/exports/employees.csv", publish_bucket_name(program)
    ) | {("kms:Decrypt", KEY_ARN), ("kms:GenerateDataKey", KEY_ARN)}
    assert pairs == expected, f"{policy.urn}: extra {pairs - expected}, missing {expected - pairs}"
    key_statement = next(
        s for s in policy_document(policy.inputs["policy"])["Statement"] if s["Resource"] == KEY_ARN
    )
    assert key_statement["Condition"] == {
        "StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}
    }, f"{policy.urn}: the table key must be usable only through DynamoDB"


def test_role_trusts_only_lambda_and_has_only_its_inline_policy(prod_program):
    role = one_child(prod_program, ROLE, "loader-role")
    trust = policy_document(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ], role.urn
    assert not role.inputs.get("managedPolicyArns"), f"{role.urn}: no managed policies"
    attached = [p for p in prod_program.of_type(ROLE_POLICY) if p.inputs["role"] == role.outputs["name"]]
    assert [p.name for p in attached] == ["loader-policy"], f"{role.urn}: one inline policy only"
    assert not prod_program.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), role.urn


# --------------------------------------------------------------------------------------------
# the function
# --------------------------------------------------------------------------------------------


def test_function_runtime_architecture_and_limits(prod_program):
    function = one_child(prod_program, FUNCTION)
    inputs = function.inputs
    major, minor = (int(p) for p in inputs["runtime"].removeprefix("python").split("."))
    assert (major, minor) >= (3, 12), f"{function.urn}: runtime {inputs['runtime']}"
    assert inputs["architectures"] == ["arm64"], function.urn
    assert inputs["handler"] == "handler.handler", function.urn
    assert (inputs["memorySize"], inputs["timeout"]) == (1024, 300), function.urn
    assert inputs["reservedConcurrentExecutions"] == 1, function.urn
    assert inputs["tracingConfig"] == {"mode": "Active"}, function.urn
    assert inputs["role"] == one_child(prod_program, ROLE, "loader-role").outputs["arn"], function.urn


# Powertools for AWS Lambda (Python) 3.22.0's public layer for Python 3.13 on arm64, as its docs list it.
POWERTOOLS_LAYER = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:25"


def test_function_has_the_public_powertools_layer_of_its_region(prod_program, program_with):
    function = one_child(prod_program, FUNCTION)
    assert function.inputs["layers"] == [POWERTOOLS_LAYER.format(region=REGION)], function.urn
    sydney = one_child(program_with(lambda c: c.update({"aws:region": "ap-southeast-2"})), FUNCTION)
    assert sydney.inputs["layers"] == [POWERTOOLS_LAYER.format(region="ap-southeast-2")], sydney.urn


def test_the_powertools_layer_matches_the_functions_runtime_and_architecture(prod_program):
    function = one_child(prod_program, FUNCTION)
    (layer,) = function.inputs["layers"]
    name = layer.split(":")[6]
    python = function.inputs["runtime"].replace(".", "")
    (architecture,) = function.inputs["architectures"]
    assert name == f"AWSLambdaPowertoolsPythonV3-{python}-{architecture}", f"{function.urn}: {layer}"


def test_the_tests_pin_the_release_the_layer_carries():
    from importlib.metadata import version

    from components.loader import POWERTOOLS_RELEASE

    pins = (ROOT / "requirements-dev.txt").read_text().splitlines()
    locks = (ROOT / "constraints.txt").read_text().splitlines()
    assert f"aws-lambda-powertools[tracer]=={POWERTOOLS_RELEASE}" in pins, "requirements-dev.txt"
    assert f"aws_lambda_powertools=={POWERTOOLS_RELEASE}" in locks, "constraints.txt"
    assert version("aws-lambda-powertools") == POWERTOOLS_RELEASE, "the virtualenv's Powertools"


def test_a_mirrored_powertools_layer_replaces_the_public_one(program_with):
    mirror = "arn:aws:lambda:eu-west-1:111122223333:layer:powertools-python313-arm64:7"
    program = program_with(lambda c: c["data-api:loader"].update(powertoolsLayerArn=mirror))
    function = one_child(program, FUNCTION)
    assert function.inputs["layers"] == [mirror], function.urn


def test_memory_and_timeout_follow_config(program_with):
    program = program_with(lambda c: c["data-api:loader"].update(memory=2048, timeout=900))
    function = one_child(program, FUNCTION)
    assert (function.inputs["memorySize"], function.inputs["timeout"]) == (2048, 900), function.urn
    env = function.inputs["environment"]["variables"]
    assert env["LEASE_SECONDS"] == "960", f"{function.urn}: the lease must outlive the 900 s timeout"


def test_function_logs_json_to_its_own_group_created_first(prod_program, dev_program):
    for program, retention in ((prod_program, 90), (dev_program, 7)):
        function = one_child(program, FUNCTION)
        group = one_child(program, LOG_GROUP)
        assert group.inputs["name"] == f"/aws/lambda/{function.inputs['name']}", group.urn
        assert group.inputs["retentionInDays"] == retention, group.urn
        assert function.inputs["loggingConfig"] == {
            "logFormat": "JSON",
            "applicationLogLevel": "INFO",
            "systemLogLevel": "WARN",
            "logGroup": group.inputs["name"],
        }, function.urn
        assert depends_on(function, group), f"{function.urn} must be created after {group.urn}"
        assert depends_on(function, loader_policy(program)), f"{function.urn} must wait for its permissions"


def test_prod_environment_matches_the_loader_contract(prod_program):
    function = one_child(prod_program, FUNCTION)
    table = prod_program.one(TABLE)
    assert function.inputs["environment"]["variables"] == {
        "TABLE_NAME": table.outputs["name"],
        "SOURCE_BUCKET": SOURCE_BUCKET,
        "SOURCE_KEY": "exports/employees.csv",
        "SOURCE_PREFIX": "",
        "SOURCE_SUFFIX": "",
        "PARTITION_COLUMN": "department",
        "ITEM_COLUMN": "employee",
        "ITEMS_FIELD": "employees",
        "COLLECTION_NAME": "departments",
        "COLUMN_TYPES": '{"fullTime":"boolean","salary":"integer"}',
        "PUBLISH_BUCKET": publish_bucket_name(prod_program),
        "PUBLISH_PREFIX": "published/",
        "MAX_DELETE_FRACTION": "0.5",
        "LEASE_SECONDS": "360",
        "WRITE_CONCURRENCY": "16",
        "METRICS_NAMESPACE": "DataApi",
        "METRICS_SERVICE": "data-api-prod-loader",
    }, function.urn


def test_write_concurrency_comes_from_loader_config(program_with):
    def eight(config):
        config["data-api:loader"]["writeConcurrency"] = 8

    function = one_child(program_with(eight), FUNCTION)
    assert function.inputs["environment"]["variables"]["WRITE_CONCURRENCY"] == "8", (
        f"{function.urn}: loader.writeConcurrency 8 must reach WRITE_CONCURRENCY"
    )


def test_prefix_mode_environment(program_with):
    function = one_child(program_with(prefix_mode), FUNCTION)
    env = function.inputs["environment"]["variables"]
    assert (env["SOURCE_KEY"], env["SOURCE_PREFIX"], env["SOURCE_SUFFIX"]) == ("", "incoming/", ".csv"), (
        function.urn
    )


def test_metrics_service_is_unique_per_stack(prod_program, dev_program):
    services = {
        one_child(p, FUNCTION).inputs["environment"]["variables"]["METRICS_SERVICE"]
        for p in (prod_program, dev_program)
    }
    assert services == {"data-api-prod-loader", "data-api-dev-loader"}, services


def test_package_holds_every_module_of_the_lambda_dir_and_nothing_else(prod_program):
    function = one_child(prod_program, FUNCTION)
    archive = function.inputs["code"]
    assert isinstance(archive, pulumi.AssetArchive), function.urn
    lambda_dir = ROOT / "lambda"
    expected = {
        p.relative_to(lambda_dir).as_posix()
        for p in lambda_dir.rglob("*.py")
        if "__pycache__" not in p.parts and "tests" not in p.parts and not p.name.startswith("test_")
    }
    assert set(archive.assets) == expected, function.urn
    assert "handler.py" in archive.assets, function.urn
    for key, asset in archive.assets.items():
        assert Path(asset.path) == lambda_dir / key, f"{function.urn}: {key} -> {asset.path}"


def test_package_skips_tests_and_bytecode(tmp_path):
    (tmp_path / "loader" / "__pycache__").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    for name in ("handler.py", "loader/__init__.py", "loader/load.py", "loader/__pycache__/load.py",
                 "tests/test_load.py", "loader/test_plan.py", "conftest.py", "README.md"):
        (tmp_path / name).write_text("")
    archive = package(tmp_path)
    assert sorted(archive.assets) == ["handler.py", "loader/__init__.py", "loader/load.py"]


def test_package_without_a_handler_stops_with_a_clear_error(tmp_path):
    (tmp_path / "loader").mkdir()
    (tmp_path / "loader" / "load.py").write_text("")
    with pytest.raises(pulumi.RunError, match=r"handler\.py not found.*handler\.handler"):
        package(tmp_path)


# --------------------------------------------------------------------------------------------
# the trigger
# --------------------------------------------------------------------------------------------


def test_s3_permission_names_bucket_and_account(prod_program):
    permission = one_child(prod_program, PERMISSION)
    assert permission.inputs["principal"] == "s3.amazonaws.com", permission.urn
    assert permission.inputs["action"] == "lambda:InvokeFunction", permission.urn
    assert permission.inputs["sourceArn"] == f"arn:aws:s3:::{SOURCE_BUCKET}", permission.urn
    assert permission.inputs["sourceAccount"] == ACCOUNT, permission.urn
    assert permission.inputs["function"] == one_child(prod_program, FUNCTION).outputs["name"], permission.urn


def test_s3_notification_filters_the_key_and_waits_for_the_permission(prod_program):
    notification = one_child(prod_program, NOTIFICATION)
    function = one_child(prod_program, FUNCTION)
    assert notification.inputs["bucket"] == SOURCE_BUCKET, notification.urn
    assert notification.inputs["lambdaFunctions"] == [
        {
            "lambdaFunctionArn": function.outputs["arn"],
            "events": ["s3:ObjectCreated:*"],
            "filterPrefix": "exports/employees.csv",
            "filterSuffix": "exports/employees.csv",
        }
    ], notification.urn
    assert depends_on(notification, one_child(prod_program, PERMISSION)), (
        f"{notification.urn} must be created after the invoke permission"
    )
    assert not loader_children(prod_program, RULE), "s3 mode declares no EventBridge rule"


def test_s3_notification_in_prefix_mode(program_with):
    notification = one_child(program_with(prefix_mode), NOTIFICATION)
    (target,) = notification.inputs["lambdaFunctions"]
    assert (target["filterPrefix"], target["filterSuffix"]) == ("incoming/", ".csv"), notification.urn


def test_s3_notification_filters_are_url_encoded_as_s3_matches_them(program_with):
    def hive_style_prefix(config):
        source = config["data-api:source"]
        source.pop("key")
        source.update(prefix="daily exports/dt=2026/", suffix="+v1.csv")

    notification = one_child(program_with(hive_style_prefix), NOTIFICATION)
    (target,) = notification.inputs["lambdaFunctions"]
    assert (target["filterPrefix"], target["filterSuffix"]) == ("daily+exports/dt%3D2026/", "%2Bv1.csv"), (
        notification.urn
    )


def eventbridge_mode(config):
    config["data-api:source"]["notifications"] = "eventbridge"


def test_eventbridge_mode_creates_only_a_rule_on_a_shared_bucket(program_with):
    program = program_with(eventbridge_mode)
    assert not loader_children(program, NOTIFICATION), "a shared bucket's notifications are left alone"
    rule = one_child(program, RULE)
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [SOURCE_BUCKET]}, "object": {"key": ["exports/employees.csv"]}},
    }, rule.urn
    function = one_child(program, FUNCTION)
    permission = one_child(program, PERMISSION)
    assert permission.inputs["principal"] == "events.amazonaws.com", permission.urn
    assert permission.inputs["sourceArn"] == rule.outputs["arn"], permission.urn
    target = one_child(program, TARGET)
    assert target.inputs["rule"] == rule.outputs["name"], target.urn
    assert target.inputs["arn"] == function.outputs["arn"], target.urn
    assert depends_on(target, permission), f"{target.urn} must be created after {permission.urn}"


def test_eventbridge_prefix_mode_matches_prefix_and_suffix(program_with):
    def edit(config):
        eventbridge_mode(config)
        prefix_mode(config)
        config["data-api:source"]["prefix"] = "in*coming/"

    rule = one_child(program_with(edit), RULE)
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail"]["object"]["key"] == [{"wildcard": "in\\*coming/*.csv"}], rule.urn


def test_eventbridge_mode_on_a_created_bucket_turns_delivery_on(program_with):
    program = program_with(eventbridge_mode, base="dev", stack="dev")
    notification = one_child(program, NOTIFICATION)
    source = one_child(program, BUCKET, "loader-source")
    assert notification.inputs["eventbridge"] is True, notification.urn
    assert notification.inputs["bucket"] == source.outputs["bucket"], notification.urn
    assert "lambdaFunctions" not in notification.inputs, notification.urn
    rule = one_child(program, RULE)
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail"]["bucket"]["name"] == [source.outputs["bucket"]], rule.urn


# --------------------------------------------------------------------------------------------
# buckets and the writer role
# --------------------------------------------------------------------------------------------


def created_bucket(program: Program, bucket_name: str):
    owner = PUBLISH_BUCKET if bucket_name == "loader-publish" else LOADER
    found = [r for r in program.children_of(owner) if r.type == BUCKET and r.name == bucket_name]
    assert len(found) == 1, f"expected one bucket {bucket_name!r} under {owner}, found {len(found)}"
    return found[0]


def bucket_settings(program: Program, bucket_name: str) -> dict[str, object]:
    bucket = created_bucket(program, bucket_name)
    settings = {}
    for resource in [*program.children_of(LOADER), *program.children_of(PUBLISH_BUCKET)]:
        if resource.name.startswith(f"{bucket_name}-") and resource.inputs.get("bucket") == bucket.outputs["bucket"]:
            settings[resource.type.split(":")[-1]] = resource
    return settings


@pytest.mark.parametrize("bucket_name,version_days", [("loader-source", 30), ("loader-publish", 30)])
def test_created_buckets_are_private_versioned_encrypted_and_tls_only(dev_program, bucket_name, version_days):
    bucket = created_bucket(dev_program, bucket_name)
    settings = bucket_settings(dev_program, bucket_name)
    assert set(settings) == {
        "BucketVersioning", "BucketServerSideEncryptionConfiguration", "BucketPublicAccessBlock",
        "BucketLifecycleConfiguration", "BucketPolicy",
    }, f"{bucket.urn}: {sorted(settings)}"
    assert settings["BucketVersioning"].inputs["versioningConfiguration"] == {"status": "Enabled"}, bucket.urn
    sse = settings["BucketServerSideEncryptionConfiguration"].inputs["rules"]
    assert sse == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}], bucket.urn
    block = settings["BucketPublicAccessBlock"].inputs
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block[flag] is True, f"{bucket.urn}: {flag}"
    (rule,) = settings["BucketLifecycleConfiguration"].inputs["rules"]
    assert rule["status"] == "Enabled", bucket.urn
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": version_days}, bucket.urn
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}, bucket.urn
    policy = policy_document(settings["BucketPolicy"].inputs["policy"])
    arn = bucket.outputs["arn"]
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ], bucket.urn


def test_noncurrent_versions_of_the_source_follow_config(program_with):
    def edit(config):
        config["data-api:source"]["noncurrentVersionDays"] = 90

    program = program_with(edit, base="dev", stack="dev")
    settings = bucket_settings(program, "loader-source")
    (rule,) = settings["BucketLifecycleConfiguration"].inputs["rules"]
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 90}, settings["BucketLifecycleConfiguration"].urn


def test_writer_role_may_only_put_the_source_object(dev_program):
    source = one_child(dev_program, BUCKET, "loader-source")
    writer = one_child(dev_program, ROLE, "loader-writer")
    trust = policy_document(writer.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ], writer.urn
    policy = one_child(dev_program, ROLE_POLICY, "loader-writer-policy")
    assert policy.inputs["role"] == writer.outputs["name"], policy.urn
    pairs = statement_pairs(policy.inputs["policy"])
    assert pairs == {("s3:PutObject", f"{source.outputs['arn']}/employees.csv")}, policy.urn
    assert dev_program.exports["sourceWriterRoleArn"] == writer.outputs["arn"]


def test_existing_bucket_gets_no_bucket_settings_and_no_writer(prod_program):
    assert [r.name for r in loader_children(prod_program, BUCKET)] == []
    assert [r.name for r in prod_program.children_of(PUBLISH_BUCKET) if r.type == BUCKET] == ["loader-publish"]
    assert [r.name for r in loader_children(prod_program, ROLE)] == ["loader-role"]
    assert "sourceWriterRoleArn" not in prod_program.exports


def test_configured_publish_bucket_is_used_not_created(program_with):
    program = program_with(lambda c: c.update({"data-api:publish": {"bucket": "acme-published", "prefix": "v1/"}}))
    assert not loader_children(program, BUCKET), "an existing publish bucket is not declared"
    assert not program.children_of(PUBLISH_BUCKET), "an existing publish bucket gets no settings either"
    policy = loader_policy(program)
    pairs = statement_pairs(policy.inputs["policy"])
    assert ("s3:PutObject", "arn:aws:s3:::acme-published/v1/index.json") in pairs, policy.urn
    assert ("s3:PutObject", "arn:aws:s3:::acme-published/v1/snapshot.json") in pairs, policy.urn
    assert ("s3:GetObject", "arn:aws:s3:::acme-published/v1/_loader/manifest.json") in pairs, policy.urn
    assert program.exports["publishBucketName"] == "acme-published"


# --------------------------------------------------------------------------------------------
# failure handling
# --------------------------------------------------------------------------------------------


def test_failed_events_go_to_an_encrypted_queue_after_bounded_retries(prod_program):
    queue = one_child(prod_program, QUEUE)
    assert queue.inputs["sqsManagedSseEnabled"] is True, queue.urn
    config = one_child(prod_program, INVOKE_CONFIG)
    function = one_child(prod_program, FUNCTION)
    assert config.inputs["functionName"] == function.outputs["name"], config.urn
    assert config.inputs["maximumRetryAttempts"] == 2, config.urn
    assert config.inputs["destinationConfig"] == {"onFailure": {"destination": queue.outputs["arn"]}}, config.urn
    age = config.inputs["maximumEventAgeInSeconds"]
    longest_load = function.inputs["timeout"] * (1 + config.inputs["maximumRetryAttempts"])
    assert 10 * longest_load <= age <= 21600, f"{config.urn}: event age {age}s vs loads of {longest_load}s"
    assert depends_on(config, loader_policy(prod_program)), f"{config.urn} needs the SendMessage grant first"


# --------------------------------------------------------------------------------------------
# alarms
# --------------------------------------------------------------------------------------------


def loader_alarm(program: Program, suffix: str):
    return one_child(program, ALARM, f"loader-{suffix}-alarm")


def test_failed_alarm_watches_errors_and_load_failed_as_one(prod_program):
    alarm = loader_alarm(prod_program, "failed")
    function = one_child(prod_program, FUNCTION)
    service = function.inputs["environment"]["variables"]["METRICS_SERVICE"]
    queries = {q["id"]: q for q in alarm.inputs["metricQueries"]}
    assert queries["errors"]["metric"] == {
        "namespace": "AWS/Lambda", "metricName": "Errors",
        "dimensions": {"FunctionName": function.outputs["name"]}, "period": 300, "stat": "Sum",
    }, alarm.urn
    assert queries["failed"]["metric"] == {
        "namespace": "DataApi", "metricName": "LoadFailed",
        "dimensions": {"Service": service}, "period": 300, "stat": "Sum",
    }, alarm.urn
    returned = [q for q in queries.values() if q.get("returnData")]
    assert [q["id"] for q in returned] == ["failures"], alarm.urn
    assert "errors" in returned[0]["expression"] and "failed" in returned[0]["expression"], alarm.urn
    assert alarm.inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold", alarm.urn
    assert alarm.inputs["threshold"] == 1, alarm.urn
    assert alarm.inputs["evaluationPeriods"] == 1, alarm.urn
    assert alarm.inputs["treatMissingData"] == "notBreaching", alarm.urn


@pytest.mark.parametrize("stack,hours", [("prod", 26), ("dev", 168)])
def test_stale_alarm_covers_the_freshness_window(prod_program, dev_program, stack, hours):
    program = {"prod": prod_program, "dev": dev_program}[stack]
    alarm = loader_alarm(program, "stale")
    service = one_child(program, FUNCTION).inputs["environment"]["variables"]["METRICS_SERVICE"]
    inputs = alarm.inputs
    assert (inputs["namespace"], inputs["metricName"], inputs["statistic"]) == ("DataApi", "LoadSucceeded", "Sum"), (
        alarm.urn
    )
    assert inputs["dimensions"] == {"Service": service}, alarm.urn
    window = inputs["period"] * inputs["evaluationPeriods"]
    assert window == hours * 3600, f"{alarm.urn}: watches {window}s, not {hours}h"
    assert inputs["datapointsToAlarm"] == inputs["evaluationPeriods"], f"{alarm.urn}: every period must be empty"
    # CloudWatch evaluates at most 7 days, and at most 1 day for periods under an hour.
    assert window <= (604800 if inputs["period"] >= 3600 else 86400), alarm.urn
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("LessThanThreshold", 1), alarm.urn
    assert inputs["treatMissingData"] == "breaching", alarm.urn


def test_freshness_beyond_what_cloudwatch_evaluates_is_refused(program_with):
    with pytest.raises(pulumi.RunError, match=r"alerts\.freshnessHours: 169 .* 1 to 168"):
        program_with(lambda c: c["data-api:alerts"].update(freshnessHours=169))


def test_queue_alarm_fires_on_any_visible_message(prod_program):
    alarm = loader_alarm(prod_program, "failure-queue")
    queue = one_child(prod_program, QUEUE)
    inputs = alarm.inputs
    assert (inputs["namespace"], inputs["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible"), alarm.urn
    assert inputs["dimensions"] == {"QueueName": queue.outputs["name"]}, alarm.urn
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("GreaterThanThreshold", 0), alarm.urn
    assert inputs["treatMissingData"] == "notBreaching", alarm.urn


def test_child_alarms_have_no_actions(prod_program):
    alarms = loader_children(prod_program, ALARM)
    assert len(alarms) == 3, [a.urn for a in alarms]
    for alarm in alarms:
        for key in ("alarmActions", "okActions", "insufficientDataActions"):
            assert not alarm.inputs.get(key), f"{alarm.urn}: {key} {alarm.inputs.get(key)}"


# --------------------------------------------------------------------------------------------
# outputs and structure
# --------------------------------------------------------------------------------------------


def test_outputs_are_exported(prod_program):
    function = one_child(prod_program, FUNCTION)
    queue = one_child(prod_program, QUEUE)
    assert prod_program.exports["loaderFunctionName"] == function.outputs["name"]
    assert prod_program.exports["loaderFunctionArn"] == function.outputs["arn"]
    assert prod_program.exports["failureQueueUrl"] == queue.outputs["url"]
    assert prod_program.exports["publishBucketName"] == publish_bucket_name(prod_program)
    assert prod_program.exports["sourceBucketName"] == SOURCE_BUCKET


def test_every_loader_resource_is_a_child_of_the_component(prod_program):
    loader = prod_program.one(LOADER)
    for resource in prod_program.resources:
        if resource.name.startswith("loader-") and not resource.name.startswith("loader-publish"):
            assert resource.parent == loader.urn, f"{resource.urn} is not parented to {loader.urn}"


def test_the_gateway_reads_the_publish_bucket_and_nothing_of_the_loader(prod_program):
    # Registration order under the engine is asynchronous; what must hold is the dependency shape.
    gateway, loader = prod_program.one("data-api:index:Gateway"), prod_program.one(LOADER)
    publish = prod_program.one(PUBLISH_BUCKET)
    parent_of = {r.urn: r.parent for r in prod_program.resources}
    children = [r for r in prod_program.resources if r.parent == gateway.urn]
    needed = {parent_of.get(dep) for r in children for dep in r.dependencies}
    assert publish.urn in needed, f"{gateway.urn}: reads nothing of {publish.urn}"
    assert loader.urn not in needed, f"{gateway.urn}: depends on {loader.urn}"


def test_moved_publish_bucket_resources_keep_their_urns_under_the_loader(dev_program):
    # They were children of the Loader: each alias names the URN they had there, so `pulumi up`
    # moves them instead of replacing the bucket (and every object published in it).
    loader = dev_program.one(LOADER)
    component = dev_program.one(PUBLISH_BUCKET)
    moved = dev_program.children_of(PUBLISH_BUCKET)
    assert {r.name for r in moved} == {
        "loader-publish", "loader-publish-versioning", "loader-publish-encryption",
        "loader-publish-public-access", "loader-publish-lifecycle", "loader-publish-policy",
    }, [r.urn for r in moved]
    # The Loader they were children of stood at the top of the stack then (it is the DataApi's now;
    # tests/product/test_aliases.py follows every URN through both moves).
    engine_loader_urn = "urn:pulumi:dev::data-api::data-api:index:Loader::loader"
    assert loader.urn.endswith("data-api:index:DataApi$data-api:index:Loader::loader"), loader.urn
    for resource in moved:
        assert resource.parent == component.urn, resource.urn
        parents = [alias["spec"].get("parentUrn") for alias in resource.aliases if "spec" in alias
                   and not alias["spec"].get("name") and not alias["spec"].get("type")]
        assert parents == [engine_loader_urn], f"{resource.urn}: aliases {resource.aliases}"


def test_source_bucket_resources_stay_where_they_were(dev_program):
    source = [r for r in dev_program.children_of(LOADER) if r.name.startswith("loader-source")]
    assert len(source) == 6, [r.urn for r in source]
    for resource in source:
        assert [a for a in resource.aliases if a.get("spec", {}).get("parentUrn")] == [], resource.urn

