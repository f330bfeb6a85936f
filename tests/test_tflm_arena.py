"""The arena search returns exactly what the real tflite-micro interpreter needs."""

import hashlib
import subprocess
import sys
from pathlib import Path

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


# -- the arena cache: one search per model content, whoever asks --------------------------------------


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    from device_profiles import tflm_arena

    monkeypatch.setenv("QNAS_EDGE_CACHE_DIR", str(tmp_path / "cache"))
    tflm_arena.clear_memory_cache()
    yield tmp_path / "cache" / "arena"
    tflm_arena.clear_memory_cache()


def test_arena_is_searched_once_per_model_content(tiny_models, fresh_cache, tmp_path):
    from device_profiles import tflm_arena

    path = tiny_models["conv"]
    first = find_min_arena(path)
    assert tflm_arena.stats.bisections == 1
    copy = tmp_path / "elsewhere.tflite"                       # same bytes, other name: same answer
    copy.write_bytes(path.read_bytes())
    assert find_min_arena(copy) == first and find_min_arena(path.read_bytes()) == first
    assert tflm_arena.stats.bisections == 1 and tflm_arena.stats.memory_hits == 2
    files = list(fresh_cache.glob("*.json"))
    assert [f.stem for f in files] == [hashlib.sha256(path.read_bytes()).hexdigest()]
    tflm_arena.clear_memory_cache()                            # a new process: the disk cache answers
    assert find_min_arena(path) == first
    assert tflm_arena.stats.bisections == 0 and tflm_arena.stats.disk_hits == 1
    assert not list(fresh_cache.glob("*.tmp"))                 # written atomically


def test_corrupt_cache_file_is_a_miss(tiny_models, fresh_cache):
    from device_profiles import tflm_arena

    path = tiny_models["dense"]
    good = find_min_arena(path)
    (entry,) = fresh_cache.glob("*.json")
    for junk in ("{not json", '{"v": 1, "tflm": "?", "arena_bytes": -5}', "[]", ""):
        entry.write_text(junk)
        tflm_arena.clear_memory_cache()
        assert find_min_arena(path) == good and tflm_arena.stats.bisections == 1
    assert f'"arena_bytes": {good.arena_bytes}' in entry.read_text()             # rewritten after the miss


def test_arena_trace_counts_searches_across_processes(tiny_models, fresh_cache, tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv("QNAS_EDGE_ARENA_TRACE", str(trace))
    code = "from device_profiles.tflm_arena import find_min_arena as f; import sys; f(sys.argv[1])"
    for _ in range(2):                                         # two processes, one search
        subprocess.run([sys.executable, "-c", code, str(tiny_models["depthwise"])], check=True,
                       cwd=str(Path(__file__).resolve().parents[1]))
    assert len(trace.read_text().splitlines()) == 1
