"""`boards` at 80 columns, binary size units, the test host; `estimate` naming its latency model and
`estimate --run RUN_DIR` using a run's calibrated coefficients (issue 12, items 5 and 9).

Everything goes through the real CLI (`python -m qnas_edge ...` in a subprocess).
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, columns=None, env=None):
    e = dict(os.environ, **(env or {}))
    e.pop("COLUMNS", None)
    e.pop("LINES", None)
    if columns is not None:
        e["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "qnas_edge", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env=e, timeout=120)


def one_line_error(res, code=2):
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def catalog():
    res = cli("boards", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def row_of(stdout: str, board_id: str) -> str:
    """The table line whose first cell is exactly `board_id` (not cut, not wrapped)."""
    rows = [ln for ln in stdout.splitlines() if ln.split()[:1] == [board_id]]
    assert len(rows) == 1, f"no single row for {board_id!r} in:\n{stdout}"
    return rows[0]


# ---- boards -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("columns", [80, 100])
def test_boards_listing_shows_every_full_id_at_narrow_widths(columns):
    ids = [b["id"] for b in catalog()]
    res = cli("boards", columns=columns)
    assert res.returncode == 0, res.stderr
    for board_id in ids:
        row_of(res.stdout, board_id)
    assert max(len(ln) for ln in res.stdout.splitlines()) <= columns
    assert "…" not in "".join(ln.split()[0] for ln in res.stdout.splitlines() if ln.split())


def test_boards_listing_wide_terminal_has_every_column():
    res = cli("boards", columns=200)
    header = next(ln for ln in res.stdout.splitlines() if ln.split()[:1] == ["id"])
    assert header.split() == ["id", "name", "family", "core", "MHz", "flash", "RAM", "runtime", "link"]
    assert "not shown" not in res.stdout
    assert "Arduino Nano 33 BLE (nRF52840)" in row_of(res.stdout, "nano33ble")


def test_boards_sizes_in_binary_units_with_one_footer_note():
    res = cli("boards", columns=120)
    assert res.returncode == 0
    assert re.search(r"\b16 GB\s+2 GB\b", row_of(res.stdout, "rpi4"))            # 16777216 KB / 2097152 KB
    assert re.search(r"\b16 GB\s+512 MB\b", row_of(res.stdout, "rpizero2w"))     # 524288 KB RAM
    assert re.search(r"\b1 MB\s+256 KB\b", row_of(res.stdout, "nano33ble"))
    assert re.search(r"\b2 MB\s+1376 KB\b", row_of(res.stdout, "stm32h7a3"))     # not exact in MB: stays KB
    assert "16,777,216" not in res.stdout and not re.search(r"\d,\d{3},\d{3} KB", res.stdout)
    assert res.stdout.count("1 KB = 1024 bytes") == 1
    show = cli("boards", "show", "rpi4")
    assert "flash 16 GB (reserve 8 GB), RAM 2 GB (reserve 512 MB)" in show.stdout and "1 KB = 1024" in show.stdout


def test_size_format_rules():
    from qnas_edge.commands.boards import fmt_size

    kb = 1024
    assert fmt_size(16777216 * kb) == "16 GB"
    assert fmt_size(524288 * kb) == "512 MB"
    assert fmt_size(1536 * kb * kb) == "1.5 GB"
    assert fmt_size(1376 * kb) == "1376 KB"
    assert fmt_size(264212084 * kb) == "252 GB"
    assert fmt_size(24683656 * kb) == "23.5 GB"
    assert fmt_size(1000 * kb) == "1000 KB" and fmt_size(512) == "512 B" and fmt_size(None) == "-"


def test_linux_host_is_marked_as_the_test_host_and_listed_apart():
    res = cli("boards", columns=80)
    lines = [ln for ln in res.stdout.splitlines() if ln.split()]
    host = row_of(res.stdout, "linux-host")
    assert "test host" in host
    ids = {b["id"] for b in catalog()}
    rows = [i for i, ln in enumerate(lines) if ln.split()[0] in ids]
    assert lines[rows[-1]] == host, "the test host is listed after every board"
    assert not any("test host" in lines[i] for i in rows[:-1])
    assert any(ln.startswith("test host:") for ln in lines), "the footer says what the test host is"
    assert "[test host]" in cli("boards", "show", "linux-host").stdout
    assert "test host" not in cli("boards", "show", "rpi4").stdout


def test_boards_json_only_adds_fields():
    boards = catalog()
    old_keys = {"id", "name", "family", "core", "clock_mhz", "flash_bytes", "ram_bytes", "flash_reserve_bytes",
                "ram_reserve_bytes", "runtime", "tvm_target", "threads", "budgets", "power", "cost", "link", "source"}
    for b in boards:
        assert old_keys <= set(b), b["id"]
        assert b["test_host"] is (b["id"] == "linux-host")
    rpi4 = next(b for b in boards if b["id"] == "rpi4")
    assert rpi4["flash_bytes"] == 16777216 * 1024                  # numbers stay bytes
    assert [b["id"] for b in boards] == [b["id"] for b in sorted(boards, key=lambda b: (b["family"], b["id"]))]
    show = json.loads(cli("boards", "show", "linux-host", "--json").stdout)
    assert show["test_host"] is True and old_keys <= set(show)


# ---- estimate: which model ----------------------------------------------------------------------------
def test_estimate_names_its_latency_model(tiny_models):
    res = cli("estimate", tiny_models["mbblock"], "--board", "nano33ble", columns=200)
    assert res.returncode == 0, res.stderr
    latency = next(ln for ln in res.stdout.splitlines() if ln.startswith("latency"))
    assert "TFLM + CMSIS-NN instruction model for m4" in latency and "CPI 2.825" in latency
    assert "--run RUN_DIR" in res.stdout
    d = json.loads(cli("estimate", tiny_models["mbblock"], "--board", "nano33ble", "--json").stdout)
    lm = d["latency_model"]
    assert lm["kind"] == "catalog" and lm["timing"] == "tflm-kernels"
    assert lm["cpi"] == pytest.approx(2.825) and "tiny_results_v0.5" in lm["cpi_source"]   # which CPI source
    m7 = json.loads(cli("estimate", tiny_models["mbblock"], "--board", "stm32f746", "--json").stdout)
    assert "catalog cycle coefficients for cortex-m7" in m7["latency_model"]["name"]        # no published M7 run
    assert set(d["figure_sources"]) == {"latency_ms", "energy_mj", "flash_bytes", "ram_bytes"}
    assert d["figure_sources"]["latency_ms"] == d["latency_model"]["name"]
    assert "tflite-micro" in d["figure_sources"]["ram_bytes"]


def test_estimate_with_a_user_profile_names_that_file(tiny_models, tmp_path):
    src = (ROOT / "device_profiles/boards/rpi4.toml").read_text()
    mine = tmp_path / "mypi.toml"
    mine.write_text(src.replace('id = "rpi4"', 'id = "mypi"'))
    d = json.loads(cli("estimate", tiny_models["conv"], "--board", "mypi", "--profile", mine, "--json").stdout)
    assert d["latency_model"]["kind"] == "profile" and str(mine) in d["latency_model"]["name"]


# ---- estimate --run -----------------------------------------------------------------------------------
def make_run(run_dir: Path, model: Path, factor: float = 2.0, sources=("measured", "measured"),
             board: str = "nano33ble", budgets=None) -> dict[str, float]:
    """A run dir whose ledger's last calibration is the catalog coefficients x `factor`."""
    from device_profiles.catalog import get_profile
    from device_profiles.cost_model import CostModel
    from device_profiles.tflite_model import parse_tflite
    from firmware_bridge.measurement import Measurement
    from qnas_edge.run.ledger import Ledger

    run_dir.mkdir(parents=True, exist_ok=True)
    cm = CostModel(get_profile("nano33ble"))
    names = cm.features(parse_tflite(model).layers)
    coefficients = {k: factor * cm.coefficient(k) for k in names}
    with Ledger(run_dir / "ledger.sqlite") as led:
        led.set_meta("board_id", board)
        led.set_meta("settings", {"budgets": budgets or {}, "device": {"kind": "virtual"}})
        for n, source in enumerate(sources):
            led.propose(n, 0, f"arch{n}", {"n": n}, {})
            m = Measurement.from_latencies([5.0, 5.2, 5.1], board_id=board, source=source, runs=3)
            led.complete(n, "done", measurement=m)
        led.record_calibration(0, {k: 99.0 for k in names}, 0.9)          # an older fit: must not be used
        led.record_calibration(len(sources) - 1, coefficients, 0.1)
    return coefficients


