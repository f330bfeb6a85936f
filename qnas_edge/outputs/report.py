"""A run's report: `report.html`, `pareto.png` and `predicted_vs_measured.png`, rebuilt from the ledger.

The ledger is the only input, so `qnas-edge report RUN_DIR` regenerates the same page at any time,
including while a search is still running or after it was killed. The page is self-contained (inline
CSS, plots embedded as base64 PNG; the PNG files are written next to it too) and says plainly whether
its figures were measured on hardware, simulated by the virtual board, or are static estimates only.
"""

from __future__ import annotations

import base64
import html
import os
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qnas_edge.errors import UsageError
from qnas_edge.pareto import (
    METRICS,
    Figures,
    ParetoPoint,
    budget_violations,
    candidate_figures,
    pareto_front,
    points_from_rows,
)

REPORT_NAME = "report.html"
PARETO_PNG = "pareto.png"
PRED_VS_MEAS_PNG = "predicted_vs_measured.png"
LEDGER_NAME = "ledger.sqlite"
MAX_LABELS = 40            # label points with their candidate number up to this many (beyond: clutter)

_LABEL = {"latency_ms": "latency", "ram_bytes": "RAM", "flash_bytes": "flash", "energy_mj": "energy"}


@dataclass
class RunData:
    """Everything a report or an export reads from a run directory's ledger."""

    run_dir: Path
    meta: dict[str, Any]
    rows: list[Any]                                   # ledger CandidateRow, ordered by n
    calibrations: list[tuple[int, dict[str, float], float | None]] = field(default_factory=list)

    @property
    def board(self) -> dict[str, Any]:
        return self.meta.get("board") or {}

    @property
    def board_id(self) -> str:
        return str(self.meta.get("board_id") or self.board.get("id") or "?")

    @property
    def settings(self) -> dict[str, Any]:
        return self.meta.get("settings") or {}

    @property
    def best_n(self) -> int | None:
        value = self.meta.get("best_n")
        return None if value is None else int(value)

    @property
    def budgets(self) -> dict[str, float]:
        """Budgets of the run (--max-* overrides already applied by the loop), else the board's."""
        out = {k: v for k, v in (self.board.get("budgets") or {}).items() if v is not None}
        out.update({k: v for k, v in (self.settings.get("budgets") or {}).items() if v is not None})
        return {k: float(v) for k, v in out.items() if k in METRICS}

    def row(self, n: int) -> Any | None:
        return next((r for r in self.rows if r.n == n), None)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory's ledger; UsageError (exit 2) when it is not a run directory."""
    from qnas_edge.ledger import Ledger

    path = Path(run_dir)
    if not path.exists():
        raise UsageError(f"{path}: no such run directory; pass the folder 'qnas-edge search' wrote "
                         "(runs/<timestamp>-<board>)")
    if not path.is_dir():
        raise UsageError(f"{path}: is a file, not a run directory; pass the folder 'qnas-edge search' wrote")
    ledger_path = path / LEDGER_NAME
    if not ledger_path.is_file():
        raise UsageError(f"{path}: not a run directory (no {LEDGER_NAME}); pass the folder 'qnas-edge search' "
                         "wrote (runs/<timestamp>-<board>)")
    try:
        with Ledger(ledger_path) as ledger:
            return RunData(path, ledger.meta(), ledger.candidates(), ledger.calibrations())
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        raise UsageError(f"{ledger_path}: not a readable qnas-edge ledger ({exc}); "
                         "pass the folder 'qnas-edge search' wrote") from None


# ---- what the report says ---------------------------------------------------------------------------
def device_label(device: Any) -> str:
    """'virtual', 'serial:/dev/ttyACM0', 'ssh:pi@host' or 'none' from the settings' device entry."""
    if isinstance(device, dict):
        kind = str(device.get("kind") or "?")
        if kind == "serial":
            return f"serial:{device.get('port') or 'auto'}"
        if kind == "ssh":
            return f"ssh:{device.get('host') or '?'}"
        return kind
    return str(device or "")


