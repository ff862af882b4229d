"""The episode lease (lease.tf): one DynamoDB item per circuit, taken with conditional writes.

The claim (claim.py) takes it for an alarm execution, a command (commands.py) whatever holds it.
A call that fails for another reason than its condition raises CheckError (the task is retried).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from common.aws import AWS_ERRORS, error_code, error_message, error_record
from loop import CheckError

NONE = "-"  # the replaced lease had no such attribute (DynamoDB's if_not_exists default)


def now_text() -> str:
    """Now, as Step Functions writes $$.State.EnteredTime (the lease's `since`, a record's `at`):
    2026-12-03T17:34:46.597Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def replaced_lease(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """The lease a command replaced (opening.py: command_from), read back on a retry of its task
    (the lease is already this command's): what the first write recorded (replacedHolder,
    replacedPhase). The first write has it from its own answer (ALL_OLD)."""
    if not attributes:
        return {"Attributes": {}}
    recorded = {
        name: attributes.get(f"replaced{name.capitalize()}") for name in ("holder", "phase")
    }
    if all(isinstance(v, Mapping) for v in recorded.values()):
        return {"Attributes": {k: v for k, v in recorded.items() if v.get("S") != NONE}}
    return {"Attributes": dict(attributes)}


class LeaseAt(Protocol):
    """Where the episode's lease is."""

    @property
    def lease_table(self) -> str: ...
    @property
    def circuit(self) -> str: ...


class LoopTask(LeaseAt, Protocol):
    """A loop's task (the check, the look): this execution, and when it hands over."""

    @property
    def execution(self) -> str: ...
    @property
    def handover_events(self) -> int: ...


class Lease:
    """The episode lease's calls, for one execution, each with its failure modes."""

    def __init__(self, dynamodb: Any, table: str, circuit: str, execution: str, now: str) -> None:
        self.dynamodb, self.table, self.circuit = dynamodb, table, circuit
        self.execution, self.now = execution, now

    def _update(
        self, expression: str, condition: str, values: dict[str, Any], **extra: Any
    ) -> dict[str, Any] | None:
        """One conditional UpdateItem of the lease (`:self` given, and `:now` where the expression
        uses it: DynamoDB refuses an unused value): its answer, or None when the condition failed.
        Any other failure raises CheckError (the task is retried)."""
        now = {":now": {"S": self.now}} if ":now" in expression else {}
        try:
            return self.dynamodb.update_item(
                TableName=self.table,
                Key={"circuit": {"S": self.circuit}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    ":self": {"S": self.execution},
                    **now,
                    **values,
                },
                **extra,
            )
        except AWS_ERRORS as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise CheckError(f"UpdateItem of the lease failed: {error_message(exc)}") from exc

    def take(self, condition: str, values: dict[str, Any] | None = None) -> bool:
        """SET holder = this execution, phase open, since now, if `condition` holds."""
        expression = "SET holder = :self, phase = :open, since = :now REMOVE closedAt"
        return (
            self._update(expression, condition, {":open": {"S": "open"}, **(values or {})})
            is not None
        )

    def pass_from(self, predecessor: str) -> bool:
        """A successor takes the lease from its predecessor (its phase and close time stay):
        True when it is this execution's now (a retried write that had succeeded too), False
        when someone else took it meanwhile (an operator command, or a takeover)."""
        values = {":predecessor": {"S": predecessor}}
        expression = "SET holder = :self, since = :now"
        if self._update(expression, "holder = :predecessor", values) is not None:
            return True
        return _holder(self.read()) == self.execution

    def mark_watching(self, closed_at: str) -> bool:
        """The lease says that this execution only watches now, and since when the circuit is
        closed (an alarm execution whose ALARM event is newer takes the episode over at once):
        False when it no longer names this execution."""
        values = {":watch": {"S": "watch"}, ":closedAt": {"S": closed_at}}
        expression = "SET phase = :watch, closedAt = :closedAt"
        return self._update(expression, "holder = :self", values) is not None

    def release(self) -> dict[str, str] | None:
        """The episode is over: remove the lease if it is still this execution's (the next ALARM
        starts a new episode at once). Best effort, never raises: a lease left behind names an
        ended execution, which the next claim takes over. The error a state records, if any."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"circuit": {"S": self.circuit}},
                ConditionExpression="holder = :self",
                ExpressionAttributeValues={":self": {"S": self.execution}},
            )
        except AWS_ERRORS as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None  # no longer ours (a command, a takeover): nothing to release
            return error_record(exc)
        return None

    def read(self) -> Mapping[str, Any] | None:
        try:
            item = self.dynamodb.get_item(
                TableName=self.table,
                Key={"circuit": {"S": self.circuit}},
                ConsistentRead=True,
            ).get("Item")
        except AWS_ERRORS as exc:
            raise CheckError(f"GetItem of the lease failed: {error_message(exc)}") from exc
        return item if isinstance(item, Mapping) else None

    def take_for_command(
        self, phase: str, *, from_holder: str | None = None
    ) -> dict[str, Any] | None:
        """Take the lease whatever holds it, recording what it replaced (a retried task finds it
        already this command's: the record of the first write stays). With `from_holder`, only
        from that execution (the close at a timed hold's end, from the hold): None when another
        one holds it now (a later command took the circuit over)."""
        condition = "attribute_not_exists(holder) OR holder <> :self"
        values = {}
        if from_holder is not None:
            condition, values = "holder = :from", {":from": {"S": from_holder}}
        answer = self._update(
            "SET holder = :self, phase = :phase, since = :now,"
            " replacedHolder = if_not_exists(holder, :none),"
            " replacedPhase = if_not_exists(phase, :none) REMOVE closedAt",
            condition,
            {":phase": {"S": phase}, ":none": {"S": NONE}, **values},
            ReturnValues="ALL_OLD",
        )
        if answer is not None:
            old = answer.get("Attributes") or {}
            return {"Attributes": {k: old[k] for k in ("holder", "phase") if k in old}}
        item = self.read()
        if from_holder is not None and _holder(item) != self.execution:
            return None  # neither the hold's nor ours (a retry): a later command owns it
        return replaced_lease(item)


def _holder(item: Mapping[str, Any] | None) -> str | None:
    value = item.get("holder") if item else None
    return value.get("S") if isinstance(value, Mapping) else None
