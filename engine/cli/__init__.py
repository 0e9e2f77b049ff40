"""`overpaint` without a window: the generation commands (engine.cli.commands), what every
command shares (engine.cli.common), and `rerun` / `watermark` (engine.cli.replay)."""

from engine.cli.commands import main

__all__ = ["main"]
