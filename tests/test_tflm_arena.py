"""The arena search returns exactly what the real tflite-micro interpreter needs."""

import subprocess
import sys

import pytest

from device_profiles.tflm_arena import find_min_arena

_CHECK = """
import sys
from tflite_micro.python.tflite_micro import runtime
data = open(sys.argv[1], 'rb').read()
try:
    runtime.Interpreter.from_bytes(data, arena_size=int(sys.argv[2]))
    print('OK')
except Exception:
    print('FAIL')
"""


def _allocates(path, size) -> bool:
    out = subprocess.run([sys.executable, "-c", _CHECK, str(path), str(size)], capture_output=True, text=True)
    return out.stdout.strip() == "OK"   # a crash (too small) also counts as not allocating


@pytest.mark.parametrize("name", ["conv", "mbblock"])
def test_arena_is_exact_minimum(tiny_models, name):
    res = find_min_arena(tiny_models[name])
    assert res.arena_bytes is not None and res.arena_bytes > 0
    assert _allocates(tiny_models[name], res.arena_bytes)
    assert not _allocates(tiny_models[name], res.arena_bytes - 1)


def test_arena_from_bytes_matches_path(tiny_models):
    p = tiny_models["dense"]
    assert find_min_arena(p.read_bytes()).arena_bytes == find_min_arena(p).arena_bytes
