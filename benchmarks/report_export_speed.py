"""How long `qnas-edge report` and `qnas-edge export` take on a large run (many candidates).

Builds a synthetic nano33ble run directory with N candidates (real Ledger, one real tiny int8 model
copied into every candidate folder, simulated measurements with a shrinking prediction error), then
times report generation (report.html + both PNGs, matplotlib Agg) and an export of the best candidate,
both in-process and through the CLI (`python -m qnas_edge ...`, interpreter start-up included).

    python benchmarks/report_export_speed.py [--candidates 20 100 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_run(root: Path, model: Path, arena: int, count: int) -> Path:
    from device_profiles.catalog import get_profile
    from firmware_bridge.measurement import Measurement
    from qnas_edge.pipeline.c_array import write_c_array
    from qnas_edge.run.ledger import Ledger

    profile = get_profile("nano33ble")
    run = root / f"run-{count}"
    run.mkdir()
    size = model.stat().st_size
    with Ledger(run / "ledger.sqlite") as led:
        led.set_meta("board_id", profile.id)
        led.set_meta("board", profile.to_dict())
        led.set_meta("settings", {"data": "digits", "epochs": 3, "trials": count, "strategy": "qubo",
                                  "sampler": "neal", "seed": 0, "budgets": {"latency_ms": 250.0},
                                  "device": {"kind": "virtual"}})
        led.set_meta("status", "finished")
        best, best_acc = None, -1.0
        for n in range(count):
            arch = {"rw": "r16-w0.75", "s0_b0": f"k{3 + 2 * (n % 3)}e{1 + n % 4}", "s1_b0": "k3e1"}
            pred = 60.0 + (n * 37) % 240
            err = 0.4 * (1 - n / count) + 0.05
            meas = pred * (1 + err)
            acc = 0.85 + 0.1 * ((n * 7919) % 100) / 100
            static = {"latency_ms": pred, "energy_mj": pred * 0.059, "ram_bytes": arena + 65536,
                      "flash_bytes": size + profile.flash_reserve_bytes, "arena_bytes": arena}
            led.propose(n, n // 2, f"a{n}", arch, static)
            folder = run / "candidates" / str(n)
            folder.mkdir(parents=True)
            shutil.copy2(model, folder / "model.tflite")
            write_c_array(model.read_bytes(), folder, arena)
            m = Measurement(board_id=profile.id, source="simulated", runs=10, latency_ms_median=meas,
                            latency_ms_p90=meas, latency_ms_min=meas, latency_ms_max=meas, runtime="tflm",
                            arena_bytes=arena).with_estimated_energy(profile.power.active_mw)
            feasible = meas <= 250 and m.energy_mj <= 15.0
            led.complete(n, "done", score=acc, accuracy=acc, feasible=feasible, measurement=m,
                         metrics={"static": static}, artifacts=f"candidates/{n}", timings={"train": 1.0})
            if n % 4 == 3:
                led.record_calibration(n, {"conv_2d": 1.0}, err)
            if feasible and acc > best_acc:
                best, best_acc = n, acc
        led.set_meta("best_n", best)
    return run


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, nargs="+", default=[20, 100, 300])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from device_profiles.tflm_arena import find_min_arena
    from qnas_edge.outputs.export import export_bundle
    from qnas_edge.outputs.report import write_report
    from tests.fixtures.models import build_tiny_models

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = build_tiny_models(root)["mbblock"]
        arena = int(find_min_arena(model).arena_bytes)
        rows = []
        for count in args.candidates:
            run = make_run(root, model, arena, count)
            write_report(run)                       # warm-up: matplotlib font cache, imports
            t_report = timed(lambda run=run: write_report(run), args.repeats)
            k = iter(range(10**6))
            t_export = timed(lambda run=run, c=count, k=k: export_bundle(run, root / f"b{c}-{next(k)}"),
                             args.repeats)
            t_cli = timed(lambda run=run: subprocess.run([sys.executable, "-m", "qnas_edge", "report", str(run)],
                                                         cwd=ROOT, check=True, capture_output=True), args.repeats)
            html_kb = (run / "report.html").stat().st_size / 1024
            rows.append({"candidates": count, "report_s": round(t_report, 3), "export_s": round(t_export, 3),
                         "cli_report_s": round(t_cli, 3), "report_html_kb": round(html_kb, 1)})
            print(json.dumps(rows[-1]), flush=True)
    print("| candidates | write_report (s) | export_bundle (s) | `qnas-edge report` CLI (s) | report.html (KB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['candidates']} | {r['report_s']:.3f} | {r['export_s']:.3f} | {r['cli_report_s']:.3f} | "
              f"{r['report_html_kb']:.0f} |")


if __name__ == "__main__":
    main()
