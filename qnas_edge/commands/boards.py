"""List the board catalog (`boards`), or show one board's full profile (`boards show ID`).

Memory sizes are binary (1 KB = 1024 bytes, 1 MB = 1024 KB, 1 GB = 1024 MB). The `linux-host`
profile is this machine reached over SSH: a test host, listed apart from the boards one deploys to.
"""

from __future__ import annotations

import argparse
import json

from qnas_edge.commands.options import add_json_option

SIZE_NOTE = "sizes are binary: 1 KB = 1024 bytes, 1 MB = 1024 KB, 1 GB = 1024 MB"
TEST_HOST_NOTE = ("test host: this machine reached over SSH (127.0.0.1), for the SSH bridge's tests and "
                  "estimate-vs-measured checks; not a board to deploy to")

# Listing columns: (header, right-aligned, drop order when the terminal is too narrow; 0 = never dropped).
# `name` is never dropped either: it shrinks (ellipsis) before any other column goes.
_COLUMNS = [("id", False, 0), ("name", False, 0), ("family", False, 2), ("core", False, 4), ("MHz", True, 3),
            ("flash", True, 0), ("RAM", True, 0), ("runtime", False, 0), ("link", False, 1)]
_NAME_MIN = 20      # the name column never gets narrower than this (it ends in an ellipsis instead)
_GAP = 2            # between two columns: right padding + the (blank) column rule


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["show"], help="'show' one board")
    p.add_argument("board_id", nargs="?", metavar="ID", help="board id for 'show'")
    p.add_argument("--profile", action="append", default=[], metavar="FILE.toml",
                   help="extra board profile file (repeatable)")
    add_json_option(p)


def is_test_host(profile) -> bool:
    """The `linux-host` profile (this machine over SSH) and any profile of its family are test hosts."""
    return profile.id == "linux-host" or profile.family == "linux-host"


def fmt_size(n: int | float | None) -> str:
    """A memory size in binary units, as short as it stays exact: '16 GB', '512 MB', '1.5 GB', '1376 KB'.

    The largest unit in which the size is at least 1 and either a whole number, exact to one decimal,
    or >= 10 (then rounded: '252 GB', '23.5 GB'); bytes below 1 KB.
    """
    if n is None:
        return "-"
    v = float(n)
    for unit, scale in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        q = v / scale
        if q < 1:
            continue
        if q == int(q):
            return f"{int(q)} {unit}"
        if q * 10 == int(q * 10) or q >= 10:
            return f"{q:.0f} {unit}" if q >= 100 else f"{q:.1f} {unit}"
    return f"{v:,.0f} B"


def _dict(profile) -> dict:
    """Profile.to_dict() plus what this command adds (fields are only ever added: --json stays compatible)."""
    return {**profile.to_dict(), "test_host": is_test_host(profile)}


def latency_model_of(profile) -> dict:
    """The board's latency model (`CostModel.describe()`), saying whether its CPI is inherited from the
    core family (no published run of this very board) — the case for every board but the run's own."""
    from device_profiles.cost_model import CostModel

    d = CostModel(profile).describe()
    if d.get("cpi"):
        d["cpi_inherited"] = f"inherited from the {d['cpi_family']} family's published runs"
    return d


def run(args: argparse.Namespace) -> int:
    from device_profiles.catalog import get_profile, load_catalog
    from qnas_edge.errors import UsageError

    if args.action == "show":
        if not args.board_id:
            raise UsageError("'boards show' needs a board id, e.g. 'qnas-edge boards show nano33ble'")
        prof = get_profile(args.board_id, args.profile)
        if args.json:
            print(json.dumps({**_dict(prof), "latency_model": latency_model_of(prof)}, indent=2))
        else:
            _print_profile(prof)
        return 0
    if args.board_id:
        raise UsageError(f"unexpected argument '{args.board_id}'; did you mean 'boards show {args.board_id}'?")
    catalog = load_catalog(args.profile)
    boards = sorted(catalog.values(), key=lambda b: (b.family, b.id))
    if args.json:
        print(json.dumps([_dict(b) for b in boards], indent=2))   # same order as before test_host existed
        return 0
    _print_table(sorted(boards, key=is_test_host))                  # test hosts last, in their own section
    return 0


def _cells(b) -> dict[str, str]:
    return {"id": b.id, "name": b.name, "family": b.family, "core": b.core, "MHz": f"{b.clock_hz / 1e6:g}",
            "flash": fmt_size(b.flash_bytes), "RAM": fmt_size(b.ram_bytes), "runtime": b.runtime,
            "link": b.link.kind}


