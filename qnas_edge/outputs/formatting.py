"""How figures are written in the report and the bundle README (one place for units and labels).

Units: latency in ms, energy in mJ per inference, memory in binary units (1 KB = 1024 bytes,
1 MB = 1024 KB), as board datasheets use. RAM is always the *total* RAM a model needs (see
`ram_definition`), never the tensor arena alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from qnas_edge.records import METRICS, UNITS

_WORDS = {"latency_ms": "latency", "ram_bytes": "total RAM", "flash_bytes": "flash", "energy_mj": "energy"}
LABELS = {m: _WORDS[m] for m in METRICS}            # a metric added to records.METRICS needs its word here
KB_NOTE = "1 KB = 1024 bytes, 1 MB = 1024 KB."


def fmt_metric(metric: str, value: Any) -> str:
    """One figure with its unit: '170.0 ms', '0.0420 mJ', '79.6 KB'; '–' when unknown."""
    if value is None:
        return "–"
    v = float(value)
    if metric in ("ram_bytes", "flash_bytes"):
        return fmt_bytes(v)
    if metric == "latency_ms":
        return f"{v:,.3f} ms" if v < 10 else f"{v:,.1f} ms"
    if metric == "energy_mj":
        return f"{v:,.4f} mJ" if v < 1 else f"{v:,.2f} mJ"
    return f"{v:g}"


def fmt_bytes(v: float) -> str:
    """KB below 10 MB, MB below 10 GB, else GB (binary units: 1 KB = 1024 bytes)."""
    for unit, scale in (("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
        if v < 10 * 1024 * scale or unit == "GB":
            return f"{v / scale:,.1f} {unit}"
    return f"{v:,.0f} B"


def fmt_pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage ('94.00%'); '–' when unknown."""
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def ram_definition(board: Mapping[str, Any]) -> str:
    """What 'RAM' means for this board: total RAM, the parts it adds up, and the KB convention."""
    reserve = board.get("ram_reserve_bytes")
    part = f"the board's {fmt_bytes(float(reserve))} reserve" if reserve else "the board's reserve"
    from qnas_edge.pipeline.targets import target_class

    if target_class(board.get("runtime", "tflm")).arena_is_ram:
        what = f"the TFLite Micro tensor arena + {part} for firmware and runtime"
    else:
        what = f"weights + peak activations + {part} for the runtime (static estimate)"
    return f"RAM is total RAM: {what}. {KB_NOTE}"


def units(board: Mapping[str, Any]) -> dict[str, str]:
    """The units of the JSON figures (report --json, measured.json), with what RAM and KB mean."""
    return {**{m: "bytes" if u == "B" else u for m, u in UNITS.items()},
            "ram_note": ram_definition(board), "kb": KB_NOTE}


def arch_summary(arch: Mapping[str, Any]) -> str:
    """Compact one-line view of flat decisions, e.g. 'r16-w0.75 | s0: k3e1 | s1: k5e4se k3e2'."""
    slots: dict[int, list[tuple[int, str]]] = {}
    rest = []
    for key, value in arch.items():
        m = re.fullmatch(r"s(\d+)_b(\d+)", str(key))
        if m:
            slots.setdefault(int(m.group(1)), []).append((int(m.group(2)), str(value)))
        else:
            rest.append(f"{value}" if key == "rw" else f"{key}={value}")
    parts = [" ".join(sorted(rest))] if rest else []
    for stage in sorted(slots):
        blocks = [c for _, c in sorted(slots[stage]) if c != "skip"]
        parts.append(f"s{stage}: " + " ".join(blocks))
    return " | ".join(parts)
