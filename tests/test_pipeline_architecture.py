"""Architecture record: JSON round-trip, stable id, flat decisions, validation (one line naming the field)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnas_edge.errors import UsageError
from qnas_edge.pipeline.architecture import EXPANSIONS, KERNELS, WIDTHS, Architecture, Block, Stage

REPO = Path(__file__).resolve().parents[1]

blocks = st.builds(Block, st.sampled_from(KERNELS), st.sampled_from(EXPANSIONS), st.booleans())
stages = st.builds(Stage, st.integers(1, 128), st.sampled_from((1, 2)),
                   st.lists(blocks, min_size=1, max_size=4).map(tuple))
archs = st.builds(Architecture, st.integers(32, 96), st.sampled_from(WIDTHS), st.integers(4, 64),
                  st.sampled_from((1, 2)), st.lists(stages, min_size=1, max_size=4).map(tuple)).filter(
    lambda a: all(a.scaled(s.channels) >= 1 for s in a.stages) and a.scaled(a.stem_channels) >= 1)


@settings(max_examples=60, deadline=None)
@given(archs)
def test_json_round_trip_and_stable_id(arch):
    again = Architecture.from_json(arch.to_json())
    assert again == arch
    assert again.id == arch.id and len(arch.id) == 12
    assert Architecture.from_json(arch.to_json(indent=None)).id == arch.id


def test_examples_load_and_ids_differ(tmp_path):
    small = Architecture.load(REPO / "examples" / "arch_small.json")
    mcu = Architecture.load(REPO / "examples" / "arch_mcu.json")
    assert small.id != mcu.id
    assert mcu.num_blocks == 3 and mcu.stages[1].blocks[1].se
    path = mcu.save(tmp_path / "a.json")
    assert Architecture.load(path) == mcu


def _doc(**over):
    d = {"resolution": 16, "width": 1.0, "stem": {"channels": 8, "stride": 2},
         "stages": [{"channels": 16, "stride": 2, "blocks": [{"kernel": 3, "expansion": 1, "se": False}]}]}
    d.update(over)
    return d


@pytest.mark.parametrize("doc, field", [
    (_doc(depthwise=True), "depthwise"),
    (_doc(resolution=4), "resolution"),
    (_doc(resolution="32"), "resolution"),
    (_doc(width=0.3), "width"),
    (_doc(stem={"channels": 8, "stride": 3}), "stem.stride"),
    (_doc(stem={"channels": 8, "kernel": 3}), "stem.kernel"),
    (_doc(stages=[]), "stages"),
    (_doc(stages=[{"channels": 16, "stride": 1, "blocks": [{"kernel": 4}]}]), "stages[0].blocks[0].kernel"),
    (_doc(stages=[{"channels": 16, "stride": 1, "blocks": [{"expansion": 5}]}]), "stages[0].blocks[0].expansion"),
    (_doc(stages=[{"channels": 16, "stride": 1, "blocks": [{"se": "yes"}]}]), "stages[0].blocks[0].se"),
    (_doc(stages=[{"channels": 16, "stride": 1, "blocks": [{"kernel": 3, "dilation": 2}]}]),
     "stages[0].blocks[0].dilation"),
    (_doc(stages=[{"channels": 0, "stride": 1, "blocks": [{}]}]), "stages[0].channels"),
    (_doc(stages=[{"channels": 16, "stride": 1, "blocks": []}]), "stages[0].blocks"),
    # shapes that collapse to zero
    (_doc(width=0.25, stages=[{"channels": 1, "stride": 1, "blocks": [{}]}]), "stages[0].channels"),
    (_doc(width=0.25, stem={"channels": 1, "stride": 1}), "stem.channels"),
    (_doc(resolution=8, stages=[{"channels": 8, "stride": 2, "blocks": [{}]}] * 3), "stages[2].stride"),
])
def test_bad_architecture_names_the_field(doc, field):
    with pytest.raises(UsageError) as exc:
        Architecture.from_dict(json.loads(json.dumps(doc)), "arch.json")
    msg = str(exc.value)
    assert f"field '{field}'" in msg and "\n" not in msg and msg.startswith("arch.json: ")
    assert exc.value.exit_code == 2


def test_bad_architecture_cli_exit_2_one_line(tmp_path, capsys):
    from qnas_edge.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_doc(stages=[{"channels": 16, "stride": 1, "blocks": [{"kernel": 9}]}])))
    out = tmp_path / "out"
    assert main(["build", "--arch", str(bad), "--board", "nano33ble", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "stages[0].blocks[0].kernel" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
    (tmp_path / "notjson.json").write_text("{resolution: 16")
    assert main(["build", "--arch", str(tmp_path / "notjson.json"), "--board", "nano33ble"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["build", "--arch", str(tmp_path / "missing.json"), "--board", "nano33ble"]) == 2
    assert "not found" in capsys.readouterr().err
