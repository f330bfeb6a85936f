"""The report page's content, ready for the template: every cell's text, source and budget mark.

`page_view(run, data, images)` turns `report_data.build_data(run)` into plain dicts and strings; the
Jinja2 template (`templates/report.html`, autoescaped) only lays them out. Figures are formatted with
`formatting.fmt_metric` (ms, mJ, KB = 1024 bytes) and keep the source `records.figures_of` gave them.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from qnas_edge.outputs.formatting import LABELS, arch_summary, fmt_metric, fmt_pct, ram_definition
from qnas_edge.outputs.run_data import SOURCE_MEANING, RunData
from qnas_edge.records import METRICS, Figures, budget_violations

PARETO_PNG = "pareto.png"
PRED_VS_MEAS_PNG = "predicted_vs_measured.png"


def figure_cell(fig: dict[str, Any], metric: str, violations: list[str]) -> dict[str, Any]:
    """One figure cell: formatted value, its source, and whether it breaks its budget."""
    return {"text": fmt_metric(metric, fig.get(metric)), "src": fig.get("sources", {}).get(metric),
            "over": metric in violations}


def _board_word(kind: str) -> str:
    """What the board's latency is called in this run: measured, simulated, or 'board' when mixed/none."""
    return kind if kind in ("measured", "simulated") else "board"


def _sampler_text(s: dict[str, Any]) -> str:
    """The sampler with the settings in force, e.g. 'qaoa (reps=2, shots=1024, ...)'."""
    if not s.get("sampler"):
        return "?"
    from search.samplers import describe_sampler

    return describe_sampler(s["sampler"], s.get("sampler_options"))


def _summary_rows(run: RunData, s: dict[str, Any]) -> list[tuple[str, str]]:
    board, budgets = s["board"], run.budgets
    final_epochs = s.get("final_epochs")
    rows = [
        ("board", f"{board['id']} ({board.get('name') or '?'}; {board.get('core') or '?'} @ "
                  f"{board.get('clock_mhz') or '?'} MHz; runtime {board.get('runtime') or '?'})"),
        ("budgets", ", ".join(f"{LABELS[m]} ≤ {fmt_metric(m, budgets[m])}" for m in METRICS if m in budgets)
         or "none"),
        ("device", s["device"] or "?"),
        ("figures", s["figures"]),
        ("strategy / sampler", f"{s['strategy'] or '?'} / {_sampler_text(s)}"),
        ("seed", str(s["seed"])),
        ("trials / time budget", f"{s['trials'] if s['trials'] is not None else '?'} / "
                                 f"{s['time_budget_min'] if s['time_budget_min'] is not None else '–'} min"),
        ("data / proxy epochs", f"{s['data'] or '?'} / {s['epochs'] if s['epochs'] is not None else '?'}"),
        ("final retrain", f"{final_epochs} epochs on the same split" if final_epochs else "off"),
        ("multi-fidelity", _fidelity_text(s)),
        ("started / finished", f"{s['started'] or '?'} / {s['finished'] or '–'}"),
        ("candidates", ", ".join(f"{v} {k}" for k, v in s["candidates"].items() if v or k == "total")),
    ]
    if s.get("board_idle_s") is not None and s.get("loop_wall_s"):
        rows.append(("board idle", f"{s['board_idle_s']:.1f} s of {s['loop_wall_s']:.1f} s "
                                   "(training overlaps measuring)"))
    return rows


def _metric_rows(fig: dict[str, Any], violations: list[str], budgets: dict[str, float]) -> list[dict[str, Any]]:
    return [{"label": LABELS[m], "cell": figure_cell(fig, m, violations),
             "budget": fmt_metric(m, budgets[m]) if m in budgets else "–",
             "meets": None if m not in budgets else m not in violations} for m in METRICS]


def _best_view(run: RunData, s: dict[str, Any]) -> dict[str, Any]:
    best, kind, counts = s["best"], s["figures"], s["candidates"]
    if best is None:
        if not counts["done"] and counts["failed"]:
            why = (f"No candidate completed: {counts['failed']} failed (the errors are in the table of all "
                   "candidates below).")
        elif s["status"] == "running":
            why = "Not chosen yet: the search is still running."
        elif s["status"] == "interrupted":
            why = f"Not chosen yet: the search was interrupted; 'qnas-edge resume {run.run_dir}' continues it."
        else:
            why = ("No candidate was chosen: none met every budget with its "
                   f"{'estimated' if kind == 'static' else kind} figures.")
        return {"missing": why, "running": s["status"] in ("running", "interrupted")}
    final = s.get("final")
    if final:
        rows = _metric_rows(final["figures"], final["violations"], run.budgets) if final.get("figures") else None
        final = {**final, "rows": rows}
    return {"missing": None, "n": best["n"], "arch_id": best["arch_id"], "accuracy": fmt_pct(best["accuracy"], 2),
            "artifacts": best["artifacts"] or "?", "arch": arch_summary(best["arch"]),
            "rows": _metric_rows(best["figures"], best["violations"], run.budgets), "final": final}


