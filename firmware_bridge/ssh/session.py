"""One session with the board agent on a Linux board over SSH: upload the agent + model, run it.

`AgentSession` keeps one connection (and one private remote directory holding the agent) open across
many models; `profile()` returns a Measurement. A session that dies mid-profile is retried (fresh
connection, fresh directory); every remote directory this module created is removed afterwards,
including the ones of failed attempts.

It is the low level: `ssh.board.SshBoard` (the `Board` of kind "ssh") owns one and adds the checks
before any link work and the reconnect-after-fault policy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device_profiles.profile import Profile
from firmware_bridge.errors import LinkError, ModelRefused, TransientLinkError
from firmware_bridge.measurement import Measurement
from firmware_bridge.ssh.hosts import SshUsageError
from firmware_bridge.ssh.link import SshLink
from firmware_bridge.ssh.remote import RemoteProcess
from firmware_bridge.ssh.remote import describe as _describe

AGENT_DIR = Path(__file__).parent / "agent"
AGENT_NAME = "qnas_agent.py"
AGENT_PATH = AGENT_DIR / AGENT_NAME
AGENT_FILES = (AGENT_NAME, "qnas_board_facts.py")     # the agent and its companion, copied together


@dataclass
class _Attempt:
    """Wall-clock split of one profile attempt (seconds)."""

    connect_s: float = 0.0
    upload_s: float = 0.0
    exec_s: float = 0.0
    cleanup_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class AgentSession:
    """An open SSH session to one Linux board with its agent running, ready to profile many models.

    Use as a context manager: the connection and the private remote directory (mode 0700, holding the
    agent) are created once and removed on close. `profile()` uploads one model, runs the agent and
    deletes the model again, so a search pays connection set-up only once.
    """

    def __init__(self, host: str, profile: Profile, identity: str | None = None,
                 known_hosts: str | None = None, trust_new_host: bool = False,
                 board_python: str = "python3", remote_tmp: str = "/tmp", retries: int = 3,
                 backoff_s: float = 0.5, connect_timeout: float = 10.0, command_timeout: float = 300.0,
                 password: str | None = None, progress: Callable[[str], None] | None = None) -> None:
        self.board_profile = profile
        self.board_python = board_python
        self.remote_tmp = remote_tmp
        self.retries = max(1, retries)
        self.backoff_s = backoff_s
        self.command_timeout = command_timeout
        self.say = progress or (lambda _msg: None)
        self.link = SshLink(host, identity=identity, known_hosts=known_hosts, trust_new_host=trust_new_host,
                            password=password, default_user=profile.link.ssh_user,
                            default_port=profile.link.ssh_port or 22, connect_timeout=connect_timeout,
                            retries=retries, backoff_s=backoff_s, progress=progress)
        self.remote_dir: str | None = None
        self.agent: RemoteProcess | None = None
        self.agent_info: dict[str, Any] = {}
        self._stale: list[str] = []
        self._count = 0

    # -- session ----------------------------------------------------------------------------------

    def open(self) -> AgentSession:
        """Connect (with retries), install the agent in a fresh private directory and start it."""
        if not self.link.connected:
            self.say(f"ssh: connecting to {self.link.spec}")
            self.link.connect()
        self._remove_stale()
        try:
            if self.remote_dir is None:
                path = self.link.make_private_dir(self.remote_tmp)
                self.remote_dir = path
                for name in AGENT_FILES:
                    self.link.put(AGENT_DIR / name, f"{path}/{name}")
        except Exception as exc:  # noqa: BLE001 - OSError from SFTP, SSHException/EOFError from a dead session
            if not self.link.connected or not isinstance(exc, OSError):
                raise TransientLinkError(f"SSH session dropped while preparing {self.remote_tmp}") from exc
            raise LinkError(f"cannot create a private directory under {self.remote_tmp} on "
                            f"{self.link.spec.host}: {_describe(exc)}; check that it exists and is writable") from None
        if self.agent is None or not self.agent.alive:
            self._start_agent()
        return self

    def _start_agent(self) -> None:
        """Run the agent in serve mode (imports paid once per session); checks the board's Python."""
        py = self.board_python
        agent = self.link.start([py, f"{self.remote_dir}/{AGENT_NAME}", "--serve"])
        line = agent.read_line(timeout=max(30.0, self.link.connect_timeout * 3))
        if line is None:
            status, err = agent.exit_status, bytes(agent.stderr).decode(errors="replace").strip()
            agent.close()
            if status == 127 or (status == 126 and not err) or "not found" in err.lower():
                raise LinkError(f"board Python {py!r} not found on {self.link.spec.host}; install python3 "
                                "there or pass --board-python PATH")
            tail = err.splitlines()[-1:] or ["no output"]
            raise LinkError(f"the board agent did not start on {self.link.spec.host} with {py!r} "
                            f"(exit {status}): {tail[0][:300]}; Python 3.7+ is required")
        try:
            hello = json.loads(line)
        except ValueError:
            agent.close()
            raise LinkError(f"the board agent started by {py!r} printed {line[:120]!r} instead of its ready "
                            "line; check that --board-python is a Python 3.7+ interpreter") from None
        self.agent, self.agent_info = agent, hello

    def close(self) -> None:
        """Stop the agent, remove every remote directory this session created, disconnect (never raises)."""
        self._forget_session()
        if self._stale and self.link.connected:
            self._remove_stale()
        self.link.close()

    def __enter__(self) -> AgentSession:
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _remove_stale(self) -> None:
        keep = []
        for path in self._stale:
            try:
                self.link.remove_tree(path)
            except FileNotFoundError:
                pass
            except Exception:  # noqa: BLE001 - retried at the next chance, reported on close
                keep.append(path)
        self._stale = keep

    def _drop_session(self) -> None:
        """Forget a broken session: its directory becomes stale (removed after reconnecting)."""
        self._forget_session()
        self.link.close()

    def _forget_session(self) -> None:
        """Stop the agent; this session's remote directory joins the ones still to remove."""
        if self.agent is not None:
            self.agent.close()
            self.agent = None
        if self.remote_dir is not None:
            self._stale.append(self.remote_dir)
            self.remote_dir = None

    # -- profiling --------------------------------------------------------------------------------

    def profile(self, model_path: str | Path, runs: int = 10, warmup: int = 3, tvm_lib: Path | None = None,
                input_path: Path | None = None) -> Measurement:
        """Measure `model_path` (.tflite) on the board: `runs` timed inferences after `warmup` ones.

        When the profile's runtime is TVM and `tvm_lib` is given, the library is profiled if the board has
        the TVM runtime (otherwise the .tflite, with the reason in `extra["note"]`). Transient link failures
        are retried (`retries` attempts with backoff); LinkError (exit 3) afterwards.
        """
        model = Path(model_path)
        if not model.is_file():
            raise SshUsageError(f"model file not found: {model}; pass the path of a .tflite file")
        if runs < 1:
            raise SshUsageError(f"runs must be >= 1, got {runs}")
        note, lib = self._choose_tvm(tvm_lib)
        if input_path is not None and not Path(input_path).is_file():
            raise SshUsageError(f"input file not found: {input_path}; pass a .npy or .npz file")
        t_start = time.perf_counter()
        last: BaseException | None = None
        for attempt in range(1, self.retries + 1):
            try:
                try:
                    doc, timing = self._attempt(model, runs, warmup, lib, input_path)
                    break
                except (LinkError, ModelRefused, SshUsageError):
                    raise
                except Exception as exc:  # noqa: BLE001 - paramiko/SFTP errors: classify by link state
                    if getattr(exc, "exit_code", None) is not None:  # already a one-line user-facing error
                        raise
                    if not self.link.connected:
                        raise TransientLinkError(f"SSH session dropped: {_describe(exc)}") from exc
                    raise LinkError(f"SSH to {self.link.spec} failed: {_describe(exc)}") from exc
            except TransientLinkError as exc:
                last = exc
                self._drop_session()
                if attempt < self.retries:
                    delay = self.backoff_s * 2 ** (attempt - 1)
                    self.say(f"ssh: {_describe(exc)}; retrying in {delay:.1f} s ({attempt}/{self.retries})")
                    time.sleep(delay)
        else:
            self._final_cleanup()
            raise LinkError(f"profiling on {self.link.spec} failed after {self.retries} attempts, the SSH "
                            f"session kept dropping: {_describe(last)}; check the board's network and power "
                            "(no temporary files were left on it)" if not self._stale else
                            f"profiling on {self.link.spec} failed after {self.retries} attempts: "
                            f"{_describe(last)}; could not remove {', '.join(self._stale)} on the board")
        total_s = time.perf_counter() - t_start
        return self._measurement(doc, timing, attempt, total_s, note, model.stat().st_size)

    def _choose_tvm(self, tvm_lib: Path | None) -> tuple[str | None, Path | None]:
        if tvm_lib is not None and not Path(tvm_lib).is_file():
            raise SshUsageError(f"TVM library not found: {tvm_lib}; build it first or omit --tvm-lib")
        if self.board_profile.runtime != "tvm":
            if tvm_lib is not None:
                return (f"board profile {self.board_profile.id} uses runtime {self.board_profile.runtime}; "
                        "ignored the TVM library and profiled the .tflite"), None
            return None, None
        if tvm_lib is None:
            return ("board profile runtime is tvm but no TVM library was given (--tvm-lib); "
                    "profiled the .tflite with the board's TFLite runtime"), None
        return None, Path(tvm_lib)

    def _attempt(self, model: Path, runs: int, warmup: int, lib: Path | None,
                 input_path: Path | None) -> tuple[dict[str, Any], _Attempt]:
        timing = _Attempt()
        t0 = time.perf_counter()
        self.open()
        t1 = time.perf_counter()
        timing.connect_s = t1 - t0
        uploaded: list[str] = []
        req: dict[str, Any] = {"runs": runs, "warmup": warmup, "threads": self.board_profile.threads, "seed": 0}
        try:
            self._upload(req, uploaded, model, lib, input_path)
            t2 = time.perf_counter()
            timing.upload_s = t2 - t1
            self.say(f"ssh: running {warmup} warm-up + {runs} timed inferences on the board")
            self.agent.send(json.dumps(req).encode())
            try:
                line = self.agent.read_line(timeout=self.command_timeout)
            except TransientLinkError:
                raise
            except LinkError:
                self.agent.close()  # stdin EOF makes the agent exit; a fresh one starts next time
                self.agent = None
                raise
            timing.exec_s = time.perf_counter() - t2
            if line is None:
                raise TransientLinkError(f"the board agent exited unexpectedly (exit {self.agent.exit_status}): "
                                         f"{bytes(self.agent.stderr).decode(errors='replace').strip()[-200:]}")
        finally:
            t3 = time.perf_counter()
            self._remove_files(uploaded)
            timing.cleanup_s = time.perf_counter() - t3
        return self._parse(line), timing

    def _upload(self, req: dict[str, Any], uploaded: list[str], model: Path, lib: Path | None,
                input_path: Path | None) -> None:
        """Put the model (+ TVM library, input) in the private directory; remote paths go into `req`
        and, as soon as each upload starts, into `uploaded` (so they are removed whatever happens)."""
        self._count += 1
        n, d = self._count, self.remote_dir
        try:
            req["model"] = f"{d}/model-{n}.tflite"
            self.say(f"ssh: uploading {model.name} ({model.stat().st_size:,} B)")
            uploaded.append(req["model"])
            self.link.put(model, req["model"])
            if lib is not None:
                from device_profiles.tflite_model import parse_tflite

                info = parse_tflite(model)
                req["inputs"] = [{"shape": [max(1, int(s)) for s in t.shape], "dtype": t.dtype}
                                 for t in info.inputs]
                req["tvm_lib"] = f"{d}/lib-{n}{''.join(lib.suffixes) or '.so'}"
                uploaded.append(req["tvm_lib"])
                self.link.put(lib, req["tvm_lib"])
            if input_path is not None:
                req["input"] = f"{d}/input-{n}{Path(input_path).suffix}"
                uploaded.append(req["input"])
                self.link.put(input_path, req["input"])
        except Exception as exc:  # noqa: BLE001 - OSError from SFTP, SSHException/EOFError from a dead session
            if not self.link.connected or not isinstance(exc, OSError):
                raise TransientLinkError(f"SSH session dropped during upload: {_describe(exc)}") from exc
            raise LinkError(f"upload to {self.link.spec.host}:{d} failed: {_describe(exc)}") from None

    def _remove_files(self, paths: list[str]) -> None:
        if self.link.connected:
            for path in paths:
                try:
                    self.link.sftp.remove(path)
                except FileNotFoundError:
                    pass
                except Exception:  # noqa: BLE001 - the session died: the whole dir goes stale
                    break

    def _parse(self, line: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(line)
        except ValueError:
            raise LinkError(f"the board agent answered {line[:120]!r}, not JSON; is --board-python the "
                            "board's Python 3.7+?") from None
        if doc.get("ok"):
            return doc
        py = self.board_python
        if doc.get("missing"):
            alt = f" (or {doc['alternative']})" if doc.get("alternative") else ""
            raise LinkError(f"the board's Python {py!r} has no {doc['missing']}: install it on the board with "
                            f"`{doc.get('pip')}`{alt} ({str(doc.get('error', ''))[:200]})")
        if doc.get("code") == 2:
            raise ModelRefused(f"the board cannot run the model: {doc.get('error')}")
        raise LinkError(f"the board agent failed on {self.link.spec.host}: {doc.get('error')}")

    def _final_cleanup(self) -> None:
        """After the last failed attempt: reconnect once, briefly, only to remove stale directories."""
        if not self._stale:
            self.link.close()
            return
        retries, self.link.retries = self.link.retries, 1
        try:
            self.link.connect()
            self._remove_stale()
        except Exception:  # noqa: BLE001 - reported in the caller's error message
            pass
        finally:
            self.link.retries = retries
            self.link.close()

    def _measurement(self, doc: dict[str, Any], timing: _Attempt, attempts: int, total_s: float,
                     note: str | None, model_bytes: int) -> Measurement:
        rt = doc.get("runtime") or {}
        inference_s = float(doc.get("warmup_s", 0.0)) + float(doc.get("timed_s", 0.0))
        notes = [n for n in (note, doc.get("note")) if n]
        extra: dict[str, Any] = {
            "agent_kind": doc.get("kind"),
            "threads": doc.get("threads"),
            "cpu_model": doc.get("cpu_model"),
            "board_model": doc.get("board_model"),
            "machine": doc.get("machine"),
            "cpu_count": doc.get("cpu_count"),
            "hostname": doc.get("hostname"),
            "python": doc.get("python"),
            "numpy": doc.get("numpy"),
            "temperature_c": doc.get("temperature_c"),
            "throttled": doc.get("throttled"),
            "output_shape": doc.get("output_shape"),
            "output_dtype": doc.get("output_dtype"),
            "output_scale": doc.get("output_scale"),
            "output_zero_point": doc.get("output_zero_point"),
            "warmup": doc.get("warmup"),
            "attempts": attempts,
            "timing_s": {
                "total": total_s, "connect": timing.connect_s, "upload": timing.upload_s,
                "exec": timing.exec_s, "cleanup": timing.cleanup_s, "agent": doc.get("agent_s"),
                "model_load": doc.get("load_s"), "inference": inference_s,
                "overhead": max(0.0, total_s - inference_s),
            },
        }
        if notes:
            extra["note"] = "; ".join(notes)
        m = Measurement.from_latencies(
            [float(x) for x in doc["samples_ms"]], board_id=self.board_profile.id, source="measured",
            runs=int(doc.get("runs", len(doc["samples_ms"]))), runtime=f"{rt.get('name', '?')} {rt.get('version', '?')}",
            flash_bytes=model_bytes, peak_rss_bytes=doc.get("peak_rss_bytes"), output=doc.get("output"),
            link=f"ssh:{self.link.spec}", extra=extra)
        return m.with_estimated_energy(self.board_profile.power.active_mw)
