"""SSH link to a Linux board (paramiko): host-key checking, authentication, retries, SFTP, safe exec.

Safety rules this module enforces, because users point it at machines on their network:

* Host keys are verified against a known_hosts file (default ``~/.ssh/known_hosts``; policies in
  `hosts.py`): an unknown key is refused with its SHA256 fingerprint and the ``--trust-new-host`` hint,
  trust-on-first-use happens only when asked for, a *changed* key is always refused.
* Remote commands are argv lists; every argument is `shlex.quote`-d before it reaches the remote shell,
  so no path or user text is ever interpreted by it.
* Files go into a private directory (mode 0700, random name) created over SFTP and removed afterwards.
* Every network step has a timeout; transient failures (refused/reset connections, dropped sessions)
  are retried a bounded number of times with exponential backoff.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shlex
import socket
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

from firmware_bridge.errors import LinkError, TransientLinkError
from firmware_bridge.ssh.hosts import (
    DEFAULT_KNOWN_HOSTS,
    HostSpec,
    SshUsageError,
    fingerprint,
    parse_host,
    reject_policy_class,
    trust_policy_class,
)
from firmware_bridge.ssh.remote import ExecResult, RemoteProcess, describe

__all__ = ["DEFAULT_KNOWN_HOSTS", "ExecResult", "HostSpec", "RemoteProcess", "SshLink", "SshUsageError",
           "TransientLinkError", "describe", "fingerprint", "parse_host", "quote_argv"]


def quote_argv(argv: list[str]) -> str:
    """One remote command line from an argv list, every argument shell-quoted."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def _is_transient(exc: BaseException) -> bool:
    import paramiko

    if isinstance(exc, (paramiko.AuthenticationException, paramiko.BadHostKeyException)):
        return False
    if isinstance(exc, TransientLinkError):
        return True
    if isinstance(exc, LinkError):
        return False
    return isinstance(exc, (OSError, EOFError, paramiko.SSHException, socket.timeout))


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


