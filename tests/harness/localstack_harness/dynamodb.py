"""DynamoDB for community LocalStack without DynamoDB Local (a LocalStack service provider).

LocalStack serves DynamoDB with DynamoDB Local, a Java program it downloads on first use (a zip
from CloudFront, jars from Maven): our machines reach the package registries only, so every
DynamoDB call would fail. This provider serves DynamoDB with moto's implementation, which
LocalStack already ships (moto-ext): tables, items, conditional writes (ConditionExpression,
ConditionalCheckFailedException with AWS's error shape), consistent reads, tags, TTL and
point-in-time recovery settings. The breaker uses one table, for its single-flight lease: a
conditional UpdateItem decides which execution owns an episode.

DynamoDB applies a conditional write atomically: of several writers racing on one item, exactly
one meets `attribute_not_exists(holder)`. Moto checks the condition and writes the item in two
steps, unlocked, while LocalStack serves requests on a pool of threads: two racing writers could
both pass the check (measured: 28 of 30 rounds of 8 writers had two or more winners with a long
condition; 1 in 300 with a short one under CPU load, which let two executions own one episode in
the e2e suite). Every operation is therefore served one at a time, as one item's operations are
on DynamoDB (the lease has one item; throughput is not what the harness models).

Selected with PROVIDER_OVERRIDE_DYNAMODB=harness (ctl.py sets it); LocalStack's own providers
stay available (unset the variable to use them where DynamoDB Local can be downloaded).
"""

from __future__ import annotations

import threading
from typing import Any

from localstack.services.plugins import Service, aws_provider

# One operation at a time (see the module's docstring). Reentrant: a handler that called DynamoDB
# again on its own thread would not deadlock.
_ATOMIC = threading.RLock()


def _atomic(handler: Any) -> Any:
    def serve(context: Any, request: Any) -> Any:
        with _ATOMIC:
            return handler(context, request)

    return serve


def _atomic_moto_dispatcher(provider: object) -> dict[str, Any]:
    """Moto's fallback dispatch table, every operation served under the lock."""
    from localstack.services.moto import MotoFallbackDispatcher

    table = MotoFallbackDispatcher(provider)
    return {operation: _atomic(handler) for operation, handler in table.items()}


@aws_provider(api="dynamodb", name="harness")
def dynamodb_harness() -> Service:
    from localstack.aws.api.dynamodb import DynamodbApi

    class MotoDynamoDB(DynamodbApi):
        """Every operation falls through to moto (the skeleton raises NotImplementedError)."""

    return Service.for_provider(MotoDynamoDB(), dispatch_table_factory=_atomic_moto_dispatcher)
