"""Option groups shared by several commands (board selection, device link, SSH, output)."""

from __future__ import annotations

import argparse


def add_board_option(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--board", required=required, metavar="ID", help="board id from 'qnas-edge boards'")
    p.add_argument("--profile", action="append", default=[], metavar="FILE.toml",
                   help="extra board profile file (repeatable); its id becomes usable with --board")


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")


def add_ssh_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("SSH (with --host)")
    g.add_argument("--identity", metavar="KEY", help="private key file (default: SSH agent / ~/.ssh keys)")
    g.add_argument("--known-hosts", metavar="FILE",
                   help="known_hosts file to verify the board's host key (default ~/.ssh/known_hosts)")
    g.add_argument("--trust-new-host", action="store_true",
                   help="explicit trust-on-first-use: record an unknown host key instead of refusing")
    g.add_argument("--board-python", default="python3", metavar="PATH",
                   help="Python interpreter on the board (default python3)")


def add_device_options(p: argparse.ArgumentParser, allow_no_device: bool = False) -> None:
    """--port DEV | --host [USER@]HOST[:PORT] | --virtual [| --no-device]."""
    g = p.add_mutually_exclusive_group(required=not allow_no_device)
    g.add_argument("--port", metavar="DEV", action="append" if allow_no_device else "store",
                   help="serial port of the board, e.g. /dev/ttyACM0 ('auto' to detect)"
                        + ("; repeat for several boards, measured in parallel" if allow_no_device else ""))
    g.add_argument("--host", metavar="[USER@]HOST[:PORT]", help="reach a Linux board over SSH")
    g.add_argument("--virtual", action="store_true", help="use a simulated serial board (figures are 'simulated')")
    if allow_no_device:
        g.add_argument("--no-device", action="store_true", help="static estimates only, no board")
    add_ssh_options(p)


def load_board(args: argparse.Namespace):
    """The Profile named by --board (plus any --profile files); ProfileError (exit 2) when unknown."""
    from device_profiles.catalog import get_profile

    return get_profile(args.board, getattr(args, "profile", []) or [])


def add_scale_options(p: argparse.ArgumentParser) -> None:
    """--workers / --ray-address / --gpus-per-trial (search and resume); the defaults never import Ray."""
    g = p.add_argument_group("scale-out on Ray (needs qnas-edge[ray])")
    g.add_argument("--workers", type=int, metavar="N",
                   help="candidates built at once on a local Ray started for the run (default 1: no Ray); "
                        "with --virtual also the number of virtual boards")
    g.add_argument("--ray-address", metavar="ADDR",
                   help="run on an existing Ray cluster (HOST:PORT, or 'auto'); boards come from its "
                        "'qnas-edge worker' nodes")
    g.add_argument("--gpus-per-trial", type=float, metavar="G",
                   help="GPUs each candidate's training asks Ray for (default 0)")


def scale_settings(args: argparse.Namespace) -> dict:
    """The scale-out fields of SearchSettings that were given on the command line (checked)."""
    from qnas_edge.errors import UsageError

    out: dict = {}
    if args.workers is not None:
        if args.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {args.workers}")
        out["workers"] = args.workers
    if args.gpus_per_trial is not None:
        if args.gpus_per_trial < 0:
            raise UsageError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial:g}")
        out["gpus_per_trial"] = args.gpus_per_trial
    if args.ray_address is not None:
        out["ray_address"] = args.ray_address.strip() or None
    return out
