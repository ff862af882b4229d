"""Helpers shared by the integration tests: clients, waits with deadlines, Lambda zips."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ACCOUNT = "000000000000"


def _loop_payloads(events: list[dict]) -> list[tuple[dict, dict]]:
    """(state, $.step) of each check and probe task's output in an execution's history."""
    found = []
    for event in events:
        details = event.get("taskSucceededEventDetails")
        if details and details.get("resourceType") == "lambda":
            payload = json.loads(details["output"]).get("Payload", {})
            step = payload.get("step") if isinstance(payload, dict) else None
            if isinstance(step, dict):
                found.append((payload, step))
    return found


def loop_steps(events: list[dict]) -> list[dict]:
    """$.step of each check and probe task in an execution's history, in order
    (lambda_src/probe/loop.py: `next`, and `outcome` when the task probed)."""
    return [step for _, step in _loop_payloads(events)]


def probe_results(events: list[dict]) -> list[dict]:
    """The probe's results (lambda_src/probe/probe.py: outcome, source, excluded, ...), in order:
    $.probe.result of each task that probed (a check carries the last one along unchanged)."""
    return [state["probe"]["result"] for state, step in _loop_payloads(events) if "outcome" in step]


def probe_outcomes(events: list[dict]) -> list[str]:
    """The probe's verdicts, in order (a check, or a probe step after a check that did not lead
    to a probe, has no outcome)."""
    return [step["outcome"] for step in loop_steps(events) if "outcome" in step]


def harness_log(*needles: str, limit: int = 40) -> str:
    """The last `limit` lines of the harness's LocalStack log that contain any of `needles`: what
    the emulator saw, for an assertion message (the log is kept under build/localstack/)."""
    from localstack_harness import ctl

    path = ctl.paths().log
    if not path.exists():
        return f"(no harness log at {path}: your own LocalStack?)"
    with path.open(errors="replace") as log:
        lines = [line.rstrip() for line in log if any(n in line for n in needles)]
    return "\n".join(lines[-limit:]) or f"(nothing about {needles} in {path})"


def client(service: str, endpoint: str, **credentials: str):
    """A client bound to the emulator: the tests' administrator credentials by default, or the
    given ones (aws_access_key_id, aws_secret_access_key, aws_session_token)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        **(credentials or {"aws_access_key_id": "test", "aws_secret_access_key": "test"}),
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=920),
    )


def harness_sfn(endpoint: str, settings: dict) -> dict:
    """Step Functions settings of the harness for one state machine (tests/harness sfn.py):
    {"stateMachineArn", "maxHistoryEvents"?, "historyEventsUsed"?, "listExecutionsLagSeconds"?};
    None removes one."""
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/_localstack/harness/sfn",
        data=json.dumps(settings).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def iam_decisions(endpoint: str, after: int = 0) -> dict:
    """The harness's IAM decisions (tests/harness iam.py): mode, denials after `after`, usage."""
    url = endpoint.rstrip("/") + f"/_localstack/harness/iam?after={after}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return {}  # an emulator without the harness (your own LocalStack): nothing enforced


def allow_delivery(sqs, queue_url: str, queue_arn: str, service: str, source_arn: str) -> None:
    """The queue policy a service needs to send to a queue for one source (an SNS topic, an
    EventBridge rule), as on AWS (the harness enforces it)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def allow_rule_delivery(sqs, queue_url: str, queue_arn: str, rule_name: str) -> None:
    """The queue policy EventBridge needs to deliver a rule's events (or its target's dead
    letters) to a queue: events.amazonaws.com, for that rule."""
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"
    allow_delivery(sqs, queue_url, queue_arn, "events.amazonaws.com", rule_arn)


def save_iam_decisions(endpoint: str, path: Path) -> dict:
    """Every IAM decision of the emulator so far, with the roles' policies, saved as JSON."""
    url = endpoint.rstrip("/") + "/_localstack/harness/iam?roles=1"
    with urllib.request.urlopen(url, timeout=30) as response:
        decisions = json.loads(response.read())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(decisions, indent=1) + "\n")
    return decisions


def acknowledge_iam_denials(endpoint: str, seqs: list[int]) -> None:
    """Mark denials as claimed by a test (the run fails on any that no test claims)."""
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/_localstack/harness/iam",
        data=json.dumps({"acknowledge": seqs}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with contextlib.suppress(OSError):
        urllib.request.urlopen(request, timeout=10).close()


def describe_denial(denial: dict) -> str:
    context = ", ".join(f"{k}={v}" for k, v in (denial.get("context") or {}).items())
    return (
        f"- {denial['decision']}: {denial['principal']} {denial['action']} on"
        f" {denial['resource']} ({denial.get('operation')}; {denial.get('kind')}"
        f"{'; ' + context if context else ''}): {denial.get('explanation')}"
    )


def wait_until(
    probe: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
) -> Any:
    """Poll `probe` until it returns something truthy; fail with what was last seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


def zip_source(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in sorted(files.items()):
            zf.writestr(name, text)
    return buf.getvalue()


def create_function(
    lam, name: str, code: dict[str, str], *, handler: str = "app.handler", **kwargs
) -> str:
    args = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Handler": handler,
        "Role": f"arn:aws:iam::{ACCOUNT}:role/lambda-role",
        "Code": {"ZipFile": zip_source(code)},
        "Timeout": 10,
    }
    args.update(kwargs)
    arn = lam.create_function(**args)["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return arn


def invoke(lam, name: str, payload: Any = None) -> tuple[str | None, Any]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    body = resp["Payload"].read()
    return resp.get("FunctionError"), json.loads(body) if body else None


def drain(sqs, queue_url: str, *, seconds: float = 3.0) -> list[dict]:
    """Receive (and delete) whatever the queue holds now."""
    found, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        for msg in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
        found += batch
    return found


def queue_depth(sqs, queue_url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def set_function_variables(lam, function_name: str, **variables: str) -> None:
    """Change the examples' protected function's environment (examples/complete/src/handler.py
    reads SHOULD_ERROR, REPORT_ALL_FAILED and DELAY_MS), keeping its other variables, and wait
    until the update is live."""
    current = lam.get_function_configuration(FunctionName=function_name)["Environment"]
    lam.update_function_configuration(
        FunctionName=function_name,
        Environment={"Variables": {**current["Variables"], **variables}},
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=function_name)


def set_function_failing(lam, function_name: str, failing: bool) -> None:
    """Break or fix the examples' protected function (its SHOULD_ERROR variable)."""
    set_function_variables(lam, function_name, SHOULD_ERROR="true" if failing else "false")


def mapping_state(lam, uuid: str) -> str:
    return lam.get_event_source_mapping(UUID=uuid)["State"]
