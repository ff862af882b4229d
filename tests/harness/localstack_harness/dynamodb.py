"""DynamoDB for community LocalStack without DynamoDB Local (a LocalStack service provider).

LocalStack serves DynamoDB with DynamoDB Local, a Java program it downloads on first use (a zip
from CloudFront, jars from Maven): our machines reach the package registries only, so every
DynamoDB call would fail. This provider serves DynamoDB with moto's implementation, which
LocalStack already ships (moto-ext): tables, items, conditional writes (ConditionExpression,
ConditionalCheckFailedException with AWS's error shape), consistent reads, tags, TTL and
point-in-time recovery settings. The breaker uses one table, for its single-flight lease: a
conditional UpdateItem decides which execution owns an episode.

Selected with PROVIDER_OVERRIDE_DYNAMODB=harness (ctl.py sets it); LocalStack's own providers
stay available (unset the variable to use them where DynamoDB Local can be downloaded).
"""

from __future__ import annotations

from localstack.services.plugins import Service, aws_provider


@aws_provider(api="dynamodb", name="harness")
def dynamodb_harness() -> Service:
    from localstack.aws.api.dynamodb import DynamodbApi
    from localstack.services.moto import MotoFallbackDispatcher

    class MotoDynamoDB(DynamodbApi):
        """Every operation falls through to moto (the skeleton raises NotImplementedError)."""

    return Service.for_provider(MotoDynamoDB(), dispatch_table_factory=MotoFallbackDispatcher)