def test_estimate_run_uses_the_calibrated_coefficients(tiny_models, tmp_path):
    model = tiny_models["mbblock"]
    run = tmp_path / "runs" / "20260101-000000-nano33ble"
    coefficients = make_run(run, model, factor=2.0)
    plain = json.loads(cli("estimate", model, "--board", "nano33ble", "--json").stdout)
    res = cli("estimate", model, "--run", run, "--json")
    assert res.returncode == 0, res.stderr
    cal = json.loads(res.stdout)
    assert cal["latency_ms"] == pytest.approx(2 * plain["latency_ms"], rel=1e-9)
    assert cal["energy_mj"] == pytest.approx(2 * plain["energy_mj"], rel=1e-9)
    assert cal["flash_bytes"] == plain["flash_bytes"] and cal["ram_bytes"] == plain["ram_bytes"]
    lm = cal["latency_model"]
    assert lm["kind"] == "calibrated" and lm["measurements"] == 2 and lm["run_dir"] == str(run)
    assert lm["coefficients"] == pytest.approx(coefficients) and lm["mean_rel_err"] == pytest.approx(0.1)
    assert f"calibrated on 2 on-board measurements of run {run}" in lm["name"]
    human = cli("estimate", model, "--run", run, "--board", "nano33ble", columns=80)
    assert human.returncode == 0, human.stderr
    latency = next(ln for ln in human.stdout.splitlines() if ln.startswith("latency"))
    assert f"calibrated on 2 on-board measurements of run {run}" in latency       # not wrapped at 80 columns
    assert sorted(p.name for p in run.iterdir()) == ["ledger.sqlite"], "no -wal/-shm left behind"


