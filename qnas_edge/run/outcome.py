"""The end of a run: which candidate wins, why none did, and the `best/` folder with its figures."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from device_profiles.profile import Profile
from qnas_edge.records import METRICS, Candidate, longest_trained


@dataclass
class SearchOutcome:
    run_dir: Path
    status: str
    best: Candidate | None
    candidates: list[Candidate]
    report: Path | None = None
    message: str = ""
    board: Profile | None = None


def eligible(rows: Sequence[Candidate], measures: bool) -> list[Candidate]:
    """Candidates that may win: done, within every budget, and measured when the run has a board."""
    return [c for c in rows if c.status == "done" and c.feasible and (c.measurement is not None or not measures)]


def choose_best(rows: Sequence[Candidate], measures: bool) -> Candidate | None:
    """Highest int8 accuracy among the eligible trained longest (--fidelity auto: a short screening
    run's accuracy is not comparable with a full one); ties go to the lower latency."""
    ok = longest_trained(eligible(rows, measures))
    if not ok:
        return None
    return max(ok, key=lambda c: (c.accuracy or 0.0, -(c.metrics.get("figures", {}).get("latency_ms", 0))))


def no_fit_message(rows: Sequence[Candidate], limits: Mapping[str, float], board_id: str) -> str:
    """One line: the smallest figure reached per metric against its budget."""
    figs = [c.metrics.get("figures") for c in rows if c.metrics.get("figures")]
    if not figs:
        return f"no candidate could be built and measured on {board_id}"
    parts = []
    for k in METRICS:
        vals = [f[k] for f in figs if k in f]
        if vals:
            lim = limits.get(k)
            parts.append(f"{k} {min(vals):.4g}" + (f" (budget {lim:.4g})" if lim is not None else ""))
    return "no candidate met every budget; smallest achieved: " + ", ".join(parts)


def write_best(run_dir: Path, best: Candidate, profile: Profile) -> None:
    """Copy the winner's artifacts to `best/` (atomically) with `measured.json` naming every source."""
    src = run_dir / (best.artifacts or f"candidates/{best.n}")
    dst, tmp = run_dir / "best", run_dir / "best.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    m = best.measurement
    (tmp / "measured.json").write_text(json.dumps({
        "candidate": best.n, "board": profile.id, "accuracy": best.accuracy,
        "figures": best.metrics.get("figures"), "sources": best.metrics.get("sources"),
        "measurement": m.to_dict() if m is not None else None, "static": best.metrics.get("static"),
        "source": m.source if m is not None else "static estimate (--no-device)",
    }, indent=2))
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
