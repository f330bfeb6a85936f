#!/usr/bin/env python3
"""qnas-edge board agent: measure one model on this board and print ONE JSON object.

Self-contained on purpose: this folder (`qnas_agent.py` + `qnas_board_facts.py`) is copied to a Linux
board (Raspberry Pi, mobile-SoC dev kit) and run with the board's own Python (3.7+), needing only the
standard library, numpy and a runtime made for boards: tflite_runtime or ai_edge_litert for .tflite
files (never TensorFlow), tvm.runtime for TVM-compiled libraries. Figures are measured here, never
estimated.

Usage:  python3 qnas_agent.py --serve                (what the SSH bridge does: one JSON request per
                                                      stdin line, one JSON answer per stdout line,
                                                      exits at EOF, i.e. when the SSH session ends)
        python3 qnas_agent.py REQUEST.json           (one request from a file)
        python3 qnas_agent.py --model M.tflite [--runs N] [--warmup W] [--threads T] [--input X.npy]

Output (stdout): {"ok": true, "latency_ms": {"median","p90","min","max"}, "samples_ms": [...],
"runtime": {"name","version"}, "peak_rss_bytes", "threads", "cpu_model", "temperature_c",
"throttled", "output", ...} or {"ok": false, "error": "...", "missing": "pkg", "pip": "..."}.
Exit codes: 0 ok, 2 bad input (model cannot be loaded/run), 3 missing runtime or numpy.
"""


import json
import os
import platform
import sys
import threading
import time

AGENT_VERSION = 1
MAX_OUTPUT_VALUES = 4096


class AgentError(Exception):
    def __init__(self, message, code=2, **fields):
        Exception.__init__(self, message)
        self.code = code
        self.fields = fields


def _pip(package):
    """The install command for this very interpreter (a venv's python, not whatever python3 is first)."""
    exe = sys.executable or "python3"
    if any(c in exe for c in " '\"$;&|<>()`\\"):
        exe = "'" + exe.replace("'", "'\\''") + "'"
    return f"{exe} -m pip install {package}"


def _load_request(argv):
    import argparse

    p = argparse.ArgumentParser(description="qnas-edge board agent")
    p.add_argument("request", nargs="?", help="JSON request file (paths in it are relative to it)")
    p.add_argument("--serve", action="store_true", help="answer JSON requests read line by line from stdin")
    p.add_argument("--model", help=".tflite model")
    p.add_argument("--tvm-lib", help="TVM-compiled library (.so) to profile instead, if tvm is installed")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--input", help=".npy (one input) or .npz (one array per input, in order)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.serve:
        return None
    if args.request:
        base = os.path.dirname(os.path.abspath(args.request))
        with open(args.request) as fh:
            req = json.load(fh)
        for key in ("model", "tvm_lib", "input"):
            if req.get(key):
                req[key] = os.path.join(base, req[key])
        return req
    if not args.model:
        raise AgentError("no model given: pass a request file or --model M.tflite", code=2)
    return {"model": args.model, "tvm_lib": args.tvm_lib, "runs": args.runs, "warmup": args.warmup,
            "threads": args.threads, "input": args.input, "seed": args.seed}


def _board_facts():
    """The agent's companion module (copied next to this file), imported without writing bytecode."""
    sys.dont_write_bytecode = True
    import qnas_board_facts
    return qnas_board_facts


def _import_numpy():
    try:
        import numpy as np
    except ImportError:
        raise AgentError(f"numpy is not installed for {sys.executable}", code=3,
                         missing="numpy", pip=_pip("numpy")) from None
    return np


def _tflite_interpreter_class():
    """(Interpreter class, runtime name, version) of the board's TFLite runtime.

    Only the runtimes made for boards: `tflite_runtime`, then `ai_edge_litert`. Never TensorFlow (a
    board does not have it, and a host's full TensorFlow would measure something else)."""
    tried = []
    try:
        import tflite_runtime
        from tflite_runtime.interpreter import Interpreter
        return Interpreter, "tflite_runtime", getattr(tflite_runtime, "__version__", "?")
    except ImportError as exc:
        tried.append(f"tflite_runtime ({exc})")
    try:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter, "ai_edge_litert", getattr(ai_edge_litert, "__version__", "?")
    except ImportError as exc:
        tried.append(f"ai_edge_litert ({exc})")
    raise AgentError(
        "no TFLite runtime for {}: tried {}".format(sys.executable, "; ".join(tried)), code=3,
        missing="tflite-runtime", pip=_pip("tflite-runtime"), alternative=_pip("ai-edge-litert"))


