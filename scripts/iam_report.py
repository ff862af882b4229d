#!/usr/bin/env python3
"""Least privilege, measured: what each of the module's roles used in the tests, and what it is
granted that no test exercised (`make iam-report`).

`make test-integration` ends by saving the harness's IAM decisions (every allowed call, by
principal, action and resource; every denial; the policies of every role) to
build/iam/decisions.json. This script groups the module's roles by kind (state machine, cleanup,
probe, rejitter, EventBridge), matches every granted (action, resource) of their policies against
the calls they made, and writes:

- build/iam/report.md: per role, the actions and resources it used, and every grant no test used;
- docs/iam-usage.json: the summary docs/iam.md's table is generated from (`make docs`).

    python scripts/iam_report.py [--decisions build/iam/decisions.json]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DECISIONS = ROOT / "build" / "iam" / "decisions.json"
REPORT = ROOT / "build" / "iam" / "report.md"
SUMMARY = ROOT / "docs" / "iam-usage.json"

# The module's roles by the suffix of their default names (locals.tf: names).
KINDS = {
    "-cb-sfn": "state machine",
    "-cb-cleanup": "cleanup state machine",
    "-cb-probe": "probe",
    "-cb-rejitter": "rejitter",
    "-cb-events": "EventBridge",
}


def kind_of(role: str) -> str | None:
    for suffix, kind in KINDS.items():
        if role.endswith(suffix):
            return kind
    return None


def role_of(principal: str) -> str | None:
    if ":assumed-role/" in principal:
        return principal.split(":assumed-role/", 1)[1].split("/", 1)[0]
    return None


def statements(document: dict) -> list[dict]:
    found = document.get("Statement") or []
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def matches(pattern: str, value: str) -> bool:
    """IAM's wildcard match (* and ?), case-sensitive for resources, insensitive for actions."""
    return fnmatch.fnmatchcase(value, pattern)


def analyse(decisions: dict) -> dict[str, dict]:
    """Per role kind: grants [{sid, actions, resources, used_actions, unused_actions,
    unused_resources}], used [(action, resource)], circuits."""
    used: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in decisions.get("usage", []):
        role = role_of(row["principal"])
        if role and kind_of(role):
            used[kind_of(role)].add((row["action"], row["resource"]))
    kinds: dict[str, dict] = {}
    for role, data in sorted((decisions.get("roles") or {}).items()):
        kind = kind_of(role)
        if kind is None:
            continue
        entry = kinds.setdefault(kind, {"roles": [], "grants": {}})
        entry["roles"].append(role)
        for document in data.get("identity") or []:
            for st in statements(document):
                if st.get("Effect") != "Allow":
                    continue
                sid = st.get("Sid") or "(no Sid)"
                grant = entry["grants"].setdefault(sid, {"actions": set(), "resources": set()})
                grant["actions"].update(as_list(st.get("Action")))
                # resources differ per circuit: compare by shape, with the circuit's name masked
                grant["resources"].update(as_list(st.get("Resource")))
    result: dict[str, dict] = {}
    for kind, entry in kinds.items():
        calls = used.get(kind, set())
        grants = []
        for sid, grant in sorted(entry["grants"].items()):
            used_actions = sorted(
                a for a in grant["actions"] if any(matches(a.lower(), c.lower()) for c, _ in calls)
            )
            unused_actions = sorted(set(grant["actions"]) - set(used_actions))
            unused_resources = sorted(
                r
                for r in grant["resources"]
                if not any(
                    matches(r, resource)
                    for action, resource in calls
                    if any(matches(a.lower(), action.lower()) for a in grant["actions"])
                )
            )
            grants.append(
                {
                    "sid": sid,
                    "actions": sorted(grant["actions"]),
                    "used_actions": used_actions,
                    "unused_actions": unused_actions,
                    "resources_seen": len(grant["resources"]),
                    "unused_resources": unused_resources,
                }
            )
        result[kind] = {
            "roles": entry["roles"],
            "grants": grants,
            "used": sorted({a for a, _ in calls}),
            "calls": sorted(calls),
        }
    return result


def markdown(analysis: dict[str, dict], denials: list[dict]) -> str:
    lines = [
        "# IAM: least privilege, measured",
        "",
        "From the harness's IAM enforcement during `make test-integration`"
        " (build/iam/decisions.json). A grant is *used* when a call the tests made was allowed by"
        " it (its action, on a resource it names).",
        "",
        f"Denied calls: {len(denials)}.",
        "",
    ]
    for kind, data in sorted(analysis.items()):
        lines += [f"## {kind}", "", f"Roles seen: {', '.join(data['roles'])}.", ""]
        lines += ["| statement | actions | used | granted, never used |", "|---|---|---|---|"]
        for g in data["grants"]:
            unused = [f"`{a}`" for a in g["unused_actions"]]
            unused += [f"resource `{r}`" for r in g["unused_resources"] if g["used_actions"]]
            lines.append(
                f"| {g['sid']} | {', '.join(f'`{a}`' for a in g['actions'])} |"
                f" {', '.join(f'`{a}`' for a in g['used_actions']) or '-'} |"
                f" {', '.join(unused) or '-'} |"
            )
        lines += ["", "Calls (action, resource):", ""]
        lines += [f"- `{a}` on `{r}`" for a, r in data["calls"]]
        lines.append("")
    return "\n".join(lines)


def summary(analysis: dict[str, dict]) -> dict:
    """What docs/iam.md's table shows: per role kind, per statement, used or not."""
    return {
        kind: [
            {
                "sid": g["sid"],
                "used": g["used_actions"],
                "unused": g["unused_actions"],
            }
            for g in data["grants"]
        ]
        for kind, data in sorted(analysis.items())
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=Path, default=DECISIONS)
    args = parser.parse_args()
    if not args.decisions.exists():
        print(f"{args.decisions} is missing: run make test-integration first", file=sys.stderr)
        return 1
    decisions = json.loads(args.decisions.read_text())
    # the other runs' decisions (make test-history: build/iam/decisions-history.json)
    for other in sorted(args.decisions.parent.glob("decisions-*.json")):
        extra = json.loads(other.read_text())
        decisions["usage"] = decisions.get("usage", []) + extra.get("usage", [])
        decisions["denials"] = decisions.get("denials", []) + extra.get("denials", [])
        decisions["roles"] = {**extra.get("roles", {}), **decisions.get("roles", {})}
    analysis = analyse(decisions)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(markdown(analysis, decisions.get("denials", [])))
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(summary(analysis), indent=2, sort_keys=True) + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)} and {SUMMARY.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
