"""boto3 client configuration shared by the Lambdas."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# What a failed AWS call raises: the service's answer, or botocore's own (connection, timeout,
# retries exhausted, a malformed response).
AWS_ERRORS = (ClientError, BotoCoreError)

# Every ordinary AWS call: adaptive retries (client-side rate limiting on throttling), 5 attempts.
DEFAULT_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5})


@functools.cache
def client(service: str, region: str | None = None, config: Config | None = None) -> Any:
    """One client per (service, region, config) per container, created on first use."""
    return boto3.client(service, region_name=region, config=config or DEFAULT_CONFIG)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else).

    SQS speaks the JSON protocol with the awsQueryCompatible trait, so botocore may report
    either the short code or the legacy query code ('AWS.SimpleQueueService.<Code>'): the
    prefix is stripped so callers compare against one spelling.
    """
    if not isinstance(exc, ClientError):
        return ""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code.removeprefix("AWS.SimpleQueueService.")


def error_message(exc: BaseException) -> str:
    """A short human-readable description of an exception (AWS code and message if any)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Unknown')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def error_record(exc: BaseException) -> dict[str, str]:
    """The error as a state records a best-effort call's failure ({"Error", "Cause"}, the shape of
    a Catch's error output)."""
    return {"Error": error_code(exc) or type(exc).__name__, "Cause": error_message(exc)}
