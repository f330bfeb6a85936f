"""The `Board` of kind "ssh": a Linux board (Raspberry Pi, mobile-SoC kit) running the board agent.

    board = SshBoard(profile, DeviceSpec(kind="ssh", host="pi@raspberrypi.local"))   # or open_board(...)
    m = board.measure(Path("m.tflite"), runs=10, library=Path("m_tvm.so"))

`measure` checks the request before any link work (the model file exists, fits the profile's free
storage; the TVM `library` exists), then connects if needed (`AgentSession`: host key, authentication,
private directory, agent) and profiles the model (or its TVM library where the board runs TVM). The
session retries dropped connections itself; a fault that still escapes closes it, and the next
`measure` reconnects. `inputs` (raw bytes of the first input tensor) travel as a .npy file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from device_profiles.fit import check_fits
from device_profiles.profile import Profile
from firmware_bridge.board import Board, BoardInfo, Progress
from firmware_bridge.device import DeviceSpec
from firmware_bridge.errors import BoardUsageError
from firmware_bridge.measurement import Measurement
from firmware_bridge.ssh.session import AgentSession


class SshBoard(Board):
    """A Linux board over SSH; `session_options` go to `AgentSession` (remote_tmp, retries, backoff_s,
    connect_timeout, command_timeout, password)."""

    kind = "ssh"

    def __init__(self, profile: Profile, device: DeviceSpec, progress: Progress | None = None,
                 **session_options: Any) -> None:
        super().__init__(profile, device, progress)
        self.session_options = session_options
        self.session: AgentSession | None = None

    def open(self) -> None:
        if self.session is not None:
            return
        d = self.device
        if not d.host:
            raise BoardUsageError("no SSH host given: pass --host [USER@]HOST[:PORT]")
        self.session = self.start_session(AgentSession(
            d.host, self.profile, identity=d.identity, known_hosts=d.known_hosts, trust_new_host=d.trust_new_host,
            board_python=d.board_python, progress=self.say, **self.session_options))

    def close(self) -> None:
        session, self.session = self.session, None
        self.stop_session(session)

    def info(self) -> BoardInfo:
        self.open()
        hello, p = self.session.agent_info, self.profile
        runtime = hello.get("runtime")
        capabilities = [c for c, ok in (("tflite", runtime), ("tvm", hello.get("tvm"))) if ok]
        return BoardInfo(
            name=hello.get("hostname") or self.session.link.spec.host, board_id=p.id, kind=self.kind,
            runtime=f"{p.runtime} ({runtime})" if runtime else p.runtime, link=f"ssh:{self.session.link.spec}",
            source="measured", ram_bytes=p.ram_available_bytes, flash_bytes=p.flash_available_bytes,
            capabilities=tuple(capabilities))

    def measure(self, model: Path, *, arena_bytes: int | None = None, runs: int = 10,
                inputs: bytes | None = None, library: Path | None = None) -> Measurement:
        path = self.check_request(model, runs)
        check_fits(self.profile, path.stat().st_size)
        if library is not None and not Path(library).is_file():
            raise BoardUsageError(f"TVM library not found: {library}; build it first or omit --tvm-lib")
        with tempfile.TemporaryDirectory(prefix="qnas-edge-input-") as tmp:
            input_path = _input_file(path, inputs, Path(tmp)) if inputs is not None else None
            with self.closing_on_fault():
                self.open()
                return self.session.profile(path, runs=runs, tvm_lib=library, input_path=input_path)


def _input_file(model: Path, inputs: bytes, folder: Path) -> Path:
    """The raw input bytes as a .npy shaped like the model's first input (BoardUsageError if they do not fit)."""
    import numpy as np

    from device_profiles.fit import parse_model

    t = parse_model(model.read_bytes()).inputs[0]
    shape = [max(1, int(d)) for d in t.shape]
    try:
        array = np.frombuffer(inputs, dtype=np.dtype(t.dtype)).reshape(shape)
    except (ValueError, TypeError) as exc:
        raise BoardUsageError(f"the input ({len(inputs)} B) does not fit {model.name}'s input "
                              f"{t.dtype}{shape}: {exc}") from None
    path = folder / "input.npy"
    np.save(path, array)
    return path
