"""The report's two plots as PNG bytes (matplotlib, Agg, no pyplot state).

- `pareto.png`: int8 accuracy against latency (ms) and total RAM (KB/MB), budgets dashed, the Pareto
  front ringed, the best starred; axis labels name each figure's source.
- `predicted_vs_measured.png`: the cost model's proposal-time latency against the board's latency
  (measured or simulated, as labelled), and the relative error per candidate with the calibration refits.
"""

from __future__ import annotations

import io
from typing import Any

from qnas_edge.outputs.formatting import LABELS
from qnas_edge.outputs.run_data import RunData, device_label, figures_kind
from qnas_edge.run.pareto import ParetoPoint, points_from_rows

MAX_LABELS = 40            # label points with their candidate number up to this many (beyond: clutter)


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _source_label(points: list[ParetoPoint], metric: str) -> str:
    sources = sorted({p.figures.sources.get(metric, "") for p in points} - {""})
    return "/".join(sources) or "n/a"


def board_source(records: list[dict[str, Any]]) -> str:
    """'measured', 'simulated' or 'measured/simulated': the word for the board's latency in these records."""
    return "/".join(sorted({r["latency_source"] for r in records if r["latency_source"]})) or "board"


def plot_pareto(run: RunData, data: dict[str, Any]) -> bytes:
    """pareto.png: accuracy vs latency and vs total RAM; `data` is `report_data.build_data(run)`."""
    points = points_from_rows(run.rows, run.board)
    fig = _new_figure(10, 4.2)
    rams = [p.figures.ram_bytes for p in points if p.figures.ram_bytes is not None]
    ram_unit, ram_scale = ("MB", 1 / 1024**2) if rams and max(rams) >= 10 * 1024**2 else ("KB", 1 / 1024)
    panels = (("latency_ms", 1.0, "ms"), ("ram_bytes", ram_scale, ram_unit))
    front = {p["n"] for p in data["pareto_front"]}
    for ax, (metric, scale, unit) in zip(fig.subplots(1, 2), panels, strict=True):
        _pareto_panel(ax, run, points, front, metric, scale, unit)
    fig.suptitle(f"{run.board_id}: int8 accuracy vs {figures_kind(run)[0]} figures", fontsize=11)
    return _png(fig)


def _pareto_panel(ax: Any, run: RunData, points: list[ParetoPoint], front: set[int], metric: str,
                  scale: float, unit: str) -> None:
    usable = [p for p in points if p.figures.get(metric) is not None]
    ax.set_ylabel("int8 validation accuracy")
    ax.set_xlabel(f"{LABELS[metric]} ({unit}, {_source_label(usable, metric)})")
    ax.grid(True, alpha=0.3)
    if not usable:
        ax.text(0.5, 0.5, "no completed candidates yet", ha="center", va="center", transform=ax.transAxes)
        return

    def x(p: ParetoPoint) -> float:
        return p.figures.get(metric) * scale

    groups = (("meets budgets", [p for p in usable if p.feasible], "o", "#2a9d4b"),
              ("violates a budget", [p for p in usable if p.feasible is False], "x", "#d1342f"),
              ("not judged", [p for p in usable if p.feasible is None], "s", "#888888"))
    for label, pts, marker, color in groups:
        if pts:
            ax.scatter([x(p) for p in pts], [p.accuracy for p in pts], marker=marker, color=color,
                       label=label, s=36, zorder=3)
    on_front = sorted((p for p in usable if p.n in front), key=lambda p: p.figures.get(metric))
    if on_front:
        ax.scatter([x(p) for p in on_front], [p.accuracy for p in on_front], s=140, facecolors="none",
                   edgecolors="#1f4e9c", linewidths=1.5, label="Pareto front (4 metrics)", zorder=4)
    for p in usable if len(usable) <= MAX_LABELS else on_front:
        ax.annotate(f"#{p.n}", (x(p), p.accuracy), textcoords="offset points", xytext=(5, 4), fontsize=7,
                    color="#444444")
    best = next((p for p in usable if p.n == run.best_n), None)
    if best is not None:
        ax.scatter([x(best)], [best.accuracy], marker="*", s=260, color="#f2b50f", edgecolors="black",
                   linewidths=0.6, label=f"best #{best.n}", zorder=5)
    if metric in run.budgets:
        limit = run.budgets[metric] * scale
        ax.axvline(limit, color="#d1342f", linestyle="--", linewidth=1, label=f"budget {limit:g} {unit}")
    ax.legend(fontsize=7, loc="lower right")


def plot_predicted_vs_measured(run: RunData, data: dict[str, Any]) -> bytes:
    """predicted_vs_measured.png: static prediction vs board latency, and the error along the run."""
    recs = [r for r in data["candidates"]
            if r["predicted_latency_ms"] is not None and r["measured_latency_ms"] is not None]
    if not recs:
        fig = _new_figure(10, 1.6)
        ax = fig.subplots()
        ax.set_axis_off()
        msg = ("--no-device: nothing was measured, static estimates only"
               if device_label(run.settings.get("device")) == "none" else "no board latency yet")
        ax.text(0.5, 0.5, f"Predicted vs board latency: {msg}", ha="center", va="center", fontsize=12)
        return _png(fig)
    source = board_source(recs)
    fig = _new_figure(10, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    _prediction_scatter(fig, ax1, recs, source)
    _error_history(ax2, run, recs, source)
    fig.suptitle(f"{run.board_id}: predicted vs {source} latency (closing the loop)", fontsize=11)
    return _png(fig)


def _prediction_scatter(fig: Any, ax: Any, recs: list[dict[str, Any]], source: str) -> None:
    from matplotlib.ticker import MaxNLocator

    pred = [float(r["predicted_latency_ms"]) for r in recs]
    meas = [float(r["measured_latency_ms"]) for r in recs]
    ns = [r["n"] for r in recs]
    sc = ax.scatter(pred, meas, c=ns, cmap="viridis", s=36, zorder=3)
    lo, hi = min(pred + meas), max(pred + meas)
    pad = (hi - lo) * 0.05 or hi * 0.05 or 1.0
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#888888", linestyle="--", linewidth=1,
            label=f"predicted = {source}")
    for x, y, n in list(zip(pred, meas, ns, strict=True))[:MAX_LABELS]:
        ax.annotate(f"#{n}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7, color="#444444")
    ax.set_xlabel("predicted latency (ms, static cost model at proposal time)")
    ax.set_ylabel(f"{source} latency (ms, median)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    cbar = fig.colorbar(sc, ax=ax, label="candidate #")
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()


def _error_history(ax: Any, run: RunData, recs: list[dict[str, Any]], source: str) -> None:
    from matplotlib.ticker import MaxNLocator

    errs = [(r["n"], 100 * r["latency_rel_err"]) for r in recs if r["latency_rel_err"] is not None]
    ax.plot([n for n, _ in errs], [e for _, e in errs], "o", color="#1f4e9c", label="per candidate")
    hist = [(n, 100 * e) for n, _, e in run.calibrations if e is not None]
    if hist:
        ax.plot([n for n, _ in hist], [e for _, e in hist], "-", color="#d1342f", linewidth=1.5,
                label="calibration mean (after candidate #)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("candidate #")
    ax.set_ylabel(f"|predicted - {source}| / {source} latency (%)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
