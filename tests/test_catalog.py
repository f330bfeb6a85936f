"""The bundled board catalog, the profile schema's error messages, user profiles, and the grounding of the
cost coefficients in published on-board latencies (MLPerf Tiny reference runs)."""

from __future__ import annotations

import importlib.util
import math
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest

from device_profiles.catalog import BUNDLED_DIR, get_profile, load_catalog, user_profile_dir
from device_profiles.errors import ProfileError
from device_profiles.profile import FAMILIES, LINKS, RUNTIMES, load_profile

REQUIRED_IDS = ("stm32l4r5", "stm32f746", "stm32h743", "stm32h7a3", "stm32u575", "nano33ble",
                "rpi4", "rpi5", "rpizero2w", "linux-host")
REQUIRED_FAMILIES = ("stm32", "arduino", "raspberry-pi", "mobile-soc", "linux-host")
BOARD_FILES = sorted(BUNDLED_DIR.glob("*.toml"))
MAC_KINDS = ("conv_2d", "conv_2d_1x1", "depthwise_conv_2d", "fully_connected")
# USB vendor ids of the debug probes / bridges the boards enumerate as.
VENDOR_BY_FAMILY = {"stm32": {0x0483}, "arduino": {0x2341}, "nrf": {0x1366},
                    "esp32": {0x303A, 0x10C4}, "raspberry-pi": {0x2E8A}}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(include_user=False)


# ---- the catalog ------------------------------------------------------------------------------------

def test_catalog_has_at_least_12_boards_with_required_ids(catalog):
    assert len(catalog) >= 12
    missing = [b for b in REQUIRED_IDS if b not in catalog]
    assert not missing, f"required boards missing from the catalog: {missing}"
    assert any(p.family == "mobile-soc" and p.link.kind == "ssh" for p in catalog.values())


def test_every_family_present(catalog):
    families = {p.family for p in catalog.values()}
    assert set(REQUIRED_FAMILIES) <= families


def test_file_name_matches_board_id():
    for path in BOARD_FILES:
        assert load_profile(path).id == path.stem, path


@pytest.mark.parametrize("board_id", REQUIRED_IDS)
def test_profiles_are_internally_consistent(catalog, board_id):
    _check_consistent(catalog[board_id])


def test_all_profiles_consistent(catalog):
    for prof in catalog.values():
        _check_consistent(prof)


def _check_consistent(p) -> None:
    assert p.runtime in RUNTIMES and p.family in FAMILIES and p.link.kind in LINKS
    assert 1e6 <= p.clock_hz <= 6e9, p.id
    assert 0 < p.flash_available_bytes < p.flash_bytes and 0 < p.ram_available_bytes < p.ram_bytes
    # default budgets fit in what the firmware/OS leaves free
    if p.budgets.ram_bytes:
        assert p.budgets.ram_bytes <= p.ram_available_bytes, p.id
    if p.budgets.flash_bytes:
        assert p.budgets.flash_bytes <= p.flash_available_bytes, p.id
    assert p.budgets.latency_ms and p.budgets.latency_ms > 0, p.id
    assert p.power.active_mw > p.power.idle_mw >= 0, p.id
    for kind in (*MAC_KINDS, "default"):
        assert kind in p.cost.cycles_per_mac, (p.id, kind)
        assert 0 < p.cost.cycles_per_mac[kind] < 50, (p.id, kind)
    assert "default" in p.cost.cycles_per_element and p.cost.float_slowdown > 0
    if p.is_mcu:
        assert p.cost.float_slowdown >= 1.0, p.id      # no MCU runs float faster than CMSIS-NN int8
        assert p.link.kind == "serial" and p.link.baud and p.link.usb_ids, p.id
        assert p.threads == 1
    else:
        assert p.link.kind == "ssh" and not p.link.usb_ids, p.id
        assert p.tvm_target, f"{p.id}: Linux boards need a TVM target for `build`"


def test_usb_ids_are_the_real_vendor_ids(catalog):
    for p in catalog.values():
        if p.family in VENDOR_BY_FAMILY and p.link.kind == "serial":
            vendors = {v for v, _ in p.link.usb_ids}
            assert vendors <= VENDOR_BY_FAMILY[p.family], (p.id, [f"{v:04x}" for v in vendors])
    # ST-LINK/V2-1 on the NUCLEO-144 L4R5 and the F746 Discovery, STLINK-V3E on the newer NUCLEO boards
    assert (0x0483, 0x374B) in catalog["stm32l4r5"].link.usb_ids
    assert (0x0483, 0x374B) in catalog["stm32f746"].link.usb_ids
    for bid in ("stm32h743", "stm32h7a3", "stm32u575"):
        assert (0x0483, 0x374E) in catalog[bid].link.usb_ids
    assert (0x2341, 0x805A) in catalog["nano33ble"].link.usb_ids


