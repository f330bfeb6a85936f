"""Static figures of a .tflite on a board: latency, energy, flash, RAM (+ per-layer breakdown).

Nothing runs on the board: latency comes from the cost model, RAM on TFLite Micro boards from the exact
arena found with the tflite-micro interpreter. All figures are `estimated`, and the output names the
model each one comes from. With --board the cost model uses the profile's (catalog) coefficients; with
--run RUN_DIR it uses the coefficients a search calibrated on its board's measurements (the run's
ledger.sqlite), which is why a search's figures can differ from a plain `estimate --board`.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qnas_edge.commands.options import add_board_option, add_json_option, load_board

LEDGER_NAME = "ledger.sqlite"
_RUN_HINT = "pass the folder 'qnas-edge search' wrote (runs/<timestamp>-<board>)"
_BUDGET_KEYS = ("latency_ms", "ram_bytes", "flash_bytes", "energy_mj")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.tflite", help="TFLite flatbuffer (int8 or float)")
    add_board_option(p, required=False)
    p.add_argument("--run", metavar="RUN_DIR",
                   help="use the latency coefficients a search calibrated on its board's measurements "
                        "(RUN_DIR/ledger.sqlite, opened read-only) and the run's budgets; the board is the "
                        "run's, so --board is optional (and must match)")
    add_json_option(p)


@dataclass
class RunCalibration:
    """The last calibration a search stored in its ledger, and what it was fitted on."""

    run_dir: Path
    board_id: str
    profile_source: str
    budgets: dict[str, float]
    after_n: int
    coefficients: dict[str, float]
    mean_rel_err: float | None
    sources: dict[str, int] = field(default_factory=dict)     # measurement source -> count

    @property
    def measurements(self) -> int:
        return sum(self.sources.values())

    def describe(self) -> str:
        """'calibrated on 12 on-board measurements of run runs/x' (simulated ones are called so)."""
        n, run = self.measurements, f"run {self.run_dir}"
        if not n:
            return f"calibrated coefficients of {run} (fitted after candidate #{self.after_n})"
        measured, simulated = self.sources.get("measured", 0), self.sources.get("simulated", 0)
        plural = "s" if n != 1 else ""
        if measured == n:
            what = f"{n} on-board measurement{plural}"
        elif simulated == n:
            what = f"{n} simulated measurement{plural} (virtual board)"
        else:
            parts = ", ".join(f"{c} {s}" for s, c in sorted(self.sources.items()))
            what = f"{n} measurement{plural} ({parts})"
        return f"calibrated on {what} of {run}"


def run(args: argparse.Namespace) -> int:
    from device_profiles.cost_model import CostModel
    from qnas_edge.errors import UsageError

    if args.run is None and not args.board:
        raise UsageError("estimate needs --board ID (catalog coefficients) or --run RUN_DIR (a search's "
                         "calibrated coefficients)")
    cal = read_run_calibration(Path(args.run)) if args.run is not None else None
    if cal is None:
        profile = load_board(args)
        model = CostModel(profile)
    else:
        profile = _run_profile(cal, args)
        base = CostModel(profile)
        unknown = sorted(n for n in cal.coefficients if not base.knows(n))
        if unknown:
            raise UsageError(f"--run {cal.run_dir}: its calibration has coefficients ({', '.join(unknown[:4])}) "
                             f"that {profile.id}'s latency model ({base.describe()['predictor']}) does not have: "
                             "the run was made by another qnas-edge release; estimate with --board instead")
        model = base.with_coefficients(cal.coefficients)
    est = model.estimate_tflite(args.model)
    sources = figure_sources(est, profile, cal, model)
    if args.json:
        d = est.to_dict()
        d["latency_model"] = latency_model(profile, cal, model)
        d["figure_sources"] = sources
        print(json.dumps(d, indent=2))
        return 0
    _print(est, profile, args.model, sources, cal)
    return 0


# ---- which model each figure comes from ------------------------------------------------------------
def _bundled(profile) -> bool:
    from device_profiles.catalog import BUNDLED_DIR

    try:
        return Path(profile.source).resolve().parent == BUNDLED_DIR
    except (OSError, ValueError):
        return False


def latency_model(profile, cal: RunCalibration | None, model=None) -> dict[str, Any]:
    """JSON `latency_model`: kind (catalog | profile | calibrated), `name` (the sentence shown), the
    predictor, the CPI and its source."""
    from device_profiles.cost_model import CostModel

    desc = (model or CostModel(profile)).describe()
    cpi = f", CPI {desc['cpi']:g} ({desc['cpi_source']})" if desc.get("cpi") else ""
    note = f"; {desc['note']}" if desc.get("note") else ""
    details = {"predictor": desc["predictor"], "timing": desc["kind"], "cpi": desc.get("cpi"),
               "cpi_source": desc.get("cpi_source"), "board_id": profile.id}
    if cal is not None:
        return {"kind": "calibrated", "name": f"{desc['predictor']}, coefficients {cal.describe()}",
                "run_dir": str(cal.run_dir), "after_n": cal.after_n, "measurements": cal.measurements,
                "measurement_sources": dict(cal.sources), "mean_rel_err": cal.mean_rel_err,
                "coefficients": dict(cal.coefficients), **details}
    if _bundled(profile):
        return {"kind": "catalog", "name": f"{desc['predictor']}{cpi}{note}", **details}
    return {"kind": "profile", "name": f"{desc['predictor']}{cpi}{note} (profile {profile.source})",
            "profile_source": profile.source, **details}


def figure_sources(est, profile, cal: RunCalibration | None, model=None) -> dict[str, str]:
    """Metric -> where its figure comes from, in words (the same words on screen and in --json)."""
    latency = latency_model(profile, cal, model)["name"]
    if est.arena_bytes is not None:
        ram = "exact TFLite Micro arena (tflite-micro interpreter) + the profile's RAM reserve"
    elif profile.is_mcu:
        ram = "peak activations (the TFLite Micro arena could not be computed) + the profile's RAM reserve"
    else:
        ram = "weights + peak activations + the profile's RAM reserve"
    return {
        "latency_ms": latency,
        "energy_mj": f"latency x the profile's active power ({profile.power.active_mw:g} mW)",
        "flash_bytes": "model file size + the profile's flash reserve",
        "ram_bytes": ram,
    }


# ---- the run's calibrated coefficients (read-only) ---------------------------------------------------
def _unreadable(ledger: Path, why: object):
    from qnas_edge.errors import UsageError

    return UsageError(f"{ledger}: not a readable qnas-edge ledger ({why}); {_RUN_HINT}")


def _connect_read_only(ledger: Path) -> sqlite3.Connection:
    """Open without writing anything: no -wal/-shm file is created (and so none is left behind).

    A read-only connection to a WAL-mode database creates the -wal and -shm files when they are missing
    and leaves them there; a WAL-mode file without a -wal holds everything in the main file, so it is
    opened `immutable` (no locks, no side files). With a -wal present (a run in progress or killed),
    the side files exist already and the read-only connection reads the log too.
    """
    with open(ledger, "rb") as fh:
        header = fh.read(100)
    wal_mode = len(header) >= 20 and header[18:20] == b"\x02\x02"
    side_files = Path(f"{ledger}-wal").exists()
    flags = "mode=ro&immutable=1" if wal_mode and not side_files else "mode=ro"
    return sqlite3.connect(f"{ledger.resolve().as_uri()}?{flags}", uri=True, timeout=30)


def _known_coefficient(name: Any) -> bool:
    """A coefficient name as the ledger stores it; whether the board's model has it is checked in `run`."""
    return isinstance(name, str) and bool(name)


