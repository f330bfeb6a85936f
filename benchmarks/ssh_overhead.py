"""SSH bridge overhead and estimate-vs-measured on loopback (issue 6).

Starts a real sshd on 127.0.0.1 (tests/fixtures/sshd.py), uses the board virtualenv (tflite-runtime 2.14,
numpy<2) as the board's Python, and measures:

  one-shot   open_board(...) + measure() + close() of the `ssh` Board: connect + upload agent/model + start
             agent + measure + cleanup, minus the inference time itself (warm-ups + timed runs as timed
             by the agent)                                                           target <= 2 s
  reused     one `ssh` Board kept open across candidates (what a search does): per-candidate wall time
             minus inference time                                                     target <= 0.5 s
  estimate   the agent's measured median latency of each test model vs `estimate`'s prediction for the
             x86 host treated as a board (profile linux-host)

    python benchmarks/ssh_overhead.py [--repeats 5] [--candidates 20] [--runs 50]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="one-shot profiles (default 5)")
    ap.add_argument("--candidates", type=int, default=20, help="profiles over one reused connection (default 20)")
    ap.add_argument("--runs", type=int, default=50, help="timed inferences per profile (default 50)")
    args = ap.parse_args()

    from device_profiles.catalog import get_profile
    from device_profiles.cost_model import CostModel
    from firmware_bridge.boards import open_board
    from firmware_bridge.device import DeviceSpec
    from firmware_bridge.ssh.session import AgentSession
    from tests.fixtures.models import build_tiny_models
    from tests.fixtures.sshd import SshServer, board_venv_python

    profile = get_profile("linux-host")
    board_py = str(board_venv_python())
    work = Path(tempfile.mkdtemp(prefix="qnas-ssh-bench-"))
    (work / "models").mkdir()
    print("building test models with TensorFlow ...", file=sys.stderr)
    models = build_tiny_models(work / "models")
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"machine: {platform.machine()} {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"board Python {board_py}")

    with SshServer(work / "sshd") as server:
        common = dict(identity=str(server.client_key), known_hosts=str(server.known_hosts), board_python=board_py)
        device = DeviceSpec(kind="ssh", host=server.host, **common)

        # one-shot: everything included
        rows = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with open_board(profile, device) as board:
                m = board.measure(models["mbblock"], runs=args.runs)
            wall = time.perf_counter() - t0
            rows.append((wall, m.extra["timing_s"]["inference"]))
        over = [w - i for w, i in rows]
        print(f"\none-shot ssh Board open + measure + close (mbblock, {args.runs} runs), {args.repeats} repeats:")
        print(f"  wall median {statistics.median(w for w, _ in rows):.3f} s, inference median "
              f"{statistics.median(i for _, i in rows) * 1000:.1f} ms")
        print(f"  overhead beyond inference: median {statistics.median(over):.3f} s, max {max(over):.3f} s "
              f"(target <= 2 s) {'OK' if max(over) <= 2.0 else 'OVER'}")

        # reused connection
        names = [n for n in ("conv", "depthwise", "dense", "mbblock")]
        t0 = time.perf_counter()
        board = open_board(profile, device)
        board.open()
        open_s = time.perf_counter() - t0
        per = []
        try:
            for i in range(args.candidates):
                t1 = time.perf_counter()
                m = board.measure(models[names[i % len(names)]], runs=args.runs)
                per.append(time.perf_counter() - t1 - m.extra["timing_s"]["inference"])
        finally:
            t2 = time.perf_counter()
            board.close()
            close_s = time.perf_counter() - t2
        print(f"\nreused ssh Board, {args.candidates} candidates ({', '.join(names)} in turn, {args.runs} runs):")
        print(f"  session open {open_s:.3f} s (connect + agent upload + agent start), close {close_s:.3f} s")
        print(f"  per-candidate overhead: median {statistics.median(per) * 1000:.1f} ms, "
              f"max {max(per) * 1000:.1f} ms (target <= 500 ms) {'OK' if max(per) <= 0.5 else 'OVER'}")

        # measured vs estimated for the x86 host as a board
        print(f"\nmeasured (agent, tflite_runtime, {profile.threads} thread, 200 runs) vs estimate "
              f"(profile {profile.id}):")
        print(f"  {'model':<14} {'measured ms':>12} {'estimate ms':>12} {'est/meas':>9}")
        cm = CostModel(profile)
        with AgentSession(server.host, profile, **common) as board:     # warm-up count needs the session
            for name in ("conv", "depthwise", "dense", "mbblock", "mbblock_float"):
                m = board.profile(models[name], runs=200, warmup=20)
                est = cm.estimate_tflite(models[name]).latency_ms
                print(f"  {name:<14} {m.latency_ms_median:>12.4f} {est:>12.4f} {est / m.latency_ms_median:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
