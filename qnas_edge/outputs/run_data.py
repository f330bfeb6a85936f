"""A run directory as the report and the export read it: the ledger's meta, candidates, calibrations.

Reading never writes: a damaged ledger, a file that is not a ledger, or one written by a newer release
ends in one line and exit 2 (`UsageError` / `LedgerError`). Which figures count for a candidate is
`qnas_edge.records.figures_of`; this module only says, in words, where a run's figures come from.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qnas_edge.errors import UsageError
from qnas_edge.outputs.formatting import fmt_pct
from qnas_edge.records import METRICS, Candidate, Figures, figures_of, measurement_of
from qnas_edge.run.pareto import static_of

LEDGER_NAME = "ledger.sqlite"
BEST_RECORD = "measured.json"           # best/measured.json, written by the loop with the final model
_SQLITE_MAGIC = b"SQLite format 3\x00"
_RUN_HINT = "pass the folder 'qnas-edge search' wrote (runs/<timestamp>-<board>)"

# The four sources a figure can have, in the words the report and the README use.
SOURCE_MEANING = {
    "measured": "read on real hardware (serial or SSH board)",
    "simulated": "reported by the virtual board (board-twin timing model, real TFLite Micro kernels)",
    "estimated": "energy from the board's latency (measured or simulated) x the profile's active power",
    "static": "the cost model's estimate (no board figure)",
}


@dataclass
class RunData:
    """Everything a report or an export reads from a run directory's ledger."""

    run_dir: Path
    meta: dict[str, Any]
    rows: list[Candidate]                                   # ordered by n
    calibrations: list[tuple[int, dict[str, float], float | None]] = field(default_factory=list)

    @property
    def board(self) -> dict[str, Any]:
        """The board profile as stored in the ledger (Profile.to_dict())."""
        return self.meta.get("board") or {}

    @property
    def board_id(self) -> str:
        """The board's profile id ('?' when the ledger has none yet)."""
        return str(self.meta.get("board_id") or self.board.get("id") or "?")

    @property
    def settings(self) -> dict[str, Any]:
        """The search settings as stored in the ledger (SearchSettings.to_dict())."""
        return self.meta.get("settings") or {}

    @property
    def best_n(self) -> int | None:
        """The chosen candidate's number, None while none is chosen."""
        value = self.meta.get("best_n")
        return None if value is None else int(value)

    @property
    def budgets(self) -> dict[str, float]:
        """Budgets of the run (ms, bytes, mJ; --max-* overrides applied by the loop), else the board's."""
        out = {k: v for k, v in (self.board.get("budgets") or {}).items() if v is not None}
        out.update({k: v for k, v in (self.settings.get("budgets") or {}).items() if v is not None})
        return {k: float(v) for k, v in out.items() if k in METRICS}

    def row(self, n: int | None) -> Candidate | None:
        """Candidate number `n`, None when the run has no such candidate."""
        return next((r for r in self.rows if r.n == n), None)

    def figures(self, row: Candidate) -> Figures:
        """The figures that count for `row` (the one rule, `records.figures_of`)."""
        return figures_of(row.measurement, static_of(row), self.board)


def run_ledger(path: Path, label: str | None = None) -> Path:
    """The ledger of run directory `path`, checked to be a readable qnas-edge ledger (UsageError, exit 2,
    one line naming `label` or the path otherwise)."""
    name = label or str(path)
    if not path.exists():
        raise UsageError(f"{name}: no such run directory; {_RUN_HINT}")
    if not path.is_dir():
        raise UsageError(f"{name}: is a file, not a run directory; {_RUN_HINT}")
    ledger_path = path / LEDGER_NAME
    if not ledger_path.is_file():
        raise UsageError(f"{name}: not a run directory (no {LEDGER_NAME}); {_RUN_HINT}")
    probe_ledger(ledger_path)
    return ledger_path


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory's ledger; UsageError / LedgerError (exit 2) when it cannot be read."""
    from qnas_edge.run.ledger import Ledger

    path = Path(run_dir)
    ledger_path = run_ledger(path)
    try:
        with Ledger(ledger_path) as ledger:
            return RunData(path, ledger.meta(), ledger.candidates(), ledger.calibrations())
    except (sqlite3.DatabaseError, ValueError, TypeError, KeyError) as exc:
        raise _unreadable(ledger_path, exc) from None


