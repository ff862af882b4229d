#!/usr/bin/env python3
"""Build the Lambda deployment zips deterministically: dist/<fn>.zip for each function.

Each zip holds lambda_src/<fn>/**/*.py at its root (so the handler is "<fn>.handler") and the
shared lambda_src/common/ package as common/. Byte-identical on every machine and run: entries
sorted, fixed timestamp (1980-01-01 00:00:00, the earliest a zip can hold), regular files with
mode 0644, Unix as the creating system, ZIP_STORED (deflate output differs between zlib builds),
and CRLF line endings normalised to LF (a Windows checkout builds the same bytes).

The zips are committed: the Terraform module deploys dist/*.zip straight from a git source
reference, without running make. `--check` exits non-zero naming every stale zip.

Usage: scripts/package_lambdas.py [--check] [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "lambda_src"
DIST = ROOT / "dist"
FUNCTIONS = ("probe", "rejitter")
SHARED = ("common",)
#: Example functions (one folder of .py files each, no shared package): zip path -> source folder.
#: existing-alarm, fifo and detection deploy the same handler as complete (one source, four zips).
EXAMPLES = {
    ROOT / "examples" / example / "dist" / "protected.zip": ROOT / "examples" / "complete" / "src"
    for example in ("complete", "existing-alarm", "fifo", "detection")
}

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
UNIX = 3


def _python_files(directory: Path) -> list[Path]:
    return [
        p
        for p in directory.rglob("*.py")
        if p.is_file() and "__pycache__" not in p.relative_to(directory).parts
    ]


def zip_members(function: str, src: Path = SRC) -> list[tuple[str, Path]]:
    """(archive name, source file) pairs for one function, sorted by archive name."""
    function_dir = src / function
    if not (function_dir / f"{function}.py").is_file():
        raise FileNotFoundError(f"{function_dir / (function + '.py')} does not exist")
    members = [(p.relative_to(function_dir).as_posix(), p) for p in _python_files(function_dir)]
    for package in SHARED:
        members += [(p.relative_to(src).as_posix(), p) for p in _python_files(src / package)]
    names = [name for name, _ in members]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{function}: files collide in the zip: {duplicates}")
    return sorted(members)


def build_zip(function: str, src: Path = SRC) -> bytes:
    """The zip of one function, as bytes."""
    return _zip(zip_members(function, src))


def build_example_zip(source: Path) -> bytes:
    """The zip of an example function: the .py files of one folder at the zip root."""
    return _zip(sorted((p.relative_to(source).as_posix(), p) for p in _python_files(source)))


def _zip(members: list[tuple[str, Path]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, path in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = UNIX
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, path.read_bytes().replace(b"\r\n", b"\n"))
    return buffer.getvalue()


def stale_zips(out: Path = DIST, src: Path = SRC) -> list[str]:
    """Names of the zips in ``out`` that are missing or differ from a fresh build."""
    stale = []
    for function in FUNCTIONS:
        target = out / f"{function}.zip"
        if not target.is_file() or target.read_bytes() != build_zip(function, src):
            stale.append(str(target))
    return stale


def write_zips(out: Path = DIST, src: Path = SRC) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for function in FUNCTIONS:
        target = out / f"{function}.zip"
        data = build_zip(function, src)
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="fail if a zip is stale; write none")
    parser.add_argument("--out", type=Path, default=DIST, help="output directory (dist/)")
    args = parser.parse_args(argv)
    examples = {zip_path: build_example_zip(source) for zip_path, source in EXAMPLES.items()}
    if args.check:
        stale = stale_zips(args.out)
        stale += [
            str(z) for z, data in examples.items() if not z.is_file() or z.read_bytes() != data
        ]
        if stale:
            print(
                "stale Lambda zips (run `make package` and commit them): " + ", ".join(stale),
                file=sys.stderr,
            )
            return 1
        print("Lambda zips are up to date")
        return 0
    for zip_path, data in examples.items():
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        if not zip_path.is_file() or zip_path.read_bytes() != data:
            zip_path.write_bytes(data)
    for path in [*write_zips(args.out), *examples]:
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
