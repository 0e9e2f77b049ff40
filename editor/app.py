"""The `overpaint` entry point: the editor window, or a headless subcommand.

Kept free of torch/diffusers imports so the window appears before they load.
"""

from __future__ import annotations

import argparse
import sys

from engine import __version__

# Subcommands that run without a window. The engine's own CLI owns all but `flatten`,
# which composites an OpenRaster project (an editor file format), `install-desktop`, and
# `history` (engine.history.cli).
ENGINE_COMMANDS = (
    "txt2img", "img2img", "inpaint", "fill", "rerun", "watermark", "models", "upscale",
    "select",
)  # fmt: skip
EDITOR_COMMANDS = ("flatten",)
HISTORY_COMMAND = "history"
TRAIN_COMMAND = "train"
DESKTOP_COMMAND = "install-desktop"
SUBCOMMAND_HELP = {
    "txt2img": "generate an image from a prompt",
    "img2img": "repaint an image guided by a prompt",
    "inpaint": "repaint the white part of a mask",
    "fill": "remove the masked part with classical inpainting (no model needed)",
    "rerun": "regenerate an image exactly from the metadata in its PNG",
    "watermark": "print the invisible watermark of an image (exit 1 if none)",
    "models": "list the models Overpaint can find",
    "upscale": "upscale a picture x2/x4 or to a size, optionally refined in tiles",
    "select": "select an object by a box or clicks and write its mask (no model needed)",
    HISTORY_COMMAND: "search, show, rerun or clear the generation history",
    TRAIN_COMMAND: "teach a model a new subject or style from a few pictures (a LoRA)",
    "flatten": "composite an OpenRaster (.ora) project into a PNG",
    DESKTOP_COMMAND: "add Overpaint to the menu and to 'Open with' (--uninstall removes it)",
}


def _gui_parser() -> argparse.ArgumentParser:
    epilog = "subcommands (overpaint COMMAND --help for each):\n" + "\n".join(
        f"  {name:<16} {text}" for name, text in SUBCOMMAND_HELP.items()
    )
    parser = argparse.ArgumentParser(
        prog="overpaint",
        description="Overpaint: a layered canvas editor that repaints regions with Stable Diffusion.",
        usage="overpaint [-h] [--version] [--debug] [FILE] | overpaint COMMAND ...",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"overpaint {__version__}")
    parser.add_argument(
        "file", nargs="?", help="an image (PNG/JPEG/WebP/...) or .ora project to open"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="also show library warnings, progress bars and debug logs in the terminal",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ENGINE_COMMANDS:
        # each subcommand loads only its own modules: start-up time of the others
        from engine.cli.commands import main as engine_main

        return engine_main(argv)
    if argv and argv[0] == HISTORY_COMMAND:
        # the history command's modules load only when it runs: start-up time
        from engine.history.cli import main as history_main

        return history_main(argv)
    if argv and argv[0] == TRAIN_COMMAND:
        # training's modules load only when it runs: start-up time
        from engine.training.cli import main as train_main

        return train_main(argv)
    if argv and argv[0] in EDITOR_COMMANDS:
        # editor.cli loads the document model: only when `flatten` runs
        from editor.cli import main as editor_main

        return editor_main(argv)
    if argv and argv[0] == DESKTOP_COMMAND:
        # only when `install-desktop` runs
        from editor.desktop_install import main as desktop_main

        return desktop_main(argv[1:])
    args = _gui_parser().parse_args(argv)
    # Qt and the window load only for the GUI, not for a headless subcommand
    from editor.ui.application import end_process, run_gui

    end_process(run_gui(args.file, debug=args.debug))


if __name__ == "__main__":
    sys.exit(main())
