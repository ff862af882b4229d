"""The examples' protected function (examples/complete/src/handler.py): the switches the demo and
the end-to-end tests use to break it (SHOULD_ERROR, REPORT_ALL_FAILED, DELAY_MS)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

HANDLER = Path(__file__).resolve().parents[2] / "examples" / "complete" / "src" / "handler.py"


@pytest.fixture
def handler(monkeypatch):
    for name in ("SHOULD_ERROR", "REPORT_ALL_FAILED", "DELAY_MS", "PROCESSED_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("METRIC_NAMESPACE", raising=False)
    spec = importlib.util.spec_from_file_location("example_handler", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def event(*bodies: str) -> dict:
    return {"Records": [{"messageId": f"id-{i}", "body": b} for i, b in enumerate(bodies)]}


CONTEXT = SimpleNamespace(function_name="protected")


def test_a_healthy_function_fails_only_poison_messages(handler):
    assert handler.handler(event("ok", "poison-1"), CONTEXT) == {
        "batchItemFailures": [{"itemIdentifier": "id-1"}]
    }


def test_report_all_failed_fails_every_record_and_returns_normally(handler, monkeypatch):
    monkeypatch.setenv("REPORT_ALL_FAILED", "true")
    assert handler.handler(event("a", "b"), CONTEXT) == {
        "batchItemFailures": [{"itemIdentifier": "id-0"}, {"itemIdentifier": "id-1"}]
    }


def test_should_error_raises(handler, monkeypatch):
    monkeypatch.setenv("SHOULD_ERROR", "true")
    with pytest.raises(RuntimeError, match="SHOULD_ERROR"):
        handler.handler(event("a"), CONTEXT)


def test_delay_ms_slows_every_call(handler, monkeypatch):
    monkeypatch.setenv("DELAY_MS", "60")
    started = time.monotonic()
    assert handler.handler(event("a"), CONTEXT) == {"batchItemFailures": []}
    assert time.monotonic() - started >= 0.06
