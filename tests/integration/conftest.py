"""Integration fixtures: one emulator per session, clients bound to it, unique names, cleanup.

The emulator is the Docker-free LocalStack of tests/harness (started here, stopped at the end
if this session started it), or your own: set LOCALSTACK_ENDPOINT (or AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from localstack_harness import ctl
from support import (
    acknowledge_iam_denials,
    client,
    describe_denial,
    iam_decisions,
    save_iam_decisions,
)

OWNERSHIP: dict[str, bool] = {}


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    already_up = ctl.external_endpoint() is not None or ctl.health() is not None
    OWNERSHIP["ours"] = not already_up
    try:
        url = ctl.up()
    except ctl.HarnessError as exc:
        pytest.fail(f"no LocalStack: {exc}", pytrace=False)
    yield url
    if not already_up:
        ctl.down()


@pytest.fixture(scope="session")
def emulator_is_ours(endpoint: str) -> bool:
    """True when this session started the emulator (and stops it at the end, with every stack
    in it: the stacks are then forgotten, not destroyed one resource at a time), or when the
    runner that started it says it is disposable (scripts/run_integration.py, whose two pytest
    processes share it: LOCALSTACK_DISPOSABLE=1)."""
    return OWNERSHIP.get("ours", False) or os.environ.get("LOCALSTACK_DISPOSABLE") == "1"


@pytest.fixture(scope="session")
def aws(endpoint: str) -> Callable:
    """aws("sqs") -> a boto3 client bound to the emulator (cached per service)."""
    cache: dict[str, object] = {}

    def make(service: str):
        if service not in cache:
            cache[service] = client(service, endpoint)
        return cache[service]

    return make


@pytest.fixture
def name() -> str:
    """A resource name unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup() -> Iterator[Callable[[Callable[[], object]], None]]:
    """Register teardown actions; they run in reverse order (mappings before functions)."""
    actions: list[Callable[[], object]] = []
    yield actions.append
    for action in reversed(actions):
        with contextlib.suppress(Exception):
            action()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Remember whose resources the test uses (its unique `name`, its stack's prefix): IAM
    denials that name them are the test's (the two integration processes share one emulator)."""
    owners = set()
    for value in item.funcargs.values():
        if isinstance(value, str) and value.startswith("t") and len(value) == 11:
            owners.add(value)  # the `name` fixture: t + 10 hex digits
        elif isinstance(getattr(value, "iam_owner", None), str):
            owners.add(value.iam_owner)
    item.iam_owners = owners
    yield


def owned_by(denial: dict, owners: set[str]) -> bool:
    components = re.split(r"[:/]", f"{denial.get('principal', '')}/{denial.get('resource', '')}")
    return any(c.startswith(owner) for c in components for owner in owners)


@pytest.fixture(autouse=True)
def iam_enforced(request, endpoint: str) -> Iterator[None]:
    """Every test runs under the harness's IAM enforcement (tests/harness iam.py): a call that
    AWS would deny fails the test that made it, with the principal, the action, the resource, the
    conditions and the policy that denied it (IAM_ENFORCE=report only prints them). A denial that
    names none of the test's resources is left to the test that owns it; one that nobody claims
    fails the run (scripts/run_integration.py)."""
    before = iam_decisions(endpoint)
    yield
    after = iam_decisions(endpoint, after=before.get("seq", 0))
    owners = getattr(request.node, "iam_owners", set())
    denials = [
        d for d in after.get("denials", []) if owned_by(d, owners) and not d.get("acknowledged")
    ]
    if not denials:
        return
    acknowledge_iam_denials(endpoint, [d["seq"] for d in denials])
    if request.node.get_closest_marker("iam_denials_expected"):
        return  # such a test asserts the denials it provokes itself
    text = "\n".join(describe_denial(d) for d in denials[:20])
    more = f"\n... and {len(denials) - 20} more" if len(denials) > 20 else ""
    if after.get("mode") == "strict":
        pytest.fail(f"IAM denied {len(denials)} call(s) during this test:\n{text}{more}")
    print(f"\nIAM (report mode) would deny {len(denials)} call(s):\n{text}{more}")


@pytest.fixture(scope="session", autouse=True)
def iam_decisions_file(endpoint: str) -> Iterator[None]:
    """With IAM_DECISIONS=<path> (make test-history), the session's IAM decisions are saved there
    at its end, for the least-privilege report (scripts/iam_report.py reads every
    build/iam/decisions*.json)."""
    yield
    path = os.environ.get("IAM_DECISIONS")
    if path:
        save_iam_decisions(endpoint, Path(path))
