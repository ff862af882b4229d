"""The rejitter's configuration (environment) and the queue's redrive policy, validated."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common import aws
from common.env import ConfigError, bounded_int, required_str
from common.log import get_logger

log = get_logger("sqs-circuit-breaker.rejitter")

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit


DEFAULT_WINDOW_SECONDS = 300


MAX_WINDOW_SECONDS = 43200


class RejitterConfigError(ConfigError):
    """Invalid configuration (environment variable) or a queue the rejitter cannot serve."""


class RedrivePolicyError(RuntimeError):
    """The queue's RedrivePolicy cannot be read; the whole batch fails and is delivered again."""


@dataclass(frozen=True)
class RejitterConfig:
    queue_url: str
    min_delay: int
    max_delay: int
    window_seconds: int = DEFAULT_WINDOW_SECONDS


@dataclass(frozen=True)
class Redrive:
    """The protected queue's redrive policy."""

    dlq_arn: str
    dlq_url: str
    max_receive_count: int


def load_config(env: Mapping[str, str]) -> RejitterConfig:
    queue_url = required_str(env, "QUEUE_URL")
    if queue_url.endswith(".fifo"):
        raise RejitterConfigError(
            "QUEUE_URL",
            f"{queue_url} is a FIFO queue; SQS refuses per-message DelaySeconds on FIFO queues,"
            " so the rejitter cannot serve it",
        )
    min_delay = bounded_int(env, "MIN_DELAY_SECONDS", 0, 0, MAX_DELAY_SECONDS)
    max_delay = bounded_int(env, "MAX_DELAY_SECONDS", MAX_DELAY_SECONDS, 0, MAX_DELAY_SECONDS)
    if min_delay > max_delay:
        raise RejitterConfigError(
            "MIN_DELAY_SECONDS",
            f"must not exceed MAX_DELAY_SECONDS ({min_delay} > {max_delay})",
        )
    window = bounded_int(env, "WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS, 1, MAX_WINDOW_SECONDS)
    return RejitterConfig(
        queue_url=queue_url, min_delay=min_delay, max_delay=max_delay, window_seconds=window
    )


def whole_number(value: Any) -> int | None:
    """An int, or a string of decimal digits, as an int; None for anything else (bool too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def dlq_url(queue_url: str, dlq_arn: str) -> str:
    """URL of the dead-letter queue: SQS requires it in the queue's account and region, so it is
    the queue's URL with its last path segment replaced by the DLQ's name."""
    return queue_url.rstrip("/").rsplit("/", 1)[0] + "/" + dlq_arn.rsplit(":", 1)[-1]


def parse_redrive_policy(raw: Any, queue_url: str) -> Redrive | None:
    """The RedrivePolicy attribute (JSON) -> Redrive; None when the queue has none."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    problem = f"the RedrivePolicy of {queue_url} is not usable: {raw!r}"
    try:
        policy = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise RedrivePolicyError(problem + " (not JSON)") from None
    if not isinstance(policy, Mapping):
        raise RedrivePolicyError(problem + " (not a JSON object)")
    arn = policy.get("deadLetterTargetArn")
    if not isinstance(arn, str) or len(arn.split(":")) < 6 or not arn.rsplit(":", 1)[-1]:
        raise RedrivePolicyError(problem + " (deadLetterTargetArn is not a queue ARN)")
    max_receive_count = whole_number(policy.get("maxReceiveCount"))
    if max_receive_count is None or max_receive_count < 1:
        raise RedrivePolicyError(problem + " (maxReceiveCount is not a positive integer)")
    return Redrive(
        dlq_arn=arn, dlq_url=dlq_url(queue_url, arn), max_receive_count=max_receive_count
    )


def load_redrive(sqs: Any, queue_url: str) -> Redrive | None:
    """Read the queue's redrive policy; RedrivePolicyError (for the whole batch) if impossible."""
    try:
        response = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    except Exception as exc:
        raise RedrivePolicyError(
            f"cannot read the RedrivePolicy of {queue_url} ({aws.error_message(exc)}): the"
            " rejitter must know it to send spent messages to the dead-letter queue instead of"
            " re-sending them; the whole batch fails and is delivered again, nothing is deleted"
            " (the function needs sqs:GetQueueAttributes on the queue)"
        ) from exc
    return parse_redrive_policy((response.get("Attributes") or {}).get("RedrivePolicy"), queue_url)