def figures_kind(run: RunData) -> tuple[str, str]:
    """(kind, sentence): kind is measured | simulated | mixed | static; the sentence says it plainly."""
    device = device_label(run.settings.get("device"))
    sources = {str(r.measurement.get("source") or "measured") for r in run.rows if r.measurement}
    if device == "none":
        return "static", ("--no-device: static estimates only. Nothing in this report was measured on a "
                          "board; latency, RAM and energy come from the board's cost model.")
    if not sources:
        return "static", (f"No candidate has been measured yet (device {device or 'unknown'}); every figure "
                          "is a static estimate.")
    if sources == {"simulated"}:
        return "simulated", ("Figures are SIMULATED by the virtual board (a board-twin timing model running "
                             "real TFLite Micro kernels), not measured on hardware.")
    if sources == {"measured"}:
        return "measured", f"Figures were measured on the board ({device}). Energy is estimated from " \
                           "measured latency x the profile's active power unless marked measured."
    return "mixed", f"Figures mix sources ({', '.join(sorted(sources))}); each cell says which."


def _rel_err(row: Any) -> float | None:
    pred = (row.predicted or {}).get("latency_ms")
    meas = (row.measurement or {}).get("latency_ms_median") if row.measurement else None
    if pred is None or not meas:
        return None
    return abs(float(pred) - float(meas)) / float(meas)


def candidate_records(run: RunData) -> list[dict[str, Any]]:
    """One JSON-ready record per candidate: figures with sources, predicted vs measured latency, violations."""
    budgets = run.budgets
    front = {p.n for p in pareto_front(points_from_rows(run.rows, run.board))}
    out = []
    for row in run.rows:
        fig = candidate_figures(row.measurement, row.predicted, row.metrics, run.board)
        meas = row.measurement or {}
        out.append({
            "n": row.n, "round": row.round, "arch_id": row.arch_id, "status": row.status,
            "accuracy": row.accuracy, "score": row.score, "feasible": row.feasible,
            "predicted_latency_ms": (row.predicted or {}).get("latency_ms"),
            "measured_latency_ms": meas.get("latency_ms_median"),
            "latency_source": meas.get("source") if meas else None,
            "latency_rel_err": _rel_err(row),
            "figures": fig.to_dict(),
            "violations": budget_violations(fig, budgets) if row.status in ("done", "unmeasured") else [],
            "pareto": row.n in front, "best": row.n == run.best_n,
            "timings": row.timings or {}, "artifacts": row.artifacts, "error": row.error,
            "arch": row.arch,
        })
    return out


def calibration_summary(run: RunData) -> dict[str, Any]:
    """Calibration history + mean |predicted - measured| / measured latency over the first and last third."""
    errs = [e for e in (_rel_err(r) for r in run.rows if r.status == "done") if e is not None]
    third = len(errs) // 3
    first = sum(errs[:third]) / third if third else None
    last = sum(errs[-third:]) / third if third else None
    return {
        "history": [{"after_n": n, "mean_rel_err": e, "coefficients": c} for n, c, e in run.calibrations],
        "measured_candidates": len(errs),
        "mean_rel_err_all": sum(errs) / len(errs) if errs else None,
        "mean_rel_err_first_third": first,
        "mean_rel_err_last_third": last,
    }


def _time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def run_summary(run: RunData) -> dict[str, Any]:
    """The run's settings, status and outcome as a JSON-ready dict (`report --json`)."""
    kind, sentence = figures_kind(run)
    s = run.settings
    counts = {state: sum(1 for r in run.rows if r.status == state)
              for state in ("done", "unmeasured", "failed", "proposed")}
    counts["total"] = len(run.rows)
    counts["feasible"] = sum(1 for r in run.rows if r.feasible and r.status == "done")
    best = None
    if run.best_n is not None and run.row(run.best_n) is not None:
        row = run.row(run.best_n)
        fig = candidate_figures(row.measurement, row.predicted, row.metrics, run.board)
        best = {"n": row.n, "accuracy": row.accuracy, "feasible": row.feasible, "arch": row.arch,
                "figures": fig.to_dict(), "artifacts": row.artifacts,
                "violations": budget_violations(fig, run.budgets)}
    return {
        "run_dir": str(run.run_dir),
        "board": {"id": run.board_id, "name": run.board.get("name"), "runtime": run.board.get("runtime"),
                  "core": run.board.get("core"), "clock_mhz": run.board.get("clock_mhz")},
        "budgets": run.budgets,
        "device": device_label(s.get("device")),
        "figures": kind,
        "figures_note": sentence,
        "strategy": s.get("strategy"), "sampler": s.get("sampler"), "seed": s.get("seed"),
        "trials": s.get("trials"), "time_budget_min": s.get("time_budget_min"),
        "epochs": s.get("epochs"), "data": s.get("data"),
        "status": run.meta.get("status"),
        "started": _time(run.meta.get("started")), "finished": _time(run.meta.get("finished")),
        "candidates": counts,
        "best_n": run.best_n,
        "best": best,
        "final_retrain": run.meta.get("final"),
        "board_idle_s": run.meta.get("board_idle_s"),
        "loop_wall_s": run.meta.get("loop_wall_s"),
        "calibration": calibration_summary(run),
    }


