"""A Lambda execution environment as two local processes, speaking LocalStack's executor protocol.

Run by the `local-process` executor with the interpreter that matches the function's runtime
(python3.12 -> a 3.12), in the function's unzipped code folder. Stdlib only: it runs under
whatever interpreter the function needs, never LocalStack's.

    supervisor (this file, no args)             worker (this file, --worker)
    - serves POST /invoke (answers 202)         - imports the handler once (the "init")
    - posts status ready/error to LocalStack    - runs one invocation at a time
    - enforces the function timeout: kills      - its stdout/stderr are the function's logs
      the worker, reports Sandbox.Timedout,
      starts a fresh worker (a new init)
    - posts logs, then response or error

The worker writes results on its stdout pipe behind a per-process marker, after flushing the
handler's output, so the supervisor sees every log line of an invocation before its result.
Both processes exit when their parent dies (LocalStack killed hard must not leave handlers).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER_ENV = "_LSH_MARKER"


def _watch_parent(on_orphan) -> None:
    parent = os.getppid()

    def loop() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                on_orphan()

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


# ---- worker ---------------------------------------------------------------------------------


class LambdaContext:
    """The context object of the AWS Python runtime (the attributes handlers use)."""

    def __init__(self, request: dict, timeout_s: float) -> None:
        self.aws_request_id = request["invoke-id"]
        self.invoked_function_arn = request.get("invoked-function-arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException, error_type: str | None = None, skip: int = 0) -> dict:
    """An error response as the AWS runtime sends it; `skip` drops the runtime's own frames."""
    tb = exc.__traceback__
    for _ in range(skip):
        tb = tb.tb_next if tb and tb.tb_next else tb
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(tb),
    }


def _load_handler(spec: str):
    import importlib

    module_name, _, func_name = spec.rpartition(".")
    if not module_name or not func_name:
        raise ValueError(f"Bad handler '{spec}': expected module.function")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    handler = getattr(module, func_name, None)
    if handler is None:
        raise _InitError(
            "Runtime.HandlerNotFound", f"Handler '{func_name}' missing on module '{module_name}'"
        )
    return handler


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def worker() -> None:
    marker = os.environ.pop(MARKER_ENV).encode()
    requests = os.fdopen(os.dup(0), "r")
    proto = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    _watch_parent(lambda: os._exit(1))

    def send(message: dict) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(proto, marker + json.dumps(message).encode() + b"\n")

    sys.path.insert(0, os.getcwd())
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except _InitError as exc:
        traceback.print_exc()
        send({"type": "init_error", "error": _error(exc, exc.error_type)})
        return
    except Exception as exc:
        traceback.print_exc()
        send({"type": "init_error", "error": _error(exc, "Runtime.Unknown")})
        return
    send({"type": "ready"})

    timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    for line in requests:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace-id") or ""
        try:
            event = json.loads(request.get("payload") or "null")
            result = handler(event, LambdaContext(request, timeout_s))
            body = json.dumps(result)
        except Exception as exc:
            print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
            send({"type": "error", "error": _error(exc, skip=1)})
            continue
        send({"type": "response", "body": body})


# ---- supervisor -----------------------------------------------------------------------------


