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


def run(args: argparse.Namespace) -> int:
    from device_profiles.tflite_model import parse_tflite
    from qnas_edge.errors import UsageError

    profile = load_board(args)
    model = Path(args.model)
    parse_tflite(model)  # one-line error (exit 2) for a missing or non-TFLite file before any link work
    if args.runs < 1:
        raise UsageError(f"--runs must be >= 1, got {args.runs}")

    def progress(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr)

    if args.host:
        from firmware_bridge.ssh_profile import profile_over_ssh

        m = profile_over_ssh(model, profile, args.host, runs=args.runs, identity=args.identity,
                             known_hosts=args.known_hosts, trust_new_host=args.trust_new_host,
                             board_python=args.board_python,
                             tvm_lib=Path(args.tvm_lib) if args.tvm_lib else None, progress=progress)
    else:
        from firmware_bridge.serial_profile import profile_over_serial

        m = profile_over_serial(model, profile, port=args.port, virtual=args.virtual, runs=args.runs,
                                progress=progress)
    if m.energy_mj is None:
        m.with_estimated_energy(profile.power.active_mw)
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
    for k, v in (m.extra or {}).items():
        if k == "note":
            print(f"note: {v}")
    return 0
