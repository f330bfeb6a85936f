"""TVM back end: host (x86-64) build agrees with the TFLite interpreter; aarch64 cross-build is an
AArch64 ELF with a manifest; target-string parsing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device_profiles.catalog import get_profile
from device_profiles.tflite_model import parse_tflite
from qnas_edge.pipeline.tvm_backend import compile_tvm, elf_machine, parse_target, run_library


def test_parse_target_profile_string():
    t = parse_target(get_profile("rpi4").tvm_target)
    assert t == {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72", "mattr": ["+neon"],
                 "num-cores": 4}
    assert parse_target("llvm") == {"kind": "llvm"}


@pytest.mark.timeout(300)
def test_host_build_equals_tflite(trained_candidate, digits16, tmp_path):
    from qnas_edge.pipeline.quantize import io_params, run_int8

    data = trained_candidate.model_path.read_bytes()
    qin, _ = io_params(parse_tflite(data))
    x = qin.quantize(digits16.x_val[:16])
    art = compile_tvm(trained_candidate.model_path, "llvm", tmp_path, x[:1])
    assert art.machine == "x86_64" and elf_machine(art.library) == "x86_64"
    got = np.concatenate([run_library(art.library, x[i:i + 1]) for i in range(len(x))]).astype(int)
    ref = run_int8(data, x).astype(int)
    assert got.shape == ref.shape == (16, 10)
    assert np.abs(got - ref).max() <= 1


@pytest.mark.timeout(300)
def test_aarch64_cross_build(trained_candidate, digits16, tmp_path):
    from qnas_edge.pipeline.quantize import io_params

    data = trained_candidate.model_path.read_bytes()
    info = parse_tflite(data)
    qin, _ = io_params(info)
    art = compile_tvm(trained_candidate.model_path, get_profile("rpi4").tvm_target, tmp_path,
                      qin.quantize(digits16.x_val[:1]))
    head = open(art.library, "rb").read(20)
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 183  # EM_AARCH64
    assert art.machine == "aarch64" and art.host_max_abs_diff <= 1
    man = json.loads(open(art.manifest).read())
    assert man["machine"] == "aarch64" and man["library"] == "model_tvm.so" and "load_module" in man["load"]
    assert man["inputs"][0]["shape"] == [1, 16, 16, 1] and man["inputs"][0]["dtype"] == "int8"
    assert man["outputs"][0]["zero_point"] == info.outputs[0].zero_point
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_tvm.json", "model_tvm.so"]  # host .so removed


@pytest.mark.timeout(300)
def test_build_candidate_for_tvm_board(tmp_path):
    from qnas_edge.pipeline.architecture import Architecture, Block, Stage
    from qnas_edge.pipeline.build import BuildSettings, build_candidate
    from qnas_edge.pipeline.training import TrainSettings

    arch = Architecture(8, 1.0, 8, 2, (Stage(8, 1, (Block(3, 2, True),)),))
    res = build_candidate(arch, "digits", get_profile("rpi4"), BuildSettings(train=TrainSettings(epochs=1)), 0,
                          tmp_path / "pi")
    assert sorted(res.files) == ["arch.json", "metrics.json", "model.tflite", "model_tvm.json", "model_tvm.so"]
    assert elf_machine(res.files["model_tvm.so"]) == "aarch64"
    assert res.metrics["tvm"]["host_max_abs_diff_vs_tflite"] <= 1 and res.metrics["arena_bytes"] is None
