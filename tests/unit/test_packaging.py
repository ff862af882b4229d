"""Deployment zips: deterministic, well-formed, and the committed ones up to date."""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("probe", "rejitter")


def _load_packager():
    spec = importlib.util.spec_from_file_location(
        "package_lambdas", ROOT / "scripts" / "package_lambdas.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


packager = _load_packager()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_committed_zip_is_up_to_date_with_its_source(function, tmp_path):
    packager.write_zips(tmp_path)
    committed = ROOT / "dist" / f"{function}.zip"
    assert committed.is_file(), f"{committed} is missing: run `make package` and commit it"
    assert committed.read_bytes() == (tmp_path / f"{function}.zip").read_bytes(), (
        f"{committed} is stale: run `make package` and commit it"
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_building_twice_gives_identical_bytes(function):
    assert packager.build_zip(function) == packager.build_zip(function)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_zip_has_the_handler_at_the_root_and_the_common_package(function):
    with zipfile.ZipFile(io.BytesIO(packager.build_zip(function))) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names)
        assert f"{function}.py" in names
        assert "common/__init__.py" in names
        assert "common/log.py" in names
        assert all(name.endswith(".py") for name in names)
        assert not any("__pycache__" in name or "/tests/" in name for name in names)
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.external_attr >> 16 == 0o100644
            assert info.create_system == 3
        assert archive.testzip() is None


def test_zip_leaves_out_bytecode_caches_and_normalises_line_endings(tmp_path):
    src = tmp_path / "src"
    (src / "probe" / "__pycache__").mkdir(parents=True)
    (src / "common").mkdir()
    (src / "probe" / "probe.py").write_bytes(b"x = 1\r\n")
    (src / "probe" / "__pycache__" / "probe.cpython-312.py").write_bytes(b"")
    (src / "probe" / "notes.txt").write_bytes(b"")
    (src / "common" / "__init__.py").write_bytes(b"")
    with zipfile.ZipFile(io.BytesIO(packager.build_zip("probe", src))) as archive:
        assert archive.namelist() == ["common/__init__.py", "probe.py"]
        assert archive.read("probe.py") == b"x = 1\n"


def test_missing_handler_module_is_an_error(tmp_path):
    (tmp_path / "probe").mkdir()
    with pytest.raises(FileNotFoundError, match=r"probe\.py"):
        packager.build_zip("probe", tmp_path)


def test_colliding_file_names_are_an_error(tmp_path):
    (tmp_path / "probe" / "common").mkdir(parents=True)
    (tmp_path / "common").mkdir()
    (tmp_path / "probe" / "probe.py").write_bytes(b"")
    (tmp_path / "probe" / "common" / "log.py").write_bytes(b"")
    (tmp_path / "common" / "log.py").write_bytes(b"")
    with pytest.raises(ValueError, match=r"common/log\.py"):
        packager.build_zip("probe", tmp_path)


def test_check_mode_fails_naming_stale_zips_then_passes_after_a_build(tmp_path, capsys):
    (tmp_path / "probe.zip").write_bytes(b"old")
    assert packager.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "probe.zip" in err
    assert "rejitter.zip" in err  # missing counts as stale
    assert packager.main(["--out", str(tmp_path)]) == 0
    assert packager.main(["--check", "--out", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out
