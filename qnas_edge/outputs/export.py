"""The deployable bundle of one candidate of a run: what an embedded engineer copies into a project.

`export_bundle(run_dir, to_dir, candidate=None, force=False)` copies the int8 `model.tflite`,
`model_data.cc/.h` (TFLite Micro boards) or the TVM library + its manifest (Linux boards), `arch.json`,
`metrics.json`, writes `measured.json` (the figures, each with its source: measured / simulated /
estimated / static) and a `README.md` saying how to use the model on that board (see `readme`).

The default candidate is the run's best (ledger meta `best_n`); when the run wrote `best/` for it (final
retrain) the files come from there. The bundle is built in a temporary folder next to the destination
and renamed into place, so a failed export leaves nothing half-written; with `force`, an existing
destination is swapped out only once the new bundle is complete, then deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from qnas_edge.errors import UsageError
from qnas_edge.outputs.formatting import units
from qnas_edge.outputs.readme import MEASURED, MODEL, read_json, render_readme, resolver_method
from qnas_edge.outputs.run_data import (
    SOURCE_MEANING,
    RunData,
    best_record,
    device_label,
    final_retrain,
    kind_sentence,
    load_run,
)
from qnas_edge.records import Candidate, Figures, budget_violations, figures_of
from qnas_edge.run.pareto import static_of

C_FILES = ("model_data.cc", "model_data.h")
LIBRARY_SUFFIXES = (".so", ".tar", ".dylib", ".dll")

__all__ = ["C_FILES", "MEASURED", "MODEL", "export_bundle", "resolver_method"]


def export_bundle(run_dir: str | Path, to_dir: str | Path, candidate: int | None = None,
                  force: bool = False) -> Path:
    """Copy candidate `candidate` (default: the run's best) of `run_dir` into the folder `to_dir`.

    Raises UsageError (exit 2) for: not a run directory, no best candidate and none given, no such
    candidate, a candidate that is not `done`, missing model files, or a destination that exists and is
    not an empty folder (unless `force`: then it is replaced, atomically). Returns the bundle's path.
    """
    run = load_run(run_dir)
    row = _pick(run, candidate)
    src, from_best = _source_dir(run, row)
    dest = Path(to_dir)
    replace = _check_destination(dest, run, force)
    parent = dest.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.export-", dir=parent))
    except OSError as exc:
        raise UsageError(f"{dest}: cannot create the bundle folder ({exc.strerror or exc}); choose a writable "
                         "place for --to") from None
    try:
        _fill(tmp, run, row, src, from_best)
        _move_into_place(tmp, dest, replace)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UsageError(f"{dest}: cannot write the bundle ({exc.strerror or exc}); choose a new folder "
                         "for --to") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _pick(run: RunData, candidate: int | None) -> Candidate:
    ns = [r.n for r in run.rows]
    if candidate is None:
        if run.best_n is None:
            status = run.meta.get("status") or "unknown"
            raise UsageError(f"{run.run_dir}: the run has no best candidate (status {status}; none met every "
                             "budget yet); pick one with --candidate N (see 'qnas-edge report RUN_DIR')")
        candidate = run.best_n
    row = run.row(candidate)
    if row is None:
        have = f"it has {min(ns)}..{max(ns)}" if ns else "it has none yet"
        raise UsageError(f"{run.run_dir}: no candidate {candidate} in the run ({have}); pick one listed by "
                         "'qnas-edge report RUN_DIR'")
    if row.status != "done":
        why = f" ({row.error})" if row.error else ""
        raise UsageError(f"candidate {candidate} is {row.status}{why}, not done; export a done candidate "
                         "(see 'qnas-edge report RUN_DIR') or finish the run with 'qnas-edge resume RUN_DIR'")
    if row.accuracy_kind == "float":
        raise UsageError(f"candidate {candidate} was only screened by --fidelity auto ({row.rung_epochs} epochs, "
                         "float accuracy) and has no int8 model; export a promoted candidate (int8 in "
                         f"'qnas-edge report {run.run_dir}') or build it with 'qnas-edge build --arch "
                         f"{run.run_dir}/{row.artifacts}/arch.json --board {run.meta.get('board_id') or 'ID'}'")
    return row


def _source_dir(run: RunData, row: Candidate) -> tuple[Path, bool]:
    """Folder holding the candidate's files; `best/` (final retrain) when it belongs to this candidate."""
    cand = run.run_dir / (row.artifacts or f"candidates/{row.n}")
    best = run.run_dir / "best"
    if row.n == run.best_n and (best / MODEL).is_file():
        arch_file = best / "arch.json"
        same = True
        if arch_file.is_file() and (cand / "arch.json").is_file():
            same = read_json(arch_file) == read_json(cand / "arch.json")
        if same:
            return best, True
    if not (cand / MODEL).is_file():
        raise UsageError(f"{cand}: no {MODEL} for candidate {row.n}; the run directory is incomplete "
                         "(rebuild it with 'qnas-edge build --arch ARCH.json --board ID')")
    return cand, False


def _check_destination(dest: Path, run: RunData, force: bool) -> bool:
    """True when `dest` holds files that `force` allows to replace; UsageError when it may not be used."""
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest}: exists and is a file; choose a new or empty folder for --to")
    if not dest.is_dir() or not any(dest.iterdir()):
        return False
    if not force:
        raise UsageError(f"{dest}: exists and is not empty; choose a new or empty folder for --to, or add "
                         "--force to replace it")
    target = dest.resolve()
    protected = {run.run_dir.resolve(), Path.cwd().resolve(), Path.home().resolve()}
    if any(p == target or target in p.parents for p in protected):
        raise UsageError(f"{dest}: --force would delete the run directory, the current folder or the home "
                         "folder with it; choose another folder for --to")
    return True