def _pareto_rows(run: RunData, data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for p in data["pareto_front"]:
        fig = {m: p[m] for m in METRICS} | {"sources": p["sources"]}
        viol = budget_violations(Figures(**fig), run.budgets)
        rows.append({"n": p["n"], "best": p["n"] == run.best_n, "accuracy": fmt_pct(p["accuracy"], 2),
                     "cells": [figure_cell(fig, m, viol) for m in METRICS], "feasible": p["feasible"]})
    return rows


def _candidate_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in data["candidates"]:
        fig, viol = r["figures"], r["violations"]
        if r["status"] in ("failed", "proposed"):
            fig = {"sources": {}}          # no built model: nothing to show but the proposal estimate
        lat_over = "latency_ms" in viol
        board_known = r["measured_latency_ms"] is not None
        rows.append({
            "n": r["n"], "round": r["round"], "status": r["status"], "best": r["best"], "pareto": r["pareto"],
            "cls": "best" if r["best"] else ("failed" if r["status"] == "failed" else ""),
            "accuracy": fmt_pct(r["accuracy"], 2) + _trained_note(r),
            "predicted": {"text": fmt_metric("latency_ms", r["predicted_latency_ms"]), "src": None,
                          "over": lat_over and not board_known},
            "board": {"text": fmt_metric("latency_ms", r["measured_latency_ms"]), "src": r["latency_source"],
                      "over": lat_over and board_known},
            "error": fmt_pct(r["latency_rel_err"]),
            "cells": [figure_cell(fig, m, viol) for m in ("ram_bytes", "flash_bytes", "energy_mj")],
            "feasible": r["feasible"], "seconds": f"{sum(float(v) for v in r['timings'].values()):.1f}",
            "arch_id": r["arch_id"], "arch": arch_summary(r["arch"]), "note": r["error"],
        })
    return rows


def _image(images: dict[str, bytes], name: str, alt: str) -> dict[str, str]:
    data = images.get(name)
    src = f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}" if data else name
    return {"src": src, "alt": alt, "file": name}


def page_view(run: RunData, data: dict[str, Any], images: dict[str, bytes]) -> dict[str, Any]:
    """Everything `templates/report.html` shows (see module docstring); images: file name -> PNG bytes."""
    s = data["summary"]
    cal = s["calibration"]
    return {
        "run_name": run.run_dir.name, "run_dir": str(run.run_dir), "status": s["status"] or "unknown",
        "board_title": s["board"]["name"] or s["board"]["id"],
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "kind": s["figures"], "figures_note": s["figures_note"], "board_word": _board_word(s["figures"]),
        "summary_rows": _summary_rows(run, s), "best": _best_view(run, s),
        "metric_labels": [LABELS[m] for m in METRICS], "sources": SOURCE_MEANING,
        "ram_note": ram_definition(run.board),
        "pareto_rows": _pareto_rows(run, data), "candidate_rows": _candidate_rows(data),
        "calibration": {**cal, "all": fmt_pct(cal["mean_rel_err_all"]),
                        "first": fmt_pct(cal["mean_rel_err_first_third"]),
                        "last": fmt_pct(cal["mean_rel_err_last_third"]),
                        "history": [(h["after_n"], fmt_pct(h["mean_rel_err"])) for h in cal["history"]]},
        "pareto_png": _image(images, PARETO_PNG, "int8 accuracy vs latency and total RAM"),
        "pvm_png": _image(images, PRED_VS_MEAS_PNG, "predicted vs board latency"),
    }


def _fidelity_text(s: dict[str, Any]) -> str:
    """'auto: screened at 2 epochs (float accuracy), promoted to 4 (int8, measured)' or 'off'."""
    if s.get("fidelity") != "auto":
        return "off"
    ladder = s.get("ladder")
    if not ladder:                  # a run stored before the ladder was recorded
        return "auto"
    if len(ladder) < 2:
        return "auto (no rung below the full epochs: every candidate trained in full)"
    return (f"auto: screened at {ladder[0]} epochs (float accuracy), promoted by successive halving to "
            f"{', '.join(str(e) for e in ladder[1:])} (int8; measured once, when first promoted)")


def _trained_note(r: dict) -> str:
    """' (2 ep, float)' after a --fidelity auto candidate's accuracy: the training and kind behind it."""
    if not r.get("epochs"):
        return ""
    return f" ({r['epochs']} ep{', float' if r.get('accuracy_kind') == 'float' else ''})"
