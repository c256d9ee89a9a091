"""The metered REST API: API Gateway serving DynamoDB items and the published S3 objects directly."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from . import openapi
from .config import DEFAULT_KEY_ID, ApiConfig, Customer, CustomerKey, InternalKey, PublishConfig
from .naming import stack_prefix
from .table import PARTITION_KEY

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
# What AWS publishes for a stage (dimensions ApiName and Stage), as the alarms and dashboard read it.
API_NAMESPACE = "AWS/ApiGateway"
API_REQUESTS = "Count"
API_4XX = "4XXError"
API_5XX = "5XXError"
API_LATENCY = "Latency"
API_INTEGRATION_LATENCY = "IntegrationLatency"
API_CACHE_HITS = "CacheHitCount"
API_CACHE_MISSES = "CacheMissCount"
# A Cache-Control header from a caller without execute-api:InvalidateCache is ignored, not refused.
UNAUTHORIZED_CACHE_CONTROL = "SUCCEED_WITHOUT_RESPONSE_HEADER"

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
    """Paying subscribers: one usage plan each, with every key of the customer on it."""
    internal_keys: Sequence[InternalKey]
    """Unlimited internal keys, sharing one plan."""
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
    qualifier: str | None = None
    """The product's name, in the API's, plans', keys' and log group's names, when a stack has several."""


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


def public_base_url(config: ApiConfig, invoke_url: str) -> str:
    """The URL subscribers call: the custom domain's, whose base path is the stage, else execute-api's."""
    if config.domain is None:
        return invoke_url
    return openapi.domain_base_url(config.domain.name, config.stage_name)


def method_path(resource_path: str, verb: str) -> str:
    """A method's path as stage method settings name it (the resource path without its leading '/')."""
    return f"{resource_path.lstrip('/')}/{verb.upper()}"


def key_resource_name(prefix: str, owner: str, key_id: str = DEFAULT_KEY_ID) -> str:
    """A key resource's logical name: the default key keeps the name it has always had."""
    return f"{prefix}-{owner}" if key_id == DEFAULT_KEY_ID else f"{prefix}-{owner}.{key_id}"


def key_owner_label(owner: str, key_id: str = DEFAULT_KEY_ID) -> str:
    """How the dashboard names a key's holder: the owner, and the key's id unless it is the default."""
    return owner if key_id == DEFAULT_KEY_ID else f"{owner} ({key_id})"


