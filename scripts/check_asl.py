#!/usr/bin/env python3
"""Validate the state machine definitions as Terraform renders them, offline (make lint).

LocalStack accepts definitions that AWS refuses, and the AWS provider asks AWS to validate every
definition at plan time (ValidateStateMachineDefinition): a definition that only the emulator has
seen could fail the first `terraform plan` of a user. This script plans the state-machine
submodule in several configurations that change the template's shape (rejitter, half-open ramp,
notifications off / text / json, give-up action, probe mode), against a local stand-in for that
one Step Functions call (it answers OK, nothing else is called), takes the rendered definitions
from the plan, and checks each with asl-validator (the npm package pinned in
scripts/asl-validator/, installed under build/ by `make asl`).

    python scripts/check_asl.py --validator build/asl-validator/node_modules/.bin/asl-validator
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import history_budget  # scripts/history_budget.py (this script's folder is on sys.path)
import state_catalogue
from sqs_circuit_breaker.catalogue import PHASES, catalogue, untagged

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "asl-check"
ACCOUNT, REGION = "123456789012", "eu-west-1"

# Arguments every configuration shares (the submodule has no defaults for most of them).
BASE: dict[str, Any] = {
    "circuit_name": "orders",
    "partition": "aws",
    "region": REGION,
    "account_id": ACCOUNT,
    "mapping_uuid": "11111111-2222-3333-4444-555555555555",
    "queue_url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/orders",
    "queue_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders",
    "target_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders",
    "probe_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-cb-probe",
    "alarm_name": "orders-errors",
    "alarm_arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:orders-errors",
    "watch_seconds": 360,
    "alarm_period_seconds": 60,
    "metric_namespace": "SqsCircuitBreaker",
    "open_wait_seconds": 60,
    "backoff_initial_seconds": 30,
    "backoff_rate": 2,
    "backoff_max_seconds": 900,
    "backoff_jitter": True,
    "max_attempts": 10,
    "failure_visibility_margin_seconds": 30,
    "retention_margin_seconds": 3600,
    "probe_mode": "message",
    "probe_timeout_seconds": 60,
    "probe_wait_time_seconds": 20,
    "give_up_action": "stay_open",
    "half_open_seconds": 120,
    "rejitter_window_seconds": 300,
    "log_retention_days": 30,
    "log_level": "ERROR",
    "log_include_execution_data": False,
    "tracing_enabled": False,
}
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:orders-cb"
REJITTER_UUID = "21111111-2222-3333-4444-555555555555"
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"

# Each configuration flips what the template branches on.
CONFIGS: dict[str, dict[str, Any]] = {
    "full_text": {
        "alarm_is_metric": True,  # the module's own alarm (json_synthetic: one brought along)
        "rejitter_enabled": True,
        "rejitter_mapping_uuid": REJITTER_UUID,
        "half_open_max_concurrency": 5,
        "notifications_enabled": True,
        "sns_topic_arn": TOPIC,
        "transition_event_bus_arn": BUS,
    },
    "minimal": {
        "alarm_is_metric": True,
        "rejitter_enabled": False,
        "notifications_enabled": False,
        "give_up_action": "close",
        "backoff_jitter": False,
    },
    "json_synthetic": {
        "rejitter_enabled": True,
        "rejitter_mapping_uuid": REJITTER_UUID,
        "notifications_enabled": True,
        "sns_topic_arn": TOPIC,
        "notification_format": "json",
        "probe_mode": "synthetic",
        "synthetic_body": '{"ping": true}',
    },
    "json_ramp_close": {
        "rejitter_enabled": False,
        "half_open_max_concurrency": 3,
        "notifications_enabled": True,
        "sns_topic_arn": TOPIC,
        "notification_format": "json",
        "give_up_action": "close",
        "transition_event_bus_arn": BUS,
    },
}


class _ValidateOk(http.server.BaseHTTPRequestHandler):
    """Answers ValidateStateMachineDefinition with OK: the definitions are checked afterwards."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".ValidateStateMachineDefinition"):
            status, body = 200, {"result": "OK", "diagnostics": []}
        else:
            status, body = 400, {"__type": "UnknownOperationException", "message": target}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def hcl(value: Any) -> str:
    """A Terraform literal for a JSON-compatible value (JSON is valid HCL for these)."""
    return json.dumps(value)


def root_config(port: int) -> str:
    provider = f"""terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}

# Offline: no credentials, no account lookup; the one call plan makes for a state machine
# (ValidateStateMachineDefinition) goes to scripts/check_asl.py's stand-in.
provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    sfn = "http://127.0.0.1:{port}"
  }}
}}
"""
    modules = []
    for name, overrides in CONFIGS.items():
        arguments = {
            **BASE,
            "state_machine_name": f"orders-{name}",
            "lease_table_name": f"orders-{name}-cb-lease",
            "role_name": f"orders-{name}-sfn",
            "cleanup_role_name": f"orders-{name}-cleanup",
            "parameter_path": f"/sqs-circuit-breaker/{name}",
            **overrides,
        }
        lines = "\n".join(f"  {key} = {hcl(value)}" for key, value in arguments.items())
        source = os.path.relpath(ROOT / "modules" / "state-machine", WORK)
        modules.append(f'module "{name}" {{\n  source = "{source}"\n{lines}\n}}\n')
    return provider + "\n" + "\n".join(modules)


