"""Space / Decision validation and encoding."""

import numpy as np
import pytest

from search import Decision, Space


def test_encode_decode_roundtrip():
    sp = Space([Decision("k", [3, 5, 7]), Decision("se", [False, True]), Decision("op", ["a", "b"])])
    arch = {"k": 5, "se": True, "op": "a"}
    idx = sp.encode(arch)
    assert idx == (1, 1, 0)
    assert sp.decode(idx) == arch
    assert sp.n_vars == 7
    assert list(sp.active_vars(idx)) == [1, 4, 5]
    assert sp.cardinality() == 12


def test_empty_space_rejected():
    with pytest.raises(ValueError, match="empty"):
        Space([])


def test_duplicate_decision_names_rejected():
    with pytest.raises(ValueError, match="duplicate decision name 'a'"):
        Space([Decision("a", [1, 2]), Decision("a", [3])])


def test_duplicate_choices_rejected():
    with pytest.raises(ValueError, match="duplicate choice 3"):
        Decision("k", [3, 5, 3])


def test_decision_without_choices_rejected():
    with pytest.raises(ValueError, match="no choices"):
        Decision("k", [])


def test_non_decision_entry_rejected():
    with pytest.raises(ValueError, match="expected Decision"):
        Space([("k", [3, 5])])


@pytest.mark.parametrize(
    "arch, msg",
    [
        ({"k": 3, "x": 1}, "unknown decision 'x'"),
        ({"k": 4}, "unknown choice 4 for decision 'k'"),
        ({}, "missing decision 'k'"),
        ({"k": [3]}, "unknown choice"),
    ],
)
def test_encode_outside_space(arch, msg):
    sp = Space([Decision("k", [3, 5, 7])])
    with pytest.raises(ValueError, match=msg):
        sp.encode(arch)


def test_random_index_in_range():
    sp = Space([Decision("a", [1, 2]), Decision("b", list(range(7)))])
    rows = sp.random_index(np.random.default_rng(0), 500)
    assert rows.shape == (500, 2)
    assert (rows >= 0).all() and (rows < sp.sizes).all()
    assert len({tuple(r) for r in rows}) == 14


def test_search_imports_no_heavy_or_sibling_packages():
    import subprocess
    import sys

    code = (
        "import sys, search; bad = [m for m in ('tensorflow', 'tvm', 'qnas_edge', 'device_profiles', "
        "'firmware_bridge') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
