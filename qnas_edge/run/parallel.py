"""The loop of a parallel run (`--workers N`, `--ray-address`, several boards): asynchronous.

Every free build slot gets a candidate (one batch `ask` for all free slots); each build is a Ray task
(`qnas_edge.cluster.build_task`) waited on by a driver thread; a built candidate is measured on
whichever board is idle (the `cluster` Board); every result is committed to the ledger and told to
the strategy the moment it arrives, with no waiting for the slowest of a batch. The ledger on the
driver stays the single source of truth: `resume` re-runs only candidates without a committed result.

A task whose worker or node dies is re-submitted (at most MAX_ATTEMPTS times) and committed once.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from threading import Event
from typing import Any

from qnas_edge.errors import UsageError
from qnas_edge.records import Candidate
from qnas_edge.run import evaluation as ev
from qnas_edge.run.strategy import budgets_or_run_failed

MAX_ATTEMPTS = 3           # submissions of one build before it is recorded as failed
POLL_S = 0.5               # how often the driver looks at task start events while it waits


class ParallelLoop:
    """Drives `run` (a SearchRun with an open ledger, strategy and board) on a started RaySession."""

    def __init__(self, search, session) -> None:
        import ray

        from qnas_edge.cluster.build_task import Tracker, run_build, warm_up

        self.search = search
        self.session = session
        self.ray = ray
        self.tracker = ray.remote(num_cpus=0)(Tracker).remote()
        shape = {"num_cpus": 1, "num_gpus": session.gpus_per_trial or 0}
        self.remote_build = ray.remote(max_retries=0, **shape)(run_build)
        self.remote_warm_up = ray.remote(max_retries=0, **shape)(warm_up)
        self.stop = Event()
        self.in_flight: dict[int, dict[str, Any]] = {}
        self.asks = 0

    def run(self, history: list[Candidate]) -> None:
        boards = self.search.board.count if self.search.board is not None else 0
        pool = ThreadPoolExecutor(max_workers=self.session.slots + boards + 1, thread_name_prefix="cluster")
        builds: dict[Future, tuple[Candidate, float]] = {}
        measures: dict[Future, tuple[Candidate, ev.Built]] = {}
        try:
            self._warm_up()
            evaluated = self._replay(history, pool, measures)
            while True:
                evaluated += self._fill(pool, builds, evaluated)
                if not builds and not measures:
                    return
                done, _ = wait(list(builds) + list(measures), timeout=POLL_S, return_when=FIRST_COMPLETED)
                self._note_starts()
                for fut in done:
                    if fut in builds:
                        self._built(fut, *builds.pop(fut), pool, measures)
                    else:
                        self._measured(fut, *measures.pop(fut))
        finally:
            self.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def _warm_up(self, timeout_s: float = 60.0) -> None:
        """Start one worker per build slot before the first candidate (bounded: a cluster that has no
        free CPU yet simply starts them later)."""
        refs = [self.remote_warm_up.remote() for _ in range(self.session.slots)]
        self.ray.wait(refs, num_returns=len(refs), timeout=timeout_s)

    # ---- proposing ---------------------------------------------------------------------------------
    def _replay(self, history: list[Candidate], pool, measures) -> int:
        """Tell the committed candidates; measure again those whose board was lost."""
        r = self.search
        for row in history:
            if row.status == "unmeasured" and r.board is not None:
                built = r.built_of(row)
                measures[pool.submit(r.timed_measure, built)] = (row, built)
            else:
                r.learn(row)
        return len(history)

    def _fill(self, pool, builds, evaluated: int) -> int:
        """Ask for as many candidates as there are free slots and submit their builds; how many."""
        r, s = self.search, self.search.settings
        free = min(self.session.slots - len(builds), s.trials - evaluated)
        deadline = r.loop_started + s.time_budget_min * 60 if s.time_budget_min else None
        if free <= 0 or (deadline and time.time() >= deadline):
            return 0
        with budgets_or_run_failed(r.profile.id):
            batch = r.engine.ask(free)
        if not batch:
            return 0
        r.display.round(self.asks, evaluated, s.trials)
        for arch in batch:
            n = r.ledger.next_n()
            architecture = r.space.to_architecture(arch)
            r.ledger.propose(n, self.asks, architecture.id, arch,
                             r.space.static_figures(arch, r.calibration.cost_model))
            r.display.stage(n, "train", arch)
            builds[pool.submit(self._build, n, architecture, arch)] = (r.ledger.get(n), time.time())
        self.asks += 1
        return len(batch)

    # ---- one candidate -----------------------------------------------------------------------------
    def _build(self, n: int, architecture, arch: dict) -> ev.Built:
        """In a driver thread: run the build task, re-submitting it when its worker or node dies."""
        from qnas_edge.cluster.build_task import BuildJob, land

        r, s = self.search, self.search.settings
        job = BuildJob(n, architecture, arch, s.data, r.profile, r.calibration.cost_model, s.epochs, s.seed + n)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            t0 = time.time()
            ref = self.remote_build.remote(job, self.tracker, attempt)
            try:
                out = self._wait(ref)
            except self.ray.exceptions.RayTaskError as exc:
                raise (exc.cause or exc) from None            # the build itself failed
            except self.ray.exceptions.RayError as exc:
                if self.stop.is_set():
                    raise
                r.display.note(f"candidate {n}: its worker was lost ({type(exc).__name__}); "
                               f"retrying elsewhere ({attempt + 1}/{MAX_ATTEMPTS})")
                continue
            folder = r.run_dir / "candidates" / str(n)
            shutil.rmtree(folder, ignore_errors=True)
            built = land(out, folder)
            built.timings.update(build=out.seconds, scheduling=max(0.0, time.time() - t0 - out.seconds),
                                 attempts=attempt)
            built.metrics["built_on"] = out.host
            return built
        raise RuntimeError(f"its worker was lost {MAX_ATTEMPTS} times")

    def _wait(self, ref):
        while not self.stop.is_set():
            ready, _ = self.ray.wait([ref], timeout=1.0)
            if ready:
                return self.ray.get(ref)
        self.ray.cancel(ref, force=True)
        raise self.ray.exceptions.TaskCancelledError()

    def _built(self, fut: Future, row: Candidate, submitted: float, pool, measures) -> None:
        r = self.search
        self.in_flight.pop(row.n, None)
        exc = fut.exception()
        if isinstance(exc, (UsageError, KeyboardInterrupt)):
            raise exc
        if exc is not None:
            r.record_failed(row.n, row.arch, exc, time.time() - submitted)
        else:
            built = fut.result()
            r.note_arena(row.arch, built.arena_bytes)
            if r.board is None:
                r.finish(_pending(row, built, None))
                r.recalibrate()
            else:
                r.display.stage(row.n, "measure", row.arch)
                measures[pool.submit(r.timed_measure, built)] = (row, built)
        self._publish()

    def _measured(self, fut: Future, row: Candidate, built: ev.Built) -> None:
        r = self.search
        if not fut.exception():
            built.timings["scheduling"] = built.timings.get("scheduling", 0.0) + _measure_overhead(fut, built)
        r.finish(_pending(row, built, fut))
        r.recalibrate()

    # ---- where candidates run ----------------------------------------------------------------------
    def _note_starts(self) -> None:
        """Show (and record in the ledger's meta `in_flight`) which node trains which candidate."""
        try:
            events = self.ray.get(self.tracker.drain.remote(), timeout=10)
        except self.ray.exceptions.RayError:
            return
        for n, attempt, node_id, host in events:
            self.in_flight[n] = {"node_id": node_id, "host": host, "attempt": attempt, "since": time.time()}
            row = self.search.ledger.get(n)
            if row is not None:
                self.search.display.stage(n, f"train on {host}" + (f" (attempt {attempt})" if attempt > 1 else ""),
                                       row.arch)
        if events:
            self._publish()

    def _publish(self) -> None:
        self.search.ledger.set_meta("in_flight", {str(n): v for n, v in sorted(self.in_flight.items())})


def _pending(row: Candidate, built: ev.Built, fut: Future | None):
    from qnas_edge.run.loop import Pending

    return Pending(row, built, fut)


def _measure_overhead(fut: Future, built: ev.Built) -> float:
    """Seconds of a measurement spent in Ray (shipping the model to the board's node, the actor call):
    the driver's wait minus the time on the board and the time queued for an idle board, which is
    recorded apart as `timings.board_wait`."""
    measurement, seconds = fut.result()
    extra = measurement.extra or {}
    built.timings["board_wait"] = wait = float(extra.get("board_wait_s", 0.0))
    busy = extra.get("host_seconds")
    return max(0.0, seconds - busy - wait) if busy is not None else 0.0

