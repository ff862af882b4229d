"""Integration fixtures: one emulator per session, clients bound to it, unique names, cleanup.

The emulator is the Docker-free LocalStack of tests/harness (started here, stopped at the end
if this session started it), or your own: set LOCALSTACK_ENDPOINT (or AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from localstack_harness import ctl
from support import client

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
