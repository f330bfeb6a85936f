"""SSH link to a Linux board (paramiko): host-key checking, authentication, retries, SFTP, safe exec.

Safety rules this module enforces, because users point it at machines on their network:

* Host keys are verified against a known_hosts file (default ``~/.ssh/known_hosts``) with paramiko's
  `RejectPolicy`; an unknown key is refused with its SHA256 fingerprint and the ``--trust-new-host``
  hint. Trust-on-first-use happens only when asked for, records the key and says so. A *changed* key is
  always refused.
* Remote commands are argv lists; every argument is `shlex.quote`-d before it reaches the remote shell,
  so no path or user text is ever interpreted by it.
* Files go into a private directory (mode 0700, random name) created over SFTP and removed afterwards.
* Every network step has a timeout; transient failures (refused/reset connections, dropped sessions)
  are retried a bounded number of times with exponential backoff.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import secrets
import shlex
import socket
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.errors import LinkError

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class SshUsageError(ValueError):
    """Bad input to the SSH bridge (malformed --host, missing key or model file): exit code 2."""

    exit_code = 2


class TransientLinkError(LinkError):
    """The session dropped or the board could not be reached; worth retrying."""


@dataclass(frozen=True)
class HostSpec:
    """Where to connect: ``[USER@]HOST[:PORT]`` with defaults filled in."""

    user: str
    host: str
    port: int

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH uses for this host in known_hosts (``[host]:port`` off port 22)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def parse_host(spec: str, default_user: str | None = None, default_port: int = 22) -> HostSpec:
    """Parse ``[USER@]HOST[:PORT]`` (IPv6 as ``[::1]:2222``); SshUsageError (exit 2) when malformed."""
    text = (spec or "").strip()
    if not text or any(c.isspace() for c in text):
        raise SshUsageError(f"--host {spec!r}: expected [USER@]HOST[:PORT], e.g. pi@raspberrypi.local:22")
    user = default_user or getpass.getuser()
    if "@" in text:
        user, _, text = text.rpartition("@")
        if not user:
            raise SshUsageError(f"--host {spec!r}: empty user name before '@'")
    port_text = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise SshUsageError(f"--host {spec!r}: unbalanced brackets; write IPv6 hosts as [::1]:22")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1:
        raise SshUsageError(f"--host {spec!r}: write IPv6 addresses in brackets, e.g. [::1]:22")
    else:
        host = text
    if not host:
        raise SshUsageError(f"--host {spec!r}: missing host name")
    port = default_port
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SshUsageError(f"--host {spec!r}: port must be a number 1-65535, got {port_text!r}")
        port = int(port_text)
    return HostSpec(user=user, host=host, port=port)


def fingerprint(key) -> str:
    """OpenSSH-style SHA256 fingerprint of a paramiko public key (``SHA256:base64``)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def quote_argv(argv: list[str]) -> str:
    """One remote command line from an argv list, every argument shell-quoted."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def _reject_policy_class():
    import paramiko

    class RejectUnknownHost(paramiko.RejectPolicy):
        """paramiko's RejectPolicy, re-raised as a LinkError carrying the fingerprint and the fix."""

        def __init__(self, known_hosts: Path) -> None:
            self.known_hosts = known_hosts

        def missing_host_key(self, client, hostname, key):
            try:
                super().missing_host_key(client, hostname, key)
            except paramiko.SSHException:
                raise LinkError(
                    f"unknown SSH host key for {hostname}: {key.get_name()} {fingerprint(key)} is not in "
                    f"{self.known_hosts}; verify the fingerprint on the board (ssh-keygen -lf "
                    f"/etc/ssh/ssh_host_*_key.pub) and rerun with --trust-new-host to record it") from None

    return RejectUnknownHost


def _trust_policy_class():
    import paramiko

    class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
        """Explicit trust-on-first-use: accept an unknown key, append it to known_hosts, say so."""

        def __init__(self, known_hosts: Path, say: Callable[[str], None]) -> None:
            self.known_hosts, self.say = known_hosts, say

        def missing_host_key(self, client, hostname, key):
            client.get_host_keys().add(hostname, key.get_name(), key)
            self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(self.known_hosts, "a", encoding="ascii") as fh:
                fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
            self.say(f"trusting new host key for {hostname}: {key.get_name()} {fingerprint(key)} "
                     f"(recorded in {self.known_hosts})")

    return TrustOnFirstUse


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


@dataclass
class ExecResult:
    """Exit status (None when the session died before reporting one), stdout and stderr bytes."""

    status: int | None
    stdout: bytes
    stderr: bytes


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
                    self.say(f"ssh {self.spec}: {_describe(exc)}; retrying in {delay:.1f} s "
                             f"({attempt}/{self.retries})")
                    time.sleep(delay)
        raise LinkError(f"cannot reach {self.spec} over SSH after {self.retries} attempts: {_describe(last)}; "
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
            client.set_missing_host_key_policy(_trust_policy_class()(self.known_hosts, self.say))
        else:
            client.set_missing_host_key_policy(_reject_policy_class()(self.known_hosts))
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
        return LinkError(f"SSH connection to {self.spec} failed: {_describe(exc)}")

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
            raise TransientLinkError(f"cannot start a command on {self.spec}: {_describe(exc)}") from exc
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
            raise TransientLinkError(f"cannot start a command on {self.spec}: {_describe(exc)}") from exc
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
            raise TransientLinkError(f"SSH session to {self.where} dropped: {_describe(exc)}") from exc
        except Exception as exc:  # noqa: BLE001 - paramiko.SSHException when the channel is gone
            raise TransientLinkError(f"SSH session to {self.where} dropped: {_describe(exc)}") from exc

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


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
