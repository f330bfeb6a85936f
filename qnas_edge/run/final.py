"""The final retrain: the search's winner trained longer on the same split (NAS practice: proxy
search, then full training), measured again, kept only when it is better and still within budget."""

from __future__ import annotations

import shutil

from firmware_bridge.errors import LinkError
from qnas_edge.records import Candidate
from qnas_edge.run import evaluation as ev


def final_retrain(run, best: Candidate) -> Candidate | None:
    """Retrain `best` for `settings.final_epochs` into `final/`; the new Candidate, or None to keep `best`."""
    s, arch = run.settings, best.arch
    out = run.run_dir / "final"
    shutil.rmtree(out, ignore_errors=True)
    run.display.stage(best.n, f"final retrain ({s.final_epochs} epochs, same split)", arch)
    built = ev.build(run.space.to_architecture(arch), arch, s.data, run.profile, run.calibration.cost_model,
                     s.final_epochs, s.seed, out,
                     progress=lambda stage, info: run.display.stage(best.n, stage, arch, info))
    if built.accuracy <= (best.accuracy or 0.0):
        run.display.note("final retrain did not improve accuracy; keeping the search candidate")
        return None
    measurement = None
    if run.board is not None:
        try:
            measurement = run.board.measure(built.tflite, arena_bytes=built.arena_bytes, runs=s.runs,
                                            library=built.library)
        except LinkError as exc:
            run.display.note(f"final model not measured ({exc}); keeping the search candidate")
            return None
    verdict = ev.judge(built.accuracy, measurement, built.metrics["static"], run.profile, run.limits)
    if not verdict.feasible:
        run.display.note("the retrained model breaks a budget; keeping the search candidate")
        return None
    figures = verdict.figures.values()
    run.ledger.set_meta("final", {"from_n": best.n, "accuracy": built.accuracy, "figures": figures,
                                  "epochs": s.final_epochs, "candidate_accuracy": best.accuracy})
    metrics = {**built.metrics, "figures": figures, "sources": verdict.figures.sources}
    return Candidate(n=best.n, round=best.round, arch_id=best.arch_id, arch=arch, status="done",
                     score=built.accuracy, accuracy=built.accuracy, feasible=True, predicted=best.predicted,
                     measurement=measurement, metrics=metrics, timings=dict(built.timings), artifacts="final")
