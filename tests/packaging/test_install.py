"""Installed like an app: the wheel holds everything, its `overpaint` runs from a fresh
virtualenv, and `overpaint install-desktop` registers (and --uninstall removes) the menu
entry, icon and "Open with" association for one user.

Nothing is downloaded: the wheel is built without build isolation, installed with
--no-index --no-deps, and the fresh venv borrows the dependencies (torch, PySide6, ...)
from the project's own environment through a .pth file.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from editor import desktop_install
from engine import __version__
from tests.ci import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
APP_ID = desktop_install.APP_ID


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed (packaging/install-system-deps.sh installs it)")
    return path


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its `overpaint` launcher."""
    work = tmp_path_factory.mktemp("install")
    source = work / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("editor", "engine", "resources"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", "dist"]
    subprocess.run([*build, str(source)], cwd=work, check=True, timeout=120)
    (wheel,) = (work / "dist").glob("overpaint-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "resources").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert bundled - names == set(), "resources missing from the wheel"

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", "--no-index"]
    subprocess.run([*install, str(wheel)], check=True, timeout=120)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A plain path line: the project's own .pth files (its editable install) stay inactive.
    (Path(site) / "project_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv / "bin" / "overpaint"


def _run(command: list[str], home: Path, data_dirs: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_DATA_HOME=str(home), XDG_DATA_DIRS=str(data_dirs))
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        command, cwd=home.parent, env=env, capture_output=True, text=True, timeout=120
    )


def test_wheel_gives_a_working_overpaint_and_desktop_entry(installed: Path, tmp_path: Path) -> None:
    home, data_dirs = tmp_path / "xdg-data", tmp_path / "system-share"
    home.mkdir()
    data_dirs.mkdir()  # a system without an image/openraster definition
    version = _run([str(installed), "--version"], home, data_dirs)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"overpaint {__version__}"
    where = _run(
        [str(installed.with_name("python")), "-c", "import editor; print(editor.__file__)"],
        home,
        data_dirs,
    )
    assert where.stdout.startswith(str(installed.parents[1])), where.stdout  # the wheel's code

    result = _run([str(installed), "install-desktop"], home, data_dirs)
    assert result.returncode == 0, result.stderr
    entry = home / "applications" / f"{APP_ID}.desktop"
    validate = subprocess.run(
        [_tool("desktop-file-validate"), str(entry)], capture_output=True, text=True
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    keys = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert keys["TryExec"] == str(installed)
    assert "image/openraster" in keys["MimeType"].split(";")
    assert (home / f"icons/hicolor/scalable/apps/{APP_ID}.svg").is_file()
    assert (home / f"icons/hicolor/256x256/apps/{APP_ID}.png").is_file()
    assert (home / f"mime/packages/{APP_ID}.xml").is_file()
    # What the menu launches works: the Exec line, with --version for the file argument.
    launched = _run(shlex.split(keys["Exec"].replace("%f", "--version")), home, data_dirs)
    assert launched.stdout.strip() == f"overpaint {__version__}", launched.stderr
    if shutil.which("update-desktop-database"):
        cache = (home / "applications" / "mimeinfo.cache").read_text()
        assert f"image/openraster={APP_ID}.desktop;" in cache
    if shutil.which("update-mime-database"):
        assert "image/openraster" in (home / "mime" / "types").read_text()

    result = _run([str(installed), "install-desktop", "--uninstall"], home, data_dirs)
    assert result.returncode == 0, result.stderr
    assert _tree(home) == set()


def test_uninstall_leaves_what_was_there_before(tmp_path: Path) -> None:
    home = tmp_path / "share"
    other = home / "applications" / "other.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\nType=Application\nName=Other\nExec=other %f\n")
    command = tmp_path / "bin with space" / "overpaint"
    command.parent.mkdir()
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    before = _tree(home)
    written = desktop_install.install(home, command)
    assert home / "applications" / f"{APP_ID}.desktop" in written
    assert f'Exec="{command}" %f' in (home / "applications" / f"{APP_ID}.desktop").read_text()
    assert desktop_install.install(home, command) == written  # again: same files
    desktop_install.uninstall(home)
    assert _tree(home) - {"applications/mimeinfo.cache"} == before
    assert other.is_file()
    assert desktop_install.uninstall(home) == []


def test_the_system_definition_of_openraster_is_used_when_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "usr-share"
    (system / "mime" / "packages").mkdir(parents=True)
    (system / "mime" / "packages" / "freedesktop.org.xml").write_text(
        '<mime-info><mime-type type="image/openraster"/></mime-info>'
    )
    monkeypatch.setenv("XDG_DATA_DIRS", str(system))
    command = tmp_path / "overpaint"
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    desktop_install.install(tmp_path / "home", command)
    assert not (tmp_path / "home" / "mime").exists()
