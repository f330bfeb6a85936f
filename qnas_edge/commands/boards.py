"""List the board catalog (`boards`), or show one board's full profile (`boards show ID`)."""

from __future__ import annotations

import argparse
import json

from qnas_edge.commands.options import add_json_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["show"], help="'show' one board")
    p.add_argument("board_id", nargs="?", metavar="ID", help="board id for 'show'")
    p.add_argument("--profile", action="append", default=[], metavar="FILE.toml",
                   help="extra board profile file (repeatable)")
    add_json_option(p)


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:,.0f} KB"


def run(args: argparse.Namespace) -> int:
    from device_profiles.catalog import get_profile, load_catalog
    from qnas_edge.errors import UsageError

    if args.action == "show":
        if not args.board_id:
            raise UsageError("'boards show' needs a board id, e.g. 'qnas-edge boards show nano33ble'")
        prof = get_profile(args.board_id, args.profile)
        if args.json:
            print(json.dumps(prof.to_dict(), indent=2))
        else:
            _print_profile(prof)
        return 0
    if args.board_id:
        raise UsageError(f"unexpected argument '{args.board_id}'; did you mean 'boards show {args.board_id}'?")
    catalog = load_catalog(args.profile)
    boards = sorted(catalog.values(), key=lambda b: (b.family, b.id))
    if args.json:
        print(json.dumps([b.to_dict() for b in boards], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(boards)} boards", title_justify="left")
    for col in ("id", "name", "family", "core", "MHz", "flash", "RAM", "runtime", "link"):
        table.add_column(col, justify="right" if col in ("MHz", "flash", "RAM") else "left")
    for b in boards:
        table.add_row(b.id, b.name, b.family, b.core, f"{b.clock_hz / 1e6:g}", _kb(b.flash_bytes),
                      _kb(b.ram_bytes), b.runtime, b.link.kind)
    Console().print(table)
    return 0


def _print_profile(p) -> None:
    d = p.to_dict()
    print(f"{p.id}: {p.name}")
    print(f"  family {p.family}, core {p.core} @ {p.clock_hz / 1e6:g} MHz, runtime {p.runtime}"
          + (f" (TVM target '{p.tvm_target}')" if p.tvm_target else ""))
    print(f"  flash {_kb(p.flash_bytes)} (reserve {_kb(p.flash_reserve_bytes)}), "
          f"RAM {_kb(p.ram_bytes)} (reserve {_kb(p.ram_reserve_bytes)})")
    print(f"  power: active {p.power.active_mw:g} mW, idle {p.power.idle_mw:g} mW")
    budgets = ", ".join(f"{k}={v:g}" for k, v in d["budgets"].items()) or "none"
    print(f"  default budgets: {budgets}")
    link = p.link
    if link.kind == "serial":
        print(f"  link: serial @ {link.baud} baud, USB {', '.join(d['link']['usb_ids']) or '-'}")
    else:
        print(f"  link: ssh (user {link.ssh_user or '-'}, port {link.ssh_port})")
    print("  cost (cycles/MAC): " + ", ".join(f"{k}={v:g}" for k, v in p.cost.cycles_per_mac.items()))
    print(f"  profile file: {p.source}")
