"""Every rule of the data-api policy pack, resource rules first, in docs/policy.md's order."""

from rules import apigateway, dynamodb, functions, iam, messaging, storage

POLICIES = [
    *dynamodb.POLICIES,
    *iam.POLICIES,
    *apigateway.POLICIES,
    *functions.POLICIES,
    *storage.POLICIES,
    *messaging.POLICIES,
    *iam.STACK_POLICIES,
    *apigateway.STACK_POLICIES,
    *functions.STACK_POLICIES,
    *storage.STACK_POLICIES,
    *messaging.STACK_POLICIES,
]
