"""Test doubles shared by the unit tests (a name unlikely to clash on sys.path)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any


def streaming(data: bytes) -> Any:
    from botocore.response import StreamingBody

    return StreamingBody(io.BytesIO(data), len(data))


class FakeLambda:
    """Stands in for the Lambda client (moto's Lambda needs Docker to run a function).

    ``respond(event)`` returns either a dict ``{"payload": ..., "function_error": ...}`` or
    raises; every invoke's parameters and decoded event are recorded.
    """

    def __init__(self, respond: Callable[[dict[str, Any]], dict[str, Any]] | None = None):
        self.calls: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._respond = respond or (lambda event: {"payload": b"null"})

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        event = json.loads(kwargs["Payload"])
        self.events.append(event)
        result = self._respond(event)
        payload = result.get("payload", b"")
        if isinstance(payload, dict | list):
            payload = json.dumps(payload).encode()
        response: dict[str, Any] = {"StatusCode": 200, "Payload": streaming(payload)}
        if result.get("function_error"):
            response["FunctionError"] = result["function_error"]
        return response


class Recording:
    """Wraps a client: records each call's kwargs per operation, can make one operation fail."""

    def __init__(self, client: Any, fail: dict[str, BaseException] | None = None):
        self._client = client
        self._fail = fail or {}
        self.calls: dict[str, list[dict[str, Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target):
            return target

        def call(**kwargs: Any) -> Any:
            self.calls.setdefault(name, []).append(kwargs)
            if name in self._fail:
                raise self._fail[name]
            return target(**kwargs)

        return call


class Scripted:
    """A fake client of several services: each call is recorded by name (`made`) and answers
    from `answers` (an exception is raised; a missing answer is {})."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.made: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.made.append(name)
            answer = self.answers.get(name, {})
            if isinstance(answer, BaseException):
                raise answer
            return answer

        return call


def path_holder(state: dict, path: str) -> tuple[dict, str]:
    """The object of `state` that holds a dotted path's last key, and that key."""
    *parents, last = path.split(".")
    holder = state
    for key in parents:
        holder = holder[key]
    return holder, last


def client_error(code: str, operation: str, message: str = "boom") -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class RecordingCloudWatch(Scripted):
    """A CloudWatch client that records PutMetricData's arguments (and may refuse it); its other
    calls answer as Scripted's."""

    def __init__(self, refusal: Exception | None = None, **answers: Any) -> None:
        super().__init__(**answers)
        self.refusal = refusal
        self.puts: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs)
        if self.refusal is not None:
            raise self.refusal
        return {}

    def states(self) -> list[float]:
        """The CircuitState values put, in order."""
        return [
            d["Value"]
            for put in self.puts
            for d in put["MetricData"]
            if d["MetricName"] == "CircuitState"
        ]


class RecordingEvents:
    """An EventBridge client that records the entries put (EventBridge takes them all)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0}
