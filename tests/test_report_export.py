"""Pareto front, report generation and export bundles from synthetic run directories (real Ledger,
real int8 models, real TVM library), plus every bad input of `report` / `export` through the CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge.measurement import Measurement
from qnas_edge.errors import UsageError
from qnas_edge.records import Figures, budget_violations, figures_of
from qnas_edge.run.pareto import ParetoPoint, dominates, pareto_front, pareto_indices
from tests.fixtures.run_dir import MCU_BEST, MCU_CANDIDATES, MCU_FRONT, make_mcu_run

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qnas_edge", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def assert_usage_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


# ---- Pareto front on hand-made points -----------------------------------------------------------------
def test_dominates_needs_no_worse_everywhere_and_better_somewhere():
    a = {"accuracy": 0.9, "latency_ms": 10.0}
    assert dominates(a, {"accuracy": 0.8, "latency_ms": 10.0}, ["accuracy", "latency_ms"])
    assert dominates(a, {"accuracy": 0.9, "latency_ms": 11.0}, ["accuracy", "latency_ms"])
    assert not dominates(a, dict(a), ["accuracy", "latency_ms"])                       # equal: no
    assert not dominates(a, {"accuracy": 0.95, "latency_ms": 20.0}, ["accuracy", "latency_ms"])  # trade-off


def test_pareto_indices_hand_made():
    pts = [
        {"accuracy": 0.90, "latency_ms": 100, "ram_bytes": 50},   # 0 front (fast)
        {"accuracy": 0.95, "latency_ms": 300, "ram_bytes": 80},   # 1 front (accurate)
        {"accuracy": 0.93, "latency_ms": 150, "ram_bytes": 60},   # 2 front (between)
        {"accuracy": 0.92, "latency_ms": 160, "ram_bytes": 60},   # 3 dominated by 2
        {"accuracy": 0.89, "latency_ms": 100, "ram_bytes": 40},   # 4 front (less RAM than 0)
        {"accuracy": 0.93, "latency_ms": 150, "ram_bytes": 60},   # 5 identical to 2: stays with it
        {"accuracy": 0.80, "latency_ms": 400, "ram_bytes": 90},   # 6 dominated by all
    ]
    assert pareto_indices(pts, ["accuracy", "latency_ms", "ram_bytes"]) == [0, 1, 2, 4, 5]
    # with RAM left out, #4 is dominated by #0 (same latency, more accurate)
    assert pareto_indices(pts, ["accuracy", "latency_ms"]) == [0, 1, 2, 5]


def test_pareto_ignores_an_objective_some_point_lacks():
    pts = [{"accuracy": 0.9, "latency_ms": 10, "energy_mj": None},
           {"accuracy": 0.8, "latency_ms": 12, "energy_mj": 0.1}]
    # energy unknown for #0: compared on accuracy and latency only, so #1 is dominated
    assert pareto_indices(pts, ["accuracy", "latency_ms", "energy_mj"]) == [0]


def test_pareto_front_orders_by_accuracy():
    def pt(n, acc, lat):
        return ParetoPoint(n, acc, Figures(latency_ms=lat, ram_bytes=1, flash_bytes=1, energy_mj=lat / 10))

    front = pareto_front([pt(0, 0.5, 1.0), pt(1, 0.9, 5.0), pt(2, 0.7, 2.0), pt(3, 0.6, 6.0)])
    assert [p.n for p in front] == [1, 2, 0]


def test_figures_prefer_the_board_and_say_so():
    board = {"runtime": "tflm", "ram_reserve_bytes": 1000, "power": {"active_mw": 50.0}}
    static = {"latency_ms": 10.0, "energy_mj": 0.5, "ram_bytes": 9000, "flash_bytes": 7000}
    meas = Measurement(board_id="b", source="simulated", runs=3, latency_ms_median=12.0, latency_ms_p90=12.0,
                       latency_ms_min=12.0, latency_ms_max=12.0, arena_bytes=4000)
    fig = figures_of(meas, static, board)
    assert (fig.latency_ms, fig.sources["latency_ms"]) == (12.0, "simulated")
    assert (fig.ram_bytes, fig.sources["ram_bytes"]) == (5000, "simulated")        # arena + reserve
    assert fig.energy_mj == pytest.approx(12.0 * 50.0 / 1000) and fig.sources["energy_mj"] == "estimated"
    assert (fig.flash_bytes, fig.sources["flash_bytes"]) == (7000, "static")
    fig = figures_of(None, {**static, "latency_ms": 11.0}, board)
    assert (fig.latency_ms, fig.sources["latency_ms"]) == (11.0, "static")          # built model's estimate
    assert set(fig.sources.values()) == {"static"}
    over = budget_violations(Figures(latency_ms=11.0, ram_bytes=5, energy_mj=1.0),
                             {"latency_ms": 10.0, "ram_bytes": 5, "energy_mj": None})
    assert over == ["latency_ms"]


# ---- report -------------------------------------------------------------------------------------------
def _png_size(path: Path) -> tuple[int, int]:
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    return img.shape[1], img.shape[0]


def _rows(html: str, table_id: str) -> list[int]:
    body = html.split(f"id='{table_id}'", 1)[1].split("</table>", 1)[0]
    return [int(n) for n in re.findall(r"<tr[^>]*data-n='(\d+)'", body)]


def test_report_of_a_simulated_run(run_dirs):
    from qnas_edge.outputs.report import write_report

    run = run_dirs["mcu"]
    path = write_report(run)
    assert path == run / "report.html"
    html = path.read_text(encoding="utf-8")
    assert "SIMULATED by the virtual board" in html
    assert _rows(html, "candidates") == [c[0] for c in MCU_CANDIDATES]
    assert set(_rows(html, "pareto")) == MCU_FRONT
    assert f"Candidate <b>#{MCU_BEST}</b>" in html
    # candidate 1 is over the latency budget (310 ms > 250 ms): its measured latency cell is marked
    row1 = re.search(r"<tr[^>]*data-n='1'>.*?</tr>", html.split("id='candidates'")[1], re.S).group(0)
    assert "class='over'" in row1 and "310.0 ms" in row1 and "200.0 ms" in row1
    row2 = re.search(r"<tr[^>]*data-n='2'>.*?</tr>", html.split("id='candidates'")[1], re.S).group(0)
    assert "over" not in row2 and "★" in row2
    assert "board lost" in html and "ModelRefused" in html
    # calibration: per-candidate errors and the refits
    assert "refit after #" in html and "35.0%" in html and "12.0%" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    assert html.count("data:image/png;base64,") == 2
    for name in ("pareto.png", "predicted_vs_measured.png"):
        w, h = _png_size(run / name)
        assert w > 600 and h > 300


def test_report_of_a_no_device_run_says_static_only(run_dirs):
    from qnas_edge.outputs.report import report_data, write_report

    run = run_dirs["static"]
    html = write_report(run).read_text(encoding="utf-8")
    assert "--no-device: static estimates only" in html
    assert "simulated" not in html.split("id='pareto'")[1].split("</table>")[0]
    data = report_data(run)
    assert data["summary"]["figures"] == "static"
    assert all(set(p["sources"].values()) == {"static"} for p in data["pareto_front"])
    # #2 is over the latency budget (260 ms static); front: #0 (fastest) .. #2 (most accurate)
    assert [p["n"] for p in data["pareto_front"]] == [2, 1, 0]
    assert data["candidates"][2]["violations"] == ["latency_ms", "energy_mj"]
    _png_size(run / "predicted_vs_measured.png")


def test_report_json_cli(run_dirs):
    proc = cli("report", run_dirs["mcu"], "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {p["n"] for p in out["pareto_front"]} == MCU_FRONT
    s = out["summary"]
    assert s["board"]["id"] == "nano33ble" and s["best_n"] == MCU_BEST and s["figures"] == "simulated"
    assert s["device"] == "virtual" and s["seed"] == 3 and s["strategy"] == "qubo"
    assert s["candidates"] == {"done": 4, "unmeasured": 1, "failed": 1, "proposed": 1, "total": 7, "feasible": 3}
    cal = s["calibration"]
    assert cal["measured_candidates"] == 4 and cal["history"][-1]["mean_rel_err"] == 0.12
    assert cal["mean_rel_err_first_third"] == pytest.approx(40 / 120)     # candidate 0: |80-120|/120
    assert Path(out["report"]).is_file()
    proc = cli("report", run_dirs["mcu"])
    assert proc.returncode == 0 and proc.stdout.strip() == str(run_dirs["mcu"] / "report.html")


# ---- export -------------------------------------------------------------------------------------------
def test_export_default_is_the_best_tflm_bundle(run_dirs, tmp_path):
    from device_profiles.tflite_model import parse_tflite
    from qnas_edge.outputs.export import export_bundle, resolver_method

    run = run_dirs["mcu"]
    out = export_bundle(run, tmp_path / "bundle")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "arch.json", "measured.json", "metrics.json", "model.tflite",
                     "model_data.cc", "model_data.h"]
    assert (out / "model.tflite").read_bytes() == (run / "best" / "model.tflite").read_bytes()
    rec = json.loads((out / "measured.json").read_text())
    assert rec["candidate"] == MCU_BEST and rec["from_best_dir"] and rec["figures_kind"] == "simulated"
    assert rec["figures"]["latency_ms"] == 170.0 and rec["figures"]["sources"]["latency_ms"] == "simulated"
    assert rec["violations"] == []
    readme = (out / "README.md").read_text()
    ops = sorted(set(parse_tflite(out / "model.tflite").ops))
    assert f"MicroMutableOpResolver<{len(ops)}>" in readme
    for op in ops:
        assert f"resolver.{resolver_method(op)}();" in readme
    assert "resolver.AddConv2D();" in readme and "resolver.AddDepthwiseConv2D();" in readme
    header = (out / "model_data.h").read_text()
    macro, value = re.search(r"#define (\w+_ARENA_BYTES) (\d+)", header).groups()
    assert f"kTensorArenaSize = {macro};" in readme and f"{value} bytes" in readme
    assert "g_model_data" in readme and "Arduino" in readme and "PlatformIO" in readme
    assert "STM32CubeIDE" in readme and "TARGET_ARCH=cortex-m4+fp" in readme
    assert "SIMULATED" in readme and "scale" in readme
    assert not list(tmp_path.glob(".*export-*"))          # no temporary folder left behind


def test_resolver_method_names():
    from qnas_edge.outputs.export import resolver_method

    assert resolver_method("CONV_2D") == "AddConv2D"
    assert resolver_method("FULLY_CONNECTED") == "AddFullyConnected"
    assert resolver_method("BATCH_TO_SPACE_ND") == "AddBatchToSpaceNd"
    assert resolver_method("RELU6") == "AddRelu6"
    assert resolver_method("L2_POOL_2D") == "AddL2Pool2D"
    assert resolver_method("PADV2") == "AddPadV2"
    assert resolver_method("HARD_SWISH") == "AddHardSwish"


def test_export_other_candidate_through_cli(run_dirs, tmp_path):
    dest = tmp_path / "empty"
    dest.mkdir()                                          # an existing empty folder is fine
    proc = cli("export", run_dirs["mcu"], "--to", dest, "--candidate", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["candidate"] == 1 and out["violations"] == ["latency_ms", "energy_mj"]
    assert "model_data.cc" in out["files"]
    rec = json.loads((dest / "measured.json").read_text())
    assert rec["from_best_dir"] is False and rec["feasible"] is False
    assert "**no**" in (dest / "README.md").read_text()   # the README does not hide the violation


def test_export_tvm_bundle_loads_with_tvm(run_dirs, tmp_path):
    import numpy as np
    import tvm
    from tvm import relax

    from qnas_edge.outputs.export import export_bundle

    out = export_bundle(run_dirs["tvm"], tmp_path / "pi")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "arch.json", "measured.json", "model.tflite", "model_tvm.json", "model_tvm.so"]
    readme = (out / "README.md").read_text()
    assert "tvm.runtime.load_module('model_tvm.so')" in readme and "relax.VirtualMachine" in readme
    assert "tflite_runtime.interpreter" in readme and "num_threads=4" in readme
    assert "model_data.cc" not in readme and "MicroMutableOpResolver" not in readme
    rec = json.loads((out / "measured.json").read_text())
    assert rec["figures_kind"] == "measured" and rec["figures"]["sources"]["latency_ms"] == "measured"
    assert rec["figures"]["sources"]["ram_bytes"] == "static"    # Linux RAM is not a board figure
    # the copied library is the real thing: load it the way the README says and run it
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(out / "model_tvm.so")), tvm.cpu())
    y = vm["main"](tvm.runtime.tensor(np.zeros((1, 64), np.int8)))
    y = (y if hasattr(y, "numpy") else y[0]).numpy()
    assert y.shape == (1, 10) and y.dtype == np.int8


# ---- bad input: exit 2, one line, nothing written -----------------------------------------------------
@pytest.mark.timeout(300)
def test_bad_inputs_exit_2(run_dirs, tmp_path, tiny_models, tiny_arena):
    run = run_dirs["mcu"]
    before = sorted(p.name for p in tmp_path.iterdir())

    assert_usage_error(cli("report", tmp_path / "nope"), "no such run directory")
    assert_usage_error(cli("export", tmp_path / "nope", "--to", tmp_path / "b"), "no such run directory")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    assert_usage_error(cli("report", empty), "not a run directory", "ledger.sqlite")
    assert not (empty / "ledger.sqlite").exists()                    # probing did not create a ledger
    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    assert_usage_error(cli("report", afile), "is a file")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "ledger.sqlite").write_bytes(b"this is not sqlite" * 100)
    assert_usage_error(cli("report", corrupt), "not a readable qnas-edge ledger")
    assert not (corrupt / "report.html").exists()

    for n, words in ((99, ("no candidate 99", "0..6")), (4, ("unmeasured", "not done")),
                     (5, ("failed", "ModelRefused")), (6, ("proposed",))):
        dest = tmp_path / f"out{n}"
        assert_usage_error(cli("export", run, "--to", dest, "--candidate", n), *words)
        assert not dest.exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert_usage_error(cli("export", run, "--to", full), "not empty")
    assert sorted(p.name for p in full.iterdir()) == ["keep.txt"]
    assert_usage_error(cli("export", run, "--to", afile), "is a file")
    assert_usage_error(cli("export", run, "--to", afile / "sub"), "cannot create the bundle folder")
    proc = cli("export", run)                                        # --to missing
    assert proc.returncode == 2 and "--to" in proc.stderr

    running = make_mcu_run(tmp_path / "r", tiny_models["mbblock"], tiny_arena, best=False)
    assert_usage_error(cli("export", running, "--to", tmp_path / "o"), "no best candidate", "--candidate")
    shutil.rmtree(running / "candidates" / "0")
    assert_usage_error(cli("export", running, "--to", tmp_path / "o", "--candidate", "0"), "no model.tflite")
    assert not (tmp_path / "o").exists()

    made = {"empty_dir", "afile.txt", "corrupt", "full", "r"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(before) | made)   # no stray temp dirs


def test_export_api_raises_usage_error(run_dirs, tmp_path):
    from qnas_edge.outputs.export import export_bundle

    with pytest.raises(UsageError, match="not done"):
        export_bundle(run_dirs["mcu"], tmp_path / "x", candidate=5)
    assert not (tmp_path / "x").exists()


# ---- labels, units, template ----------------------------------------------------------------------------
def _table(html: str, marker: str) -> str:
    return html.split(marker, 1)[1].split("</table>", 1)[0]


def test_simulated_figures_never_read_measured(run_dirs, tmp_path):
    from qnas_edge.outputs.export import export_bundle
    from qnas_edge.outputs.report import report_data, write_report

    run = run_dirs["mcu"]
    html = write_report(run).read_text(encoding="utf-8")
    for part in (_table(html, "id='best'"), _table(html, "id='pareto'"), _table(html, "id='candidates'"),
                 html.split("id='calibration'", 1)[1].split("</p>", 1)[0]):
        assert not re.search(r"\bmeasured\b", part) and "simulated" in part, part[:300]
    assert "<th>simulated latency</th>" in html
    data = report_data(run)
    assert {p["sources"]["latency_ms"] for p in data["pareto_front"]} == {"simulated"}
    assert {c["latency_source"] for c in data["candidates"] if c["measured_latency_ms"]} == {"simulated"}
    out = export_bundle(run, tmp_path / "b")
    readme = (out / "README.md").read_text()
    table = readme.split("| figure |", 1)[1].split("\n\n", 1)[0]
    assert not re.search(r"\bmeasured\b", table) and table.count("simulated") == 2   # latency and RAM
    assert "median over the board's runs (simulated, ms)" in readme


def test_report_names_units_and_plots(run_dirs):
    from qnas_edge.outputs.report import write_report

    html = write_report(run_dirs["mcu"]).read_text(encoding="utf-8")
    assert html.count("1 KB = 1024 bytes") == 1
    assert "RAM is total RAM: the TFLite Micro tensor arena + the board&#39;s 64.0 KB reserve" in html
    assert "<th>total RAM</th>" in html and "<th>RAM</th>" not in html
    for name in ("pareto.png", "predicted_vs_measured.png"):
        assert f"<figcaption><code>{name}</code> (written next to this report)" in html
    assert "final retrain</td><td>off" in html


def _copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    for suffix in ("-wal", "-shm"):
        (dest / f"ledger.sqlite{suffix}").unlink(missing_ok=True)
    return dest


def test_report_escapes_hostile_names(run_dirs, tmp_path):
    from qnas_edge.outputs.report import write_report
    from qnas_edge.run.ledger import Ledger

    run = _copy_run(run_dirs["mcu"], tmp_path / "run")
    evil_board = "<script>alert('board')</script>"
    evil_arch = "x'><img src=x onerror=alert(1)>"
    with Ledger(run / "ledger.sqlite") as led:
        led.set_meta("board", {**led.get_meta("board"), "name": evil_board})
        led.db.execute("UPDATE candidates SET arch_id = ?, arch = ? WHERE n = ?",
                       (evil_arch, json.dumps({"rw": "<b>wide</b>", "s0_b0": "k3e1"}), MCU_BEST))
    html = write_report(run).read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x" not in html and "<b>wide" not in html
    assert "&lt;script&gt;alert(&#39;board&#39;)&lt;/script&gt;" in html
    assert "x&#39;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;wide&lt;/b&gt;" in html
    assert _rows(html, "candidates") == [c[0] for c in MCU_CANDIDATES]      # the table is still whole


def test_report_and_export_name_the_final_retrain(run_dirs, tmp_path):
    from qnas_edge.outputs.export import export_bundle
    from qnas_edge.outputs.report import report_data, write_report
    from qnas_edge.run.ledger import Ledger

    run = _copy_run(run_dirs["mcu"], tmp_path / "run")
    best = json.loads((run / "best" / "measured.json").read_text())
    best["measurement"].update(latency_ms_median=165.0, energy_mj=None, energy_source=None)
    best["accuracy"] = 0.97
    (run / "best" / "measured.json").write_text(json.dumps(best))
    with Ledger(run / "ledger.sqlite") as led:
        led.set_meta("settings", {**led.get_meta("settings"), "final_epochs": 20})
        led.set_meta("final", {"from_n": MCU_BEST, "accuracy": 0.97, "epochs": 20, "candidate_accuracy": 0.94,
                               "figures": {"latency_ms": 165.0}})
    html = write_report(run).read_text(encoding="utf-8")
    final = html.split("id='final'>", 1)[1].split("</table>", 1)[0]
    assert "final retrain: 20 epochs on the same split; accuracy differs from the candidate&#39;s because" in final
    assert "instead of the search&#39;s 1 proxy epochs" in final and "97.00%" in final and "94.00%" in final
    assert "165.0 ms" in final and "simulated" in final                     # the retrained model, re-measured
    assert report_data(run)["summary"]["final"]["figures"]["latency_ms"] == 165.0
    out = export_bundle(run, tmp_path / "b")
    rec = json.loads((out / "measured.json").read_text())
    assert rec["retrained"] and rec["int8_accuracy"] == 0.97 and rec["figures"]["latency_ms"] == 165.0
    assert rec["figures"]["sources"]["energy_mj"] == "estimated"
    assert "> final retrain: 20 epochs on the same split; accuracy differs" in (out / "README.md").read_text()

    with Ledger(run / "ledger.sqlite") as led:                # a final retrain that was not kept says so
        led.db.execute("DELETE FROM meta WHERE key = 'final'")
    html = write_report(run).read_text(encoding="utf-8")
    assert "final retrain: 20 epochs on the same split, not kept" in html


# ---- export --force ---------------------------------------------------------------------------------------
def test_export_force_replaces_a_bundle_atomically(run_dirs, tmp_path, monkeypatch):
    from qnas_edge.outputs import export

    run = run_dirs["mcu"]
    dest = tmp_path / "bundle"
    dest.mkdir()
    (dest / "stale.txt").write_text("old")
    proc = cli("export", run, "--to", dest)
    assert_usage_error(proc, "not empty", "--force")
    assert sorted(p.name for p in dest.iterdir()) == ["stale.txt"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export, "render_readme", broken)       # fails after every other file was written
    with pytest.raises(RuntimeError, match="disk on fire"):
        export.export_bundle(run, dest, force=True)
    assert sorted(p.name for p in dest.iterdir()) == ["stale.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]      # no temporary folder left
    monkeypatch.undo()

    proc = cli("export", run, "--to", dest, "--force", "--json")
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in dest.iterdir())
    assert "stale.txt" not in names and "model.tflite" in names and "README.md" in names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    assert_usage_error(cli("export", run, "--to", run, "--force"), "would delete the run directory")
    assert (run / "ledger.sqlite").is_file()


# ---- damaged and foreign ledgers -------------------------------------------------------------------------
def test_unreadable_ledgers_exit_2(run_dirs, tmp_path):
    import sqlite3

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    db = sqlite3.connect(foreign / "ledger.sqlite")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = (foreign / "ledger.sqlite").read_bytes()
    assert_usage_error(cli("report", foreign), "not a readable qnas-edge ledger", "no meta/candidates")
    assert (foreign / "ledger.sqlite").read_bytes() == before                # probing wrote nothing
    truncated = _copy_run(run_dirs["mcu"], tmp_path / "truncated")
    data = (truncated / "ledger.sqlite").read_bytes()
    (truncated / "ledger.sqlite").write_bytes(data[:100] + b"\0" * 4000)
    assert_usage_error(cli("export", truncated, "--to", tmp_path / "x"), "not a readable qnas-edge ledger")
    assert not (tmp_path / "x").exists()

    newer = _copy_run(run_dirs["mcu"], tmp_path / "newer")
    report_before = (newer / "report.html").read_bytes()
    db = sqlite3.connect(newer / "ledger.sqlite")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    assert_usage_error(cli("report", newer), "newer qnas-edge", "upgrade")
    assert_usage_error(cli("export", newer, "--to", tmp_path / "y"), "newer qnas-edge")
    assert (newer / "report.html").read_bytes() == report_before and not (tmp_path / "y").exists()