def terraform(*args: str) -> str:
    proc = subprocess.run(
        ["terraform", f"-chdir={WORK}", *args, "-no-color"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"terraform {args[0]} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def definitions(plan: dict[str, Any]) -> dict[str, str]:
    """Every aws_sfn_state_machine's planned definition, by a file-friendly name."""
    found: dict[str, str] = {}

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource["type"] == "aws_sfn_state_machine":
                # module.full_text.aws_sfn_state_machine.cleanup[0] -> full_text-cleanup
                address = resource["address"].removeprefix("module.").replace("[0]", "")
                name = address.replace(".aws_sfn_state_machine.", "-")
                found[name] = resource["values"]["definition"]
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan["planned_values"]["root_module"])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validator", required=True, help="the asl-validator executable")
    parser.add_argument(
        "--write-catalogue",
        action="store_true",
        help="write docs/state-machine.md's catalogue of states (else check it)",
    )
    args = parser.parse_args()

    server = http.server.HTTPServer(("127.0.0.1", 0), _ValidateOk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        WORK.mkdir(parents=True, exist_ok=True)
        (WORK / "main.tf").write_text(root_config(server.server_address[1]))
        terraform("fmt", "main.tf")  # `terraform fmt -check -recursive` in make lint sees build/
        terraform("init", "-backend=false", "-input=false")
        terraform("plan", "-refresh=false", "-lock=false", "-input=false", "-out=plan.tfplan")
        plan = json.loads(terraform("show", "-json", "plan.tfplan"))
    finally:
        server.shutdown()

    found = definitions(plan)
    expected = len(CONFIGS) + sum(1 for c in CONFIGS.values() if c.get("rejitter_enabled"))
    if len(found) != expected:
        raise SystemExit(f"expected {expected} state machine definitions, found {sorted(found)}")
    paths = []
    for name, text in sorted(found.items()):
        path = WORK / f"{name}.asl.json"
        path.write_text(text)
        paths.append(path)
    command = [args.validator]
    for path in paths:
        command += ["--json-path", str(path)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stdout.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        print(f"asl-validator refused a rendered definition (files in {WORK})", file=sys.stderr)
        return proc.returncode
    rendered = {path.name: path.read_text() for path in paths}
    problems = (
        catalogue_problems(rendered)
        + transition_problems(rendered)
        + repeated_body_problems(rendered)
        + task_problems(rendered)
    )
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    main_machines = [str(path) for path in paths if "-cleanup" not in path.name]
    written = ["--write"] if args.write_catalogue else []
    if state_catalogue.main([*written, *main_machines]) != 0:
        return 1
    # The execution history quota: the longest stretch between two measurements must fit.
    return history_budget.main([str(path) for path in paths])


def catalogue_problems(rendered: dict[str, str]) -> list[str]:
    """Every state of every main definition tags its phase; every phase is some state's."""
    problems = []
    for name, text in sorted(rendered.items()):
        if "-cleanup" in name:  # the cleanup machine is not an episode: status never reads it
            continue
        missing = untagged(text)
        if missing:
            problems.append(
                f"{name}: states without a phase tag in their Comment ([PHASE] or [shared]):"
                f" {', '.join(missing)}"
            )
        phases = catalogue(text)
        expected = set(PHASES) - (set() if "EnableRejitter" in phases else {"REJITTER"})
        unused = expected - set(phases.values())
        if unused:
            problems.append(f"{name}: no state has the phase {', '.join(sorted(unused))}")
    return problems


def transition_problems(rendered: dict[str, str]) -> list[str]:
    """With transition events, the close's event (LookAtAlarm's first look) names the state it
    closed from, $.closeReason.from: every state that writes a close reason must name it."""
    problems = []
    for name, text in sorted(rendered.items()):
        states = json.loads(text)["States"]
        look = states.get("LookAtAlarm", {}).get("Parameters", {}).get("Payload", {})
        if "transitionEvents" not in look:
            continue
        for state_name, state in sorted(states.items()):
            if state.get("ResultPath") != "$.closeReason":
                continue
            written = state.get("Result") or state.get("Parameters") or {}
            if not ({"from", "from.$"} & set(written)):
                problems.append(
                    f"{name}: {state_name} writes $.closeReason without `from`"
                    " (the close's event names the state it closed from)"
                )
    return problems


def repeated_body_problems(rendered: dict[str, str]) -> list[str]:
    """No two states of a definition do the same thing under two names: the same body (all but
    Comment and Next) written twice is one action copied, which drifts. Share the state and route
    with a Choice instead."""
    problems = []
    for name, text in sorted(rendered.items()):
        groups: dict[str, list[str]] = {}
        for state_name, state in json.loads(text)["States"].items():
            body = {k: v for k, v in state.items() if k not in ("Comment", "Next")}
            groups.setdefault(json.dumps(body, sort_keys=True), []).append(state_name)
        problems += [
            f"{name}: states with the same body (one action under several names): "
            + ", ".join(sorted(names))
            for names in groups.values()
            if len(names) > 1
        ]
    return sorted(problems)


def task_problems(rendered: dict[str, str]) -> list[str]:
    """Every Task has a timeout, retries and a catch: a task without a timeout can hang an episode
    for a year, one without a catch fails the execution with the circuit open, nobody told. The
    templates merge the first two from main.tf's task_defaults (`<<: ${sdk_call}`)."""
    return [
        f"{name}: the Task {state_name} has no {key}"
        for name, text in sorted(rendered.items())
        for state_name, state in sorted(json.loads(text)["States"].items())
        if state["Type"] == "Task"
        for key in ("TimeoutSeconds", "Retry", "Catch")
        if not state.get(key)
    ]


if __name__ == "__main__":
    sys.exit(main())
