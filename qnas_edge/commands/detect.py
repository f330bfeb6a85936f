"""Find boards plugged in over USB serial (VID:PID matched against the catalog)."""

from __future__ import annotations

import argparse
import json

from qnas_edge.commands.options import add_json_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", action="append", default=[], metavar="FILE.toml",
                   help="extra board profile file (repeatable)")
    add_json_option(p)


def run(args: argparse.Namespace) -> int:
    from device_profiles.catalog import load_catalog
    from device_profiles.detect import detect_boards, no_board_hint

    found = detect_boards(load_catalog(args.profile))
    if args.json:
        print(json.dumps({"boards": [b.to_dict() for b in found], "hint": None if found else no_board_hint()},
                         indent=2))
        return 0
    if not found:
        print(no_board_hint())
        return 0
    for b in found:
        ident = b.board_id or ("one of " + ", ".join(b.candidates))
        print(f"{b.port}\t{ident}\tUSB {b.vid:04x}:{b.pid:04x}\tserial {b.serial_number or '-'}\t{b.description}")
    return 0