class SshLink:
    """One authenticated SSH connection (+ SFTP) to a board; reconnects on demand.

    `connect()` retries transient failures (`retries` attempts, backoff doubling from `backoff_s`);
    host-key and authentication failures are never retried. All remote commands go through `run(argv)`.
    """

    def __init__(self, host: str, identity: str | None = None, known_hosts: str | None = None,
                 trust_new_host: bool = False, password: str | None = None,
                 default_user: str | None = None, default_port: int = 22,
                 connect_timeout: float = 10.0, keepalive_s: float = 5.0, retries: int = 3,
                 backoff_s: float = 0.5, progress: Callable[[str], None] | None = None) -> None:
        self.spec = parse_host(host, default_user, default_port)
        if identity is not None and not Path(identity).expanduser().is_file():
            raise SshUsageError(f"--identity {identity}: no such key file; pass a private key such as ~/.ssh/id_ed25519")
        self.identity = str(Path(identity).expanduser()) if identity else None
        self.known_hosts = Path(known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()
        self.trust_new_host = trust_new_host
        self.password = password
        self.connect_timeout = connect_timeout
        self.keepalive_s = keepalive_s
        self.retries = max(1, retries)
        self.backoff_s = backoff_s
        self.say = progress or (lambda _msg: None)
        self._client = None
        self._sftp = None

    # -- connection -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        t = self._client.get_transport() if self._client else None
        return bool(t and t.is_active())

    def connect(self) -> SshLink:
        """Open the connection, retrying transient failures; LinkError (exit 3) when it cannot."""
        if self.connected:
            return self
        last: BaseException | None = None
        for attempt in range(1, self.retries + 1):
            try:
                self._connect_once()
                return self
            except BaseException as exc:
                self.close()
                if not _is_transient(exc):
                    raise self._explain(exc) from None
                last = exc
                if attempt < self.retries:
                    delay = self.backoff_s * 2 ** (attempt - 1)
                    self.say(f"ssh {self.spec}: {describe(exc)}; retrying in {delay:.1f} s "
                             f"({attempt}/{self.retries})")
                    time.sleep(delay)
        raise LinkError(f"cannot reach {self.spec} over SSH after {self.retries} attempts: {describe(last)}; "
                        "check the host, port and that sshd is running on the board")

    def _connect_once(self) -> None:
        import paramiko

        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            try:
                client.load_host_keys(str(self.known_hosts))
            except (OSError, paramiko.SSHException) as exc:
                raise LinkError(f"cannot read known_hosts {self.known_hosts}: {exc}") from None
        if self.trust_new_host:
            client.set_missing_host_key_policy(trust_policy_class()(self.known_hosts, self.say))
        else:
            client.set_missing_host_key_policy(reject_policy_class()(self.known_hosts))
        self._client = client
        kwargs = dict(hostname=self.spec.host, port=self.spec.port, username=self.spec.user,
                      timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                      auth_timeout=self.connect_timeout, channel_timeout=self.connect_timeout,
                      key_filename=self.identity, look_for_keys=self.identity is None, allow_agent=True,
                      password=self.password)
        try:
            client.connect(**kwargs)
        except paramiko.PasswordRequiredException:
            if not _stdin_is_tty():
                raise
            kwargs["passphrase"] = getpass.getpass(f"passphrase for {self.identity}: ")
            client.connect(**kwargs)
        except paramiko.AuthenticationException:
            if self.password is not None or not _stdin_is_tty():
                raise
            self.password = getpass.getpass(f"{self.spec.user}@{self.spec.host}'s password: ")
            client.connect(**{**kwargs, "password": self.password, "look_for_keys": False})
        transport = client.get_transport()
        transport.set_keepalive(max(1, int(self.keepalive_s)))
        try:  # small request/answer exchanges: do not let Nagle + delayed ACK add ~40 ms to each
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (AttributeError, OSError):
            pass

    def _explain(self, exc: BaseException) -> BaseException:
        import paramiko

        if isinstance(exc, LinkError):
            return exc
        if isinstance(exc, paramiko.BadHostKeyException):
            name = self.spec.known_hosts_name
            return LinkError(
                f"HOST KEY CHANGED for {name}: expected {exc.expected_key.get_name()} "
                f"{fingerprint(exc.expected_key)} from {self.known_hosts}, the board offered "
                f"{exc.key.get_name()} {fingerprint(exc.key)}; REFUSING to connect (possible "
                f"man-in-the-middle). If the board was reinstalled, remove the old entry with "
                f"ssh-keygen -R '{name}' -f {self.known_hosts}")
        if isinstance(exc, paramiko.AuthenticationException):
            how = (f"key {self.identity}" if self.identity else
                   "password" if self.password is not None else "SSH agent / ~/.ssh keys")
            return LinkError(f"SSH authentication failed for {self.spec.user}@{self.spec.host}:{self.spec.port} "
                             f"with {how}; pass the right --identity KEY (its .pub must be in the board's "
                             f"~/.ssh/authorized_keys) or the right user in --host USER@HOST")
        return LinkError(f"SSH connection to {self.spec} failed: {describe(exc)}")

    def close(self) -> None:
        """Close SFTP and the connection (idempotent, never raises)."""
        for obj in (self._sftp, self._client):
            try:
                if obj is not None:
                    obj.close()
            except Exception:  # noqa: BLE001 - closing a dead session may fail in many ways
                pass
        self._sftp = self._client = None

    def __enter__(self) -> SshLink:
        return self.connect()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- files ------------------------------------------------------------------------------------

    @property
    def sftp(self):
        """The (lazily opened) SFTP session; TransientLinkError when the connection is gone."""
        if not self.connected:
            raise TransientLinkError(f"SSH session to {self.spec} is closed")
        if self._sftp is None:
            self._sftp = self._client.open_sftp()
            self._sftp.get_channel().settimeout(self.connect_timeout * 3)
        return self._sftp

    def make_private_dir(self, parent: str = "/tmp", prefix: str = "qnas-edge-") -> str:
        """Create a fresh directory (mode 0700, 128-bit random name) under `parent` on the board."""
        path = f"{parent.rstrip('/') or '/'}/{prefix}{secrets.token_hex(16)}"
        self.sftp.mkdir(path, mode=0o700)
        self.sftp.chmod(path, 0o700)  # the remote umask cannot widen it, but make the mode explicit
        return path

    def put(self, local: str | os.PathLike, remote: str) -> int:
        """Upload one file; returns its size in bytes (verified against the remote size)."""
        attrs = self.sftp.put(os.fspath(local), remote, confirm=True)
        return int(attrs.st_size or 0)

    def put_bytes(self, data: bytes, remote: str, mode: int = 0o600) -> None:
        with self.sftp.open(remote, "wb") as fh:
            fh.write(data)
        self.sftp.chmod(remote, mode)

    def remove_tree(self, path: str) -> None:
        """Remove a directory tree over SFTP (symlinks removed, never followed)."""
        sftp = self.sftp
        for entry in sftp.listdir_attr(path):
            child = f"{path}/{entry.filename}"
            if stat.S_ISDIR(entry.st_mode or 0):
                self.remove_tree(child)
            else:
                sftp.remove(child)
        sftp.rmdir(path)

    # -- commands ---------------------------------------------------------------------------------

    def start(self, argv: list[str]) -> RemoteProcess:
        """Start a long-running remote command (argv quoted) that talks JSON lines over stdin/stdout."""
        if not self.connected:
            raise TransientLinkError(f"SSH session to {self.spec} is closed")
        transport = self._client.get_transport()
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            chan.settimeout(1.0)
            chan.exec_command(quote_argv(argv))
        except Exception as exc:  # noqa: BLE001 - any failure here means the session is unusable
            raise TransientLinkError(f"cannot start a command on {self.spec}: {describe(exc)}") from exc
        return RemoteProcess(chan, transport, str(self.spec))

    def run(self, argv: list[str], timeout: float, stdin_open: bool = False) -> ExecResult:
        """Run `argv` on the board (each argument quoted), wait at most `timeout` seconds.

        With `stdin_open` the remote stdin stays open until the command ends, so a watchdog in the
        remote process can notice a dropped session (EOF) and exit. TransientLinkError when the session
        dies; LinkError when the command outlives `timeout` (the channel is closed).
        """
        if not self.connected:
            raise TransientLinkError(f"SSH session to {self.spec} is closed")
        command = quote_argv(argv)
        transport = self._client.get_transport()
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            chan.settimeout(1.0)
            chan.exec_command(command)
        except Exception as exc:  # noqa: BLE001 - any failure here means the session is unusable
            raise TransientLinkError(f"cannot start a command on {self.spec}: {describe(exc)}") from exc
        if not stdin_open:
            chan.shutdown_write()
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                # stdout may still arrive after the exit status: wait for EOF as well
                if chan.exit_status_ready() and chan.eof_received:
                    break
                if chan.closed or not transport.is_active():
                    break
                if time.monotonic() > deadline:
                    raise LinkError(f"command on {self.spec} did not finish within {timeout:.0f} s "
                                    f"({argv[0]} ...); the board may be overloaded or hung")
                if not (chan.recv_ready() or chan.recv_stderr_ready()):
                    time.sleep(0.002)
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            status = chan.recv_exit_status() if chan.exit_status_ready() else None
        except TimeoutError as exc:
            raise TransientLinkError(f"SSH session to {self.spec} stopped answering") from exc
        finally:
            chan.close()
        if status is None or status == -1:
            raise TransientLinkError(
                f"SSH session to {self.spec} was closed before the command finished"
                + (f" ({bytes(err).decode(errors='replace').strip()[-200:]})" if err else ""))
        return ExecResult(status, bytes(out), bytes(err))
