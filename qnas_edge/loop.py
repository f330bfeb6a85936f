"""The closed loop of `qnas-edge search` / `resume` (DESIGN.md section 3).

Round after round: the strategy proposes architectures that meet every budget under the current cost
tables; each is built (train, int8, TFLM/TVM), measured on the board while the next one trains,
committed to the ledger, and told back to the strategy; the board's cost coefficients are then refit
from every (predicted, measured) pair and the QUBO cost tables rebuilt from the refit model.

Resume replays the ledger round by round (same asks, same tells, same recalibrations), so a resumed
run continues exactly where an uninterrupted run with the same seed would be, and never evaluates a
completed candidate again.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from device_profiles.cost_model import CostModel
from device_profiles.profile import Profile
from firmware_bridge.errors import LinkError, ModelRefused
from qnas_edge.board_session import BoardSession, DeviceSpec
from qnas_edge.errors import RunFailed, UsageError
from qnas_edge.ledger import CandidateRow, Ledger
from qnas_edge.progress import LoopDisplay
from qnas_edge.search_space import MobileNetSpace

INFEASIBLE_PENALTY = 1.0   # score = accuracy - penalty when a measured figure breaks a budget
METRICS = ("latency_ms", "energy_mj", "ram_bytes", "flash_bytes")


@dataclass
class SearchSettings:
    """Everything that defines a run besides the board (stored in the ledger for resume)."""

    data: str = "digits"
    epochs: int = 3
    final_epochs: int = 0
    trials: int = 12
    time_budget_min: float | None = None
    strategy: str = "qubo"
    sampler: str = "neal"
    seed: int = 0
    batch: int = 2
    runs: int = 10
    budgets: dict[str, float] = field(default_factory=dict)
    device: DeviceSpec = field(default_factory=DeviceSpec)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["device"] = self.device.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSettings:
        d = dict(d)
        d["device"] = DeviceSpec.from_dict(d.get("device") or {})
        return cls(**d)


@dataclass
class SearchOutcome:
    run_dir: Path
    status: str
    best: CandidateRow | None
    candidates: list[CandidateRow]
    report: Path | None = None
    message: str = ""


def _make_strategy(name: str, space, costs, base, budgets, seed: int, sampler: str):
    import search

    if name not in search.STRATEGIES:
        raise UsageError(f"unknown strategy '{name}': use one of {', '.join(search.STRATEGIES)}")
    cls = search.STRATEGIES[name]
    kwargs: dict[str, Any] = {"costs": costs, "budgets": budgets, "seed": seed, "base_costs": base}
    if name == "qubo":
        kwargs["sampler"] = sampler
    return cls(space, **kwargs)


def measured_figures(profile: Profile, m: dict[str, Any] | None, static: dict[str, Any]) -> dict[str, float]:
    """Budgeted figures of a built candidate: measured where the board gave them, static otherwise."""
    fig = {
        "latency_ms": float(static["latency_ms"]),
        "energy_mj": float(static["energy_mj"]),
        "flash_bytes": float(static["flash_bytes"]),
        "ram_bytes": float(static["ram_bytes"]),
    }
    if m:
        fig["latency_ms"] = float(m["latency_ms_median"])
        fig["energy_mj"] = float(m["energy_mj"]) if m.get("energy_mj") is not None else (
            fig["latency_ms"] * profile.power.active_mw / 1000.0)
        if profile.is_mcu and m.get("arena_bytes"):
            fig["ram_bytes"] = float(m["arena_bytes"] + profile.ram_reserve_bytes)
    return fig


class _budgets_or_run_failed:
    """Turn the search engine's InfeasibleBudgetError (with the minima) into RunFailed (exit 1)."""

    def __init__(self, board_id: str) -> None:
        self.board_id = board_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        from search import InfeasibleBudgetError

        if exc_type is not None and issubclass(exc_type, InfeasibleBudgetError):
            import re

            text = re.sub(r";? ?ram_over = [0-9.e+-]+ \(budget [0-9.e+-]+\)", "", str(exc))
            text = text.replace("ram_over", "RAM (working memory of the smallest part)")
            raise RunFailed(f"budgets nothing can meet on {self.board_id}: {text}") from None
        return False


