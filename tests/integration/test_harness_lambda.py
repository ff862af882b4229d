"""The local-process Lambda executor: invoke, errors, timeouts, environment, isolation."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from support import create_function, drain, invoke

ECHO = """
import os, sys
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    if event.get("raise"):
        raise ValueError(event["raise"])
    if event.get("sleep"):
        import time; time.sleep(event["sleep"])
    return {
        "event": event,
        "count": COUNT,
        "colour": os.environ.get("COLOUR"),
        "python": "%d.%d" % sys.version_info[:2],
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""


def test_invoke_returns_the_handler_result(aws, name, cleanup):
    lam = aws("lambda")
    create_function(lam, name, {"app.py": ECHO})
    cleanup(lambda: lam.delete_function(FunctionName=name))

    error, body = invoke(lam, name, {"hello": "world"})

    assert error is None
    assert body["event"] == {"hello": "world"}
    assert body["python"] == "3.12"  # the interpreter matching runtime python3.12
    assert 0 < body["remaining_ms"] <= 10_000


def test_raised_exception_is_a_function_error(aws, name, cleanup):
    lam = aws("lambda")
    create_function(lam, name, {"app.py": ECHO})
    cleanup(lambda: lam.delete_function(FunctionName=name))

    error, body = invoke(lam, name, {"raise": "boom"})

    assert error == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom"
    assert any("app.py" in frame for frame in body["stackTrace"])
    assert not any("runtime.py" in frame for frame in body["stackTrace"])


def test_overrun_is_killed_and_reported_as_a_timeout(aws, name, cleanup):
    lam = aws("lambda")
    create_function(lam, name, {"app.py": ECHO}, Timeout=2)
    cleanup(lambda: lam.delete_function(FunctionName=name))
    assert invoke(lam, name)[1]["count"] == 1

    started = time.monotonic()
    error, body = invoke(lam, name, {"sleep": 30})
    elapsed = time.monotonic() - started

    assert error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in body["errorMessage"]
    assert elapsed < 10
    # like AWS, the environment is re-initialised after a timeout: module state starts over
    error, body = invoke(lam, name)
    assert error is None
    assert body["count"] == 1


def test_functions_get_their_own_environment_and_share_no_state(aws, name, cleanup):
    lam = aws("lambda")
    for suffix, colour in (("a", "red"), ("b", "blue")):
        create_function(
            lam, name + suffix, {"app.py": ECHO}, Environment={"Variables": {"COLOUR": colour}}
        )
        cleanup(lambda fn=name + suffix: lam.delete_function(FunctionName=fn))

    results = [invoke(lam, name + s)[1] for s in ("a", "a", "b")]

    assert [r["colour"] for r in results] == ["red", "red", "blue"]
    assert [r["count"] for r in results] == [1, 2, 1]  # a's module state is not b's


def test_boto3_inside_a_handler_reaches_the_emulator(aws, name, cleanup):
    lam, sqs = aws("lambda"), aws("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    cleanup(lambda: sqs.delete_queue(QueueUrl=url))
    code = """
import boto3
def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=event["url"], MessageBody="from-lambda")
    return "sent"
"""
    create_function(lam, name, {"app.py": code})
    cleanup(lambda: lam.delete_function(FunctionName=name))

    assert invoke(lam, name, {"url": url}) == (None, "sent")
    assert [m["Body"] for m in drain(sqs, url)] == ["from-lambda"]


def test_a_handler_that_cannot_be_imported_fails_the_invoke(aws, name, cleanup):
    lam = aws("lambda")
    create_function(lam, name, {"app.py": "import no_such_module\n"})
    cleanup(lambda: lam.delete_function(FunctionName=name))

    error, body = invoke(lam, name)

    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'no_such_module'" in body["errorMessage"]


def test_non_python_runtimes_fail_the_invoke(aws, name, cleanup):
    lam = aws("lambda")
    create_function(
        lam,
        name,
        {"index.js": "exports.handler = async () => 1;"},
        Runtime="nodejs20.x",
        handler="index.handler",
    )
    cleanup(lambda: lam.delete_function(FunctionName=name))

    with pytest.raises(ClientError, match=r"runs Python runtimes only.*nodejs20\.x"):
        lam.invoke(FunctionName=name, Payload=b"{}")
