"""A simulated serial board on a pseudo-terminal, clearly labelled as such (`sim=1`, "simulated").

It speaks the same protocol as the reference firmware (`firmware/core/dut_protocol.c`): the standard
EEMBC / MLPerf Tiny commands plus the qx- extension (see PROTOCOL.md). It behaves like the board:

* models run with the real TensorFlow Lite Micro kernels (`runner.py`; the exact minimum arena from
  `device_profiles.tflm_arena.find_min_arena` plus a margin);
* a model larger than the board's free flash, or whose arena exceeds its free RAM, or a float model
  on a TFLM board, is refused with the figures (`device_profiles.fit`);
* both directions of the link are paced at the profile's baud rate (a byte takes 10 bits / baud s;
  `wire.py`);
* latency comes from the timing model (`timing.BoardTwin`), and the virtual clock behind
  ``m-lap-us`` advances by exactly that amount (the board also waits it out in real time);
* ``--fault-rate P`` corrupts (flips one bit) or drops each byte in either direction with
  probability P; ``SIGUSR1`` simulates a board reset (``m-init-done``), losing RAM state.

Run: ``python -m firmware_bridge.virtual --board nano33ble [--model M.tflite]`` or
``qnas-edge virtual-board ...``. The first stdout line is the device path (pty slave).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from firmware_bridge.virtual.wire import PtyServer


class BoardSetupError(ValueError):
    """Bad virtual-board arguments (fault rate, missing model file, SSH board): exit code 2."""

    exit_code = 2


def build_parser(p: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = p or argparse.ArgumentParser(prog="python -m firmware_bridge.virtual", description=__doc__)
    if not any(a.dest == "board" for a in p._actions):
        p.add_argument("--board", required=True, metavar="ID")
        p.add_argument("--profile", action="append", default=[], metavar="FILE.toml")
    p.add_argument("--model", metavar="M.tflite", help="model already 'flashed' on the board")
    p.add_argument("--fault-rate", type=float, default=0.0, metavar="P",
                   help="probability that each byte (either direction) is corrupted or dropped")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of faults and latency jitter")
    p.add_argument("--baud", type=int, default=None, help="override the profile's baud rate (tests)")
    p.add_argument("--standard-only", action="store_true",
                   help="behave like plain MLPerf Tiny firmware (no qx- extension, no upload)")
    return p


def serve_from_args(args: argparse.Namespace, out=None) -> int:
    """Start the board from parsed args; prints the device path first, serves until SIGTERM/SIGINT."""
    from device_profiles.catalog import get_profile

    out = out or sys.stdout
    if not 0.0 <= args.fault_rate < 1.0:
        raise BoardSetupError(f"--fault-rate must be in [0, 1), got {args.fault_rate}: use e.g. 0.01 for 1%")
    profile = get_profile(args.board, args.profile or [])
    if profile.link.kind != "serial":
        raise BoardSetupError(f"{profile.id} is reached over SSH, not serial: the virtual board simulates "
                              f"serial boards only (try --board nano33ble)")
    if profile.runtime != "tflm":
        raise BoardSetupError(f"{profile.id} runs {profile.runtime}: the virtual board simulates TensorFlow "
                              f"Lite Micro boards only (try --board nano33ble)")
    model = None
    if args.model:
        path = Path(args.model)
        if not path.is_file():
            raise BoardSetupError(f"{path}: no such model file: pass an existing .tflite with --model")
        model = path.read_bytes()
    board = PtyServer(profile, model, args.fault_rate, args.seed, args.baud, args.standard_only)
    signal.signal(signal.SIGUSR1, lambda *_: board.reset_requested.set())
    signal.signal(signal.SIGTERM, lambda *_: board.stop.set())
    _exit_with_parent(board.stop)
    print(board.path, file=out, flush=True)
    print(f"virtual {profile.id} (simulated) on {board.path} at {board.baud} baud; "
          f"fault rate {args.fault_rate}; Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        board.serve()
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
    return 0


def _exit_with_parent(stop: threading.Event, period_s: float = 0.5) -> None:
    """Stop serving when the process that started the board is gone (it was re-parented), so a run
    killed with SIGKILL leaves no board behind."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(period_s):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    from device_profiles.errors import ProfileError
    from device_profiles.fit import ModelRefused

    args = build_parser().parse_args(argv)
    refusals = (BoardSetupError, ModelRefused, ProfileError)   # bad input: one line, exit 2
    try:
        return serve_from_args(args)
    except refusals as exc:
        sys.stderr.write(f"virtual-board: error: {exc}\n")
        return 2
