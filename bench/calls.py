"""The harness's request recorder, read from the benchmark: who called what, and when.

The recorder (tests/harness/localstack_harness/recorder.py) sees every request LocalStack's
gateway serves, internal ones included (Step Functions' service integrations, event source
mapping pollers, EventBridge targets). Each call is attributed to one party here:

- the breaker: `state machine` (its SDK and Lambda tasks), `eventbridge` (the rule starting it),
  `probe` and `rejitter` (calls signed by those functions' credentials), `rejitter mapping`
  (the rejitter's event source mapping: its polls of the queue and its invocations);
- `workload`: the protected function, its mapping's polls and invocations (what fails or is
  saved during an outage);
- `driver`: this benchmark's own calls; `other`: the harness (alarm evaluation) and the example's
  notification subscription.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

PATH = "/_localstack/harness/requests"
BREAKER = ("state machine", "eventbridge", "probe", "rejitter", "rejitter mapping")
SERVICES = {
    "lambda": "Lambda",
    "sqs": "SQS",
    "cloudwatch": "CloudWatch",
    "stepfunctions": "Step Functions",
    "sns": "SNS",
    "events": "EventBridge",
}


@dataclass(frozen=True)
class Call:
    seq: int
    start: float
    end: float
    service: str
    operation: str
    status: int
    principal: str | None
    source: str | None
    caller: str | None
    function: str | None
    records: int | None
    error: str | None

    @property
    def failed(self) -> bool:
        return bool(self.error)


def function_name(name_or_arn: str | None) -> str | None:
    """`fn`, `fn:alias`, `arn:aws:lambda:r:a:function:fn[:q]` -> `fn`."""
    if not name_or_arn:
        return None
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6] if len(parts) > 6 else None
    return name_or_arn.split(":")[0]


@dataclass(frozen=True)
class Parties:
    """The functions of one applied stack."""

    protected: str
    probe: str
    rejitter: str
    machine_roles: tuple[str, ...]

    @classmethod
    def for_circuit(cls, name: str, protected: str) -> Parties:
        """The module's naming (README, "What gets created")."""
        return cls(
            protected=protected,
            probe=f"{name}-cb-probe",
            rejitter=f"{name}-cb-rejitter",
            machine_roles=(f"role/{name}-cb-sfn", f"role/{name}-cb-cleanup"),
        )

    def who(self, call: Call) -> str:
        principal = call.principal
        if call.service == "sts":
            return "other"  # the emulator's credentials plumbing, not an API call of the breaker
        if principal == "states" or call.caller in self.machine_roles:
            return "state machine"
        if principal == "events":
            return "eventbridge"
        if principal is None or principal == "internal":
            caller = {self.probe: "probe", self.rejitter: "rejitter", self.protected: "workload"}
            if call.caller in caller:
                return caller[call.caller]
        if principal is None:
            return "driver" if call.caller is None else "other"
        # internal: a mapping's poller names its function as the source; its invocations name
        # the function they invoke
        subject = function_name(call.source) if principal == "lambda" else None
        if call.service == "lambda" and call.operation == "Invoke":
            subject = subject or function_name(call.function)
        if subject == self.rejitter:
            return "rejitter mapping"
        if subject == self.protected:
            return "workload"
        return "other"

    def invokes(self, calls: Iterable[Call], target: str, by: str | None = None) -> list[Call]:
        """Invocations of `target` (made by party `by`, if given)."""
        return [
            c
            for c in calls
            if c.service == "lambda"
            and c.operation == "Invoke"
            and function_name(c.function) == target
            and (by is None or self.who(c) == by)
        ]


def by_service(calls: Iterable[Call], parties: Parties) -> dict[str, dict[str, int]]:
    """Breaker calls per service, per party: {service: {party: count}}."""
    table: dict[str, Counter[str]] = {}
    for call in calls:
        party = parties.who(call)
        if party in BREAKER:
            service = SERVICES.get(call.service, call.service)
            table.setdefault(service, Counter())[party] += 1
    return {service: dict(counter) for service, counter in sorted(table.items())}


def by_operation(calls: Iterable[Call], parties: Parties) -> dict[str, int]:
    """Breaker calls per `service.Operation`."""
    counter = Counter(f"{c.service}.{c.operation}" for c in calls if parties.who(c) in BREAKER)
    return dict(sorted(counter.items()))


class Recorder:
    """Client of the harness's request recorder (absent on your own LocalStack)."""

    def __init__(self, endpoint: str) -> None:
        self.url = endpoint.rstrip("/") + PATH

    def _request(self, method: str, query: str = "", body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + query,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def status(self) -> dict | None:
        """Recording state and harness settings, or None when there is no recorder."""
        try:
            return self._request("GET", f"?after={2**62}")
        except OSError:
            return None

    def switch(self, on: bool) -> None:
        self._request("POST", body={"recording": on})

    def clear(self) -> None:
        self._request("DELETE")

    def mark(self) -> int:
        status = self.status()
        return int(status["seq"]) if status else 0

    def since(self, seq: int) -> list[Call]:
        answer = self._request("GET", f"?after={seq}")
        return [Call(*row) for row in answer["records"]]
