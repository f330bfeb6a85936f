"""Facts about the board a measurement ran on: CPU and board model, temperature, throttling, peak RSS.

The companion of `qnas_agent.py` (copied next to it; the same rules: Python 3.7+, standard library only).
Every fact is best effort: None where the board does not expose it.
"""

import os
import platform
import shutil
import subprocess


def read(path):
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def cpu_model():
    info = read("/proc/cpuinfo") or ""
    fields = {}
    for line in info.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    board = (read("/proc/device-tree/model") or "").strip("\x00\n ")
    cpu = fields.get("model name") or fields.get("Hardware") or fields.get("Processor") or platform.processor()
    return {"cpu_model": cpu or platform.machine(), "board_model": board or fields.get("Model"),
            "machine": platform.machine(), "cpu_count": os.cpu_count()}


_THROTTLE_BITS = {0: "under-voltage", 1: "arm-frequency-capped", 2: "throttled", 3: "soft-temperature-limit",
                  16: "under-voltage-occurred", 17: "arm-frequency-capping-occurred",
                  18: "throttling-occurred", 19: "soft-temperature-limit-occurred"}


def thermal():
    out = {"temperature_c": None, "throttled": None}
    raw = read("/sys/class/thermal/thermal_zone0/temp")
    try:
        if raw is not None:
            out["temperature_c"] = int(raw.strip()) / 1000.0
    except ValueError:
        pass
    exe = shutil.which("vcgencmd") if hasattr(shutil, "which") else None
    if exe:
        try:
            proc = subprocess.run([exe, "get_throttled"], capture_output=True, timeout=3)
            text = proc.stdout.decode("ascii", "replace").strip()
            if proc.returncode == 0 and "=" in text:
                value = int(text.split("=", 1)[1], 16)
                out["throttled"] = {"raw": hex(value),
                                    "flags": [n for b, n in sorted(_THROTTLE_BITS.items()) if value >> b & 1]}
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    return out


def peak_rss_bytes():
    status = read("/proc/self/status") or ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    try:
        import resource
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, ValueError):
        return None
