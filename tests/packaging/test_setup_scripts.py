"""packaging/bootstrap.sh (run by run.sh and test.sh) keeps pip's output in a log file
and, when setting up fails, says so in one line that names the log."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_failed_setup_is_one_line_naming_the_log_file(tmp_path: Path) -> None:
    (tmp_path / "packaging").mkdir()
    shutil.copy2(ROOT / "packaging" / "bootstrap.sh", tmp_path / "packaging")
    # A venv without pip: the first pip command fails, as a broken network would.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")],
                   check=True, timeout=120)  # fmt: skip
    proc = subprocess.run(
        ["bash", str(tmp_path / "packaging" / "bootstrap.sh")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    log = tmp_path / ".venv" / "setup.log"
    assert proc.stderr.splitlines()[-1] == (
        f"error: setting up .venv failed (pip install --upgrade pip); the details are in {log}"
    )
    # pip's own words went to the log, not to the terminal.
    assert "No module named pip" in log.read_text()
    assert "No module named pip" not in proc.stderr + proc.stdout
