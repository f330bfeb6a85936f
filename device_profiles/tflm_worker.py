"""Subprocess worker for the TFLM arena search (run as `python -m device_profiles.tflm_worker`).

tflite-micro's Python interpreter can crash the process (SIGSEGV) when handed an arena far too small,
so allocations are tried here, one line of output per attempt, and the parent survives a crash.
Output lines: `TRY n` before an attempt, then `OK n` or `FAIL n <reason>`.
"""

import sys


def main() -> int:
    path, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
    from tflite_micro.python.tflite_micro import runtime

    data = open(path, "rb").read()
    mode = "probe"
    lo = hi = 0
    if sizes and sizes[0] == -1:  # bisect mode: -1 LO HI with LO failing and HI succeeding
        mode, lo, hi = "bisect", sizes[1], sizes[2]
    todo = list(sizes) if mode == "probe" else []
    while True:
        if mode == "probe":
            if not todo:
                break
            n = todo.pop(0)
        else:
            if hi - lo <= 1:
                break
            n = (lo + hi) // 2
        print(f"TRY {n}", flush=True)
        try:
            interp = runtime.Interpreter.from_bytes(data, arena_size=n)
            del interp
            print(f"OK {n}", flush=True)
            hi = n
        except Exception as exc:  # tflite-micro raises RuntimeError on a failed allocation
            print(f"FAIL {n} {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", flush=True)
            lo = n
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
