"""data-api: a CSV dropped into S3 becomes a metered JSON API."""

import pulumi

from components.config import PROJECT
from components.data_api import DataApi, stack_args

# The stack's one product, named after the project: its parts keep the names, URNs and AWS names
# they had before the product was a component.
product = DataApi(PROJECT, stack_args())

pulumi.export("tableName", product.table_name)
pulumi.export("tableArn", product.table_arn)
pulumi.export("loaderFunctionName", product.loader_function_name)
pulumi.export("loaderFunctionArn", product.loader_function_arn)
pulumi.export("sourceBucketName", product.source_bucket_name)
pulumi.export("publishBucketName", product.publish_bucket_name)
pulumi.export("failureQueueUrl", product.failure_queue_url)
if product.source_writer_role_arn is not None:
    pulumi.export("sourceWriterRoleArn", product.source_writer_role_arn)
pulumi.export("alertTopicArn", product.alert_topic_arn)
pulumi.export("apiBaseUrl", product.api_base_url)
pulumi.export("apiRouteUrls", product.api_route_urls)
pulumi.export("usagePlanIds", product.usage_plan_ids)
pulumi.export("internalUsagePlanId", product.internal_usage_plan_id)
pulumi.export("openApiDocument", product.open_api_document)
pulumi.export("apiKeys", product.api_keys)
pulumi.export("apiKeysById", product.api_keys_by_id)
pulumi.export("apiKeyIds", product.api_key_ids)
if product.api_domain_name is not None:
    pulumi.export("apiDomainName", product.api_domain_name)
if product.api_domain_target_name is not None:
    # Without a zone here, the operator points the name at this target in their own DNS.
    pulumi.export("apiDomainTargetName", product.api_domain_target_name)
    pulumi.export("apiDomainTargetZoneId", product.api_domain_target_zone_id)
if product.dashboard_url is not None:
    pulumi.export("dashboardUrl", product.dashboard_url)
