"""The commands through main(argv), against moto (the state machine's side is simulated)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqscb_cli_support import NAME, Env

from sqs_circuit_breaker import commands
from sqs_circuit_breaker.__main__ import build_parser, main
from sqs_circuit_breaker.aws import Aws
from sqs_circuit_breaker.errors import ExitCode


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def act_as_state_machine(env: Env, monkeypatch: pytest.MonkeyPatch, **behaviour: Any) -> None:
    """While the tool waits, do what the state machine does for a hold or close command."""

    def fake_sleep(_seconds: float) -> None:
        for execution in env.running():
            if behaviour.get("abort"):
                env.sfn.stop_execution(
                    executionArn=execution["executionArn"], error="Boom", cause="bad"
                )
                continue
            command = execution["name"].split("-")[0]
            if command in ("hold", "close"):
                mode = "hold" if command == "hold" else "auto"
                env.set_control(mode=mode, execution=execution["executionArn"], reason="r")
                env.set_mapping(enabled=command == "close")

    monkeypatch.setattr(commands, "sleep", fake_sleep)


def test_status_json_is_one_object_with_the_circuits_state(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.set_mapping(enabled=False)  # moto would invoke the function (in Docker) on send
    env.sqs.send_message(QueueUrl=env.queue_url, MessageBody="x")
    env.set_mapping(enabled=True)
    code, out, _ = run(capsys, "status", NAME, "--json")
    assert code == ExitCode.OK
    document = json.loads(out)
    assert document["state"] == "CLOSED"
    assert document["closed"] is True
    assert document["mapping"]["state"] == "Enabled"
    assert document["mapping"]["batchSize"] == 10
    assert document["queue"]["visible"] == 1
    assert document["alarm"]["name"] == env.alarm
    assert document["episode"] is None


def test_status_shows_a_hold(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.set_control(mode="hold", reason="db migration", requestedBy="arn:aws:iam::1:user/ann")
    env.set_mapping(enabled=False)
    code, out, _ = run(capsys, "status", NAME)
    assert code == ExitCode.OK
    assert "HELD OPEN" in out
    assert "db migration" in out


def test_status_of_a_disabled_mapping_without_episode_is_open(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.set_mapping(enabled=False)
    code, out, _ = run(capsys, "status", NAME, "--json")
    assert (code, json.loads(out)["state"]) == (ExitCode.OK, "OPEN")


def test_unknown_circuit_exits_4(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status", "payments")
    assert code == ExitCode.NOT_FOUND
    assert out == ""
    assert "no such circuit: payments" in err


def test_permission_denied_exits_5_and_names_the_action(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    create = Aws.create

    def denying(*args: Any) -> Aws:
        aws = create(*args)

        def deny(**_: Any) -> None:
            error = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}
            raise ClientError(error, "GetParameter")  # type: ignore[arg-type]

        aws.ssm.meta.events.register("before-call.ssm.GetParameter", deny)
        return aws

    monkeypatch.setattr(Aws, "create", denying)
    code, _, err = run(capsys, "status", NAME)
    assert code == ExitCode.DENIED
    assert "ssm:GetParameter" in err


KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_kms_denied_on_the_definition_exits_5_and_names_the_key(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    create = Aws.create

    def denying(*args: Any) -> Aws:
        aws = create(*args)

        def deny(**_: Any) -> None:
            message = f"User is not authorized to perform kms:Decrypt on {KEY}"
            error = {"Error": {"Code": "KmsAccessDeniedException", "Message": message}}
            raise ClientError(error, "DescribeStateMachine")  # type: ignore[arg-type]

        aws.sfn.meta.events.register("before-call.states.DescribeStateMachine", deny)
        return aws

    monkeypatch.setattr(Aws, "create", denying)
    code, _, err = run(capsys, "status", NAME)
    assert code == ExitCode.DENIED
    assert KEY in err and "kms:Decrypt" in err


def test_kms_denied_on_start_names_the_circuits_key_and_generate_data_key(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """StartExecution's error need not name the key: the one DescribeStateMachine read is named."""
    create = Aws.create

    def encrypted(*args: Any) -> Aws:
        aws = create(*args)

        def add_key(parsed: dict[str, Any], **_: Any) -> None:
            parsed["encryptionConfiguration"] = {
                "type": "CUSTOMER_MANAGED_KMS_KEY",
                "kmsKeyId": KEY,
            }

        def deny(**_: Any) -> None:
            error = {"Error": {"Code": "KmsAccessDeniedException", "Message": "access denied"}}
            raise ClientError(error, "StartExecution")  # type: ignore[arg-type]

        aws.sfn.meta.events.register("after-call.states.DescribeStateMachine", add_key)
        aws.sfn.meta.events.register("before-call.states.StartExecution", deny)
        return aws

    monkeypatch.setattr(Aws, "create", encrypted)
    env.set_mapping(enabled=True)
    code, _, err = run(capsys, "open", NAME, "--reason", "maintenance")
    assert code == ExitCode.DENIED
    assert KEY in err and "kms:GenerateDataKey" in err


