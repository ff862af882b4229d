"""Apply an example (a plain Terraform root) against the emulator.

The example is copied into build/e2e/<stack>/ with its module source pointed back at this
repository, so the example folder stays clean and every stack has its own state. Plain `terraform`
talks to the emulator through the standard AWS_ENDPOINT_URL (honoured by the AWS provider >= 5)
and dummy credentials; no example file names LocalStack, and no wrapper (tflocal) is needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "build" / "e2e"


class TerraformError(RuntimeError):
    def __init__(self, command: list[str], output: str) -> None:
        super().__init__(f"{' '.join(command[:2])} failed:\n{output[-4000:]}")
        self.output = output


def _terraform() -> str:
    return shutil.which("terraform") or "terraform"


class Stack:
    def __init__(self, example: str, stack: str, endpoint: str) -> None:
        self.example = REPO / "examples" / example
        self.dir = WORK / stack
        self.endpoint = endpoint
        self.initialised = False

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_DEFAULT_REGION": "us-east-1",
                # no instance-metadata credential lookups (the provider's skip_metadata_api_check)
                "AWS_EC2_METADATA_DISABLED": "true",
                "TF_IN_AUTOMATION": "1",
                "CHECKPOINT_DISABLE": "1",
            }
        )
        cache = REPO / "build" / "terraform-plugin-cache"
        cache.mkdir(parents=True, exist_ok=True)
        env.setdefault("TF_PLUGIN_CACHE_DIR", str(cache))
        rc = REPO / "build" / "terraformrc"
        if "TF_CLI_CONFIG_FILE" not in os.environ or not Path(env["TF_CLI_CONFIG_FILE"]).exists():
            subprocess.run(
                [str(REPO / "scripts" / "terraformrc"), str(rc)], check=True, capture_output=True
            )
            if rc.exists():
                env["TF_CLI_CONFIG_FILE"] = str(rc)
        return env

    def copy(self) -> None:
        """Copy the example (fresh .tf files, keep .terraform and state)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.tf"):
            old.unlink()
        for item in self.example.iterdir():
            if item.suffix == ".tf":
                text = item.read_text()
                text = re.sub(r'source\s*=\s*"\.\./\.\."', f'source = "{REPO}"', text)
                (self.dir / item.name).write_text(text)
            elif item.is_dir() and item.name in ("dist", "src"):
                shutil.copytree(item, self.dir / item.name, dirs_exist_ok=True)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [_terraform(), *args]
        proc = subprocess.run(
            command, cwd=self.dir, env=self._env(), capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise TerraformError(command, proc.stdout + proc.stderr)
        return proc

    def _prepare(self, variables: dict) -> None:
        """Fresh copy of the example with these variables; `terraform init` the first time."""
        self.copy()
        (self.dir / "test.auto.tfvars.json").write_text(json.dumps(variables, indent=2))
        if not self.initialised:
            self.run("init", "-input=false", "-no-color")
            self.initialised = True

    def apply(self, variables: dict) -> dict:
        self._prepare(variables)
        self.run("apply", "-auto-approve", "-input=false", "-no-color")
        return self.outputs()

    def plan(self, variables: dict) -> subprocess.CompletedProcess:
        """A plan that may fail (validations); returns the finished process."""
        self._prepare(variables)
        return self.run("plan", "-input=false", "-no-color", check=False)

    def outputs(self) -> dict:
        out = self.run("output", "-json", "-no-color").stdout
        return {k: v["value"] for k, v in json.loads(out).items()}

    def forget(self) -> None:
        """The emulator is about to be stopped with everything in it: drop this stack's state
        instead of destroying resource by resource (a next run starts from nothing)."""
        for state in self.dir.glob("terraform.tfstate*"):
            state.unlink()

    def release(self, emulator_is_ours: bool) -> None:
        """End of a test module: destroy on an emulator someone else owns; forget on ours."""
        if emulator_is_ours:
            self.forget()
        else:
            self.destroy()

    def destroy(self) -> None:
        if (self.dir / "terraform.tfstate").exists():
            proc = self.run("destroy", "-auto-approve", "-input=false", "-no-color", check=False)
            if proc.returncode != 0:
                print(f"terraform destroy of {self.dir.name} failed:\n{proc.stderr[-2000:]}")