def _valid_coefficients(raw: Any) -> dict[str, float] | None:
    """The ledger's coefficient dict if every name is one the cost model knows and every value is >= 0."""
    if not isinstance(raw, dict) or not raw:
        return None
    out = {}
    for name, value in raw.items():
        if not _known_coefficient(name) or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value) or value < 0:
            return None
        out[name] = float(value)
    return out


def read_run_calibration(run_dir: Path) -> RunCalibration:
    """The last calibration in RUN_DIR/ledger.sqlite; UsageError (exit 2, one line) for anything unusable."""
    from qnas_edge.errors import UsageError
    from qnas_edge.outputs.run_data import run_ledger

    ledger = run_ledger(run_dir, f"--run {run_dir}")
    try:
        db = _connect_read_only(ledger)
        try:
            meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
            cals = db.execute("SELECT after_n, coefficients, mean_rel_err FROM calibration "
                              "ORDER BY after_n DESC LIMIT 1").fetchall()
            rows = [] if not cals else db.execute(
                "SELECT measurement FROM candidates WHERE status = 'done' AND measurement IS NOT NULL "
                "AND n <= ?", (cals[0][0],)).fetchall()
        finally:
            db.close()
    except (sqlite3.Error, ValueError, TypeError) as exc:
        raise _unreadable(ledger, exc) from None
    board_id = meta.get("board_id") or (meta.get("board") or {}).get("id")
    if not isinstance(board_id, str) or not board_id:
        raise _unreadable(ledger, "no board_id in its meta table")
    if not cals:
        settings = meta.get("settings") or {}
        device = (settings.get("device") or {}).get("kind") if isinstance(settings, dict) else None
        why = "it ran with --no-device" if device == "none" else "no candidate has been measured yet"
        raise UsageError(f"--run {run_dir}: the run holds no calibrated coefficients ({why}); use "
                         f"'qnas-edge estimate MODEL --board {board_id}' for the catalog coefficients")
    after_n, raw, err = cals[0]
    try:
        coefficients = _valid_coefficients(json.loads(raw))
    except ValueError:
        coefficients = None
    if coefficients is None:
        raise _unreadable(ledger, f"the calibration after candidate #{after_n} holds no valid cost coefficients")
    sources: dict[str, int] = {}
    for (m,) in rows:
        try:
            src = json.loads(m).get("source") or "measured"
        except (ValueError, AttributeError):
            continue
        sources[src] = sources.get(src, 0) + 1
    settings = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
    budgets = {k: float(v) for k, v in (settings.get("budgets") or {}).items()
               if k in _BUDGET_KEYS and isinstance(v, int | float) and not isinstance(v, bool)}
    return RunCalibration(run_dir=run_dir, board_id=board_id, profile_source=str(meta.get("profile_source") or ""),
                          budgets=budgets, after_n=int(after_n), coefficients=coefficients,
                          mean_rel_err=None if err is None else float(err), sources=sources)


