"""Where an SSH board is and whether to trust it: `[USER@]HOST[:PORT]` parsing and host-key policies.

Host keys are verified against a known_hosts file with paramiko's `RejectPolicy`; an unknown key is
refused with its SHA256 fingerprint and the ``--trust-new-host`` hint. Trust-on-first-use happens only
when asked for, records the key and says so. A *changed* key is always refused (see `SshLink._explain`).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.errors import BoardUsageError, LinkError

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class SshUsageError(BoardUsageError):
    """Bad input to the SSH bridge (malformed --host, missing key or model file): exit code 2."""

    exit_code = 2


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


def reject_policy_class():
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


def trust_policy_class():
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
