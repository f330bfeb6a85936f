"""Measure a .tflite on a board: over USB serial (--port), SSH (--host) or the virtual board (--virtual).

Serial boards speak the EEMBC / MLPerf Tiny DUT protocol (firmware_bridge/PROTOCOL.md); Linux boards
run the on-board agent over SSH. Figures from the virtual board are labelled `simulated`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qnas_edge.commands.options import add_board_option, add_device_options, add_json_option, load_board


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.tflite", help="int8 TFLite model to measure")
    add_board_option(p)
    add_device_options(p)
    p.add_argument("--runs", type=int, default=10, metavar="N", help="timed inferences (default 10)")
    p.add_argument("--tvm-lib", metavar="LIB.so", help="TVM-compiled library to profile on a TVM board")
    add_json_option(p)


def device_from_args(args: argparse.Namespace):
    """The DeviceSpec named by --port / --host (+ SSH options) / --virtual."""
    from firmware_bridge.device import DeviceSpec

    if args.host:
        return DeviceSpec(kind="ssh", host=args.host, identity=args.identity, known_hosts=args.known_hosts,
                          trust_new_host=args.trust_new_host, board_python=args.board_python)
    if args.virtual:
        return DeviceSpec(kind="virtual")
    return DeviceSpec(kind="serial", port=args.port)


def run(args: argparse.Namespace) -> int:
    from device_profiles.tflite_model import parse_tflite
    from firmware_bridge.boards import open_board
    from qnas_edge.errors import UsageError

    profile = load_board(args)
    model = Path(args.model)
    parse_tflite(model)  # one-line error (exit 2) for a missing or non-TFLite file before any link work
    if args.runs < 1:
        raise UsageError(f"--runs must be >= 1, got {args.runs}")

    def progress(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr)

    board = open_board(profile, device_from_args(args), progress)
    try:  # measure refuses a model that cannot run before touching the link, then connects
        m = board.measure(model, runs=args.runs, library=Path(args.tvm_lib) if args.tvm_lib else None)
    finally:
        board.close()
    if args.json:
        print(json.dumps(m.to_dict(), indent=2))
        return 0
    print(f"{model.name} on {profile.id} via {m.link or 'board'} [{m.source}]")
    print(f"latency  median {m.latency_ms_median:.3f} ms  p90 {m.latency_ms_p90:.3f}  "
          f"min {m.latency_ms_min:.3f}  max {m.latency_ms_max:.3f}  ({m.runs} runs)")
    if m.energy_mj is not None:
        print(f"energy   {m.energy_mj:.4f} mJ ({m.energy_source})")
    if m.arena_bytes is not None:
        print(f"arena    {m.arena_bytes:,} B")
    if m.peak_rss_bytes is not None:
        print(f"peak RSS {m.peak_rss_bytes:,} B")
    if m.runtime:
        print(f"runtime  {m.runtime}")
    if (m.extra or {}).get("note"):
        print(f"note: {m.extra['note']}")
    return 0
