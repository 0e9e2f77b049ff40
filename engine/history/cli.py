"""`overpaint history search|show|rerun|clear`: the generation history without a window.

search prints one hit per line, tab-separated: id, local time, the output file (``-``
when there is none; ``PATH (missing)`` when it was moved or deleted) and the prompt on
one line. Like grep it exits 0 with hits and 1, printing nothing, without. show prints
the parameters text, a blank line and the request JSON. rerun replays an entry
bit-identically, with the input pictures the history kept for it (engine.history.
pictures), and writes what the first run wrote: a CLI run's whole picture, an editor
job's result laid on its input crop, a txt2img as it came. An entry recorded without
its pictures (before they were kept) says so in one sentence and exits 1.
Errors: one ``error:`` line, exit 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from engine.cli.common import (
    Progress,
    print_warnings,
    run_command,
    setup_cli_logging,
    write_results,
)
from engine.core.errors import EngineError
from engine.history.config import open_history
from engine.history.recorder import record_cli_results
from engine.history.replay import recorded_job, written_pictures
from engine.history.store import HistoryStore, Hit
from engine.local.engine import Engine
from engine.metadata import format_parameters
from engine.request import MODES


def _date(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD[ HH:MM]): {text!r}") from e


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="overpaint history", description="Search and replay the generation history."
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sub.add_parser("search", help="find generations (exit 1 when none match)")
    p.add_argument("query", nargs="?", default="", help='words to find; "lightho*" is a prefix')
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print a JSON list instead")
    p.add_argument("--model", help="only this model (as recorded)")
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--kept", action="store_true", help="only kept results")
    p.add_argument("--since", type=_date, help="from this date (YYYY-MM-DD)")
    p.add_argument("--until", type=_date, help="before this date (YYYY-MM-DD)")

    p = sub.add_parser("show", help="print an entry's parameters and request JSON")
    p.add_argument("id", type=int)

    p = sub.add_parser("rerun", help="regenerate an entry bit-identically")
    p.add_argument("id", type=int)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--model", default=None, help="use this model instead of the recorded one")
    p.add_argument("--models-dir", action="append", default=[], type=Path)
    p.add_argument("--no-history", action="store_true", help="do not record the result")
    p.add_argument("--debug", action="store_true", help="show tracebacks")

    p = sub.add_parser("clear", help="delete the whole history")
    p.add_argument("--yes", action="store_true", help="required: nothing is asked")
    return parser


def _store() -> HistoryStore:
    store = open_history(force=True)  # reading works with recording off
    assert store is not None
    return store


def _warn(store: HistoryStore) -> None:
    warning = store.take_warning()
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def _time(created: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))


def _path_column(hit: Hit) -> str:
    if not hit.path:
        return "-"
    return hit.path if hit.exists else f"{hit.path} (missing)"


def _hit_json(hit: Hit) -> dict[str, object]:
    return {
        "id": hit.id,
        "time": _time(hit.created),
        "created": hit.created,
        "path": hit.path,
        "exists": hit.exists,
        "kept": hit.kept,
        "prompt": hit.prompt,
        "negative_prompt": hit.negative_prompt,
        "model": hit.model,
        "loras": list(hit.loras),
        "mode": hit.mode,
        "seed": hit.seed,
        "width": hit.width,
        "height": hit.height,
    }


def cmd_search(args: argparse.Namespace) -> int:
    store = _store()
    try:
        hits = store.search(
            args.query,
            max(1, args.limit),
            since=args.since,
            until=args.until,
            model=args.model,
            mode=args.mode,
            kept_only=args.kept,
        )
        _warn(store)
    finally:
        store.close()
    if not hits:
        return 1
    if args.json:
        print(json.dumps([_hit_json(h) for h in hits], indent=2, ensure_ascii=False))
    else:
        for h in hits:
            prompt = " ".join(h.prompt.split())
            print(f"{h.id}\t{_time(h.created)}\t{_path_column(h)}\t{prompt}")
    return 0


def _entry(store: HistoryStore, entry_id: int):  # -> Entry
    entry = store.get(entry_id)
    _warn(store)
    if entry is None:
        raise EngineError(f"There is no history entry {entry_id}.")
    return entry


def cmd_show(args: argparse.Namespace) -> int:
    store = _store()
    try:
        entry = _entry(store, args.id)
    finally:
        store.close()
    request, hit = entry.request, entry.hit
    print(format_parameters(request, request.seed, request.model, None, hit.width, hit.height))
    print()
    print(json.dumps(json.loads(entry.request_json), indent=2, sort_keys=True))
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    folder = args.out.parent if str(args.out.parent) else Path(".")
    if not folder.is_dir():
        raise EngineError(f"Cannot write {args.out}: the folder {folder} does not exist.")
    store = _store()
    try:
        job = recorded_job(store, _entry(store, args.id))
    finally:
        store.close()
    request = job.request
    if args.model:
        request = request.replace(model=args.model)
    results = Engine(tuple(args.models_dir)).run(request, job.inputs, on_progress=Progress())
    print_warnings(results)  # e.g. a bf16 entry replayed where bf16 is only emulated
    laid, base = written_pictures(job, results)
    paths = write_results(laid, args.out, base)
    if not args.no_history:
        # An editor entry's crop is only what its result is shown on, not a kept base.
        warning = record_cli_results(laid, paths, job.base, inputs=job.inputs, backdrop=base)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    for path in paths:
        print(path)
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    if not args.yes:
        print("error: `overpaint history clear` deletes every entry; add --yes.", file=sys.stderr)
        return 2
    store = _store()
    try:
        n = store.count()
        ok = store.clear()
        _warn(store)
    finally:
        store.close()
    if ok:
        print(f"deleted {n} entries")
    return 0 if ok else 1


COMMANDS = {"search": cmd_search, "show": cmd_show, "rerun": cmd_rerun, "clear": cmd_clear}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; ``argv`` may start with the word ``history``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["history"]:
        argv = argv[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    debug = bool(getattr(args, "debug", False))

    def command() -> int:
        if args.action == "rerun":
            setup_cli_logging(debug)
        return COMMANDS[args.action](args)

    return run_command(command, debug)
