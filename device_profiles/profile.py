"""The board profile record and its TOML loader with validation.

A profile says what a board can hold (flash, RAM, minus what firmware and runtime reserve), how fast it
runs each kind of layer (cost coefficients for the runtime used on it), how much power it draws, which
budgets a model must meet by default and how the host reaches it (USB serial or SSH).

Units used throughout the project: bytes, milliseconds, millijoules, milliwatts, hertz.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from device_profiles.errors import ProfileError

FAMILIES = ("stm32", "arduino", "nrf", "esp32", "raspberry-pi", "mobile-soc", "linux-host", "sbc")
RUNTIMES = ("tflm", "tflite", "tvm")
LINKS = ("serial", "ssh")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_USB_RE = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$")


@dataclass(frozen=True)
class Budgets:
    """Hard limits a deployable model must meet; None means unconstrained."""

    latency_ms: float | None = None
    ram_bytes: int | None = None
    flash_bytes: int | None = None
    energy_mj: float | None = None

    def as_dict(self) -> dict[str, float]:
        """Only the budgets that are set, keyed by metric name."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class CostCoefficients:
    """Linear cost model terms for one board + runtime.

    latency_cycles(layer) = cycles_per_mac[kind] * macs + cycles_per_element[kind] * output elements
                            + layer_overhead_cycles
    `kind` is the layer kind from `device_profiles.layers` (e.g. conv_2d, conv_2d_1x1, depthwise_conv_2d,
    fully_connected, add, mul, average_pool_2d, ...); `default` is used for kinds not listed.
    `float_slowdown` multiplies the cost of float32 layers on this runtime.
    """

    cycles_per_mac: dict[str, float]
    cycles_per_element: dict[str, float]
    layer_overhead_cycles: float
    invoke_overhead_cycles: float = 0.0
    float_slowdown: float = 1.0

    def mac_cost(self, kind: str) -> float:
        return self.cycles_per_mac.get(kind, self.cycles_per_mac.get("default", 0.0))

    def element_cost(self, kind: str) -> float:
        return self.cycles_per_element.get(kind, self.cycles_per_element.get("default", 0.0))


@dataclass(frozen=True)
class Power:
    """Power draw of the whole board while running inference and while idle (mW)."""

    active_mw: float
    idle_mw: float


@dataclass(frozen=True)
class Link:
    """How the host reaches the board: USB serial (VID:PID list, baud) or SSH (default user/port)."""

    kind: str
    baud: int | None = None
    usb_ids: tuple[tuple[int, int], ...] = ()
    ssh_user: str | None = None
    ssh_port: int = 22


