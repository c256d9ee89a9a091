"""Buckets under a customer-managed KMS key: the exact key grants of every role, and created buckets' encryption."""

from __future__ import annotations

import pytest

from components.config import ConfigError, parse_config

from harness import ROOT, Program, policy_document, stack_config, statement_pairs

REGION = "eu-west-1"
SOURCE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-0000-4000-8000-00000000aaaa"
PUBLISH_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-0000-4000-8000-00000000bbbb"
TABLE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-0000-4000-8000-00000000cccc"
VIA_S3 = {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
FUNCTION = "aws:lambda/function:Function"


def with_keys(source: bool = True, publish: bool = True, base: str = "prod"):
    def edit(config):
        if source:
            config["data-api:source"]["kmsKeyArn"] = SOURCE_KEY
        if publish:
            config.setdefault("data-api:publish", {})["kmsKeyArn"] = PUBLISH_KEY
    return edit


def key_statements(program: Program, policy_name: str) -> list[dict]:
    policy = program.one(ROLE_POLICY, policy_name)
    return [s for s in policy_document(policy.inputs["policy"])["Statement"]
            if any(str(a).startswith("kms:") for a in _list(s["Action"]))]


def kms_pairs(program: Program, policy_name: str) -> set[tuple[str, str]]:
    pairs = statement_pairs(program.one(ROLE_POLICY, policy_name).inputs["policy"])
    return {(action, resource) for action, resource in pairs if action.startswith("kms:")}


def _list(value):
    return value if isinstance(value, list) else [value]


# ---- config -----------------------------------------------------------------------------------


def raw_config(stack: str = "prod") -> dict:
    return {key.split(":", 1)[1]: value for key, value in stack_config(ROOT / f"Pulumi.{stack}.yaml").items()
            if key.startswith("data-api:")}


def test_both_keys_are_read_into_the_typed_config():
    raw = raw_config()
    raw["source"] = {**raw["source"], "kmsKeyArn": SOURCE_KEY}
    raw["publish"] = {**raw.get("publish", {}), "kmsKeyArn": PUBLISH_KEY}
    config = parse_config(raw, "Pulumi.prod.yaml")
    assert (config.source.kms_key_arn, config.publish.kms_key_arn) == (SOURCE_KEY, PUBLISH_KEY)
    plain = parse_config(raw_config(), "Pulumi.prod.yaml")
    assert (plain.source.kms_key_arn, plain.publish.kms_key_arn) == (None, None)


@pytest.mark.parametrize("section", ["source", "publish"])
@pytest.mark.parametrize("value", [
    "alias/data-api",
    "arn:aws:kms:eu-west-1:123456789012:alias/data-api",
    "1a2b3c4d-0000-4000-8000-00000000aaaa",
    "arn:aws:kms:eu-west-1:1234:key/1a2b3c4d-0000-4000-8000-00000000aaaa",
    "arn:aws:s3:::a-bucket",
])
def test_a_value_that_is_not_a_key_arn_is_refused_with_its_path(section, value):
    raw = raw_config()
    raw[section] = {**raw.get(section, {}), "kmsKeyArn": value}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "Pulumi.prod.yaml")
    assert f"{section}.kmsKeyArn: {value!r} is not allowed; use a key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID " \
           "(not an alias) (edit Pulumi.prod.yaml)" in str(caught.value), str(caught.value)


# ---- grants -----------------------------------------------------------------------------------


def test_without_keys_no_role_may_use_kms(prod_program, dev_program):
    for program in (prod_program, dev_program):
        for policy in program.of_type(ROLE_POLICY):
            assert not any(a.startswith("kms:") for a, _ in statement_pairs(policy.inputs["policy"])), policy.urn