def report_data(run_dir: str | Path) -> dict[str, Any]:
    """Summary + Pareto front + every candidate, as written into the report (and `report --json`)."""
    run = load_run(run_dir)
    return _data(run)


def _data(run: RunData) -> dict[str, Any]:
    front = pareto_front(points_from_rows(run.rows, run.board))
    return {"summary": run_summary(run), "pareto_front": [p.to_dict() for p in front],
            "candidates": candidate_records(run)}


# ---- writing ----------------------------------------------------------------------------------------
def write_report(run_dir: str | Path) -> Path:
    """(Re)write report.html, pareto.png and predicted_vs_measured.png in the run directory; returns the
    report's path. Each file is replaced atomically, so a reader never sees a half-written one."""
    run = load_run(run_dir)
    data = _data(run)
    pareto_png = _plot_pareto(run, data)
    pvm_png = _plot_predicted_vs_measured(run, data)
    _atomic_write(run.run_dir / PARETO_PNG, pareto_png)
    _atomic_write(run.run_dir / PRED_VS_MEAS_PNG, pvm_png)
    page = render_html(run, data, {PARETO_PNG: pareto_png, PRED_VS_MEAS_PNG: pvm_png})
    out = run.run_dir / REPORT_NAME
    _atomic_write(out, page.encode("utf-8"))
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    """Write next to `path` then rename over it (normal umask permissions, unlike mkstemp's 0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---- plots ------------------------------------------------------------------------------------------
def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _source_label(points: list[ParetoPoint], metric: str) -> str:
    sources = sorted({p.figures.sources.get(metric, "") for p in points} - {""})
    return "/".join(sources) or "n/a"


def _plot_pareto(run: RunData, data: dict[str, Any]) -> bytes:
    points = points_from_rows(run.rows, run.board)
    front = {p["n"] for p in data["pareto_front"]}
    budgets = run.budgets
    fig = _new_figure(10, 4.2)
    axes = fig.subplots(1, 2)
    rams = [p.figures.ram_bytes for p in points if p.figures.ram_bytes is not None]
    ram_unit, ram_scale = ("MB", 1 / 1024**2) if rams and max(rams) >= 10 * 1024**2 else ("KB", 1 / 1024)
    panels = (("latency_ms", 1.0, "ms"), ("ram_bytes", ram_scale, ram_unit))
    for ax, (metric, scale, unit) in zip(axes, panels, strict=True):
        usable = [p for p in points if p.figures.get(metric) is not None]
        ax.set_ylabel("int8 validation accuracy")
        ax.set_xlabel(f"{_LABEL[metric]} ({unit}, {_source_label(usable, metric)})")
        ax.grid(True, alpha=0.3)
        if not usable:
            ax.text(0.5, 0.5, "no completed candidates yet", ha="center", va="center", transform=ax.transAxes)
            continue
        groups = (
            ("meets budgets", [p for p in usable if p.feasible], "o", "#2a9d4b"),
            ("violates a budget", [p for p in usable if p.feasible is False], "x", "#d1342f"),
            ("not judged", [p for p in usable if p.feasible is None], "s", "#888888"),
        )
        for label, pts, marker, color in groups:
            if pts:
                ax.scatter([p.figures.get(metric) * scale for p in pts], [p.accuracy for p in pts],
                           marker=marker, color=color, label=label, s=36, zorder=3)
        on_front = sorted((p for p in usable if p.n in front), key=lambda p: p.figures.get(metric))
        if on_front:
            ax.scatter([p.figures.get(metric) * scale for p in on_front], [p.accuracy for p in on_front],
                       s=140, facecolors="none", edgecolors="#1f4e9c", linewidths=1.5,
                       label="Pareto front (4 metrics)", zorder=4)
        for p in usable if len(usable) <= MAX_LABELS else on_front:
            ax.annotate(f"#{p.n}", (p.figures.get(metric) * scale, p.accuracy), textcoords="offset points",
                        xytext=(5, 4), fontsize=7, color="#444444")
        best = next((p for p in usable if p.n == run.best_n), None)
        if best is not None:
            ax.scatter([best.figures.get(metric) * scale], [best.accuracy], marker="*", s=260,
                       color="#f2b50f", edgecolors="black", linewidths=0.6, label=f"best #{best.n}", zorder=5)
        if metric in budgets:
            ax.axvline(budgets[metric] * scale, color="#d1342f", linestyle="--", linewidth=1,
                       label=f"budget {budgets[metric] * scale:g} {unit}")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{run.board_id}: int8 accuracy vs {figures_kind(run)[0]} figures", fontsize=11)
    return _png(fig)


def _plot_predicted_vs_measured(run: RunData, data: dict[str, Any]) -> bytes:
    recs = [r for r in data["candidates"]
            if r["predicted_latency_ms"] is not None and r["measured_latency_ms"] is not None]
    if not recs:
        fig = _new_figure(10, 1.6)
        ax = fig.subplots()
        ax.set_axis_off()
        msg = ("--no-device: nothing was measured, static estimates only"
               if device_label(run.settings.get("device")) == "none" else "no measured candidate yet")
        ax.text(0.5, 0.5, f"Predicted vs measured latency: {msg}", ha="center", va="center", fontsize=12)
        return _png(fig)
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure(10, 4.2)
    source = "/".join(sorted({r["latency_source"] or "measured" for r in recs}))
    ax1, ax2 = fig.subplots(1, 2)
    pred = [float(r["predicted_latency_ms"]) for r in recs]
    meas = [float(r["measured_latency_ms"]) for r in recs]
    ns = [r["n"] for r in recs]
    sc = ax1.scatter(pred, meas, c=ns, cmap="viridis", s=36, zorder=3)
    lo, hi = min(pred + meas), max(pred + meas)
    pad = (hi - lo) * 0.05 or hi * 0.05 or 1.0
    ax1.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#888888", linestyle="--", linewidth=1,
             label="predicted = measured")
    for x, y, n in list(zip(pred, meas, ns, strict=True))[:MAX_LABELS]:
        ax1.annotate(f"#{n}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7, color="#444444")
    ax1.set_xlabel("predicted latency (ms, static cost model at proposal time)")
    ax1.set_ylabel(f"{source} latency (ms, median)")
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize=7, loc="upper left")
    cbar = fig.colorbar(sc, ax=ax1, label="candidate #")
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()

    errs = [(r["n"], 100 * r["latency_rel_err"]) for r in recs if r["latency_rel_err"] is not None]
    ax2.plot([n for n, _ in errs], [e for _, e in errs], "o", color="#1f4e9c", label="per candidate")
    hist = [(n, 100 * e) for n, _, e in run.calibrations if e is not None]
    if hist:
        ax2.plot([n for n, _ in hist], [e for _, e in hist], "-", color="#d1342f", linewidth=1.5,
                 label="calibration mean (after candidate #)")
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_xlabel("candidate #")
    ax2.set_ylabel("|predicted - measured| / measured latency (%)")
    ax2.set_ylim(bottom=0)
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{run.board_id}: predicted vs {source} latency (closing the loop)", fontsize=11)
    return _png(fig)


# ---- HTML -------------------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1280px;
padding:0 16px;color:#1d1d1f}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}
.sub{color:#666}.note{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.note.static{background:#fff4d6;border:1px solid #e8c15a}.note.simulated{background:#e8f0fe;
border:1px solid #8fb0ea}.note.measured{background:#e6f5ea;border:1px solid #84c79a}
.note.mixed{background:#f3e8fd;border:1px solid #b996e0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f4f5f7;text-align:center}td.l{text-align:left}
td.over{background:#fde2e1;color:#a0120d;font-weight:600}
tr.best td{background:#fff8dc}tr.failed td{color:#888}
.kv td:first-child{text-align:left;color:#555}.kv td{text-align:left}
.src{color:#777;font-size:11px}.ok{color:#1b7f3b;font-weight:600}.bad{color:#b3261e;font-weight:600}
code{font-size:12px}.arch{font-size:11px;color:#444;max-width:380px;text-align:left}
img{max-width:100%;border:1px solid #eee}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(metric: str, value: Any) -> str:
    if value is None:
        return "–"
    v = float(value)
    if metric in ("ram_bytes", "flash_bytes"):
        return _bytes(v)
    if metric == "latency_ms":
        return f"{v:,.3f} ms" if v < 10 else f"{v:,.1f} ms"
    if metric == "energy_mj":
        return f"{v:,.4f} mJ" if v < 1 else f"{v:,.2f} mJ"
    return f"{v:g}"


def _bytes(v: float) -> str:
    """KB below 10 MB, MB below 10 GB, else GB (binary units, as board datasheets use)."""
    for unit, scale in (("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
        if v < 10 * 1024 * scale or unit == "GB":
            return f"{v / scale:,.1f} {unit}"
    return f"{v:,.0f} B"


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def arch_summary(arch: dict[str, Any]) -> str:
    """Compact one-line view of flat decisions, e.g. 'r16-w0.75 | s0: k3e1 | s1: k5e4se k3e2'."""
    slots: dict[int, list[tuple[int, str]]] = {}
    rest = []
    for key, value in arch.items():
        m = re.fullmatch(r"s(\d+)_b(\d+)", key)
        if m:
            slots.setdefault(int(m.group(1)), []).append((int(m.group(2)), str(value)))
        else:
            rest.append(f"{value}" if key == "rw" else f"{key}={value}")
    parts = [" ".join(sorted(rest))] if rest else []
    for stage in sorted(slots):
        blocks = [c for _, c in sorted(slots[stage]) if c != "skip"]
        parts.append(f"s{stage}: " + " ".join(blocks))
    return " | ".join(parts)


def _figure_cell(fig: dict[str, Any], metric: str, violations: list[str]) -> str:
    cls = ' class="over"' if metric in violations else ""
    src = fig["sources"].get(metric)
    tag = f' <span class="src">{_e(src)}</span>' if src else ""
    mark = " ✗" if metric in violations else ""
    return f"<td{cls}>{_fmt(metric, fig.get(metric))}{mark}{tag}</td>"


def render_html(run: RunData, data: dict[str, Any], images: dict[str, bytes]) -> str:
    """The report page as one self-contained HTML string (plots inlined as base64 PNG)."""
    s = data["summary"]
    budgets = run.budgets
    kind = s["figures"]
    out: list[str] = []
    w = out.append
    w(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
      f"<title>qnas-edge run {_e(run.run_dir.name)}</title><style>{_CSS}</style></head><body>")
    w(f"<h1>qnas-edge search on {_e(s['board']['name'] or s['board']['id'])}</h1>")
    w(f"<div class='sub'>run <code>{_e(run.run_dir)}</code> · status <b>{_e(s['status'] or 'unknown')}</b>"
      f" · generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</div>")
    w(f"<div class='note {kind}' id='figures-note'>{_e(s['figures_note'])}</div>")

    # -- summary
    w("<h2>Run</h2><table class='kv'>")
    board = s["board"]
    rows = [
        ("board", f"{board['id']} ({board.get('name') or '?'}; {board.get('core') or '?'} @ "
                  f"{board.get('clock_mhz') or '?'} MHz; runtime {board.get('runtime') or '?'})"),
        ("budgets", ", ".join(f"{_LABEL[m]} ≤ {_fmt(m, budgets[m])}" for m in METRICS if m in budgets)
         or "none"),
        ("device", s["device"] or "?"),
        ("figures", kind),
        ("strategy / sampler", f"{s['strategy'] or '?'} / {s['sampler'] or '?'}"),
        ("seed", s["seed"]),
        ("trials / time budget", f"{s['trials'] if s['trials'] is not None else '?'} / "
                                 f"{s['time_budget_min'] if s['time_budget_min'] is not None else '–'} min"),
        ("data / proxy epochs", f"{s['data'] or '?'} / {s['epochs'] if s['epochs'] is not None else '?'}"),
        ("started / finished", f"{s['started'] or '?'} / {s['finished'] or '–'}"),
        ("candidates", ", ".join(f"{v} {k}" for k, v in s["candidates"].items() if v or k == "total")),
    ]
    if s.get("board_idle_s") is not None and s.get("loop_wall_s"):
        rows.append(("board idle", f"{s['board_idle_s']:.1f} s of {s['loop_wall_s']:.1f} s "
                                   "(training overlaps measuring)"))
    for key, value in rows:
        w(f"<tr><td>{_e(key)}</td><td>{_e(value)}</td></tr>")
    w("</table>")

    # -- best
    w("<h2>Best candidate</h2>")
    best = s["best"]
    if best is None:
        if not s["candidates"]["done"] and s["candidates"]["failed"]:
            w(f"<p class='bad'>No candidate completed: {s['candidates']['failed']} failed (the errors are in the "
              "table of all candidates below).</p>")
        elif s["status"] == "running":
            w("<p>Not chosen yet: the search is still running.</p>")
        else:
            w("<p class='bad'>No candidate was chosen: none met every budget with its "
              f"{'measured' if kind != 'static' else 'estimated'} figures.</p>")
    else:
        fig = best["figures"]
        w(f"<p id='best'>Candidate <b>#{best['n']}</b>, int8 validation accuracy "
          f"<b>{_pct(best['accuracy'], 2)}</b>; artifacts in <code>{_e(best['artifacts'] or '?')}</code>"
          f" (and <code>best/</code>). Deploy it with <code>qnas-edge export {_e(run.run_dir)} --to DIR</code>.</p>")
        w("<table><tr><th>metric</th><th>value</th><th>source</th><th>budget</th><th>meets</th></tr>")
        for m in METRICS:
            over = m in best["violations"]
            meets = "–" if m not in budgets else ("<span class='bad'>no</span>" if over
                                                   else "<span class='ok'>yes</span>")
            w(f"<tr><td class='l'>{_LABEL[m]}</td><td{' class=over' if over else ''}>{_fmt(m, fig.get(m))}</td>"
              f"<td class='l'>{_e(fig['sources'].get(m, '–'))}</td>"
              f"<td>{_fmt(m, budgets.get(m)) if m in budgets else '–'}</td><td>{meets}</td></tr>")
        w("</table>")
        w(f"<p class='arch'>architecture: <code>{_e(arch_summary(best['arch']))}</code></p>")
        final = s.get("final_retrain")
        if isinstance(final, dict) and final.get("accuracy") is not None:
            w(f"<p id='final'>Final retraining (in <code>best/</code>) reached int8 validation accuracy "
              f"<b>{_pct(float(final['accuracy']), 2)}</b>; the table above shows the search candidate.</p>")

    # -- pareto
    w("<h2>Pareto front</h2><p class='sub'>int8 validation accuracy (higher is better) against latency, RAM, "
      "flash and energy per inference (lower is better); completed candidates only. Sources: measured = "
      "hardware, simulated = virtual board, estimated = measured latency × active power, static = cost model.</p>")
    w("<table id='pareto'><tr><th>#</th><th>int8 accuracy</th><th>latency</th><th>RAM</th><th>flash</th>"
      "<th>energy</th><th>meets budgets</th></tr>")
    if not data["pareto_front"]:
        w("<tr><td colspan='7' class='l'>no completed candidate yet</td></tr>")
    for p in data["pareto_front"]:
        fig = {m: p[m] for m in METRICS} | {"sources": p["sources"]}
        viol = budget_violations(Figures(**fig), budgets)
        cls = " class='best'" if p["n"] == run.best_n else ""
        ok = "–" if p["feasible"] is None else ("<span class='ok'>yes</span>" if p["feasible"]
                                                else "<span class='bad'>no</span>")
        w(f"<tr{cls} data-n='{p['n']}'><td>#{p['n']}</td><td>{_pct(p['accuracy'], 2)}</td>"
          + "".join(_figure_cell(fig, m, viol) for m in METRICS) + f"<td>{ok}</td></tr>")
    w("</table>")
    w(_img(images, PARETO_PNG, "int8 accuracy vs latency and RAM"))

    # -- all candidates
    w("<h2>All candidates</h2><p class='sub'>Predicted = static cost model when the candidate was proposed "
      "(with the calibration of that moment); measured = median over the board's runs. Cells over a budget "
      "are red (✗).</p>")
    w("<table id='candidates'><tr><th>#</th><th>round</th><th>status</th><th>int8 accuracy</th>"
      "<th>predicted latency</th><th>measured latency</th><th>prediction error</th><th>RAM</th><th>flash</th>"
      "<th>energy</th><th>meets budgets</th><th>time (s)</th><th>architecture / note</th></tr>")
    for r in data["candidates"]:
        fig, viol = r["figures"], r["violations"]
        cls = "best" if r["best"] else ("failed" if r["status"] == "failed" else "")
        lat_over = "latency_ms" in viol
        lat_cls = " class='over'" if lat_over and r["measured_latency_ms"] is not None else ""
        pred_cls = " class='over'" if lat_over and r["measured_latency_ms"] is None else ""
        if r["status"] in ("failed", "proposed"):
            fig = {"sources": {}}          # no built model: nothing to show but the proposal estimate
        ok = "–" if r["feasible"] is None else ("<span class='ok'>yes</span>" if r["feasible"]
                                                else "<span class='bad'>no</span>")
        note = _e(arch_summary(r["arch"]))
        if r["error"]:
            note += f"<br><span class='bad'>{_e(r['error'])}</span>"
        meas_src = f" <span class='src'>{_e(r['latency_source'])}</span>" if r["latency_source"] else ""
        status = _e(r["status"]) + (" ★" if r["best"] else "") + (" ◆" if r["pareto"] else "")
        w(f"<tr class='{cls}' data-n='{r['n']}'><td>#{r['n']}</td><td>{r['round']}</td><td class='l'>{status}</td>"
          f"<td>{_pct(r['accuracy'], 2)}</td><td{pred_cls}>{_fmt('latency_ms', r['predicted_latency_ms'])}</td>"
          f"<td{lat_cls}>{_fmt('latency_ms', r['measured_latency_ms'])}{meas_src}</td>"
          f"<td>{_pct(r['latency_rel_err'])}</td>"
          + "".join(_figure_cell(fig, m, viol) for m in ("ram_bytes", "flash_bytes", "energy_mj"))
          + f"<td>{ok}</td><td>{sum(float(v) for v in r['timings'].values()):.1f}</td>"
          f"<td class='arch'>{note}</td></tr>")
    w("</table><p class='sub'>★ best · ◆ on the Pareto front</p>")

    # -- calibration
    cal = s["calibration"]
    w("<h2>Cost-model calibration</h2>")
    if not cal["measured_candidates"]:
        w("<p>No measurements, so the cost model was not recalibrated in this run.</p>")
    else:
        w(f"<p id='calibration'>Mean |predicted − measured| / measured latency over {cal['measured_candidates']} "
          f"measured candidates: <b>{_pct(cal['mean_rel_err_all'])}</b>; first third "
          f"<b>{_pct(cal['mean_rel_err_first_third'])}</b>, last third <b>{_pct(cal['mean_rel_err_last_third'])}</b>."
          "</p>")
        if cal["history"]:
            w("<table><tr><th>refit after #</th><th>mean relative error of the refit</th></tr>")
            for h in cal["history"]:
                w(f"<tr><td>#{h['after_n']}</td><td>{_pct(h['mean_rel_err'])}</td></tr>")
            w("</table>")
    w(_img(images, PRED_VS_MEAS_PNG, "predicted vs measured latency"))
    w("</body></html>")
    return "\n".join(out)


def _img(images: dict[str, bytes], name: str, alt: str) -> str:
    data = images.get(name)
    if not data:
        return f"<p><img src='{_e(name)}' alt='{_e(alt)}'></p>"
    b64 = base64.b64encode(data).decode("ascii")
    return f"<p><img src='data:image/png;base64,{b64}' alt='{_e(alt)}' data-file='{_e(name)}'></p>"