class Supervisor:
    def __init__(self) -> None:
        self.endpoint = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"].rstrip("/")
        self.runtime_id = os.environ["LOCALSTACK_RUNTIME_ID"]
        self.timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
        self.messages: queue.Queue[dict | None] = queue.Queue()
        self.logs: list[str] = []
        self.logs_lock = threading.Lock()
        self.worker: subprocess.Popen | None = None
        self.marker = b""
        self.busy = threading.Lock()

    # -- worker lifecycle
    def spawn(self) -> dict:
        """Start a worker and wait for its init to finish; returns the init message."""
        self.marker = b"\x1eLSH-" + secrets.token_hex(8).encode() + b":"
        env = dict(os.environ)
        env[MARKER_ENV] = self.marker.decode()
        self.messages = queue.Queue()
        self.worker = subprocess.Popen(
            [sys.executable, "-u", os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        threading.Thread(
            target=self._read, args=(self.worker, self.marker, self.messages), daemon=True
        ).start()
        message = self.messages.get()
        return message or {"type": "init_error", "error": {"errorMessage": "worker exited"}}

    def _read(self, proc: subprocess.Popen, marker: bytes, messages: queue.Queue) -> None:
        buf = b""
        while chunk := os.read(proc.stdout.fileno(), 65536):
            buf += chunk
            while True:
                at = buf.find(marker)
                if at < 0:
                    # keep a tail that could be the start of a marker
                    keep = len(marker) - 1
                    text, buf = (buf[:-keep], buf[-keep:]) if len(buf) > keep else (b"", buf)
                    self._log(text)
                    break
                end = buf.find(b"\n", at)
                if end < 0:
                    self._log(buf[:at])
                    buf = buf[at:]
                    break
                self._log(buf[:at])
                messages.put(json.loads(buf[at + len(marker) : end]))
                buf = buf[end + 1 :]
        self._log(buf)
        messages.put(None)

    def _log(self, data: bytes) -> None:
        if not data:
            return
        text = data.decode(errors="replace")
        with self.logs_lock:
            self.logs.append(text)
        sys.stdout.write(text)
        sys.stdout.flush()

    def kill_worker(self) -> None:
        if self.worker and self.worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, 9)
            self.worker.wait()

    # -- protocol
    def post(self, path: str, body: bytes | dict) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(
            self.endpoint + path,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    def start(self) -> None:
        init = self.spawn()
        if init["type"] == "ready":
            self.post(f"/status/{self.runtime_id}/ready", {})
        else:
            self.post(f"/status/{self.runtime_id}/error", init["error"])
            sys.exit(1)

    def invoke(self, request: dict) -> None:
        req_id = request["invoke-id"]
        with self.busy:
            with self.logs_lock:
                self.logs = [f"START RequestId: {req_id} Version: $LATEST\n"]
            started = time.monotonic()
            result = None
            if self.worker is None or self.worker.poll() is not None:
                init = self.spawn()
                if init["type"] != "ready":
                    result = {"type": "error", "error": init["error"]}
            if result is None:
                try:
                    self.worker.stdin.write(json.dumps(request).encode() + b"\n")
                    self.worker.stdin.flush()
                    result = self.messages.get(timeout=self.timeout_s)
                except queue.Empty:
                    self.kill_worker()
                    msg = (
                        f"RequestId: {req_id} Error: "
                        f"Task timed out after {self.timeout_s:.2f} seconds"
                    )
                    self._log(f"{msg}\n".encode())
                    result = {
                        "type": "error",
                        "error": {"errorType": "Sandbox.Timedout", "errorMessage": msg},
                    }
                except OSError as exc:
                    result = {"type": "error", "error": _error(exc, "Runtime.ExitError")}
                if result is None:  # the worker died mid-invocation (e.g. sys.exit, a crash)
                    code = self.worker.wait()
                    result = {
                        "type": "error",
                        "error": {
                            "errorType": "Runtime.ExitError",
                            "errorMessage": (
                                f"RequestId: {req_id} Error: "
                                f"Runtime exited with error: exit status {code}"
                            ),
                        },
                    }
            duration_ms = (time.monotonic() - started) * 1000
            self._log(
                f"END RequestId: {req_id}\nREPORT RequestId: {req_id}\t"
                f"Duration: {duration_ms:.2f} ms\n".encode()
            )
            with self.logs_lock:
                logs = "".join(self.logs)
            self.post(f"/invocations/{req_id}/logs", {"logs": logs})
            if result["type"] == "response":
                self.post(f"/invocations/{req_id}/response", result["body"].encode())
            else:
                self.post(f"/invocations/{req_id}/error", result["error"])


def supervise() -> None:
    sup = Supervisor()

    def orphaned() -> None:
        sup.kill_worker()
        os._exit(1)

    _watch_parent(orphaned)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/invoke":
                self.send_error(404)
                return
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            threading.Thread(target=sup.invoke, args=(request,), daemon=True).start()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["_LSH_PORT"])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sup.start()
    threading.Event().wait()


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker()
    else:
        supervise()
