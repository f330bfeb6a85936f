"""One open connection to the board for a whole search: virtual, USB serial, SSH, or none.

The search keeps the link open across candidates (connection set-up is paid once) and reopens it
after a fault; a board that stays unreachable makes candidates `unmeasured`, it does not stop the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from device_profiles.profile import Profile
from firmware_bridge.measurement import Measurement


@dataclass(frozen=True)
class DeviceSpec:
    """Where candidates are measured. kind: virtual | serial | ssh | none."""

    kind: str = "virtual"
    port: str | None = None
    host: str | None = None
    identity: str | None = None
    known_hosts: str | None = None
    trust_new_host: bool = False
    board_python: str = "python3"

    @property
    def label(self) -> str:
        if self.kind == "serial":
            return f"serial:{self.port or 'auto'}"
        if self.kind == "ssh":
            return f"ssh:{self.host}"
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceSpec:
        return cls(**d)


class BoardSession:
    """Measures models on the board named by a DeviceSpec; `measure` raises LinkError on a fault."""

    def __init__(self, profile: Profile, device: DeviceSpec, runs: int = 10,
                 progress: Callable[[str], None] | None = None) -> None:
        self.profile = profile
        self.device = device
        self.runs = runs
        self.progress = progress
        self._board: Any = None
        self._virtual: Any = None

    @property
    def measures(self) -> bool:
        return self.device.kind != "none"

    def open(self) -> BoardSession:
        """Connect now (so a missing board fails at start with exit 3, not mid-run)."""
        if self.device.kind == "none" or self._board is not None:
            return self
        if self.device.kind == "ssh":
            from firmware_bridge.ssh_profile import SshBoard

            board = SshBoard(self.device.host or "", self.profile, identity=self.device.identity,
                             known_hosts=self.device.known_hosts, trust_new_host=self.device.trust_new_host,
                             board_python=self.device.board_python, progress=self.progress)
            board.__enter__()
        else:
            from firmware_bridge.serial_link import resolve_port
            from firmware_bridge.serial_profile import SerialBoard, VirtualBoardProcess

            if self.device.kind == "virtual":
                self._virtual = VirtualBoardProcess(self.profile)
                port = self._virtual.path
            else:
                port = resolve_port(self.device.port, self.profile)
            board = SerialBoard(port, self.profile, progress=self.progress)
            try:
                board.__enter__()
            except BaseException:
                self._stop_virtual()
                raise
        self._board = board
        return self

    def measure(self, model_path: Path, tvm_lib: Path | None = None) -> Measurement:
        """Upload (serial) or copy (SSH) the model, time it on the board; LinkError on a fault,
        ModelRefused when the board cannot hold it."""
        self.open()
        try:
            if self.device.kind == "ssh":
                m = self._board.profile(model_path, runs=self.runs, tvm_lib=tvm_lib)
            else:
                m = self._measure_serial(Path(model_path))
        except Exception as exc:
            from firmware_bridge.errors import ModelRefused

            if not isinstance(exc, ModelRefused):
                self.close()  # reopen on the next candidate
            raise
        if m.energy_mj is None:
            m.with_estimated_energy(self.profile.power.active_mw)
        return m

    def _measure_serial(self, path: Path) -> Measurement:
        from firmware_bridge.errors import LinkError
        from firmware_bridge.serial_profile import default_input, preflight

        model = path.read_bytes()
        info, arena = preflight(model, self.profile)
        board = self._board
        if not (board.caps and board.caps.upload):
            raise LinkError(f"the firmware on {board.port} cannot receive models; a search needs the "
                            "qnas-edge DUT firmware (firmware_bridge/firmware/) or --virtual")
        board.upload(model)
        nbytes = board.input_spec.nbytes if board.input_spec else info.inputs[0].nbytes
        m = board.profile(runs=self.runs, input_data=default_input(nbytes))
        if m.arena_bytes is None:
            m.arena_bytes = arena
        return m

    def _stop_virtual(self) -> None:
        vb, self._virtual = getattr(self, "_virtual", None), None
        if vb is not None:
            vb.close()

    def close(self) -> None:
        board, self._board = self._board, None
        if board is not None:
            try:
                board.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - closing a broken link must not mask the real error
                pass
        self._stop_virtual()
