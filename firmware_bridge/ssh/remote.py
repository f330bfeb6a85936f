"""A command running on an SSH board: the JSON-lines `RemoteProcess` (the board agent) and `ExecResult`.

Every read has a deadline; a dropped session is a `TransientLinkError` (worth retrying), a command
that outlives its deadline a `LinkError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from firmware_bridge.errors import LinkError, TransientLinkError


@dataclass
class ExecResult:
    """Exit status (None when the session died before reporting one), stdout and stderr bytes."""

    status: int | None
    stdout: bytes
    stderr: bytes


class RemoteProcess:
    """A remote command speaking one JSON object per line; closing it (stdin EOF) ends it."""

    def __init__(self, chan, transport, where: str) -> None:
        self.chan, self.transport, self.where = chan, transport, where
        self._buf = bytearray()
        self.stderr = bytearray()

    @property
    def alive(self) -> bool:
        return not self.chan.closed and self.transport.is_active() and not self.chan.exit_status_ready()

    def send(self, line: bytes) -> None:
        try:
            self.chan.sendall(line.rstrip(b"\n") + b"\n")
        except (OSError, EOFError) as exc:
            raise TransientLinkError(f"SSH session to {self.where} dropped: {describe(exc)}") from exc
        except Exception as exc:  # noqa: BLE001 - paramiko.SSHException when the channel is gone
            raise TransientLinkError(f"SSH session to {self.where} dropped: {describe(exc)}") from exc

    def read_line(self, timeout: float) -> bytes | None:
        """The next stdout line; None when the process exited first (see `exit_status`, `stderr`).

        TransientLinkError when the session dies, LinkError after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        chan = self.chan
        try:
            while True:
                nl = self._buf.find(b"\n")
                if nl >= 0:
                    line = bytes(self._buf[:nl])
                    del self._buf[:nl + 1]
                    return line
                got = False
                while chan.recv_ready():
                    self._buf += chan.recv(65536)
                    got = True
                while chan.recv_stderr_ready():
                    self.stderr += chan.recv_stderr(65536)
                    del self.stderr[:-8192]
                    got = True
                if got:
                    continue
                if chan.eof_received or chan.closed:
                    if chan.exit_status_ready() or chan.closed:
                        if not self.transport.is_active() or not chan.exit_status_ready() \
                                or chan.recv_exit_status() == -1:
                            raise TransientLinkError(f"SSH session to {self.where} was closed mid-command")
                        return None
                if not self.transport.is_active():
                    raise TransientLinkError(f"SSH session to {self.where} was closed mid-command")
                if time.monotonic() > deadline:
                    raise LinkError(f"the board at {self.where} did not answer within {timeout:.0f} s; "
                                    "it may be overloaded or hung")
                time.sleep(0.001)
        except TimeoutError as exc:
            raise TransientLinkError(f"SSH session to {self.where} stopped answering") from exc

    @property
    def exit_status(self) -> int | None:
        return self.chan.recv_exit_status() if self.chan.exit_status_ready() else None

    def close(self) -> None:
        try:
            self.chan.close()
        except Exception:  # noqa: BLE001 - the session may already be gone
            pass


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