def _move_into_place(tmp: Path, dest: Path, replace: bool) -> None:
    """Rename the finished bundle `tmp` to `dest`; an old `dest` is set aside first and deleted last
    (restored if the rename fails), so `dest` is never a mix of old and new files."""
    if not replace:
        if dest.exists():
            dest.rmdir()                      # checked empty; rmdir refuses if that changed
        os.rename(tmp, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.replaced-", dir=tmp.parent))
    os.rename(dest, old / dest.name)
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(old / dest.name, dest)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _libraries(src: Path) -> list[tuple[Path, Path | None]]:
    """(library, manifest or None) pairs of a TVM build; hidden files (host check builds) are skipped."""
    out = []
    for lib in sorted(src.iterdir()):
        if lib.is_file() and lib.suffix in LIBRARY_SUFFIXES and not lib.name.startswith("."):
            man = lib.with_suffix(".json")
            out.append((lib, man if man.is_file() else None))
    return out


def _copy_files(out: Path, run: RunData, row: Candidate, src: Path, from_best: bool) -> list[tuple[Path, Path | None]]:
    shutil.copy2(src / MODEL, out / MODEL)
    for name in (*C_FILES, "arch.json", "metrics.json"):
        path = src / name
        if not path.is_file() and from_best:
            path = run.run_dir / (row.artifacts or f"candidates/{row.n}") / name
        if path.is_file():
            shutil.copy2(path, out / name)
    libs = _libraries(src)
    for lib, man in libs:
        shutil.copy2(lib, out / lib.name)
        if man is not None:
            shutil.copy2(man, out / man.name)
    return libs


def bundle_record(run: RunData, row: Candidate, from_best: bool) -> tuple[dict[str, Any], Figures]:
    """measured.json of the exported model (figures with sources, budgets, raw measurement) + its Figures."""
    measurement, static, accuracy = row.measurement, static_of(row), row.accuracy
    final = final_retrain(run)
    retrained = bool(from_best and final and final["kept"] and final["from_n"] == row.n)
    if from_best:                        # the model in best/ (retrained or not): its own record
        rec = best_record(run)
        if rec is not None:
            measurement = rec["measurement"] or measurement
            accuracy = rec["accuracy"] if rec["accuracy"] is not None else accuracy
            static = {**static, **(rec["static"] or {})}
    fig = figures_of(measurement, static, run.board)
    kind = measurement.source if measurement is not None else "static"
    device = device_label(run.settings.get("device"))
    record = {
        "board_id": run.board_id, "board_name": run.board.get("name"), "runtime": run.board.get("runtime"),
        "candidate": row.n, "arch_id": row.arch_id, "from_best_dir": from_best, "retrained": retrained,
        "final_retrain": final if retrained else None,
        "int8_accuracy": accuracy, "feasible": row.feasible,
        "figures": fig.to_dict(), "figures_kind": kind,
        "figures_note": kind_sentence(kind, device),
        "budgets": run.budgets, "violations": budget_violations(fig, run.budgets),
        "units": units(run.board),
        "sources_meaning": SOURCE_MEANING,
        "measurement": measurement.to_dict() if measurement is not None else None,
        "predicted": row.predicted, "decisions": row.arch,
        "run_dir": str(run.run_dir.absolute()),
    }
    return record, fig


def _fill(out: Path, run: RunData, row: Candidate, src: Path, from_best: bool) -> None:
    from device_profiles.tflite_model import parse_tflite

    libs = _copy_files(out, run, row, src, from_best)
    record, fig = bundle_record(run, row, from_best)
    (out / MEASURED).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    final = final_retrain(run) if from_best else None
    note = final["note"] if final is not None and final["from_n"] == row.n else None
    readme = render_readme(run, row, out, parse_tflite(out / MODEL), fig, record, libs, note)
    (out / "README.md").write_text(readme, encoding="utf-8")
