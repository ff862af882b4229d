"""Pure logic behind the event source mapping fidelity hook (no LocalStack imports)."""

from __future__ import annotations


def visibility_timeout_error(queue_visibility_timeout: int, function_timeout: int) -> str | None:
    """AWS's refusal of an SQS mapping whose queue hides a message for less time than the
    function may run (CreateEventSourceMapping, InvalidParameterValueException), or None."""
    if queue_visibility_timeout >= function_timeout:
        return None
    return (
        f"Queue visibility timeout: {queue_visibility_timeout} seconds is less than Function"
        f" timeout: {function_timeout} seconds"
    )


def sqs_pollers(configured: int, maximum_concurrency: int | None) -> int:
    """Concurrent pollers of an SQS event source mapping: the configured number (AWS starts
    with 5), at most the mapping's ScalingConfig.MaximumConcurrency, at least 1."""
    pollers = max(1, configured)
    if maximum_concurrency:
        pollers = min(pollers, int(maximum_concurrency))
    return pollers
