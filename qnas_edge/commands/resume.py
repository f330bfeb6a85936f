"""Continue a search run that was interrupted (Ctrl-C, crash, SIGKILL): nothing done is lost or redone."""

from __future__ import annotations

import argparse
from pathlib import Path

from qnas_edge.commands.options import add_json_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory 'qnas-edge search' created")
    p.add_argument("--profile", action="append", default=[], metavar="FILE.toml",
                   help="board profile file, if the run's board is not in the catalog")
    add_json_option(p)


def run(args: argparse.Namespace) -> int:
    from qnas_edge.commands.search import print_outcome
    from qnas_edge.ledger import Ledger
    from qnas_edge.loop import SearchRun
    from qnas_edge.progress import LoopDisplay

    profile = None
    run_dir = Path(args.run_dir)
    if args.profile and (run_dir / "ledger.sqlite").is_file():
        from device_profiles.catalog import get_profile

        with Ledger(run_dir / "ledger.sqlite") as led:
            profile = get_profile(led.get_meta("board_id"), args.profile)
    with LoopDisplay(enabled=True) as display:
        search_run = SearchRun.resume(run_dir, display, profile)
        display.board = search_run.profile.id
        display.note(f"resuming {run_dir}")
        outcome = search_run.run()
    return print_outcome(outcome, args.json)
