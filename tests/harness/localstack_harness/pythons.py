"""Find CPython interpreters on this machine (PATH, pyenv) by version. Stdlib only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

_VERSION = re.compile(r"^(\d+)\.(\d+)")


def _candidates(minor: tuple[int, int]) -> list[str]:
    name = f"python{minor[0]}.{minor[1]}"
    found = []
    if on_path := shutil.which(name):
        found.append(on_path)
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if root.is_dir():
        prefix = f"{minor[0]}.{minor[1]}."
        versions = sorted(
            (d for d in root.iterdir() if d.name.startswith(prefix)),
            key=lambda d: [int(p) if p.isdigit() else 0 for p in d.name.split(".")],
            reverse=True,
        )
        found += [str(d / "bin" / name) for d in versions]
    found += [f"/usr/bin/{name}", f"/usr/local/bin/{name}"]
    return found


@cache
def interpreter(minor: tuple[int, int]) -> str | None:
    """The path of a working interpreter of exactly this major.minor, or None.

    Pyenv shims for versions that are not selected exist but fail, so each candidate is run.
    """
    for candidate in _candidates(minor):
        if not os.access(candidate, os.X_OK):
            continue
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print(sys.executable, *sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if len(out) == 3 and (int(out[1]), int(out[2])) == minor:
            return out[0]
    return None


def parse_minor(text: str) -> tuple[int, int]:
    """'3.12' or 'python3.12' -> (3, 12)."""
    match = _VERSION.match(text.removeprefix("python"))
    if not match:
        raise ValueError(f"not a Python version: {text!r}")
    return int(match.group(1)), int(match.group(2))


def best_interpreter(
    wanted: tuple[int, int], *, minimum: tuple[int, int] | None = None
) -> str | None:
    """The interpreter closest to `wanted`: the exact version, else the nearest newer one, else
    the nearest older one not below `minimum`."""
    major, minor = wanted
    order = [wanted]
    order += [(major, m) for m in range(minor + 1, minor + 6)]
    order += [(major, m) for m in range(minor - 1, 5, -1)]
    for version in order:
        if minimum and version < minimum:
            continue
        if path := interpreter(version):
            return path
    return None
