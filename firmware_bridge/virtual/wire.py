"""The virtual board's wire: a pseudo-terminal pair paced like a UART, with optional byte faults.

`PacedWire` is one direction of the link: each byte takes 10 bits / baud seconds, and with a fault
rate P each byte is dropped or has one bit flipped with probability P. `PtyServer` opens the pty pair
(raw mode), feeds what the host writes through the receive wire into the `DutEngine` and what the
engine answers through the transmit wire back to the host; `reset_requested` simulates a board reset.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
import tty

from device_profiles.profile import Profile
from firmware_bridge.virtual.engine import DutEngine
from firmware_bridge.virtual.runner import ModelRunner


class PacedWire:
    """One direction of the simulated UART: paces bytes at 10 bits/baud and injects faults."""

    def __init__(self, baud: int, fault_rate: float, seed: int) -> None:
        self.byte_s = 10.0 / baud
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.free_at = 0.0

    def corrupt(self, data: bytes) -> bytes:
        if self.fault_rate <= 0:
            return data
        out = bytearray()
        for b in data:
            if self.rng.random() < self.fault_rate:
                if self.rng.random() < 0.5:
                    continue                            # dropped
                b ^= 1 << self.rng.randrange(8)          # one bit flipped
            out.append(b)
        return bytes(out)

    def schedule(self, n: int) -> float:
        """Time at which the last of `n` bytes entering now has crossed the wire."""
        self.free_at = max(self.free_at, time.monotonic()) + n * self.byte_s
        return self.free_at


class PtyServer:
    """Serves a DutEngine on a pty pair until stopped (or killed): the simulated UART of the board."""

    def __init__(self, profile: Profile, model: bytes | None = None, fault_rate: float = 0.0, seed: int = 0,
                 baud: int | None = None, standard_only: bool = False) -> None:
        self.profile = profile
        self.baud = int(baud or profile.link.baud or 115200)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)
        self.rx = PacedWire(self.baud, fault_rate, seed)
        self.tx = PacedWire(self.baud, fault_rate, seed + 1)
        self.inbox: queue.Queue[tuple[float, bytes]] = queue.Queue()
        self.outbox: queue.Queue[bytes | None] = queue.Queue()
        self.stop = threading.Event()
        self.reset_requested = threading.Event()
        self.engine = DutEngine(profile, self.outbox.put, seed=seed, standard_only=standard_only,
                                baud=self.baud)
        if model is not None:
            self.engine.model = ModelRunner(model, profile, seed=seed)   # "flashed" model, survives reset

    def _reader(self) -> None:
        while not self.stop.is_set():
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            for i in range(0, len(data), 64):
                piece = self.rx.corrupt(data[i:i + 64])
                due = self.rx.schedule(len(data[i:i + 64]))
                if piece:
                    self.inbox.put((due, piece))

    def _writer(self) -> None:
        while True:
            data = self.outbox.get()
            if data is None:
                return
            for i in range(0, len(data), 64):
                chunk = data[i:i + 64]
                due = self.tx.schedule(len(chunk))
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                piece = self.tx.corrupt(chunk)
                if piece:
                    try:
                        os.write(self.master, piece)
                    except OSError:
                        return

    def serve(self) -> None:
        """Run until `stop` is set; the engine runs on this thread."""
        threading.Thread(target=self._reader, daemon=True).start()
        writer = threading.Thread(target=self._writer, daemon=True)
        writer.start()
        while not self.stop.is_set():
            if self.reset_requested.is_set():
                self.reset_requested.clear()
                while not self.inbox.empty():
                    self.inbox.get_nowait()
                self.engine.reset()
            try:
                due, data = self.inbox.get(timeout=0.01)
            except queue.Empty:
                self.engine.tick()
                continue
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.engine.feed(data)
        self.outbox.put(None)
        writer.join(timeout=1)

    def close(self) -> None:
        self.stop.set()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
