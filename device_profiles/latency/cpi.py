"""Cycles per instruction of TFLM + CMSIS-NN on real boards, per Cortex-M family (`cpi.json`).

CPI = published latency (s) x clock (Hz) / instructions predicted by the instruction model for the same
model, one value per published run (MLPerf Tiny closed-division TFLM + CMSIS-NN submissions; repository,
commit, file and board are recorded per run) and the median per family. It folds together everything
the emulator does not model: pipeline, wait states, caches, and the TFLM / CMSIS-NN version of the run.
`recompute` refreshes the derived figures after a re-fit (benchmarks/fit_latency_model.py).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from device_profiles.latency.cores import family_of

CPI_FILE = Path(__file__).with_name("cpi.json")


@dataclass(frozen=True)
class CpiEntry:
    """The chosen CPI of a core family (None when nothing was published), the data core its
    instruction counts come from, the runs behind it and a note."""

    family: str
    data_core: str
    cpi: float | None
    runs: int
    note: str
    sources: tuple[str, ...]
    groups: dict[str, float] = field(default_factory=dict)   # {"*": other kernels, "fc": fully connected}

    def for_group(self, group: str) -> float | None:
        """Cycles per instruction of one kernel group: its own where fitted, else the family's."""
        return self.groups.get(group, self.groups.get("*", self.cpi))

    def ms(self, instructions: float, clock_hz: float) -> float | None:
        """Milliseconds for `instructions` at `clock_hz`; None without a CPI."""
        return None if self.cpi is None else instructions * self.cpi / clock_hz * 1000.0


@lru_cache(maxsize=4)
def load_cpi(path: str | None = None) -> dict[str, CpiEntry]:
    """family -> CpiEntry from cpi.json."""
    doc = json.loads(Path(path or CPI_FILE).read_text(encoding="utf-8"))
    out = {}
    for fam, e in doc["families"].items():
        runs = [r for r in doc["runs"] if r["family"] == fam]
        srcs = tuple(sorted({f"{r['source']['repo']}/{r['source']['path']}" for r in runs}))
        out[fam] = CpiEntry(fam, e["data_core"], e.get("cpi"), len(runs), e.get("note", ""), srcs,
                            dict(e.get("cpi_groups") or {}))
    return out


def cpi_for(profile_core: str, path: str | None = None) -> CpiEntry | None:
    """The CpiEntry of a board profile's core string ("cortex-m4f" -> cortex-m4), None if not listed."""
    fam = family_of(profile_core)
    return load_cpi(path).get(fam) if fam else None


def recompute(document: dict[str, Any], instructions: Callable[[str, Path], dict[str, float]],
              models_dir: Path) -> dict[str, Any]:
    """Refresh predicted_instructions, latency_ms and cpi of every run and the family figures.

    `instructions(data_core, model_path)` gives the predicted instructions of one Invoke() per kernel
    group. Per family: the median CPI, and — where the runs allow — a separate CPI for the
    fully-connected kernel (`cpi_groups`), whose weights stream from flash once per inference with no
    reuse, so wait states hit it harder than the convolutions (`fit_group_cpi`)."""
    doc = json.loads(json.dumps(document))
    for run in doc["runs"]:
        fam = doc["families"][run["family"]]
        latency_s = 1.0 / float(run["throughput_inf_per_s"])
        groups = instructions(fam["data_core"], models_dir / run["model_file"])
        pred = sum(groups.values())
        run["latency_ms"] = float(f"{latency_s * 1000:.6g}")
        run["predicted_instructions"] = int(round(pred))
        run["fc_instructions"] = int(round(groups.get(STREAMING_GROUP, 0.0)))
        run["cpi"] = float(f"{latency_s * float(run['clock_hz']) / pred:.4g}")
    for name, fam in doc["families"].items():
        runs = [r for r in doc["runs"] if r["family"] == name]
        values = [r["cpi"] for r in runs]
        fam["cpi"] = float(f"{statistics.median(values):.4g}") if values else None
        fam["runs"] = len(values)
        fam["cpi_min"] = min(values) if values else None
        fam["cpi_max"] = max(values) if values else None
        fam["cpi_groups"] = fit_group_cpi(runs)
    return doc


STREAMING_GROUP = "fc"


def fit_group_cpi(runs: list[dict[str, Any]]) -> dict[str, float]:
    """{"*": CPI of every other kernel, "fc": CPI of fully-connected} by least squares on the relative
    error over a family's runs; {} when the runs cannot separate them (< 3 runs, or a non-positive fit)."""
    rows = []
    for r in runs:
        cycles = float(r["latency_ms"]) / 1000.0 * float(r["clock_hz"])
        fc = float(r.get("fc_instructions", 0))
        rows.append(((float(r["predicted_instructions"]) - fc) / cycles, fc / cycles))
    if len(rows) < 3:
        return {}
    s_rr = sum(a * a for a, _ in rows)
    s_ff = sum(b * b for _, b in rows)
    s_rf = sum(a * b for a, b in rows)
    det = s_rr * s_ff - s_rf * s_rf
    if det <= 1e-12 * max(s_rr * s_ff, 1e-30):
        return {}
    s_r, s_f = sum(a for a, _ in rows), sum(b for _, b in rows)
    rest = (s_ff * s_r - s_rf * s_f) / det
    fc = (s_rr * s_f - s_rf * s_r) / det
    if rest <= 0 or fc <= 0:
        return {}
    return {"*": float(f"{rest:.4g}"), STREAMING_GROUP: float(f"{fc:.4g}")}
