"""A run's report: `report.html`, `pareto.png` and `predicted_vs_measured.png`, rebuilt from the ledger.

The ledger is the only input, so `qnas-edge report RUN_DIR` regenerates the same page at any time,
including while a search is still running or after it was killed. The page is rendered from the
Jinja2 template `templates/report.html` (autoescaped), is self-contained (inline CSS, plots embedded as
base64 PNG; the PNG files are written next to it too) and says plainly whether its figures were measured
on hardware, simulated by the virtual board, or are static estimates only.

The pieces: `run_data` (reading the run), `report_data` (what the report says, as JSON), `charts`
(the PNGs), `report_view` + `render` (the page). The loop calls `write_report(run_dir)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qnas_edge.outputs.charts import plot_pareto, plot_predicted_vs_measured
from qnas_edge.outputs.formatting import arch_summary
from qnas_edge.outputs.render import render
from qnas_edge.outputs.report_data import (
    build_data,
    calibration_summary,
    candidate_records,
    report_data,
    run_summary,
)
from qnas_edge.outputs.report_view import PARETO_PNG, PRED_VS_MEAS_PNG, page_view
from qnas_edge.outputs.run_data import LEDGER_NAME, RunData, device_label, figures_kind, load_run

REPORT_NAME = "report.html"

__all__ = ["LEDGER_NAME", "PARETO_PNG", "PRED_VS_MEAS_PNG", "REPORT_NAME", "RunData", "arch_summary",
           "atomic_write", "calibration_summary", "candidate_records", "device_label", "figures_kind",
           "load_run", "render_html", "report_data", "run_summary", "write_report"]


def write_report(run_dir: str | Path) -> Path:
    """(Re)write report.html, pareto.png and predicted_vs_measured.png in the run directory; returns the
    report's path. Each file is replaced atomically, so a reader never sees a half-written one."""
    run = load_run(run_dir)
    data = build_data(run)
    images = {PARETO_PNG: plot_pareto(run, data), PRED_VS_MEAS_PNG: plot_predicted_vs_measured(run, data)}
    for name, png in images.items():
        atomic_write(run.run_dir / name, png)
    out = run.run_dir / REPORT_NAME
    atomic_write(out, render_html(run, data, images).encode("utf-8"))
    return out


def render_html(run: RunData, data: dict[str, Any], images: dict[str, bytes]) -> str:
    """The report page as one self-contained HTML string (plots inlined as base64 PNG)."""
    return render("report.html", **page_view(run, data, images))


def atomic_write(path: Path, data: bytes) -> None:
    """Write next to `path` then rename over it (normal umask permissions, unlike mkstemp's 0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
