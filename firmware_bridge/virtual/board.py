"""The `Board` of kind "virtual": the simulated serial board, started for this Board and ended with it.

A `SerialBoard` on the pty of a `VirtualBoardProcess` (`python -m firmware_bridge.virtual`); every figure
it gives is labelled `simulated` (the firmware says `sim=1`). `close()` always ends the process; a fault
inside `measure` closes it too, and the next `measure` starts a fresh one.
"""

from __future__ import annotations

from device_profiles.profile import Profile
from firmware_bridge.board import Progress
from firmware_bridge.device import DeviceSpec
from firmware_bridge.serial.board import SerialBoard
from firmware_bridge.serial.session import RETRIES
from firmware_bridge.virtual.process import VirtualBoardProcess


class VirtualBoard(SerialBoard):
    """A simulated serial board in a subprocess; `fault_rate` / `seed` / `baud` for tests and benchmarks."""

    kind = "virtual"

    def __init__(self, profile: Profile, device: DeviceSpec, progress: Progress | None = None, *,
                 baud: int | None = None, retries: int = RETRIES, fault_rate: float = 0.0, seed: int = 0) -> None:
        super().__init__(profile, device, progress, baud=baud, retries=retries)
        self.fault_rate = fault_rate
        self.seed = seed
        self.process: VirtualBoardProcess | None = None

    def _resolve_port(self) -> str:
        if self.process is not None and self.process.proc.poll() is not None:
            self._stop_process()                            # it died: start a fresh one
        if self.process is None:
            self.say(f"starting a virtual {self.profile.id} (simulated)")
            self.process = VirtualBoardProcess(self.profile, fault_rate=self.fault_rate, seed=self.seed,
                                               baud=self.baud)
        return self.process.path

    def open(self) -> None:
        try:
            super().open()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._stop_process()

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.close()
