"""Install, start, stop and inspect a Docker-free LocalStack on this host. Stdlib only.

    python -m localstack_harness.ctl install|up|down|status|logs [--follow]

Everything lives under $LOCALSTACK_HARNESS_HOME (default: build/localstack in the repository):
the runtime's venv, a boto3 tree for Lambda handlers, LocalStack's private temp and volume
folders, its log and its pid file. When LOCALSTACK_ENDPOINT (or AWS_ENDPOINT_URL) is set, the
harness starts nothing and the tests use that endpoint (your own LocalStack, any edition).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from localstack_harness import pythons

LOCALSTACK_VERSION = "2026.3.0"
#: boto3 that Lambda handlers see (the Lambda runtime ships one too); same as LocalStack's pin.
HANDLER_BOTO3 = ("boto3==1.42.72", "botocore==1.42.72")
REPO_ROOT = Path(__file__).resolve().parents[3]
HARNESS_DIR = Path(__file__).resolve().parents[1]
# The IAM policy evaluator (iam.py): an npm package run as a separate process (AGPL: a test tool,
# in its own folder, never shipped).
EVALUATOR_SOURCE = REPO_ROOT / "tests" / "iam" / "evaluator"
START_TIMEOUT = float(os.environ.get("LOCALSTACK_START_TIMEOUT", "120"))


class HarnessError(RuntimeError):
    """Something the harness cannot do; the message says what is missing."""


@dataclass(frozen=True)
class Paths:
    home: Path
    # "" on the default port; "-<port>" on another, so that two emulators on one machine (a
    # local run beside CI's) never share a temp folder (LocalStack empties its own on shutdown),
    # a log or a pid file
    instance: str = ""

    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def marker(self) -> Path:
        return self.venv / ".harness-installed"

    @property
    def evaluator(self) -> Path:
        return self.home / "iam-evaluator"

    @property
    def handler_site(self) -> Path:
        return self.home / "handler-site"

    @property
    def tmp(self) -> Path:
        return self.home / f"state{self.instance}" / "tmp"

    @property
    def volume(self) -> Path:
        return self.home / f"state{self.instance}" / "volume"

    @property
    def log(self) -> Path:
        return self.home / f"localstack{self.instance}.log"

    @property
    def pidfile(self) -> Path:
        return self.home / f"localstack{self.instance}.pid"


def paths() -> Paths:
    home = os.environ.get("LOCALSTACK_HARNESS_HOME") or str(REPO_ROOT / "build" / "localstack")
    number = port()
    return Paths(Path(home).resolve(), "" if number == DEFAULT_PORT else f"-{number}")


DEFAULT_PORT = 4566


def port() -> int:
    """LOCALSTACK_PORT, else the port of LOCALSTACK_ENDPOINT on this machine, else 4566."""
    if os.environ.get("LOCALSTACK_PORT"):
        return int(os.environ["LOCALSTACK_PORT"])
    found = re.match(r"https?://(?:127\.0\.0\.1|localhost):(\d+)/?$", external_endpoint() or "")
    return int(found.group(1)) if found else DEFAULT_PORT


def external_endpoint() -> str | None:
    """The user's own LocalStack, when they point us at one."""
    return os.environ.get("LOCALSTACK_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or None


def endpoint() -> str:
    return external_endpoint() or f"http://127.0.0.1:{port()}"


def log(msg: str) -> None:
    print(f">> {msg}", file=sys.stderr, flush=True)


# ---- install --------------------------------------------------------------------------------


def _run(cmd: list[str], **kw) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise HarnessError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def _fingerprint() -> str:
    parts = [
        LOCALSTACK_VERSION,
        *HANDLER_BOTO3,
        (HARNESS_DIR / "pyproject.toml").read_text(),
        (EVALUATOR_SOURCE / "package-lock.json").read_text(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def runtime_python() -> str:
    """LocalStack 2026.3 needs Python >= 3.12; its lock file was compiled with 3.13."""
    for version in ((3, 13), (3, 12)):
        if found := pythons.interpreter(version):
            return found
    raise HarnessError(
        f"LocalStack {LOCALSTACK_VERSION} needs a Python >= 3.12 and none was found "
        "(looked on PATH and in pyenv's versions). Install one (e.g. `pyenv install 3.12`), "
        "or run your own LocalStack and set LOCALSTACK_ENDPOINT=http://host:port."
    )


def _lock_file(p: Paths) -> Path:
    """LocalStack's own runtime lock file, as shipped in its source distribution.

    Unpinned installs of localstack-core break (cbor2 6, pyOpenSSL 26 and others), so we install
    with exactly the pins of its `requirements-runtime.txt` at this release.
    """
    dl = p.home / "download"
    lock = dl / f"requirements-runtime-{LOCALSTACK_VERSION}.txt"
    if lock.is_file():
        return lock
    dl.mkdir(parents=True, exist_ok=True)
    _run(
        [
            str(p.python),
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(dl),
            f"localstack-core=={LOCALSTACK_VERSION}",
        ]
    )
    sdists = sorted(dl.glob(f"localstack_core-{LOCALSTACK_VERSION}.tar.gz"))
    if not sdists:
        raise HarnessError(f"pip did not download the localstack-core {LOCALSTACK_VERSION} sdist")
    with tarfile.open(sdists[0]) as tar:
        member = next(
            (m for m in tar.getmembers() if m.name.endswith("/requirements-runtime.txt")), None
        )
        if member is None:
            raise HarnessError("requirements-runtime.txt is missing from the localstack sdist")
        data = tar.extractfile(member).read()
    lock.write_bytes(data)
    return lock


def install(force: bool = False) -> Paths:
    """Build the LocalStack venv once; later calls return at once (idempotent)."""
    p = paths()
    if not force and p.marker.is_file() and p.marker.read_text().strip() == _fingerprint():
        return p
    python = runtime_python()
    started = time.monotonic()
    log(f"installing LocalStack {LOCALSTACK_VERSION} into {p.venv} (with {python})")
    p.home.mkdir(parents=True, exist_ok=True)
    if not p.python.exists():
        _run([python, "-m", "venv", str(p.venv)])
    pip = [str(p.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    lock = _lock_file(p)
    _run([*pip, "-c", str(lock), f"localstack-core[runtime]=={LOCALSTACK_VERSION}"])
    _run([*pip, "--no-deps", "-e", str(HARNESS_DIR)])
    _run([*pip, "--target", str(p.handler_site), "--upgrade", *HANDLER_BOTO3])
    install_evaluator(p)
    p.marker.write_text(_fingerprint() + "\n")
    log(f"LocalStack installed in {time.monotonic() - started:.0f} s")
    return p


def install_evaluator(p: Paths) -> None:
    """The IAM evaluator's pinned npm packages (npm ci from tests/iam/evaluator's lock file)."""
    if not shutil.which("npm") or not shutil.which("node"):
        if os.environ.get("IAM_ENFORCE", "").strip().lower() == "off":
            log("node/npm not found: the IAM evaluator is not installed (IAM_ENFORCE=off)")
            return
        raise HarnessError(
            "the IAM enforcement needs node and npm on PATH (its evaluator is an npm package);"
            " set IAM_ENFORCE=off to run without it"
        )
    p.evaluator.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(EVALUATOR_SOURCE / name, p.evaluator / name)
    _run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=p.evaluator)


def iam_settings(p: Paths) -> dict[str, str]:
    """The IAM enforcement's settings for LocalStack's process: IAM_ENFORCE (strict, report or
    off; strict by default) and the evaluator script, copied next to its packages."""
    mode = os.environ.get("IAM_ENFORCE", "strict").strip().lower() or "strict"
    if mode not in ("strict", "report", "off"):
        raise HarnessError(f"IAM_ENFORCE must be strict, report or off, not {mode!r}")
    settings = {"HARNESS_IAM_ENFORCE": mode}
    if mode != "off":
        script = p.evaluator / "evaluate.mjs"
        shutil.copy2(EVALUATOR_SOURCE / "evaluate.mjs", script)
        settings["HARNESS_IAM_EVALUATOR"] = str(script)
    return settings


# ---- run ------------------------------------------------------------------------------------


def health(url: str | None = None, timeout: float = 2.0) -> dict | None:
    url = (url or endpoint()).rstrip("/") + "/_localstack/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _pid(p: Paths) -> int | None:
    try:
        pid = int(p.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def runtime_env(p: Paths) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port()}",
            "LAMBDA_RUNTIME_EXECUTOR": "local-process",
            "LOCALSTACK_HARNESS_HOME": str(p.home),
            # LocalStack believes it runs in a container and shares a temp folder otherwise.
            "TMPDIR": str(p.tmp),
            "LOCALSTACK_VOLUME_DIR": str(p.volume),
            "DISABLE_EVENTS": "1",  # analytics: shutdown hangs on an unreachable host
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DNS_ADDRESS": "0",
            "PERSISTENCE": "0",
            # DynamoDB served by moto (dynamodb.py): DynamoDB Local is a download we cannot make.
            "PROVIDER_OVERRIDE_DYNAMODB": "harness",
            "LS_LOG": os.environ.get("LS_LOG", "info"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(iam_settings(p))
    return env


def up() -> str:
    """Start LocalStack unless one answers already; return its endpoint."""
    if ext := external_endpoint():
        if not health(ext):
            raise HarnessError(f"LOCALSTACK_ENDPOINT={ext} does not answer /_localstack/health")
        log(f"using your LocalStack at {ext}")
        return ext
    url = endpoint()
    if health(url):
        log(f"LocalStack already answers at {url}")
        return url
    p = install()
    for folder in (p.tmp, p.volume):
        folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"starting LocalStack on {url} (log: {p.log})")
    with p.log.open("ab") as out:
        proc = subprocess.Popen(
            [str(p.python), "-m", "localstack.runtime.main"],
            cwd=p.home,
            env=runtime_env(p),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    p.pidfile.write_text(f"{proc.pid}\n")
    while time.monotonic() - started < START_TIMEOUT:
        if proc.poll() is not None:
            raise HarnessError(f"LocalStack exited with {proc.returncode}; see {p.log}")
        if health(url):
            log(f"LocalStack healthy after {time.monotonic() - started:.1f} s")
            return url
        time.sleep(0.25)
    down()
    raise HarnessError(f"LocalStack not healthy after {START_TIMEOUT:.0f} s; see {p.log}")


def down(timeout: float = 10.0) -> bool:
    """Stop the LocalStack that `up` started (and its handler processes). True if one ran.

    SIGTERM first; LocalStack's "Stopping all services" sometimes never finishes (seen after a
    test deletes a function while its mapping is still Deleting), so the whole process group gets
    SIGKILL after `timeout` seconds. Nothing is persisted (PERSISTENCE=0), so nothing is lost."""
    p = paths()
    pid = _pid(p)
    if pid is None:
        p.pidfile.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid(p) is not None:
        time.sleep(0.2)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    if _pid(p) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    p.pidfile.unlink(missing_ok=True)
    log("LocalStack stopped")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localstack_harness.ctl", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install").add_argument("--force", action="store_true")
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("logs").add_argument("--follow", "-f", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "install":
            install(force=args.force)
        elif args.cmd == "up":
            print(up())
        elif args.cmd == "down":
            if not down():
                log("no LocalStack started by this harness is running")
        elif args.cmd == "status":
            state = health()
            print(json.dumps({"endpoint": endpoint(), "healthy": bool(state)}, indent=2))
            return 0 if state else 1
        elif args.cmd == "logs":
            logfile = paths().log
            if not logfile.exists():
                log(f"no log yet at {logfile}")
                return 1
            cmd = ["tail", "-n", "200", *(["-f"] if args.follow else []), str(logfile)]
            return subprocess.call(cmd)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
