"""SQS calls both Lambdas make the same way."""

from __future__ import annotations

from typing import Any

from common import aws
from common.aws import AWS_ERRORS


def change_visibility(sqs: Any, queue_url: str, receipt_handle: str, seconds: int) -> str | None:
    """ChangeMessageVisibility; None when done, else the error's description (never raises).

    A failure loses nothing: the message stays in the queue and reappears when the visibility
    timeout it already has expires. The caller says what that means for its message.
    """
    try:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
    except AWS_ERRORS as exc:
        return aws.error_message(exc)
    return None