def probe_ledger(ledger_path: Path) -> None:
    """Refuse a file that is not a qnas-edge ledger before the Ledger opens it (which would add tables)."""
    try:
        with open(ledger_path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise _unreadable(ledger_path, exc.strerror or exc) from None
    if head != _SQLITE_MAGIC:
        raise _unreadable(ledger_path, "not an SQLite database" if head else "empty file")
    try:
        db = sqlite3.connect(str(ledger_path), timeout=30)
        try:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise _unreadable(ledger_path, exc) from None
    if not {"meta", "candidates"} <= tables:
        raise _unreadable(ledger_path, "no meta/candidates tables")


def _unreadable(ledger_path: Path, why: object) -> UsageError:
    return UsageError(f"{ledger_path}: not a readable qnas-edge ledger ({why}); {_RUN_HINT}")


# ---- where the figures come from ------------------------------------------------------------------
def device_label(device: Any) -> str:
    """'virtual', 'serial:/dev/ttyACM0', 'ssh:pi@host' or 'none' from the settings' device entry."""
    from firmware_bridge.device import DeviceSpec

    if isinstance(device, dict):
        known = set(DeviceSpec.__dataclass_fields__)
        return DeviceSpec(**{k: v for k, v in device.items() if k in known}).label
    return str(device or "")


def figures_kind(run: RunData) -> tuple[str, str]:
    """(kind, sentence): kind is measured | simulated | mixed | static; the sentence says it plainly."""
    device = device_label(run.settings.get("device"))
    sources = {r.measurement.source for r in run.rows if r.measurement is not None}
    if device == "none":
        return "static", kind_sentence("static", device)
    if not sources:
        return "static", (f"No candidate has been measured yet (device {device or 'unknown'}); every figure "
                          "is a static estimate.")
    if len(sources) == 1:
        kind = next(iter(sources))
        return kind, kind_sentence(kind, device)
    return "mixed", f"Figures mix sources ({', '.join(sorted(sources))}); each cell says which."


def kind_sentence(kind: str, device: str = "") -> str:
    """The sentence that heads a report or a README whose board figures are all of one source."""
    if kind == "simulated":
        return ("Figures are SIMULATED by the virtual board (a board-twin timing model running real TFLite "
                "Micro kernels), not measured on hardware.")
    if kind == "measured":
        where = f" ({device})" if device else ""
        return (f"Figures were measured on the board{where}. Energy is estimated from measured latency x the "
                "profile's active power unless marked measured.")
    if kind == "static" and device == "none":
        return ("--no-device: static estimates only. Nothing was measured on a board; latency, RAM and "
                "energy come from the board's cost model.")
    if kind == "static":
        return "Not measured on a board: every figure is a static estimate."
    return f"Figures come from: {kind}."


def best_record(run: RunData) -> dict[str, Any] | None:
    """best/measured.json (the model in best/: accuracy, Measurement, static estimate), None if absent."""
    try:
        data = json.loads((run.run_dir / "best" / BEST_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        measurement = measurement_of(data.get("measurement")) if isinstance(data.get("measurement"), dict) else None
    except TypeError:
        measurement = None
    accuracy = data.get("accuracy")
    return {"candidate": data.get("candidate"), "measurement": measurement,
            "accuracy": float(accuracy) if isinstance(accuracy, int | float) else None,
            "static": data.get("static") if isinstance(data.get("static"), dict) else None}


def final_retrain(run: RunData) -> dict[str, Any] | None:
    """The final retrain as the report and the README name it (epochs, accuracies, why they differ);
    None when the run had none."""
    search_epochs = run.settings.get("epochs")
    final = run.meta.get("final")
    if isinstance(final, dict):
        n, epochs, acc = final.get("from_n"), final.get("epochs") or run.settings.get("final_epochs"), final.get("accuracy")
        cand = final.get("candidate_accuracy")
        if cand is None and run.row(n) is not None:
            cand = run.row(n).accuracy
        note = (f"final retrain: {epochs} epochs on the same split; accuracy differs from the candidate's because "
                f"the architecture of candidate #{n} was trained again from scratch for {epochs} epochs instead of "
                f"the search's {search_epochs} proxy epochs (same training/validation split, same int8 "
                f"quantization): int8 validation accuracy {fmt_pct(acc, 2)} against {fmt_pct(cand, 2)} for the "
                "candidate. best/ and 'qnas-edge export' hold the retrained model.")
        return {"kept": True, "from_n": n, "epochs": epochs, "search_epochs": search_epochs,
                "accuracy": acc, "candidate_accuracy": cand, "note": note}
    epochs = run.settings.get("final_epochs")
    if epochs and run.meta.get("status") == "finished":
        note = (f"final retrain: {epochs} epochs on the same split, not kept (it did not raise the int8 accuracy, "
                "broke a budget or could not be measured); best/ holds the search candidate as found.")
        return {"kept": False, "from_n": run.best_n, "epochs": epochs, "search_epochs": search_epochs,
                "note": note}
    return None
