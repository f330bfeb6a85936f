"""`--fidelity auto` in the real loop: successive halving over proxy epochs on the virtual nano33ble.

Everything is real (TensorFlow training, int8 conversion, tflite-micro, the virtual board on a
pseudo-terminal, the SQLite ledger). The ladder for `--epochs 4` is [2, 4]: the run screens 3 candidates
at 2 epochs on float accuracy (no int8 model, nothing measured); once 3 screening scores are in, the best
of them is retrained for 4 epochs, converted to int8 and measured on the board - the only measurement of
the run.
"""

from __future__ import annotations

import time

import pytest

from tests.fixtures.cli_runs import assert_session_gone, cli, rows, spawn

ARGS = ["search", "--board", "nano33ble", "--virtual", "--trials", "3", "--batch", "3", "--epochs", "4",
        "--final-epochs", "0", "--runs", "3", "--fidelity", "auto", "--seed", "3", "--json"]


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    """A run SIGKILLed while its promotion trains, then resumed to the end: (run dir, rows at the kill)."""
    out = tmp_path_factory.mktemp("fidelity") / "auto-run"
    proc = spawn(*ARGS, "--out", out)
    deadline = time.monotonic() + 600
    while not list(out.glob("candidates/*/.rung1.tmp-*")):   # the promotion's build has started
        assert proc.poll() is None, f"run ended before promoting: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no promotion started within 600 s"
        time.sleep(0.05)
    proc.kill()                                           # SIGKILL mid-rung
    proc.wait(timeout=60)
    assert_session_gone(proc.pid)
    before, _ = rows(out)
    res = cli("resume", out, "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    return out, before


def _rung(row, k):
    return next((e for e in row.metrics.get("rungs", []) if e["rung"] == k), None)


@pytest.mark.timeout(1200)
def test_killed_mid_promotion_resume_retrains_only_that_promotion(auto_run):
    out, before = auto_run
    assert len(before) == 3 and all(c.status == "done" for c in before)
    assert not any(_rung(c, 1) for c in before)           # killed before the promotion was committed
    after, meta = rows(out)
    # the screening results stand as they were; only the cut-off promotion was trained again
    assert [(c.n, c.arch_id, _rung(c, 0)) for c in after] == [(c.n, c.arch_id, _rung(c, 0)) for c in before]
    screened = {c.n for c in after if not _rung(c, 1)}
    assert [c.completed for c in after if c.n in screened] == [c.completed for c in before if c.n in screened]
    assert sum(1 for c in after if _rung(c, 1)) == 1
    assert not list(out.glob("candidates/*/.rung1.tmp-*"))   # the killed build's leftovers are gone
    assert meta["status"] == "finished"


@pytest.mark.timeout(1200)
def test_screening_then_promotion_of_the_best_and_one_measurement(auto_run):
    out, _ = auto_run
    cands, meta = rows(out)
    assert len(cands) == 3 and all(c.status == "done" for c in cands)
    for c in cands:                                       # every candidate screened at 2 of 4 epochs
        first = _rung(c, 0)
        assert first["epochs"] == 2 and first["fidelity"] == 0.5 and first["accuracy_kind"] == "float"
        assert not (out / "candidates" / str(c.n) / "model.tflite").exists()   # a screen builds no int8 model
    leader = max(cands, key=lambda c: _rung(c, 0)["score"])
    promoted = [c for c in cands if _rung(c, 1)]
    assert promoted == [leader]
    top = _rung(leader, 1)
    assert top["epochs"] == 4 and top["fidelity"] == 1.0 and top["measured"] and top["accuracy_kind"] == "int8"
    assert leader.metrics["epochs_run"] == 4 and leader.accuracy == top["accuracy"]
    assert (out / leader.artifacts / "model.tflite").is_file()
    assert leader.artifacts == f"candidates/{leader.n}/rung1"
    assert leader.measurement is not None and leader.measurement.source == "simulated"
    # the board measured the promoted candidate only; the screened ones keep labelled estimates
    for c in cands:
        if c is not leader:
            assert c.measurement is None and c.metrics["fidelity"] == 0.5
            assert set(c.metrics["sources"].values()) <= {"static", "estimated"}
    # the winner comes from the longest-trained candidates, whatever a screened one scored
    assert meta["best_n"] == leader.n and meta["status"] == "finished"
    assert (out / "best" / "model.tflite").is_file()
    report = (out / "report.html").read_text()
    assert "(2 ep, float)" in report and "screened at 2 epochs (float accuracy), promoted by successive" in report


def test_fidelity_auto_with_ray_workers_is_refused_in_one_line(tmp_path):
    res = cli("search", "--board", "nano33ble", "--virtual", "--workers", "2", "--fidelity", "auto",
              "--out", tmp_path / "x", timeout=120)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "--fidelity auto" in lines[0] and "--fidelity off" in lines[0]
    assert not (tmp_path / "x").exists()


@pytest.mark.timeout(900)
def test_board_lost_while_measuring_a_promotion_resume_measures_it(tmp_path, monkeypatch):
    from device_profiles import get_profile
    from device_profiles.cost_model import CostModel
    from firmware_bridge.device import DeviceSpec
    from firmware_bridge.virtual.board import VirtualBoard
    from qnas_edge.errors import RunFailed
    from qnas_edge.run.loop import SearchRun
    from qnas_edge.run.progress import LoopDisplay
    from qnas_edge.run.settings import SearchSettings

    profile = get_profile("nano33ble")
    settings = SearchSettings(trials=3, epochs=4, fidelity="auto", final_epochs=0, batch=3, runs=3, seed=5,
                              budgets=CostModel(profile).budget_limits(), device=DeviceSpec("virtual"))
    real = VirtualBoard.measure
    calls = []

    def board_dies(self, model, **kw):
        calls.append(model)
        if self.process is not None:                      # pull the plug: the real board process dies
            self.process.proc.kill()
            self.process.proc.wait()
        return real(self, model, **kw)

    monkeypatch.setattr(VirtualBoard, "measure", board_dies)
    out = tmp_path / "run"
    with pytest.raises(RunFailed):                        # the one promoted candidate could not be measured
        SearchRun.start(out, profile, settings, LoopDisplay(enabled=False)).run()
    cands, _ = rows(out)
    assert len(calls) == 1                                # screening measures nothing; the promotion once
    promoted = [c for c in cands if _rung(c, 1)]
    assert len(promoted) == 1 and promoted[0].status == "unmeasured" and not _rung(promoted[0], 1)["measured"]

    monkeypatch.setattr(VirtualBoard, "measure", real)
    again_run = SearchRun.resume(out, LoopDisplay(enabled=False))
    assert not again_run.finished          # failed, but with a lost measurement to retry: `resume` runs it
    outcome = again_run.run()
    again = {c.n: c for c in outcome.candidates}
    p = again[promoted[0].n]
    assert p.status == "done" and p.measurement.source == "simulated" and _rung(p, 1)["measured"]
    assert _rung(p, 1)["accuracy"] == _rung(promoted[0], 1)["accuracy"]          # measured, not retrained
    assert outcome.best.n == p.n
    assert all(again[c.n].completed == c.completed for c in cands if c is not promoted[0])


@pytest.mark.timeout(600)
def test_export_of_a_screened_only_candidate_names_the_problem_and_the_fix(auto_run, tmp_path):
    out, _ = auto_run
    cands, _ = rows(out)
    screened = next(c for c in cands if not _rung(c, 1))
    res = cli("export", out, "--candidate", screened.n, "--to", tmp_path / "bundle", timeout=120)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "only screened" in lines[0] and "qnas-edge build --arch" in lines[0]
    assert not (tmp_path / "bundle").exists()
