"""The trained candidate: int8 accuracy, artifacts, TFLM agreement, model_data.cc compiled with g++,
training determinism/time limit, atomic output, and the `qnas-edge build` CLI end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from device_profiles.tflite_model import parse_tflite
from qnas_edge.pipeline.architecture import Architecture, Block, Stage

REPO = Path(__file__).resolve().parents[1]
TINY = Architecture(8, 1.0, 8, 2, (Stage(8, 1, (Block(3, 1, False),)),))


def test_trained_candidate_learns_and_writes_everything(trained_candidate):
    res = trained_candidate
    assert res.int8_accuracy >= 0.90, res.metrics["accuracy"]  # digits, 2 epochs, int8 .tflite
    out = Path(res.out_dir)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["arch.json", "metrics.json", "model.tflite", "model_data.cc", "model_data.h"])
    metrics = json.loads((out / "metrics.json").read_text())
    info = parse_tflite(out / "model.tflite")
    assert info.is_int8 and metrics["macs"] == info.macs and metrics["model_bytes"] == info.model_bytes
    assert metrics["weight_bytes"] == info.weight_bytes
    assert metrics["tflm"]["max_abs_diff_vs_tflite"] <= 1
    assert metrics["arena_bytes"] == metrics["tflm"]["arena_bytes"] > 0
    assert metrics["ram_bytes"] >= metrics["arena_bytes"] and metrics["flash_bytes"] > info.model_bytes
    assert metrics["latency_ms"] > 0 and metrics["energy_mj"] > 0 and metrics["status"] == "estimated"
    assert set(metrics["fits"]) >= {"latency_ms", "ram_bytes", "flash_bytes"}
    assert metrics["training"]["epochs_run"] == 2 and metrics["dataset"]["classes"] == 10
    assert Architecture.load(out / "arch.json").id == res.arch_id == metrics["arch_id"]
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no temp folder left


def test_int8_accuracy_matches_interpreter(trained_candidate, digits16):
    from qnas_edge.pipeline.quantize import int8_accuracy

    data = trained_candidate.model_path.read_bytes()
    acc = int8_accuracy(data, parse_tflite(data), digits16.x_val, digits16.y_val, kernels="builtin")
    assert acc == pytest.approx(trained_candidate.int8_accuracy)


def test_tflm_agrees_with_tflite_on_many_inputs(trained_candidate, digits16):
    from qnas_edge.pipeline.quantize import io_params, run_int8
    from qnas_edge.pipeline.tflm_check import tflm_invoke

    data = trained_candidate.model_path.read_bytes()
    qin, _ = io_params(parse_tflite(data))
    x = qin.quantize(digits16.x_val[:20])
    ref = run_int8(data, x, kernels="builtin").astype(int)
    arena = trained_candidate.metrics["arena_bytes"]
    micro = np.concatenate([tflm_invoke(data, x[i:i + 1], arena) for i in range(len(x))]).astype(int)
    assert np.abs(micro - ref).max() <= 1
    assert (np.argmax(micro, 1) == np.argmax(ref, 1)).mean() >= 0.95


@pytest.mark.timeout(120)
def test_model_data_cc_compiles_and_matches_tflite(trained_candidate, tmp_path):
    out = Path(trained_candidate.out_dir)
    header = (out / "model_data.h").read_text()
    assert f"G_MODEL_DATA_ARENA_MIN_BYTES {trained_candidate.metrics['arena_bytes']}" in header
    main_cc = tmp_path / "main.cc"
    main_cc.write_text(r'''
#include <cstdio>
#include <cstdint>
#include <vector>
#include "model_data.h"
int main(int argc, char** argv) {
  FILE* f = std::fopen(argv[1], "rb");
  if (!f) return 2;
  std::vector<unsigned char> buf;
  int c;
  while ((c = std::fgetc(f)) != EOF) buf.push_back((unsigned char)c);
  std::fclose(f);
  if (buf.size() != g_model_data_len) { std::printf("length %u != %zu\n", g_model_data_len, buf.size()); return 3; }
  for (size_t i = 0; i < buf.size(); ++i) if (buf[i] != g_model_data[i]) { std::printf("byte %zu\n", i); return 4; }
  if (reinterpret_cast<uintptr_t>(g_model_data) % 16 != 0) { std::printf("misaligned\n"); return 5; }
  if (g_model_data_arena_bytes < G_MODEL_DATA_ARENA_MIN_BYTES) return 6;
  std::printf("ok %u\n", g_model_data_len);
  return 0;
}
''')
    exe = tmp_path / "check"
    subprocess.run(["g++", "-std=c++17", "-O0", "-I", str(out), str(main_cc), str(out / "model_data.cc"),
                    "-o", str(exe)], check=True, timeout=100)
    proc = subprocess.run([str(exe), str(out / "model.tflite")], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip() == f"ok {trained_candidate.model_path.stat().st_size}"
    # the check can fail: a flipped byte is detected
    bad = tmp_path / "bad.tflite"
    data = bytearray(trained_candidate.model_path.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    assert subprocess.run([str(exe), str(bad)], capture_output=True, timeout=10).returncode == 4


def test_training_deterministic_and_time_limit():
    from qnas_edge.pipeline.datasets import load_dataset
    from qnas_edge.pipeline.keras_model import build_model
    from qnas_edge.pipeline.training import TrainSettings, seed_everything, train

    ds = load_dataset("digits", 8, seed=1)
    weights, results = [], []
    for _ in range(2):
        seed_everything(5)
        m = build_model(TINY, ds.input_shape, ds.num_classes)
        results.append(train(m, ds.x_train, ds.y_train, ds.x_val, ds.y_val, TrainSettings(epochs=1), 5))
        weights.append(m.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert results[0].float_val_accuracy == results[1].float_val_accuracy
    seed_everything(5)
    m = build_model(TINY, ds.input_shape, ds.num_classes)
    r = train(m, ds.x_train, ds.y_train, ds.x_val, ds.y_val, TrainSettings(epochs=4, time_limit_s=1e-3), 5)
    assert r.stopped == "time_limit" and r.epochs_run == 1


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    """A step failing after training (here: TFLite Micro refusing) removes every partial file."""
    from device_profiles.catalog import get_profile
    from qnas_edge.errors import RunFailed
    from qnas_edge.pipeline import tflm_check
    from qnas_edge.pipeline.build import BuildSettings, build_candidate
    from qnas_edge.pipeline.training import TrainSettings

    def refuse(path, x, threads=2):
        assert Path(path).is_file()  # the model was written to the temp folder before the check
        raise RunFailed("TFLite Micro cannot run model.tflite (unsupported ops: FAKE_OP)")

    monkeypatch.setattr(tflm_check, "check_tflm", refuse)
    out = tmp_path / "out"
    with pytest.raises(RunFailed):
        build_candidate(TINY, "digits", get_profile("nano33ble"), BuildSettings(train=TrainSettings(epochs=1)),
                        0, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.timeout(300)
def test_cli_build_json(tmp_path):
    arch = tmp_path / "tiny.json"
    TINY.save(arch)
    out = tmp_path / "b"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "qnas_edge", "build", "--arch", str(arch), "--board", "nano33ble",
                           "--epochs", "1", "--out", str(out), "--json"], capture_output=True, text=True,
                          timeout=280, cwd=str(REPO), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)  # stdout is only the JSON document
    assert doc["arch_id"] == TINY.id and doc["board_id"] == "nano33ble"
    assert Path(doc["files"]["model_data.cc"]).is_file() and Path(doc["out_dir"]) == out
    assert doc["metrics"]["accuracy"]["int8_val"] > 0.3
    shutil.rmtree(out)


def test_non_int8_model_refused_by_op_name(tiny_models):
    from qnas_edge.errors import RunFailed
    from qnas_edge.pipeline.quantize import check_full_int8

    check_full_int8(tiny_models["mbblock"].read_bytes())
    with pytest.raises(RunFailed) as exc:
        check_full_int8(tiny_models["mbblock_float"].read_bytes())
    msg = str(exc.value)
    assert "not fully int8" in msg and "CONV_2D" in msg and exc.value.exit_code == 1