def test_llvm_cpu_check_rejects_unknown_cpus():
    from tvm.target import codegen

    assert not codegen.llvm_is_valid_cpu("cortex-a99", "aarch64-linux-gnu")


def test_tvm_targets_name_cpus_llvm_knows(catalog):
    from tvm.target import codegen

    for p in catalog.values():
        if not p.tvm_target:
            continue
        parts = shlex.split(p.tvm_target)
        assert parts[0] == "llvm", p.id
        opts = dict(o.lstrip("-").split("=", 1) for o in parts[1:])
        if "mcpu" in opts:
            assert codegen.llvm_is_valid_cpu(opts["mcpu"], opts["mtriple"]), \
                f"{p.id}: LLVM does not know -mcpu={opts['mcpu']} for {opts['mtriple']}"
            assert opts["mtriple"] == "aarch64-linux-gnu" and opts.get("mattr") == "+neon", p.id
        if "num-cores" in opts:
            assert int(opts["num-cores"]) == p.threads, p.id


# ---- every number cites its source --------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.\"'])[-+]?(\d[\d_]*(\.\d+)?([eE][-+]?\d+)?|inf|nan)\b")


def uncited_number_lines(text: str) -> list[str]:
    """Assignment lines holding a number with no citation.

    Rule: a `key = value` line whose value has a numeric literal (outside strings) carries a `#` comment
    on the same line, or the line right above it is a comment (the source of that line).
    """
    bad = []
    prev_comment = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            prev_comment = False
            continue
        if line.startswith("#"):
            prev_comment = True
            continue
        code, comment = _split_comment(line)
        if "=" in code and not code.startswith("["):
            value = code.split("=", 1)[1]
            value = re.sub(r'"[^"]*"', '""', value)
            if _NUMBER.search(value) and not comment and not prev_comment:
                bad.append(raw)
        prev_comment = False
    return bad


def _split_comment(line: str) -> tuple[str, str]:
    in_str = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_str = not in_str
        elif ch == "#" and not in_str:
            return line[:i].strip(), line[i + 1:].strip()
    return line, ""


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_every_number_cites_its_source(path):
    bad = uncited_number_lines(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.name}: numbers without a source comment:\n" + "\n".join(bad)


def test_citation_rule_catches_an_uncited_number():
    assert uncited_number_lines("clock_mhz = 120\n") == ["clock_mhz = 120"]
    assert uncited_number_lines("cost = { a = 1.5 }\n") == ["cost = { a = 1.5 }"]
    assert uncited_number_lines("clock_mhz = 120   # datasheet\n") == []
    assert uncited_number_lines("# datasheet §1\nclock_mhz = 120\n") == []
    assert uncited_number_lines('name = "Pi 4"\nusb = ["0483:374b"]\n') == []
    assert uncited_number_lines("# src\n\nx = 3\n") == ["x = 3"]   # a blank line breaks the link


# ---- schema errors: `file: key 'x': reason` -----------------------------------------------------------

