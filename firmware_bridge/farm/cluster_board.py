"""The `cluster` kind of board: every board the Ray cluster offers for one profile, behind the one
`Board` contract, so the run (and the final retrain) measure through `measure()` as on one board.

`measure` takes an idle `BoardHost`, runs the model there and gives the host back; several threads
may call it at once (one measurement per board at a time). A host whose node died or whose board
vanished is dropped and the measurement retried on another (bounded): the run goes on with the boards
that are left, and a LinkError says so when none is left. Hosts are created for every `board:<id>`
unit the cluster offers, also for nodes that join while the run goes on (`qnas-edge worker`).
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

from device_profiles.profile import Profile
from firmware_bridge.board import Board, BoardInfo, Progress
from firmware_bridge.device import DeviceSpec
from firmware_bridge.errors import BoardUsageError, LinkError, ModelRefused
from firmware_bridge.farm.node_boards import resource_name
from firmware_bridge.measurement import Measurement

MAX_ATTEMPTS = 3          # boards tried for one measurement before the candidate is marked unmeasured
IDLE_WAIT_S = 2.0         # how often a waiting measurement re-checks for new or lost boards


class ClusterBoards(Board):
    """All boards of `profile.id` in the connected Ray cluster (Ray must be initialised first)."""

    kind = "cluster"

    def __init__(self, profile: Profile, device: DeviceSpec, progress: Progress | None = None) -> None:
        super().__init__(profile, device, progress)
        self._idle: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._hosts: dict[Any, str] = {}     # actor handle -> label
        self._offered = 0                    # board units the cluster offered when we last looked

    # ---- the contract ------------------------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if self._hosts:
                return
        self._top_up()
        if not self._hosts:
            raise LinkError(f"no node of the Ray cluster offers a '{self.profile.id}' board: plug one in and "
                            f"start 'qnas-edge worker --board {self.profile.id} --port DEV --ray-address ADDR' "
                            "there (or use --virtual)")

    def close(self) -> None:
        with self._lock:
            hosts, self._hosts = list(self._hosts), {}
        if not hosts:
            return
        import ray

        for h in hosts:
            try:
                ray.kill(h)
            except Exception:  # noqa: BLE001 - a host on a dead node is already gone
                pass

    def info(self) -> BoardInfo:
        with self._lock:
            labels = sorted(self._hosts.values())
        return BoardInfo(name=f"{self.profile.name} x{len(labels)} (Ray cluster)", board_id=self.profile.id,
                         kind=self.kind, runtime=self.profile.runtime, link=", ".join(labels),
                         source="simulated" if labels and all("/virtual#" in x for x in labels) else "measured",
                         ram_bytes=self.profile.ram_bytes, flash_bytes=self.profile.flash_bytes,
                         capabilities=("parallel",))

    @property
    def count(self) -> int:
        return len(self._hosts)

    def measure(self, model: Path, *, arena_bytes: int | None = None, runs: int = 10,
                inputs: bytes | None = None, library: Path | None = None) -> Measurement:
        """Measure on any idle board; `Measurement.link` names the node and board that ran it."""
        import ray

        payload = (Path(model).read_bytes(), arena_bytes, runs, inputs,
                   Path(library).read_bytes() if library else None, Path(library).name if library else None)
        waited = 0.0
        for _ in range(MAX_ATTEMPTS):
            t0 = time.monotonic()
            host = self._take()
            waited += time.monotonic() - t0
            try:
                m, _label, _busy = ray.get(host.measure.remote(*payload))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause
                if isinstance(cause, (ModelRefused, BoardUsageError)):
                    self._idle.put(host)
                    raise cause from None
                self._drop(host, f"{cause}")        # the board vanished or its link broke
                continue
            except ray.exceptions.RayError as exc:    # the host's worker or node died
                self._drop(host, type(exc).__name__)
                continue
            self._idle.put(host)
            m.extra["board_wait_s"] = waited       # queued for an idle board: a resource wait, not overhead
            return m
        raise LinkError(f"measurement failed on {MAX_ATTEMPTS} boards of the cluster")

    # ---- hosts -------------------------------------------------------------------------------------
    def _take(self):
        while True:
            try:
                return self._idle.get(timeout=IDLE_WAIT_S)
            except queue.Empty:
                self._top_up()
                if not self._hosts:
                    raise LinkError(f"no '{self.profile.id}' board is left in the Ray cluster") from None

    def _drop(self, host, why: str) -> None:
        import ray

        with self._lock:
            label = self._hosts.pop(host, "?")
        self.say(f"board {label} dropped ({why}); {len(self._hosts)} left")
        try:
            ray.kill(host)
        except Exception:  # noqa: BLE001 - already dead
            pass

    def _top_up(self) -> None:
        """Start a host for every board unit the cluster offers beyond what was offered before."""
        import ray

        from firmware_bridge.farm.board_host import BoardHost

        offered = int(ray.cluster_resources().get(resource_name(self.profile.id), 0))
        with self._lock:
            new = offered - self._offered
            self._offered = max(self._offered, offered)
        if new <= 0:
            return
        actor = ray.remote(num_cpus=0, resources={resource_name(self.profile.id): 1}, max_restarts=0)(BoardHost)
        started = [actor.remote(self.profile) for _ in range(new)]
        for h in started:
            try:
                label = ray.get(h.name.remote())
            except ray.exceptions.RayError as exc:
                self.say(f"a '{self.profile.id}' board did not start: {_first_line(exc)}")
                continue
            with self._lock:
                self._hosts[h] = label
            self._idle.put(h)
            self.say(f"board {label} ready")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "cause", None) or exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