def _named_map(values: dict[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    """A map of outputs as one output (an empty map stays a map, not a list)."""
    return pulumi.Output.all(**values) if values else pulumi.Output.from_input({})


class Gateway(pulumi.ComponentResource):
    """The REST API, its stage, keys, usage plans, role, logs and alarms."""

    rest_api_id: pulumi.Output[str]
    api_name: str
    stage_name: pulumi.Output[str]
    access_log_group_name: pulumi.Output[str]
    key_ids: dict[str, pulumi.Output[str]]
    base_url: pulumi.Output[str]
    route_urls: pulumi.Output[dict[str, str]]
    usage_plan_ids: pulumi.Output[dict[str, str]]
    internal_usage_plan_id: pulumi.Output[str]
    openapi_document: pulumi.Output[dict[str, Any]]
    api_key_values: pulumi.Output[dict[str, str]]
    api_keys_by_id: pulumi.Output[dict[str, dict[str, dict[str, Any]]]]
    api_key_ids: pulumi.Output[dict[str, dict[str, str]]]
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        config = args.config
        # Named after the stack (and the product): alarms find the API by name, and two never share one.
        api_name = stack_prefix(args.qualifier)
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
                cache_item=config.cache is not None,
            ))
        )
        rest_api = aws.apigateway.RestApi(
            f"{name}-rest-api",
            name=api_name,
            description=f"Read-only, key-metered JSON API over the published {config.collection}.",
            body=document.apply(openapi.canonical_json),
            api_key_source="HEADER",
            endpoint_configuration={"types": config.endpoint_type},
            disable_execute_api_endpoint=config.domain is not None and config.domain.disable_default_endpoint,
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
        stack_path = pulumi.get_stack() if args.qualifier is None else f"{pulumi.get_stack()}/{args.qualifier}"
        if config.manage_account_log_role:
            stage_dependencies.append(self._account_log_role(name, partition, region, account, access_log_prefix))
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"{access_log_prefix}{stack_path}/access",
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
            cache_cluster_enabled=config.cache is not None,
            cache_cluster_size=config.cache.size_gb if config.cache is not None else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[execution_logs, *stage_dependencies]),
        )
        stage_settings = {
            "metrics_enabled": True,
            "logging_level": "ERROR",
            "data_trace_enabled": False,
            "throttling_rate_limit": config.throttle.rate_limit,
            "throttling_burst_limit": config.throttle.burst_limit,
        }
        if config.cache is not None:
            # With a cache cluster, every other route stays uncached explicitly: the documents and
            # snapshot parts routes have no cache key, so a cached answer would serve every path.
            stage_settings["caching_enabled"] = False
        aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=rest_api.id,
            stage_name=stage.stage_name,
            method_path="*/*",
            settings=stage_settings,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[execution_logs, *stage_dependencies]),
        )
        if config.cache is not None:
            # Only the item route is cached; a method's own settings replace the stage's, so they
            # repeat them. Clients cannot skip or flush the cache: their Cache-Control is ignored.
            aws.apigateway.MethodSettings(
                f"{name}-item-cache-settings",
                rest_api=rest_api.id,
                stage_name=stage.stage_name,
                method_path=method_path(shape.item_path, "GET"),
                settings={
                    **stage_settings,
                    "caching_enabled": True,
                    "cache_ttl_in_seconds": config.cache.ttl_seconds,
                    "cache_data_encrypted": True,
                    "require_authorization_for_cache_control": True,
                    "unauthorized_cache_control_header_strategy": UNAUTHORIZED_CACHE_CONTROL,
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[execution_logs, *stage_dependencies]),
            )

        # ---- keys and usage plans -----------------------------------------------------------
        # Every logical name derives from the customer's name (and a key's id) alone, so reordering
        # the lists, editing limits, or disabling and enabling a customer never replaces its keys.
        api_stage = [{"api_id": rest_api.id, "stage": stage.stage_name}]
        plan_opts = pulumi.ResourceOptions(parent=self, depends_on=[stage])
        # A key belongs to one plan per stage: a moved key must leave its old plan first.
        attach_opts = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        key_values: dict[str, pulumi.Output[str]] = {}
        # Owner label -> API key id, for the dashboard's table of who holds which key.
        self.key_ids = {}
        keys_by_id: dict[str, dict[str, dict[str, Any]]] = {}
        key_ids: dict[str, dict[str, pulumi.Output[str]]] = {}
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
            usage_plan_ids[customer.name] = plan.id
            keys_by_id[customer.name], key_ids[customer.name] = {}, {}
            for customer_key in customer.keys:
                key = self._customer_key(name, api_name, customer, customer_key)
                aws.apigateway.UsagePlanKey(
                    key_resource_name(f"{name}-plan-key", customer.name, customer_key.id),
                    key_id=key.id,
                    key_type="API_KEY",
                    usage_plan_id=plan.id,
                    opts=attach_opts,
                )
                keys_by_id[customer.name][customer_key.id] = {
                    "value": key.value,
                    "enabled": customer.enabled and not customer_key.expired,
                    "expires": customer_key.expires.isoformat() if customer_key.expires else None,
                }
                key_ids[customer.name][customer_key.id] = key.id
                self.key_ids[key_owner_label(customer.name, customer_key.id)] = key.id
                if customer_key is customer.current_key:
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
        for internal_key in args.internal_keys:
            key_name = internal_key.name
            key = self._api_key(key_resource_name(f"{name}-key", key_name), f"{api_name}-{key_name}", True,
                                f"Internal key {key_name}.", internal_key.value)
            aws.apigateway.UsagePlanKey(
                key_resource_name(f"{name}-plan-key", key_name),
                key_id=key.id,
                key_type="API_KEY",
                usage_plan_id=internal_plan.id,
                opts=attach_opts,
            )
            key_values[key_name] = key.value
            keys_by_id[key_name] = {DEFAULT_KEY_ID: {"value": key.value, "enabled": True, "expires": None}}
            key_ids[key_name] = {DEFAULT_KEY_ID: key.id}
            self.key_ids[key_name] = key.id

        # ---- alarms (no actions: the alerts component watches them) ------------------------
        dimensions = {"ApiName": rest_api.name, "Stage": stage.stage_name}
        self.alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-5xx-alarm",
                alarm_description=f"{api_name}: more than {config.error_rate:.1%} of requests answered 5XX.",
                namespace=API_NAMESPACE,
                metric_name=API_5XX,
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
                namespace=API_NAMESPACE,
                metric_name=API_LATENCY,
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
        self.api_name = api_name
        self.stage_name = stage.stage_name
        self.access_log_group_name = access_logs.name
        self.base_url = stage.invoke_url.apply(lambda url: public_base_url(config, url))
        self.route_urls = self.base_url.apply(lambda url: {
            "item": f"{url}{shape.item_path}",
            "collection": f"{url}{shape.collection_path}",
            "snapshot": f"{url}{shape.snapshot_path}",
            "snapshotPart": f"{url}{shape.parts_path}",
        })
        self.usage_plan_ids = _named_map(usage_plan_ids)
        self.internal_usage_plan_id = internal_plan.id
        self.openapi_document = self.base_url.apply(lambda url: openapi.public_document(shape, url))
        self.api_key_values = pulumi.Output.secret(_named_map(key_values))
        self.api_keys_by_id = pulumi.Output.secret(pulumi.Output.from_input(keys_by_id))
        self.api_key_ids = pulumi.Output.from_input(key_ids)
        self.register_outputs({
            "restApiId": self.rest_api_id,
            "baseUrl": self.base_url,
            "routeUrls": self.route_urls,
            "usagePlanIds": self.usage_plan_ids,
            "internalUsagePlanId": self.internal_usage_plan_id,
        })

    def _customer_key(self, name: str, api_name: str, customer: Customer,
                      customer_key: CustomerKey) -> aws.apigateway.ApiKey:
        """One of a customer's keys: enabled while the customer is and the key has not expired."""
        if customer_key.id == DEFAULT_KEY_ID:
            aws_name, description = f"{api_name}-{customer.name}", f"Customer {customer.name}."
        else:
            aws_name = f"{api_name}-{customer.name}-{customer_key.id}"
            description = f"Customer {customer.name}, key {customer_key.id}."
        return self._api_key(key_resource_name(f"{name}-key", customer.name, customer_key.id), aws_name,
                             customer.enabled and not customer_key.expired, description, customer_key.value)

    def _api_key(self, logical_name: str, aws_name: str, enabled: bool, description: str,
                 value: str | None) -> aws.apigateway.ApiKey:
        """One API key; a migrated value goes in as a secret, otherwise API Gateway generates one."""
        migrated = {} if value is None else {"value": pulumi.Output.secret(value)}
        return aws.apigateway.ApiKey(
            logical_name,
            name=aws_name,
            description=description,
            enabled=enabled,
            **migrated,
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
