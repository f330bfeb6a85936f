"""The export bundle's README.md, written for its board (templates `readme.md` + `readme_tflm.md` or
`readme_linux.md`): figures against the budgets with their sources, input/output quantization, and
how to run the model — for TFLite Micro the arena constant and the exact `MicroMutableOpResolver`
calls (read from the .tflite), for Linux boards the TVM runtime and tflite-runtime."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from qnas_edge.outputs.formatting import LABELS, fmt_bytes, fmt_pct, ram_definition
from qnas_edge.outputs.render import render
from qnas_edge.outputs.run_data import SOURCE_MEANING, RunData
from qnas_edge.records import METRICS, Candidate, Figures, budget_violations

MODEL = "model.tflite"
MEASURED = "measured.json"
REPORT_FILES = ("report.html", "pareto.png", "predicted_vs_measured.png")
_UNIT = {"latency_ms": "ms", "energy_mj": "mJ"}

# TFLite builtin names whose MicroMutableOpResolver method is not the CamelCase of the name.
_RESOLVER_EXCEPTIONS = {
    "CUMSUM": "AddCumSum", "PADV2": "AddPadV2", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess", "ETHOSU": "AddEthosU",
    "CIRCULAR_BUFFER": "AddCircularBuffer",
}
_FILE_NOTES = {
    MODEL: "the full-int8 TFLite flatbuffer (int8 input and output)",
    "model_data.cc": "the model as a C array for TensorFlow Lite Micro",
    "model_data.h": "declarations of the array, its length and the tensor arena size",
    "arch.json": "the architecture (`qnas-edge build --arch arch.json` rebuilds it)",
    "metrics.json": "build metrics: int8 accuracy, MACs, parameters, flash, arena",
    MEASURED: "the figures above with their sources, the raw measurement and the static estimate",
}


def resolver_method(op: str) -> str:
    """`MicroMutableOpResolver` method registering a TFLite op: CONV_2D -> AddConv2D, BATCH_TO_SPACE_ND ->
    AddBatchToSpaceNd, RELU6 -> AddRelu6 (names as in tflite-micro's micro_mutable_op_resolver.h)."""
    name = op[7:] if op.startswith("CUSTOM:") else op
    if name in _RESOLVER_EXCEPTIONS:
        return _RESOLVER_EXCEPTIONS[name]
    return "Add" + "".join(part if part[:1].isdigit() else part.capitalize() for part in name.split("_"))


def fmt_figure(metric: str, value: Any) -> str:
    """A README figure: bytes exactly plus KB/MB/GB (1 KB = 1024 B), or the value with its unit."""
    if value is None:
        return "–"
    if metric in ("ram_bytes", "flash_bytes"):
        return f"{int(value):,} B ({fmt_bytes(float(value))})"
    return f"{float(value):.4g} {_UNIT.get(metric, '')}".strip()


def figure_rows(fig: Figures, budgets: dict[str, float]) -> list[dict[str, str]]:
    """Rows of the README's figures table (one per metric of `records.METRICS`)."""
    viol = budget_violations(fig, budgets)
    label = {**LABELS, "ram_bytes": "total RAM (see below)", "flash_bytes": "flash (model + reserve)",
             "energy_mj": "energy per inference"}
    return [{"label": label[m], "value": fmt_figure(m, fig.get(m)), "source": fig.sources.get(m, "–"),
             "budget": fmt_figure(m, budgets.get(m)) if m in budgets else "–",
             "meets": "–" if m not in budgets else ("**no**" if m in viol else "yes")} for m in METRICS]


def read_json(path: Path) -> Any:
    """JSON content of `path`, None when missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def io_lines(info: Any) -> list[str]:
    """Markdown bullets: each input/output tensor with its int8 quantization, and how to (de)quantize."""
    lines = []
    for role, tensors in (("input", info.inputs), ("output", info.outputs)):
        for t in tensors:
            shape = "x".join(str(d) for d in t.shape)
            q = (f", scale {t.scale:.8g}, zero point {t.zero_point}" if t.scale is not None else "")
            lines.append(f"- {role} `{t.name}`: {t.dtype} [{shape}]{q}")
    inp = info.inputs[0] if info.inputs else None
    if inp is not None and inp.scale:
        zp = int(inp.zero_point or 0)
        shift = f" + {zp}" if zp >= 0 else f" - {-zp}"
        lines.append(f"- quantize an input value x: `q = clamp(round(x / {inp.scale:.8g}){shift}, -128, 127)`; "
                     "dequantize an output: `y = (q - zero_point) * scale`.")
    return lines


def header_symbols(h_path: Path) -> dict[str, str | None]:
    """Array / length / arena names declared by model_data.h (as written by `qnas-edge build`)."""
    text = h_path.read_text(encoding="utf-8", errors="replace") if h_path.is_file() else ""
    arr = re.search(r"extern\s+const\s+unsigned\s+char\s+(\w+)\s*\[\]", text)
    length = re.search(r"extern\s+const\s+unsigned\s+int\s+(\w+_len)\b", text)
    arena = re.search(r"#define\s+(\w+_ARENA_BYTES)\s+(\d+)", text)
    arena_min = re.search(r"#define\s+(\w+_ARENA_MIN_BYTES)\s+(\d+)", text)
    return {"array": arr.group(1) if arr else None, "len": length.group(1) if length else None,
            "arena_macro": arena.group(1) if arena else None, "arena": arena.group(2) if arena else None,
            "arena_min": arena_min.group(2) if arena_min else None}


def _tflm_arch(core: str) -> str:
    core = (core or "cortex-m4").lower()
    return core[:-1] + "+fp" if core.startswith("cortex-m") and core.endswith("f") else core


def tflm_context(board: dict[str, Any], out: Path, info: Any, record: dict[str, Any]) -> dict[str, Any]:
    """Arena constant (bytes), array names, operators and build options for the TFLite Micro section."""
    ops = sorted(set(info.ops))
    sym = header_symbols(out / "model_data.h")
    meas = record["measurement"] or {}
    arena_min = sym["arena_min"] or meas.get("arena_bytes") or (record["predicted"] or {}).get("arena_bytes")
    if sym["arena"]:
        arena_expr, arena_note = sym["arena_macro"], f"{sym['arena']} bytes (minimum {arena_min} + headroom)"
    else:
        arena_value = -(-int(int(arena_min or 0) * 1.1) // 16) * 16
        arena_expr, arena_note = str(arena_value), f"{arena_value} bytes (minimum {arena_min} + 10%)"
    array = sym["array"] or "g_model_data"
    core = board.get("core") or "cortex-m4"
    if core.lower().startswith("cortex-m"):
        options = f"TARGET=cortex_m_generic TARGET_ARCH={_tflm_arch(core)} OPTIMIZED_KERNEL_DIR=cmsis_nn"
        kernels = "CMSIS-NN kernels, the ones the cost model assumes"
    else:
        options = "TARGET=<your target> OPTIMIZED_KERNEL_DIR=<your vendor's kernels>"
        kernels = f"pick the target and optimized kernels for the {core} core"
    return {"ops": ops, "methods": [resolver_method(op) for op in ops], "array": array,
            "length": sym["len"] or f"{array}_len", "arena_expr": arena_expr, "arena_note": arena_note,
            "options": options, "kernels": kernels}


def library_context(libs: list[tuple[Path, Path | None]]) -> list[dict[str, Any]]:
    """What the README says about each TVM library, from its manifest."""
    out = []
    for lib, man in libs:
        manifest = read_json(man) if man is not None else None
        manifest = manifest if isinstance(manifest, dict) else {}
        out.append({"name": lib.name, "manifest": man.name if man is not None else None,
                    "machine": manifest.get("machine") or "?",
                    "target": json.dumps(manifest["target"]) if manifest.get("target") else "?",
                    "version": manifest.get("tvm_version") or "the same version that built it",
                    "entry": manifest.get("entry") or "main"})
    return out


def _files(out: Path, libs: list[tuple[Path, Path | None]]) -> list[tuple[str, int, str]]:
    notes = dict(_FILE_NOTES)
    for lib, man in libs:
        notes[lib.name] = "Apache TVM compiled library"
        if man is not None:
            notes[man.name] = "manifest of the TVM library (target, inputs, outputs, how to load it)"
    return [(p.name, p.stat().st_size, notes.get(p.name, "")) for p in sorted(out.iterdir())
            if p.name != "README.md"]


def render_readme(run: RunData, row: Candidate, out: Path, info: Any, fig: Figures, record: dict[str, Any],
                  libs: list[tuple[Path, Path | None]], final_note: str | None) -> str:
    """README.md of the bundle in `out` (its other files already written there)."""
    board = run.board
    runtime = board.get("runtime") or "?"
    origin = f"`{row.artifacts or f'candidates/{row.n}'}`"
    if record["from_best_dir"]:
        origin = "`best/`, retrained longer after the search" if record["retrained"] else "`best/`"
    context = {
        "board_name": board.get("name") or run.board_id, "board_id": run.board_id, "n": row.n,
        "run_name": run.run_dir.name, "run_dir": str(run.run_dir.absolute()), "origin": origin,
        "runtime": runtime, "core": board.get("core") or "?", "clock_mhz": board.get("clock_mhz") or "?",
        "figures_note": record["figures_note"], "final_note": final_note,
        "latency_note": ("Latency: the cost model's estimate (ms); energy per inference (mJ)."
                         if record["figures_kind"] == "static" else
                         f"Latency: median over the board's runs ({record['figures_kind']}, ms); energy per "
                         "inference (mJ)."),
        "accuracy": fmt_pct(record["int8_accuracy"], 2), "figure_rows": figure_rows(fig, run.budgets),
        "ram_note": ram_definition(board), "sources": SOURCE_MEANING,
        "report_files": [f for f in REPORT_FILES if (run.run_dir / f).is_file()],
        "files": _files(out, libs), "io_lines": io_lines(info), "macs": info.macs,
        "weight_bytes": info.weight_bytes, "model_bytes": info.model_bytes,
    }
    from qnas_edge.pipeline.targets import target_class

    if target_class(runtime).deployment == "tflm":
        context.update(runtime_template="readme_tflm.md", tflm=tflm_context(board, out, info, record))
    else:
        context.update(runtime_template="readme_linux.md", libraries=library_context(libs),
                       input_shape=str(tuple(info.inputs[0].shape)) if info.inputs else None,
                       threads=board.get("threads") or 1,
                       ssh_user=(board.get("link") or {}).get("ssh_user") or "pi")
    return render("readme.md", **context).rstrip() + "\n"
