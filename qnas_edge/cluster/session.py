"""The run's Ray connection: a local Ray started and stopped by the run (`--workers N`), or an existing
cluster (`--ray-address ADDR`). A local Ray offers this machine's boards as `board:<id>` resources.
"""

from __future__ import annotations

import logging
import os

from device_profiles.profile import Profile
from firmware_bridge.farm.node_boards import ENV_VAR, node_offer
from qnas_edge.errors import UsageError

NAMESPACE = "qnas-edge"
RAY_MISSING = ("--workers, --ray-address and several boards run on Ray, which is not installed: "
               "pip install 'qnas-edge[ray]'")


def import_ray():
    """`ray`, or a one-line UsageError (exit 2) naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    return ray


class RaySession:
    """Connect (or start) Ray for one run; `slots` is how many candidates are built at once."""

    def __init__(self, profile: Profile, workers: int, address: str | None, boards: list,
                 gpus_per_trial: float = 0.0) -> None:
        self.profile = profile
        self.workers = workers
        self.address = address
        self.boards = boards
        self.gpus_per_trial = gpus_per_trial
        self.slots = workers
        self._started = False

    def start(self) -> None:
        ray = import_ray()
        common = {"namespace": NAMESPACE, "log_to_driver": False, "logging_level": logging.ERROR,
                  "include_dashboard": False}
        if self.address:
            try:
                ray.init(address=self.address, **common)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(f"cannot join the Ray cluster at '{self.address}' ({_one_line(exc)}); start "
                                 "it with 'ray start --head' or pass its address (HOST:6379 or auto)") from None
            self._started = True
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self.slots = self.workers if self.workers > 1 else max(1, cpus)
            return
        resources, env = node_offer(self.profile.id, self.boards) if self.boards else ({}, {})
        previous = os.environ.get(ENV_VAR)
        os.environ.update(env)          # the local raylet (and so every worker) inherits the board list
        try:
            ray.init(num_cpus=self.workers, resources=resources, **common)
        finally:
            if previous is None:
                os.environ.pop(ENV_VAR, None)
            else:
                os.environ[ENV_VAR] = previous
        self._started = True

    def describe(self) -> str:
        where = f"Ray cluster {self.address}" if self.address else "local Ray"
        return f"{where}: {self.slots} candidates built at once"

    def stop(self) -> None:
        """Disconnect; a local Ray is shut down with every process it started. Never raises."""
        if not self._started:
            return
        self._started = False
        try:
            import ray

            ray.shutdown()
        except Exception:  # noqa: BLE001 - shutting down a broken cluster may fail in many ways
            pass


def _one_line(exc: BaseException) -> str:
    lines = [x for x in str(exc).strip().splitlines() if x.strip()]
    return lines[0][:200] if lines else type(exc).__name__
