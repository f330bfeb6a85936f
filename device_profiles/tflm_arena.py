"""Exact minimum TFLite Micro arena for a model, found by allocation with the real interpreter.

tflite-micro has no arena query: we bisect on `Interpreter.from_bytes(arena_size=n)` to the byte,
in a subprocess (a far-too-small arena can crash the interpreter). Ops the interpreter cannot
resolve are reported by name.

The search costs ~0.3-1 s, so results are memoised by the model's sha256: in process and on disk under
`${QNAS_EDGE_CACHE_DIR:-~/.cache/qnas-edge}/arena/<sha256>.json` (atomic writes; a corrupt or foreign
file is a miss). `stats.bisections` counts the real searches of this process; `QNAS_EDGE_ARENA_TRACE`
names a file that gets one line per real search in any process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from device_profiles.errors import ModelFileError

_MAX_ARENA = 64 * 1024 * 1024
_OP_RE = re.compile(r"Didn't find op for builtin opcode '([A-Za-z0-9_]+)'|op code ([A-Za-z0-9_]+)")


@dataclass
class ArenaResult:
    """`arena_bytes` is the smallest size that allocates; None when the model cannot load in TFLM."""

    arena_bytes: int | None
    unsupported_ops: list[str] = field(default_factory=list)
    error: str = ""


def _run(path: str, args: list[int], timeout_s: float) -> tuple[list[str], str, int]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-m", "device_profiles.tflm_worker", path, *map(str, args)],
        capture_output=True, text=True, timeout=timeout_s, env=env,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    return proc.stdout.splitlines(), proc.stderr, proc.returncode


def _outcomes(lines: list[str]) -> tuple[dict[int, bool], int | None, str]:
    """Parse worker output; returns ({size: ok}, size that was being tried when it died, last reason)."""
    results: dict[int, bool] = {}
    pending, reason = None, ""
    for line in lines:
        parts = line.split(" ", 2)
        if parts[0] == "TRY":
            pending = int(parts[1])
        elif parts[0] in ("OK", "FAIL"):
            results[int(parts[1])] = parts[0] == "OK"
            if parts[0] == "FAIL" and len(parts) > 2:
                reason = parts[2]
            pending = None
    return results, pending, reason


def unsupported_ops_from_log(log: str) -> list[str]:
    return sorted({(m.group(1) or m.group(2)).upper() for m in _OP_RE.finditer(log)})


def find_min_arena(model: str | Path | bytes, lower_bound: int = 0, timeout_s: float = 60.0) -> ArenaResult:
    """Smallest arena (bytes) with which tflite-micro allocates every tensor of `model`.

    Memoised by the model's content (sha256): in this process and on disk (see `cache_dir`), so a
    model's arena is bisected once whoever asks (pipeline, host checks, the virtual board process).
    `lower_bound` only speeds the search up; it must not exceed the true minimum.
    """
    path = None
    if isinstance(model, bytes | bytearray):
        data = bytes(model)
    else:
        path = str(Path(model).resolve())  # the worker runs from the package root
        if not Path(path).is_file():
            raise ModelFileError(f"{path}: no such model file")
        data = Path(path).read_bytes()
    key = hashlib.sha256(data).hexdigest()
    with _LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            stats.memory_hits += 1
            return _copy(hit)
    hit = _load(key)
    if hit is not None:
        with _LOCK:
            stats.disk_hits += 1
            _MEMO[key] = hit
        return _copy(hit)
    with _LOCK:
        stats.bisections += 1
    _trace(key)
    res = _search(data, path, lower_bound, timeout_s)
    if res.arena_bytes is not None or res.unsupported_ops:   # definitive answers only (not timeouts)
        with _LOCK:
            _MEMO[key] = _copy(res)
        _store(key, res)
    return res


def _search(data: bytes, path: str | None, lower_bound: int, timeout_s: float) -> ArenaResult:
    """The bisection itself (uncached): a worker subprocess per round, on `path` or a temp copy."""
    tmp = None
    if path is None:
        tmp = tempfile.NamedTemporaryFile(suffix=".tflite", delete=False)
        tmp.write(data)
        tmp.close()
        path = tmp.name
    try:
        return _bisect(path, lower_bound, timeout_s)
    except subprocess.TimeoutExpired:
        return ArenaResult(None, [], f"tflite-micro did not finish allocating within {timeout_s:.0f} s")
    finally:
        if tmp is not None:
            os.unlink(tmp.name)


def _bisect(path: str, lower_bound: int, timeout_s: float) -> ArenaResult:
    lines, err, _ = _run(path, [_MAX_ARENA], timeout_s)
    res, _, reason = _outcomes(lines)
    if not res.get(_MAX_ARENA):
        ops = unsupported_ops_from_log(err + "\n" + "\n".join(lines))
        why = ops and f"TFLite Micro has no kernel for: {', '.join(ops)}" or (
            reason or err.strip().splitlines()[-1:] and err.strip().splitlines()[-1] or "unknown error")
        return ArenaResult(None, ops, why)
    lo, hi = max(0, lower_bound - 1), _MAX_ARENA
    for _ in range(64):  # each round either finishes or learns that one more size crashes
        if hi - lo <= 1:
            break
        lines, err, code = _run(path, [-1, lo, hi], timeout_s)
        res, crashed_at, _ = _outcomes(lines)
        for size, ok in res.items():
            if ok:
                hi = min(hi, size)
            else:
                lo = max(lo, size)
        if crashed_at is not None:  # a crash means the arena was too small
            lo = max(lo, crashed_at)
    return ArenaResult(hi)


# ---------------------------------------------------------------------------- the cache
@dataclass
class CacheStats:
    """Counters of this process's `find_min_arena` calls: `bisections` = real searches (cache misses)."""

    bisections: int = 0
    memory_hits: int = 0
    disk_hits: int = 0


