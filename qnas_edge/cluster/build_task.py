"""A candidate's build as a Ray task: the self-contained unit of work (architecture, dataset spec,
board profile, cost model, epochs, seed -> the `Built` record and its files).

The task builds into a temporary folder on whatever node runs it and returns the files as bytes, so
the driver owns the run directory even when the node is another machine. The dataset spec must
resolve on every node (the built-in `digits`, or a path that exists there).
"""

from __future__ import annotations

import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device_profiles.cost_model import CostModel
from device_profiles.profile import Profile
from qnas_edge.run import evaluation as ev


@dataclass
class BuildJob:
    """Everything a node needs to build candidate `n` (picklable)."""

    n: int
    architecture: Any
    arch: dict[str, Any]
    data: str
    profile: Profile
    cost_model: CostModel
    epochs: int
    seed: int


@dataclass
class BuildOutput:
    """What comes back: the record (paths relative to the candidate folder) and the folder's files."""

    built: ev.Built
    files: dict[str, bytes] = field(default_factory=dict)
    host: str = ""
    seconds: float = 0.0          # time spent inside the task (s): the rest of the wait is scheduling


class Tracker:
    """A small actor on the driver's cluster that tasks tell when (and where) they start, so the run
    can show and record which node trains which candidate."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, str, str]] = []

    def started(self, n: int, attempt: int, node_id: str, host: str) -> None:
        self.events.append((n, attempt, node_id, host))

    def drain(self) -> list[tuple[int, int, str, str]]:
        events, self.events = self.events, []
        return events


def warm_up() -> str:
    """A no-op task: starting a worker process and importing this module is a one-off cost of the run
    (about a second on a busy 2-core machine), paid before the first candidate rather than by it."""
    return socket.gethostname()


def run_build(job: BuildJob, tracker: Any = None, attempt: int = 1) -> BuildOutput:
    """Runs on a Ray worker: build `job` in a temporary folder and return the record and the files."""
    import ray

    host = socket.gethostname()
    if tracker is not None:
        tracker.started.remote(job.n, attempt, ray.get_runtime_context().get_node_id(), host)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="qnas-edge-build-") as tmp:
        out = Path(tmp) / "candidate"
        built = ev.build(job.architecture, job.arch, job.data, job.profile, job.cost_model, job.epochs,
                         job.seed, out, progress=lambda _stage, _info: None)
        files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        _relocate(built, out, Path("."))
    return BuildOutput(built, files, host, time.time() - t0)


def land(output: BuildOutput, folder: Path) -> ev.Built:
    """On the driver: write the task's files into the run's candidate `folder`; the record points there."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in output.files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    built = output.built
    _relocate(built, Path("."), folder)
    return built


def _relocate(built: ev.Built, old: Path, new: Path) -> None:
    """Re-root the record's paths (its folder, the .tflite, the compiled library, their copies in `metrics`)."""
    def move(p: Path | str | None) -> Path | None:
        return None if p is None else new / Path(p).relative_to(old)

    built.folder = move(built.folder)
    built.tflite = move(built.tflite)
    built.library = move(built.library)
    for key in ("tflite_path", "tvm_lib"):
        if built.metrics.get(key):
            built.metrics[key] = str(move(built.metrics[key]))