def _fit_columns(rows: list[dict[str, str]], width: int) -> tuple[dict[str, int], int]:
    """(column -> width, name width) fitting `width`: no id or figure is ever cut; the name shrinks
    first (down to _NAME_MIN, ending in an ellipsis), then link, family, MHz and core are left out."""
    need = {h: max([len(h)] + [len(r[h]) for r in rows]) for h, _, _ in _COLUMNS}
    shown = [h for h, _, _ in _COLUMNS]

    def fixed() -> int:
        return sum(need[h] for h in shown if h != "name") + _GAP * (len(shown) - 1)

    for header, _, _ in sorted((c for c in _COLUMNS if c[2]), key=lambda c: c[2]):
        if fixed() + min(need["name"], _NAME_MIN) <= width:
            break
        shown.remove(header)
    name = max(min(need["name"], width - fixed()), min(need["name"], 8))   # a very narrow terminal: best effort
    return {h: need[h] for h in shown if h != "name"}, name


def _print_table(boards) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console()
    rows = [_cells(b) for b in boards]
    widths, name_width = _fit_columns(rows, con.width)
    shown = [h for h, _, _ in _COLUMNS if h in widths or h == "name"]
    hosts = sum(is_test_host(b) for b in boards)
    title = f"{len(boards) - hosts} boards" + (f" + {hosts} test host" if hosts else "")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1, 0, 0))
    for header, right, _ in _COLUMNS:
        if header == "name":
            table.add_column(header, no_wrap=True, overflow="ellipsis", width=name_width)
        elif header in widths:
            table.add_column(header, justify="right" if right else "left", no_wrap=True, min_width=widths[header])
    in_hosts = False
    for b, cells in zip(boards, rows, strict=True):
        if is_test_host(b) and not in_hosts:
            table.add_section()
            in_hosts = True
        values = [escape(cells[h]) for h in shown]
        if is_test_host(b):
            values[shown.index("name")] = "[italic]test host[/]: " + values[shown.index("name")]
        table.add_row(*values, style="dim" if is_test_host(b) else None)
    con.print(table)
    hidden = [h for h, _, _ in _COLUMNS if h not in shown]
    notes = [SIZE_NOTE]
    if hosts:
        notes.append(TEST_HOST_NOTE)
    if hidden:
        notes.append(f"narrow terminal: {', '.join(hidden)} not shown; 'qnas-edge boards show ID' or --json "
                     "has every field")
    for note in notes:
        con.print(f"[dim]{escape(note)}[/]")


def _print_profile(p) -> None:
    d = p.to_dict()
    print(f"{p.id}: {p.name}" + ("  [test host]" if is_test_host(p) else ""))
    if is_test_host(p):
        print(f"  {TEST_HOST_NOTE}")
    print(f"  family {p.family}, core {p.core} @ {p.clock_hz / 1e6:g} MHz, runtime {p.runtime}"
          + (f" (TVM target '{p.tvm_target}')" if p.tvm_target else ""))
    print(f"  flash {fmt_size(p.flash_bytes)} (reserve {fmt_size(p.flash_reserve_bytes)}), "
          f"RAM {fmt_size(p.ram_bytes)} (reserve {fmt_size(p.ram_reserve_bytes)}); 1 KB = 1024 bytes")
    print(f"  power: active {p.power.active_mw:g} mW, idle {p.power.idle_mw:g} mW")
    budgets = ", ".join(f"{k}={v:g}" for k, v in d["budgets"].items()) or "none"
    print(f"  default budgets: {budgets}")
    link = p.link
    if link.kind == "serial":
        print(f"  link: serial @ {link.baud} baud, USB {', '.join(d['link']['usb_ids']) or '-'}")
    else:
        print(f"  link: ssh (user {link.ssh_user or '-'}, port {link.ssh_port})")
    lm = latency_model_of(p)
    print(f"  latency model: {lm['predictor']}")
    if lm.get("cpi"):
        print(f"    CPI {lm['cpi']:g} ({lm['cpi_inherited']}): {lm['cpi_source']}")
    else:
        if lm.get("note"):
            print(f"    {lm['note']}")
        print("    cycles/MAC: " + ", ".join(f"{k}={v:g}" for k, v in p.cost.cycles_per_mac.items()))
    if p.notes:
        print(f"  notes: {p.notes}")
    print(f"  profile file: {p.source}")
