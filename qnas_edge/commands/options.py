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
    g.add_argument("--port", metavar="DEV", help="serial port of the board, e.g. /dev/ttyACM0 ('auto' to detect)")
    g.add_argument("--host", metavar="[USER@]HOST[:PORT]", help="reach a Linux board over SSH")
    g.add_argument("--virtual", action="store_true", help="use a simulated serial board (figures are 'simulated')")
    if allow_no_device:
        g.add_argument("--no-device", action="store_true", help="static estimates only, no board")
    add_ssh_options(p)


def load_board(args: argparse.Namespace):
    """The Profile named by --board (plus any --profile files); ProfileError (exit 2) when unknown."""
    from device_profiles.catalog import get_profile

    return get_profile(args.board, getattr(args, "profile", []) or [])
