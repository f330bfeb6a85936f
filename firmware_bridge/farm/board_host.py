"""`BoardHost`: the Ray actor that owns one board on the node it is plugged into.

It is created with one `board:<id>` resource, so Ray places it on a node that offers such a board and
never puts more hosts on a node than it has boards. It keeps the link open between candidates (a
serial board is not re-synchronised for every model) and receives the model as bytes, because the
driver's files are not on the node's disk.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

from device_profiles.profile import Profile
from firmware_bridge.farm.node_boards import SlotClaim, offered_devices
from firmware_bridge.measurement import Measurement


class BoardHost:
    """One board of one node; `measure` runs a model on it (wrapped by `ray.remote` at run time)."""

    def __init__(self, profile: Profile) -> None:
        import ray

        from firmware_bridge.boards import open_board

        node_id = ray.get_runtime_context().get_node_id()
        devices = offered_devices(profile.id)
        if not devices:
            raise RuntimeError(f"this node offers no '{profile.id}' board (no QNAS_EDGE_BOARDS entry)")
        self.claim = SlotClaim(profile.id, node_id, len(devices))
        self.device = devices[self.claim.slot]
        self.label = f"{socket.gethostname()}/{node_id[:8]}/{self.device.label}#{self.claim.slot}"
        self.board = open_board(profile, self.device)
        self.board.open()          # a board that is not there fails now, not at the first candidate
        self.workdir = Path(tempfile.mkdtemp(prefix="qnas-edge-host-"))

    def name(self) -> str:
        return self.label

    def measure(self, model: bytes, arena_bytes: int | None, runs: int, inputs: bytes | None,
                library: bytes | None, library_name: str | None) -> tuple[Measurement, str, float]:
        """(measurement, this board's label, seconds spent on the board) for one model."""
        t0 = time.time()
        path = self.workdir / "model.tflite"
        path.write_bytes(model)
        lib = None
        if library is not None:
            lib = self.workdir / (library_name or "model.so")
            lib.write_bytes(library)
        m = self.board.measure(path, arena_bytes=arena_bytes, runs=runs, inputs=inputs, library=lib)
        m.link = self.label
        m.extra["host_seconds"] = time.time() - t0     # on the node: the driver's wait minus this = overhead
        return m, self.label, m.extra["host_seconds"]

    def close(self) -> None:
        self.board.close()
        self.claim.release()
