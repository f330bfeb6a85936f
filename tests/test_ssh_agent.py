"""The on-board agent run directly with the board's Python (no SSH): modes, output, failures."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware_bridge.ssh.session import AGENT_DIR, AGENT_FILES, AGENT_PATH


def _run(python: str, *args: str, env: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
    r = subprocess.run([python, str(AGENT_PATH), *args], capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, (r.stdout, r.stderr)  # exactly ONE JSON object
    return r.returncode, json.loads(lines[0])


def test_agent_is_self_contained_python37():
    stdlib = {"json", "os", "platform", "shutil", "subprocess", "sys", "threading", "time"}
    assert AGENT_PATH.parent == AGENT_DIR and AGENT_PATH.name in AGENT_FILES
    for name in AGENT_FILES:
        src = (AGENT_DIR / name).read_text()
        tree = ast.parse(src, feature_version=(3, 7))  # no walrus, no match, no 3.8+ syntax
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
        top = {n for n in imported if n not in ("numpy", "tflite_runtime", "ai_edge_litert", "tvm", "argparse",
                                                "queue", "resource", "importlib")}
        assert top <= stdlib | {"qnas_board_facts"}, (name, top)
        assert "tensorflow" not in imported, name                    # a board has no TensorFlow
        assert "qnas_edge" not in src and "firmware_bridge" not in src and "device_profiles" not in src


@pytest.mark.timeout(60)
def test_cli_mode_measures(board_python, tiny_models):
    code, doc = _run(board_python, "--model", str(tiny_models["conv"]), "--runs", "7", "--warmup", "2")
    assert code == 0 and doc["ok"] is True
    assert doc["runtime"] == {"name": "tflite_runtime", "version": "2.14.0"}
    assert len(doc["samples_ms"]) == 7 and doc["runs"] == 7 and doc["warmup"] == 2
    lat = doc["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
    assert lat["min"] == min(doc["samples_ms"]) and lat["max"] == max(doc["samples_ms"])
    assert doc["output_shape"] == [1, 8, 8, 8] and len(doc["output"]) == 512
    assert doc["inputs"] == [{"shape": [1, 16, 16, 3], "dtype": "int8"}]
    assert doc["peak_rss_bytes"] > 10 * 2**20 and doc["cpu_model"] and doc["python"].startswith("3.")
    assert doc["threads"] == 1 and doc["numpy"].startswith("1.")


@pytest.mark.timeout(60)
def test_request_file_paths_are_relative_to_it(board_python, tiny_models, tmp_path):
    import numpy as np

    (tmp_path / "m.tflite").write_bytes(tiny_models["dense"].read_bytes())
    np.save(tmp_path / "x.npy", np.zeros((1, 64), dtype=np.int8))
    (tmp_path / "req.json").write_text(json.dumps({"model": "m.tflite", "input": "x.npy", "runs": 3, "warmup": 1}))
    code, a = _run(board_python, str(tmp_path / "req.json"))
    code2, b = _run(board_python, str(tmp_path / "req.json"))
    assert code == code2 == 0 and a["runs"] == 3
    assert a["output"] == b["output"] and len(a["output"]) == 10  # same given input, same output


@pytest.mark.timeout(60)
def test_serve_mode_answers_lines_and_exits_at_eof(board_python, tiny_models, tmp_path):
    p = subprocess.Popen([board_python, str(AGENT_PATH), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        hello = json.loads(p.stdout.readline())
        assert hello["ready"] and hello["runtime"] == "tflite_runtime" and hello["pid"] == p.pid
        reqs = [{"model": str(tiny_models["conv"]), "runs": 2},
                "this is not json",
                {"model": str(tmp_path / "missing.tflite"), "runs": 2},
                {"model": str(tiny_models["dense"]), "runs": 4}]
        answers = []
        for r in reqs:
            p.stdin.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
            p.stdin.flush()
            answers.append(json.loads(p.stdout.readline()))
        assert answers[0]["ok"] and answers[0]["runs"] == 2
        assert not answers[1]["ok"] and "bad request line" in answers[1]["error"] and answers[1]["code"] == 2
        assert not answers[2]["ok"] and answers[2]["code"] == 2 and "missing.tflite" in answers[2]["error"]
        assert answers[3]["ok"] and answers[3]["runs"] == 4 and len(answers[3]["output"]) == 10
        p.stdin.write(json.dumps({"model": str(tiny_models["mbblock"]), "runs": 10**7}) + "\n")
        p.stdin.flush()
        time.sleep(0.5)
        t0 = time.monotonic()
        p.stdin.close()  # the SSH session is gone: stop even in the middle of a measurement
        assert p.wait(timeout=10) == 0 and time.monotonic() - t0 < 5
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.timeout(60)
def test_missing_runtime_and_numpy_reported_with_pip_command(bare_board_pythons, tiny_models):
    code, doc = _run(bare_board_pythons["numpy_only"], "--model", str(tiny_models["conv"]))
    assert code == 3 and doc["ok"] is False and doc["missing"] == "tflite-runtime"
    assert doc["pip"] == f"{bare_board_pythons['numpy_only']} -m pip install tflite-runtime"
    assert "tflite_runtime" in doc["error"] and "ai_edge_litert" in doc["error"]
    code, doc = _run(bare_board_pythons["empty"], "--model", str(tiny_models["conv"]))
    assert code == 3 and doc["missing"] == "numpy" and doc["pip"].endswith("-m pip install numpy")


@pytest.mark.timeout(60)
def test_bad_model_and_arguments_exit_2(board_python, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    code, doc = _run(board_python, "--model", str(junk))
    assert code == 2 and "cannot load the model" in doc["error"]
    code, doc = _run(board_python)
    assert code == 2 and "no model given" in doc["error"]


@pytest.mark.timeout(60)
def test_raspberry_pi_throttling_decoded(board_python, tiny_models, tmp_path):
    # vcgencmd only exists on Raspberry Pi OS: a script printing what the firmware reports for
    # "under-voltage now + throttled now + both occurred since boot" exercises the decoding.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vcgencmd").write_text("#!/bin/sh\n[ \"$1\" = get_throttled ] && echo throttled=0x50005\n")
    (bin_dir / "vcgencmd").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    code, doc = _run(board_python, "--model", str(tiny_models["dense"]), "--runs", "1", env=env)
    assert code == 0
    assert doc["throttled"] == {"raw": "0x50005", "flags": ["under-voltage", "throttled", "under-voltage-occurred",
                                                              "throttling-occurred"]}
    zone = Path("/sys/class/thermal/thermal_zone0/temp")
    if zone.exists():
        assert doc["temperature_c"] == pytest.approx(int(zone.read_text()) / 1000.0, abs=15)
    else:
        assert doc["temperature_c"] is None


@pytest.mark.timeout(120)
def test_agent_never_falls_back_to_tensorflow(bare_board_pythons, tiny_models, tmp_path):
    """Without tflite_runtime / ai_edge_litert the agent says what to install; it never imports TensorFlow,
    not even when one is importable (here a stand-in that leaves a mark when imported)."""
    fake = tmp_path / "site" / "tensorflow"
    fake.mkdir(parents=True)
    mark = tmp_path / "tensorflow-was-imported"
    (fake / "__init__.py").write_text(f"open({str(mark)!r}, 'w').close()\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    code, doc = _run(bare_board_pythons["numpy_only"], "--model", str(tiny_models["dense"]), env=env)
    assert code == 3 and doc["missing"] == "tflite-runtime" and "ai-edge-litert" in doc["alternative"]
    assert not mark.exists()
    # the host's Python has a real TensorFlow but no board runtime: the same clear answer
    probe = subprocess.run([sys.executable, "-c", "import tflite_runtime"], capture_output=True)
    if probe.returncode != 0:
        code, doc = _run(sys.executable, "--model", str(tiny_models["dense"]), "--runs", "2", timeout=120)
        assert code == 3 and doc["missing"] == "tflite-runtime" and doc["pip"].startswith(sys.executable)


@pytest.mark.timeout(60)
def test_serve_hello_says_who_and_what(board_python):
    p = subprocess.Popen([board_python, str(AGENT_PATH), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        hello = json.loads(p.stdout.readline())
    finally:
        p.stdin.close()
        p.wait(timeout=10)
    import platform

    assert hello["hostname"] == platform.node() and hello["tvm"] is False and hello["runtime"] == "tflite_runtime"
