"""data-api: a CSV dropped into S3 becomes a metered JSON API."""

import pulumi

from components.alerts import Alerts, AlertsArgs
from components.config import load_config
from components.dashboard import Dashboard, DashboardArgs
from components.domain import ApiDomain, DomainArgs
from components.gateway import Gateway, GatewayArgs
from components.loader import LOADER_TYPE, ApiCache, Loader, LoaderArgs, PublishBucket, PublishBucketArgs, component_urn
from components.table import DataTable, TableArgs

config = load_config()

table = DataTable("data", TableArgs(config=config.table))

# The gateway serves what the loader publishes, and the loader flushes the gateway's cache: the
# bucket comes first, so neither waits on the other. Its resources used to be the loader's.
published = PublishBucket(
    "loader-publish", PublishBucketArgs(publish=config.publish, moved_from=component_urn(LOADER_TYPE, "loader"))
)

gateway = Gateway(
    "api",
    GatewayArgs(
        config=config.api,
        partition_column=config.source.partition_column,
        customers=config.customers,
        internal_keys=config.internal_keys,
        publish=config.publish,
        table_name=table.name,
        table_arn=table.arn,
        table_kms_key_arn=table.kms_key_arn,
        publish_bucket_name=published.bucket_name,
        publish_bucket_arn=published.bucket_arn,
        item_column=config.source.item_column,
        items_field=config.source.items_field,
        column_types=config.source.column_types,
    ),
)

domain = None
if config.api.domain is not None:
    domain = ApiDomain(
        "api-domain",
        DomainArgs(config=config.api.domain, rest_api_id=gateway.rest_api_id, stage_name=gateway.stage_name),
    )

loader = Loader(
    "loader",
    LoaderArgs(
        source=config.source,
        publish=config.publish,
        loader=config.loader,
        collection=config.api.collection,
        freshness_hours=config.alerts.freshness_hours,
        table_name=table.name,
        table_arn=table.arn,
        publish_bucket_name=published.bucket_name,
        publish_bucket_arn=published.bucket_arn,
        table_kms_key_arn=table.kms_key_arn,
        api_cache=(
            ApiCache(rest_api_id=gateway.rest_api_id, stage_name=config.api.stage_name)
            if config.api.cache is not None else None
        ),
    ),
)

alerts = Alerts("alerts", AlertsArgs(config=config.alerts, alarms=[*loader.alarms, *gateway.alarms]))

dashboard = None
if config.alerts.dashboard:
    dashboard = Dashboard(
        "operations",
        DashboardArgs(
            function_name=loader.metrics_service,
            failure_queue_name=loader.failure_queue_name,
            table_name=table.name,
            api_name=gateway.api_name,
            stage_name=gateway.stage_name,
            access_log_group=gateway.access_log_group_name,
            stale_alarm_arn=loader.stale_alarm.arn,
            alarm_arns=[*(alarm.arn for alarm in [*loader.alarms, *gateway.alarms]), alerts.alarm_arn],
            key_ids=gateway.key_ids,
            cached=config.api.cache is not None,
        ),
    )

pulumi.export("tableName", table.name)
pulumi.export("tableArn", table.arn)
pulumi.export("loaderFunctionName", loader.function_name)
pulumi.export("loaderFunctionArn", loader.function_arn)
pulumi.export("sourceBucketName", loader.source_bucket_name)
pulumi.export("publishBucketName", published.bucket_name)
pulumi.export("failureQueueUrl", loader.failure_queue_url)
if loader.writer_role_arn is not None:
    pulumi.export("sourceWriterRoleArn", loader.writer_role_arn)
pulumi.export("alertTopicArn", alerts.topic_arn)
pulumi.export("apiBaseUrl", gateway.base_url)
pulumi.export("apiRouteUrls", gateway.route_urls)
pulumi.export("usagePlanIds", gateway.usage_plan_ids)
pulumi.export("internalUsagePlanId", gateway.internal_usage_plan_id)
pulumi.export("openApiDocument", gateway.openapi_document)
pulumi.export("apiKeys", gateway.api_key_values)
pulumi.export("apiKeysById", gateway.api_keys_by_id)
pulumi.export("apiKeyIds", gateway.api_key_ids)
if domain is not None:
    pulumi.export("apiDomainName", domain.domain_name)
    if config.api.domain.hosted_zone_id is None:
        # Without a zone here, the operator points the name at this target in their own DNS.
        pulumi.export("apiDomainTargetName", domain.target_domain_name)
        pulumi.export("apiDomainTargetZoneId", domain.target_zone_id)
if dashboard is not None:
    pulumi.export("dashboardUrl", dashboard.url)
