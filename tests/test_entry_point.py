import subprocess
import sys

from engine import __version__


def run_overpaint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "editor.app", *args], capture_output=True, text=True, timeout=60
    )


def test_version_prints_version() -> None:
    result = run_overpaint("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"overpaint {__version__}"


def test_help_lists_subcommands() -> None:
    result = run_overpaint("--help")
    assert result.returncode == 0
    for command in (
        "txt2img",
        "img2img",
        "inpaint",
        "fill",
        "rerun",
        "watermark",
        "models",
        "flatten",
        "install-desktop",
    ):
        assert command in result.stdout
