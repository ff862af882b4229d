"""Pure logic behind the SSM fidelity hook (no LocalStack imports)."""

from __future__ import annotations

# Parameter Store's value size limits by tier ("Managing parameter tiers": standard 4 KB, advanced
# 8 KB). AWS counts characters, as its error message says.
STANDARD_MAX_CHARS = 4096
ADVANCED_MAX_CHARS = 8192


def value_too_long_error(value: str, tier: str | None) -> str | None:
    """AWS's ValidationException message for a PutParameter value over its tier's limit, or None.

    No tier means the account's default tier, Standard unless changed. Intelligent-Tiering chooses
    Advanced for a value over 4 KB, so only the advanced limit applies to it."""
    if tier in ("Advanced", "Intelligent-Tiering"):
        if len(value) > ADVANCED_MAX_CHARS:
            return (
                "Advanced tier parameters support a maximum parameter value of"
                f" {ADVANCED_MAX_CHARS} characters."
            )
        return None
    if len(value) > STANDARD_MAX_CHARS:
        return (
            f"Standard tier parameters support a maximum parameter value of {STANDARD_MAX_CHARS}"
            " characters. To create a larger parameter value, upgrade the parameter to use the"
            " advanced-parameter tier. For more information, see"
            " https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
        )
    return None
