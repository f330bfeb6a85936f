"""Serial bridge figures on the virtual board (real pty, pyserial, paced at the profile's baud).

    python benchmarks/serial_link.py [--baud B] [--blob-kb N] [--skip-faults]

Prints: upload throughput vs the nominal link rate (baud/10 bytes/s) for the mbblock test model and a
larger synthetic blob, `name` round-trip times (standard and checked mode), and an upload + profile
with 1% of bytes corrupted or dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baud", type=int, default=None, help="default: the profile's baud (115200)")
    ap.add_argument("--blob-kb", type=int, default=64)
    ap.add_argument("--skip-faults", action="store_true")
    args = ap.parse_args()

    from device_profiles.catalog import get_profile
    from firmware_bridge.serial import protocol as P
    from firmware_bridge.serial.session import DutSession, default_input
    from firmware_bridge.serial.uploader import upload_model
    from firmware_bridge.virtual.process import VirtualBoardProcess
    from tests.fixtures.models import build_tiny_models

    prof = get_profile("nano33ble")
    baud = args.baud or prof.link.baud
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_models(Path(tmp))["mbblock"].read_bytes()
    blob = os.urandom(args.blob_kb * 1024)

    with VirtualBoardProcess(prof, baud=baud) as vb, DutSession(vb.path, prof, baud=baud) as board:
        rep = board.upload(model)
        print(f"upload mbblock {rep.bytes} B @ {baud} baud: {rep.seconds:.3f} s, {rep.throughput_bps:.0f} B/s "
              f"= {rep.efficiency:.1%} of nominal {rep.nominal_bps:.0f} B/s (frame {rep.final_frame} B)")
        rep = upload_model(board, blob)
        print(f"upload blob {rep.bytes} B @ {baud} baud: {rep.seconds:.3f} s, {rep.throughput_bps:.0f} B/s "
              f"= {rep.efficiency:.1%} of nominal {rep.nominal_bps:.0f} B/s")
        for checked in (True, False):
            if not checked:
                board.command_lines("qx-crc 0")
                board.checked = False
            times = []
            for _ in range(200):
                t = time.perf_counter()
                board.command("name", P.parse_name)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            print(f"name round trip ({'checked' if checked else 'standard'} mode, 200x): "
                  f"median {statistics.median(times):.2f} ms, p95 {times[189]:.2f} ms, max {times[-1]:.2f} ms")

    if not args.skip_faults:
        fb = 921600
        t0 = time.monotonic()
        with VirtualBoardProcess(prof, baud=fb, fault_rate=0.01, seed=7) as vb, \
                DutSession(vb.path, prof, baud=fb) as board:
            rep = board.upload(model)
            m = board.profile(runs=5, input_data=default_input(1024))
        print(f"1% byte faults @ {fb} baud: upload {rep.seconds:.2f} s ({rep.naks} naks, {rep.timeouts} timeouts, "
              f"{rep.retransmitted_bytes} B re-sent), upload+load+profile(5 runs) {time.monotonic() - t0:.1f} s, "
              f"median {m.latency_ms_median:.3f} ms [{m.source}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
