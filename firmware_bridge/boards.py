"""The one place where kinds of boards are registered: DeviceSpec.kind -> Board subclass.

Classes are named as "module:Class" and imported on first use, so opening a serial board never
imports paramiko, and `qnas-edge --help` imports none of them. A new kind of board (a board farm, a
JTAG probe) is one new `Board` subclass and one line here.
"""

from __future__ import annotations

import importlib

from device_profiles.profile import Profile
from firmware_bridge.board import Board, Progress
from firmware_bridge.device import DeviceSpec

BOARD_KINDS: dict[str, str] = {
    "serial": "firmware_bridge.serial.board:SerialBoard",
    "ssh": "firmware_bridge.ssh.board:SshBoard",
    "virtual": "firmware_bridge.virtual.board:VirtualBoard",
    "cluster": "firmware_bridge.farm.cluster_board:ClusterBoards",   # every board a Ray cluster offers
}


def board_class(kind: str) -> type[Board]:
    """The Board subclass registered for `kind`; ValueError naming the known kinds otherwise."""
    try:
        module, name = BOARD_KINDS[kind].split(":")
    except KeyError:
        raise ValueError(f"unknown kind of board '{kind}': use one of {', '.join(BOARD_KINDS)}") from None
    return getattr(importlib.import_module(module), name)


def open_board(profile: Profile, device: DeviceSpec, progress: Progress | None = None) -> Board:
    """A Board for `device` (not yet connected: use it as a context manager or call `open()`)."""
    return board_class(device.kind)(profile, device, progress)
