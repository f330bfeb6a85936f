"""The Linux path: int8 .tflite -> Apache TVM (Relax) -> shared library for the board's target.

`tvm.relax.frontend.tflite.from_tflite` imports the flatbuffer (via the `tflite` bindings), `tvm.compile`
builds it for the profile's `tvm_target`, and `export_library` links it: with Debian's
`aarch64-linux-gnu-gcc` when the target triple is aarch64 (the result is checked to be an AArch64 ELF),
with the host compiler otherwise. The same Relax module is also built for the host and run here; its
output must be within 1 quantization step of the TFLite interpreter's (default CPU kernels). A manifest JSON next to the
library says how to load and call it on the board.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qnas_edge.errors import RunFailed, UsageError

ELF_MACHINES = {62: "x86_64", 183: "aarch64", 40: "arm", 243: "riscv"}
_CROSS_CC = {"aarch64": "aarch64-linux-gnu-gcc", "arm": "arm-linux-gnueabihf-gcc"}


@dataclass(frozen=True)
class TvmArtifact:
    library: str            # path of the shared library
    manifest: str           # path of the manifest JSON
    target: dict            # TVM target (JSON dict form)
    machine: str            # ELF machine of the library (x86_64, aarch64, ...)
    host_max_abs_diff: int  # host build vs TFLite interpreter, quantization steps

    def to_dict(self) -> dict:
        return asdict(self)


def parse_target(target: str | dict) -> dict:
    """Profile target string ('llvm -mtriple=... -mcpu=... -mattr=+neon -num-cores=4') -> TVM's JSON
    dict form (TVM 0.27 no longer parses the CLI string form)."""
    if isinstance(target, dict):
        return dict(target)
    parts = shlex.split(target)
    if not parts:
        raise UsageError("empty tvm_target in the board profile; set e.g. tvm_target = \"llvm\"")
    out: dict = {"kind": parts[0]}
    for p in parts[1:]:
        if not p.startswith("-") or "=" not in p:
            raise UsageError(f"tvm_target option {p!r} is not of the form -key=value; fix the board profile")
        key, val = p.lstrip("-").split("=", 1)
        if key in ("mattr", "libs", "keys"):
            out[key] = val.split(",")
        elif val.lstrip("-").isdigit():
            out[key] = int(val)
        else:
            out[key] = val
    return out


def elf_machine(path: str | Path) -> str:
    """ELF machine name of a binary (reads e_machine from the header)."""
    head = Path(path).read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        return "not-elf"
    code = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return ELF_MACHINES.get(code, f"em{code}")


def _target_machine(target: dict) -> str:
    triple = str(target.get("mtriple", ""))
    if triple.startswith(("aarch64", "arm64")):
        return "aarch64"
    if triple.startswith("arm"):
        return "arm"
    return "x86_64" if not triple or triple.startswith("x86_64") else triple.split("-")[0]


def import_tflite(data: bytes):
    """Relax IRModule of an int8 .tflite."""
    import tflite
    from tvm.relax.frontend.tflite import from_tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    mod = from_tflite(model)
    return mod[0] if isinstance(mod, tuple) else mod


def run_library(lib_path: str | Path, x_int8: np.ndarray) -> np.ndarray:
    """Load an exported host library and run `main` once (what the manifest tells the board to do)."""
    import tvm
    from tvm import relax

    lib = tvm.runtime.load_module(str(lib_path))
    vm = relax.VirtualMachine(lib, tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(np.ascontiguousarray(x_int8)))
    if not hasattr(out, "numpy"):
        out = out[0]
    return out.numpy()


def compile_tvm(model_path: Path, target: str | dict, out_dir: Path, x_check: np.ndarray,
                threads: int = 2, basename: str = "model_tvm") -> TvmArtifact:
    """Compile for `target` into out_dir/<basename>.so (+ .json manifest), verifying a host build."""
    import tvm

    from device_profiles.tflite_model import parse_tflite
    from qnas_edge.pipeline.quantize import run_int8

    data = Path(model_path).read_bytes()
    info = parse_tflite(data)
    tgt = parse_target(target)
    machine = _target_machine(tgt)
    try:
        mod = import_tflite(data)
        lib_path = Path(out_dir) / f"{basename}.so"
        ex = tvm.compile(mod, target=tvm.target.Target(tgt))
        if machine == "x86_64":
            ex.export_library(str(lib_path))
            host_lib = lib_path
        else:
            if machine not in _CROSS_CC:
                raise RunFailed(f"no cross compiler known for {machine}; supported: {', '.join(_CROSS_CC)}")
            ex.export_library(str(lib_path), cc=_CROSS_CC[machine])
            host_lib = Path(out_dir) / f".{basename}_host.so"
            tvm.compile(mod, target=tvm.target.Target({"kind": "llvm"})).export_library(str(host_lib))
    except (RunFailed, UsageError):
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise RunFailed(f"TVM compilation failed: {first[:300]}") from None
    got = elf_machine(lib_path)
    if got != machine:
        raise RunFailed(f"TVM library is a {got} ELF, expected {machine}")
    host_out = run_library(host_lib, x_check)
    if host_lib != lib_path:
        host_lib.unlink()
    ref = run_int8(data, x_check, threads)
    diff = int(np.abs(host_out.astype(np.int32) - ref.astype(np.int32)).max())
    if diff > 1:
        raise RunFailed(f"TVM host build differs from TFLite by {diff} quantization steps (> 1)")
    inp, outp = info.inputs[0], info.outputs[0]
    manifest = {
        "format": "tvm-relax-executable",
        "tvm_version": tvm.__version__,
        "library": lib_path.name,
        "machine": machine,
        "target": tgt,
        "entry": "main",
        "inputs": [{"name": inp.name, "shape": list(inp.shape), "dtype": "int8", "scale": inp.scale,
                    "zero_point": inp.zero_point}],
        "outputs": [{"name": outp.name, "shape": list(outp.shape), "dtype": "int8", "scale": outp.scale,
                     "zero_point": outp.zero_point}],
        "load": ("import tvm; from tvm import relax; lib = tvm.runtime.load_module('" + lib_path.name + "'); "
                 "vm = relax.VirtualMachine(lib, tvm.cpu()); y = vm['main'](tvm.runtime.tensor(x_int8)).numpy()"),
        "requires": f"apache-tvm runtime {tvm.__version__} on the board",
        "host_check_max_abs_diff": diff,
    }
    man_path = Path(out_dir) / f"{basename}.json"
    man_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return TvmArtifact(str(lib_path), str(man_path), tgt, got, diff)
