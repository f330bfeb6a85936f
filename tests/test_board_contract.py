"""The Board contract, run against every kind of board through `open_board`, as the loop and `profile` use it.

* serial  - the virtual board process on a real pty, reached as a plain serial port (the firmware
            says `sim=1`, so its figures must still say `simulated`);
* ssh     - a real sshd on 127.0.0.1 with the board's own Python (tflite-runtime 2.14, numpy<2);
* virtual - the `virtual` kind, which starts and ends its board process itself.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware_bridge.board import Board, BoardInfo
from firmware_bridge.boards import BOARD_KINDS, board_class, open_board
from firmware_bridge.device import DeviceSpec
from firmware_bridge.errors import ModelRefused
from firmware_bridge.measurement import Measurement

pytestmark = pytest.mark.timeout(240)
KINDS = ["serial", "ssh", "virtual"]


class Case:
    """One kind of board to test: its profile, device, the source label and link prefix it must report."""

    def __init__(self, kind: str, profile, device: DeviceSpec, source: str, link: str) -> None:
        self.kind, self.profile, self.device, self.source, self.link = kind, profile, device, source, link


@pytest.fixture(params=KINDS)
def case(request, nano33ble) -> Case:
    kind = request.param
    if kind == "serial":
        vb = request.getfixturevalue("virtual_board_factory")(nano33ble)    # the profile's own baud
        return Case(kind, nano33ble, DeviceSpec(kind="serial", port=vb.path), "simulated", "virtual:/dev/")
    if kind == "ssh":
        from device_profiles.catalog import get_profile

        sshd = request.getfixturevalue("sshd")
        python = request.getfixturevalue("board_python")
        device = DeviceSpec(kind="ssh", host=sshd.host, identity=str(sshd.client_key),
                            known_hosts=str(sshd.known_hosts), board_python=python)
        return Case(kind, get_profile("linux-host"), device, "measured", f"ssh:{sshd.user}@127.0.0.1:")
    return Case(kind, nano33ble, DeviceSpec(kind="virtual"), "simulated", "virtual:/dev/")


def test_info_and_measure(case, tiny_models):
    model = tiny_models["dense"]
    with open_board(case.profile, case.device) as board:
        assert isinstance(board, Board) and board.kind == case.kind
        info = board.info()
        m = board.measure(model, runs=3)
        with pytest.raises(ModelRefused, match="no such model file"):          # bad input keeps the link
            board.measure(model.with_name("missing.tflite"), runs=3)
        again = board.measure(model, runs=2)
    assert isinstance(info, BoardInfo) and info.name and info.board_id == case.profile.id
    assert info.kind == case.kind and info.runtime.startswith(case.profile.runtime)
    assert info.source == case.source and info.link.startswith(case.link)
    assert info.ram_bytes > 0 and info.flash_bytes > 0 and isinstance(info.capabilities, tuple)
    assert set(info.to_dict()) >= {"name", "board_id", "kind", "runtime", "link", "source", "capabilities"}

    assert isinstance(m, Measurement) and m.board_id == case.profile.id
    assert m.runs == 3 and len(m.latencies_ms) == 3 and again.runs == len(again.latencies_ms) == 2
    assert 0 < m.latency_ms_min <= m.latency_ms_median <= m.latency_ms_max
    assert m.latency_ms_min == min(m.latencies_ms) and m.latency_ms_max == max(m.latencies_ms)
    assert m.source == case.source and m.link == info.link
    assert m.energy_source == "estimated"
    assert m.energy_mj == pytest.approx(m.latency_ms_median * case.profile.power.active_mw / 1000.0)
    assert m.flash_bytes == model.stat().st_size and m.output and len(m.output) == 10
    assert Measurement.from_dict(m.to_dict()) == m


def test_refusals_come_before_any_link_work(case, tiny_models, tmp_path, monkeypatch):
    def no_link_work() -> None:
        raise AssertionError("the board touched its link for a model it must refuse")

    for profile, model, why in (
            (case.profile, tmp_path / "missing.tflite", "no such model file"),
            (replace(case.profile, flash_reserve_bytes=case.profile.flash_bytes - 1024), tiny_models["mbblock"],
             r"model is \d+ B but .* has 1024 B of flash free")):
        board = open_board(profile, case.device)
        monkeypatch.setattr(board, "open", no_link_work)
        with pytest.raises(ModelRefused, match=why) as e:
            board.measure(model, runs=3)
        assert e.value.exit_code == 2
        board.close()


def test_registry_names_every_kind():
    # "cluster" (every board a Ray cluster offers) keeps the contract too; tests/test_parallel_run.py
    # drives it on a real two-node cluster, so it is not in the per-kind fixtures above.
    assert sorted(BOARD_KINDS) == sorted([*KINDS, "cluster"])
    for kind in BOARD_KINDS:
        cls = board_class(kind)
        assert issubclass(cls, Board) and cls.kind == kind


def test_unknown_kind_lists_the_known_ones(nano33ble):
    with pytest.raises(ValueError, match="unknown kind of board 'jtag': use one of serial, ssh, virtual"):
        open_board(nano33ble, DeviceSpec(kind="jtag"))