def test_estimate_run_says_simulated_and_applies_the_runs_budgets(tiny_models, tmp_path):
    model = tiny_models["mbblock"]
    run = tmp_path / "run"
    make_run(run, model, factor=1.0, sources=("simulated",) * 3, budgets={"latency_ms": 0.001})
    d = json.loads(cli("estimate", model, "--run", run, "--json").stdout)
    assert "calibrated on 3 simulated measurements (virtual board)" in d["latency_model"]["name"]
    assert d["budgets"]["latency_ms"] == 0.001 and d["fits"]["latency_ms"] is False


def test_estimate_run_on_a_wal_mode_ledger_leaves_no_side_files(tiny_models, tmp_path):
    run = tmp_path / "killed"
    make_run(run, tiny_models["mbblock"])
    db = sqlite3.connect(run / "ledger.sqlite")           # a run killed mid-way leaves the file in WAL mode
    assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    db.close()
    res = cli("estimate", tiny_models["mbblock"], "--run", run, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["latency_model"]["kind"] == "calibrated"
    assert sorted(p.name for p in run.iterdir()) == ["ledger.sqlite"]


def _no_calibration(run: Path, model: Path) -> None:
    from qnas_edge.run.ledger import Ledger

    run.mkdir()
    with Ledger(run / "ledger.sqlite") as led:
        led.set_meta("board_id", "nano33ble")
        led.set_meta("settings", {"device": {"kind": "none"}})


def _damaged(run: Path, model: Path) -> None:
    make_run(run, model)
    data = bytearray((run / "ledger.sqlite").read_bytes())
    data[100:] = bytes((i * 7919) % 251 for i in range(len(data) - 100))
    (run / "ledger.sqlite").write_bytes(bytes(data))


def _truncated(run: Path, model: Path) -> None:
    make_run(run, model)
    (run / "ledger.sqlite").write_bytes((run / "ledger.sqlite").read_bytes()[:2000])


def _not_sqlite(run: Path, model: Path) -> None:
    run.mkdir()
    (run / "ledger.sqlite").write_text("hello")


def _other_database(run: Path, model: Path) -> None:
    run.mkdir()
    db = sqlite3.connect(run / "ledger.sqlite")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()


def _bad_coefficients(run: Path, model: Path) -> None:
    from qnas_edge.run.ledger import Ledger

    run.mkdir()
    with Ledger(run / "ledger.sqlite") as led:
        led.set_meta("board_id", "nano33ble")
        led.record_calibration(3, {"conv_2d": -1.0}, 0.2)


@pytest.mark.parametrize("setup, extra, expect", [
    (lambda run, model: None, [], "no such run directory"),
    (lambda run, model: run.write_text("x"), [], "is a file, not a run directory"),
    (lambda run, model: run.mkdir(), [], "no ledger.sqlite"),
    (_not_sqlite, [], "not an SQLite database"),
    (_other_database, [], "not a readable qnas-edge ledger"),
    (_damaged, [], "not a readable qnas-edge ledger"),
    (_truncated, [], "not a readable qnas-edge ledger"),
    (_bad_coefficients, [], "no valid cost coefficients"),
    (_no_calibration, [], "no calibrated coefficients"),
    (lambda run, model: make_run(run, model, board="no-such-board"), [], "unknown board 'no-such-board'"),
    (lambda run, model: make_run(run, model), ["--board", "rpi4"], "does not match the board of run"),
], ids=["missing", "file", "no-ledger", "not-sqlite", "other-db", "damaged", "truncated", "bad-coefficients",
        "no-calibration", "unknown-board", "board-mismatch"])
def test_estimate_bad_run_is_one_line_exit_2(tiny_models, tmp_path, setup, extra, expect):
    run = tmp_path / "run"
    setup(run, tiny_models["mbblock"])
    before = sorted(p.name for p in run.iterdir()) if run.is_dir() else None
    line = one_line_error(cli("estimate", tiny_models["mbblock"], "--run", run, *extra))
    assert expect in line, line
    if before is not None:
        assert sorted(p.name for p in run.iterdir()) == before, "estimate --run wrote into the run dir"


def test_estimate_needs_board_or_run(tiny_models):
    line = one_line_error(cli("estimate", tiny_models["mbblock"]))
    assert "--board" in line and "--run" in line
