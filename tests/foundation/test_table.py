"""The DataTable component: recovery, encryption, protection, billing and expiry."""

from __future__ import annotations

TABLE = "aws:dynamodb/table:Table"
TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def test_table_is_keyed_by_one_string_partition_key(prod_program):
    table = prod_program.one(TABLE)
    assert table.inputs["hashKey"] == "pk", table.urn
    assert table.inputs["attributes"] == [{"name": "pk", "type": "S"}], table.urn
    assert "rangeKey" not in table.inputs, table.urn


def test_point_in_time_recovery_is_on(prod_program, dev_program):
    for program in (prod_program, dev_program):
        table = program.one(TABLE)
        assert table.inputs["pointInTimeRecovery"] == {"enabled": True}, table.urn


def test_default_encryption_is_the_aws_owned_key(prod_program):
    table = prod_program.one(TABLE)
    # Unset means DynamoDB's AWS-owned key; `enabled: true` alone would mean KMS charges.
    assert "serverSideEncryption" not in table.inputs, table.urn


def test_customer_managed_key_is_used_when_configured(program_with):
    program = program_with(lambda c: c["data-api:table"].update(kmsKeyArn=KEY_ARN))
    table = program.one(TABLE)
    assert table.inputs["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": KEY_ARN}, table.urn


def test_deletion_protection_follows_config(program_with):
    program = program_with(lambda c: c["data-api:table"].update(deletionProtection=False))
    table = program.one(TABLE)
    assert table.inputs["deletionProtectionEnabled"] is False, table.urn


def test_ttl_attribute_is_enabled(prod_program):
    table = prod_program.one(TABLE)
    assert table.inputs["ttl"] == {"attributeName": "expiresAt", "enabled": True}, table.urn


def test_on_demand_by_default_without_autoscaling(prod_program):
    table = prod_program.one(TABLE)
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST", table.urn
    assert "readCapacity" not in table.inputs and "writeCapacity" not in table.inputs, table.urn
    assert prod_program.of_type(TARGET) == [] and prod_program.of_type(POLICY) == []


def test_provisioned_mode_autoscales_reads_and_writes(program_with):
    def provisioned(config):
        config["data-api:table"].update(
            billingMode="PROVISIONED", read={"min": 5, "max": 500}, write={"min": 2, "max": 100},
            targetUtilization=60,
        )

    program = program_with(provisioned)
    table = program.one(TABLE)
    assert table.inputs["billingMode"] == "PROVISIONED", table.urn
    assert (table.inputs["readCapacity"], table.inputs["writeCapacity"]) == (5, 2), table.urn
    assert set(table.ignore_changes) == {"readCapacity", "writeCapacity"}, table.urn

    targets = {t.inputs["scalableDimension"]: t for t in program.of_type(TARGET)}
    assert set(targets) == {"dynamodb:table:ReadCapacityUnits", "dynamodb:table:WriteCapacityUnits"}
    read, write = targets["dynamodb:table:ReadCapacityUnits"], targets["dynamodb:table:WriteCapacityUnits"]
    assert (read.inputs["minCapacity"], read.inputs["maxCapacity"]) == (5, 500), read.urn
    assert (write.inputs["minCapacity"], write.inputs["maxCapacity"]) == (2, 100), write.urn
    for target in (read, write):
        assert target.inputs["resourceId"] == f"table/{table.outputs['name']}", target.urn
        assert target.inputs["serviceNamespace"] == "dynamodb", target.urn

    policies = {p.inputs["scalableDimension"]: p for p in program.of_type(POLICY)}
    assert set(policies) == set(targets)
    for dimension, metric in (("dynamodb:table:ReadCapacityUnits", "DynamoDBReadCapacityUtilization"),
                              ("dynamodb:table:WriteCapacityUnits", "DynamoDBWriteCapacityUtilization")):
        policy = policies[dimension]
        assert policy.inputs["policyType"] == "TargetTrackingScaling", policy.urn
        tracking = policy.inputs["targetTrackingScalingPolicyConfiguration"]
        assert tracking["targetValue"] == 60.0, policy.urn
        assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == metric, policy.urn