stats = CacheStats()
_MEMO: dict[str, ArenaResult] = {}
_LOCK = threading.Lock()
_CACHE_VERSION = 1


def cache_dir() -> Path:
    """`${QNAS_EDGE_CACHE_DIR:-~/.cache/qnas-edge}/arena` (read at every call, so tests can redirect it)."""
    base = os.environ.get("QNAS_EDGE_CACHE_DIR") or "~/.cache/qnas-edge"
    return Path(base).expanduser() / "arena"


def clear_memory_cache() -> None:
    """Forget this process's memo and zero `stats` (the disk cache stays)."""
    with _LOCK:
        _MEMO.clear()
        stats.bisections = stats.memory_hits = stats.disk_hits = 0


def _copy(res: ArenaResult) -> ArenaResult:
    return ArenaResult(res.arena_bytes, list(res.unsupported_ops), res.error)


def _tflm_version() -> str:
    try:
        from importlib.metadata import version

        return version("tflite_micro")
    except Exception:  # noqa: BLE001 - not installed as a distribution: cannot tell
        return "?"


def _load(key: str) -> ArenaResult | None:
    """The stored result for `key`; None for a miss (absent, unreadable, corrupt, other tflite-micro)."""
    try:
        doc = json.loads((cache_dir() / f"{key}.json").read_text())
        if doc.get("v") != _CACHE_VERSION or doc.get("tflm") != _tflm_version():
            return None
        arena = doc["arena_bytes"]
        if arena is not None and (not isinstance(arena, int) or arena <= 0):
            return None
        return ArenaResult(arena, [str(o) for o in doc.get("unsupported_ops", [])], str(doc.get("error", "")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _store(key: str, res: ArenaResult) -> None:
    """Write atomically (temp file + rename); a cache that cannot be written is silently skipped."""
    doc = {"v": _CACHE_VERSION, "tflm": _tflm_version(), "arena_bytes": res.arena_bytes,
           "unsupported_ops": res.unsupported_ops, "error": res.error}
    folder, tmp = cache_dir(), None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _trace(key: str) -> None:
    """With QNAS_EDGE_ARENA_TRACE=FILE, append one line per real bisection (any process, e.g. the
    virtual board's): how tests count arena searches across processes."""
    trace = os.environ.get("QNAS_EDGE_ARENA_TRACE")
    if trace:
        try:
            with open(trace, "a") as fh:
                fh.write(f"{key} {os.getpid()}\n")
        except OSError:
            pass
