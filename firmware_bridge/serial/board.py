"""The `Board` of kind "serial": a microcontroller with a DUT firmware on a USB serial port.

    board = SerialBoard(profile, DeviceSpec(kind="serial", port="/dev/ttyACM0"))   # or open_board(...)
    m = board.measure(Path("m.tflite"), arena_bytes=16008, runs=10)

`measure` refuses a model that cannot run on the board before any link work (`device_profiles.fit`;
with `arena_bytes` given no arena search and no parse), then connects if needed (port resolved from the
device: a path, or "auto"/None to detect by USB VID:PID; handshake), uploads the model, loads the input
and times it (`DutSession.profile`). A fault closes the link; the next `measure` reconnects.
"""

from __future__ import annotations

from pathlib import Path

from device_profiles.fit import Fit, fit_model, parse_model
from device_profiles.profile import Profile
from firmware_bridge.board import Board, BoardInfo, Progress
from firmware_bridge.device import DeviceSpec
from firmware_bridge.errors import BoardUsageError, LinkError
from firmware_bridge.measurement import Measurement
from firmware_bridge.serial import protocol as P
from firmware_bridge.serial.link import resolve_port
from firmware_bridge.serial.session import RETRIES, DutSession, default_input

FIRMWARE_FIX = ("flash it into the firmware with your toolchain (firmware_bridge/firmware/README.md), "
                "or run the qnas-edge DUT firmware (firmware_bridge/firmware/), which takes uploads")


class SerialBoard(Board):
    """A board running the DUT firmware (real or the virtual board's pty), reached over a serial port."""

    kind = "serial"

    def __init__(self, profile: Profile, device: DeviceSpec, progress: Progress | None = None, *,
                 baud: int | None = None, retries: int = RETRIES) -> None:
        super().__init__(profile, device, progress)
        self.baud = baud
        self.retries = retries
        self.session: DutSession | None = None
        self.port: str | None = None

    # -- link ----------------------------------------------------------------------------------------
    def _check_profile(self) -> None:
        if self.profile.link.kind != "serial":
            raise BoardUsageError(f"{self.profile.id} is reached over SSH: use --host instead of "
                                  f"--port/--virtual")

    def _resolve_port(self) -> str:
        """The serial device to open (the "virtual" kind starts its board here)."""
        return resolve_port(self.device.port, self.profile)

    def open(self) -> None:
        if self.session is not None:
            return
        self._check_profile()
        port = self._resolve_port()
        session = self.start_session(DutSession(port, self.profile, baud=self.baud, progress=self.say,
                                                retries=self.retries))
        self.session, self.port = session, port
        kind = f"extension v{session.caps.version}" if session.caps else "standard MLPerf Tiny firmware"
        self.say(f"connected to '{session.name}' on {port} ({kind})")

    def close(self) -> None:
        session, self.session = self.session, None
        self.stop_session(session)

    def info(self) -> BoardInfo:
        self.open()
        s = self.session
        caps, p = s.caps, self.profile
        capabilities = []
        if caps:
            capabilities += ["checked-link", "memory-report", "tensor-report"]
            capabilities += ["upload"] if caps.upload else []
            capabilities += ["simulated"] if caps.simulated else []
        return BoardInfo(
            name=s.name, board_id=p.id, kind=self.kind, runtime=p.runtime,
            link=f"{'virtual' if s.simulated else 'serial'}:{self.port}",
            source="simulated" if s.simulated else "measured",
            ram_bytes=caps.ram_bytes if caps and caps.ram_bytes is not None else p.ram_available_bytes,
            flash_bytes=caps.flash_bytes if caps and caps.flash_bytes is not None else p.flash_available_bytes,
            capabilities=tuple(capabilities))

    # -- measuring -----------------------------------------------------------------------------------
    def measure(self, model: Path, *, arena_bytes: int | None = None, runs: int = 10,
                inputs: bytes | None = None, library: Path | None = None) -> Measurement:
        path = self.check_request(model, runs)
        self._check_profile()
        data = path.read_bytes()
        fit = fit_model(data, self.profile, arena_bytes)
        arena = fit.arena_bytes if fit.arena_bytes is not None else "?"
        self.say(f"model {len(data)} B, arena {arena} B: fits {self.profile.id}")
        with self.closing_on_fault():
            self.open()
            return self._measure_on_board(path, data, fit, runs, inputs)

    def _measure_on_board(self, path: Path, data: bytes, fit: Fit, runs: int,
                          inputs: bytes | None) -> Measurement:
        s = self.session
        note = self._put_model(path, data)
        nbytes = s.input_spec.nbytes if s.input_spec else (fit.info or parse_model(data)).inputs[0].nbytes
        if inputs is not None and len(inputs) != nbytes:
            raise BoardUsageError(f"the input is {len(inputs)} B but {path.name} takes {nbytes} B")
        m = s.profile(runs=runs, input_data=inputs if inputs is not None else default_input(nbytes))
        if m.arena_bytes is None:
            m.arena_bytes = fit.arena_bytes
        if m.flash_bytes is None:
            m.flash_bytes = len(data)
        m.extra["arena_bytes_host"] = fit.arena_bytes
        if note:
            m.extra["note"] = note
        return m

    def _put_model(self, path: Path, data: bytes) -> str | None:
        """Upload the model (or find it already flashed); a note when the firmware cannot take uploads."""
        s = self.session
        if s.caps and s.caps.upload:
            rep = s.upload(data)
            self.say(f"uploaded {rep.bytes} B in {rep.seconds:.2f} s ({rep.efficiency:.0%} of the link rate)")
            return None
        crc = f"crc32-{P.crc32(data):08x}"
        if s.model_label == crc:
            return (f"the firmware cannot receive models; {path.name} ({crc}) is the model flashed on the "
                    f"board and was measured there")
        raise LinkError(f"the firmware on {self.port} cannot receive models and runs '{s.model_label}', not "
                        f"{path.name} ({crc}): {FIRMWARE_FIX}")
