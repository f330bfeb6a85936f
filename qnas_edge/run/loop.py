"""The closed loop of `qnas-edge search` / `resume` (see docs/architecture.md, "The run").

Round after round: the strategy proposes architectures that meet every budget under the current cost
tables; each is built (train, int8, TFLM/TVM), measured on the board while the next one trains,
committed to the ledger, and told back to the strategy; the board's cost coefficients are then refit
from every (predicted, measured) pair and the QUBO cost tables rebuilt from the refit model.

Resume replays the ledger round by round (same asks, same tells, same recalibrations), so a resumed
run continues exactly where an uninterrupted run with the same seed would be, and never evaluates a
completed candidate again.

With `--fidelity auto` every candidate is first screened: trained for the ladder's lowest epoch count
(the run's stored `SearchSettings.ladder`) and scored on float accuracy, without an int8 model;
asynchronous successive halving (search.fidelity) promotes the best third of each rung to the next,
longer training (a retrain from scratch, same seed, converted to int8). A candidate is measured on the
board once, when it first reaches rung 1 (latency and memory do not depend on training), so the board
is spent on architectures that survived screening; the others keep labelled static estimates. The
promotions of a round are recomputed from the recorded scores on resume, so a run killed mid-rung
retrains only the promotion that was cut off.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_profiles.profile import Profile
from firmware_bridge.board import Board
from firmware_bridge.errors import LinkError, ModelRefused
from qnas_edge.errors import RunFailed, UsageError
from qnas_edge.records import Candidate
from qnas_edge.run import evaluation as ev
from qnas_edge.run.calibration import Calibration
from qnas_edge.run.ledger import Ledger
from qnas_edge.run.native_output import native_output_to
from qnas_edge.run.outcome import SearchOutcome, choose_best, no_fit_message, write_best
from qnas_edge.run.progress import LoopDisplay
from qnas_edge.run.search_space import MobileNetSpace
from qnas_edge.run.settings import SearchSettings
from qnas_edge.run.strategy import budgets_or_run_failed, make_strategy
from search.fidelity import SuccessiveHalving

LOG_NAME = "run.log"   # TensorFlow / converter / runtime output of the run's stages


@dataclass
class Pending:
    """A candidate of the current round: built (or failed), its measurement running or done."""

    row: Candidate
    built: ev.Built | None            # None: the build failed (already recorded)
    future: Future | None = None
    rung: int = 0                     # fidelity rung of this build (0 unless --fidelity auto promoted it)


class SearchRun:
    """One run directory: create with `start`, continue with `resume`, then `run()`."""

    def __init__(self, run_dir: Path, profile: Profile, settings: SearchSettings, display: LoopDisplay) -> None:
        self.run_dir = Path(run_dir)
        self.profile = profile
        self.settings = settings
        self.display = display
        self.ledger: Ledger | None = None       # opened once set-up succeeded (nothing half-written)
        self._new_meta: dict[str, Any] | None = None
        self.calibration = Calibration(profile)
        self.limits = {k: float(v) for k, v in settings.budgets.items()}
        self.space: MobileNetSpace | None = None
        self.engine = None
        self.board: Board | None = None
        self.cluster = None                      # the Ray session of a parallel run (qnas_edge.cluster)
        if settings.device.measures:
            from firmware_bridge.boards import open_board
            from firmware_bridge.device import DeviceSpec

            # a parallel run measures on every board the Ray cluster offers, through the same contract
            device = DeviceSpec("cluster") if settings.parallel else settings.device
            self.board = open_board(profile, device, progress=display.note)
        self.board_busy_s = 0.0
        self.loop_started = 0.0
        # --fidelity auto: the successive-halving ladder over proxy epochs (None = every candidate full)
        self.ladder = settings.fidelity_ladder()
        self.measure_rung = 0 if self.ladder is None else min(1, len(self.ladder.epochs) - 1)

    # ---- set-up ------------------------------------------------------------------------------------
    @classmethod
    def start(cls, run_dir: Path, profile: Profile, settings: SearchSettings, display: LoopDisplay) -> SearchRun:
        run_dir = Path(run_dir)
        if (run_dir / "ledger.sqlite").exists():
            raise UsageError(f"{run_dir} already holds a run; continue it with 'qnas-edge resume {run_dir}' "
                             "or choose another --out")
        if settings.fidelity == "auto" and settings.ladder is None:
            settings.ladder = SuccessiveHalving.top_down(settings.epochs).epochs   # stored with the settings
        run = cls(run_dir, profile, settings, display)
        run._new_meta = {"board_id": profile.id, "board": profile.to_dict(), "profile_source": profile.source,
                         "settings": settings.to_dict(), "status": "running", "started": time.time(),
                         "best_n": None}
        return run

    @classmethod
    def resume(cls, run_dir: Path, display: LoopDisplay, profile: Profile | None = None,
               extend: int = 0, trials: int | None = None, scale: dict[str, Any] | None = None) -> SearchRun:
        """Continue the run in `run_dir`; `extend` / `trials` ask a finished run for more candidates;
        `scale` (workers, ray_address, gpus_per_trial) overrides how a parallel run is spread out."""
        run_dir = Path(run_dir)
        if not (run_dir / "ledger.sqlite").is_file():
            raise UsageError(f"{run_dir} is not a run directory (no ledger.sqlite); pass the folder "
                             "'qnas-edge search' created")
        with Ledger(run_dir / "ledger.sqlite") as led:
            meta = led.meta()
        settings = SearchSettings.from_dict(meta["settings"])
        for key, value in (scale or {}).items():
            setattr(settings, key, value)
        new_trials = max(settings.trials + max(0, extend), trials or 0)
        if new_trials != settings.trials:
            settings.trials = new_trials
            with Ledger(run_dir / "ledger.sqlite") as led:
                led.set_meta("settings", settings.to_dict())
                led.set_meta("status", "extended")
        if profile is None:
            from device_profiles.catalog import get_profile

            src = meta.get("profile_source") or ""
            extra = [src] if src and Path(src).is_file() and "device_profiles" not in src else []
            profile = get_profile(meta["board_id"], extra)
        return cls(run_dir, profile.with_budgets(), settings, display)

    @property
    def finished(self) -> bool:
        """True when the run already ended (finished, or failed with nothing left to retry) and no more
        candidates were asked for. A failed run holding a candidate whose board was lost is not: resume
        measures it again (with --fidelity auto it may be the only promoted candidate)."""
        with Ledger(self.run_dir / "ledger.sqlite") as led:
            status = led.get_meta("status")
            if status == "failed" and self.board is not None:
                return not any(c.status == "unmeasured" for c in led.candidates())
            return status in ("finished", "failed")

    def finished_outcome(self) -> SearchOutcome:
        """The outcome of a run that already ended, read from its ledger (nothing is rerun)."""
        with Ledger(self.run_dir / "ledger.sqlite") as led:
            rows, meta = led.candidates(), led.meta()
        best = next((c for c in rows if c.n == meta.get("best_n")), None)
        report = self.run_dir / "report.html"
        return SearchOutcome(self.run_dir, meta.get("status", "finished"), best, rows,
                             report if report.is_file() else None, board=self.profile)

    def _open_ledger(self) -> None:
        if self.ledger is not None:
            return
        if self._new_meta is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.run_dir / "ledger.sqlite")
        for key, value in (self._new_meta or {}).items():
            self.ledger.set_meta(key, value)
        self._new_meta = None

    def _prepare(self) -> None:
        """Dataset check (exit 2 before any training), space, strategy, board connection (exit 3)."""
        from qnas_edge.pipeline.datasets import load_dataset

        s = self.settings
        s.check_combination()      # again on resume: --workers may be given then
        probe = load_dataset(s.data, resolution=8, seed=s.seed)
        self.space = MobileNetSpace(self.profile, probe.input_shape[2], probe.num_classes)
        costs, base = self._tables()
        with budgets_or_run_failed(self.profile.id):
            self.engine = make_strategy(s.strategy, self.space.space, costs, base,
                                        self.space.search_budgets(self.limits), s.seed, s.sampler,
                                        s.sampler_options)
        if s.parallel:
            from qnas_edge.cluster.session import RaySession

            self.cluster = RaySession(self.profile, s.workers, s.ray_address, s.local_boards(), s.gpus_per_trial)
            self.cluster.start()
            self.display.note(self.cluster.describe())
        if self.board is not None:
            self.display.note(f"connecting to the board ({'the Ray cluster' if s.parallel else s.device.label})")
            self.board.open()
        else:
            self.display.note("--no-device: candidates are NOT measured; every figure is a static estimate")
        self._open_ledger()
        self.display.note(f"run directory: {self.run_dir}")

    def _tables(self) -> tuple[dict, dict]:
        cal = self.calibration
        return self.space.cost_tables(cal.cost_model, self.limits, arena_factor=cal.arena_factor)

    # ---- the loop ----------------------------------------------------------------------------------
    def run(self) -> SearchOutcome:
        """Search until the trial or time budget is spent, then pick and write the best; the board and
        the ledger are closed on every way out (Ctrl-C and SIGTERM included)."""
        try:
            self._prepare()
            history = [c for c in self.ledger.candidates() if c.status != "proposed"]
            for row in self.ledger.discard_incomplete():
                shutil.rmtree(self.run_dir / "candidates" / str(row.n), ignore_errors=True)
            self.loop_started = time.time()
            self.ledger.set_meta("status", "running")
            with native_output_to(self.run_dir / LOG_NAME):
                self._search(history)
                return self._conclude()
        finally:
            if self.board is not None:
                self.board.close()
            if self.cluster is not None:
                self.cluster.stop()
            if self.ledger is not None:
                self.ledger.close()

    def _search(self, history: list[Candidate]) -> None:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board")
        try:
            if self.cluster is not None:
                from qnas_edge.run.parallel import ParallelLoop

                ParallelLoop(self, self.cluster).run(history)
            else:
                self._rounds(history, pool)
        except KeyboardInterrupt:
            self.ledger.set_meta("status", "interrupted")
            self.display.note("interrupted: the current candidate was abandoned; "
                              f"continue with 'qnas-edge resume {self.run_dir}'")
            if self.board is not None:
                self.board.close()      # a measurement in flight ends now instead of running to completion
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _rounds(self, history: list[Candidate], pool: ThreadPoolExecutor) -> None:
        """Ask, build, measure, tell, recalibrate until the trial or time budget is spent."""
        s = self.settings
        done_keys = {json.dumps(c.arch, sort_keys=True) for c in history}
        rounds_done = max((c.round for c in history), default=-1)
        deadline = self.loop_started + s.time_budget_min * 60 if s.time_budget_min else None
        rnd = evaluated = 0
        exhausted = False
        while True:
            replaying = rnd <= rounds_done
            if not replaying and deadline and time.time() >= deadline:
                self.display.note("time budget spent")
                return
            want = 0 if exhausted else min(s.batch, s.trials - evaluated)
            promotions = self.ladder.promote_ready() if self.ladder is not None else []
            if want <= 0 and not promotions:
                return
            batch = []
            if want > 0:
                with budgets_or_run_failed(self.profile.id):
                    batch = self.engine.ask(want)
                if not batch:
                    self.display.note("the search space is exhausted")
                    exhausted = True
                    if not promotions:
                        return
            self.display.round(rnd, evaluated, s.trials)
            # Promotions first (recomputed from recorded scores, so a replay promotes the same ones);
            # a promotion the ledger already holds is told as recorded, one cut off is trained again.
            pending = [self._promote(n, rung, epochs, pool) for n, rung, epochs in promotions]
            # Replay: the ledger's rows of this round are authoritative (told as recorded, re-measured
            # if the board was lost); the ask only fills the slots the interruption left empty.
            recorded = [c for c in history if c.round == rnd] if replaying else []
            pending += [self._replay(row, pool) for row in recorded]
            evaluated += len(recorded)
            fresh = [a for a in batch if json.dumps(a, sort_keys=True) not in done_keys]
            for arch in fresh[:max(0, len(batch) - len(recorded))]:
                if evaluated >= s.trials or (deadline and time.time() >= deadline and not replaying):
                    break
                evaluated += 1
                pending.append(self._evaluate(arch, rnd, pool))
            for p in pending:
                if p is not None:
                    self.finish(p)
            self.recalibrate()
            rnd += 1

    # ---- one candidate -----------------------------------------------------------------------------
    def _evaluate(self, arch: dict, rnd: int, pool: ThreadPoolExecutor) -> Pending:
        n = self.ledger.next_n()
        architecture = self.space.to_architecture(arch)
        predicted = self.space.static_figures(arch, self.calibration.cost_model)
        self.ledger.propose(n, rnd, architecture.id, arch, predicted)
        row = self.ledger.get(n)
        self.display.stage(n, "train", arch)
        out = self.run_dir / "candidates" / str(n)
        epochs = self.ladder.epochs[0] if self.ladder is not None else self.settings.epochs
        t0 = time.time()
        try:
            built = self._build(n, architecture, arch, epochs, out, screen=self.measure_rung > 0)
        except (UsageError, LinkError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a candidate that cannot be built is recorded, the run goes on
            self.record_failed(n, arch, exc, time.time() - t0)
            return Pending(row, None)
        built.timings["build"] = time.time() - t0
        self.note_arena(arch, built.arena_bytes)
        future = self._submit_measure(n, built, pool) if self.measure_rung == 0 else None
        return Pending(row, built, future)

    def _build(self, n: int, architecture, arch: dict, epochs: int, out: Path, screen: bool = False) -> ev.Built:
        """`screen`: a rung below the measured one, scored on float accuracy (no int8, nothing to measure)."""
        for stale in (out, *out.parent.glob(f".{out.name}.tmp-*")):   # left by a run killed mid-build
            shutil.rmtree(stale, ignore_errors=True)
        return ev.build(architecture, arch, self.settings.data, self.profile, self.calibration.cost_model,
                        epochs, self.settings.seed + n, out,
                        progress=lambda stage, info: self.display.stage(n, stage, arch, info), screen=screen)

    def _promote(self, n: int, rung: int, epochs: int, pool: ThreadPoolExecutor) -> Pending | None:
        """Train candidate n again for the epochs of `rung` (or replay the promotion the ledger holds)."""
        row = self.ledger.get(n)
        entry = rung_entry(row, rung)
        if entry is not None:
            if row.status == "unmeasured" and self.board is not None and entry == rung_entries(row)[-1] \
                    and not entry.get("error"):        # the board was lost while measuring this promotion
                built = self.built_of(row)
                return Pending(row, built, self._submit_measure(n, built, pool), rung)
            self._learn_rung(row, entry)
            return None
        if row.status == "failed":           # it could not be built at all: nothing to train longer
            self.ladder.record(n, rung, -ev.INFEASIBLE_PENALTY)
            return None
        self.display.stage(n, f"promoted to rung {rung}: train {epochs} epochs", row.arch)
        t0 = time.time()
        try:
            built = self._build(n, self.space.to_architecture(row.arch), row.arch, epochs,
                                self.run_dir / "candidates" / str(n) / f"rung{rung}")
        except (UsageError, LinkError, KeyboardInterrupt):
            raise
        except Exception as exc:  # the rung-below result stands; the candidate goes no further
            entries = [*rung_entries(row), {"rung": rung, "epochs": epochs, "score": -ev.INFEASIBLE_PENALTY,
                                            "error": f"{type(exc).__name__}: {exc}"[:500]}]
            self.ledger.complete(n, row.status, metrics={**row.metrics, "rungs": entries})
            self.ladder.record(n, rung, -ev.INFEASIBLE_PENALTY)
            self.display.failed(n, f"promotion to rung {rung}: {exc}")
            return None
        built.timings["build"] = time.time() - t0
        measured = any(e.get("measured") for e in rung_entries(row))
        future = self._submit_measure(n, built, pool) if rung >= self.measure_rung and not measured else None
        return Pending(row, built, future, rung)

    def record_failed(self, n: int, arch: dict, exc: BaseException, seconds: float) -> None:
        """A candidate that could not be built: recorded with its error and told as infeasible."""
        self.ledger.complete(n, "failed", score=-ev.INFEASIBLE_PENALTY,
                             error=f"{type(exc).__name__}: {exc}"[:500], timings={"build": seconds})
        self._tell(n, arch, -ev.INFEASIBLE_PENALTY, 0)
        self.display.failed(n, str(exc))

    def _tell(self, n: int, arch: dict, score: float, rung: int) -> None:
        """Tell the strategy a score at the fidelity of `rung`; the ladder ranks it for promotion."""
        if self.ladder is None:
            self.engine.tell(arch, score)
            return
        if self.ladder.rung_of(n) is None:
            self.ladder.add([n])
        self.ladder.record(n, rung, score)
        self.engine.tell(arch, score, fidelity=self.ladder.fidelity(rung))

    def _submit_measure(self, n: int, built: ev.Built, pool: ThreadPoolExecutor) -> Future | None:
        if self.board is None:
            return None
        self.display.stage(n, "measure", built.arch)
        return pool.submit(self.timed_measure, built)

    def timed_measure(self, built: ev.Built):
        t0 = time.time()
        try:
            m = self.board.measure(built.tflite, arena_bytes=built.arena_bytes, runs=self.settings.runs,
                                   library=built.library)
            return m, time.time() - t0
        finally:
            self.board_busy_s += time.time() - t0

    def _replay(self, row: Candidate, pool: ThreadPoolExecutor) -> Pending | None:
        """A recorded candidate: told as recorded, or re-measured when the board was lost before."""
        if row.status == "unmeasured" and self.board is not None and not rung_entries(row):
            built = self.built_of(row)
            return Pending(row, built, self._submit_measure(row.n, built, pool))
        self.learn(row)   # --fidelity auto: an unmeasured promotion is measured again when it replays
        return None

    def built_of(self, row: Candidate) -> ev.Built:
        """The Built record of a candidate already on disk (to measure it again after a lost board)."""
        folder = self.run_dir / (row.artifacts or f"candidates/{row.n}")
        built = ev.Built(row.arch, folder / "model.tflite",
                         Path(row.metrics["tvm_lib"]) if row.metrics.get("tvm_lib") else None,
                         dict(row.metrics), {"build": 0.0}, _layers_of(folder / "model.tflite"))
        self.note_arena(row.arch, built.arena_bytes)
        return built

    def finish(self, p: Pending) -> None:
        if p.built is None:
            return
        n, built, row = p.row.n, p.built, p.row
        measurement, status, t_measure, error, refused = None, "done", 0.0, None, False
        earlier = [e for e in rung_entries(row) if e["rung"] != p.rung] if p.rung > 0 else []
        if p.future is None and any(e.get("measured") for e in earlier):   # measured at a lower rung
            measurement, status, error = row.measurement, row.status, row.error
            refused = any(e.get("refused") for e in earlier)
        if p.future is not None:
            try:
                measurement, t_measure = p.future.result()
            except ModelRefused as exc:   # the board cannot hold it: a measured budget violation
                error, refused = f"refused by the board: {exc}", True
            except LinkError as exc:
                status, error = "unmeasured", str(exc)
                self.display.note(f"candidate {n}: board lost ({exc}); marked unmeasured")
        static = built.metrics.get("static") or {}
        verdict = ev.judge(built.accuracy, measurement, static, self.profile, self.limits, refused)
        metrics = {**built.metrics, "figures": verdict.figures.values(), "sources": verdict.figures.sources}
        fresh = p.future is not None and status == "done" and measurement is not None
        if self.ladder is not None:
            entry = {"rung": p.rung, "epochs": self.ladder.epochs[p.rung], "fidelity": self.ladder.fidelity(p.rung),
                     "accuracy": built.accuracy, "accuracy_kind": built.metrics.get("accuracy_kind", "int8"),
                     "score": verdict.score, "feasible": verdict.feasible, "measured": fresh, "refused": refused}
            metrics.update(rung=p.rung, fidelity=entry["fidelity"], rungs=[*earlier, entry])
        self.ledger.complete(n, status, score=verdict.score, accuracy=built.accuracy, feasible=verdict.feasible,
                             measurement=measurement, metrics=metrics,
                             timings={**built.timings, "measure": t_measure},
                             artifacts=str(built.folder.relative_to(self.run_dir)), error=error)
        if fresh:
            self.calibration.add_latency(built.layers, measurement.latency_ms_median)
        self._tell(n, built.arch, verdict.score, p.rung)
        self.display.done(self.ledger.get(n), self.limits)

    def learn(self, row: Candidate) -> None:
        """Replay a completed candidate: tell its score, reuse its measurement for calibration."""
        first = rung_entry(row, 0)
        if first is not None:           # --fidelity auto: its rung-0 result; promotions replay in their rounds
            self._learn_rung(row, first)
        else:
            if row.score is not None:
                self._tell(row.n, row.arch, row.score, 0)
            self._calibrate_from(row)
        self.note_arena(row.arch, row.metrics.get("arena_bytes"))
        self.display.replayed(row)

    def _learn_rung(self, row: Candidate, entry: dict) -> None:
        """Replay one rung of a candidate: its score (a failed promotion only stops it climbing) and, on
        the rung that measured it, its measurement for calibration."""
        if entry.get("error"):
            self.ladder.record(row.n, entry["rung"], entry["score"])
            return
        self._tell(row.n, row.arch, entry["score"], entry["rung"])
        if entry.get("measured"):
            self._calibrate_from(row)

    def _calibrate_from(self, row: Candidate) -> None:
        if row.status == "done" and row.measurement is not None:
            path = self.run_dir / (row.artifacts or f"candidates/{row.n}") / "model.tflite"
            if path.is_file():
                self.calibration.add_latency(_layers_of(path), row.measurement.latency_ms_median)

    def note_arena(self, arch: dict, arena_bytes: int | None) -> None:
        from qnas_edge.pipeline.targets import target_for

        if arena_bytes and target_for(self.profile).arena_is_ram:
            peak = self.space.static_figures(arch, self.calibration.cost_model)["peak_activation_bytes"]
            self.calibration.add_arena(arena_bytes, peak)

    def recalibrate(self) -> None:
        fit = self.calibration.refit()
        if fit is not None:
            self.ledger.record_calibration(self.ledger.next_n() - 1, *fit)
        costs, base = self._tables()
        with budgets_or_run_failed(self.profile.id):
            self.engine.set_costs(costs, base_costs=base)

    # ---- the result --------------------------------------------------------------------------------
    def _conclude(self) -> SearchOutcome:
        rows = self.ledger.candidates()
        if self.loop_started:
            wall = time.time() - self.loop_started
            self.ledger.set_meta("board_idle_s", max(0.0, wall - self.board_busy_s) if self.board else None)
            self.ledger.set_meta("loop_wall_s", wall)
        best = choose_best(rows, measures=self.board is not None)
        if best is None:
            self.ledger.set_meta("status", "failed")
            report = self._write_report()
            raise RunFailed(no_fit_message(rows, self.limits, self.profile.id)
                            + (f"; report: {report}" if report else ""))
        if self.settings.final_epochs > 0:
            from qnas_edge.run.final import final_retrain

            best = final_retrain(self, best) or best
        write_best(self.run_dir, best, self.profile)
        self.ledger.set_meta("best_n", best.n)
        self.ledger.set_meta("status", "finished")
        self.ledger.set_meta("finished", time.time())
        report = self._write_report()
        return SearchOutcome(self.run_dir, "finished", best, self.ledger.candidates(), report, board=self.profile)

    def _write_report(self) -> Path | None:
        try:
            from qnas_edge.outputs.report import write_report

            return write_report(self.run_dir)
        except Exception as exc:  # noqa: BLE001 - a report failure must not lose the run's result
            self.display.note(f"report not written: {exc}")
            return None


def rung_entries(row: Candidate) -> list[dict]:
    """The fidelity rungs a candidate was trained at (--fidelity auto), lowest first; [] otherwise."""
    return sorted(row.metrics.get("rungs") or [], key=lambda e: e["rung"])


def rung_entry(row: Candidate, rung: int) -> dict | None:
    return next((e for e in rung_entries(row) if e["rung"] == rung), None)


def _layers_of(path: Path) -> list:
    """Layers of a model already on disk (resume only: a fresh candidate carries its parsed model)."""
    from device_profiles.tflite_model import parse_tflite

    return parse_tflite(path).layers if path.is_file() else []