def _base() -> dict:
    return tomllib.loads((BUNDLED_DIR / "stm32l4r5.toml").read_text(encoding="utf-8"))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _dump(data: dict) -> str:
    """Minimal TOML writer for profile-shaped documents (top-level scalars, then one level of tables)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _load_mutated(tmp_path: Path, mutate) -> ProfileError:
    data = _base()
    mutate(data)
    path = tmp_path / "board.toml"
    path.write_text(_dump(data), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    err = info.value
    assert err.exit_code == 2
    assert "\n" not in str(err)
    return err


def test_dump_round_trips_the_base_profile(tmp_path):
    path = tmp_path / "same.toml"
    path.write_text(_dump(_base()), encoding="utf-8")
    assert load_profile(path).cost == load_profile(BUNDLED_DIR / "stm32l4r5.toml").cost


SCHEMA_CASES = [
    ("missing key", lambda d: d.pop("clock_mhz"), "clock_mhz", "missing"),
    ("missing table", lambda d: d.pop("memory"), "memory", "missing table"),
    ("missing nested key", lambda d: d["memory"].pop("ram_kb"), "memory.ram_kb", "missing"),
    ("missing cost table", lambda d: d["cost"].pop("cycles_per_mac"), "cost.cycles_per_mac", "missing"),
    ("wrong type number", lambda d: d.update(clock_mhz="fast"), "clock_mhz", "must be a number"),
    ("wrong type string", lambda d: d.update(name=5), "name", "non-empty string"),
    ("wrong type table", lambda d: d.update(power=3), "power", "must be a table"),
    ("bool is not a number", lambda d: d["memory"].update(flash_kb=True), "memory.flash_kb", "must be a number"),
    ("wrong type coefficient", lambda d: d["cost"]["cycles_per_mac"].update(conv_2d="x"),
     "cost.cycles_per_mac.conv_2d", "must be a number"),
    ("unknown key", lambda d: d.update(colour="blue"), "colour", "unknown key"),
    ("unknown budget", lambda d: d["budgets"].update(speed=3), "budgets.speed", "unknown budget"),
    ("bad runtime", lambda d: d.update(runtime="onnx"), "runtime", "'onnx' is not one of tflm, tflite, tvm"),
    ("bad family", lambda d: d.update(family="pc"), "family", "'pc' is not one of"),
    ("bad link kind", lambda d: d["link"].update(kind="bluetooth"), "link.kind", "'bluetooth' is not one of"),
    ("flash reserve >= size", lambda d: d["memory"].update(flash_reserve_kb=2048), "memory.flash_reserve_kb",
     "reserve leaves no flash"),
    ("ram reserve > size", lambda d: d["memory"].update(ram_reserve_kb=4096), "memory.ram_reserve_kb",
     "reserve leaves no RAM"),
    ("bad usb id separator", lambda d: d["link"].update(usb=["0483-374b"]), "link.usb", "'0483:374b'"),
    ("bad usb id hex", lambda d: d["link"].update(usb=["zz:12"]), "link.usb", "'0483:374b'"),
    ("usb id not a string", lambda d: d["link"].update(usb=[1155]), "link.usb", "'0483:374b'"),
    ("infinite number", lambda d: d.update(clock_mhz=float("inf")), "clock_mhz", "must be finite"),
    ("nan number", lambda d: d["power"].update(active_mw=float("nan")), "power.active_mw", "must be finite"),
    ("negative number", lambda d: d["cost"].update(layer_overhead_cycles=-1), "cost.layer_overhead_cycles",
     "must be >= 0"),
    ("zero clock", lambda d: d.update(clock_mhz=0), "clock_mhz", "must be > 0"),
    ("ram budget above board", lambda d: d["budgets"].update(ram_kb=4096), "budgets.ram_kb",
     "exceeds the board's RAM 640 KB"),
    ("flash budget above board", lambda d: d["budgets"].update(flash_kb=9999), "budgets.flash_kb",
     "exceeds the board's flash 2048 KB"),
    ("bad id", lambda d: d.update(id="My Board"), "id", "lowercase"),
    ("serial without baud", lambda d: d["link"].pop("baud"), "link.baud", "missing"),
    ("tvm without target", lambda d: d.update(runtime="tvm"), "tvm_target", "missing"),
    ("empty cost table", lambda d: d["cost"].update(cycles_per_element={}), "cost.cycles_per_element",
     "at least one entry"),
]


@pytest.mark.parametrize("mutate,key,reason", [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES])
def test_schema_error_names_file_key_and_reason(tmp_path, mutate, key, reason):
    err = _load_mutated(tmp_path, mutate)
    msg = str(err)
    assert msg.startswith(f"{tmp_path / 'board.toml'}: key '{key}': "), msg
    assert reason in msg, msg


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("id = \n[memory\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"bad\.toml: not valid TOML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match=r"nope\.toml: profile file not found"):
        load_profile(tmp_path / "nope.toml")


# ---- user profiles: QNAS_EDGE_PROFILE_DIR and --profile FILE ------------------------------------------

def _write_board(path: Path, board_id: str, **top) -> Path:
    data = _base()
    data.update(id=board_id, name=f"My {board_id}", **top)
    path.write_text(_dump(data), encoding="utf-8")
    return path


def test_user_profile_dir_is_picked_up(tmp_path, monkeypatch):
    monkeypatch.setenv("QNAS_EDGE_PROFILE_DIR", str(tmp_path))
    assert user_profile_dir() == tmp_path
    _write_board(tmp_path / "myboard.toml", "myboard", clock_mhz=80)
    cat = load_catalog()
    assert cat["myboard"].clock_hz == 80_000_000
    assert "stm32l4r5" in cat                           # bundled boards stay
    assert get_profile("myboard").name == "My myboard"
    assert "myboard" not in load_catalog(include_user=False)


def test_user_profile_overrides_bundled_board(tmp_path, monkeypatch):
    monkeypatch.setenv("QNAS_EDGE_PROFILE_DIR", str(tmp_path))
    _write_board(tmp_path / "l4.toml", "stm32l4r5", clock_mhz=80)
    assert get_profile("stm32l4r5").clock_hz == 80_000_000
    assert get_profile("stm32l4r5").source == str(tmp_path / "l4.toml")


def test_malformed_user_profile_is_reported_with_its_file(tmp_path, monkeypatch):
    monkeypatch.setenv("QNAS_EDGE_PROFILE_DIR", str(tmp_path))
    _write_board(tmp_path / "broken.toml", "broken", runtime="onnx")
    with pytest.raises(ProfileError, match=r"broken\.toml: key 'runtime': 'onnx' is not one of"):
        load_catalog()


def test_profile_file_option_adds_a_board(tmp_path):
    path = _write_board(tmp_path / "bench.toml", "bench-board", clock_mhz=96)
    prof = get_profile("bench-board", extra_files=[path])
    assert prof.clock_hz == 96_000_000 and prof.source == str(path)
    assert "bench-board" in load_catalog(extra_files=[path])
    with pytest.raises(ProfileError, match="unknown board 'bench-board'"):
        get_profile("bench-board")


def test_explicit_profile_wins_over_user_dir(tmp_path, monkeypatch):
    user = tmp_path / "user"
    user.mkdir()
    monkeypatch.setenv("QNAS_EDGE_PROFILE_DIR", str(user))
    _write_board(user / "x.toml", "xboard", clock_mhz=50)
    explicit = _write_board(tmp_path / "x2.toml", "xboard", clock_mhz=60)
    assert get_profile("xboard", extra_files=[explicit]).clock_hz == 60_000_000


def test_unknown_board_lists_close_matches():
    with pytest.raises(ProfileError) as info:
        get_profile("stm32l4r")
    msg = str(info.value)
    assert "unknown board 'stm32l4r'" in msg and "stm32l4r5" in msg and "--profile" in msg
    with pytest.raises(ProfileError, match="qnas-edge boards"):
        get_profile("zzzzzz")


# ---- coefficients vs published on-board latencies ---------------------------------------------------

def _benchmark_module():
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "cost_model_accuracy.py"
    spec = importlib.util.spec_from_file_location("cost_model_accuracy", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def mlperf_tiny_models(tmp_path_factory):
    """The four MLPerf Tiny reference architectures as int8 .tflite (random weights), built with TF."""
    mod = _benchmark_module()
    return mod, mod.build_models(tmp_path_factory.mktemp("mlperf_tiny"), ("kws", "vww", "ic", "ad"))


@pytest.mark.timeout(300)
def test_mlperf_models_have_the_reference_mac_counts(mlperf_tiny_models):
    from device_profiles.tflite_model import parse_tflite

    _, models = mlperf_tiny_models
    # hand-computed: KWS conv 320,000 + 4x(dw 72,000 + pw 512,000) + fc 768; VWW and IC layer by layer
    # (COEFFICIENTS.md "Benchmark models"); AD 640*128 + 3*128^2 + 2*128*8 + 3*128^2 + 128*640
    expected = {"kws": 2_656_768, "vww": 7_489_664, "ic": 12_501_632, "ad": 264_192}
    for name, macs in expected.items():
        assert parse_tflite(models[name]).macs == macs, name


@pytest.mark.timeout(300)
def test_cortex_m_estimates_within_1_5x_of_published_runs(mlperf_tiny_models):
    from device_profiles.cost_model import CostModel

    mod, models = mlperf_tiny_models
    boards = mod.load_boards()
    checked = 0
    for pub in mod.PUBLISHED:
        if pub.model not in models:
            continue
        est = CostModel(boards[pub.board]).estimate_tflite(models[pub.model], arena=False)
        ratio = est.latency_ms / pub.latency_ms
        assert 1 / 1.5 <= ratio <= 1.5, f"{pub.board}/{pub.model}: estimate {est.latency_ms:.1f} ms vs " \
                                         f"published {pub.latency_ms:.1f} ms ({pub.source})"
        checked += 1
    assert checked == 12  # stm32l4r5 (M4), EK-RA6M4 (M33), EK-RA8D1 (M85, Helium): TFLM runs x 4 models


@pytest.mark.timeout(300)
def test_cortex_m33_boards_share_the_validated_coefficients(catalog, mlperf_tiny_models):
    """The EK-RA6M4 validation profile borrows stm32u575's cost table; nrf5340dk uses the same values."""
    mod, _ = mlperf_tiny_models
    boards = mod.load_boards()
    assert boards["ek-ra6m4"].cost == catalog["stm32u575"].cost
    assert catalog["nrf5340dk"].cost == catalog["stm32u575"].cost
    assert catalog["stm32l4r5"].cost == catalog["nano33ble"].cost == catalog["stm32f411"].cost