def _has_module(name):
    """Whether `name` is importable, without importing it (tvm takes seconds to import)."""
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _random_input(np, rng, shape, dtype):
    dtype = np.dtype(dtype)
    shape = tuple(int(d) if int(d) > 0 else 1 for d in shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = max(int(info.min), -128), min(int(info.max), 255)
        return rng.randint(lo, hi + 1, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.randint(0, 2, size=shape).astype(dtype)
    return rng.random_sample(shape).astype(dtype)


def _given_inputs(np, path, count):
    if path.endswith(".npz"):
        data = np.load(path)
        arrays = [data[k] for k in data.files]
    else:
        arrays = [np.load(path)]
    if len(arrays) != count:
        raise AgentError(f"input file {path} holds {len(arrays)} arrays, the model has {count} inputs", code=2)
    return arrays


def _percentile_90(sorted_ms):
    return sorted_ms[min(len(sorted_ms) - 1, int(round(0.9 * (len(sorted_ms) - 1))))]


def _time_loop(invoke, runs, warmup):
    t0 = time.perf_counter()
    for _ in range(warmup):
        invoke()
    t1 = time.perf_counter()
    samples = []
    for _ in range(runs):
        s = time.perf_counter()
        invoke()
        samples.append((time.perf_counter() - s) * 1000.0)
    t2 = time.perf_counter()
    return samples, t1 - t0, t2 - t1


def _profile_tflite(np, req, rng):
    Interpreter, name, version = _tflite_interpreter_class()
    threads = int(req.get("threads") or 1)
    t_load = time.perf_counter()
    try:
        interp = Interpreter(model_path=req["model"], num_threads=threads)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise AgentError(f"{name} cannot load the model: {_last_line(exc)}", code=2) from None
    inputs = interp.get_input_details()
    if req.get("input"):
        arrays = _given_inputs(np, req["input"], len(inputs))
    else:
        arrays = [_random_input(np, rng, d["shape"], d["dtype"]) for d in inputs]
    for d, a in zip(inputs, arrays):  # noqa: B905 - zip(strict=) needs 3.10, boards run 3.7+
        try:
            interp.set_tensor(d["index"], np.asarray(a, dtype=d["dtype"]).reshape(d["shape"]))
        except ValueError as exc:
            raise AgentError(f"input does not fit tensor {d['name']} {list(d['shape'])}: {exc}",
                             code=2) from None
    load_s = time.perf_counter() - t_load
    samples, warm_s, timed_s = _time_loop(interp.invoke, int(req["runs"]), int(req["warmup"]))
    out_d = interp.get_output_details()[0]
    out = interp.get_tensor(out_d["index"])
    scale, zero = (out_d.get("quantization") or (0.0, 0))[:2]
    return {
        "kind": "tflite", "runtime": {"name": name, "version": str(version)}, "threads": threads,
        "samples_ms": samples, "load_s": load_s, "warmup_s": warm_s, "timed_s": timed_s,
        "output": out, "output_dtype": str(out.dtype), "output_scale": float(scale),
        "output_zero_point": int(zero),
        "inputs": [{"shape": [int(x) for x in d["shape"]], "dtype": np.dtype(d["dtype"]).name} for d in inputs],
    }


def _profile_tvm(np, req, rng):
    """Run a TVM-compiled library (Relax VM executable exported with export_library)."""
    threads = int(req.get("threads") or 1)
    os.environ.setdefault("TVM_NUM_THREADS", str(threads))
    try:
        import tvm
        import tvm.runtime
    except ImportError as exc:
        raise AgentError(f"no TVM runtime for {sys.executable} ({exc})", code=3,
                         missing="apache-tvm", pip=_pip("apache-tvm")) from None
    specs = req.get("inputs") or []
    if not specs and req.get("model"):  # take the input shapes from the .tflite it was compiled from
        try:
            Interpreter = _tflite_interpreter_class()[0]
            details = Interpreter(model_path=req["model"]).get_input_details()
            specs = [{"shape": [int(x) for x in d["shape"]], "dtype": np.dtype(d["dtype"]).name}
                     for d in details]
        except (AgentError, ValueError, RuntimeError):
            specs = []
    if not specs:
        raise AgentError("a TVM library needs the input shapes and dtypes in the request", code=2)
    t_load = time.perf_counter()
    try:
        lib = tvm.runtime.load_module(req["tvm_lib"])
        VirtualMachine = getattr(tvm.runtime, "vm", None)
        VirtualMachine = getattr(VirtualMachine, "VirtualMachine", None)
        if VirtualMachine is None:
            from tvm.relax import VirtualMachine
        dev = tvm.cpu(0)
        vm = VirtualMachine(lib, dev)
    except Exception as exc:  # any TVM failure to load is a bad library for this board
        raise AgentError(f"TVM cannot load {os.path.basename(req['tvm_lib'])}: {_last_line(exc)}",
                         code=2) from None
    if req.get("input"):
        arrays = _given_inputs(np, req["input"], len(specs))
    else:
        arrays = [_random_input(np, rng, s["shape"], s["dtype"]) for s in specs]
    make = getattr(tvm.runtime, "tensor", None) or tvm.nd.array
    args = [make(np.ascontiguousarray(a, dtype=s["dtype"]).reshape(s["shape"]), dev)
            for a, s in zip(arrays, specs)]  # noqa: B905 - boards run Python 3.7+
    main = vm["main"]
    result = [None]

    def invoke():
        result[0] = main(*args)

    load_s = time.perf_counter() - t_load
    samples, warm_s, timed_s = _time_loop(invoke, int(req["runs"]), int(req["warmup"]))
    out = result[0]
    while isinstance(out, (list, tuple)) or type(out).__name__ in ("Array", "ADT", "Tuple"):
        out = out[0]
    out = out.numpy()
    return {
        "kind": "tvm", "runtime": {"name": "tvm", "version": str(getattr(tvm, "__version__", "?"))},
        "threads": threads, "samples_ms": samples, "load_s": load_s, "warmup_s": warm_s,
        "timed_s": timed_s, "output": out, "output_dtype": str(out.dtype),
    }


def _last_line(exc):
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def measure(req):
    """Profile the request's model; returns the JSON-ready result dict (raises AgentError)."""
    t_start = time.perf_counter()
    np = _import_numpy()
    req.setdefault("runs", 10)
    req.setdefault("warmup", 3)
    if int(req["runs"]) < 1:
        raise AgentError("runs must be >= 1", code=2)
    rng = np.random.RandomState(int(req.get("seed") or 0))
    note = None
    result = None
    if req.get("tvm_lib"):
        try:
            result = _profile_tvm(np, req, rng)
        except AgentError as exc:
            if exc.code != 3 or not req.get("model"):
                raise
            note = "the board has no TVM runtime ({}); profiled the .tflite instead".format(exc.fields["pip"])
    if result is None:
        if not req.get("model"):
            raise AgentError("no .tflite model in the request", code=2)
        result = _profile_tflite(np, req, rng)
    samples = result["samples_ms"]
    s = sorted(samples)
    n = len(s)
    median = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0
    out = result.pop("output")
    facts = _board_facts()
    flat = [float(v) for v in out.reshape(-1)[:MAX_OUTPUT_VALUES]]
    result.update({
        "ok": True, "agent_version": AGENT_VERSION, "runs": len(samples), "warmup": int(req["warmup"]),
        "latency_ms": {"median": median, "p90": _percentile_90(s), "min": s[0], "max": s[-1]},
        "output": flat, "output_truncated": int(out.size) > MAX_OUTPUT_VALUES,
        "output_shape": [int(d) for d in out.shape],
        "peak_rss_bytes": facts.peak_rss_bytes(),
        "python": platform.python_version(), "numpy": np.__version__, "hostname": platform.node(),
        "agent_s": time.perf_counter() - t_start,
    })
    if note:
        result["note"] = note
    result.update(facts.cpu_model())
    result.update(facts.thermal())
    return result


def _answer(req):
    """(JSON-ready answer, exit code) for one request; never raises for a bad model or request."""
    try:
        return measure(req), 0
    except AgentError as exc:
        doc = {"ok": False, "error": str(exc), "code": exc.code}
        doc.update(exc.fields)
        return doc, exc.code
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "code": 2}, 2


def _emit(doc):
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def serve():
    """Answer one JSON request per stdin line until EOF (the session is gone: exit at once)."""
    import queue

    lines = queue.Queue()

    def reader():
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        while True:
            try:
                line = stream.readline()
            except (OSError, ValueError):
                line = b""
            if not line:
                os._exit(0)  # EOF: nobody is listening any more, stop even mid-measurement
            lines.put(line)

    t = threading.Thread(target=reader, name="qnas-agent-stdin")
    t.daemon = True
    t.start()
    hello = {"ok": True, "ready": True, "agent_version": AGENT_VERSION, "python": platform.python_version(),
             "pid": os.getpid(), "hostname": platform.node(), "tvm": _has_module("tvm")}
    try:  # import numpy and the runtime now, so the first request is not charged for it
        _import_numpy()
        hello["runtime"] = _tflite_interpreter_class()[1]
    except AgentError as exc:
        hello["runtime_missing"] = exc.fields.get("missing")
    _emit(hello)
    while True:
        line = lines.get()
        try:
            req = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
            if not isinstance(req, dict):
                raise ValueError("request must be a JSON object")
        except ValueError as exc:
            _emit({"ok": False, "error": f"bad request line: {exc}", "code": 2})
            continue
        if req.get("quit"):
            return 0
        _emit(_answer(req)[0])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        req = _load_request(argv)
    except AgentError as exc:
        _emit({"ok": False, "error": str(exc), "code": exc.code})
        return exc.code
    except (OSError, ValueError) as exc:
        _emit({"ok": False, "error": f"cannot read the request: {exc}", "code": 2})
        return 2
    if req is None:
        return serve()
    doc, code = _answer(req)
    _emit(doc)
    return code


if __name__ == "__main__":
    sys.exit(main())
