"""SSH link against a real OpenSSH server: host-key policy, authentication, retries, private dirs."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import stat
import time
from pathlib import Path

import pytest

from firmware_bridge.errors import LinkError
from firmware_bridge.ssh.link import SshLink, SshUsageError, TransientLinkError, parse_host, quote_argv


def _openssh_fingerprint(pub: Path) -> str:
    """What `ssh-keygen -lf` prints, computed independently of the code under test."""
    blob = base64.b64decode(pub.read_text().split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def test_parse_host_forms():
    assert parse_host("pi@raspberrypi.local:2222") == parse_host("pi@raspberrypi.local:2222")
    s = parse_host("pi@raspberrypi.local:2222")
    assert (s.user, s.host, s.port) == ("pi", "raspberrypi.local", 2222)
    s = parse_host("10.0.0.5", default_user="pi", default_port=22)
    assert (s.user, s.host, s.port, s.known_hosts_name) == ("pi", "10.0.0.5", 22, "10.0.0.5")
    s = parse_host("root@[::1]:2200")
    assert (s.user, s.host, s.port, s.known_hosts_name) == ("root", "::1", 2200, "[::1]:2200")
    assert parse_host("a@b@host").user == "a@b"
    for bad in ("", "pi@", "host:0", "host:99999", "host:ssh", "::1", "[::1", "pi@host name", "@host"):
        with pytest.raises(SshUsageError) as e:
            parse_host(bad)
        assert e.value.exit_code == 2


def test_quote_argv_neutralises_shell_syntax(tmp_path):
    import subprocess

    marker = tmp_path / "pwned"
    argv = ["printf", "%s\\n", f"a b'c\";$(touch {marker}) `touch {marker}` | & > {marker}"]
    out = subprocess.run(["sh", "-c", quote_argv(argv)], capture_output=True, text=True, check=True).stdout
    assert out == argv[2] + "\n"
    assert not marker.exists()


def _link(sshd, **kw) -> SshLink:
    kw.setdefault("identity", str(sshd.client_key))
    kw.setdefault("known_hosts", str(sshd.known_hosts))
    return SshLink(sshd.host, **kw)


@pytest.mark.timeout(60)
def test_connect_run_and_private_dir(sshd):
    with _link(sshd) as link:
        res = link.run(["id", "-un"], timeout=10)
        assert res.status == 0 and res.stdout.decode().strip() == sshd.user
        d = link.make_private_dir(str(sshd.remote_tmp))
        try:
            st = os.stat(d)
            assert stat.S_IMODE(st.st_mode) == 0o700
            assert Path(d).parent == sshd.remote_tmp and len(Path(d).name) == len("qnas-edge-") + 32
            link.put_bytes(b"hello", f"{d}/x.txt")
            (Path(d) / "sub").mkdir()
            (Path(d) / "sub" / "y").write_text("y")
        finally:
            link.remove_tree(d)
        assert not os.path.exists(d)
        assert link.run(["sh", "-c", "exit 7"], timeout=10).status == 7


@pytest.mark.timeout(60)
def test_unknown_host_key_refused_with_fingerprint_and_hint(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(LinkError) as e:
        _link(sshd, known_hosts=str(empty)).connect()
    msg = str(e.value)
    assert e.value.exit_code == 3
    assert _openssh_fingerprint(Path(f"{sshd.host_key}.pub")) in msg
    assert "--trust-new-host" in msg and f"[127.0.0.1]:{sshd.port}" in msg
    assert empty.read_text() == ""  # nothing recorded without the explicit flag


@pytest.mark.timeout(60)
def test_trust_new_host_records_key_and_says_so(sshd, tmp_path):
    kh = tmp_path / "sub" / "known_hosts"  # parent does not exist yet
    said: list[str] = []
    with _link(sshd, known_hosts=str(kh), trust_new_host=True, progress=said.append) as link:
        assert link.run(["true"], timeout=10).status == 0
    fp = _openssh_fingerprint(Path(f"{sshd.host_key}.pub"))
    assert any("trusting new host key" in s and fp in s and str(kh) in s for s in said)
    line = kh.read_text().strip()
    assert line == sshd.known_hosts_line(sshd.host_key).strip()
    # the recorded key is now trusted without the flag
    with _link(sshd, known_hosts=str(kh)) as link:
        assert link.run(["true"], timeout=10).status == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("trust", [False, True])
def test_changed_host_key_refused_loudly(sshd, tmp_path, trust):
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line(sshd.other_host_key))
    before = kh.read_text()
    with pytest.raises(LinkError) as e:
        _link(sshd, known_hosts=str(kh), trust_new_host=trust).connect()
    msg = str(e.value)
    assert e.value.exit_code == 3
    assert "HOST KEY CHANGED" in msg and "REFUSING" in msg
    assert _openssh_fingerprint(Path(f"{sshd.other_host_key}.pub")) in msg     # the expected one
    assert _openssh_fingerprint(Path(f"{sshd.host_key}.pub")) in msg           # what the server offered
    assert "ssh-keygen -R" in msg
    assert kh.read_text() == before  # --trust-new-host never overwrites a changed key


@pytest.mark.timeout(60)
def test_wrong_key_is_an_authentication_error(sshd):
    t0 = time.monotonic()
    with pytest.raises(LinkError) as e:
        _link(sshd, identity=str(sshd.other_key)).connect()
    assert e.value.exit_code == 3
    assert "authentication failed" in str(e.value) and str(sshd.other_key) in str(e.value)
    assert time.monotonic() - t0 < 20  # not retried like a transient failure


@pytest.mark.timeout(60)
def test_wrong_password_is_an_authentication_error(sshd, tmp_path, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to fall back on
    link = SshLink(sshd.host, known_hosts=str(sshd.known_hosts), password="not-the-password")
    with pytest.raises(LinkError) as e:
        link.connect()
    assert e.value.exit_code == 3 and "authentication failed" in str(e.value) and "password" in str(e.value)


def test_missing_identity_file_is_bad_input(sshd, tmp_path):
    with pytest.raises(SshUsageError) as e:
        SshLink(sshd.host, identity=str(tmp_path / "nope"))
    assert e.value.exit_code == 2 and "nope" in str(e.value)


@pytest.mark.timeout(60)
def test_unreachable_port_retried_with_backoff_then_link_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connection refused
    said: list[str] = []
    link = SshLink(f"root@127.0.0.1:{port}", known_hosts=str(tmp_path / "kh"), retries=3, backoff_s=0.1,
                   progress=said.append)
    t0 = time.monotonic()
    with pytest.raises(LinkError) as e:
        link.connect()
    elapsed = time.monotonic() - t0
    assert "after 3 attempts" in str(e.value) and e.value.exit_code == 3
    assert len([s for s in said if "retrying" in s]) == 2
    assert 0.3 <= elapsed < 10  # 0.1 + 0.2 s of backoff, bounded


@pytest.mark.timeout(60)
def test_run_times_out_and_dropped_session_is_transient(sshd):
    with _link(sshd) as link:
        t0 = time.monotonic()
        with pytest.raises(LinkError) as e:
            link.run(["sleep", "30"], timeout=1.0)
        assert not isinstance(e.value, TransientLinkError) and time.monotonic() - t0 < 5
        proc = link.start(["sh", "-c", "echo ready; sleep 30"])
        assert proc.read_line(timeout=10) == b"ready"
        for pid in sshd.session_pids():
            os.kill(pid, 9)
        with pytest.raises(TransientLinkError):
            proc.read_line(timeout=10)
        assert not link.connected


@pytest.mark.timeout(90)
def test_password_prompted_only_on_a_terminal(sshd, tiny_models, tmp_path):
    """With a rejected key and a real pseudo-terminal, the CLI asks for a password (then fails cleanly)."""
    import pty
    import select
    import sys

    repo = Path(__file__).resolve().parents[1]
    argv = [sys.executable, "-m", "qnas_edge", "profile", str(tiny_models["conv"]), "--board", "linux-host",
            "--host", sshd.host, "--identity", str(sshd.other_key), "--known-hosts", str(sshd.known_hosts)]
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is its controlling terminal
        os.chdir(repo)
        os.environ.pop("SSH_AUTH_SOCK", None)
        os.execv(sys.executable, argv)
    out = b""
    deadline = time.monotonic() + 60
    answered = False
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                if not answered and b"password:" in out:
                    os.write(fd, b"certainly-wrong\n")
                    answered = True
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = out.decode(errors="replace")
    assert answered, text
    assert os.WEXITSTATUS(status) == 3, text
    assert "authentication failed" in text and "password" in text and "certainly-wrong" not in text
