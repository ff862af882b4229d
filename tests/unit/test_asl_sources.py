"""The state machines are written one way: templated ASL files, never states built in HCL."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import check_asl

MODULE = Path(__file__).resolve().parents[2] / "modules" / "state-machine"
# An ASL state written as an HCL object: `Type = "Task"` (or any other state type).
HCL_STATE = re.compile(
    r'^\s*"?Type"?\s*=\s*"(Task|Pass|Choice|Wait|Succeed|Fail|Parallel|Map)"', re.MULTILINE
)


def test_no_state_is_built_in_hcl():
    offenders = [
        f"{path.name}:{text[: match.start()].count(chr(10)) + 1}"
        for path in sorted(MODULE.glob("*.tf"))
        for text in [path.read_text()]
        for match in HCL_STATE.finditer(text)
    ]
    assert offenders == [], (
        f"ASL states built in HCL (write them in a .asl.yaml.tftpl): {offenders}"
    )


def test_every_template_is_rendered_by_the_module():
    hcl = "".join(path.read_text() for path in MODULE.glob("*.tf"))
    templates = sorted(path.name for path in MODULE.glob("*.asl.yaml.tftpl"))
    phases = ["close", "command", "episode", "failure", "open", "probe"]
    assert templates == sorted(
        ["cleanup.asl.yaml.tftpl", "events.asl.yaml.tftpl", "notifications.asl.yaml.tftpl"]
        + [f"{phase}.asl.yaml.tftpl" for phase in phases]
    )
    for name in ("cleanup", "events", "notifications"):
        assert f'templatefile("${{path.module}}/{name}.asl.yaml.tftpl"' in hcl, name
    listed = re.search(r"phase_files\s*=\s*\[([^]]*)\]", hcl)
    assert listed and sorted(re.findall(r'"(\w+)"', listed[1])) == phases
    assert 'templatefile("${path.module}/${f}.asl.yaml.tftpl"' in hcl


def test_each_phase_template_is_a_map_of_states_and_no_state_is_in_two():
    names: list[str] = []  # the main state machine's (cleanup.asl.yaml.tftpl is another machine)
    for path in sorted(set(MODULE.glob("*.asl.yaml.tftpl")) - {MODULE / "cleanup.asl.yaml.tftpl"}):
        # a phase template's top-level keys are its states (a YAML map at column 0)
        names += re.findall(r"^(\w+):$", path.read_text(), re.MULTILINE)
    assert {"RouteCommand", "Probe", "CloseCircuit", "StartSuccessor"} <= set(names)
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)


def test_the_check_sees_an_hcl_state(tmp_path: Path):
    assert HCL_STATE.search('  x = {\n    Type       = "Pass"\n  }\n')
    assert not HCL_STATE.search('  type = "STANDARD"\n')


def test_a_close_reason_without_its_from_state_is_a_problem_only_with_transition_events():
    def rendered(*states: dict) -> dict[str, str]:
        merged: dict = {}
        for state in states:
            merged.update(state)
        return {"x-this.asl.json": json.dumps({"States": merged})}

    announce = {
        "LookAtAlarm": {"Type": "Task", "Parameters": {"Payload": {"transitionEvents": {}}}}
    }
    named = {
        "MarkHealthy": {
            "Result": {"reason": "healthy", "from": "HALF-OPEN"},
            "ResultPath": "$.closeReason",
        }
    }
    by_path = {
        "ForceClose": {
            "Parameters": {"reason": "forced", "from.$": "$.commandFrom"},
            "ResultPath": "$.closeReason",
        }
    }
    unnamed = {"MarkEmpty": {"Result": {"reason": "empty"}, "ResultPath": "$.closeReason"}}
    assert check_asl.transition_problems(rendered(announce, named, by_path)) == []
    assert check_asl.transition_problems(rendered(named, unnamed)) == []
    assert check_asl.transition_problems(rendered(announce, named, unnamed)) == [
        "x-this.asl.json: MarkEmpty writes $.closeReason without `from`"
        " (the close's event names the state it closed from)"
    ]


def test_the_same_action_under_two_names_is_a_problem():
    disable = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:lambda:updateEventSourceMapping",
    }
    states = {
        "DisableMapping": {**disable, "Comment": "[OPENING] one", "Next": "A"},
        "HoldDisableMapping": {**disable, "Comment": "[OPENING] two", "Next": "B"},
        "Wait10": {"Type": "Wait", "Seconds": 10, "Next": "A"},
        "Wait20": {"Type": "Wait", "Seconds": 20, "Next": "A"},
    }
    problems = check_asl.repeated_body_problems({"x-this.asl.json": json.dumps({"States": states})})
    assert problems == [
        "x-this.asl.json: states with the same body (one action under several names):"
        " DisableMapping, HoldDisableMapping"
    ]
    del states["HoldDisableMapping"]
    assert check_asl.repeated_body_problems({"x": json.dumps({"States": states})}) == []


def test_every_task_has_a_timeout_retries_and_a_catch():
    task = {"Type": "Task", "TimeoutSeconds": 10, "Retry": [{}], "Catch": [{}], "End": True}
    states = {"A": task, "B": {**task, "TimeoutSeconds": None}, "C": {"Type": "Pass", "End": True}}
    states["D"] = {k: v for k, v in task.items() if k != "Catch"}
    assert check_asl.task_problems({"x": json.dumps({"States": states})}) == [
        "x: the Task B has no TimeoutSeconds",
        "x: the Task D has no Catch",
    ]


# A plain YAML 1.1 word that yamldecode reads as a boolean (`N: 1` is {"false": 1}).
YAML_BOOL = re.compile(r"(?:^|[\s\[{,])(y|n|yes|no|on|off)(?=:\s|:$|\s*[,}\]]|\s*$)", re.IGNORECASE)


def yaml_bool_words(text: str) -> list[str]:
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    return [m[1] for line in unquoted.splitlines() for m in YAML_BOOL.finditer(line.split(" #")[0])]


def test_no_template_has_a_plain_word_yaml_reads_as_a_boolean():
    for path in sorted(MODULE.glob("*.asl.yaml.tftpl")):
        assert yaml_bool_words(path.read_text()) == [], path.name
    assert yaml_bool_words('A:\n  N: 1\n  B: [x, off]\n  C: {d: Yes}\n  E: "no"\n  F: none') == [
        "N",
        "off",
        "Yes",
    ]


def merged_keys() -> dict[str, set[str]]:
    """The keys each of main.tf's task_defaults merges into a task (`<<: ${sdk_call}`), read
    from main.tf (`task_defaults = { sdk_call = { TimeoutSeconds = ..., Retry = ... }, ... }`)."""
    hcl = (MODULE / "main.tf").read_text()
    block = re.search(r"^  task_defaults = \{\n(.*?)^  \}$", hcl, re.MULTILINE | re.DOTALL)
    assert block, "task_defaults is missing from modules/state-machine/main.tf"
    return {
        name: set(re.findall(r"(\w+)\s*=", body))
        for name, body in re.findall(r"(\w+)\s*=\s*\{([^}]*)\}", block[1])
    }


MERGED_KEYS = merged_keys()


def merge_conflicts(text: str) -> list[str]:
    """A task that also writes a key its merge provides: which one wins depends on the order of
    the lines (Terraform's yamldecode lets the later one win; the YAML merge spec, the earlier),
    so the templates never do it."""
    lines = [line for line in text.splitlines() if not line.startswith("%{")]
    found = []
    for index, line in enumerate(lines):
        merge = re.fullmatch(r"( *)<<: \$\{(\w+)\}", line)
        if not merge:
            continue
        indent = merge[1]
        siblings = []
        for step in (-1, 1):
            other = index + step
            while 0 <= other < len(lines):
                depth = len(lines[other]) - len(lines[other].lstrip())
                if depth < len(indent):
                    break
                if depth == len(indent):
                    siblings.append(lines[other].strip().split(":", 1)[0])
                other += step
        found += sorted(MERGED_KEYS[merge[2]] & set(siblings))
    return found


def test_a_task_never_writes_a_key_its_defaults_merge():
    # read from main.tf (a key added there is checked without an edit here); every merge a
    # template names is one of them (else a KeyError below)
    assert len(MERGED_KEYS) >= 4
    assert all({"TimeoutSeconds", "Retry"} <= keys for keys in MERGED_KEYS.values())
    assert {"ResultPath", "OutputPath"} <= MERGED_KEYS["probe_call"]
    merges = 0
    for path in sorted(MODULE.glob("*.asl.yaml.tftpl")):
        text = path.read_text()
        merges += text.count("<<: ${")
        assert merge_conflicts(text) == [], path.name
    assert merges >= 25
    task = "A:\n  Type: Task\n  ResultPath: $\n  <<: ${probe_call}\n  Next: B\nB:\n  Retry: []\n"
    assert merge_conflicts(task) == ["ResultPath"]
    assert merge_conflicts(task.replace("probe_call", "sdk_call")) == []
