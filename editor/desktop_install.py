"""`overpaint install-desktop [--uninstall]`: the menu entry, icon and "Open with" for one user.

After `pip install .` or `pipx install .`, the command lives in a virtualenv that the
desktop knows nothing about. This writes, under $XDG_DATA_HOME (default ~/.local/share):

- applications/io.github.overpaint.Overpaint.desktop, whose Exec names the absolute path
  of the installed `overpaint` (a pipx bin folder is often missing from the session's
  PATH) and whose MimeType line offers Overpaint for .ora projects and images;
- the icon in the hicolor theme (SVG plus 64 and 256 pixel PNGs);
- the AppStream metainfo, for software centres;
- a shared-mime-info definition of image/openraster, only where the system has none;

then refreshes the desktop and MIME caches when `update-desktop-database` and
`update-mime-database` exist. A manifest (overpaint/desktop-install.json) records each file
and each folder it created, so --uninstall removes exactly those, caches it caused included.
No Qt here: this runs in a terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from engine.core.atomic_write import atomic_write
from engine.core.paths import RESOURCES

APP_ID = "io.github.overpaint.Overpaint"
DESKTOP_DIR = RESOURCES / "desktop"
ICONS_DIR = RESOURCES / "icons"
MANIFEST = Path("overpaint") / "desktop-install.json"
OPENRASTER = "image/openraster"
# What update-desktop-database adds to an applications folder: a folder we created that
# holds nothing else is removed on uninstall. (A mime folder holds only caches derived
# from its packages/, so one we created goes whole once its packages are gone.)
_DESKTOP_CACHE = "mimeinfo.cache"


class InstallError(Exception):
    """A sentence for the terminal."""


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (the spec's rule)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def find_command() -> Path:
    """The installed `overpaint` launcher: the one running, else the one beside this Python."""
    running = Path(sys.argv[0])
    candidates = [running] if running.name == "overpaint" else []
    candidates += [
        Path(sysconfig.get_path("scripts")) / "overpaint",
        Path(sysconfig.get_path("scripts", f"{os.name}_user")) / "overpaint",
    ]
    if found := shutil.which("overpaint"):
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    raise InstallError(
        "The `overpaint` command was not found; install Overpaint with pip or pipx first."
    )


def exec_argument(path: Path) -> str:
    """`path` as one argument of a desktop entry's Exec key (spec: quoting rules)."""
    text = str(path).replace("%", "%%")
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    if not reserved & set(text):
        return text
    quoted = "".join("\\" + c if c in '"`$\\' else c for c in text)
    # The value is also a desktop-file string, where a backslash is written twice.
    return '"' + quoted.replace("\\", "\\\\") + '"'


def desktop_entry(command: Path) -> str:
    """The bundled entry, launching `command` (and hidden by TryExec once it is gone)."""
    lines = []
    for line in (DESKTOP_DIR / f"{APP_ID}.desktop").read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            lines.append(f"TryExec={command}")
            line = f"Exec={exec_argument(command)} %f"
        lines.append(line)
    return "\n".join(lines) + "\n"


def system_knows(mime_type: str, home: Path) -> bool:
    """Whether a shared-mime-info package on this system (not ours) defines `mime_type`."""
    dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    folders = [home, *(Path(d) for d in dirs.split(":") if d)]
    needle = f'type="{mime_type}"'
    for folder in folders:
        for package in sorted((folder / "mime" / "packages").glob("*.xml")):
            if package.name == f"{APP_ID}.xml":
                continue
            try:
                if needle in package.read_text(encoding="utf-8", errors="replace"):
                    return True
            except OSError:
                continue
    return False


def install(home: Path | None = None, command: Path | None = None) -> list[Path]:
    """Install for the current user; returns the files written."""
    home = home or data_home()
    command = command or find_command()
    files: dict[Path, bytes] = {
        home / "applications" / f"{APP_ID}.desktop": desktop_entry(command).encode(),
        home / "metainfo" / f"{APP_ID}.metainfo.xml": (
            DESKTOP_DIR / f"{APP_ID}.metainfo.xml"
        ).read_bytes(),
        home / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg": (
            ICONS_DIR / "overpaint.svg"
        ).read_bytes(),
    }
    for size in (64, 256):
        icon = home / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"
        files[icon] = (ICONS_DIR / f"overpaint-{size}.png").read_bytes()
    if not system_knows(OPENRASTER, home):
        files[home / "mime" / "packages" / f"{APP_ID}.xml"] = (
            DESKTOP_DIR / "openraster.xml"
        ).read_bytes()
    manifest = _read_manifest(home)
    created = set(manifest.get("folders", []))
    for path, data in files.items():
        created |= _make_parents(path.parent, home)
        _write(path, data)
    recorded = sorted({str(p.relative_to(home)) for p in files} | set(manifest.get("files", [])))
    manifest_path = home / MANIFEST
    created |= _make_parents(manifest_path.parent, home)
    _write(manifest_path, json.dumps({"files": recorded, "folders": sorted(created)}).encode())
    _refresh_caches(home)
    return list(files)


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove what `install` wrote (per its manifest); returns the files removed."""
    home = home or data_home()
    manifest = _read_manifest(home)
    if not manifest:
        return []
    removed = []
    for name in manifest.get("files", []):
        path = home / name
        if path.is_file():
            path.unlink()
            removed.append(path)
    (home / MANIFEST).unlink(missing_ok=True)
    _refresh_caches(home)
    # Deepest first, so a folder emptied by removing its children goes too.
    for name in sorted(manifest.get("folders", []), key=lambda n: n.count("/"), reverse=True):
        _remove_created_folder(home / name)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="overpaint install-desktop",
        description="Add Overpaint to the application menu and to 'Open with' for .ora "
        "projects and images, for the current user (under $XDG_DATA_HOME).",
    )
    parser.add_argument("--uninstall", action="store_true", help="remove what was installed")
    args = parser.parse_args(argv)
    try:
        if args.uninstall:
            removed = uninstall()
            print(f"Removed {len(removed)} files." if removed else "Nothing was installed.")
        else:
            for path in install():
                print(f"installed {path}")
    except (InstallError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_manifest(home: Path) -> dict:
    try:
        data = json.loads((home / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _make_parents(folder: Path, home: Path) -> set[str]:
    """mkdir -p, returning the folders it created (relative to `home`)."""
    missing = []
    while not folder.exists() and folder != home.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
    return {str(p.relative_to(home)) for p in missing if p != home and p.is_relative_to(home)}


def _write(path: Path, data: bytes) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def _refresh_caches(home: Path) -> None:
    tools = {
        "update-desktop-database": home / "applications",
        "update-mime-database": home / "mime",
    }
    for tool, folder in tools.items():
        exe = shutil.which(tool)
        if exe and folder.is_dir():
            # A failing cache refresh only delays the menu; it never undoes the install.
            subprocess.run([exe, str(folder)], capture_output=True, check=False)


def _remove_created_folder(folder: Path) -> None:
    if not folder.is_dir():
        return
    entries = list(folder.iterdir())
    if folder.name == "mime" and not any((folder / "packages").glob("*")):
        shutil.rmtree(folder)  # nothing but caches of packages that are gone
    elif all(entry.name == _DESKTOP_CACHE and entry.is_file() for entry in entries):
        for entry in entries:
            entry.unlink()
        folder.rmdir()
