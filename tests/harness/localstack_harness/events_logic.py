"""Pure logic behind the EventBridge target fidelity hook (no LocalStack imports)."""

from __future__ import annotations


def retry_attempts(retry_policy: dict | None, cap: int) -> int:
    """Retries for a failing target: its RetryPolicy's MaximumRetryAttempts (AWS default 185),
    at most `cap` on the emulator's time scale."""
    configured = (retry_policy or {}).get("MaximumRetryAttempts", 185)
    return max(0, min(int(configured), cap))


def dead_letter_attributes(
    rule_arn: str, target_arn: str, error: Exception, attempts: int
) -> dict[str, dict[str, str]]:
    """The message attributes AWS puts on an event it sends to a target's dead-letter queue."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
    values = {
        "RULE_ARN": rule_arn,
        "TARGET_ARN": target_arn,
        "ERROR_CODE": code,
        "ERROR_MESSAGE": str(error)[:256] or code,
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": str(attempts),
    }
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}
