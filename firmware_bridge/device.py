"""Where a board is: the `DeviceSpec` record that names one board link (serial port, SSH host, virtual).

It crosses from the CLI into the run (and its ledger, for resume) and into `open_board`, so it is
plain data: no open handles, JSON-serialisable with `to_dict` / `from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

NO_DEVICE = "none"


@dataclass(frozen=True)
class DeviceSpec:
    """kind: a key of `firmware_bridge.boards.BOARD_KINDS` (serial | ssh | virtual) or "none" (no board)."""

    kind: str = "virtual"
    port: str | None = None            # serial: /dev/ttyACM0, or "auto" / None to detect
    host: str | None = None            # ssh: [USER@]HOST[:PORT]
    identity: str | None = None        # ssh: private key file
    known_hosts: str | None = None     # ssh: known_hosts file (default the user's)
    trust_new_host: bool = False       # ssh: explicit trust-on-first-use
    board_python: str = "python3"      # ssh: interpreter on the board

    @property
    def measures(self) -> bool:
        """False for --no-device: figures stay static estimates."""
        return self.kind != NO_DEVICE

    @property
    def label(self) -> str:
        if self.kind == "serial":
            return f"serial:{self.port or 'auto'}"
        if self.kind == "ssh":
            return f"ssh:{self.host or '?'}"
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceSpec:
        return cls(**d)