def test_existing_buckets_under_keys_get_exactly_the_key_grants(program_with):
    program = program_with(with_keys())
    assert kms_pairs(program, "loader-policy") == {
        ("kms:Decrypt", SOURCE_KEY),
        ("kms:GenerateDataKey", PUBLISH_KEY),
        ("kms:Decrypt", PUBLISH_KEY),
    }
    assert kms_pairs(program, "api-role-policy") == {("kms:Decrypt", PUBLISH_KEY)}
    for name in ("loader-policy", "api-role-policy"):
        for statement in key_statements(program, name):
            assert statement["Condition"] == VIA_S3, f"{name} {statement.get('Sid')}: usable only through S3"


def test_only_the_configured_key_is_granted(program_with):
    source_only = program_with(with_keys(publish=False))
    assert kms_pairs(source_only, "loader-policy") == {("kms:Decrypt", SOURCE_KEY)}
    assert kms_pairs(source_only, "api-role-policy") == set()
    publish_only = program_with(with_keys(source=False))
    assert kms_pairs(publish_only, "loader-policy") == {("kms:GenerateDataKey", PUBLISH_KEY),
                                                        ("kms:Decrypt", PUBLISH_KEY)}
    assert kms_pairs(publish_only, "api-role-policy") == {("kms:Decrypt", PUBLISH_KEY)}


def test_bucket_keys_sit_beside_a_table_key_each_through_its_own_service(program_with):
    def edit(config):
        with_keys()(config)
        config["data-api:table"]["kmsKeyArn"] = TABLE_KEY

    program = program_with(edit)
    conditions = {(s["Sid"], s["Resource"]): s["Condition"]["StringEquals"]["kms:ViaService"]
                  for name in ("loader-policy", "api-role-policy") for s in key_statements(program, name)}
    assert {resource: service for (_, resource), service in conditions.items()} == {
        SOURCE_KEY: f"s3.{REGION}.amazonaws.com",
        PUBLISH_KEY: f"s3.{REGION}.amazonaws.com",
        TABLE_KEY: f"dynamodb.{REGION}.amazonaws.com",
    }, conditions


def test_the_loader_is_told_which_keys_are_configured(program_with, prod_program):
    env = program_with(with_keys()).one(FUNCTION).inputs["environment"]["variables"]
    assert (env["SOURCE_KMS_KEY_ARN"], env["PUBLISH_KMS_KEY_ARN"]) == (SOURCE_KEY, PUBLISH_KEY)
    plain = prod_program.one(FUNCTION).inputs["environment"]["variables"]
    assert "SOURCE_KMS_KEY_ARN" not in plain and "PUBLISH_KMS_KEY_ARN" not in plain


# ---- buckets the stack creates ----------------------------------------------------------------


def encryption_rules(program: Program, name: str) -> list[dict]:
    return program.one(ENCRYPTION, name).inputs["rules"]


def test_created_buckets_use_the_configured_key(program_with):
    program = program_with(with_keys(), base="dev")
    for name, key in (("loader-source-encryption", SOURCE_KEY), ("loader-publish-encryption", PUBLISH_KEY)):
        assert encryption_rules(program, name) == [{
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key},
            "bucketKeyEnabled": True,
        }], name


def test_created_buckets_without_a_key_use_sse_s3(dev_program):
    for name in ("loader-source-encryption", "loader-publish-encryption"):
        assert encryption_rules(dev_program, name) == [
            {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}], name


def test_the_producer_may_upload_into_a_created_source_bucket_under_its_key(program_with, dev_program):
    program = program_with(with_keys(publish=False), base="dev")
    source_bucket = program.one("aws:s3/bucket:Bucket", "loader-source").outputs["arn"]
    pairs = statement_pairs(program.one(ROLE_POLICY, "loader-writer-policy").inputs["policy"])
    assert pairs == {("s3:PutObject", f"{source_bucket}/employees.csv"),
                     ("kms:GenerateDataKey", SOURCE_KEY), ("kms:Decrypt", SOURCE_KEY)}, pairs
    for statement in key_statements(program, "loader-writer-policy"):
        assert statement["Condition"] == VIA_S3, statement
    assert kms_pairs(dev_program, "loader-writer-policy") == set()