def _run_profile(cal: RunCalibration, args: argparse.Namespace):
    """The run's board (its own profile file when that was not a bundled one), with the run's budgets."""
    from device_profiles.catalog import get_profile
    from device_profiles.errors import ProfileError
    from qnas_edge.errors import UsageError

    if args.board and args.board != cal.board_id:
        raise UsageError(f"--board {args.board} does not match the board of run {cal.run_dir} "
                         f"('{cal.board_id}'); leave --board out or pass a run of {args.board}")
    src = cal.profile_source
    extra = [src] if src and Path(src).is_file() and "device_profiles" not in src else []
    try:
        profile = get_profile(cal.board_id, extra + list(args.profile or []))
    except ProfileError as exc:
        raise UsageError(f"--run {cal.run_dir}: {exc}") from None
    return profile.with_budgets(**cal.budgets)


# ---- terminal ---------------------------------------------------------------------------------------
def _print(est, profile, model: str, sources: dict[str, str], cal: RunCalibration | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console()
    table = Table(title=f"{escape(str(model))} on {profile.id} ({escape(profile.name)}) - estimated",
                  title_justify="left")
    for col in ("#", "op", "MACs", "weights B", "act B", "output", "ms"):
        table.add_column(col, justify="left" if col in ("op", "output") else "right")
    for lay in est.layers:
        table.add_row(str(lay.index), lay.op, f"{lay.macs:,}", f"{lay.weight_bytes:,}",
                      f"{lay.activation_bytes:,}", "x".join(map(str, lay.output_shape)), f"{lay.latency_ms:.3f}")
    con.print(table)

    def mark(key: str) -> str:
        return "" if key not in est.fits else (" [green]ok[/]" if est.fits[key] else " [red]OVER BUDGET[/]")

    def line(text: str) -> None:        # no hard line breaks: paths and sentences stay whole
        con.print(text, soft_wrap=True)

    lim = est.budgets
    whose = "run's " if cal is not None and cal.budgets else ""
    line(f"dtype {est.dtype}, {est.macs:,} MACs, {est.weight_bytes:,} B weights")
    lat_b = f" ({whose}budget {lim['latency_ms']:g} ms)" if "latency_ms" in lim else ""
    line(f"latency  {est.latency_ms:10.3f} ms{lat_b}{mark('latency_ms')} — {escape(sources['latency_ms'])}")
    if cal is not None and cal.mean_rel_err is not None:
        line(f"         [dim]mean error of the calibrated model on the run's measurements: "
             f"{100 * cal.mean_rel_err:.1f}%[/]")
    en_b = f" ({whose}budget {lim['energy_mj']:g} mJ)" if "energy_mj" in lim else ""
    line(f"energy   {est.energy_mj:10.4f} mJ{en_b}{mark('energy_mj')} — {escape(sources['energy_mj'])}")
    line(f"flash    {est.flash_bytes:10,} B (model {est.model_bytes:,} + reserve "
         f"{profile.flash_reserve_bytes:,}; {whose}limit {int(lim['flash_bytes']):,}){mark('flash_bytes')}")
    arena = f"arena {est.arena_bytes:,}" if est.arena_bytes is not None else "activations+weights"
    ram_how = " — arena found with the tflite-micro interpreter" if est.arena_bytes is not None else ""
    line(f"RAM      {est.ram_bytes:10,} B ({arena} + reserve {profile.ram_reserve_bytes:,}; "
         f"{whose}limit {int(lim['ram_bytes']):,}){mark('ram_bytes')}{ram_how}")
    if est.unsupported_ops:
        line(f"[red]TFLite Micro cannot run: {', '.join(est.unsupported_ops)}[/]")
    for note in est.notes:
        line(f"[yellow]note:[/] {escape(note)}")
    if cal is None:
        line("[dim]all figures estimated. A search recalibrates the latency model on the board's "
             "measurements: 'qnas-edge estimate MODEL --run RUN_DIR' uses a run's calibrated coefficients[/]")
    else:
        line("[dim]all figures estimated; 'qnas-edge estimate MODEL --board ID' uses the catalog coefficients[/]")
