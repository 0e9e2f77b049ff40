"""`overpaint` without a window: the generation commands and `main` (engine.cli.commands),
what every command shares (engine.cli.common), and `rerun` / `watermark`
(engine.cli.replay)."""
