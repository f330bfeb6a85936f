"""Regenerate a run's report from its ledger: report.html, pareto.png and predicted_vs_measured.png.

Works on a finished, failed, interrupted or still-running search. Prints the report's path; with
--json prints the run summary and the Pareto front (int8 accuracy vs latency, RAM, flash, energy,
each figure with its source: measured, simulated, estimated or static).
"""

from __future__ import annotations

import argparse
import json

from qnas_edge.commands.options import add_json_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by 'qnas-edge search'")
    add_json_option(p)


def run(args: argparse.Namespace) -> int:
    from qnas_edge.outputs.report import PARETO_PNG, PRED_VS_MEAS_PNG, report_data, write_report

    path = write_report(args.run_dir)
    if args.json:
        data = report_data(args.run_dir)
        out = {"report": str(path), "pareto_png": str(path.parent / PARETO_PNG),
               "predicted_vs_measured_png": str(path.parent / PRED_VS_MEAS_PNG),
               "summary": data["summary"], "pareto_front": data["pareto_front"]}
        print(json.dumps(out, indent=2))
        return 0
    print(path)
    return 0