def test_an_over_long_reason_is_refused_before_anything_starts(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.set_mapping(enabled=True)
    with pytest.raises(SystemExit) as exited:
        main(["open", NAME, "--reason", "x" * 257])
    _, err = capsys.readouterr()
    assert exited.value.code == ExitCode.USAGE
    assert "at most 256" in err
    assert env.running() == []  # no command execution was started


def test_missing_region_is_a_clear_error(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    code, _, err = run(capsys, "status", NAME)
    assert code == ExitCode.ERROR
    assert "no AWS region" in err


def test_aws_region_alone_is_enough(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    code, out, _ = run(capsys, "status", NAME, "--json")
    assert (code, json.loads(out)["state"]) == (ExitCode.OK, "CLOSED")


def test_open_without_reason_is_a_usage_error(env: Env) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["open", NAME])
    assert raised.value.code == ExitCode.USAGE


def test_open_holds_the_circuit_through_a_hold_execution(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as_state_machine(env, monkeypatch)
    code, out, _ = run(capsys, "open", NAME, "--reason", "db migration")
    assert code == ExitCode.OK, out
    assert "HELD OPEN" in out
    assert "sqs-circuit-breaker close orders" in out
    (execution,) = env.sfn.list_executions(stateMachineArn=env.state_machine_arn)["executions"]
    assert execution["name"].startswith("hold-")
    request = json.loads(
        env.sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    )
    assert request["command"] == "hold"
    assert request["reason"] == "db migration"
    assert request["requestedBy"].startswith("arn:aws:")


def test_open_refuses_when_already_held(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.set_control(mode="hold", reason="migration")
    env.set_mapping(enabled=False)
    code, _, err = run(capsys, "open", NAME, "--reason", "again")
    assert code == ExitCode.REFUSED
    assert "already held open" in err
    assert env.running() == []


def test_open_holds_again_when_a_held_mapping_reads_enabled(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a superseded episode's retried update re-enabled the mapping after the hold looked again
    env.set_control(mode="hold", reason="migration")
    env.set_mapping(enabled=True)
    act_as_state_machine(env, monkeypatch)
    code, out, _ = run(capsys, "open", NAME, "--reason", "again", "--json")
    assert code == ExitCode.OK, out
    document = json.loads(out)
    assert (document["state"], document["mapping"]["state"]) == ("HELD OPEN", "Disabled")
    (execution,) = env.sfn.list_executions(stateMachineArn=env.state_machine_arn)["executions"]
    assert execution["name"].startswith("hold-")


def test_open_reports_a_failed_command_execution(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as_state_machine(env, monkeypatch, abort=True)
    code, _, err = run(capsys, "open", NAME, "--reason", "x")
    assert code == ExitCode.ERROR
    assert "ended ABORTED" in err


def test_open_times_out_with_what_it_last_saw(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "sleep", lambda _s: None)
    code, _, err = run(capsys, "open", NAME, "--reason", "x", "--timeout", "0")
    assert code == ExitCode.ERROR
    assert "timed out" in err
    assert "mapping Enabled" in err


def test_close_refuses_when_already_closed(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "close", NAME)
    assert code == ExitCode.REFUSED
    assert "already closed" in err
    assert env.running() == []


def test_close_releases_a_hold(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env.set_control(mode="hold", reason="migration")
    env.set_mapping(enabled=False)
    act_as_state_machine(env, monkeypatch)
    code, out, _ = run(capsys, "close", NAME, "--reason", "done", "--json")
    assert code == ExitCode.OK
    document = json.loads(out)
    assert (document["state"], document["hold"]) == ("CLOSED", None)
    request = json.loads(
        env.sfn.describe_execution(executionArn=document["control"]["execution"])["input"]
    )
    assert (request["command"], request["reason"]) == ("close", "done")


def test_history_lists_executions_newest_first(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    first = env.sfn.start_execution(stateMachineArn=env.state_machine_arn, name="episode-1")
    env.sfn.stop_execution(executionArn=first["executionArn"], error="E", cause="stopped")
    env.sfn.start_execution(stateMachineArn=env.state_machine_arn, name="hold-20250101T000000-abcd")
    code, out, _ = run(capsys, "history", NAME, "--json")
    assert code == ExitCode.OK
    rows = json.loads(out)
    assert [(r["kind"], r["label"]) for r in rows] == [
        ("hold", "running (OPEN)"),
        ("episode", "aborted"),
    ]
    code, _, _ = run(capsys, "history", NAME, "--limit", "1")
    assert code == ExitCode.OK


def test_drill_refuses_unless_closed(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.set_control(mode="hold", reason="migration")
    code, _, err = run(capsys, "drill", NAME)
    assert code == ExitCode.REFUSED
    assert "HELD OPEN" in err


def test_drill_refuses_while_an_execution_runs(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    # a close command watches the alarm after its close: a drill would interfere with it
    env.sfn.start_execution(
        stateMachineArn=env.state_machine_arn, name="close-20250101T000000-abcd"
    )
    code, _, err = run(capsys, "drill", NAME)
    assert code == ExitCode.REFUSED
    assert "close-20250101T000000-abcd is still running" in err


def test_drill_sets_the_alarm_and_follows_the_episode_to_its_end(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def episode(_seconds: float) -> None:  # EventBridge starts it; it then ends closed
        running = env.running()
        if running:
            env.sfn.stop_execution(executionArn=running[0]["executionArn"])
        else:
            env.sfn.start_execution(stateMachineArn=env.state_machine_arn)

    monkeypatch.setattr(commands, "sleep", episode)
    code, out, _ = run(capsys, "drill", NAME, "--timeout", "60")
    assert code == ExitCode.OK, out
    assert "Drill passed" in out
    alarm = env.cloudwatch.describe_alarms(AlarmNames=[env.alarm])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Drill by arn:aws:")


def test_drill_of_a_composite_alarm_starts_the_episode_and_never_sets_the_alarm(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SetAlarmState would hold a composite alarm in ALARM until a child changes (the watch
    would then re-open the healthy circuit): the drill starts an episode execution instead."""
    create = Aws.create

    def composite(*args: Any) -> Aws:
        aws = create(*args)

        def read_composite(parsed: dict[str, Any], **_: Any) -> None:
            # moto has no composite alarms: the circuit's alarm is answered as one.
            alarms = parsed.pop("MetricAlarms", [])
            parsed["CompositeAlarms"] = [{**a, "AlarmRule": 'ALARM("child")'} for a in alarms]

        def refuse(**_: Any) -> None:
            raise AssertionError("SetAlarmState called on a composite alarm")

        aws.cloudwatch.meta.events.register("after-call.cloudwatch.DescribeAlarms", read_composite)
        aws.cloudwatch.meta.events.register("before-call.cloudwatch.SetAlarmState", refuse)
        return aws

    def episode(_seconds: float) -> None:  # the started episode ends closed
        for execution in env.running():
            env.sfn.stop_execution(executionArn=execution["executionArn"])

    monkeypatch.setattr(Aws, "create", composite)
    monkeypatch.setattr(commands, "sleep", episode)
    code, out, _ = run(capsys, "drill", NAME, "--timeout", "60")
    assert code == ExitCode.OK, out
    assert "composite alarm" in out
    (started,) = env.sfn.list_executions(stateMachineArn=env.state_machine_arn)["executions"]
    assert started["name"].startswith("drill-")
    described = env.sfn.describe_execution(executionArn=started["executionArn"])
    assert "command" not in json.loads(described["input"])  # an alarm episode, not a command


def test_drill_times_out_when_no_episode_starts(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "sleep", lambda _s: None)
    code, _, err = run(capsys, "drill", NAME, "--timeout", "0")
    assert code == ExitCode.ERROR
    assert "no episode started" in err


def test_status_watch_refreshes_until_ctrl_c(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "sleep", interrupt)
    code, out, _ = run(capsys, "status", NAME, "--watch", "--interval", "1")
    assert code == ExitCode.OK
    assert "Circuit orders" in out


def test_a_timed_hold_asks_the_state_machine_to_close_at_its_end(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as_state_machine(env, monkeypatch)
    started = datetime.now(UTC)
    code, out, _ = run(capsys, "open", NAME, "--hold", "--for", "1h30m", "--reason", "migration")
    assert code == ExitCode.OK, out
    (execution,) = env.sfn.list_executions(stateMachineArn=env.state_machine_arn)["executions"]
    request = json.loads(
        env.sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    )
    until = datetime.fromisoformat(request["holdUntil"])
    assert request["holdUntil"].endswith("Z")
    assert 5400 - 5 <= (until - started).total_seconds() <= 5400 + 5
    assert f"until {request['holdUntil']}, then it closes by itself" in " ".join(out.split())


def test_status_shows_when_a_timed_hold_ends(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    env.set_control(mode="hold", reason="migration", until="2099-01-01T00:00:00Z")
    env.set_mapping(enabled=False)
    code, out, _ = run(capsys, "status", NAME, "--json")
    assert (code, json.loads(out)["hold"]["until"]) == (ExitCode.OK, "2099-01-01T00:00:00Z")
    _, out, _ = run(capsys, "status", NAME)
    assert "closes by itself at 2099-01-01T00:00:00Z" in out
    env.set_control(mode="hold", reason="migration")
    _, out, _ = run(capsys, "status", NAME)
    assert "until an operator closes it" in out


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("45m", 2700), ("2h", 7200), ("1d12h", 129600), ("1h30m", 5400), ("600", 600)],
)
def test_durations(text: str, seconds: int) -> None:
    args = build_parser().parse_args(["open", NAME, "--reason", "r", "--for", text])
    assert args.hold_for == seconds


@pytest.mark.parametrize("text", ["0", "2x", "h", "", "365d", "1h 30m"])
def test_bad_durations_are_usage_errors(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["open", NAME, "--reason", "r", "--for", text])
    assert raised.value.code == ExitCode.USAGE
    assert "--for" in capsys.readouterr().err
