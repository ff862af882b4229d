#!/usr/bin/env python3
"""`make test-integration`: the integration layer in two pytest processes on one emulator.

The end-to-end suite on examples/complete (tests/integration/test_e2e_complete.py) takes most of
the layer's time and spends it waiting (alarm periods, backoff, watches), so the other files
(the harness's fidelity tests and the examples' e2e) run next to it, in a second process, against
the same emulator: every test there uses resources of its own (unique names, separate stacks).
Their report is printed after the e2e suite's; the exit status fails if either fails.

The emulator is started here (and stopped at the end) unless one answers already or
LOCALSTACK_ENDPOINT / AWS_ENDPOINT_URL names yours. A started one is disposable
(LOCALSTACK_DISPOSABLE=1): the tests forget their stacks instead of destroying them.
INTEGRATION_PARALLEL=0 runs everything in one process, in order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from localstack_harness import ctl  # tests/harness, installed in the dev venv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from support import describe_denial, save_iam_decisions  # the integration tests' helpers

ROOT = Path(__file__).resolve().parents[1]
TESTS = "tests/integration"
E2E = f"{TESTS}/test_e2e_complete.py"
# `make test-history` (about 12 minutes): an episode longer than one execution's history.
HISTORY = f"{TESTS}/test_e2e_history.py"
REST_LOG = ROOT / "build" / "integration-rest.log"
NO_TESTS = 5  # pytest's exit status when nothing was collected
DECISIONS = ROOT / "build" / "iam" / "decisions.json"


def pytest(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=ROOT, **kwargs)


def status(code: int) -> int:
    return 0 if code == NO_TESTS else code


def check_iam_decisions(endpoint: str) -> bool:
    """The harness's IAM decisions of the whole run (scripts/iam_report.py reads them)."""
    try:
        decisions = save_iam_decisions(endpoint, DECISIONS)
    except (OSError, ValueError) as exc:
        print(f"IAM decisions not saved: {exc}", file=sys.stderr)
        return True
    denied = decisions.get("denials", [])
    unclaimed = [d for d in denied if not d.get("acknowledged")]
    print(
        f"---- IAM ({decisions.get('mode')}): {decisions.get('checked')} checks,"
        f" {len(denied)} denied, {len(unclaimed)} claimed by no test;"
        f" decisions in {DECISIONS.relative_to(ROOT)} ----"
    )
    for denial in unclaimed[:20]:
        print(describe_denial(denial))
    return not unclaimed or decisions.get("mode") != "strict"


def main() -> int:
    started_here = ctl.external_endpoint() is None and ctl.health(ctl.endpoint()) is None
    try:
        endpoint = ctl.up()
    except ctl.HarnessError as exc:
        print(f"no LocalStack: {exc}", file=sys.stderr)
        return 1
    if started_here:
        os.environ["LOCALSTACK_DISPOSABLE"] = "1"
    os.environ.setdefault("LOCALSTACK_ENDPOINT", endpoint)
    try:
        tests = run_tests()
    finally:
        iam_ok = check_iam_decisions(endpoint)
        if started_here:
            ctl.down()
    return tests or (0 if iam_ok else 1)


def run_tests() -> int:
    began = time.monotonic()
    if os.environ.get("INTEGRATION_PARALLEL", "1") == "0":
        return status(pytest(TESTS, f"--ignore={HISTORY}", "--durations=12").wait())
    REST_LOG.parent.mkdir(parents=True, exist_ok=True)
    with REST_LOG.open("w") as log:
        rest = pytest(
            TESTS,
            f"--ignore={E2E}",
            f"--ignore={HISTORY}",
            "--durations=8",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            e2e = status(pytest(E2E, "--durations=10").wait())
        except BaseException:  # Ctrl-C: stop the other process too
            rest.terminate()
            raise
        others = status(rest.wait())
    print(f"\n---- the other integration tests (in parallel; log: {REST_LOG}) ----")
    print(REST_LOG.read_text(), end="")
    print(
        f"---- integration: e2e suite exit {e2e}, the others exit {others},"
        f" {time.monotonic() - began:.0f} s ----"
    )
    return e2e or others


if __name__ == "__main__":
    sys.exit(main())
