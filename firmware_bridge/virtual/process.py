"""The virtual board as a subprocess (`python -m firmware_bridge.virtual`) and its pty path.

Used by the `virtual` kind of board, the tests and the benchmarks. The process is always ended by
`close()` (terminate, then kill); a board that does not start in time is ended too.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from device_profiles.profile import Profile
from firmware_bridge.errors import LinkError, ModelRefused

ROOT = Path(__file__).resolve().parents[2]


class VirtualBoardProcess:
    """`python -m firmware_bridge.virtual` in a subprocess; `.path` is its pty. Always killed on close."""

    def __init__(self, profile: Profile, model: Path | None = None, fault_rate: float = 0.0, seed: int = 0,
                 baud: int | None = None, standard_only: bool = False, start_timeout_s: float = 60.0) -> None:
        cmd = [sys.executable, "-m", "firmware_bridge.virtual", "--board", profile.id,
               "--fault-rate", str(fault_rate), "--seed", str(seed)]
        src = Path(profile.source) if profile.source else None
        if src is not None and src.is_file():
            cmd += ["--profile", str(src)]
        if model is not None:
            cmd += ["--model", str(model)]
        if baud:
            cmd += ["--baud", str(baud)]
        if standard_only:
            cmd.append("--standard-only")
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self._stderr = tempfile.TemporaryFile(mode="w+")     # a pipe nobody drains could block the board
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env,
                                     cwd=str(ROOT))
        self.path = self._first_line(start_timeout_s)

    def _first_line(self, timeout_s: float) -> str:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout_s)
        sel.close()
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("/dev/"):
            self.close()
            self._stderr.seek(0)
            err = (self._stderr.read() or "").strip().splitlines()
            msg = err[-1] if err else "no device path printed"
            if self.proc.returncode == 2:
                raise ModelRefused(msg.removeprefix("virtual-board: error: "))
            raise LinkError(f"virtual board did not start: {msg}")
        return line

    def reset(self) -> None:
        """Simulate a board reset (SIGUSR1)."""
        self.proc.send_signal(signal.SIGUSR1)

    def close(self) -> None:
        """End the process (idempotent, never raises)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> VirtualBoardProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