@dataclass(frozen=True)
class Profile:
    """One board: memory, clock, runtime, cost coefficients, power, budgets and link."""

    id: str
    name: str
    family: str
    core: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    flash_reserve_bytes: int
    ram_reserve_bytes: int
    runtime: str
    cost: CostCoefficients
    power: Power
    budgets: Budgets
    link: Link
    tvm_target: str | None = None
    threads: int = 1
    source: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_mcu(self) -> bool:
        """True for boards whose runtime is TFLite Micro (bare metal, arena-based memory)."""
        return self.runtime == "tflm"

    @property
    def flash_available_bytes(self) -> int:
        return self.flash_bytes - self.flash_reserve_bytes

    @property
    def ram_available_bytes(self) -> int:
        return self.ram_bytes - self.ram_reserve_bytes

    def with_budgets(self, **overrides: float | None) -> Profile:
        """A copy with some budgets replaced (e.g. from --max-latency-ms); None leaves a budget as is."""
        cur = self.budgets.__dict__.copy()
        cur.update({k: v for k, v in overrides.items() if v is not None})
        return replace(self, budgets=Budgets(**cur))

    def with_cost(self, cost: CostCoefficients) -> Profile:
        return replace(self, cost=cost)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (used by `boards --json` / `boards show --json`)."""
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "core": self.core,
            "clock_mhz": self.clock_hz / 1e6,
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "flash_reserve_bytes": self.flash_reserve_bytes,
            "ram_reserve_bytes": self.ram_reserve_bytes,
            "runtime": self.runtime,
            "tvm_target": self.tvm_target,
            "threads": self.threads,
            "budgets": self.budgets.as_dict(),
            "power": {"active_mw": self.power.active_mw, "idle_mw": self.power.idle_mw},
            "cost": {
                "cycles_per_mac": dict(self.cost.cycles_per_mac),
                "cycles_per_element": dict(self.cost.cycles_per_element),
                "layer_overhead_cycles": self.cost.layer_overhead_cycles,
                "invoke_overhead_cycles": self.cost.invoke_overhead_cycles,
                "float_slowdown": self.cost.float_slowdown,
            },
            "link": {
                "kind": self.link.kind,
                "baud": self.link.baud,
                "usb_ids": [f"{v:04x}:{p:04x}" for v, p in self.link.usb_ids],
                "ssh_user": self.link.ssh_user,
                "ssh_port": self.link.ssh_port,
            },
            "source": self.source,
        }


class _Reader:
    """Typed access to a parsed TOML table that reports file, key and reason on any problem."""

    def __init__(self, data: dict[str, Any], path: str, prefix: str = "") -> None:
        self.data, self.path, self.prefix = data, path, prefix

    def fail(self, key: str, why: str) -> ProfileError:
        return ProfileError(f"{self.path}: key '{self.prefix}{key}': {why}")

    def table(self, key: str, required: bool = True) -> _Reader:
        val = self.data.get(key)
        if val is None:
            if required:
                raise self.fail(key, "missing table")
            val = {}
        if not isinstance(val, dict):
            raise self.fail(key, f"must be a table, got {type(val).__name__}")
        return _Reader(val, self.path, f"{self.prefix}{key}.")

    def str(self, key: str, required: bool = True, choices: tuple[str, ...] | None = None) -> str | None:
        val = self.data.get(key)
        if val is None:
            if required:
                raise self.fail(key, "missing")
            return None
        if not isinstance(val, str) or not val.strip():
            raise self.fail(key, "must be a non-empty string")
        if choices and val not in choices:
            raise self.fail(key, f"'{val}' is not one of {', '.join(choices)}")
        return val

    def num(self, key: str, required: bool = True, minimum: float = 0.0, positive: bool = False) -> float | None:
        val = self.data.get(key)
        if val is None:
            if required:
                raise self.fail(key, "missing")
            return None
        if isinstance(val, bool) or not isinstance(val, int | float):
            raise self.fail(key, f"must be a number, got {val!r}")
        if val != val or val in (float("inf"), float("-inf")):
            raise self.fail(key, "must be finite")
        if positive and val <= 0:
            raise self.fail(key, f"must be > 0, got {val}")
        if val < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {val}")
        return float(val)

    def num_table(self, key: str) -> dict[str, float]:
        tab = self.table(key)
        out = {}
        for k in tab.data:
            out[k] = tab.num(k)
        if not out:
            raise self.fail(key, "must list at least one entry")
        return out


_KB = 1024


def parse_profile(data: dict[str, Any], path: str) -> Profile:
    """Validate a parsed TOML document and build a Profile; raises ProfileError(file, key, reason)."""
    r = _Reader(data, path)
    known = {"id", "name", "family", "core", "clock_mhz", "runtime", "tvm_target", "threads", "notes",
             "memory", "budgets", "power", "cost", "link", "source"}
    for key in data:
        if key not in known:
            raise r.fail(key, f"unknown key (allowed: {', '.join(sorted(known))})")
    board_id = r.str("id")
    if not _ID_RE.match(board_id):
        raise r.fail("id", "use lowercase letters, digits, '-' and '_' only")
    runtime = r.str("runtime", choices=RUNTIMES)
    flash, ram, flash_res, ram_res = _memory(r.table("memory"))
    pw = r.table("power")
    return Profile(
        id=board_id, name=r.str("name"), family=r.str("family", choices=FAMILIES), core=r.str("core"),
        clock_hz=int(r.num("clock_mhz", positive=True) * 1e6),
        flash_bytes=flash, ram_bytes=ram, flash_reserve_bytes=flash_res, ram_reserve_bytes=ram_res,
        runtime=runtime, cost=_cost(r.table("cost")),
        power=Power(active_mw=pw.num("active_mw", positive=True), idle_mw=pw.num("idle_mw")),
        budgets=_budgets(r.table("budgets"), ram, flash), link=_link(r.table("link")),
        tvm_target=r.str("tvm_target", required=runtime == "tvm"),
        threads=int(r.num("threads", required=False, positive=True) or 1),
        source=path, notes=r.str("notes", required=False) or "",
    )


def _memory(mem: _Reader) -> tuple[int, int, int, int]:
    """(flash, RAM, flash reserve, RAM reserve) in bytes from the [memory] table (KB = 1024 B)."""
    flash = int(mem.num("flash_kb", positive=True) * _KB)
    ram = int(mem.num("ram_kb", positive=True) * _KB)
    flash_res = int(mem.num("flash_reserve_kb") * _KB)
    ram_res = int(mem.num("ram_reserve_kb") * _KB)
    if flash_res >= flash:
        raise mem.fail("flash_reserve_kb", "reserve leaves no flash for the model")
    if ram_res >= ram:
        raise mem.fail("ram_reserve_kb", "reserve leaves no RAM for the model")
    return flash, ram, flash_res, ram_res


def _cost(cost_t: _Reader) -> CostCoefficients:
    return CostCoefficients(
        cycles_per_mac=cost_t.num_table("cycles_per_mac"),
        cycles_per_element=cost_t.num_table("cycles_per_element"),
        layer_overhead_cycles=cost_t.num("layer_overhead_cycles"),
        invoke_overhead_cycles=cost_t.num("invoke_overhead_cycles", required=False) or 0.0,
        float_slowdown=cost_t.num("float_slowdown", required=False, positive=True) or 1.0,
    )


def _budgets(bt: _Reader, ram: int, flash: int) -> Budgets:
    """The [budgets] table; a RAM or flash budget above the board's capacity is an error."""
    for key in bt.data:
        if key not in ("latency_ms", "ram_kb", "flash_kb", "energy_mj"):
            raise bt.fail(key, "unknown budget (allowed: latency_ms, ram_kb, flash_kb, energy_mj)")
    ram_kb = bt.num("ram_kb", required=False, positive=True)
    flash_kb = bt.num("flash_kb", required=False, positive=True)
    budgets = Budgets(
        latency_ms=bt.num("latency_ms", required=False, positive=True),
        ram_bytes=int(ram_kb * _KB) if ram_kb else None,
        flash_bytes=int(flash_kb * _KB) if flash_kb else None,
        energy_mj=bt.num("energy_mj", required=False, positive=True),
    )
    if budgets.ram_bytes and budgets.ram_bytes > ram:
        raise bt.fail("ram_kb", f"budget {ram_kb:g} KB exceeds the board's RAM {ram // _KB} KB")
    if budgets.flash_bytes and budgets.flash_bytes > flash:
        raise bt.fail("flash_kb", f"budget {flash_kb:g} KB exceeds the board's flash {flash // _KB} KB")
    return budgets


def _link(lt: _Reader) -> Link:
    """The [link] table: serial (baud, USB VID:PID list) or ssh (user, port)."""
    kind = lt.str("kind", choices=LINKS)
    usb_ids = []
    for item in lt.data.get("usb", []) or []:
        if not isinstance(item, str) or not _USB_RE.match(item):
            raise lt.fail("usb", f"entries must look like '0483:374b', got {item!r}")
        vid, pid = item.split(":")
        usb_ids.append((int(vid, 16), int(pid, 16)))
    baud = lt.num("baud", required=kind == "serial", positive=True)
    return Link(kind=kind, baud=int(baud) if baud else None, usb_ids=tuple(usb_ids),
                ssh_user=lt.str("user", required=False),
                ssh_port=int(lt.num("port", required=False, positive=True) or 22))


def load_profile(path: str | Path) -> Profile:
    """Read and validate one board TOML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{p}: profile file not found") from None
    except OSError as exc:
        raise ProfileError(f"{p}: cannot read profile ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{p}: not valid TOML ({exc})") from None
    return parse_profile(data, str(p))
