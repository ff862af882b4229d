"""`redrive`: the dead-letter queue's messages back to the circuit's queue.

moto has no message move tasks: FakeMoveTasks plays SQS's side (StartMessageMoveTask,
ListMessageMoveTasks, CancelMessageMoveTask) on moto's queues, one message per poll. The real
thing runs on the emulator in the e2e suite (tests/integration/test_e2e_complete.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqscb_cli_support import NAME, Env

from sqs_circuit_breaker import aws as aws_module
from sqs_circuit_breaker import commands
from sqs_circuit_breaker.__main__ import build_parser, main
from sqs_circuit_breaker.derive import dead_letter_arn, move_task_view, queue_url_of
from sqs_circuit_breaker.errors import ExitCode


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class FakeMoveTasks:
    """SQS's message move tasks over moto's queues: each poll (sleep) moves one message."""

    def __init__(self, env: Env, dlq_url: str, dlq_arn: str) -> None:
        self.env, self.dlq_url, self.dlq_arn = env, dlq_url, dlq_arn
        self.task: dict[str, Any] | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def start(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("start", kwargs))
        to_move = int(
            self.env.sqs.get_queue_attributes(
                QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        self.task = {
            "TaskHandle": "handle-1",
            "Status": "RUNNING",
            "SourceArn": kwargs["SourceArn"],
            "DestinationArn": kwargs["DestinationArn"],
            "ApproximateNumberOfMessagesMoved": 0,
            "ApproximateNumberOfMessagesToMove": to_move,
            "StartedTimestamp": 1_740_830_400_000,
        }
        if "MaxNumberOfMessagesPerSecond" in kwargs:
            self.task["MaxNumberOfMessagesPerSecond"] = kwargs["MaxNumberOfMessagesPerSecond"]
        return {"TaskHandle": "handle-1"}

    def list(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["SourceArn"] == self.dlq_arn
        return {"Results": [dict(self.task)] if self.task else []}

    def cancel(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("cancel", kwargs))
        assert self.task is not None
        self.task["Status"] = "CANCELLED"
        return {"ApproximateNumberOfMessagesMoved": self.task["ApproximateNumberOfMessagesMoved"]}

    def step(self, _seconds: float) -> None:
        if not self.task or self.task["Status"] != "RUNNING":
            return
        received = self.env.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=1)
        for message in received.get("Messages", []):
            self.env.set_mapping(enabled=False)  # moto would invoke the function (in Docker)
            self.env.sqs.send_message(QueueUrl=self.env.queue_url, MessageBody=message["Body"])
            self.env.set_mapping(enabled=True)
            self.env.sqs.delete_message(
                QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"]
            )
            self.task["ApproximateNumberOfMessagesMoved"] += 1
        if (
            self.task["ApproximateNumberOfMessagesMoved"]
            >= self.task["ApproximateNumberOfMessagesToMove"]
        ):
            self.task["Status"] = "COMPLETED"


@pytest.fixture
def dlq(env: Env, monkeypatch: pytest.MonkeyPatch) -> FakeMoveTasks:
    """The circuit's queue with a dead-letter queue holding 3 messages, and fake move tasks."""
    url = env.sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    arn = env.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    env.sqs.set_queue_attributes(
        QueueUrl=env.queue_url,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})
        },
    )
    for i in range(3):
        env.sqs.send_message(QueueUrl=url, MessageBody=f"casualty-{i}")
    fake = FakeMoveTasks(env, url, arn)
    real_create = aws_module.Aws.create

    def create(*args: Any, **kwargs: Any) -> aws_module.Aws:
        aws = real_create(*args, **kwargs)
        monkeypatch.setattr(aws.sqs, "start_message_move_task", fake.start)
        monkeypatch.setattr(aws.sqs, "list_message_move_tasks", fake.list)
        monkeypatch.setattr(aws.sqs, "cancel_message_move_task", fake.cancel)
        return aws

    monkeypatch.setattr(aws_module.Aws, "create", create)
    monkeypatch.setattr(commands, "sleep", fake.step)
    return fake


def queue_bodies(env: Env, url: str) -> list[str]:
    messages = env.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return sorted(m["Body"] for m in messages.get("Messages", []))


