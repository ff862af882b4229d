"""LocalStack runtime executor plugin that runs Python Lambda handlers as local processes.

Selected with LAMBDA_RUNTIME_EXECUTOR=local-process (plux namespace
`localstack.lambda.runtime_executor`). Each execution environment is one supervisor process
(runtime.py) started with the interpreter closest to the function's runtime, in the function's
unzipped code folder, with the function's environment variables, a private TMPDIR, and a boto3
tree standing in for the one the Lambda runtime provides. No state is shared between functions.
Non-Python runtimes fail the invoke with a clear error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)
from localstack.utils.net import get_free_tcp_port

from localstack_harness import pythons
from localstack_harness.recorder import register_function_credentials

LOG = logging.getLogger(__name__)
RUNTIME_SCRIPT = Path(__file__).with_name("runtime.py")
#: The oldest interpreter we accept in place of a missing exact match.
OLDEST = (3, 9)


def handler_site() -> str | None:
    home = os.environ.get("LOCALSTACK_HARNESS_HOME")
    site = Path(home) / "handler-site" if home else None
    return str(site) if site and site.is_dir() else None


def interpreter_for(runtime: str | None) -> str:
    """The interpreter for a Lambda runtime name such as 'python3.12'."""
    if not runtime or not runtime.startswith("python"):
        raise LambdaRuntimeException(
            f"The local-process executor runs Python runtimes only; this function's runtime is "
            f"{runtime or 'a container image'}. Use Docker-based LocalStack for other runtimes."
        )
    wanted = pythons.parse_minor(runtime)
    found = pythons.best_interpreter(wanted, minimum=OLDEST)
    if not found:
        raise LambdaRuntimeException(
            f"No Python interpreter found for runtime {runtime} (looked for {runtime} and nearby "
            "versions on PATH and in pyenv). Install one, e.g. `pyenv install 3.12`."
        )
    if not Path(found).name.endswith(f"{wanted[0]}.{wanted[1]}"):
        LOG.warning("runtime %s: no exact interpreter, using %s", runtime, found)
    return found


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.executor_endpoint = ExecutorEndpoint(self.id)
        self.process: subprocess.Popen | None = None
        self.workdir: Path | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        python = interpreter_for(self.function_version.config.runtime)
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        self.workdir = Path(tempfile.mkdtemp(prefix=f"lambda-{self.id}-"))
        tmp = self.workdir / "tmp"
        tmp.mkdir()
        port = get_free_tcp_port()

        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
        env.update({str(k): str(v) for k, v in env_vars.items()})
        register_function_credentials(
            env_vars.get("AWS_ACCESS_KEY_ID"), env_vars.get("AWS_LAMBDA_FUNCTION_NAME")
        )
        # Lambda's sys.path: the task root first, then the runtime's boto3 (/var/runtime).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (code_dir, handler_site()) if p)
        env["LAMBDA_TASK_ROOT"] = code_dir
        env["TMPDIR"] = str(tmp)
        env["_LSH_PORT"] = str(port)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONHOME", None)

        self.executor_endpoint.start()
        self.executor_endpoint.container_address = "127.0.0.1"
        self.executor_endpoint.container_port = port
        log = (self.workdir / "runtime.log").open("wb")
        LOG.debug(
            "starting %s for %s with %s", self.id, self.function_version.qualified_arn, python
        )
        self.process = subprocess.Popen(
            [python, "-u", str(RUNTIME_SCRIPT)],
            cwd=code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        threading.Thread(target=self._watch, name=f"watch-{self.id}", daemon=True).start()
        self.executor_endpoint.wait_for_startup()

    def _watch(self) -> None:
        """Fail a pending start-up when the runtime process dies before saying ready."""
        proc = self.process
        code = proc.wait()
        future = self.executor_endpoint.startup_future
        if future is not None and not future.done():
            with contextlib.suppress(Exception):
                future.set_exception(
                    StatusErrorException(
                        f"runtime process exited with {code} during start-up", payload=b""
                    )
                )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.executor_endpoint.shutdown()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return (
            f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}"
            f"{self.executor_endpoint.get_endpoint_prefix()}"
        )

    def invoke(self, payload: dict[str, str]):
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        try:
            return (self.workdir / "runtime.log").read_text(errors="replace")
        except (OSError, TypeError):
            return ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True


class LocalProcessExecutorPlugin(RuntimeExecutorPlugin):
    name = "local-process"

    def load(self, *args, **kwargs):
        return LocalProcessRuntimeExecutor
