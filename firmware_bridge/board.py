"""The Board contract: every kind of board (serial, SSH, virtual, and whatever comes next) is one
subclass of `Board`, registered in `firmware_bridge.boards`.

    with open_board(profile, device) as board:
        board.info()                                       # BoardInfo
        m = board.measure(model, arena_bytes=..., runs=10)  # Measurement

Callers never ask which kind of board they hold. Faults raise `LinkError` (exit 3 when fatal); a
model the board cannot hold raises `ModelRefused` (exit 2) before any link work where possible.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from device_profiles.profile import Profile
from firmware_bridge.device import DeviceSpec
from firmware_bridge.errors import BoardUsageError, LinkError, ModelRefused
from firmware_bridge.measurement import Measurement

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BoardInfo:
    """What a connected board says about itself. Sizes in bytes; None where the board does not report."""

    name: str                          # what the board calls itself (DUT name, hostname, ...)
    board_id: str                      # catalog profile id
    kind: str                          # serial | ssh | virtual
    runtime: str                       # tflm | tflite | tvm (the profile's), plus version when known
    link: str                          # serial:/dev/ttyACM0, ssh:pi@host, virtual:/dev/pts/3
    source: str                        # measured | simulated: the label its figures carry
    ram_bytes: int
    flash_bytes: int
    capabilities: tuple[str, ...] = field(default_factory=tuple)   # e.g. upload, memory-report, tvm

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Board(ABC):
    """One open connection to one board. Subclasses set `kind` and implement the four methods."""

    kind: ClassVar[str] = ""

    def __init__(self, profile: Profile, device: DeviceSpec, progress: Progress | None = None) -> None:
        self.profile = profile
        self.device = device
        self.say: Progress = progress or (lambda _msg: None)

    def __enter__(self) -> Board:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def open(self) -> None:
        """Connect now, so a missing board fails at start (LinkError), not mid-run. Idempotent."""

    @abstractmethod
    def close(self) -> None:
        """Release the link and everything started for it (processes, remote files). Never raises."""

    @abstractmethod
    def info(self) -> BoardInfo:
        """Name, runtime, memory and capabilities of the connected board."""

    @abstractmethod
    def measure(self, model: Path, *, arena_bytes: int | None = None, runs: int = 10,
                inputs: bytes | None = None, library: Path | None = None) -> Measurement:
        """Run `model` (.tflite; `library` = its compiled TVM library where the board runs TVM) `runs`
        times and return the figures. `arena_bytes` is the exact TFLM arena the host already found
        (None: the board side finds it); `inputs` the raw input tensor bytes (None: a fixed
        pseudo-random input). Energy is estimated from the profile's active power unless measured.

        Opens the link if needed, after the checks that need no board (ModelRefused / BoardUsageError).
        A fault raises LinkError and closes the link (see `closing_on_fault`): the next call reconnects."""

    # -- shared by the subclasses ------------------------------------------------------------------
    @contextmanager
    def closing_on_fault(self) -> Iterator[None]:
        """Wrap the link work of `measure`: a fault closes the link so the next `measure` reconnects.

        Bad input (`ModelRefused`, `BoardUsageError`) leaves the link open. An `OSError` escaping the
        link code becomes a `LinkError`, so faults are always of the `LinkError` family."""
        try:
            yield
        except (ModelRefused, BoardUsageError):
            raise
        except LinkError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise LinkError(f"{self.device.label}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    @staticmethod
    def start_session(session: Any) -> Any:
        """`session.open()` and return it; a half-open session is closed again when that fails."""
        try:
            session.open()
        except BaseException:
            session.close()
            raise
        return session

    @staticmethod
    def stop_session(session: Any) -> None:
        """`session.close()` (None: nothing to do); never raises, so a broken link cannot mask the real error."""
        if session is not None:
            try:
                session.close()
            except Exception:  # noqa: BLE001 - closing a broken link may fail in many ways
                pass

    @staticmethod
    def check_request(model: Path, runs: int) -> Path:
        """The model's path; ModelRefused (no such file) or BoardUsageError (runs < 1), before any link work."""
        path = Path(model)
        if not path.is_file():
            raise ModelRefused(f"{path}: no such model file: pass the path of a .tflite file")
        if runs < 1:
            raise BoardUsageError(f"runs must be >= 1, got {runs}")
        return path
