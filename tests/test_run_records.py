"""The run's records and contracts: an earlier release's ledger resumes, one candidate parses its
.tflite and bisects its TFLM arena once, search errors end in one line with their exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qnas_edge.run.ledger import SCHEMA_VERSION, Ledger

ROOT = Path(__file__).resolve().parent.parent
V1_RUN = Path(__file__).parent / "data" / "ledger_v1_run"


def cli(*args, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "qnas_edge", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.timeout(900)
def test_ledger_of_the_previous_release_still_resumes(tmp_path):
    run = tmp_path / "v1"
    shutil.copytree(V1_RUN, run)
    with Ledger(run / "ledger.sqlite") as led:
        before = {c.n: c for c in led.candidates()}
    assert sorted(before) == [0, 1] and all(c.measurement is not None for c in before.values())
    assert before[0].measurement.latencies_ms            # old rows: samples moved from `extra`
    res = cli("resume", run, "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["status"] == "finished"
    with Ledger(run / "ledger.sqlite") as led:
        after = {c.n: c for c in led.candidates()}
        assert led.get_meta("schema_version") == SCHEMA_VERSION
    assert len(after) == 4
    for n in (0, 1):                                        # replayed, never redone
        assert after[n].completed == before[n].completed and after[n].arch_id == before[n].arch_id
    for n in (2, 3):
        m = after[n].measurement
        assert m is not None and m.source == "simulated" and len(m.latencies_ms) == m.runs


def test_newer_ledger_schema_is_refused_in_one_line(tmp_path):
    run = tmp_path / "future"
    shutil.copytree(V1_RUN, run)
    with Ledger(run / "ledger.sqlite") as led:
        led.set_meta("schema_version", SCHEMA_VERSION + 1)
    res = cli("resume", run)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "newer qnas-edge" in res.stderr


def test_resume_of_a_damaged_ledger_is_one_line_exit_2(tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(V1_RUN, run)
    data = (run / "ledger.sqlite").read_bytes()
    (run / "ledger.sqlite").write_bytes(data[:100] + b"\x00garbage" * 64 + data[700:1500])
    res = cli("resume", run)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert "ledger.sqlite" in res.stderr


def test_unavailable_sampler_is_one_line_exit_2(tmp_path):
    out = tmp_path / "run"
    res = cli("search", "--board", "nano33ble", "--no-device", "--sampler", "dwave", "--out", out)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr and "dwave" in lines[0].lower()
    assert not out.exists()                                 # nothing half-written


def test_budgets_nothing_meets_name_the_minimum(tmp_path):
    res = cli("search", "--board", "nano33ble", "--no-device", "--max-latency-ms", "0.001", "--out", tmp_path / "r")
    assert res.returncode == 1
    line = res.stderr.strip().splitlines()[-1]
    assert "budgets nothing can meet on nano33ble" in line and "latency_ms" in line and "ram_over" not in line


@pytest.mark.timeout(900)
def test_one_candidate_parses_once_and_bisects_its_arena_once(tmp_path, monkeypatch):
    """With --virtual, the host parses the candidate's .tflite once and runs the arena search once."""
    import device_profiles.tflite_model as tm
    import device_profiles.tflm_arena as ta
    import qnas_edge.pipeline.quantize as qz
    from device_profiles import get_profile
    from device_profiles.cost_model import CostModel
    from firmware_bridge.device import DeviceSpec
    from qnas_edge.run.loop import SearchRun
    from qnas_edge.run.progress import LoopDisplay
    from qnas_edge.run.settings import SearchSettings

    calls = {"parse": 0, "arena": 0}
    real_parse, real_arena = tm.parse_tflite, ta.find_min_arena

    def parse(*a, **k):
        calls["parse"] += 1
        return real_parse(*a, **k)

    def arena(*a, **k):
        calls["arena"] += 1
        return real_arena(*a, **k)

    monkeypatch.setattr(tm, "parse_tflite", parse)
    monkeypatch.setattr(qz, "parse_tflite", parse)
    monkeypatch.setattr(ta, "find_min_arena", arena)
    monkeypatch.setattr(SearchRun, "_write_report", lambda self: None)
    monkeypatch.setenv("QNAS_EDGE_CACHE_DIR", str(tmp_path / "cache"))   # no arena from earlier runs
    profile = get_profile("nano33ble")
    settings = SearchSettings(trials=1, epochs=1, final_epochs=0, batch=1, runs=3, seed=1,
                              budgets=CostModel(profile).budget_limits(), device=DeviceSpec("virtual"))
    outcome = SearchRun.start(tmp_path / "run", profile, settings, LoopDisplay(enabled=False)).run()
    (cand,) = outcome.candidates
    assert cand.measurement is not None and cand.measurement.source == "simulated"
    assert calls == {"parse": 1, "arena": 1}
