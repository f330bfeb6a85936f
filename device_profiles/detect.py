"""Find boards plugged in over USB serial by matching pyserial's port list against profile VID:PIDs.

Several boards can share one USB bridge (e.g. every NUCLEO board enumerates as an ST-LINK), so a port
carries every matching board id; `board_id` is set only when the match is unambiguous.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from device_profiles.profile import Profile


@dataclass(frozen=True)
class DetectedBoard:
    port: str
    vid: int
    pid: int
    serial_number: str | None
    description: str
    board_id: str | None
    candidates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["usb_id"] = f"{self.vid:04x}:{self.pid:04x}"
        return d


def match_ports(ports: Iterable[Any], catalog: dict[str, Profile]) -> list[DetectedBoard]:
    """Match pyserial `ListPortInfo` records against the serial boards of `catalog`."""
    by_usb: dict[tuple[int, int], list[str]] = {}
    for prof in catalog.values():
        if prof.link.kind != "serial":
            continue
        for usb in prof.link.usb_ids:
            by_usb.setdefault(usb, []).append(prof.id)
    found = []
    for port in ports:
        if port.vid is None or port.pid is None:
            continue
        ids = sorted(by_usb.get((port.vid, port.pid), []))
        if not ids:
            continue
        found.append(DetectedBoard(
            port=port.device, vid=port.vid, pid=port.pid, serial_number=port.serial_number,
            description=port.description or "", board_id=ids[0] if len(ids) == 1 else None,
            candidates=ids))
    return found


def detect_boards(catalog: dict[str, Profile] | None = None) -> list[DetectedBoard]:
    """Boards currently plugged in (uses pyserial's `list_ports.comports()`)."""
    from serial.tools import list_ports

    if catalog is None:
        from device_profiles.catalog import load_catalog

        catalog = load_catalog()
    return match_ports(list_ports.comports(), catalog)


def no_board_hint() -> str:
    """What to check when nothing is found (cable, permissions), per platform."""
    if sys.platform.startswith("linux"):
        return ("no supported board found on USB serial: check the cable carries data, then allow access "
                "with 'sudo usermod -aG dialout $USER' (log out and in), or use --virtual / --host")
    return "no supported board found on USB serial: check the cable and drivers, or use --virtual / --host"
