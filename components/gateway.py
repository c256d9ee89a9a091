"""The metered REST API: API Gateway serving DynamoDB items and the published S3 objects directly."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components import openapi
from components.config import ApiConfig, Customer, PublishConfig
from components.table import PARTITION_KEY

# Access log fields, one JSON object per request. messageString is already a quoted JSON string.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "sourceIp": "$context.identity.sourceIp",
        "apiKeyId": "$context.identity.apiKeyId",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "requestTime": "$context.requestTime",
        "errorMessage": "@MESSAGE_STRING@",
        "errorType": "$context.error.responseType",
    },
    separators=(",", ":"),
).replace('"@MESSAGE_STRING@"', "$context.error.messageString")
# What AWS's managed AmazonAPIGatewayPushToCloudWatchLogs policy grants (on "*"), scoped below.
LOG_GROUP_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams",
                     "logs:FilterLogEvents")
LOG_STREAM_ACTIONS = ("logs:PutLogEvents", "logs:GetLogEvents")
LOG_LIST_ACTIONS = ("logs:DescribeLogGroups",)
EXECUTION_LOG_PREFIX = "API-Gateway-Execution-Logs_"
METRIC_PERIOD_SECONDS = 300

# Marks the limit-free internal usage plan, so policy checks can tell it from a customer's.
INTERNAL_PLAN_TAG = "data-api:plan"
INTERNAL_PLAN_VALUE = "internal"


@dataclass(frozen=True)
class GatewayArgs:
    """What the gateway component needs."""

    config: ApiConfig
    """Routes, endpoint, stage, throttling, logging and alarm thresholds."""
    partition_column: str
    """The path parameter of the item route (the CSV's partition column)."""
    customers: Sequence[Customer]
    """Paying subscribers: one key and one usage plan each."""
    internal_keys: Sequence[str]
    """Names of unlimited internal keys, sharing one plan."""
    publish: PublishConfig
    """Where index.json and snapshot.json live inside the publish bucket."""
    table_name: pulumi.Input[str]
    """The DynamoDB table serving one document per key."""
    table_arn: pulumi.Input[str]
    """Its ARN, for the role's GetItem grant."""
    table_kms_key_arn: str | None
    """The table's customer-managed key, if any (the role then needs kms:Decrypt on it)."""
    publish_bucket_name: pulumi.Input[str]
    """The bucket the loader publishes to."""
    publish_bucket_arn: pulumi.Input[str]
    """Its ARN, for the role's GetObject grant on the two public objects and its ListBucket grant."""
    item_column: str = "employee"
    """The CSV column keying each row inside a document (the documented schema names it)."""
    items_field: str = "employees"
    """The name of the map of rows inside each document."""
    column_types: Mapping[str, str] = field(default_factory=dict)
    """Declared column types, typed in the documented schema; the other columns are strings."""


def assume_role_policy() -> dict[str, Any]:
    """Trust API Gateway, with no source conditions (it does not always send aws:SourceAccount)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
    }


def integration_policy(table_arn: str, bucket_arn: str, object_arns: Sequence[str], table_key_arn: str | None,
                       publish_key_arn: str | None, region: str) -> dict[str, Any]:
    """The integrations' role: read one item, and the published objects. Nothing else."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadItems", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table_arn},
        {"Sid": "ReadPublished", "Effect": "Allow", "Action": "s3:GetObject", "Resource": list(object_arns)},
        # S3 answers a missing object with 404 only to a caller that may list the bucket, and with
        # 403 otherwise, which would make every denial look like "nothing published yet". No
        # condition narrows it: none is documented to apply to that check, and the role is used
        # only by the integrations, whose URIs name the two objects.
        {"Sid": "TellMissingFromDenied", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
    ]
    if table_key_arn:
        statements.append({
            "Sid": "DecryptTable",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": table_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
        })
    if publish_key_arn:
        # Without it a publish bucket under a customer-managed key would deny every read.
        statements.append({
            "Sid": "DecryptPublished",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": publish_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        })
    return {"Version": "2012-10-17", "Statement": statements}


def account_log_policy(partition: str, region: str, account: str, access_log_prefix: str) -> dict[str, Any]:
    """The account-wide logging role: AmazonAPIGatewayPushToCloudWatchLogs, scoped to API Gateway's groups.

    Execution logs go to groups API Gateway names itself (API-Gateway-Execution-Logs_*); access logs
    to the groups of this project's stacks, all under one prefix, since every stack in the account
    and region logs through this one role. DescribeLogGroups lists a whole account and region, so
    IAM authorises it only against every log group there.
    """
    groups = f"arn:{partition}:logs:{region}:{account}:log-group"
    log_groups = [f"{groups}:{EXECUTION_LOG_PREFIX}*", f"{groups}:{access_log_prefix}*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "LogGroups", "Effect": "Allow", "Action": list(LOG_GROUP_ACTIONS), "Resource": log_groups},
            {"Sid": "LogStreams", "Effect": "Allow", "Action": list(LOG_STREAM_ACTIONS),
             "Resource": [f"{group}:log-stream:*" for group in log_groups]},
            {"Sid": "ListLogGroups", "Effect": "Allow", "Action": list(LOG_LIST_ACTIONS),
             "Resource": f"{groups}:*"},
        ],
    }


def _named_map(values: dict[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    """A map of outputs as one output (an empty map stays a map, not a list)."""
    return pulumi.Output.all(**values) if values else pulumi.Output.from_input({})


class Gateway(pulumi.ComponentResource):
    """The REST API, its stage, keys, usage plans, role, logs and alarms."""

    rest_api_id: pulumi.Output[str]
    base_url: pulumi.Output[str]
    route_urls: pulumi.Output[dict[str, str]]
    usage_plan_ids: pulumi.Output[dict[str, str]]
    internal_usage_plan_id: pulumi.Output[str]
    openapi_document: pulumi.Output[dict[str, Any]]
    api_key_values: pulumi.Output[dict[str, str]]
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        config = args.config
        # Named after the stack: alarms find the API by name, and two stacks never share one.
        api_name = f"{pulumi.get_project()}-{pulumi.get_stack()}"
        shape = openapi.ApiShape(title=api_name, collection=config.collection,
                                 partition_column=args.partition_column, stage_name=config.stage_name,
                                 item_column=args.item_column, items_field=args.items_field,
                                 column_types=dict(args.column_types))
        super().__init__("data-api:index:Gateway", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region
        partition = aws.get_partition_output(opts=invoke).partition

        # ---- the integrations' role ---------------------------------------------------------
        role = aws.iam.Role(
            f"{name}-role",
            description="API Gateway reads one item from the table and the published index and snapshot.",
            assume_role_policy=json.dumps(assume_role_policy()),
            opts=child,
        )
        # index.json and snapshot.json by name; documents too large for an item and the snapshot's
        # parts are named by a key or a load only at run time: the objects under their two prefixes.
        object_arns = [pulumi.Output.concat(args.publish_bucket_arn, "/", key)
                       for key in (args.publish.index_key, args.publish.snapshot_key,
                                   f"{args.publish.documents_prefix}*", f"{args.publish.parts_prefix}*")]
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.all(args.table_arn, args.publish_bucket_arn, object_arns, region).apply(
                lambda v: json.dumps(integration_policy(v[0], v[1], v[2], args.table_kms_key_arn,
                                                        args.publish.kms_key_arn, v[3]))
            ),
            opts=child,
        )

        # ---- the API, from one OpenAPI document ---------------------------------------------
        document = pulumi.Output.all(partition, region, args.table_name, args.publish_bucket_name,
                                     role.arn).apply(
            lambda v: openapi.document(shape, openapi.Backend(
                partition=v[0], region=v[1], table_name=v[2], partition_key=PARTITION_KEY,
                bucket_name=v[3], index_key=args.publish.index_key,
                snapshot_key=args.publish.snapshot_key, documents_prefix=args.publish.documents_prefix,
                parts_prefix=args.publish.parts_prefix, credentials_role_arn=v[4],
            ))
        )
        rest_api = aws.apigateway.RestApi(
            f"{name}-rest-api",
            name=api_name,
            description=f"Read-only, key-metered JSON API over the published {config.collection}.",
            body=document.apply(openapi.canonical_json),
            api_key_source="HEADER",
            endpoint_configuration={"types": config.endpoint_type},
            opts=child,
        )
        # Any change to the document (a template, a route, a response) makes a new deployment;
        # Pulumi creates it before deleting the old one, so the stage always points at one.
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=rest_api.id,
            description="The REST API as its OpenAPI document defines it.",
            triggers={"openapi": document.apply(openapi.document_hash)},
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["triggers"],
                                        depends_on=[role_policy]),
        )

        # ---- logging ------------------------------------------------------------------------
        stage_dependencies: list[pulumi.Resource] = []
        access_log_prefix = f"/aws/apigateway/{pulumi.get_project()}/"
        if config.manage_account_log_role:
            stage_dependencies.append(self._account_log_role(name, partition, region, account, access_log_prefix))
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"{access_log_prefix}{pulumi.get_stack()}/access",
            retention_in_days=config.log_retention_days,
            opts=child,
        )
        # API Gateway would create this group itself on first use, with logs kept forever.
        execution_logs = aws.cloudwatch.LogGroup(
            f"{name}-execution-logs",
            name=rest_api.id.apply(lambda api_id: f"{EXECUTION_LOG_PREFIX}{api_id}/{config.stage_name}"),
            retention_in_days=config.log_retention_days,
            opts=child,
        )

        # ---- stage --------------------------------------------------------------------------
        stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=rest_api.id,
            deployment=deployment.id,
            stage_name=config.stage_name,
            xray_tracing_enabled=config.tracing,
            access_log_settings={"destination_arn": access_logs.arn, "format": ACCESS_LOG_FORMAT},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[execution_logs, *stage_dependencies]),
        )
        aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=rest_api.id,
            stage_name=stage.stage_name,
            method_path="*/*",
            settings={
                "metrics_enabled": True,
                "logging_level": "ERROR",
                "data_trace_enabled": False,
                "throttling_rate_limit": config.throttle.rate_limit,
                "throttling_burst_limit": config.throttle.burst_limit,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[execution_logs, *stage_dependencies]),
        )

        # ---- keys and usage plans -----------------------------------------------------------
        # Every logical name derives from the customer's name alone, so reordering the list,
        # editing limits, or disabling and enabling a customer never replaces its key.
        api_stage = [{"api_id": rest_api.id, "stage": stage.stage_name}]
        plan_opts = pulumi.ResourceOptions(parent=self, depends_on=[stage])
        # A key belongs to one plan per stage: a moved key must leave its old plan first.
        attach_opts = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        key_values: dict[str, pulumi.Output[str]] = {}
        usage_plan_ids: dict[str, pulumi.Output[str]] = {}
        for customer in args.customers:
            plan = aws.apigateway.UsagePlan(
                f"{name}-plan-{customer.name}",
                name=f"{api_name}-{customer.name}",
                description=f"Customer {customer.name}.",
                api_stages=api_stage,
                quota_settings={
                    "limit": customer.quota.limit,
                    "period": customer.quota.period,
                    "offset": customer.quota.offset,
                },
                throttle_settings={
                    "rate_limit": customer.throttle.rate_limit,
                    "burst_limit": customer.throttle.burst_limit,
                },
                opts=plan_opts,
            )
            key = self._api_key(name, api_name, customer.name, customer.enabled, f"Customer {customer.name}.")
            aws.apigateway.UsagePlanKey(
                f"{name}-plan-key-{customer.name}",
                key_id=key.id,
                key_type="API_KEY",
                usage_plan_id=plan.id,
                opts=attach_opts,
            )
            usage_plan_ids[customer.name] = plan.id
            key_values[customer.name] = key.value

        internal_plan = aws.apigateway.UsagePlan(
            f"{name}-internal-plan",
            name=f"{api_name}-internal",
            description="Internal keys: no throttle or quota beyond the stage's.",
            api_stages=api_stage,
            # The policy pack's one named exception to "every plan has a throttle and a quota".
            tags={INTERNAL_PLAN_TAG: INTERNAL_PLAN_VALUE},
            opts=plan_opts,
        )
        for key_name in args.internal_keys:
            key = self._api_key(name, api_name, key_name, True, f"Internal key {key_name}.")
            aws.apigateway.UsagePlanKey(
                f"{name}-plan-key-{key_name}",
                key_id=key.id,
                key_type="API_KEY",
                usage_plan_id=internal_plan.id,
                opts=attach_opts,
            )
            key_values[key_name] = key.value

        # ---- alarms (no actions: the alerts component watches them) ------------------------
        dimensions = {"ApiName": rest_api.name, "Stage": stage.stage_name}
        self.alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-5xx-alarm",
                alarm_description=f"{api_name}: more than {config.error_rate:.1%} of requests answered 5XX.",
                namespace="AWS/ApiGateway",
                metric_name="5XXError",
                dimensions=dimensions,
                statistic="Average",
                period=METRIC_PERIOD_SECONDS,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                threshold=config.error_rate,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                opts=child,
            ),
            aws.cloudwatch.MetricAlarm(
                f"{name}-latency-alarm",
                alarm_description=f"{api_name}: p99 latency above {config.latency_p99_ms} ms.",
                namespace="AWS/ApiGateway",
                metric_name="Latency",
                dimensions=dimensions,
                extended_statistic="p99",
                period=METRIC_PERIOD_SECONDS,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                threshold=config.latency_p99_ms,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                opts=child,
            ),
        ]

        self.rest_api_id = rest_api.id
        self.base_url = stage.invoke_url
        self.route_urls = stage.invoke_url.apply(lambda url: {
            "item": f"{url}{shape.item_path}",
            "collection": f"{url}{shape.collection_path}",
            "snapshot": f"{url}{shape.snapshot_path}",
            "snapshotPart": f"{url}{shape.parts_path}",
        })
        self.usage_plan_ids = _named_map(usage_plan_ids)
        self.internal_usage_plan_id = internal_plan.id
        self.openapi_document = stage.invoke_url.apply(lambda url: openapi.public_document(shape, url))
        self.api_key_values = pulumi.Output.secret(_named_map(key_values))
        self.register_outputs({
            "restApiId": self.rest_api_id,
            "baseUrl": self.base_url,
            "routeUrls": self.route_urls,
            "usagePlanIds": self.usage_plan_ids,
            "internalUsagePlanId": self.internal_usage_plan_id,
        })

    def _api_key(self, name: str, api_name: str, key_name: str, enabled: bool,
                 description: str) -> aws.apigateway.ApiKey:
        """One API key, named after the customer or internal key alone."""
        return aws.apigateway.ApiKey(
            f"{name}-key-{key_name}",
            name=f"{api_name}-{key_name}",
            description=description,
            enabled=enabled,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _account_log_role(self, name: str, partition: pulumi.Output[str], region: pulumi.Output[str],
                          account: pulumi.Output[str], access_log_prefix: str) -> aws.apigateway.Account:
        """The region's one CloudWatch role for API Gateway logging, which stage logging requires.

        Kept on delete: other APIs in the account and region log through it, and the provider
        would otherwise reset the account setting when this stack stops managing it.
        """
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        role = aws.iam.Role(
            f"{name}-cloudwatch-role",
            description="API Gateway (every API in this account and region) writes its logs.",
            assume_role_policy=json.dumps(assume_role_policy()),
            opts=kept,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-cloudwatch-policy",
            role=role.id,
            policy=pulumi.Output.all(partition, region, account).apply(
                lambda v: json.dumps(account_log_policy(v[0], v[1], v[2], access_log_prefix))
            ),
            opts=kept,
        )
        return aws.apigateway.Account(
            f"{name}-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, depends_on=[policy]),
        )
