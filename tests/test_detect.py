"""USB detection matched with pyserial's own ListPortInfo records."""

from serial.tools.list_ports_common import ListPortInfo

from device_profiles import load_catalog
from device_profiles.detect import detect_boards, match_ports, no_board_hint


def _port(dev, vid, pid, serial="ABC123"):
    p = ListPortInfo(dev, skip_link_detection=True)
    p.vid, p.pid, p.serial_number, p.description = vid, pid, serial, "test port"
    return p


def test_match_by_vid_pid():
    catalog = load_catalog()
    prof = catalog["nano33ble"]
    vid, pid = prof.link.usb_ids[0]
    found = match_ports([_port("/dev/ttyACM0", vid, pid), _port("/dev/ttyUSB9", 0x1234, 0x5678)], catalog)
    assert len(found) == 1
    b = found[0]
    assert b.port == "/dev/ttyACM0" and "nano33ble" in b.candidates and b.serial_number == "ABC123"
    assert b.to_dict()["usb_id"] == f"{vid:04x}:{pid:04x}"


def test_ports_without_usb_ids_are_ignored():
    p = ListPortInfo("/dev/ttyS0", skip_link_detection=True)
    assert match_ports([p], load_catalog()) == []


def test_shared_bridge_is_ambiguous():
    import dataclasses

    base = load_catalog()["nano33ble"]
    link = dataclasses.replace(base.link, usb_ids=((0x0483, 0x374B),))
    catalog = {i: dataclasses.replace(base, id=i, link=link) for i in ("stm-a", "stm-b")}
    b = match_ports([_port("/dev/ttyACM1", 0x0483, 0x374B)], catalog)[0]
    assert b.board_id is None and b.candidates == ["stm-a", "stm-b"]
    one = match_ports([_port("/dev/ttyACM1", 0x0483, 0x374B)], {"stm-a": catalog["stm-a"]})[0]
    assert one.board_id == "stm-a"


def test_detect_runs_on_this_machine_and_hint_names_the_fix():
    assert isinstance(detect_boards(), list)
    assert "dialout" in no_board_hint()
