"""Search for the most accurate int8 network that meets the board's budgets, measured on the board.

Each candidate is trained (proxy epochs), quantized to full int8, checked/compiled for the board's
runtime, measured over serial, SSH or on the virtual board, and committed to the run's ledger; the
measurements recalibrate the board's cost model that prices the next QUBO. Resume a killed run with
'qnas-edge resume RUN_DIR'.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qnas_edge.commands.options import (
    add_board_option,
    add_device_options,
    add_json_option,
    add_scale_options,
    load_board,
    scale_settings,
)

DEFAULTS = {"trials": 12, "epochs": 4, "final_epochs": 10, "batch": 2, "runs": 10}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_board_option(p)
    p.add_argument("--data", default="digits", metavar="digits|DIR|FILE.npz",
                   help="dataset: built-in 'digits', an image folder (one subfolder per class) or an .npz")
    p.add_argument("--trials", type=int, default=DEFAULTS["trials"], metavar="N",
                   help=f"candidates to train and measure (default {DEFAULTS['trials']})")
    p.add_argument("--time-budget", type=float, metavar="MIN", help="stop proposing new candidates after MIN minutes")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], metavar="N",
                   help=f"proxy training epochs per candidate (default {DEFAULTS['epochs']})")
    p.add_argument("--final-epochs", type=int, default=DEFAULTS["final_epochs"], metavar="N",
                   help=f"retrain the winner this long (0 = keep the search model; default {DEFAULTS['final_epochs']})")
    p.add_argument("--fidelity", default="off", choices=["off", "auto"],
                   help="auto = successive halving over the proxy epochs: every candidate is screened with "
                        "short training (>= 2 epochs, float accuracy, no int8 model), the best third is "
                        "promoted to longer training (up to --epochs, int8) and only promoted candidates are "
                        "measured on the board; off = every candidate trains --epochs, is converted to int8 "
                        "and measured (default off)")
    g = p.add_argument_group("budgets (default: the board profile's)")
    g.add_argument("--max-latency-ms", type=float, metavar="X")
    g.add_argument("--max-ram-kb", type=float, metavar="X", help="total RAM incl. the runtime reserve")
    g.add_argument("--max-flash-kb", type=float, metavar="X", help="total flash incl. the firmware reserve")
    g.add_argument("--max-energy-mj", type=float, metavar="X", help="energy per inference")
    add_device_options(p, allow_no_device=True)
    p.add_argument("--strategy", default="qubo", choices=["qubo", "qiea", "evolution", "random", "tpe"],
                   help="how candidates are proposed: qubo = budgets + accuracy surrogate as a QUBO, sampled "
                        "by annealing; qiea = quantum-inspired evolution (Q-NAS); evolution = aging "
                        "evolution; random = random feasible architectures; tpe = Optuna's TPE (needs qnas-edge[tpe]) (default qubo)")
    p.add_argument("--sampler", default="neal", choices=["neal", "tabu", "exact", "dwave", "qaoa", "vqe"],
                   help="QUBO sampler for strategy qubo: neal (simulated annealing), tabu, exact (tiny "
                        "spaces), dwave (a D-Wave QPU; needs dwave-system and a Leap token), qaoa / vqe "
                        "(gate-model circuits on Qiskit Aer; needs qnas-edge[quantum]) (default neal)")
    p.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE",
                   help="sampler setting, repeatable (qaoa: reps=3 shots=2048 mixer=xy|x max_qubits=16 ...)")
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"], metavar="N",
                   help=f"candidates proposed per round (default {DEFAULTS['batch']})")
    p.add_argument("--runs", type=int, default=DEFAULTS["runs"], metavar="N",
                   help=f"timed inferences per candidate (default {DEFAULTS['runs']})")
    add_scale_options(p)
    p.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/<timestamp>-<board>)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seeds the search, the data split and training: the same seed proposes the same "
                        "first candidates (default 0)")
    add_json_option(p)


def _device(args: argparse.Namespace, profile):
    from firmware_bridge.device import DeviceSpec
    from qnas_edge.errors import UsageError
    from qnas_edge.pipeline.targets import target_for

    common = {"identity": args.identity, "known_hosts": args.known_hosts, "trust_new_host": args.trust_new_host,
              "board_python": args.board_python}
    if args.no_device:
        return DeviceSpec("none")
    if args.virtual:
        if profile.link.kind != "serial" or not target_for(profile).simulable:
            raise UsageError(f"--virtual simulates TFLite Micro serial boards; {profile.id} is a "
                             f"{profile.runtime} board reached over {profile.link.kind}: use --host or --no-device")
        return DeviceSpec("virtual")
    if args.host:
        return DeviceSpec("ssh", host=args.host, **common)
    if args.port:
        return DeviceSpec("serial", port=args.port[0])
    if profile.link.kind == "ssh":
        raise UsageError(f"{profile.id} is reached over SSH: pass --host [USER@]HOST (or --no-device)")
    return DeviceSpec("serial", port="auto")


def settings_from_args(args: argparse.Namespace, profile):
    from device_profiles.cost_model import CostModel
    from firmware_bridge.device import DeviceSpec
    from qnas_edge.errors import UsageError
    from qnas_edge.run.settings import SearchSettings

    for name in ("trials", "epochs", "batch", "runs"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.final_epochs < 0:
        raise UsageError(f"--final-epochs must be >= 0, got {args.final_epochs}")
    if args.time_budget is not None and args.time_budget <= 0:
        raise UsageError(f"--time-budget must be > 0 minutes, got {args.time_budget:g}")
    over = {}
    for flag, key, scale in (("max_latency_ms", "latency_ms", 1), ("max_ram_kb", "ram_bytes", 1024),
                             ("max_flash_kb", "flash_bytes", 1024), ("max_energy_mj", "energy_mj", 1)):
        v = getattr(args, flag)
        if v is not None:
            if not v > 0:
                raise UsageError(f"--{flag.replace('_', '-')} must be > 0, got {v:g}")
            over[key] = v * scale
    budgets = CostModel(profile.with_budgets(**over)).budget_limits()
    sampler_options = {}
    for item in args.sampler_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--sampler-option expects KEY=VALUE, got '{item}' (e.g. --sampler-option reps=2)")
        sampler_options[key.strip()] = value.strip()
    device = _device(args, profile)
    boards = [DeviceSpec("serial", port=p) for p in args.port] if args.port and len(args.port) > 1 else []
    scale = scale_settings(args)
    if boards and "workers" not in scale:
        scale["workers"] = len(boards)       # one candidate built per board, unless --workers says otherwise
    settings = SearchSettings(data=args.data, epochs=args.epochs, fidelity=args.fidelity,
                              final_epochs=args.final_epochs, trials=args.trials,
                              time_budget_min=args.time_budget, strategy=args.strategy, sampler=args.sampler,
                              sampler_options=sampler_options,
                              seed=args.seed, batch=args.batch, runs=args.runs, budgets=budgets,
                              device=device, boards=boards, **scale)
    settings.check_combination()
    return settings


def run(args: argparse.Namespace) -> int:
    from qnas_edge.run.loop import SearchRun
    from qnas_edge.run.progress import LoopDisplay

    profile = load_board(args)
    settings = settings_from_args(args, profile)
    run_dir = Path(args.out) if args.out else Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{profile.id}"
    with LoopDisplay(enabled=True, board=profile.id, trials=settings.trials) as display:
        search_run = SearchRun.start(run_dir, profile, settings, display)
        outcome = search_run.run()
    return print_outcome(outcome, args.json)


def print_outcome(outcome, as_json: bool) -> int:
    """The run's summary: JSON on stdout, or the Pareto front and the best candidate for people.
    Every figure names its source (measured / simulated / estimated / static); KB = 1024 bytes."""
    best = outcome.best
    if as_json:
        print(json.dumps(_summary(outcome), indent=2))
        return 0 if best is not None else 1
    from rich.console import Console
    from rich.table import Table

    from qnas_edge.run.pareto import pareto_front, points_from_rows

    con = Console(highlight=False)
    front = pareto_front(points_from_rows(outcome.candidates, outcome.board))
    table = Table(title="Pareto front (int8 accuracy vs board figures; RAM = arena + runtime reserve, "
                        "KB = 1024 B)", title_justify="left")
    for col in ("#", "int8 acc", "latency ms", "RAM KB", "flash KB", "energy mJ", "source"):
        table.add_column(col, justify="right")
    for p in front:
        f = p.figures
        table.add_row(str(p.n), f"{p.accuracy:.1%}", _num(f.latency_ms, "{:.2f}"), _num(f.ram_bytes, "{:.0f}", 1024),
                      _num(f.flash_bytes, "{:.0f}", 1024), _num(f.energy_mj, "{:.3f}"),
                      ", ".join(sorted(set(f.sources.values()))) or "-")
    con.print(table)
    if best is None:
        con.print("no candidate met every budget", markup=False)
        return 1
    fig, sources = best.metrics.get("figures", {}), best.metrics.get("sources", {})
    con.print(f"best: candidate #{best.n} ({best.arch_id}) int8 accuracy {best.accuracy:.1%}, "
              f"latency {fig.get('latency_ms', 0):.2f} ms ({sources.get('latency_ms', best.source)}), "
              f"RAM {fig.get('ram_bytes', 0) / 1024:.0f} KB ({sources.get('ram_bytes', 'static')}), "
              f"flash {fig.get('flash_bytes', 0) / 1024:.0f} KB", markup=False)
    if best.artifacts == "final":
        con.print("  (after the final retrain: more epochs on the same split, so its accuracy differs from "
                  "the search candidate's)", markup=False)
    con.print(f"deployable files: {outcome.run_dir / 'best'}   report: {outcome.report or '-'}", markup=False)
    if best.measurement is not None:
        con.print(f"this run's calibrated latency model: qnas-edge estimate MODEL.tflite --run {outcome.run_dir}",
                  markup=False)
    return 0


def _summary(outcome) -> dict:
    best = outcome.best
    return {
        "run_dir": str(outcome.run_dir), "status": outcome.status,
        "report": str(outcome.report) if outcome.report else None,
        "best": None if best is None else {
            "candidate": best.n, "arch": best.arch, "arch_id": best.arch_id, "accuracy": best.accuracy,
            "figures": best.metrics.get("figures", {}), "sources": best.metrics.get("sources", {}),
            "source": best.source, "final_retrain": best.artifacts == "final",
            "artifacts": str(outcome.run_dir / "best")},
        "candidates": len(outcome.candidates),
    }


def _num(v, fmt: str, div: float = 1.0) -> str:
    return "-" if v is None else fmt.format(v / div)
