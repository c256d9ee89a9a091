"""data-api: a CSV dropped into S3 becomes a metered JSON API."""

import pulumi

from components.alerts import Alerts, AlertsArgs
from components.config import load_config
from components.gateway import Gateway, GatewayArgs
from components.loader import Loader, LoaderArgs
from components.table import DataTable, TableArgs

config = load_config()

table = DataTable("data", TableArgs(config=config.table))

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
        table_kms_key_arn=table.kms_key_arn,
    ),
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
        publish_bucket_name=loader.publish_bucket_name,
        publish_bucket_arn=loader.publish_bucket_arn,
        item_column=config.source.item_column,
        items_field=config.source.items_field,
        column_types=config.source.column_types,
    ),
)

alerts = Alerts("alerts", AlertsArgs(config=config.alerts, alarms=[*loader.alarms, *gateway.alarms]))

pulumi.export("tableName", table.name)
pulumi.export("tableArn", table.arn)
pulumi.export("loaderFunctionName", loader.function_name)
pulumi.export("loaderFunctionArn", loader.function_arn)
pulumi.export("sourceBucketName", loader.source_bucket_name)
pulumi.export("publishBucketName", loader.publish_bucket_name)
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
