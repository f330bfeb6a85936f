"""The deployable bundle of one candidate of a run: what an embedded engineer copies into a project.

`export_bundle(run_dir, to_dir, candidate=None)` copies the int8 `model.tflite`, `model_data.cc/.h`
(TFLite Micro boards) or the TVM library + its manifest (Linux boards), `arch.json`, `metrics.json`,
writes `measured.json` (the figures, each with its source: measured / simulated / estimated / static)
and a `README.md` saying how to use the model on that board: for TFLite Micro the arena size and the
exact `MicroMutableOpResolver` calls the model needs (read from the .tflite), for Linux boards how to
load the library with the TVM runtime or the .tflite with tflite-runtime.

The default candidate is the run's best (ledger meta `best_n`); when the run wrote `best/` for it (final
retrain) the files come from there. The bundle is built in a temporary folder next to the destination
and renamed into place, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from qnas_edge.errors import UsageError
from qnas_edge.pareto import METRICS, Figures, budget_violations, candidate_figures
from qnas_edge.report import RunData, figures_kind, load_run

MODEL = "model.tflite"
C_FILES = ("model_data.cc", "model_data.h")
LIBRARY_SUFFIXES = (".so", ".tar", ".dylib", ".dll")
MEASURED = "measured.json"

# TFLite builtin names whose MicroMutableOpResolver method is not the CamelCase of the name.
_RESOLVER_EXCEPTIONS = {
    "CUMSUM": "AddCumSum", "PADV2": "AddPadV2", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess", "ETHOSU": "AddEthosU",
    "CIRCULAR_BUFFER": "AddCircularBuffer",
}
_UNIT = {"latency_ms": "ms", "energy_mj": "mJ"}


def resolver_method(op: str) -> str:
    """`MicroMutableOpResolver` method registering a TFLite op: CONV_2D -> AddConv2D, BATCH_TO_SPACE_ND ->
    AddBatchToSpaceNd, RELU6 -> AddRelu6 (names as in tflite-micro's micro_mutable_op_resolver.h)."""
    name = op[7:] if op.startswith("CUSTOM:") else op
    if name in _RESOLVER_EXCEPTIONS:
        return _RESOLVER_EXCEPTIONS[name]
    return "Add" + "".join(part if part[:1].isdigit() else part.capitalize() for part in name.split("_"))


def export_bundle(run_dir: str | Path, to_dir: str | Path, candidate: int | None = None) -> Path:
    """Copy candidate `candidate` (default: the run's best) of `run_dir` into the new folder `to_dir`.

    Raises UsageError (exit 2) for: not a run directory, no best candidate and none given, no such
    candidate, a candidate that is not `done`, missing model files, or a destination that exists and is
    not an empty folder. Returns the bundle's path.
    """
    run = load_run(run_dir)
    n, row = _pick(run, candidate)
    src, from_best = _source_dir(run, row)
    dest = Path(to_dir)
    _check_destination(dest)

    parent = dest.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.export-", dir=parent))
    except OSError as exc:
        raise UsageError(f"{dest}: cannot create the bundle folder ({exc.strerror or exc}); choose a writable "
                         "place for --to") from None
    try:
        _fill(tmp, run, row, src, from_best)
        if dest.exists():
            dest.rmdir()                      # checked empty above; rmdir refuses if that changed
        os.rename(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UsageError(f"{dest}: cannot write the bundle ({exc.strerror or exc}); choose a new folder "
                         "for --to") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _pick(run: RunData, candidate: int | None) -> tuple[int, Any]:
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
    return candidate, row


def _source_dir(run: RunData, row: Any) -> tuple[Path, bool]:
    """Folder holding the candidate's files; `best/` (final retrain) when it belongs to this candidate."""
    cand = run.run_dir / (row.artifacts or f"candidates/{row.n}")
    best = run.run_dir / "best"
    if row.n == run.best_n and (best / MODEL).is_file():
        arch_file = best / "arch.json"
        same = True
        if arch_file.is_file() and (cand / "arch.json").is_file():
            same = _read_json(arch_file) == _read_json(cand / "arch.json")
        if same:
            return best, True
    if not (cand / MODEL).is_file():
        raise UsageError(f"{cand}: no {MODEL} for candidate {row.n}; the run directory is incomplete "
                         "(rebuild it with 'qnas-edge build --arch ARCH.json --board ID')")
    return cand, False


def _check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest}: exists and is a file; choose a new or empty folder for --to")
    if dest.is_dir() and any(dest.iterdir()):
        raise UsageError(f"{dest}: exists and is not empty; choose a new or empty folder for --to")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _libraries(src: Path) -> list[tuple[Path, Path | None]]:
    """(library, manifest or None) pairs of a TVM build; hidden files (host check builds) are skipped."""
    out = []
    for lib in sorted(src.iterdir()):
        if lib.is_file() and lib.suffix in LIBRARY_SUFFIXES and not lib.name.startswith("."):
            man = lib.with_suffix(".json")
            out.append((lib, man if man.is_file() else None))
    return out


def _fill(out: Path, run: RunData, row: Any, src: Path, from_best: bool) -> None:
    from device_profiles.tflite_model import parse_tflite

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

    measurement = row.measurement
    metrics = row.metrics or {}
    accuracy = row.accuracy
    final_meta = run.meta.get("final")
    retrained = from_best and isinstance(final_meta, dict) and final_meta.get("from_n") == row.n
    if from_best:
        # best/measured.json (written by the loop): accuracy, measurement and figures of the model in best/
        final = _read_json(src / MEASURED)
        if isinstance(final, dict):
            if isinstance(final.get("measurement"), dict):
                measurement = final["measurement"]
            if isinstance(final.get("accuracy"), int | float):
                accuracy = float(final["accuracy"])
            if isinstance(final.get("static"), dict):
                metrics = {**metrics, "static": final["static"]}
    fig = candidate_figures(measurement, row.predicted, metrics, run.board)
    budgets = run.budgets
    kind, sentence = figures_kind(run)
    if measurement is None:
        kind, sentence = "static", "Not measured on a board: every figure is a static estimate."
    record = {
        "board_id": run.board_id, "board_name": run.board.get("name"), "runtime": run.board.get("runtime"),
        "candidate": row.n, "arch_id": row.arch_id, "from_best_dir": from_best, "retrained": retrained,
        "int8_accuracy": accuracy, "feasible": row.feasible,
        "figures": fig.to_dict(), "figures_kind": kind, "figures_note": sentence,
        "budgets": budgets, "violations": budget_violations(fig, budgets),
        "measurement": measurement, "predicted": row.predicted, "decisions": row.arch,
        "run_dir": str(run.run_dir.absolute()),
    }
    (out / MEASURED).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    info = parse_tflite(out / MODEL)
    readme = _readme(run, row, out, info, fig, record, libs)
    (out / "README.md").write_text(readme, encoding="utf-8")


# ---- README -----------------------------------------------------------------------------------------
def _fmt(metric: str, value: Any) -> str:
    if value is None:
        return "–"
    if metric in ("ram_bytes", "flash_bytes"):
        return f"{int(value):,} B ({float(value) / 1024:,.1f} KB)"
    return f"{float(value):.4g} {_UNIT.get(metric, '')}".strip()


def _figures_table(fig: Figures, budgets: dict[str, float], accuracy: float | None) -> str:
    lines = ["| figure | value | source | budget | meets |", "|---|---|---|---|---|"]
    acc = "–" if accuracy is None else f"{100 * accuracy:.2f}%"
    lines.append(f"| int8 validation accuracy | {acc} | int8 .tflite on the validation split | – | – |")
    viol = budget_violations(fig, budgets)
    for m in METRICS:
        meets = "–" if m not in budgets else ("**no**" if m in viol else "yes")
        lines.append(f"| {m} | {_fmt(m, fig.get(m))} | {fig.sources.get(m, '–')} | "
                     f"{_fmt(m, budgets.get(m)) if m in budgets else '–'} | {meets} |")
    return "\n".join(lines)


def _io_lines(info: Any) -> list[str]:
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


def _header_symbols(h_path: Path) -> dict[str, str | None]:
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


def _tflm_section(run: RunData, out: Path, info: Any, record: dict[str, Any]) -> list[str]:
    board = run.board
    ops = sorted(set(info.ops))
    sym = _header_symbols(out / "model_data.h")
    meas = record["measurement"] or {}
    arena_min = sym["arena_min"] or meas.get("arena_bytes") or (record["predicted"] or {}).get("arena_bytes")
    if sym["arena"]:
        arena_expr, arena_note = sym["arena_macro"], f"{sym['arena']} bytes (minimum {arena_min} + headroom)"
    else:
        arena_value = -(-int(int(arena_min or 0) * 1.1) // 16) * 16
        arena_expr, arena_note = str(arena_value), f"{arena_value} bytes (minimum {arena_min} + 10%)"
    array = sym["array"] or "g_model_data"
    length = sym["len"] or f"{array}_len"
    core = board.get("core") or "cortex-m4"
    methods = [resolver_method(op) for op in ops]
    L = []
    L.append("## Use it with TensorFlow Lite Micro\n")
    L.append(f"`model_data.cc` holds the model as a 16-byte aligned C array `{array}` ({length} = "
             f"{info.model_bytes:,} bytes); `model_data.h` declares it together with the tensor arena size. "
             "Keep the array `const` so it stays in flash.\n")
    L.append(f"**Tensor arena**: `{arena_expr}` = {arena_note}. The minimum is exact for this model (found "
             "with the tflite-micro interpreter); CMSIS-NN kernels may need a little more scratch, so keep the "
             "headroom. If `AllocateTensors()` fails, raise it.\n")
    L.append(f"**Operators** ({len(ops)}): {', '.join(f'`{op}`' for op in ops)}. Register exactly these:\n")
    code = [
        "```cpp",
        "#include <cstdint>",
        "#include <cstring>",
        '#include "model_data.h"',
        '#include "tensorflow/lite/micro/micro_interpreter.h"',
        '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"',
        '#include "tensorflow/lite/schema/schema_generated.h"',
        "",
        f"constexpr int kTensorArenaSize = {arena_expr};",
        "alignas(16) static uint8_t tensor_arena[kTensorArenaSize];",
        f"static tflite::MicroMutableOpResolver<{len(ops)}> resolver;",
        "static tflite::MicroInterpreter* interpreter = nullptr;",
        "",
        "void setup_model() {",
        *[f"  resolver.{m}();" for m in methods],
        f"  const tflite::Model* model = tflite::GetModel({array});",
        "  static tflite::MicroInterpreter interp(model, resolver, tensor_arena, kTensorArenaSize);",
        "  interpreter = &interp;",
        "  if (interpreter->AllocateTensors() != kTfLiteOk) { /* arena too small: raise kTensorArenaSize */ }",
        "}",
        "",
        "int classify(const int8_t* x) {              // x: quantized input, see 'Inputs and outputs'",
        "  TfLiteTensor* in = interpreter->input(0);",
        "  memcpy(in->data.int8, x, in->bytes);",
        "  interpreter->Invoke();",
        "  TfLiteTensor* out = interpreter->output(0);",
        "  int best = 0;",
        "  for (int i = 1; i < out->dims->data[out->dims->size - 1]; ++i)",
        "    if (out->data.int8[i] > out->data.int8[best]) best = i;",
        "  return best;",
        "}",
        "```\n",
    ]
    L.extend(code)
    L.append("### Arduino IDE\n")
    L.append("1. Install TensorFlow Lite Micro for Arduino (github.com/tensorflow/tflite-micro-arduino-examples: "
             "clone it into `~/Arduino/libraries/Arduino_TensorFlowLite`).\n"
             "2. Copy `model_data.cc` and `model_data.h` into the sketch folder (next to the `.ino`).\n"
             "3. In the sketch: `#include <TensorFlowLite.h>` first, then the code above; call `setup_model()` "
             "from `setup()`.\n"
             f"4. Select the board ({board.get('name') or run.board_id}) and upload.\n")
    L.append("### PlatformIO\n")
    if core.lower().startswith("cortex-m"):
        options = f"TARGET=cortex_m_generic TARGET_ARCH={_tflm_arch(core)} OPTIMIZED_KERNEL_DIR=cmsis_nn"
        kernels = "CMSIS-NN kernels, the ones the cost model assumes"
    else:
        options = "TARGET=<your target> OPTIMIZED_KERNEL_DIR=<your vendor's kernels>"
        kernels = f"pick the target and optimized kernels for the {core} core"
    L.append("1. `model_data.cc` goes to `src/`, `model_data.h` to `include/`.\n"
             "2. Put TensorFlow Lite Micro under `lib/tflm/`: from a tflite-micro checkout run\n"
             "   `python3 tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py "
             f"--makefile_options=\"{options}\" lib/tflm` ({kernels}).\n"
             "3. Add `build_flags = -Ilib/tflm -Ilib/tflm/third_party/flatbuffers/include "
             "-Ilib/tflm/third_party/gemmlowp -Ilib/tflm/third_party/ruy -DTF_LITE_STATIC_MEMORY` to "
             "`platformio.ini`.\n")
    L.append("### STM32CubeIDE\n")
    L.append("1. Convert the project to C++ (right click the project > Convert to C++).\n"
             "2. `model_data.cc` goes to `Core/Src/`, `model_data.h` to `Core/Inc/`.\n"
             "3. Generate the TFLM tree as for PlatformIO (same `create_tflm_tree.py` command), add it as a "
             "source folder and add its include paths (the tree root, `third_party/flatbuffers/include`, "
             "`third_party/gemmlowp`, `third_party/ruy`) under C/C++ Build > Settings; define "
             "`TF_LITE_STATIC_MEMORY`.\n"
             "4. Place `tensor_arena` in internal SRAM (the default `.bss`) and time `Invoke()` with the DWT "
             "cycle counter to compare with the figures above.\n")
    L.append("### Check it on the board\n")
    L.append(f"With the reference firmware (`firmware_bridge/firmware/`) flashed: `qnas-edge profile model.tflite "
             f"--board {run.board_id} --port /dev/ttyACM0` measures it again.\n")
    return L


def _linux_section(run: RunData, out: Path, info: Any, libs: list[tuple[Path, Path | None]]) -> list[str]:
    board = run.board
    threads = board.get("threads") or 1
    L = []
    for lib, man in libs:
        manifest = _read_json(man) if man is not None else None
        manifest = manifest if isinstance(manifest, dict) else {}
        machine = manifest.get("machine") or "?"
        version = manifest.get("tvm_version") or "the same version that built it"
        entry = manifest.get("entry") or "main"
        L.append(f"## Run the TVM library `{lib.name}`\n")
        L.append(f"`{lib.name}` is an Apache TVM (Relax) executable compiled for `{machine}` "
                 f"(target `{json.dumps(manifest.get('target')) if manifest.get('target') else '?'}`)"
                 + (f"; `{man.name}` is its manifest" if man is not None else "") + ". On the board install the "
                 f"TVM runtime, version {version} (the library must be loaded by the TVM version that built it), "
                 "then:\n")
        L.extend([
            "```python",
            "import numpy as np",
            "import tvm",
            "from tvm import relax",
            "",
            f"lib = tvm.runtime.load_module('{lib.name}')",
            "vm = relax.VirtualMachine(lib, tvm.cpu())",
            f"x = np.zeros({tuple(info.inputs[0].shape)}, dtype=np.int8)      # quantized input, see 'Inputs and outputs'"
            if info.inputs else "x = ...",
            f"y = vm['{entry}'](tvm.runtime.tensor(x))",
            "y = (y if hasattr(y, 'numpy') else y[0]).numpy()                 # int8 logits",
            "```\n",
        ])
    L.append("## Run the .tflite with tflite-runtime (or LiteRT)\n")
    L.append("`pip install tflite-runtime` (or `ai-edge-litert`) on the board, copy `model.tflite`, then:\n")
    L.extend([
        "```python",
        "import numpy as np",
        "from tflite_runtime.interpreter import Interpreter   # or: from ai_edge_litert.interpreter import Interpreter",
        "",
        f"interp = Interpreter(model_path='model.tflite', num_threads={threads})",
        "interp.allocate_tensors()",
        "inp, out = interp.get_input_details()[0], interp.get_output_details()[0]",
        "interp.set_tensor(inp['index'], x_int8)                  # shape and quantization: 'Inputs and outputs'",
        "interp.invoke()",
        "y = interp.get_tensor(out['index'])",
        "```\n",
    ])
    host = "HOST"
    L.append("### Check it on the board\n")
    L.append(f"`qnas-edge profile model.tflite --board {run.board_id} --host {board.get('link', {}).get('ssh_user') or 'pi'}"
             f"@{host}` measures it again over SSH.\n")
    return L


def _readme(run: RunData, row: Any, out: Path, info: Any, fig: Figures, record: dict[str, Any],
            libs: list[tuple[Path, Path | None]]) -> str:
    board = run.board
    runtime = board.get("runtime") or "?"
    L = [f"# int8 model for {board.get('name') or run.board_id} (`{run.board_id}`)\n"]
    origin = f"`{row.artifacts or f'candidates/{row.n}'}`"
    if record["from_best_dir"]:
        origin = "`best/`, retrained longer after the search" if record["retrained"] else "`best/`"
    L.append(f"Candidate #{row.n} of the qnas-edge run `{run.run_dir.name}` ({origin}); runtime `{runtime}`, "
             f"{board.get('core') or '?'} @ {board.get('clock_mhz') or '?'} MHz.\n")
    L.append(f"> {record['figures_note']}\n")
    L.append(_figures_table(fig, run.budgets, record["int8_accuracy"]) + "\n")
    L.append("Sources: measured = on the board, simulated = virtual board, estimated = measured latency x the "
             "profile's active power, static = cost-model estimate. All figures are also in `measured.json`.\n")
    L.append("## Files\n")
    desc = {
        MODEL: "the full-int8 TFLite flatbuffer (int8 input and output)",
        "model_data.cc": "the model as a C array for TensorFlow Lite Micro",
        "model_data.h": "declarations of the array, its length and the tensor arena size",
        "arch.json": "the architecture (`qnas-edge build --arch arch.json` rebuilds it)",
        "metrics.json": "build metrics: int8 accuracy, MACs, parameters, flash, arena",
        MEASURED: "the figures above with their sources, the raw measurement and the static estimate",
        "README.md": "this file",
    }
    for lib, man in libs:
        desc[lib.name] = "Apache TVM compiled library"
        if man is not None:
            desc[man.name] = "manifest of the TVM library (target, inputs, outputs, how to load it)"
    for path in sorted(out.iterdir()):
        if path.name != "README.md":
            L.append(f"- `{path.name}` ({path.stat().st_size:,} B): {desc.get(path.name, '')}")
    L.append("- `README.md`: this file\n")
    L.append("## Inputs and outputs\n")
    L.extend(_io_lines(info))
    L.append(f"\n{info.macs:,} MACs, {info.weight_bytes:,} B of weights.\n")
    if runtime == "tflm":
        L.extend(_tflm_section(run, out, info, record))
    else:
        L.extend(_linux_section(run, out, info, libs))
    return "\n".join(L).rstrip() + "\n"
