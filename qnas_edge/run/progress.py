"""Live progress of a search: round, candidate, stage, best feasible so far, calibration error.

On a terminal a `rich` live panel sits under the log of finished candidates; elsewhere (CI, pipes,
--json) the same events are plain lines on stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.markup import escape

_STAGE_NAMES = {"dataset": "load data", "build": "build model", "epoch": "train", "train": "train",
                "quantize": "quantize int8", "tflm": "TFLM check", "tvm": "TVM compile", "done": "built",
                "measure": "upload + measure"}


class LoopDisplay:
    """Receives loop events; thread-safe (the board worker reports from its own thread)."""

    def __init__(self, enabled: bool = True, board: str = "", trials: int = 0) -> None:
        from rich.console import Console

        from qnas_edge.run.native_output import terminal_stream

        # the panel keeps the terminal while the run's native log output goes to run.log
        self._stream = terminal_stream()
        self.console = Console(file=self._stream) if self._stream is not None else Console(stderr=True)
        self.enabled = enabled
        self.live_mode = enabled and self.console.is_terminal
        self.board = board
        self.trials = trials
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {"round": 0, "n": None, "stage": "starting", "best": None,
                                      "calib": None, "done": 0, "measured": 0}
        self.started = time.time()
        self._live = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> LoopDisplay:
        if self.live_mode:
            from rich.live import Live

            # get_renderable: the panel (and its elapsed clock) is redrawn 4 times a second, not only on events
            self._live = Live(console=self.console, refresh_per_second=4, transient=True,
                              get_renderable=self._panel)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
        if self._stream is not None:
            self._stream.flush()

    def _panel(self):
        from rich.panel import Panel

        s = self.state
        best = s["best"]
        best_txt = "none yet" if best is None else f"#{best[0]}: {best[1]:.1%} int8 acc, {best[2]:.2f} ms"
        # meaningful only once the model was refit on >= 2 board figures (one sample fits anything)
        calib = "-" if s["calib"] is None or s["measured"] < 2 else f"{s['calib']:.1%}"
        cand = "-" if s["n"] is None else f"#{s['n']}"
        elapsed = time.time() - self.started
        text = (f"round {s['round']}   candidate {cand} ({s['done']}/{self.trials} done)   stage: {s['stage']}\n"
                f"best feasible: {best_txt}   latency calibration error: {calib}   elapsed {elapsed:.0f} s\n"
                "[dim]calibration error = |predicted - board latency| / board latency, running mean[/]")
        return Panel(text, title=f"qnas-edge search on {self.board}", expand=False)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._panel())

    def _print(self, msg: str) -> None:
        if self.enabled:
            self.console.print(msg, highlight=False)

    # ---- events ------------------------------------------------------------------------------------
    def note(self, msg: str) -> None:
        with self.lock:
            self._print(f"[dim]{escape(msg)}[/]")
            self._refresh()

    def round(self, rnd: int, evaluated: int, trials: int) -> None:
        with self.lock:
            self.state.update(round=rnd)
            self.trials = trials
            self._refresh()

    def stage(self, n: int, stage: str, arch: dict, info: dict | None = None) -> None:
        with self.lock:
            label = _STAGE_NAMES.get(stage, stage)
            if stage == "epoch" and info:
                label = f"train epoch {info.get('epoch', '?')}/{info.get('epochs', '?')}"
                if "val_accuracy" in info:
                    label += f" (val acc {info['val_accuracy']:.2f})"
            self.state.update(n=n, stage=label)
            if not self.live_mode and stage in ("build", "quantize", "measure", "tflm", "tvm"):
                self._print(f"[dim]  #{n} {label} ({arch.get('rw', '')})[/]")
            self._refresh()

    def done(self, row, limits: dict[str, float]) -> None:
        with self.lock:
            rung = row.metrics.get("rung", 0)   # --fidelity auto: a promotion is not a new candidate
            self.state["done"] += 0 if rung else 1
            fig = row.metrics.get("figures", {})
            m = row.measurement
            pred = row.predicted.get("latency_ms")
            meas = m.latency_ms_median if m is not None else None
            if row.feasible and row.accuracy is not None and row.fidelity >= 1.0:   # screens do not compare
                best = self.state["best"]
                if best is None or row.accuracy > best[1]:
                    self.state["best"] = (row.n, row.accuracy, fig.get("latency_ms", 0.0))
            if meas and pred:
                self.state["measured"] += 1
                err = abs(pred - meas) / meas
                prev = self.state["calib"]
                self.state["calib"] = err if prev is None else 0.5 * prev + 0.5 * err
            over = [k for k, v in limits.items() if fig.get(k, 0) > v]
            verdict = "[green]fits[/]" if row.feasible else f"[red]over budget: {', '.join(over) or '?'}[/]"
            lat = f"{meas:.2f} ms {m.source}" if meas else f"{fig.get('latency_ms', 0):.2f} ms static"
            status = "" if row.status == "done" else f" [yellow]{row.status}[/]"
            epochs = f" after {row.rung_epochs} ep" if row.rung_epochs else ""
            self._print(f"#{row.n:<3} {row.arch.get('rw', ''):<11} {row.accuracy_kind} acc {row.accuracy:6.1%}{epochs}  {lat}"
                        f" (predicted {pred:.2f})  RAM {fig.get('ram_bytes', 0) / 1024:.0f} KB  "
                        f"flash {fig.get('flash_bytes', 0) / 1024:.0f} KB  {verdict}{status}")
            self._refresh()

    def failed(self, n: int, msg: str) -> None:
        with self.lock:
            self.state["done"] += 1
            self._print(f"#{n:<3} [red]build failed[/]: {escape(msg[:200])}")
            self._refresh()

    def replayed(self, row) -> None:
        with self.lock:
            self.state["done"] += 1
            if row.feasible and row.accuracy is not None and row.fidelity >= 1.0:   # screens do not compare
                best = self.state["best"]
                if best is None or row.accuracy > best[1]:
                    fig = row.metrics.get("figures", {})
                    self.state["best"] = (row.n, row.accuracy, fig.get("latency_ms", 0.0))
            self._refresh()
