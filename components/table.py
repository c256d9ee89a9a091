"""The DynamoDB table that serves one item per partition key."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .config import Capacity, TableConfig

# The loader and the gateway both address items by this attribute; bookkeeping items use the
# same key space under a reserved prefix.
PARTITION_KEY = "pk"
# Items with this epoch-seconds attribute expire (the loader's lease uses it).
TTL_ATTRIBUTE = "expiresAt"


@dataclass(frozen=True)
class TableArgs:
    """What the table component needs."""

    config: TableConfig
    """Billing, protection and encryption settings."""


class DataTable(pulumi.ComponentResource):
    """The DynamoDB table that serves one item per key."""

    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: TableArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("data-api:index:DataTable", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        provisioned = config.billing_mode == "PROVISIONED"

        table = aws.dynamodb.Table(
            f"{name}-table",
            hash_key=PARTITION_KEY,
            attributes=[{"name": PARTITION_KEY, "type": "S"}],
            billing_mode=config.billing_mode,
            read_capacity=config.read.min if provisioned and config.read else None,
            write_capacity=config.write.min if provisioned and config.write else None,
            point_in_time_recovery={"enabled": True},
            # Left unset, DynamoDB encrypts with its AWS-owned key at no cost; `enabled: true`
            # without a key ARN would switch to the AWS-managed KMS key and its charges.
            server_side_encryption=(
                {"enabled": True, "kms_key_arn": config.kms_key_arn} if config.kms_key_arn else None
            ),
            deletion_protection_enabled=config.deletion_protection,
            ttl={"attribute_name": TTL_ATTRIBUTE, "enabled": True},
            # Autoscaling owns the provisioned capacity once the table exists.
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["readCapacity", "writeCapacity"] if provisioned else None,
            ),
        )

        if provisioned and config.read and config.write:
            for direction, capacity in (("read", config.read), ("write", config.write)):
                self._autoscale(name, table, direction, capacity, config.target_utilization, child)

        self.name = table.name
        self.arn = table.arn
        self.kms_key_arn: str | None = config.kms_key_arn
        self.register_outputs({"name": self.name, "arn": self.arn})

    def _autoscale(
        self,
        name: str,
        table: aws.dynamodb.Table,
        direction: str,
        capacity: Capacity,
        target_utilization: int,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Target-tracking autoscaling of one direction of provisioned throughput."""
        unit = "ReadCapacityUnits" if direction == "read" else "WriteCapacityUnits"
        target = aws.appautoscaling.Target(
            f"{name}-{direction}-target",
            service_namespace="dynamodb",
            resource_id=table.name.apply(lambda table_name: f"table/{table_name}"),
            scalable_dimension=f"dynamodb:table:{unit}",
            min_capacity=capacity.min,
            max_capacity=capacity.max,
            opts=opts,
        )
        aws.appautoscaling.Policy(
            f"{name}-{direction}-policy",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration={
                "target_value": float(target_utilization),
                "predefined_metric_specification": {
                    "predefined_metric_type": f"DynamoDB{direction.capitalize()}CapacityUtilization",
                },
            },
            opts=opts,
        )
