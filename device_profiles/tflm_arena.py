"""Exact minimum TFLite Micro arena for a model, found by allocation with the real interpreter.

tflite-micro has no arena query: we bisect on `Interpreter.from_bytes(arena_size=n)` to the byte,
in a subprocess (a far-too-small arena can crash the interpreter). Ops the interpreter cannot
resolve are reported by name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
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
    """Smallest arena (bytes) with which tflite-micro allocates every tensor of `model`."""
    tmp = None
    if isinstance(model, bytes | bytearray):
        tmp = tempfile.NamedTemporaryFile(suffix=".tflite", delete=False)
        tmp.write(model)
        tmp.close()
        path = tmp.name
    else:
        path = str(Path(model).resolve())  # the worker runs from the package root
        if not Path(path).is_file():
            raise ModelFileError(f"{path}: no such model file")
    try:
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
    except subprocess.TimeoutExpired:
        return ArenaResult(None, [], f"tflite-micro did not finish allocating within {timeout_s:.0f} s")
    finally:
        if tmp is not None:
            os.unlink(tmp.name)
