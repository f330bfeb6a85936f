"""Static figures of a .tflite on a board: latency, energy, flash, RAM (+ per-layer breakdown).

Nothing runs on the board: latency comes from the board's cost coefficients, RAM on TFLite Micro
boards from the exact arena found with the tflite-micro interpreter. All figures are `estimated`.
"""

from __future__ import annotations

import argparse
import json

from qnas_edge.commands.options import add_board_option, add_json_option, load_board


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.tflite", help="TFLite flatbuffer (int8 or float)")
    add_board_option(p)
    add_json_option(p)


def run(args: argparse.Namespace) -> int:
    from device_profiles.cost_model import CostModel

    profile = load_board(args)
    est = CostModel(profile).estimate_tflite(args.model)
    if args.json:
        print(json.dumps(est.to_dict(), indent=2))
        return 0
    _print(est, profile, args.model)
    return 0


def _print(est, profile, model: str) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    table = Table(title=f"{model} on {profile.id} ({profile.name}) - estimated", title_justify="left")
    for col in ("#", "op", "MACs", "weights B", "act B", "output", "ms"):
        table.add_column(col, justify="left" if col in ("op", "output") else "right")
    for lay in est.layers:
        table.add_row(str(lay.index), lay.op, f"{lay.macs:,}", f"{lay.weight_bytes:,}",
                      f"{lay.activation_bytes:,}", "x".join(map(str, lay.output_shape)), f"{lay.latency_ms:.3f}")
    con.print(table)

    def mark(key: str) -> str:
        return "" if key not in est.fits else (" [green]ok[/]" if est.fits[key] else " [red]OVER BUDGET[/]")

    lim = est.budgets
    con.print(f"dtype {est.dtype}, {est.macs:,} MACs, {est.weight_bytes:,} B weights")
    lat_b = f" (budget {lim['latency_ms']:g} ms)" if "latency_ms" in lim else ""
    con.print(f"latency  {est.latency_ms:10.3f} ms{lat_b}{mark('latency_ms')}")
    en_b = f" (budget {lim['energy_mj']:g} mJ)" if "energy_mj" in lim else ""
    con.print(f"energy   {est.energy_mj:10.4f} mJ{en_b}{mark('energy_mj')}  [dim]latency x active power[/]")
    con.print(f"flash    {est.flash_bytes:10,} B (model {est.model_bytes:,} + reserve "
              f"{profile.flash_reserve_bytes:,}; limit {int(lim['flash_bytes']):,}){mark('flash_bytes')}")
    arena = f"arena {est.arena_bytes:,}" if est.arena_bytes is not None else "activations+weights"
    con.print(f"RAM      {est.ram_bytes:10,} B ({arena} + reserve {profile.ram_reserve_bytes:,}; "
              f"limit {int(lim['ram_bytes']):,}){mark('ram_bytes')}")
    if est.unsupported_ops:
        con.print(f"[red]TFLite Micro cannot run: {', '.join(est.unsupported_ops)}[/]")
    for note in est.notes:
        con.print(f"[yellow]note:[/] {note}")
