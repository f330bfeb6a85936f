"""Continue a search run that was interrupted (Ctrl-C, SIGTERM, crash, SIGKILL): nothing done is lost or
redone. A run that already finished is only reported; ask for more candidates with --extend N."""

from __future__ import annotations

import argparse
from pathlib import Path

from qnas_edge.commands.options import add_json_option, add_scale_options, scale_settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory 'qnas-edge search' created")
    p.add_argument("--profile", action="append", default=[], metavar="FILE.toml",
                   help="board profile file, if the run's board is not in the catalog")
    p.add_argument("--extend", type=int, default=0, metavar="N",
                   help="evaluate N more candidates than the run asked for (also on a finished run)")
    p.add_argument("--trials", type=int, metavar="N", help="raise the run's candidate count to N")
    add_scale_options(p)
    add_json_option(p)


def run(args: argparse.Namespace) -> int:
    from qnas_edge.commands.search import print_outcome
    from qnas_edge.run.ledger import Ledger
    from qnas_edge.run.loop import SearchRun
    from qnas_edge.run.progress import LoopDisplay

    profile = None
    run_dir = Path(args.run_dir)
    if args.profile and (run_dir / "ledger.sqlite").is_file():
        from device_profiles.catalog import get_profile

        with Ledger(run_dir / "ledger.sqlite") as led:
            profile = get_profile(led.get_meta("board_id"), args.profile)
    from qnas_edge.errors import UsageError

    if args.extend < 0 or (args.trials is not None and args.trials < 1):
        raise UsageError("--extend must be >= 0 and --trials >= 1")
    with LoopDisplay(enabled=True) as display:
        search_run = SearchRun.resume(run_dir, display, profile, extend=args.extend, trials=args.trials,
                                      scale=scale_settings(args))
        display.board = search_run.profile.id
        display.trials = search_run.settings.trials
        if search_run.finished:
            display.note(f"{run_dir} already finished ({search_run.settings.trials} candidates); nothing to "
                         "resume: 'qnas-edge resume --extend N' evaluates N more")
            return print_outcome(search_run.finished_outcome(), args.json)
        display.note(f"resuming {run_dir}")
        outcome = search_run.run()
    return print_outcome(outcome, args.json)
