"""Copy a deployable bundle of one candidate of a run into a new folder.

The bundle holds the int8 model.tflite, model_data.cc/.h (TFLite Micro boards) or the TVM library and
its manifest (Linux boards), arch.json, metrics.json, measured.json (figures with their sources) and a
README.md saying how to use it on the board (arena size and op resolver for TFLite Micro; TVM runtime or
tflite-runtime on Linux). Default candidate: the run's best. DIR must be new or empty; --force replaces
an existing DIR, and only once the new bundle is complete (nothing half-written).
"""

from __future__ import annotations

import argparse
import json

from qnas_edge.commands.options import add_json_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by 'qnas-edge search'")
    p.add_argument("--to", required=True, metavar="DIR", help="destination folder (new or empty)")
    p.add_argument("--candidate", type=int, metavar="N", help="candidate number (default: the run's best)")
    p.add_argument("--force", action="store_true",
                   help="replace DIR if it exists and is not empty (swapped in once the new bundle is complete)")
    add_json_option(p)


def run(args: argparse.Namespace) -> int:
    from qnas_edge.outputs.export import MEASURED, export_bundle

    out = export_bundle(args.run_dir, args.to, args.candidate, force=args.force)
    record = json.loads((out / MEASURED).read_text(encoding="utf-8"))
    if args.json:
        files = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
        print(json.dumps({"bundle": str(out), "candidate": record["candidate"], "board_id": record["board_id"],
                          "files": files, "int8_accuracy": record["int8_accuracy"],
                          "figures": record["figures"], "figures_kind": record["figures_kind"],
                          "violations": record["violations"]}, indent=2))
        return 0
    acc = record["int8_accuracy"]
    acc_text = "?" if acc is None else f"{100 * acc:.2f}%"
    print(f"candidate #{record['candidate']} for {record['board_id']} (int8 accuracy {acc_text}, "
          f"figures {record['figures_kind']}) -> {out}")
    for p in sorted(out.iterdir()):
        print(f"  {p.name:<22} {p.stat().st_size:>10,} B")
    print(f"see {out / 'README.md'} for how to use it on the board")
    return 0