def test_redrive_moves_every_casualty_back_to_the_queue(
    env: Env, dlq: FakeMoveTasks, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "redrive", NAME, "--rate", "5")
    assert (code, err) == (ExitCode.OK, "")
    assert "Redrive completed: 3 message(s) moved back" in out
    start = dlq.calls[0][1]
    assert start["SourceArn"] == dlq.dlq_arn
    assert start["DestinationArn"].endswith(":orders")  # the circuit's queue, explicitly
    assert start["MaxNumberOfMessagesPerSecond"] == 5
    env.set_mapping(enabled=False)
    assert queue_bodies(env, env.queue_url) == ["casualty-0", "casualty-1", "casualty-2"]
    assert queue_bodies(env, dlq.dlq_url) == []


def test_redrive_stops_at_max(
    env: Env, dlq: FakeMoveTasks, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "redrive", NAME, "--max", "1")
    assert code == ExitCode.OK
    assert "stopped at --max 1" in out
    assert [name for name, _ in dlq.calls] == ["start", "cancel"]
    assert "MaxNumberOfMessagesPerSecond" not in dlq.calls[0][1]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda env: env.set_control(mode="hold", reason="migration"), "HELD OPEN"),
        (lambda env: env.set_mapping(enabled=False), "is OPEN"),
    ],
)
def test_redrive_is_refused_while_the_circuit_is_not_closed(
    env: Env, dlq: FakeMoveTasks, capsys: pytest.CaptureFixture[str], setup: Any, message: str
) -> None:
    setup(env)
    code, _, err = run(capsys, "redrive", NAME)
    assert code == ExitCode.REFUSED
    assert message in err and "Close it first" in err
    assert dlq.calls == []  # nothing was moved


def test_redrive_is_refused_while_a_move_runs(
    env: Env, dlq: FakeMoveTasks, capsys: pytest.CaptureFixture[str]
) -> None:
    dlq.start(SourceArn=dlq.dlq_arn, DestinationArn="arn:x")
    code, _, err = run(capsys, "redrive", NAME)
    assert code == ExitCode.REFUSED
    assert "already running" in err


def test_an_empty_dead_letter_queue_has_nothing_to_redrive(
    env: Env, dlq: FakeMoveTasks, capsys: pytest.CaptureFixture[str]
) -> None:
    env.sqs.purge_queue(QueueUrl=dlq.dlq_url)
    code, out, _ = run(capsys, "redrive", NAME)
    assert (code, dlq.calls) == (ExitCode.OK, [])
    assert "is empty" in out


def test_status_shows_the_dead_letter_queue_and_its_move_task(
    env: Env,
    dlq: FakeMoveTasks,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one table row per line
    dlq.start(SourceArn=dlq.dlq_arn, DestinationArn="arn:x")
    dlq.step(0)
    code, out, _ = run(capsys, "status", NAME, "--json")
    document = json.loads(out)["deadLetterQueue"]
    assert code == ExitCode.OK
    assert document["arn"] == dlq.dlq_arn and document["visible"] == 2
    assert document["moveTask"]["status"] == "RUNNING"
    assert (document["moveTask"]["moved"], document["moveTask"]["toMove"]) == (1, 3)
    code, out, _ = run(capsys, "status", NAME)
    assert "redrive RUNNING: 1 of 3 moved" in out


def test_a_queue_without_a_redrive_policy_has_no_dead_letter_queue(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "status", NAME, "--json")
    assert json.loads(out)["deadLetterQueue"] is None
    code, _, err = run(capsys, "redrive", NAME)
    assert code == ExitCode.REFUSED and "no redrive policy" in err


def test_the_pure_helpers() -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"
    assert dead_letter_arn(json.dumps({"deadLetterTargetArn": arn})) == arn
    assert dead_letter_arn(None) is None and dead_letter_arn("{}") is None
    url = queue_url_of(arn, "https://sqs.eu-west-1.amazonaws.com/123456789012/orders")
    assert url == "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"
    local = queue_url_of(arn, "http://sqs.eu-west-1.localhost.localstack.cloud:4566/1/orders")
    assert local == "http://sqs.eu-west-1.localhost.localstack.cloud:4566/123456789012/orders-dlq"
    assert move_task_view(None) is None
    view = move_task_view({"Status": "FAILED", "FailureReason": "AccessDenied"})
    assert view is not None and (view["running"], view["failureReason"]) == (False, "AccessDenied")


@pytest.mark.parametrize("rate", ["0", "501", "x"])
def test_rate_is_bounded_as_sqs_bounds_it(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["redrive", NAME, "--rate", rate])
    assert "--rate" in capsys.readouterr().err