class SearchRun:
    """One run directory: create with `start`, continue with `resume`, then `run()`."""

    def __init__(self, run_dir: Path, profile: Profile, settings: SearchSettings, display: LoopDisplay) -> None:
        self.run_dir = Path(run_dir)
        self.profile = profile
        self.settings = settings
        self.display = display
        self.ledger: Ledger | None = None       # opened once set-up succeeded (nothing half-written)
        self._new_meta: dict[str, Any] | None = None
        self.base_cm = CostModel(profile)
        self.cm = self.base_cm
        self.limits = {k: float(v) for k, v in settings.budgets.items()}
        self.dataset = None
        self.space: MobileNetSpace | None = None
        self.engine = None
        self.board = BoardSession(profile, settings.device, runs=settings.runs, progress=display.note)
        self.samples: list[tuple[list, float]] = []     # (layers, measured latency ms)
        self.arena_ratios: list[float] = []
        self.board_busy_s = 0.0
        self.loop_started = 0.0

    # ---- set-up ------------------------------------------------------------------------------------
    @classmethod
    def start(cls, run_dir: Path, profile: Profile, settings: SearchSettings, display: LoopDisplay) -> SearchRun:
        run_dir = Path(run_dir)
        if (run_dir / "ledger.sqlite").exists():
            raise UsageError(f"{run_dir} already holds a run; continue it with 'qnas-edge resume {run_dir}' "
                             "or choose another --out")
        run = cls(run_dir, profile, settings, display)
        run._new_meta = {"board_id": profile.id, "board": profile.to_dict(), "profile_source": profile.source,
                         "settings": settings.to_dict(), "status": "running", "started": time.time(),
                         "best_n": None}
        return run

    def _open_ledger(self) -> None:
        if self.ledger is not None:
            return
        if self._new_meta is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.run_dir / "ledger.sqlite")
        for key, value in (self._new_meta or {}).items():
            self.ledger.set_meta(key, value)
        self._new_meta = None

    @classmethod
    def resume(cls, run_dir: Path, display: LoopDisplay, profile: Profile | None = None) -> SearchRun:
        run_dir = Path(run_dir)
        if not (run_dir / "ledger.sqlite").is_file():
            raise UsageError(f"{run_dir} is not a run directory (no ledger.sqlite); pass the folder "
                             "'qnas-edge search' created")
        with Ledger(run_dir / "ledger.sqlite") as led:
            meta = led.meta()
        settings = SearchSettings.from_dict(meta["settings"])
        if profile is None:
            from device_profiles.catalog import get_profile

            src = meta.get("profile_source") or ""
            extra = [src] if src and Path(src).is_file() and "device_profiles" not in src else []
            profile = get_profile(meta["board_id"], extra)
        profile = profile.with_budgets()
        return cls(run_dir, profile, settings, display)

    def _prepare(self) -> None:
        """Dataset check (exit 2 before any training), space, strategy, board connection (exit 3)."""
        from qnas_edge.datasets import load_dataset

        s = self.settings
        probe = load_dataset(s.data, resolution=8, seed=s.seed)
        self.space = MobileNetSpace(self.profile, probe.input_shape[2], probe.num_classes)
        costs, base = self.space.cost_tables(self.cm, self.limits)
        with _budgets_or_run_failed(self.profile.id):
            self.engine = _make_strategy(s.strategy, self.space.space, costs, base,
                                         self.space.search_budgets(self.limits), s.seed, s.sampler)
        if self.board.measures:
            self.display.note(f"connecting to the board ({s.device.label})")
            try:
                self.board.open()
            except LinkError as exc:
                hint = "" if "dialout" in str(exc) else (
                    "; check the USB cable and that you may use serial ports (sudo usermod -aG dialout $USER), "
                    "or use --virtual / --host")
                raise LinkError(f"{exc}{hint}" if s.device.kind == "serial" else str(exc)) from None
        self._open_ledger()

    def _rebuild_tables(self) -> None:
        costs, base = self.space.cost_tables(self.cm, self.limits)
        with _budgets_or_run_failed(self.profile.id):
            self.engine.set_costs(costs, base_costs=base)

    # ---- the loop ----------------------------------------------------------------------------------
    def run(self) -> SearchOutcome:
        s = self.settings
        self._prepare()
        history = [c for c in self.ledger.candidates() if c.status != "proposed"]
        stale = self.ledger.discard_incomplete()
        for row in stale:
            shutil.rmtree(self.run_dir / "candidates" / str(row.n), ignore_errors=True)
        done_keys = {json.dumps(c.arch, sort_keys=True): c for c in history}
        rounds_done = max((c.round for c in history), default=-1)
        self.loop_started = time.time()
        deadline = self.loop_started + s.time_budget_min * 60 if s.time_budget_min else None
        self.ledger.set_meta("status", "running")
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board")
        try:
            rnd = evaluated = 0
            while True:
                replaying = rnd <= rounds_done
                if not replaying and deadline and time.time() >= deadline:
                    self.display.note("time budget spent")
                    break
                want = min(s.batch, s.trials - evaluated)
                if want <= 0:
                    break
                with _budgets_or_run_failed(self.profile.id):
                    batch = self.engine.ask(want)
                if not batch:
                    self.display.note("the search space is exhausted")
                    break
                self.display.round(rnd, evaluated, s.trials)
                pending: list[tuple[CandidateRow, Future | None, dict]] = []
                # Replay: the ledger's rows of this round are authoritative (told as recorded, re-measured
                # if the board was lost); the ask only fills the slots the interruption left empty.
                recorded = [c for c in history if c.round == rnd] if replaying else []
                for row in recorded:
                    evaluated += 1
                    if row.status == "unmeasured" and self.board.measures:
                        pending.append(self._remeasure(row, pool))
                    else:
                        self._learn(row)
                fresh = [a for a in batch if json.dumps(a, sort_keys=True) not in done_keys]
                for arch in fresh[:max(0, len(batch) - len(recorded))]:
                    if evaluated >= s.trials or (deadline and time.time() >= deadline and not replaying):
                        break
                    evaluated += 1
                    pending.append(self._evaluate(arch, rnd, pool))
                for row, fut, ctx in pending:
                    self._finish(row, fut, ctx)
                self._recalibrate()
                rnd += 1
        except KeyboardInterrupt:
            if self.ledger is not None:
                self.ledger.set_meta("status", "interrupted")
            self.display.note("interrupted: the current candidate was abandoned; "
                              f"continue with 'qnas-edge resume {self.run_dir}'")
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.board.close()
        return self._conclude()

    # ---- one candidate -----------------------------------------------------------------------------
    def _evaluate(self, arch: dict, rnd: int, pool: ThreadPoolExecutor) -> tuple[CandidateRow, Future | None, dict]:
        n = self.ledger.next_n()
        architecture = self.space.to_architecture(arch)
        predicted = self.space.static_figures(arch, self.cm)
        self.ledger.propose(n, rnd, architecture.id, arch, predicted)
        row = self.ledger.get(n)
        self.display.stage(n, "train", arch)
        out = self.run_dir / "candidates" / str(n)
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.time()
        try:
            build = self._build(architecture, out, self.settings.epochs, self.settings.seed + n, n, arch)
        except (UsageError, LinkError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a candidate that cannot be built is recorded, the run goes on
            self.ledger.complete(n, "failed", score=-INFEASIBLE_PENALTY, error=f"{type(exc).__name__}: {exc}"[:500],
                                 timings={"build": time.time() - t0})
            self.engine.tell(arch, -INFEASIBLE_PENALTY)
            self.display.failed(n, str(exc))
            return row, None, {"failed": True}
        ctx = {"arch": arch, "build": build, "tflite": Path(build["tflite_path"]),
               "tvm_lib": Path(build["tvm_lib"]) if build.get("tvm_lib") else None, "t_build": time.time() - t0}
        self._note_arena(arch, build)
        fut = None
        if self.board.measures:
            self.display.stage(n, "measure", arch)
            fut = pool.submit(self._timed_measure, ctx["tflite"], ctx["tvm_lib"])
        return row, fut, ctx

    def _build(self, architecture, out: Path, epochs: int, seed: int, n: int, arch: dict) -> dict[str, Any]:
        """Run the pipeline's unit of work and keep what the loop and the ledger need."""
        from qnas_edge.pipeline import BuildSettings, build_candidate
        from qnas_edge.training import TrainSettings

        res = build_candidate(architecture, self.settings.data, self.profile,
                              BuildSettings(train=TrainSettings(epochs=epochs)), seed=seed, out_dir=out,
                              progress=lambda stage, info: self.display.stage(n, stage, arch, info))
        m = res.metrics
        lib = (m.get("tvm") or {}).get("library")
        return {"tflite_path": str(res.model_path), "tvm_lib": str(Path(res.out_dir) / lib) if lib else None,
                "accuracy": res.int8_accuracy, "float_accuracy": m["accuracy"]["float_val"],
                "arena_bytes": m.get("arena_bytes"), "macs": m["macs"], "params": m["params"],
                "model_bytes": m["model_bytes"], "ops": m.get("ops"), "arch_id": res.arch_id,
                "epochs_run": m["training"]["epochs_run"], "timings": dict(res.timings)}

    def _timed_measure(self, tflite: Path, tvm_lib: Path | None):
        t0 = time.time()
        try:
            return self.board.measure(tflite, tvm_lib), time.time() - t0
        finally:
            self.board_busy_s += time.time() - t0

    def _remeasure(self, row: CandidateRow, pool: ThreadPoolExecutor) -> tuple[CandidateRow, Future | None, dict]:
        build = dict(row.metrics)
        folder = self.run_dir / (row.artifacts or f"candidates/{row.n}")
        ctx = {"arch": row.arch, "build": build, "tflite": folder / "model.tflite",
               "tvm_lib": Path(build["tvm_lib"]) if build.get("tvm_lib") else None, "t_build": 0.0}
        self._note_arena(row.arch, build)
        self.display.stage(row.n, "measure", row.arch)
        return row, pool.submit(self._timed_measure, ctx["tflite"], ctx["tvm_lib"]), ctx

    def _finish(self, row: CandidateRow, fut: Future | None, ctx: dict) -> None:
        if ctx.get("failed"):
            return
        n, arch, build = row.n, ctx["arch"], ctx["build"]
        layers, static = self._static_of_build(ctx["tflite"], build.get("arena_bytes"))
        measurement, status, t_measure, error = None, "done", 0.0, None
        if fut is not None:
            try:
                m, t_measure = fut.result()
                measurement = m.to_dict()
            except ModelRefused as exc:   # the board cannot hold it: a measured budget violation
                error = f"refused by the board: {exc}"
                ctx["refused"] = True
            except LinkError as exc:
                status, error = "unmeasured", str(exc)
                self.display.note(f"candidate {n}: board lost ({exc}); marked unmeasured")
        fig = measured_figures(self.profile, measurement, static)
        feasible = self._meets_budgets(fig) and not ctx.get("refused")
        accuracy = float(build["accuracy"])
        score = accuracy if feasible else accuracy - INFEASIBLE_PENALTY
        timings = dict(build.get("timings") or {})
        timings.update({"build": ctx["t_build"], "measure": t_measure})
        artifacts = str(ctx["tflite"].parent.relative_to(self.run_dir))
        metrics = {k: v for k, v in build.items() if k != "timings"}
        metrics["static"] = static
        metrics["figures"] = fig
        self.ledger.complete(n, status, score=score, accuracy=accuracy, feasible=feasible,
                             measurement=measurement, metrics=metrics, timings=timings, artifacts=artifacts,
                             error=error)
        if status == "done" and measurement is not None:
            self.samples.append((layers, float(measurement["latency_ms_median"])))
        self.engine.tell(arch, score)
        self.display.done(self.ledger.get(n), self.limits)

    def _learn(self, row: CandidateRow) -> None:
        """Replay a completed candidate: tell its score, reuse its measurement for calibration."""
        if row.score is not None:
            self.engine.tell(row.arch, row.score)
        if row.status == "done" and row.measurement:
            from device_profiles.tflite_model import parse_tflite

            path = self.run_dir / (row.artifacts or f"candidates/{row.n}") / "model.tflite"
            if path.is_file():
                self.samples.append((parse_tflite(path).layers, float(row.measurement["latency_ms_median"])))
        self._note_arena(row.arch, row.metrics)
        self.display.replayed(row)

    def _note_arena(self, arch: dict, build: dict) -> None:
        if not self.profile.is_mcu or not build.get("arena_bytes"):
            return
        peak = self.space.static_figures(arch, self.cm)["peak_activation_bytes"]
        if peak:
            self.arena_ratios.append(float(build["arena_bytes"]) / peak)
            self.space.arena_factor = max(1.0, max(self.arena_ratios) * 1.02)

    def _static_of_build(self, tflite: Path, arena_bytes: int | None) -> tuple[list, dict[str, Any]]:
        """(layers, static figures) of a built model, reusing the arena the pipeline already found."""
        from device_profiles.tflite_model import parse_tflite

        info = parse_tflite(tflite)
        est = self.cm.estimate_layers(info.layers, info.model_bytes, arena_bytes if self.profile.is_mcu else None,
                                      info.activation_dtype, info.peak_activation_bytes, info.weight_bytes)
        return info.layers, {"latency_ms": est.latency_ms, "energy_mj": est.energy_mj,
                             "flash_bytes": est.flash_bytes, "ram_bytes": est.ram_bytes,
                             "arena_bytes": est.arena_bytes, "macs": est.macs}

    def _meets_budgets(self, fig: dict[str, float]) -> bool:
        return all(fig[k] <= v for k, v in self.limits.items() if k in fig)

    def _recalibrate(self) -> None:
        if self.samples:
            self.cm = self.base_cm.recalibrate(self.samples)
            errs = [abs(self.cm.latency_ms(layers) - ms) / ms for layers, ms in self.samples]
            self.ledger.record_calibration(
                self.ledger.next_n() - 1,
                {k: self.cm.coefficient(k) for k in sorted({k for la, _ in self.samples for k in self.cm.features(la)})},
                sum(errs) / len(errs))
        self._rebuild_tables()

    # ---- the result --------------------------------------------------------------------------------
    def _conclude(self) -> SearchOutcome:
        rows = self.ledger.candidates()
        measured_ok = [c for c in rows if c.status == "done" and c.feasible
                       and (c.measurement is not None or not self.board.measures)]
        idle = None
        if self.loop_started:
            wall = time.time() - self.loop_started
            idle = max(0.0, wall - self.board_busy_s)
            self.ledger.set_meta("board_idle_s", idle if self.board.measures else None)
            self.ledger.set_meta("loop_wall_s", wall)
        if not measured_ok:
            self.ledger.set_meta("status", "failed")
            report = self._write_report()
            raise RunFailed(self._no_fit_message(rows) + (f"; report: {report}" if report else ""))
        best = max(measured_ok, key=lambda c: (c.accuracy or 0.0, -(c.metrics.get("figures", {}).get("latency_ms", 0))))
        if self.settings.final_epochs > 0:
            best = self._final_retrain(best) or best
        self._write_best(best)
        self.ledger.set_meta("best_n", best.n)
        self.ledger.set_meta("status", "finished")
        self.ledger.set_meta("finished", time.time())
        report = self._write_report()
        return SearchOutcome(self.run_dir, "finished", best, self.ledger.candidates(), report)

    def _no_fit_message(self, rows: list[CandidateRow]) -> str:
        figs = [c.metrics.get("figures") for c in rows if c.metrics.get("figures")]
        if not figs:
            return f"no candidate could be built and measured on {self.profile.id}"
        parts = []
        for k in METRICS:
            vals = [f[k] for f in figs if k in f]
            if vals:
                lim = self.limits.get(k)
                parts.append(f"{k} {min(vals):.4g}" + (f" (budget {lim:.4g})" if lim is not None else ""))
        return "no candidate met every budget; smallest achieved: " + ", ".join(parts)

    def _final_retrain(self, best: CandidateRow) -> CandidateRow | None:
        """Retrain the winner longer (NAS practice: proxy search, then full training)."""
        arch = best.arch
        out = self.run_dir / "final"
        shutil.rmtree(out, ignore_errors=True)
        self.display.stage(best.n, f"final training ({self.settings.final_epochs} epochs)", arch)
        build = self._build(self.space.to_architecture(arch), out, self.settings.final_epochs,
                            self.settings.seed, best.n, arch)
        if float(build["accuracy"]) <= (best.accuracy or 0.0):
            self.display.note("final retraining did not improve accuracy; keeping the search candidate")
            return None
        measurement = None
        if self.board.measures:
            try:
                measurement = self.board.measure(Path(build["tflite_path"]),
                                                 Path(build["tvm_lib"]) if build.get("tvm_lib") else None).to_dict()
            except LinkError as exc:
                self.display.note(f"final model not measured ({exc}); keeping the search candidate")
                return None
        _, static = self._static_of_build(Path(build["tflite_path"]), build.get("arena_bytes"))
        fig = measured_figures(self.profile, measurement, static)
        if not self._meets_budgets(fig):
            return None
        self.ledger.set_meta("final", {"from_n": best.n, "accuracy": build["accuracy"], "figures": fig})
        metrics = {k: v for k, v in build.items() if k != "timings"}
        metrics.update({"static": static, "figures": fig})
        return CandidateRow(n=best.n, round=best.round, arch_id=best.arch_id, arch=arch, status="done",
                            score=float(build["accuracy"]), accuracy=float(build["accuracy"]), feasible=True,
                            predicted=best.predicted, measurement=measurement, metrics=metrics,
                            timings=dict(build.get("timings") or {}), artifacts="final")

    def _write_best(self, best: CandidateRow) -> None:
        src = self.run_dir / (best.artifacts or f"candidates/{best.n}")
        dst = self.run_dir / "best"
        tmp = self.run_dir / "best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        (tmp / "measured.json").write_text(json.dumps({
            "candidate": best.n, "board": self.profile.id, "accuracy": best.accuracy,
            "figures": best.metrics.get("figures"), "measurement": best.measurement,
            "static": best.metrics.get("static"),
            "source": (best.measurement or {}).get("source", "static estimate (--no-device)"),
        }, indent=2))
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)

    def _write_report(self) -> Path | None:
        try:
            from qnas_edge.report import write_report
        except ImportError:
            return None
        try:
            return write_report(self.run_dir)
        except Exception as exc:  # noqa: BLE001 - a report failure must not lose the run's result
            self.display.note(f"report not written: {exc}")
            return None
