"""What the report says, as JSON-ready data: the run summary, the Pareto front and every candidate.

`report_data(run_dir)` is also what `qnas-edge report --json` prints (summary + front). Every figure
is `records.figures_of` of its candidate and carries its source (measured / simulated / estimated /
static); latencies in ms, memory in bytes, energy in mJ per inference.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qnas_edge.outputs.formatting import units
from qnas_edge.outputs.run_data import (
    RunData,
    best_record,
    device_label,
    figures_kind,
    final_retrain,
    load_run,
)
from qnas_edge.records import STATES, Candidate, budget_violations, figures_of
from qnas_edge.run.pareto import pareto_front, points_from_rows


def latency_rel_err(row: Candidate) -> float | None:
    """|predicted - board| / board latency of one candidate (prediction made at proposal time)."""
    pred = (row.predicted or {}).get("latency_ms")
    board = row.measurement.latency_ms_median if row.measurement is not None else None
    if pred is None or not board:
        return None
    return abs(float(pred) - float(board)) / float(board)


def candidate_records(run: RunData) -> list[dict[str, Any]]:
    """One record per candidate: figures with sources, predicted vs board latency, violations.

    `measured_latency_ms` is the board's median latency whatever the board: `latency_source` says
    whether it was measured on hardware or simulated by the virtual board."""
    budgets = run.budgets
    front = {p.n for p in pareto_front(points_from_rows(run.rows, run.board))}
    out = []
    for row in run.rows:
        fig = run.figures(row)
        m = row.measurement
        out.append({
            "n": row.n, "round": row.round, "arch_id": row.arch_id, "status": row.status,
            "accuracy": row.accuracy, "score": row.score, "feasible": row.feasible,
            "fidelity": row.fidelity, "epochs": row.rung_epochs,   # --fidelity auto only (else None)
            "accuracy_kind": row.accuracy_kind,
            "predicted_latency_ms": (row.predicted or {}).get("latency_ms"),
            "measured_latency_ms": m.latency_ms_median if m is not None else None,
            "latency_source": m.source if m is not None else None,
            "latency_rel_err": latency_rel_err(row),
            "figures": fig.to_dict(),
            "violations": budget_violations(fig, budgets) if row.status in ("done", "unmeasured") else [],
            "pareto": row.n in front, "best": row.n == run.best_n,
            "timings": row.timings or {}, "artifacts": row.artifacts, "error": row.error,
            "arch": row.arch,
        })
    return out


def calibration_summary(run: RunData) -> dict[str, Any]:
    """Calibration history + mean |predicted - board| / board latency over the first and last third."""
    errs = [e for e in (latency_rel_err(r) for r in run.rows if r.status == "done") if e is not None]
    third = len(errs) // 3
    return {
        "history": [{"after_n": n, "mean_rel_err": e, "coefficients": c} for n, c, e in run.calibrations],
        "measured_candidates": len(errs),
        "mean_rel_err_all": sum(errs) / len(errs) if errs else None,
        "mean_rel_err_first_third": sum(errs[:third]) / third if third else None,
        "mean_rel_err_last_third": sum(errs[-third:]) / third if third else None,
    }


def _time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def _counts(run: RunData) -> dict[str, int]:
    counts = {state: sum(1 for r in run.rows if r.status == state) for state in (*STATES[1:], STATES[0])}
    counts["total"] = len(run.rows)
    counts["feasible"] = sum(1 for r in run.rows if r.feasible and r.status == "done")
    return counts


def _best(run: RunData) -> dict[str, Any] | None:
    row = run.row(run.best_n)
    if row is None:
        return None
    fig = run.figures(row)
    return {"n": row.n, "arch_id": row.arch_id, "accuracy": row.accuracy, "feasible": row.feasible,
            "arch": row.arch, "figures": fig.to_dict(), "artifacts": row.artifacts,
            "violations": budget_violations(fig, run.budgets)}


def _final(run: RunData) -> dict[str, Any] | None:
    """The final retrain with the retrained model's figures (from best/measured.json) when it was kept."""
    info = final_retrain(run)
    if info is None or not info["kept"]:
        return info
    rec = best_record(run)
    if rec is not None and rec["candidate"] == info["from_n"]:
        fig = figures_of(rec["measurement"], rec["static"], run.board)
        info = {**info, "figures": fig.to_dict(), "violations": budget_violations(fig, run.budgets)}
    return info


def run_summary(run: RunData) -> dict[str, Any]:
    """The run's settings, status and outcome as a JSON-ready dict (`report --json`)."""
    kind, sentence = figures_kind(run)
    s = run.settings
    board = run.board
    return {
        "run_dir": str(run.run_dir),
        "board": {"id": run.board_id, "name": board.get("name"), "runtime": board.get("runtime"),
                  "core": board.get("core"), "clock_mhz": board.get("clock_mhz")},
        "budgets": run.budgets,
        "device": device_label(s.get("device")),
        "figures": kind,
        "figures_note": sentence,
        "units": units(run.board),
        "strategy": s.get("strategy"), "sampler": s.get("sampler"), "seed": s.get("seed"),
        "sampler_options": s.get("sampler_options") or {},
        "trials": s.get("trials"), "time_budget_min": s.get("time_budget_min"),
        "epochs": s.get("epochs"), "final_epochs": s.get("final_epochs"), "data": s.get("data"),
        "fidelity": s.get("fidelity") or "off", "ladder": s.get("ladder"),
        "status": run.meta.get("status"),
        "started": _time(run.meta.get("started")), "finished": _time(run.meta.get("finished")),
        "candidates": _counts(run),
        "best_n": run.best_n,
        "best": _best(run),
        "final_retrain": run.meta.get("final"),
        "final": _final(run),
        "board_idle_s": run.meta.get("board_idle_s"),
        "loop_wall_s": run.meta.get("loop_wall_s"),
        "calibration": calibration_summary(run),
    }


def build_data(run: RunData) -> dict[str, Any]:
    """Summary + Pareto front + every candidate of an already loaded run."""
    front = pareto_front(points_from_rows(run.rows, run.board))
    return {"summary": run_summary(run), "pareto_front": [p.to_dict() for p in front],
            "candidates": candidate_records(run)}


def report_data(run_dir: str | Path) -> dict[str, Any]:
    """Summary + Pareto front + every candidate, as written into the report (and `report --json`)."""
    return build_data(load_run(run_dir))
