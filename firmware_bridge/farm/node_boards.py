"""Which boards a Ray node offers: the resource it advertises and the links behind it.

A node that has boards plugged in advertises `board:<id>` = how many (Ray then never schedules more
`BoardHost` actors there than it has boards), and carries the links themselves in the environment
variable `QNAS_EDGE_BOARDS` (JSON: board id -> list of DeviceSpec dicts), which Ray's raylet hands to
every worker process it starts. A `BoardHost` placed on the node claims one entry with a lock file,
so two hosts on one node never share a board.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import IO

from firmware_bridge.device import DeviceSpec

ENV_VAR = "QNAS_EDGE_BOARDS"


def resource_name(board_id: str) -> str:
    """The Ray custom resource a node with `board_id` boards offers (one unit per board)."""
    return f"board:{board_id}"


def node_offer(board_id: str, devices: list[DeviceSpec]) -> tuple[dict[str, float], dict[str, str]]:
    """(resources, environment) for a Ray node that has `devices` (all of board `board_id`)."""
    env = {ENV_VAR: json.dumps({board_id: [d.to_dict() for d in devices]})}
    return {resource_name(board_id): float(len(devices))}, env


def offered_devices(board_id: str) -> list[DeviceSpec]:
    """The links of `board_id` this node offers (read in a worker process on the node)."""
    raw = os.environ.get(ENV_VAR)
    if not raw:
        return []
    return [DeviceSpec.from_dict(d) for d in json.loads(raw).get(board_id, [])]


class SlotClaim:
    """An exclusive claim on one of this node's boards, held for the life of the claiming process."""

    def __init__(self, board_id: str, node_key: str, count: int) -> None:
        self._file: IO | None = None
        folder = Path(tempfile.gettempdir()) / "qnas-edge-boards"
        folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{node_key}-{board_id}")
        for slot in range(count):
            f = open(folder / f"{safe}-{slot}.lock", "a+")   # noqa: SIM115 - held open for the claim
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            self._file, self.slot = f, slot
            return
        raise RuntimeError(f"all {count} '{board_id}' boards of this node are claimed")

    def release(self) -> None:
        if self._file is not None:
            self._file.close()      # closing drops the flock; the OS also drops it when the process dies
            self._file = None
