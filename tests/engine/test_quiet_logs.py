"""A model load keeps the terminal clean: diffusers/transformers warnings and progress
bars stay out of stderr by default, show with --debug, and the log file gets the
details. Real subprocesses (the libraries configure themselves once per process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY_NOISE = "Loading pipeline components"  # diffusers' progress bar at every load

# The window's real start-up (argument parsing, run_gui, the MainWindow), with the event
# loop replaced by one model load, as the engine thread does on the first Generate.
WINDOW_THEN_LOAD = """
import sys
from PySide6.QtWidgets import QApplication

def load_instead_of_event_loop(*_args):
    if not sys.argv[1]:
        return 0
    from engine.local.loading import choose_device, load_pipeline
    from engine.models import resolve_model
    info = resolve_model(sys.argv[1])
    load_pipeline(info, choose_device(info.family))
    return 0

QApplication.exec = load_instead_of_event_loop
from editor.app import main
sys.exit(main(sys.argv[2:]))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TQDM_", "DIFFUSERS_"))}
    env.pop("TRANSFORMERS_VERBOSITY", None)
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "OVERPAINT_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "QT_QPA_PLATFORM": "offscreen",
    }


def _run_both(
    quiet_args: list[str], loud_args: list[str], tmp_path: Path
) -> list[subprocess.CompletedProcess[str]]:
    """The quiet and the --debug run at once, each in a folder of its own (settings, log
    file, output): their Python start-ups (torch, diffusers) share the cores."""
    procs = []
    for name, args in (("quiet", quiet_args), ("loud", loud_args)):
        (tmp_path / name).mkdir()
        procs.append(
            subprocess.Popen(
                [sys.executable, *args],
                cwd=tmp_path / name,
                env=_env(tmp_path / name),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=240)
        finally:
            proc.kill()
        assert proc.returncode == 0, err
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _log(tmp_path: Path) -> str:
    return (tmp_path / "data" / "logs" / "overpaint.log").read_text(encoding="utf-8")


def test_cli_is_quiet_by_default_and_shows_library_output_with_debug(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    args = ["-m", "editor.app", "txt2img", "--prompt", "a red square", "--model",
            str(tiny_model_dir), "--steps", "2", "--width", "64", "--height", "64",
            "--seed", "1"]  # fmt: skip
    out = tmp_path / "o.png"
    quiet, loud = _run_both(
        [*args, "--out", str(out)],
        [*args, "--out", str(tmp_path / "loud.png"), "--debug"],
        tmp_path,
    )
    assert quiet.stdout.strip() == str(out)
    # Only the command's own progress lines reach the terminal.
    lines = quiet.stderr.splitlines()
    assert lines and all(re.fullmatch(r"step \d+/2", line) for line in lines), lines
    # The details the terminal did not show are in the log file.
    assert f"engine.local.loading: loading {tiny_model_dir}" in _log(tmp_path / "quiet")

    assert LIBRARY_NOISE in loud.stderr
    assert f"INFO engine.local.loading: loading {tiny_model_dir}" in loud.stderr


def test_window_start_and_model_load_keep_the_terminal_clean_unless_debug(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # Then `overpaint --debug` (no model load: the CLI test covers the libraries' output).
    quiet, loud = _run_both(
        ["-c", WINDOW_THEN_LOAD, str(tiny_model_dir)],
        ["-c", WINDOW_THEN_LOAD, "", "--debug"],
        tmp_path,
    )
    assert quiet.stderr == ""
    log = _log(tmp_path / "quiet")
    assert "overpaint: Overpaint " in log and "started; log file" in log
    assert f"engine.local.loading: loading {tiny_model_dir}" in log

    assert "INFO overpaint: Overpaint " in loud.stderr
