"""Scale-out on Ray, end to end with real parts: local Ray with two virtual boards, a real two-node
`ray.cluster_utils.Cluster` whose node is killed while it trains a candidate, resume of a Ray run.
Runs are tiny (1 epoch); every candidate is real TensorFlow training + int8 + TFLM on a virtual board."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fixtures.cli_runs import ROOT, TINY, assert_session_gone, cli, rows, spawn, wait_for_done


def _check_complete(run_dir, trials: int) -> list:
    cands, meta = rows(run_dir)
    assert meta["status"] == "finished"
    assert [c.n for c in cands] == list(range(trials)), "every candidate committed exactly once"
    assert len({json.dumps(c.arch, sort_keys=True) for c in cands}) == trials, "no architecture twice"
    assert all(c.status == "done" and c.measurement is not None for c in cands)
    assert (run_dir / "report.html").is_file() and (run_dir / "best" / "model.tflite").is_file()
    return cands


@pytest.mark.timeout(900)
def test_two_virtual_boards_in_parallel_then_kill_and_resume(tmp_path):
    out = tmp_path / "par"
    proc = spawn("search", "--board", "nano33ble", "--virtual", "--workers", "2", "--trials", "5", *TINY,
                 "--out", out, "--seed", "3")
    wait_for_done(out, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)           # the driver dies mid-run, Ray with it
    proc.communicate(timeout=60)
    assert_session_gone(proc.pid, timeout=60)
    committed = {c.n: c.arch for c in rows(out)[0] if c.status != "proposed"}

    res = cli("resume", out, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    cands = _check_complete(out, 5)
    for n, arch in committed.items():              # what was committed before the kill was not redone
        assert cands[n].arch == arch
    links = {c.measurement.link for c in cands}
    assert {x.rsplit("/", 1)[-1] for x in links} == {"virtual#0", "virtual#1"}, f"both boards measured: {links}"
    assert all(c.measurement.source == "simulated" for c in cands)
    assert all(c.timings["attempts"] == 1 for c in cands)


def _wait_for_running_build(run_dir, proc, node_ids: set[str], timeout: float = 600):
    """(candidate, node id) of a build that is running on one of `node_ids` (from the ledger's meta)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "ledger.sqlite").exists():
            for n, where in (rows(run_dir)[1].get("in_flight") or {}).items():
                if where["node_id"] in node_ids:
                    return int(n), where["node_id"]
        if proc.poll() is not None:
            raise AssertionError(f"run ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    raise AssertionError("no build was seen running")


@pytest.mark.timeout(900)
def test_killing_the_node_of_a_running_candidate_loses_and_duplicates_nothing(two_node_cluster, tmp_path):
    cluster, nodes = two_node_cluster
    out = tmp_path / "cluster-run"
    proc = spawn("search", "--board", "nano33ble", "--ray-address", cluster.address, "--trials", "4", *TINY,
                 "--out", out, "--seed", "5")
    victim_n, victim_id = _wait_for_running_build(out, proc, {n.node_id for n in nodes})
    cluster.remove_node(next(n for n in nodes if n.node_id == victim_id))
    stdout, stderr = proc.communicate(timeout=800)
    assert proc.returncode == 0, stderr[-3000:]
    cands = _check_complete(out, 4)
    assert cands[victim_n].timings["attempts"] == 2, "the killed candidate was built again, elsewhere"
    assert "retrying elsewhere" in stderr
    survivor = next(n for n in nodes if n.node_id != victim_id).node_id
    assert any(survivor[:8] in c.measurement.link for c in cands), "the surviving node's board measured"


def test_help_and_the_default_search_do_not_import_ray():
    code = ("import sys\n"
            "from qnas_edge.cli import build_parser\n"
            "from qnas_edge.commands.search import settings_from_args\n"
            "from qnas_edge.commands.options import load_board\n"
            "from qnas_edge.run.loop import SearchRun\n"
            "args = build_parser().parse_args(['search', '--board', 'nano33ble', '--virtual'])\n"
            "s = settings_from_args(args, load_board(args))\n"
            "assert not s.parallel\n"
            "assert 'ray' not in sys.modules, 'ray imported'\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "qnas_edge", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and " ray" not in res.stderr


def test_ray_missing_is_one_line_exit_2(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from qnas_edge.cli import main\n"
            f"sys.exit(main(['search', '--board', 'nano33ble', '--virtual', '--workers', '2', '--out', "
            f"{str(tmp_path / 'r')!r}]))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    assert "pip install 'qnas-edge[ray]'" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists(), "nothing written"


@pytest.mark.timeout(300)
def test_worker_joins_a_cluster_offering_its_boards_and_leaves_on_ctrl_c():
    """`qnas-edge worker` adds a node with `board:nano33ble` = 2 to a real head; Ctrl-C takes it away."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        proc = spawn("worker", "--board", "nano33ble", "--virtual", "2", "--num-cpus", "1",
                     "--ray-address", cluster.address)

        def offered() -> float:
            return ray.cluster_resources().get("board:nano33ble", 0.0)

        deadline = time.monotonic() + 120
        while offered() < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert offered() == 2, f"worker did not join ({proc.poll()}): {proc.stderr.read()[-2000:] if proc.poll() else ''}"
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=120)
        assert_session_gone(proc.pid, timeout=60)
        deadline = time.monotonic() + 120
        while offered() > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert offered() == 0, "the node still offers its boards after Ctrl-C"
    finally:
        ray.shutdown()
        cluster.shutdown()
