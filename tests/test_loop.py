"""The closed loop end to end: virtual serial board, loopback sshd board, interruption and resume.

Runs are tiny (1 epoch, 2-3 candidates) but everything is real: TensorFlow training, int8 conversion,
tflite-micro, the virtual board on a pseudo-terminal, sshd on 127.0.0.1, the SQLite ledger.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from qnas_edge.run.ledger import Ledger
from tests.fixtures.cli_runs import TINY, assert_session_gone, cli, rows, spawn, wait_for_done


# ---- virtual serial board ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def virtual_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "virtual-run"
    res = cli("search", "--board", "nano33ble", "--virtual", "--trials", "3", "--batch", "2", *TINY,
              "--out", out, "--seed", "0", "--json")
    return out, res


@pytest.mark.timeout(900)
def test_virtual_search_end_to_end(virtual_run):
    out, res = virtual_run
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)
    assert summary["status"] == "finished" and summary["best"]["source"] == "simulated"
    cands, meta = rows(out)
    assert len(cands) == 3 and len({c.arch_id for c in cands}) == 3
    assert meta["status"] == "finished" and meta["best_n"] == summary["best"]["candidate"]
    done = [c for c in cands if c.status == "done"]
    assert done, [c.error for c in cands]
    for c in done:
        assert c.measurement.source == "simulated" and c.measurement.latency_ms_median > 0
        assert c.predicted["latency_ms"] > 0 and 0.0 <= c.accuracy <= 1.0
        assert (out / c.artifacts / "model.tflite").is_file()
    best = next(c for c in cands if c.n == meta["best_n"])
    assert best.feasible


def test_terminal_says_simulated_and_keeps_native_logs_in_run_log(virtual_run):
    """Issue 12 items 4 and 7: virtual-board figures are called simulated, never measured, and the
    converter's / TensorFlow's own output goes to run.log, not to the terminal."""
    out, res = virtual_run
    assert res.returncode == 0
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("#")]
    assert lines and all(" ms simulated" in ln and " ms measured" not in ln for ln in lines if "int8 acc" in ln)
    assert "fully_quantize" not in res.stderr and "Saved artifact" not in res.stderr + res.stdout
    log = (out / "run.log").read_text()
    assert "fully_quantize" in log
    for name in ("model.tflite", "model_data.cc", "model_data.h", "measured.json"):
        assert (out / "best" / name).is_file(), name
    measured = json.loads((out / "best" / "measured.json").read_text())
    assert measured["source"] == "simulated"
    assert (out / "report.html").is_file() and (out / "pareto.png").is_file()
    with Ledger(out / "ledger.sqlite") as led:
        assert led.calibrations(), "the cost model was never recalibrated"


@pytest.mark.timeout(300)
def test_resume_of_a_finished_run_redoes_nothing(virtual_run):
    out, res = virtual_run
    assert res.returncode == 0
    before, before_meta = rows(out)
    again = cli("resume", out, "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already finished" in again.stderr and json.loads(again.stdout)["status"] == "finished"
    after, meta = rows(out)
    assert [(c.n, c.arch_id, c.score, c.completed) for c in after] == [
        (c.n, c.arch_id, c.score, c.completed) for c in before]
    assert meta["loop_wall_s"] == before_meta["loop_wall_s"]       # the run's statistics are kept
    assert not list(out.glob("ledger.sqlite-*")), "WAL files left after a clean finish"


@pytest.mark.timeout(900)
def test_sigterm_stops_cleanly_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    proc = spawn("search", "--board", "nano33ble", "--virtual", "--trials", "2", "--batch", "1", *TINY,
                 "--seed", "4", "--out", out)
    wait_for_done(out, 1, proc)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)                     # kill / CI cancellation / systemd
    assert proc.wait(timeout=120) == 143
    stopped_s = time.monotonic() - t0
    assert_session_gone(proc.pid)                        # the virtual board ended with the run
    cands, meta = rows(out)
    assert meta["status"] == "interrupted" and stopped_s < 60
    done = [c for c in cands if c.status != "proposed"]
    res = cli("resume", out, "--extend", "1", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    cands, meta = rows(out)
    assert meta["status"] == "finished" and len(cands) == 3
    assert [(c.n, c.completed) for c in cands[:len(done)]] == [(c.n, c.completed) for c in done]


@pytest.mark.timeout(300)
def test_export_and_report_of_a_real_run(virtual_run, tmp_path):
    out, res = virtual_run
    assert res.returncode == 0
    dest = tmp_path / "deploy"
    exp = cli("export", out, "--to", dest)
    assert exp.returncode == 0, exp.stderr
    assert (dest / "model.tflite").read_bytes() == (out / "best" / "model.tflite").read_bytes()
    assert (dest / "model_data.cc").is_file() and (dest / "README.md").is_file()
    (out / "report.html").unlink()
    rep = cli("report", out)
    assert rep.returncode == 0 and (out / "report.html").is_file()


# ---- interruption: Ctrl-C, then SIGKILL, then resume ------------------------------------------------
@pytest.mark.timeout(1200)
def test_interrupt_kill_and_resume_lose_nothing(tmp_path):
    args = ["search", "--board", "nano33ble", "--virtual", "--trials", "3", "--batch", "1", *TINY,
            "--seed", "7", "--json"]
    out = tmp_path / "run"
    proc = spawn(*args, "--out", out)
    wait_for_done(out, 1, proc)
    proc.send_signal(signal.SIGINT)                      # Ctrl-C: abandon the current candidate cleanly
    assert proc.wait(timeout=120) == 130
    assert_session_gone(proc.pid)
    cands, meta = rows(out)
    assert meta["status"] == "interrupted"
    first = [(c.n, c.arch_id, c.score) for c in cands if c.status != "proposed"]
    assert first

    proc = spawn("resume", out, "--json")
    wait_for_done(out, len(first) + 1, proc)
    proc.kill()                                          # SIGKILL: no chance to clean up
    proc.wait(timeout=60)
    assert_session_gone(proc.pid)                        # children notice their parent died
    mid = [(c.n, c.arch_id, c.score) for c in rows(out)[0] if c.status != "proposed"]
    assert mid[:len(first)] == first

    res = cli("resume", out, "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    cands, meta = rows(out)
    assert [c.status for c in cands].count("proposed") == 0
    assert len(cands) == 3 and len({c.arch_id for c in cands}) == 3
    assert [(c.n, c.arch_id, c.score) for c in cands][:len(mid)] == mid
    assert meta["status"] == "finished" and (out / "best" / "model.tflite").is_file()

    # Same seed, never interrupted: same choices where training is deterministic.
    ref = cli(*args, "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr[-3000:]
    ref_rows, ref_meta = rows(tmp_path / "ref")
    if [c.accuracy for c in ref_rows] == [c.accuracy for c in cands]:
        assert [c.arch_id for c in ref_rows] == [c.arch_id for c in cands]
        assert ref_meta["best_n"] == meta["best_n"]
    else:  # training was not bit-reproducible; the first proposal never depends on it
        assert ref_rows[0].arch_id == cands[0].arch_id


# ---- board lost mid-run -------------------------------------------------------------------------
@pytest.mark.timeout(900)
def test_board_lost_mid_run_marks_unmeasured_and_resume_remeasures(tmp_path, monkeypatch):
    from device_profiles import get_profile
    from device_profiles.cost_model import CostModel
    from firmware_bridge.device import DeviceSpec
    from firmware_bridge.virtual.board import VirtualBoard
    from qnas_edge.run.loop import SearchRun
    from qnas_edge.run.progress import LoopDisplay
    from qnas_edge.run.settings import SearchSettings

    profile = get_profile("nano33ble")
    settings = SearchSettings(trials=2, epochs=1, final_epochs=0, batch=1, runs=3, seed=5,
                              budgets=CostModel(profile).budget_limits(), device=DeviceSpec("virtual"))
    real = VirtualBoard.measure
    calls = []

    def board_dies_once(self, model, **kw):
        calls.append(model)
        if len(calls) == 1 and self.process is not None:   # pull the plug: the real board process dies
            self.process.proc.kill()
            self.process.proc.wait()
        return real(self, model, **kw)

    monkeypatch.setattr(VirtualBoard, "measure", board_dies_once)
    out = tmp_path / "run"
    run = SearchRun.start(out, profile, settings, LoopDisplay(enabled=False))
    outcome = run.run()
    cands = outcome.candidates
    assert [c.status for c in cands] == ["unmeasured", "done"]
    assert cands[0].measurement is None and cands[0].error
    assert cands[1].measurement.source == "simulated"

    monkeypatch.setattr(VirtualBoard, "measure", real)
    resumed = SearchRun.resume(out, LoopDisplay(enabled=False)).run()
    again = {c.n: c for c in resumed.candidates}
    assert len(again) == 2
    assert again[0].status == "done" and again[0].measurement.source == "simulated"
    assert again[1].completed == cands[1].completed            # not redone


# ---- loopback sshd board ------------------------------------------------------------------------
@pytest.mark.timeout(900)
def test_search_over_ssh_end_to_end(sshd, board_python, tmp_path):
    out = tmp_path / "ssh-run"
    res = cli("search", "--board", "linux-host", "--host", sshd.host, "--identity", sshd.client_key,
              "--known-hosts", sshd.known_hosts, "--board-python", board_python, "--trials", "2", "--batch", "2",
              *TINY, "--out", out, "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    cands, meta = rows(out)
    done = [c for c in cands if c.status == "done"]
    assert done and all(c.measurement.source == "measured" for c in done)
    assert all("tflite" in c.measurement.runtime.lower() for c in done)
    assert meta["settings"]["device"]["kind"] == "ssh"


# ---- bad input and failures ---------------------------------------------------------------------
def _one_line(res, code):
    assert res.returncode == code, (res.returncode, res.stderr[-2000:])
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.startswith("qnas-edge: error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    return lines[0]


def test_budgets_nothing_can_meet_exit_1_with_minima(tmp_path):
    line = _one_line(cli("search", "--board", "nano33ble", "--no-device", "--max-latency-ms", "0.001",
                         "--out", tmp_path / "r"), 1)
    assert "latency_ms" in line and "inimum" in line


def test_dataset_problem_exit_2_before_training(tmp_path):
    line = _one_line(cli("search", "--board", "nano33ble", "--no-device", "--data", tmp_path / "nope",
                         "--out", tmp_path / "r"), 2)
    assert "nope" in line
    assert not list((tmp_path / "r").glob("candidates/*"))


def test_board_missing_at_start_exit_3_with_hint(tmp_path):
    line = _one_line(cli("search", "--board", "nano33ble", "--port", "/dev/ttyQNAS-missing", "--out", tmp_path / "r"), 3)
    assert "/dev/ttyQNAS-missing" in line


@pytest.mark.parametrize("args, needle", [
    (["--board", "rpi4", "--virtual"], "--host"),
    (["--board", "nano33ble", "--no-device", "--trials", "0"], "--trials"),
    (["--board", "nano33ble", "--no-device", "--max-ram-kb", "-5"], "--max-ram-kb"),
    (["--board", "rpi4"], "--host"),
])
def test_bad_arguments_exit_2(args, needle, tmp_path):
    assert needle in _one_line(cli("search", *args, "--out", tmp_path / "r"), 2)


def test_resume_of_something_that_is_not_a_run(tmp_path):
    assert "not a run directory" in _one_line(cli("resume", tmp_path), 2)


def test_out_dir_with_a_run_is_refused(virtual_run):
    out, res = virtual_run
    assert "resume" in _one_line(cli("search", "--board", "nano33ble", "--no-device", "--out", out), 2)
