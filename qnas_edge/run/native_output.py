"""Keep C++ log lines (TensorFlow, absl, oneDNN, CUDA probing, the TFLite converter's
`fully_quantize:` line, Keras export prints) out of the live panel and in the run's log file.

They are written straight to file descriptors 1 and 2 by native code, so `sys.stderr` tricks cannot
catch them: while a run's stages execute, fds 1 and 2 point at `run.log`; the panel writes to a
duplicate of the terminal taken before (`terminal_stream`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def terminal_stream() -> TextIO | None:
    """A private line-buffered copy of the current stderr (None where stderr has no descriptor)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")


@contextlib.contextmanager
def native_output_to(log_path: Path) -> Iterator[None]:
    """Redirect fds 1 and 2 to `log_path` (appended) for the block; restored on every way out."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log):
            os.close(fd)
